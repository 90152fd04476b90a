"""Batch-1 decoding kernels: bfloat16-weight matrix-vector products with float32 accumulation.

Decoding one token reads every weight once and does two flops per weight read, so its speed
is set by memory bandwidth, not arithmetic.  Keeping weights as bfloat16 (the top 16 bits of a
float32, stored as uint16) halves the bytes read per token.  A bfloat16 value widens to
float32 exactly by shifting its bits left by 16.
"""

from __future__ import annotations

import minireason.kernels.numba_threads  # noqa: F401  (sets passive OpenMP waiting first)
import numba
import numpy as np


def to_bfloat16(weight: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bits (uint16), rounding to nearest even.  Same shape."""
    bits = np.ascontiguousarray(weight, dtype=np.float32).view(np.uint32)
    rounding = ((bits >> 16) & 1) + np.uint32(0x7FFF)
    return ((bits + rounding) >> 16).astype(np.uint16)


def from_bfloat16(bits: np.ndarray) -> np.ndarray:
    """bfloat16 bits (uint16) -> float32, exactly."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


_ROWS_PER_TASK = 16  # output rows per parallel task: one scratch row is reused for all of them


@numba.njit(parallel=True, cache=True, fastmath=True)
def _bf16_matvec(weight_bits, x, out):  # pragma: no cover - compiled
    """out[v, row] = sum_i x[v, i] * float32(weight_bits[row, i]), rows in parallel.

    Each weight row is read once (contiguous, 2 bytes per weight), widened into a float32
    scratch row that stays in L1 (shift the 16 bits into the top of a uint32, view as float32),
    then dotted with every input vector.  Both inner loops are plain enough for LLVM to
    vectorise; the earlier version allocated a widened copy per row and ran at half the speed.
    """
    n_out, n_in = weight_bits.shape
    n_vectors = x.shape[0]
    n_tasks = (n_out + _ROWS_PER_TASK - 1) // _ROWS_PER_TASK
    for task in numba.prange(n_tasks):
        scratch = np.empty(n_in, dtype=np.uint32)
        widened = scratch.view(np.float32)  # (in,) exact float32 values of the row
        for row in range(task * _ROWS_PER_TASK, min(n_out, (task + 1) * _ROWS_PER_TASK)):
            for i in range(n_in):
                scratch[i] = np.uint32(weight_bits[row, i]) << np.uint32(16)
            for vector in range(n_vectors):
                total = np.float32(0.0)
                for i in range(n_in):
                    total += x[vector, i] * widened[i]
                out[vector, row] = total


def bf16_linear(x: np.ndarray, weight_bits: np.ndarray) -> np.ndarray:
    """y = x @ W.T with W held as bfloat16 bits (out, in), accumulated in float32.  x (..., in) -> (..., out)."""
    shape = x.shape
    rows = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, shape[-1])
    out = np.empty((rows.shape[0], weight_bits.shape[0]), dtype=np.float32)
    _bf16_matvec(np.ascontiguousarray(weight_bits), rows, out)
    return out.reshape(shape[:-1] + (weight_bits.shape[0],))
