"""Fused element-wise and row-wise ops in Numba: RMSNorm and SwiGLU, forward and backward.

The NumPy reference makes a temporary array for every sub-expression (x*x, its mean, x*r,
...) and walks memory once per temporary; these kernels read each input once and write each
output once, one row per iteration, rows in parallel (serially for decode-sized inputs).  Same
contracts and caches as ``minireason.nn.rmsnorm`` and ``minireason.nn.swiglu``, so a reference
backward can consume a kernel forward's cache and vice versa.
"""

from __future__ import annotations

import numba
import numpy as np
from minireason.kernels.numba_math import exp_float32
from minireason.kernels.numba_threads import on_one_thread  # (its import sets the OpenMP wait policy)

_FAST = {"reassoc", "contract"}


# Below PARALLEL_MIN_ELEMENTS waking the thread pool costs more than the work, so RMSNorm's row
# body, written once, is driven by a parallel loop for training-sized inputs and a serial one for
# decode-sized ones.  SwiGLU's serial loop does not vectorise (LLVM cannot prove that its four
# arrays do not overlap, which Numba asserts only for a parallel loop's body), so its small inputs
# run the parallel-compiled loop on the calling thread alone (``numba_threads.on_one_thread``: no
# hand-off, SIMD kept).  docs/kernels.md, "RMSNorm and SwiGLU", has the measurements.
PARALLEL_MIN_ELEMENTS = 1 << 16


def runs_in_parallel(elements: int) -> bool:
    """Whether the kernels below split an input of ``elements`` numbers over numba's threads."""
    return elements >= PARALLEL_MIN_ELEMENTS


@numba.njit(nogil=True, cache=True, fastmath=_FAST, inline="always")
def _rmsnorm_forward_row(x, weight, eps, normalized, inverse_rms, out, row):  # pragma: no cover - compiled
    n_features = x.shape[1]
    total = 0.0
    for i in range(n_features):
        total += x[row, i] * x[row, i]
    inverse = 1.0 / np.sqrt(total / n_features + eps)
    inverse_rms[row] = inverse
    for i in range(n_features):
        normalized[row, i] = x[row, i] * inverse
        out[row, i] = normalized[row, i] * weight[i]


@numba.njit(parallel=True, nogil=True, cache=True, fastmath=_FAST)
def _rmsnorm_forward_parallel(x, weight, eps, normalized, inverse_rms, out):  # pragma: no cover - compiled
    for row in numba.prange(x.shape[0]):
        _rmsnorm_forward_row(x, weight, eps, normalized, inverse_rms, out, row)


@numba.njit(nogil=True, cache=True, fastmath=_FAST)
def _rmsnorm_forward_serial(x, weight, eps, normalized, inverse_rms, out):  # pragma: no cover - compiled
    for row in range(x.shape[0]):
        _rmsnorm_forward_row(x, weight, eps, normalized, inverse_rms, out, row)


@numba.njit(nogil=True, cache=True, fastmath=_FAST, inline="always")
def _rmsnorm_backward_row(dout, normalized, inverse_rms, weight, dx, dweight_per_row, row):  # pragma: no cover
    n_features = dout.shape[1]
    projection = 0.0  # mean(dn * n) with dn = dout * w
    for i in range(n_features):
        projection += dout[row, i] * weight[i] * normalized[row, i]
    projection /= n_features
    for i in range(n_features):
        dx[row, i] = inverse_rms[row] * (dout[row, i] * weight[i] - normalized[row, i] * projection)
        dweight_per_row[row, i] = dout[row, i] * normalized[row, i]


@numba.njit(parallel=True, nogil=True, cache=True, fastmath=_FAST)
def _rmsnorm_backward_parallel(dout, normalized, inverse_rms, weight, dx, dweight_per_row):  # pragma: no cover
    for row in numba.prange(dout.shape[0]):
        _rmsnorm_backward_row(dout, normalized, inverse_rms, weight, dx, dweight_per_row, row)


@numba.njit(nogil=True, cache=True, fastmath=_FAST)
def _rmsnorm_backward_serial(dout, normalized, inverse_rms, weight, dx, dweight_per_row):  # pragma: no cover
    for row in range(dout.shape[0]):
        _rmsnorm_backward_row(dout, normalized, inverse_rms, weight, dx, dweight_per_row, row)


