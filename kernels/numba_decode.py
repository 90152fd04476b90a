"""Decoding kernels: products of a few rows with a weight matrix, each weight read once.

Decoding one token reads every weight once and does two flops per weight read, so its speed
is set by memory bandwidth, not arithmetic.  ``small_batch_linear`` is that product for float32
(or float64) weights and up to ``SMALL_BATCH_ROWS`` input rows, ``WIDE_INPUT_ROWS`` for wide
inputs (decoding a batch, a short prompt; the window depends on the CPU's vector registers,
``ROW_WINDOWS``): BLAS's matrix-vector path reads the weights far below
the machine's bandwidth, and its small-M products repack the whole weight for every call.  Keeping weights as bfloat16 (the top
16 bits of a float32, stored as uint16) halves the bytes read per token (``bf16_linear``, the
same loops).  A bfloat16 value widens to float32 exactly by shifting its bits left by 16.
Rounding float32 to bfloat16 bits is
``minireason.bfloat16.float32_to_bfloat16_bits``; the model side is
``Qwen3Model.with_bfloat16_decoding`` and ``nn.linear.BFloat16Matrix``.
"""

from __future__ import annotations

import numba
import numpy as np
from minireason.kernels.numba_math import HOST_VECTORS, bfloat16_to_float32, prefetch_range_to_l2
from minireason.kernels.numba_threads import threads_here  # (its import sets the OpenMP wait policy)
from numba.core import types
from numba.extending import overload

# Up to SMALL_BATCH_ROWS rows the kernels below beat BLAS's product: each weight is read from
# memory once and multiplied with every input row while it sits in L1.  Up to ONE_WEIGHT_ROW_ROWS
# rows the product is a read of the weights, fastest as one contiguous stream: one weight row at a
# time against four input rows.  Above, it is arithmetic: four weight rows against a few input rows
# per pass, and each output's running sum ends in a sum across SIMD lanes.  With inputs of
# WIDE_INPUT_FEATURES or more that last sum is a small share of the work, and up to WIDE_INPUT_ROWS
# rows (a batch of 128 rollouts) the kernel beats BLAS or ties it; then no product of a decoding step
# is BLAS's, OpenBLAS's workers sleep, and the other kernels may split over the cores (numba_cpu,
# _between_blas_products).  With narrower inputs (the built-in models' 128) BLAS's packed, blocked
# products win past SMALL_BATCH_ROWS, product by product; but with more than one thread a decoding
# step whose products are all the kernel's lets the other kernels split over the cores, and that
# wins the step: so with more than one thread the kernel takes up to WIDE_INPUT_ROWS rows of any
# width (numba_cpu._few_rows_of; docs/kernels.md, "Threads", has the measurements).
#
# How many input rows a pass takes is set by the CPU's vector registers: each (weight row, input
# row) pair keeps a running sum in one.  With AVX-512's 32, four (16 sums, 8 loads feed 16
# multiply-adds; measured on Xeon and Zen 4).  With AVX2's 16 four spill (LLVM keeps five sums on
# the stack and shuffles the rest), so three: 12 sums, 7 loads feed 12 multiply-adds, no spill;
# and where four input rows a pass lost to BLAS from 16 rows, three win up to 64.
# docs/kernels.md, "Float32 decoding products", has the measurements behind both rows.
ROW_WINDOWS = {  # (most rows, most rows of WIDE_INPUT_FEATURES or more inputs)
    "avx512": (64, 128),
    "avx2 or less": (16, 128),
}
INPUT_ROWS_PER_PASS = {"avx512": 4, "avx2 or less": 3}  # input rows against four weight rows
SMALL_BATCH_ROWS, WIDE_INPUT_ROWS = ROW_WINDOWS[HOST_VECTORS]
BLOCK_INPUT_ROWS = INPUT_ROWS_PER_PASS[HOST_VECTORS]
WIDE_INPUT_FEATURES = 512
ONE_WEIGHT_ROW_ROWS = 8
# Each weight is read from memory once, in the first pass over it; the later passes compute from
# L1 while memory idles, since the hardware prefetchers follow reads and there are none.  So each
# pass asks for its share of the weights a few rows on (into L2): WEIGHT_ROWS_AHEAD rows for the
# one-row kernel (with four or more input rows; for fewer the hardware streams it faster alone),
# the next block of four for the block kernel.
WEIGHT_ROWS_AHEAD = 4
_FAST = {"reassoc", "contract"}  # lets LLVM split the sums over SIMD lanes; keeps inf/nan semantics
# With more than one thread the weight rows are split between threads when there is enough to
# split: a weight of PARALLEL_MIN_WEIGHTS or more (its reading is the cost at a few rows), or
# PARALLEL_MIN_WORK multiply-adds (rows x weights: the built-in models' 128 x 384 weights from 16
# rows on, their 64 x 128 from 64).  Below both a thread hand-off costs more than it saves, and much
# more while OpenBLAS's threads still poll after a prefill's products (docs/kernels.md).
PARALLEL_MIN_WEIGHTS = 1 << 17
PARALLEL_MIN_WORK = 1 << 19


