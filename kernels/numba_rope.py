"""Rotary position embedding in Numba: forward and backward in one pass each, no temporaries.

The reference builds ``rotate_half(x)`` with a concatenate, then three more arrays (x cos,
R x sin, their sum); here each output pair is written from its input pair directly:

    y1 = x1 cos1 - x2 sin1          dx1 = g1 cos1 + g2 sin2
    y2 = x2 cos2 + x1 sin2          dx2 = g2 cos2 - g1 sin1

(halves of the head dimension; the backward is the transpose, docs/rope.md).  Serial on
purpose: the arrays are small (decode: one position) and waking threads cost more than the
work on the measurement in docs/kernels.md.  Same contract and cache (cos, sin as (B, 1, T, Dh))
as ``minireason.nn.rope``, so either backward consumes either forward's cache.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(nogil=True, cache=True, fastmath={"reassoc", "contract"})
def _rope_forward_rows(x, cos, sin, out):  # pragma: no cover - compiled
    B, H, T, Dh = x.shape
    half = Dh // 2
    for b in range(B):
        for h in range(H):
            for t in range(T):
                for i in range(half):
                    first, second = x[b, h, t, i], x[b, h, t, i + half]
                    out[b, h, t, i] = first * cos[b, t, i] - second * sin[b, t, i]
                    out[b, h, t, i + half] = second * cos[b, t, i + half] + first * sin[b, t, i + half]


@numba.njit(nogil=True, cache=True, fastmath={"reassoc", "contract"})
def _rope_backward_rows(dout, cos, sin, dx):  # pragma: no cover - compiled
    B, H, T, Dh = dout.shape
    half = Dh // 2
    for b in range(B):
        for h in range(H):
            for t in range(T):
                for i in range(half):
                    first, second = dout[b, h, t, i], dout[b, h, t, i + half]
                    dx[b, h, t, i] = first * cos[b, t, i] + second * sin[b, t, i + half]
                    dx[b, h, t, i + half] = second * cos[b, t, i + half] - first * sin[b, t, i]


def rope_forward(x: np.ndarray, cos: np.ndarray, sin: np.ndarray):
    """y = x * cos + rotate_half(x) * sin.  x (B, heads, T, Dh), cos/sin (B, T, Dh); cache (cos, sin) (B, 1, T, Dh)."""
    dtype = np.result_type(x, cos)
    out = np.empty(x.shape, dtype=dtype)
    _rope_forward_rows(x.astype(dtype, copy=False), cos.astype(dtype, copy=False), sin.astype(dtype, copy=False), out)
    return out, (cos[:, None], sin[:, None])


def rope_backward(dout: np.ndarray, cache) -> np.ndarray:
    """dx = dout * cos + rotate_half^T(dout * sin).  Cache (cos, sin) (B, 1, T, Dh).  Returns dx."""
    cos, sin = cache
    dtype = np.result_type(dout, cos)
    dx = np.empty(dout.shape, dtype=dtype)
    _rope_backward_rows(dout.astype(dtype, copy=False), cos[:, 0].astype(dtype, copy=False),
               sin[:, 0].astype(dtype, copy=False), dx)
    return dx
