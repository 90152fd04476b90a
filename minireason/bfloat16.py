"""bfloat16 <-> float32, with NumPy only: bfloat16 has no NumPy dtype, so a bfloat16 array is held
as its uint16 bit patterns.

A bfloat16 is the top 16 bits of a float32 (1 sign, 8 exponent, 7 mantissa bits), so widening is
exact and narrowing rounds to nearest, ties to even.  Used by the safetensors reader and writer
(BF16 tensors), by ``nn.linear.BFloat16Matrix`` and by the model's bfloat16 decoding copy.
"""

from __future__ import annotations

import numpy as np


def bfloat16_bits_to_float32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns (uint16) -> float32 values, exactly.

    A bfloat16 is the upper half of a float32 (1 sign, 8 exponent, 7 mantissa bits), so
    shifting its bits into the upper half of a 32-bit word gives the same number.
    """
    words = np.asarray(bits, dtype=np.uint16).astype(np.uint32)  # a new array, also for 0-d input
    words <<= np.uint32(16)
    return words.view(np.float32)


def float32_to_bfloat16_bits(values: np.ndarray) -> np.ndarray:
    """float32 values -> bfloat16 bit patterns (uint16), rounding to nearest, ties to even.

    Dropping the low 16 bits would truncate (round toward zero). Adding ``0x7FFF`` plus the
    lowest kept bit before dropping them rounds to nearest, and a tie (low half exactly
    ``0x8000``) goes up only when the kept part is odd: ties to even. A carry out of the
    mantissa bumps the exponent, which is right too (and the largest floats become inf, as
    IEEE rounding says). NaN is the one case the trick breaks (a NaN whose payload lives in
    the low bits would truncate to inf), so NaNs become a quiet NaN with the same sign.
    """
    values = np.asarray(values, dtype=np.float32)
    bits = values.view(np.uint32)
    rounded = np.right_shift(bits, np.uint32(16), out=np.empty_like(bits))  # then in place: one temporary
    rounded &= np.uint32(1)  # the lowest kept bit
    rounded += np.uint32(0x7FFF)
    rounded += bits  # wraps around only for NaN patterns, fixed below
    rounded >>= np.uint32(16)
    is_nan = np.isnan(values)
    if is_nan.any():
        rounded[is_nan] = (bits[is_nan] >> np.uint32(16)) | np.uint32(0x0040)  # quiet NaN, same sign
    return rounded.astype(np.uint16)


def round_to_bfloat16(values: np.ndarray) -> np.ndarray:
    """float32 values rounded to the nearest bfloat16, returned as float32."""
    return bfloat16_bits_to_float32(float32_to_bfloat16_bits(values))