def _as_float(weight):  # pragma: no cover - replaced by its overload in compiled code
    """A weight as the number it stands for: a float as it is, a bfloat16 bit pattern (uint16) widened."""


@overload(_as_float, inline="always")
def _as_float_overload(weight):
    """Chosen when a kernel is compiled for its weights' dtype: the same loops serve float32,
    float64 and bfloat16 weights, the bfloat16 ones widened exactly in a register."""
    if isinstance(weight, types.Float):
        return lambda weight: weight
    if isinstance(weight, types.Integer) and weight.bitwidth == 16:
        return lambda weight: bfloat16_to_float32(weight)
    return None


@numba.njit(nogil=True, cache=True, fastmath=_FAST, inline="always")
def _weight_row_times_rows(weight, x, out, row):  # pragma: no cover - compiled
    """out[v, row] = sum_i x[v, i] * weight[row, i] for every input row v, four input rows per pass.

    The weight row (2 KiB for 512 inputs) is read from memory once, as one contiguous stream, and
    from L1 by the later passes; fastmath lets LLVM split each sum over SIMD lanes.
    """
    n_in = weight.shape[1]
    n_vectors = x.shape[0]
    zero = out.dtype.type(0)
    ahead = row + WEIGHT_ROWS_AHEAD
    if n_vectors >= 4 and ahead < weight.shape[0]:
        prefetch_range_to_l2(weight[ahead].ctypes.data, n_in * weight.itemsize, 0, 1)
    v = 0
    while v + 4 <= n_vectors:
        s0 = s1 = s2 = s3 = zero
        for i in range(n_in):
            w = _as_float(weight[row, i])
            s0 += x[v, i] * w
            s1 += x[v + 1, i] * w
            s2 += x[v + 2, i] * w
            s3 += x[v + 3, i] * w
        out[v, row], out[v + 1, row], out[v + 2, row], out[v + 3, row] = s0, s1, s2, s3
        v += 4
    while v < n_vectors:
        total = zero
        for i in range(n_in):
            total += x[v, i] * _as_float(weight[row, i])
        out[v, row] = total
        v += 1


@numba.njit(nogil=True, cache=True, fastmath=_FAST, inline="always")
def _four_by_four(weight, x, out, r, v):  # pragma: no cover - compiled
    """out[v:v+4, r:r+4] = x[v:v+4] @ weight[r:r+4].T: 8 loads feed 16 multiply-adds, 16 running sums."""
    zero = out.dtype.type(0)
    s00 = s01 = s02 = s03 = zero  # s<weight row><input row>
    s10 = s11 = s12 = s13 = zero
    s20 = s21 = s22 = s23 = zero
    s30 = s31 = s32 = s33 = zero
    for i in range(weight.shape[1]):
        w0, w1 = _as_float(weight[r, i]), _as_float(weight[r + 1, i])
        w2, w3 = _as_float(weight[r + 2, i]), _as_float(weight[r + 3, i])
        x0, x1, x2, x3 = x[v, i], x[v + 1, i], x[v + 2, i], x[v + 3, i]
        s00 += w0 * x0
        s01 += w0 * x1
        s02 += w0 * x2
        s03 += w0 * x3
        s10 += w1 * x0
        s11 += w1 * x1
        s12 += w1 * x2
        s13 += w1 * x3
        s20 += w2 * x0
        s21 += w2 * x1
        s22 += w2 * x2
        s23 += w2 * x3
        s30 += w3 * x0
        s31 += w3 * x1
        s32 += w3 * x2
        s33 += w3 * x3
    out[v, r], out[v + 1, r], out[v + 2, r], out[v + 3, r] = s00, s01, s02, s03
    out[v, r + 1], out[v + 1, r + 1], out[v + 2, r + 1], out[v + 3, r + 1] = s10, s11, s12, s13
    out[v, r + 2], out[v + 1, r + 2], out[v + 2, r + 2], out[v + 3, r + 2] = s20, s21, s22, s23
    out[v, r + 3], out[v + 1, r + 3], out[v + 2, r + 3], out[v + 3, r + 3] = s30, s31, s32, s33


