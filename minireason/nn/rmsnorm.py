"""RMSNorm over the last axis: y = x / sqrt(mean(x^2) + eps) * weight.  Derivation: docs/rmsnorm.md."""

from __future__ import annotations

import numpy as np


def rmsnorm_forward(x: np.ndarray, weight: np.ndarray, eps: float):
    """x (..., N), weight (N,) -> y (..., N), normalising over the last axis N (D, or Dh for QK-norm)."""
    mean_square = np.mean(x * x, axis=-1, keepdims=True)  # (..., 1)
    inverse_rms = 1.0 / np.sqrt(mean_square + eps)  # (..., 1)
    normalized = x * inverse_rms  # (..., N)
    out = normalized * weight
    cache = (normalized, inverse_rms, weight)
    return out, cache


def rmsnorm_backward(dout: np.ndarray, cache):
    """Forward: n = x * r with r = (mean(x^2) + eps)^-1/2, y = n * w.  Cache: (n, r, w).

    dw = sum over leading axes of dout * n
    dn = dout * w
    dx = r * (dn - n * mean(dn * n))      (the projection removes the part that only rescales x)
    Returns (dx, dw).
    """
    normalized, inverse_rms, weight = cache
    n_features = normalized.shape[-1]
    dweight = (dout * normalized).reshape(-1, n_features).sum(axis=0)  # (N,)
    dnormalized = dout * weight
    dx = inverse_rms * (dnormalized - normalized * np.mean(dnormalized * normalized, axis=-1, keepdims=True))
    return dx, dweight
