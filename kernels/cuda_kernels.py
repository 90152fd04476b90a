"""GPU kernels written with ``numba.cuda``: causal GQA attention, RMSNorm and SwiGLU, forward and backward.

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

from numba import cuda, float64

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
    """Causal GQA attention forward, one thread per query row, by the online softmax.

    Thread ``cuda.grid(1)`` handles query t of head h in batch b (rows past B*H*T return at once).
    Queries are the last T of the S key slots, so query t sees slots ``0 .. S - T + t`` whose
    ``allowed`` entry is True; head h reads kv head ``h // (H // Hkv)``.

    Arguments (device arrays, C-contiguous; the float ones share one dtype, float32 or float64):

    - ``q``: (B, H, T, Dh) queries, Dh at most ``MAX_HEAD_DIM``.
    - ``k``: (B, Hkv, S, Dh) keys (H a multiple of Hkv).
    - ``v``: (B, Hkv, S, Dh) values.
    - ``allowed``: (B, S) bool, False for padding slots.
    - ``scale``: the score scale (``1 / sqrt(Dh)``), a scalar of q's dtype.
    - ``out``: (B, H, T, Dh), written: the softmax-weighted average of the values the row sees.
    - ``logsumexp``: (B, H, T), written: the log of the row's softmax normaliser; +inf for a row that
      sees no key, whose out is then the uniform average of all S values (as the reference's).

    Device code raises nothing: the launcher ``kernels.cuda_ops.attention_forward`` checks the
    shapes (a ValueError for Dh above ``MAX_HEAD_DIM``) and allocates the outputs.
    """
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
    if row_sum == 0.0:  # sees no key: the reference's uniform average over all S slots (a NaN sum stays NaN)
        for d in range(Dh):
            total = 0.0
            for j in range(S):
                total += v[b, hk, j, d]
            out[b, h, t, d] = total / S
        logsumexp[b, h, t] = math.inf
    else:
        for d in range(Dh):
            out[b, h, t, d] = accumulator[d] / row_sum
        logsumexp[b, h, t] = row_max + math.log(row_sum)


@cuda.jit
def attention_backward_kernel(q, k, v, out, dout, logsumexp, allowed, scale, dq, dk, dv):  # pragma: no cover
    """Causal GQA attention backward, one thread per query row, recomputing probabilities.

    Each probability is recomputed from the saved logsumexp, ``p = exp(q.k * scale - logsumexp)``
    (``1/S`` for a row that saw no key), and with ``delta = dout . out`` the score gradient is
    ``p (dout . v - delta) * scale``. A thread writes its own row of dq; dk and dv are shared by
    every query and every head of a kv group, so they are accumulated with ``cuda.atomic.add``.

    Arguments (device arrays, C-contiguous; the float ones share one dtype, float32 or float64):

    - ``q``: (B, H, T, Dh) the forward's queries.
    - ``k``: (B, Hkv, S, Dh) keys.
    - ``v``: (B, Hkv, S, Dh) values.
    - ``out``: (B, H, T, Dh) the forward's output.
    - ``dout``: (B, H, T, Dh) the gradient of the loss with respect to out.
    - ``logsumexp``: (B, H, T) as written by ``attention_forward_kernel``.
    - ``allowed``: (B, S) bool key mask, as in the forward.
    - ``scale``: the forward's score scale.
    - ``dq``: (B, H, T, Dh), written.
    - ``dk``: (B, Hkv, S, Dh), added to: it must start at zero.
    - ``dv``: (B, Hkv, S, Dh), added to: it must start at zero.

    Device code raises nothing: the launcher ``kernels.cuda_ops.attention_backward`` zeroes and
    returns the gradients.
    """
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


# ----------------------------------------------------------------------------- RMSNorm
# One block of ROW_THREADS threads per row: the threads stride over the row's features (so
# neighbouring threads read neighbouring addresses) and combine their partial sums in shared
# memory.  Partial sums are float64 whatever the input dtype.
ROW_THREADS = 128  # a power of two, for the halving reduction


@cuda.jit(device=True)
def block_sum(shared, value):  # pragma: no cover - runs on device
    """The sum of ``value`` over the block's threads, returned to every thread."""
    thread = cuda.threadIdx.x
    shared[thread] = value
    cuda.syncthreads()
    stride = ROW_THREADS // 2
    while stride > 0:
        if thread < stride:
            shared[thread] += shared[thread + stride]
        cuda.syncthreads()
        stride //= 2
    total = shared[0]
    cuda.syncthreads()  # every thread has read the total before the buffer is reused
    return total


@cuda.jit
def rmsnorm_forward_kernel(x, weight, eps, normalized, inverse_rms, out):  # pragma: no cover - runs on device
    """Row ``blockIdx.x`` of x (rows, N): r = (mean(x^2) + eps)^-1/2, n = x r, out = n * weight."""
    row, thread = cuda.blockIdx.x, cuda.threadIdx.x
    n_features = x.shape[1]
    shared = cuda.shared.array(ROW_THREADS, dtype=float64)
    partial = 0.0
    for i in range(thread, n_features, ROW_THREADS):
        partial += x[row, i] * x[row, i]
    inverse = 1.0 / math.sqrt(block_sum(shared, partial) / n_features + eps)
    if thread == 0:
        inverse_rms[row] = inverse
    for i in range(thread, n_features, ROW_THREADS):
        value = x[row, i] * inverse
        normalized[row, i] = value
        out[row, i] = value * weight[i]


@cuda.jit
def rmsnorm_backward_kernel(dout, normalized, inverse_rms, weight, dx):  # pragma: no cover - runs on device
    """Row ``blockIdx.x``: dn = dout * weight, dx = r (dn - n mean(dn n)).  (dweight, a sum over
    rows, is left to the caller's reduction.)"""
    row, thread = cuda.blockIdx.x, cuda.threadIdx.x
    n_features = dout.shape[1]
    shared = cuda.shared.array(ROW_THREADS, dtype=float64)
    partial = 0.0
    for i in range(thread, n_features, ROW_THREADS):
        partial += dout[row, i] * weight[i] * normalized[row, i]
    mean = block_sum(shared, partial) / n_features
    inverse = inverse_rms[row]
    for i in range(thread, n_features, ROW_THREADS):
        dx[row, i] = inverse * (dout[row, i] * weight[i] - normalized[row, i] * mean)


# ----------------------------------------------------------------------------- SwiGLU
# Elementwise over flat arrays, a grid-stride loop.  sigmoid(g) = (1 + tanh(g / 2)) / 2 as in
# the reference: no overflow for large |g|.

@cuda.jit
def swiglu_forward_kernel(gate, up, sigmoid_gate, out):  # pragma: no cover - runs on device
    """out = g sigmoid(g) u; keeps sigmoid(g) for the backward."""
    for i in range(cuda.grid(1), gate.shape[0], cuda.gridsize(1)):
        sigmoid = 0.5 * (1.0 + math.tanh(0.5 * gate[i]))
        sigmoid_gate[i] = sigmoid
        out[i] = gate[i] * sigmoid * up[i]


@cuda.jit
def swiglu_backward_kernel(dout, gate, up, sigmoid_gate, dgate, dup):  # pragma: no cover - runs on device
    """du = dout g s;  dg = dout u (s + g s (1 - s)),  s = sigmoid(g)."""
    for i in range(cuda.grid(1), gate.shape[0], cuda.gridsize(1)):
        sigmoid = sigmoid_gate[i]
        silu = gate[i] * sigmoid
        dup[i] = dout[i] * silu
        dgate[i] = dout[i] * up[i] * (sigmoid + silu * (1.0 - sigmoid))


def blocks_for(n_threads: int, max_blocks: int = 65535) -> int:
    """Blocks of THREADS_PER_BLOCK for one thread per item (grid-stride kernels cap the count)."""
    return min(max_blocks, max(1, (n_threads + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK))
