"""GPU kernels written with ``numba.cuda``: causal GQA attention (forward, backward) and RMSNorm.

Written with numba.cuda so that the same kernel logic runs (a) on a real GPU, launched on CuPy
arrays through ``__cuda_array_interface__``, and (b) without any GPU under Numba's CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1``, set before numba is imported), where tests check it
against the NumPy reference.

Attention: one thread per query row (b, h, t) runs the online softmax over that row's keys,
keeping one accumulator row of at most ``MAX_HEAD_DIM`` numbers; no (T, S) matrix exists.  The
backward recomputes each probability from the saved logsumexp; dk and dv, shared by every query
(and every head of a group), are accumulated with atomic adds.  Semantics, including rows that
see no key (logsumexp +inf, uniform average over all S slots), are those of
``minireason.kernels.numba_attention``.
"""

from __future__ import annotations

import math

from numba import cuda

MAX_HEAD_DIM = 256  # size of the per-thread accumulator (a compile-time constant in CUDA)
THREADS_PER_BLOCK = 128


@cuda.jit(device=True)
def query_row_indices(row, H, T, Hkv, S):  # pragma: no cover - runs on device
    """Thread ``row`` of B*H*T handles query t of head h in batch b; its kv head is hk and it may
    see key slots 0..limit (the causal offset: queries are the last T of S slots)."""
    b = row // (H * T)
    h = (row // T) % H
    t = row % T
    return b, h, t, h // (H // Hkv), S - T + t


@cuda.jit
def attention_forward_kernel(q, k, v, allowed, scale, out, logsumexp):  # pragma: no cover - runs on device
    B, H, T, Dh = q.shape
    Hkv, S = k.shape[1], k.shape[2]
    row = cuda.grid(1)
    if row >= B * H * T:
        return
    b, h, t, hk, limit = query_row_indices(row, H, T, Hkv, S)
    accumulator = cuda.local.array(MAX_HEAD_DIM, dtype=q.dtype)
    for d in range(Dh):
        accumulator[d] = 0.0
    row_max = -math.inf
    row_sum = 0.0
    for j in range(min(limit + 1, S)):
        if not allowed[b, j]:
            continue
        score = 0.0
        for d in range(Dh):
            score += q[b, h, t, d] * k[b, hk, j, d]
        score *= scale
        if score > row_max:  # rescale what was summed so far to the new maximum
            correction = math.exp(row_max - score)
            row_sum *= correction
            for d in range(Dh):
                accumulator[d] *= correction
            row_max = score
        p = math.exp(score - row_max)
        row_sum += p
        for d in range(Dh):
            accumulator[d] += p * v[b, hk, j, d]
    if row_sum > 0.0:
        for d in range(Dh):
            out[b, h, t, d] = accumulator[d] / row_sum
        logsumexp[b, h, t] = row_max + math.log(row_sum)
    else:  # sees no key: the reference's uniform average over all S slots
        for d in range(Dh):
            total = 0.0
            for j in range(S):
                total += v[b, hk, j, d]
            out[b, h, t, d] = total / S
        logsumexp[b, h, t] = math.inf


@cuda.jit
def attention_backward_kernel(q, k, v, out, dout, logsumexp, allowed, scale, dq, dk, dv):  # pragma: no cover
    B, H, T, Dh = q.shape
    Hkv, S = k.shape[1], k.shape[2]
    row = cuda.grid(1)
    if row >= B * H * T:
        return
    b, h, t, hk, limit = query_row_indices(row, H, T, Hkv, S)
    lse = logsumexp[b, h, t]
    delta = 0.0  # dout_t . out_t = sum_j P_tj dP_tj
    for d in range(Dh):
        delta += dout[b, h, t, d] * out[b, h, t, d]
    uniform = lse == math.inf
    last = S if uniform else min(limit + 1, S)
    for j in range(last):
        if uniform:
            p = 1.0 / S
        elif allowed[b, j]:
            score = 0.0
            for d in range(Dh):
                score += q[b, h, t, d] * k[b, hk, j, d]
            p = math.exp(score * scale - lse)
        else:
            continue
        dp = 0.0
        for d in range(Dh):
            dp += dout[b, h, t, d] * v[b, hk, j, d]
        dscore = p * (dp - delta) * scale
        for d in range(Dh):
            dq[b, h, t, d] += dscore * k[b, hk, j, d]
            cuda.atomic.add(dk, (b, hk, j, d), dscore * q[b, h, t, d])
            cuda.atomic.add(dv, (b, hk, j, d), p * dout[b, h, t, d])


@cuda.jit
def rmsnorm_forward_kernel(x, weight, eps, normalized, inverse_rms, out):  # pragma: no cover - runs on device
    n_rows, n_features = x.shape
    row = cuda.grid(1)
    if row >= n_rows:
        return
    total = 0.0
    for i in range(n_features):
        total += x[row, i] * x[row, i]
    inverse = 1.0 / math.sqrt(total / n_features + eps)
    inverse_rms[row] = inverse
    for i in range(n_features):
        normalized[row, i] = x[row, i] * inverse
        out[row, i] = normalized[row, i] * weight[i]


def blocks_for(n_threads: int) -> int:
    return max(1, (n_threads + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK)
