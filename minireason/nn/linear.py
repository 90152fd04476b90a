"""Linear layer without bias, in the Hugging Face layout: weight (out_features, in_features), y = x @ W.T."""

from __future__ import annotations

import numpy as np

from minireason.bfloat16 import bfloat16_bits_to_float32


class BFloat16Matrix:
    """A weight matrix held as bfloat16 bit patterns: uint16 (out, in), the top half of each float32.

    Decoding one token reads every weight once, so its speed is the bytes read, and these are
    half of float32's.  ``to_float32()`` widens exactly (the bits shifted into the top half of a
    32-bit word).  The reference linear widens and multiplies; the numba backend multiplies the
    bits directly (``kernels/numba_decode.py``).  Used by ``Qwen3Model.with_bfloat16_decoding``.
    """

    def __init__(self, bits: np.ndarray):
        if bits.dtype != np.uint16 or bits.ndim != 2:
            raise TypeError(f"BFloat16Matrix holds 2-D uint16 bit patterns, got {bits.ndim}-D {bits.dtype}")
        self.bits = np.ascontiguousarray(bits)  # (out, in)

    @property
    def shape(self) -> tuple[int, int]:
        return self.bits.shape

    def to_float32(self) -> np.ndarray:
        return bfloat16_bits_to_float32(self.bits)


def linear_forward(x: np.ndarray, weight):
    """y = x @ weight.T.  x (..., in), weight (out, in) array or BFloat16Matrix -> y (..., out).

    The leading axes are flattened first so that BLAS sees one (N, in) @ (in, out) product
    instead of one small product per batch row (far faster for decode-sized inputs).
    """
    if isinstance(weight, BFloat16Matrix):
        weight = weight.to_float32()  # exact; only an accelerated backend saves the bytes
    out = (x.reshape(-1, x.shape[-1]) @ weight.T).reshape(*x.shape[:-1], weight.shape[0])
    cache = (x, weight)
    return out, cache


def linear_backward(dout: np.ndarray, cache):
    """Forward: y = x @ W.T.  Cache: (x, W).

    dx = dout @ W            (..., in)
    dW = dout^T @ x          (out, in), summed over every leading position
    Returns (dx, dW).
    """
    x, weight = cache
    if isinstance(weight, BFloat16Matrix):
        weight = weight.to_float32()  # a forward on bfloat16 weights: the same numbers, widened
    dx = (dout.reshape(-1, dout.shape[-1]) @ weight).reshape(x.shape)
    dweight = dout.reshape(-1, dout.shape[-1]).T @ x.reshape(-1, x.shape[-1])  # (out, in)
    return dx, dweight
