"""Decoding kernels: products of a few rows with a weight matrix, each weight read once.

Decoding one token reads every weight once and does two flops per weight read, so its speed
is set by memory bandwidth, not arithmetic.  ``few_rows_linear`` is that product for float32
weights and up to ``FEW_ROWS`` input rows (batch-1 decoding, a short prompt): BLAS's
matrix-vector and small-M paths read the weights far below the machine's bandwidth here.
Keeping weights as bfloat16 (the top 16 bits of a float32, stored as uint16) halves the bytes
read per token (``bf16_linear``).  A bfloat16 value widens to float32 exactly by shifting its
bits left by 16.  Rounding float32 to bfloat16 bits is
``minireason.io.safetensors.float32_to_bfloat16_bits``; the model side is
``Qwen3Model.with_bfloat16_decoding`` and ``nn.linear.BFloat16Matrix``.
"""

from __future__ import annotations

import minireason.kernels.numba_threads  # noqa: F401  (the OpenMP wait policy, set before numba's threads start)
import numba
import numpy as np
from minireason.kernels.numba_math import bfloat16_to_float32

# Up to this many rows a weight row is read once for all of them (four at a time, each pass a
# multiply-add per weight and row); beyond it the arithmetic, not the reading, is the cost and
# BLAS's blocked products win.  docs/kernels.md, "Float32 decoding products", has the measurements.
FEW_ROWS = 8
PARALLEL_MIN_WEIGHTS = 1 << 20  # below this many weights a thread hand-off costs more than it saves


@numba.njit(cache=True, fastmath=True, inline="always")
def _few_rows_times_weight_row(weight, x, out, row):  # pragma: no cover - compiled
    """out[v, row] = sum_i x[v, i] * weight[row, i] for every input row v, four rows per pass.

    The weight row (2 KiB for 512 inputs) is read from memory once and from L1 by the later
    passes; fastmath lets LLVM split each sum over SIMD lanes.
    """
    n_in = weight.shape[1]
    n_vectors = x.shape[0]
    zero = out.dtype.type(0)
    v = 0
    while v + 4 <= n_vectors:
        total0 = zero
        total1 = zero
        total2 = zero
        total3 = zero
        for i in range(n_in):
            w = weight[row, i]
            total0 += x[v, i] * w
            total1 += x[v + 1, i] * w
            total2 += x[v + 2, i] * w
            total3 += x[v + 3, i] * w
        out[v, row] = total0
        out[v + 1, row] = total1
        out[v + 2, row] = total2
        out[v + 3, row] = total3
        v += 4
    while v < n_vectors:
        total = zero
        for i in range(n_in):
            total += x[v, i] * weight[row, i]
        out[v, row] = total
        v += 1


@numba.njit(parallel=True, cache=True, fastmath=True)
def _few_rows_product_parallel(weight, x, out):  # pragma: no cover - compiled
    for row in numba.prange(weight.shape[0]):
        _few_rows_times_weight_row(weight, x, out, row)


@numba.njit(cache=True, fastmath=True)
def _few_rows_product_serial(weight, x, out):  # pragma: no cover - compiled
    for row in range(weight.shape[0]):
        _few_rows_times_weight_row(weight, x, out, row)


def few_rows_linear(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """y = x @ W.T for a few rows (at most FEW_ROWS after flattening), W (out, in) float32 or float64.

    x (..., in) -> (..., out), in x's dtype (the reference's contract; the caller checks dtypes).
    """
    shape = x.shape
    rows = np.ascontiguousarray(x).reshape(-1, shape[-1])  # (N, in)
    weight = np.ascontiguousarray(weight)
    out = np.empty((rows.shape[0], weight.shape[0]), dtype=rows.dtype)  # (N, out)
    if weight.size >= PARALLEL_MIN_WEIGHTS:
        _few_rows_product_parallel(weight, rows, out)
    else:
        _few_rows_product_serial(weight, rows, out)
    return out.reshape(shape[:-1] + (weight.shape[0],))


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
