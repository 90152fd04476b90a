"""Rotary position embedding (RoPE), "rotate_half" layout as in Hugging Face Qwen3.

The head dimension is split in two halves (x1, x2); pair i = (x1[i], x2[i]) is rotated by the
angle position * inv_freq[i], with inv_freq[i] = theta^(-2i / Dh).
Derivation and the relative-position property: docs/rope.md.
"""

from __future__ import annotations

import numpy as np


def rope_tables(position_ids: np.ndarray, head_dim: int, theta: float, dtype=np.float32):
    """cos and sin tables for the given positions.  position_ids (B, T) -> cos, sin (B, T, Dh).

    Computed in ``dtype`` like the reference implementation (float32 models use float32 angles).
    """
    dtype = np.dtype(dtype)
    exponents = np.arange(0, head_dim, 2, dtype=np.int64).astype(dtype) / dtype.type(head_dim)  # (Dh/2,)
    inverse_frequencies = (1.0 / (dtype.type(theta) ** exponents)).astype(dtype)  # (Dh/2,)
    angles = position_ids.astype(dtype)[..., None] * inverse_frequencies  # (B, T, Dh/2)
    angles = np.concatenate([angles, angles], axis=-1)  # (B, T, Dh)
    return np.cos(angles).astype(dtype), np.sin(angles).astype(dtype)


def rotate_half(x: np.ndarray) -> np.ndarray:
    """(x1, x2) -> (-x2, x1) on the last axis."""
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def rotate_half_transpose(x: np.ndarray) -> np.ndarray:
    """The transpose of rotate_half: (g1, g2) -> (g2, -g1)."""
    half = x.shape[-1] // 2
    return np.concatenate([x[..., half:], -x[..., :half]], axis=-1)


def rope_forward(x: np.ndarray, cos: np.ndarray, sin: np.ndarray):
    """y = x * cos + rotate_half(x) * sin.  x (B, heads, T, Dh), cos/sin (B, T, Dh)."""
    cos = cos[:, None]  # (B, 1, T, Dh)
    sin = sin[:, None]
    out = x * cos + rotate_half(x) * sin
    return out, (cos, sin)


def rope_backward(dout: np.ndarray, cache) -> np.ndarray:
    """Forward: y = x * cos + R x * sin, R = rotate_half (a fixed linear map).  Cache: (cos, sin).

    dx = dout * cos + R^T (dout * sin). RoPE has no parameters. Returns dx.
    """
    cos, sin = cache
    return dout * cos + rotate_half_transpose(dout * sin)