@numba.njit(nogil=True, cache=True, fastmath=_FAST, inline="always")
def _four_by_three(weight, x, out, r, v):  # pragma: no cover - compiled
    """out[v:v+3, r:r+4] = x[v:v+3] @ weight[r:r+4].T: 7 loads feed 12 multiply-adds, 12 running
    sums; the three input rows are loaded first, then each weight row once for its three sums."""
    zero = out.dtype.type(0)
    s00 = s01 = s02 = zero  # s<weight row><input row>
    s10 = s11 = s12 = zero
    s20 = s21 = s22 = zero
    s30 = s31 = s32 = zero
    for i in range(weight.shape[1]):
        x0, x1, x2 = x[v, i], x[v + 1, i], x[v + 2, i]
        w0 = _as_float(weight[r, i])
        s00 += w0 * x0
        s01 += w0 * x1
        s02 += w0 * x2
        w1 = _as_float(weight[r + 1, i])
        s10 += w1 * x0
        s11 += w1 * x1
        s12 += w1 * x2
        w2 = _as_float(weight[r + 2, i])
        s20 += w2 * x0
        s21 += w2 * x1
        s22 += w2 * x2
        w3 = _as_float(weight[r + 3, i])
        s30 += w3 * x0
        s31 += w3 * x1
        s32 += w3 * x2
    out[v, r], out[v + 1, r], out[v + 2, r] = s00, s01, s02
    out[v, r + 1], out[v + 1, r + 1], out[v + 2, r + 1] = s10, s11, s12
    out[v, r + 2], out[v + 1, r + 2], out[v + 2, r + 2] = s20, s21, s22
    out[v, r + 3], out[v + 1, r + 3], out[v + 2, r + 3] = s30, s31, s32


