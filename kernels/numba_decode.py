"""Batch-1 decoding kernels: bfloat16-weight matrix-vector products with float32 accumulation.

Decoding one token reads every weight once and does two flops per weight read, so its speed
is set by memory bandwidth, not arithmetic.  Keeping weights as bfloat16 (the top 16 bits of a
float32, stored as uint16) halves the bytes read per token.  A bfloat16 value widens to
float32 exactly by shifting its bits left by 16.  Rounding float32 to bfloat16 bits is
``minireason.io.safetensors.float32_to_bfloat16_bits``; the model side is
``Qwen3Model.with_bfloat16_decoding`` and ``nn.linear.BFloat16Matrix``.
"""

from __future__ import annotations

import minireason.kernels.numba_threads  # noqa: F401  (the OpenMP wait policy, set before numba's threads start)
import numba
import numpy as np
from minireason.kernels.numba_math import bfloat16_to_float32


@numba.njit(parallel=True, cache=True, fastmath=True)
def _bf16_matvec(weight_bits, x, out):  # pragma: no cover - compiled
    """out[v, row] = sum_i x[v, i] * float32(weight_bits[row, i]), rows in parallel.

    Each weight is read once per input vector (2 bytes, contiguous within its row), widened in a
    register and multiply-added in float32; fastmath lets LLVM split the sum over SIMD lanes.
    A row (2 KiB for 1024 inputs) stays in L1 while every input vector passes over it.
    """
    n_out, n_in = weight_bits.shape
    for row in numba.prange(n_out):
        for vector in range(x.shape[0]):
            total = np.float32(0.0)
            for i in range(n_in):
                total += x[vector, i] * bfloat16_to_float32(weight_bits[row, i])
            out[vector, row] = total


def bf16_linear(x: np.ndarray, weight_bits: np.ndarray) -> np.ndarray:
    """y = x @ W.T with W held as bfloat16 bits (out, in), accumulated in float32.  x (..., in) -> (..., out)."""
    shape = x.shape
    rows = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, shape[-1])
    out = np.empty((rows.shape[0], weight_bits.shape[0]), dtype=np.float32)  # (N, out)
    _bf16_matvec(np.ascontiguousarray(weight_bits), rows, out)
    return out.reshape(shape[:-1] + (weight_bits.shape[0],))