def rmsnorm_forward(x: np.ndarray, weight: np.ndarray, eps: float):
    """x (..., N), weight (N,) -> y (..., N); cache (normalized, inverse_rms (..., 1), weight) as the reference."""
    dtype = np.result_type(x, weight)
    shape = x.shape
    rows = np.ascontiguousarray(x, dtype=dtype).reshape(-1, shape[-1])  # (rows, N)
    weight = np.ascontiguousarray(weight, dtype=dtype)
    normalized = np.empty_like(rows)
    inverse_rms = np.empty((rows.shape[0], 1), dtype=dtype)
    out = np.empty_like(rows)
    kernel = _rmsnorm_forward_parallel if runs_in_parallel(rows.size) else _rmsnorm_forward_serial
    kernel(rows, weight, dtype.type(eps), normalized, inverse_rms[:, 0], out)
    cache = (normalized.reshape(shape), inverse_rms.reshape(shape[:-1] + (1,)), weight)
    return out.reshape(shape), cache


def rmsnorm_backward(dout: np.ndarray, cache):
    """dx = r (dout w - n mean(dout w n)), dw = sum over rows of dout n.  Returns (dx, dw)."""
    normalized, inverse_rms, weight = cache
    shape = normalized.shape
    rows = np.ascontiguousarray(dout, dtype=normalized.dtype).reshape(-1, shape[-1])
    dx = np.empty_like(rows)
    dweight_per_row = np.empty_like(rows)  # summed by NumPy: a parallel reduction without races
    kernel = _rmsnorm_backward_parallel if runs_in_parallel(rows.size) else _rmsnorm_backward_serial
    kernel(rows, np.ascontiguousarray(normalized).reshape(rows.shape),
           np.ascontiguousarray(inverse_rms).reshape(-1), weight, dx, dweight_per_row)
    return dx.reshape(shape), dweight_per_row.sum(axis=0)


@numba.njit(parallel=True, nogil=True, cache=True, fastmath=_FAST)
def _swiglu_forward_flat(gate, up, sigmoid_gate, out):  # pragma: no cover - compiled
    """s = sigmoid(g) from e = exp(-|g|) (never overflows): s = 1 / (1 + e) for g >= 0 and
    e / (1 + e) below; out = g s u.  float32 uses the vectorisable exp, so the loop is SIMD."""
    if gate.itemsize == 4:  # float32 (a constant per compiled specialisation)
        for i in numba.prange(gate.size):
            g = gate[i]
            e = exp_float32(-abs(g))
            s = (np.float32(1.0) if g >= 0 else e) / (np.float32(1.0) + e)
            sigmoid_gate[i] = s
            out[i] = g * s * up[i]
    else:
        for i in numba.prange(gate.size):
            g = gate[i]
            e = np.exp(-abs(g))
            s = (1.0 if g >= 0 else e) / (1.0 + e)
            sigmoid_gate[i] = s
            out[i] = g * s * up[i]


@numba.njit(parallel=True, nogil=True, cache=True, fastmath=_FAST)
def _swiglu_backward_flat(dout, gate, up, sigmoid_gate, dgate, dup):  # pragma: no cover - compiled
    for i in numba.prange(gate.size):
        s = sigmoid_gate[i]
        silu = gate[i] * s
        dup[i] = dout[i] * silu
        dgate[i] = dout[i] * up[i] * (s + silu * (1.0 - s))


def swiglu_forward(gate: np.ndarray, up: np.ndarray):
    """h = silu(gate) * up.  gate, up (..., F) -> h (..., F); cache (gate, up, sigmoid(gate)), the
    reference's (so either backward takes it)."""
    dtype = np.result_type(gate, up)
    gate = np.ascontiguousarray(gate, dtype=dtype)
    up = np.ascontiguousarray(up, dtype=dtype)
    sigmoid_gate = np.empty_like(gate)
    out = np.empty_like(gate)
    arguments = (gate.reshape(-1), up.reshape(-1), sigmoid_gate.reshape(-1), out.reshape(-1))
    if not runs_in_parallel(gate.size):
        on_one_thread(_swiglu_forward_flat, *arguments)
    else:
        _swiglu_forward_flat(*arguments)
    return out, (gate, up, sigmoid_gate)


def swiglu_backward(dout: np.ndarray, cache):
    """dgate = dout u (s + g s (1 - s)), dup = dout g s.  Returns (dgate, dup)."""
    gate, up, sigmoid_gate = cache
    dout = np.ascontiguousarray(dout, dtype=gate.dtype)
    gate, up, sigmoid_gate = (np.ascontiguousarray(a) for a in (gate, up, sigmoid_gate))
    dgate = np.empty_like(gate)
    dup = np.empty_like(gate)
    arguments = (dout.reshape(-1), gate.reshape(-1), up.reshape(-1), sigmoid_gate.reshape(-1),
                 dgate.reshape(-1), dup.reshape(-1))
    if not runs_in_parallel(gate.size):
        on_one_thread(_swiglu_backward_flat, *arguments)
    else:
        _swiglu_backward_flat(*arguments)
    return dgate, dup