@numba.njit(nogil=True, cache=True, fastmath=_FAST, inline="always")
def _weight_block_times_rows(weight, x, out, block, rows_per_pass):  # pragma: no cover - compiled
    """out[v, r] = sum_i x[v, i] * weight[r, i] for the weight rows r of ``block`` (4 block to
    4 block + 3) and every input row v.

    Four weight rows against ``rows_per_pass`` (4 or 3, INPUT_ROWS_PER_PASS) input rows per pass
    over i; the four weight rows (8 KiB for 512 inputs) come from memory in the first pass, from L1
    in the later ones.  The last input rows (fewer than a pass takes) take the four weight rows one
    input row at a time; the last weight rows (fewer than four) go one by one.
    """
    n_out, n_in = weight.shape
    n_vectors = x.shape[0]
    zero = out.dtype.type(0)
    r = 4 * block
    if r + 4 > n_out:
        for row in range(r, n_out):
            _weight_row_times_rows(weight, x, out, row)
        return
    prefetch_next = r + 8 <= n_out
    n_passes = n_vectors // rows_per_pass
    v = 0
    while v + rows_per_pass <= n_vectors:
        if prefetch_next:  # this pass's share of the next block (its four rows are contiguous)
            prefetch_range_to_l2(weight[r + 4].ctypes.data, 4 * n_in * weight.itemsize, v // rows_per_pass, n_passes)
        if rows_per_pass == 4:
            _four_by_four(weight, x, out, r, v)
        else:
            _four_by_three(weight, x, out, r, v)
        v += rows_per_pass
    while v < n_vectors:
        s0 = s1 = s2 = s3 = zero
        for i in range(n_in):
            xi = x[v, i]
            s0 += _as_float(weight[r, i]) * xi
            s1 += _as_float(weight[r + 1, i]) * xi
            s2 += _as_float(weight[r + 2, i]) * xi
            s3 += _as_float(weight[r + 3, i]) * xi
        out[v, r], out[v, r + 1], out[v, r + 2], out[v, r + 3] = s0, s1, s2, s3
        v += 1


@numba.njit(nogil=True, cache=True, fastmath=_FAST)
def _small_batch_items(weight, x, out, rows_per_pass, first, last):  # pragma: no cover - compiled
    """Work items ``first`` to ``last - 1``: each a block of four weight rows (``rows_per_pass``
    input rows a pass) or, with ``rows_per_pass`` 0, one weight row.  The product's one compiled
    body (the helpers above are inlined into it), called whole on one thread and once per thread
    by the parallel kernel: inlined into both, and the parallel one's loop body run through numba's
    parallel passes, it was compiled twice at far greater cost (docs/kernels.md, "Compilation is
    cached")."""
    for item in range(first, last):
        if rows_per_pass > 0:
            _weight_block_times_rows(weight, x, out, item, rows_per_pass)
        else:
            _weight_row_times_rows(weight, x, out, item)


@numba.njit(parallel=True, nogil=True, cache=True)
def _small_batch_product_parallel(weight, x, out, rows_per_pass, n_items, n_chunks):  # pragma: no cover - compiled
    for chunk in numba.prange(n_chunks):  # one contiguous run of items per thread
        _small_batch_items(weight, x, out, rows_per_pass, chunk * n_items // n_chunks,
                           (chunk + 1) * n_items // n_chunks)


def _small_batch_product(rows: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """rows (N, in) C-contiguous, weight (out, in) -> rows @ W.T, (N, out) in the rows' dtype."""
    if weight.ndim != 2 or rows.shape[1] != weight.shape[1]:  # compiled loops do not check bounds
        raise ValueError(f"linear: inputs of {rows.shape[1]} features against a weight of shape {weight.shape}")
    weight = np.ascontiguousarray(weight)
    out = np.empty((rows.shape[0], weight.shape[0]), dtype=rows.dtype)  # (N, out)
    threads = threads_here()
    parallel = ((weight.size >= PARALLEL_MIN_WEIGHTS or rows.shape[0] * weight.size >= PARALLEL_MIN_WORK)
                and threads > 1)  # one thread: no hand-off
    by_blocks = rows.shape[0] > ONE_WEIGHT_ROW_ROWS
    rows_per_pass = BLOCK_INPUT_ROWS if by_blocks else 0
    n_items = (weight.shape[0] + 3) // 4 if by_blocks else weight.shape[0]
    if parallel:
        _small_batch_product_parallel(weight, rows, out, rows_per_pass, n_items, min(threads, n_items))
    else:
        _small_batch_items(weight, rows, out, rows_per_pass, 0, n_items)
    return out


def small_batch_linear(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """y = x @ W.T for a small batch of rows (decoding: one per sequence), W (out, in), x and W
    of one dtype, float32 or float64 (the caller checks).  x (..., in) -> (..., out).

    Any number of rows is computed correctly; the backend sends it at most SMALL_BATCH_ROWS (at most
    WIDE_INPUT_ROWS with WIDE_INPUT_FEATURES or more inputs).
    """
    rows = np.ascontiguousarray(x).reshape(-1, x.shape[-1])  # (N, in)
    return _small_batch_product(rows, weight).reshape(x.shape[:-1] + (weight.shape[0],))


def bf16_linear(x: np.ndarray, weight_bits: np.ndarray) -> np.ndarray:
    """y = x @ W.T with W held as bfloat16 bits (out, in), accumulated in float32: the same kernel,
    each weight widened in a register, half the bytes read.  x (..., in) -> float32 (..., out)."""
    rows = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, x.shape[-1])  # (N, in)
    return _small_batch_product(rows, weight_bits).reshape(x.shape[:-1] + (weight_bits.shape[0],))
