"""Causal grouped-query attention in Numba: tiled, online softmax, never the (T, S) matrix.

Same contract as ``minireason.nn.attention.attention_forward`` / ``attention_backward``:

    out, cache = attention_forward(q, k, v, key_mask, scale)   # q (B, H, T, Dh); k, v (B, Hkv, S, Dh)
    dq, dk, dv = attention_backward(dout, cache)

The cache holds (q, k, v, out, logsumexp, allowed keys, scale): O(T) memory per head instead
of the reference's (T, S) probabilities.  The backward recomputes each probability from its
score and the row's logsumexp.  The derivation is in docs/kernels.md.

Which keys a query sees is exactly the reference's rule: query t sits at key slot
S - T + t and sees key slot s when s <= S - T + t and key_mask[b, s].  A query that sees no key
at all (a left-padding query) gets what the reference gives it: a uniform average over all S
values, with the reference's gradient for that case (the score is treated as a constant in
the forward, but the backward still pushes P * (dP - delta) through q and k, as the reference
does).  Such rows are flagged by a logsumexp of +inf.
"""

from __future__ import annotations

import contextlib
import ctypes

import minireason.kernels.numba_threads  # noqa: F401  (sets passive OpenMP waiting first)
import numba
import numpy as np

from minireason.nn import attention as reference_attention

QUERY_BLOCK = 64  # query positions per tile; a tile stacks them for each head it serves
KEY_BLOCK = 64  # keys per tile: one online-softmax rescale of the accumulator per tile
REFERENCE_CACHE_LENGTH = 5  # (q grouped, k, v, probabilities, scale)
_FAST = {"reassoc", "contract"}  # lets LLVM vectorise dot products; keeps inf/nan semantics

_F = np.float32
_LOG2E = _F(1.4426950408889634)
_LN2_HIGH = _F(0.693359375)  # ln 2 split in two so that n * ln2_high is exact in float32
_LN2_LOW = _F(-2.12194440e-4)
_EXP_FLOOR = _F(-88.0)  # rounds to n = -127, whose exponent field 0 makes 2^n (and the result) exactly 0


def _find_blas_thread_control():
    """(get, set) of the thread count of the OpenBLAS behind numba's np.dot (scipy's), or None.

    Looked up through scipy's cython_blas, whose library resolves the symbols of the OpenBLAS it
    links (``scipy_openblas_*`` in scipy's wheels, ``openblas_*`` in older or system builds).
    """
    try:
        import scipy.linalg.cython_blas as cython_blas

        library = ctypes.CDLL(cython_blas.__file__)
    except (ImportError, OSError):  # pragma: no cover - numba_cpu imports scipy first
        return None
    for prefix in ("scipy_openblas", "openblas"):
        get_threads = getattr(library, prefix + "_get_num_threads", None)
        set_threads = getattr(library, prefix + "_set_num_threads", None)
        if get_threads is not None and set_threads is not None:
            return get_threads, set_threads
    return None  # pragma: no cover - another BLAS: left as it is


_BLAS_THREADS = _find_blas_thread_control()


@contextlib.contextmanager
def _one_blas_thread():
    """Single-threaded OpenBLAS while a parallel kernel runs; the previous count afterwards.

    Each tile product is called from a prange thread already.  OpenBLAS splits a product above
    about 64^3 multiply-adds over its own threads, and two prange threads doing that at once
    serialise on its thread pool: the 128 x 64 x 64 tiles of a stacked group ran at 1-thread
    speed (docs/kernels.md).
    """
    if _BLAS_THREADS is None:  # pragma: no cover - another BLAS
        yield
        return
    get_threads, set_threads = _BLAS_THREADS
    previous = get_threads()
    set_threads(1)
    try:
        yield
    finally:
        set_threads(previous)


@numba.njit(cache=True, fastmath=_FAST)
def _exp_row(row, multiplier, shift, exponent_bits):  # pragma: no cover - compiled
    """row[c] = exp(row[c] * multiplier - shift) in place; returns the row's sum.

    float32: exp(x) = 2^n exp(r), n = round(x / ln 2), r = x - n ln 2, exp(r) by a degree-6
    polynomial (relative error below 3e-7), 2^n assembled from exponent bits in the int32
    scratch ``exponent_bits``; both loops vectorise.  Arguments at or below -88 (a -inf score or
    a +inf shift included) give exactly 0.  float64: np.exp.
    """
    total = row.dtype.type(0.0)
    if row.itemsize == 4:  # float32 (a constant per compiled specialisation)
        for c in range(row.shape[0]):
            x = row[c] * multiplier - shift
            x = x if x > _EXP_FLOOR else _EXP_FLOOR
            n = np.floor(x * _LOG2E + _F(0.5))
            r = x - n * _LN2_HIGH - n * _LN2_LOW
            p = _F(1.9875691500e-4)
            p = p * r + _F(1.3981999507e-3)
            p = p * r + _F(8.3334519073e-3)
            p = p * r + _F(4.1665795894e-2)
            p = p * r + _F(1.6666665459e-1)
            p = p * r + _F(5.0000001201e-1)
            row[c] = p * r * r + r + _F(1.0)
            exponent_bits[c] = (np.int32(n) + np.int32(127)) << np.int32(23)
        powers_of_two = exponent_bits.view(np.float32)
        for c in range(row.shape[0]):
            row[c] *= powers_of_two[c]
            total += row[c]
    else:
        for c in range(row.shape[0]):
            row[c] = np.exp(row[c] * multiplier - shift)
            total += row[c]
    return total


@numba.njit(cache=True, fastmath=_FAST)
def _uniform_average(v_head, out_row):  # pragma: no cover - compiled
    """out_row = mean over all S slots of v_head (S, Dh): the reference's answer for a row that sees no key."""
    S, Dh = v_head.shape
    for d in range(Dh):
        out_row[d] = 0.0
    for j in range(S):
        for d in range(Dh):
            out_row[d] += v_head[j, d]
    for d in range(Dh):
        out_row[d] /= S


@numba.njit(cache=True)
def _keys_all_allowed(allowed_row, j0, j1):  # pragma: no cover - compiled
    """True when no key slot in [j0, j1) is padding."""
    for j in range(j0, j1):
        if not allowed_row[j]:
            return False
    return True


@numba.njit(cache=True)
def _balanced_block(index, n_blocks):  # pragma: no cover - compiled
    """Query block of the index-th work item: 0, n-1, 1, n-2, ... so that any run of items mixes
    short causal rows with long ones and prange's contiguous chunks get equal work."""
    return index // 2 if index % 2 == 0 else n_blocks - 1 - index // 2


@numba.njit(parallel=True, cache=True, fastmath=_FAST)
def _forward_kernel(q, k, v, allowed, scale, out, logsumexp, heads_per_item):  # pragma: no cover - compiled
    """One work item: one query block of ``heads_per_item`` heads that share a kv head.

    Their query rows are stacked (row g * n_steps + i is head first_head + g, query t0 + i),
    so each key/value tile is read once for all of them and each BLAS product is that much larger.
    """
    B, H, T, Dh = q.shape
    S = k.shape[2]
    group = H // k.shape[1]
    offset = S - T  # query t sits at key slot offset + t
    n_blocks = (T + QUERY_BLOCK - 1) // QUERY_BLOCK
    sets_per_batch = H // heads_per_item
    max_rows = heads_per_item * QUERY_BLOCK
    for item in numba.prange(B * sets_per_batch * n_blocks):
        head_set = item // n_blocks
        b = head_set // sets_per_batch
        first_head = (head_set % sets_per_batch) * heads_per_item
        k_head, v_head = k[b, first_head // group], v[b, first_head // group]  # (S, Dh)
        t0 = _balanced_block(item % n_blocks, n_blocks) * QUERY_BLOCK
        t1 = min(T, t0 + QUERY_BLOCK)
        n_steps = t1 - t0
        n_rows = heads_per_item * n_steps
        query_rows = np.empty((n_rows, Dh), dtype=q.dtype)  # (G * steps, Dh)
        for g in range(heads_per_item):
            query_rows[g * n_steps:(g + 1) * n_steps] = q[b, first_head + g, t0:t1]
        score_buffer = np.empty(max_rows * KEY_BLOCK, dtype=q.dtype)
        exponent_bits = np.empty(KEY_BLOCK, dtype=np.int32)
        values_product = np.empty((n_rows, Dh), dtype=q.dtype)  # (G * steps, Dh) P v of one tile
        accumulator = np.zeros((n_rows, Dh), dtype=q.dtype)
        row_max = np.full(n_rows, -np.inf, dtype=q.dtype)
        row_sum = np.zeros(n_rows, dtype=q.dtype)
        last_key = min(offset + t1 - 1, S - 1)  # causal: no later key is seen by this block
        for j0 in range(0, last_key + 1, KEY_BLOCK):
            j1 = min(last_key + 1, j0 + KEY_BLOCK)
            n_keys = j1 - j0
            scores = score_buffer[:n_rows * n_keys].reshape((n_rows, n_keys))  # (G * steps, keys)
            np.dot(query_rows, k_head[j0:j1].T, scores)
            # every row sees every key of the tile: no per-element mask
            visible = j1 - 1 <= offset + t0 and _keys_all_allowed(allowed[b], j0, j1)
            for r in range(n_rows):
                row = scores[r]
                block_max = -np.inf
                if visible:
                    for c in range(n_keys):
                        row[c] *= scale
                        block_max = max(block_max, row[c])
                else:
                    limit = offset + t0 + r % n_steps
                    for c in range(n_keys):
                        if j0 + c <= limit and allowed[b, j0 + c]:
                            row[c] *= scale
                            block_max = max(block_max, row[c])
                        else:
                            row[c] = -np.inf
                new_max = max(row_max[r], block_max)
                if new_max == -np.inf:  # no key seen yet: the tile row contributes nothing
                    row[:] = 0.0
                    continue
                correction = np.exp(row_max[r] - new_max)  # 0 on the first seen block
                row_sum[r] = row_sum[r] * correction + _exp_row(row, 1.0, new_max, exponent_bits)
                if correction != 1.0:
                    accumulator[r] *= correction
                row_max[r] = new_max
            np.dot(scores, v_head[j0:j1], values_product)
            accumulator += values_product
        for r in range(n_rows):
            h, t = first_head + r // n_steps, t0 + r % n_steps
            if row_sum[r] > 0.0:
                out[b, h, t] = accumulator[r] / row_sum[r]
                logsumexp[b, h, t] = row_max[r] + np.log(row_sum[r])
            else:
                _uniform_average(v_head, out[b, h, t])
                logsumexp[b, h, t] = np.inf


@numba.njit(parallel=True, cache=True, fastmath=_FAST)
def _backward_kernel(q, k, v, out, dout, logsumexp, allowed, scale, heads_per_item,
                     dq, dk_partial, dv_partial):  # pragma: no cover - compiled
    """One work item: ``heads_per_item`` heads that share a kv head, all their query blocks.

    Rows are stacked as in the forward.  The item owns its heads' dq rows and one (S, Dh) slab of
    dk_partial / dv_partial (B, H / heads_per_item, S, Dh), summed over each group afterwards.
    """
    B, H, T, Dh = q.shape
    S = k.shape[2]
    group = H // k.shape[1]
    offset = S - T
    sets_per_batch = H // heads_per_item
    max_rows = heads_per_item * QUERY_BLOCK
    for head_set in numba.prange(B * sets_per_batch):
        b = head_set // sets_per_batch
        first_head = (head_set % sets_per_batch) * heads_per_item
        k_head, v_head = k[b, first_head // group], v[b, first_head // group]  # (S, Dh)
        dk_slab, dv_slab = dk_partial[b, head_set % sets_per_batch], dv_partial[b, head_set % sets_per_batch]
        query_buffer = np.empty((max_rows, Dh), dtype=q.dtype)
        dout_buffer = np.empty((max_rows, Dh), dtype=q.dtype)
        dq_buffer = np.empty((max_rows, Dh), dtype=q.dtype)
        rows_product_buffer = np.empty((max_rows, Dh), dtype=q.dtype)
        keys_product = np.empty((KEY_BLOCK, Dh), dtype=q.dtype)
        probs_buffer = np.empty(max_rows * KEY_BLOCK, dtype=q.dtype)
        dscores_buffer = np.empty(max_rows * KEY_BLOCK, dtype=q.dtype)
        exponent_bits = np.empty(KEY_BLOCK, dtype=np.int32)
        lse_rows = np.empty(max_rows, dtype=q.dtype)
        delta_rows = np.empty(max_rows, dtype=q.dtype)
        for t0 in range(0, T, QUERY_BLOCK):
            t1 = min(T, t0 + QUERY_BLOCK)
            n_steps = t1 - t0
            n_rows = heads_per_item * n_steps
            query_rows, dout_rows = query_buffer[:n_rows], dout_buffer[:n_rows]  # (G * steps, Dh)
            dq_rows, rows_product = dq_buffer[:n_rows], rows_product_buffer[:n_rows]
            for g in range(heads_per_item):
                rows = slice(g * n_steps, (g + 1) * n_steps)
                query_rows[rows] = q[b, first_head + g, t0:t1]
                dout_rows[rows] = dout[b, first_head + g, t0:t1]
                lse_rows[rows] = logsumexp[b, first_head + g, t0:t1]
            for r in range(n_rows):  # delta_t = dout_t . out_t = sum_j P_tj dP_tj
                out_row = out[b, first_head + r // n_steps, t0 + r % n_steps]
                total = 0.0
                for d in range(Dh):
                    total += dout_rows[r, d] * out_row[d]
                delta_rows[r] = total
            dq_rows[:] = 0.0
            last_key = min(offset + t1 - 1, S - 1)
            for j0 in range(0, last_key + 1, KEY_BLOCK):
                j1 = min(last_key + 1, j0 + KEY_BLOCK)
                n_keys = j1 - j0
                probs = probs_buffer[:n_rows * n_keys].reshape((n_rows, n_keys))  # scores, then P in place
                dscores = dscores_buffer[:n_rows * n_keys].reshape((n_rows, n_keys))  # dP, then dS in place
                key_rows = keys_product[:n_keys]  # (keys, Dh)
                np.dot(query_rows, k_head[j0:j1].T, probs)
                visible = j1 - 1 <= offset + t0 and _keys_all_allowed(allowed[b], j0, j1)
                for r in range(n_rows):  # a row with logsumexp +inf (it saw no key) gets P = 0 here
                    _exp_row(probs[r], scale, lse_rows[r], exponent_bits)
                    if not visible:
                        limit = offset + t0 + r % n_steps
                        for c in range(n_keys):
                            if j0 + c > limit or not allowed[b, j0 + c]:
                                probs[r, c] = 0.0
                np.dot(probs.T, dout_rows, key_rows)
                dv_slab[j0:j1] += key_rows
                np.dot(dout_rows, v_head[j0:j1].T, dscores)
                for r in range(n_rows):
                    delta = delta_rows[r]
                    for c in range(n_keys):
                        dscores[r, c] = probs[r, c] * (dscores[r, c] - delta) * scale
                np.dot(dscores, k_head[j0:j1], rows_product)
                dq_rows += rows_product
                np.dot(dscores.T, query_rows, key_rows)
                dk_slab[j0:j1] += key_rows
            for r in range(n_rows):
                dq[b, first_head + r // n_steps, t0 + r % n_steps] = dq_rows[r]
        for g in range(heads_per_item):  # rows that saw no key: the reference's uniform P = 1/S over all slots
            h = first_head + g
            for t in range(T):
                if logsumexp[b, h, t] != np.inf:
                    continue
                delta = 0.0
                for d in range(Dh):
                    delta += dout[b, h, t, d] * out[b, h, t, d]
                p = 1.0 / S
                for j in range(S):
                    dp = 0.0
                    for d in range(Dh):
                        dp += dout[b, h, t, d] * v_head[j, d]
                    dscore = p * (dp - delta) * scale
                    for d in range(Dh):
                        dv_slab[j, d] += p * dout[b, h, t, d]
                        dq[b, h, t, d] += dscore * k_head[j, d]
                        dk_slab[j, d] += dscore * q[b, h, t, d]


def _decode_body(q, k, v, allowed, scale, out, logsumexp, batch_head):  # pragma: no cover - compiled
    """One new query row (T = 1) of one (batch, head) against all S cached keys: two passes, no tiles."""
    H = q.shape[1]
    S = k.shape[2]
    b = batch_head // H
    h = batch_head % H
    hk = h // (H // k.shape[1])
    q_row, k_head, v_head = q[b, h, 0], k[b, hk], v[b, hk]
    scores = np.dot(k_head, q_row)  # (S,) one BLAS matrix-vector product
    row_max = -np.inf
    for j in range(S):  # the single query sits at the last slot: every allowed key is causal
        if allowed[b, j]:
            scores[j] *= scale
            row_max = max(row_max, scores[j])
        else:
            scores[j] = -np.inf
    if row_max == -np.inf:
        _uniform_average(v_head, out[b, h, 0])
        logsumexp[b, h, 0] = np.inf
        return
    row_sum = 0.0
    for j in range(S):
        scores[j] = np.exp(scores[j] - row_max)  # now unnormalised probabilities
        row_sum += scores[j]
    out[b, h, 0] = np.dot(scores, v_head) / row_sum  # (Dh,) one more matrix-vector product
    logsumexp[b, h, 0] = row_max + np.log(row_sum)


_decode_row = numba.njit(cache=True, fastmath=_FAST)(_decode_body)


@numba.njit(cache=True, fastmath=_FAST)
def _decode_serial(q, k, v, allowed, scale, out, logsumexp):  # pragma: no cover - compiled
    for batch_head in range(q.shape[0] * q.shape[1]):
        _decode_row(q, k, v, allowed, scale, out, logsumexp, batch_head)


@numba.njit(parallel=True, cache=True, fastmath=_FAST)
def _decode_parallel(q, k, v, allowed, scale, out, logsumexp):  # pragma: no cover - compiled
    for batch_head in numba.prange(q.shape[0] * q.shape[1]):
        _decode_row(q, k, v, allowed, scale, out, logsumexp, batch_head)


PARALLEL_DECODE_WORK = 1 << 20  # below this many multiply-adds a thread hand-off costs more than it saves


def _allowed_keys(key_mask, batch_size: int, key_length: int) -> np.ndarray:
    if key_mask is None:
        return np.ones((batch_size, key_length), dtype=np.bool_)
    return np.ascontiguousarray(key_mask, dtype=np.bool_)


def decode_attention_forward(q: np.ndarray, k: np.ndarray, v: np.ndarray, key_mask: np.ndarray | None,
                             scale: float):
    """Attention of one new token per row (T = 1) against the KV cache; same contract and cache as
    ``attention_forward``.  Not used by the backend: on 2 cores it only ties the reference, whose
    two batched BLAS products already do this work (docs/kernels.md)."""
    dtype = np.result_type(q, k, v)
    q, k, v = (np.ascontiguousarray(a, dtype=dtype) for a in (q, k, v))
    B, H, T, Dh = q.shape
    if T != 1:
        raise ValueError(f"decode_attention_forward takes one query per row, got T = {T}")
    allowed = _allowed_keys(key_mask, B, k.shape[2])
    out = np.empty_like(q)
    logsumexp = np.empty((B, H, 1), dtype=dtype)
    decode = _decode_parallel if B * H * k.shape[2] * Dh >= PARALLEL_DECODE_WORK else _decode_serial
    decode(q, k, v, allowed, dtype.type(scale), out, logsumexp)
    return out, (q, k, v, out, logsumexp, allowed, scale)


def attention_forward(q: np.ndarray, k: np.ndarray, v: np.ndarray, key_mask: np.ndarray | None, scale: float):
    """Causal GQA attention, fused. q (B, H, T, Dh); k, v (B, Hkv, S, Dh); key_mask (B, S) or None.

    One query per row (decoding against a KV cache) goes to the reference, which was as fast
    there (docs/kernels.md); ``attention_backward`` recognises its cache.
    """
    if q.shape[2] == 1:
        return reference_attention.attention_forward(q, k, v, key_mask, scale)
    dtype = np.result_type(q, k, v)
    q = np.ascontiguousarray(q, dtype=dtype)
    k = np.ascontiguousarray(k, dtype=dtype)
    v = np.ascontiguousarray(v, dtype=dtype)
    B, H, T, Dh = q.shape
    allowed = _allowed_keys(key_mask, B, k.shape[2])
    out = np.empty_like(q)  # (B, H, T, Dh)
    logsumexp = np.empty((B, H, T), dtype=dtype)  # (B, H, T), +inf marks a row that sees no key
    with _one_blas_thread():
        _forward_kernel(q, k, v, allowed, dtype.type(scale), out, logsumexp, H // k.shape[1])
    return out, (q, k, v, out, logsumexp, allowed, scale)


def _backward_heads_per_item(batch_size: int, kv_heads: int, group: int) -> int:
    """Heads per backward work item: a whole group (dk, dv summed in the tiles, k and v read once)
    when that gives the threads equal shares, otherwise fewer heads (a divisor of the group), down
    to one, so that more items keep every thread busy."""
    threads = numba.get_num_threads()
    for heads in range(group, 0, -1):
        items = batch_size * kv_heads * (group // heads)
        if group % heads == 0 and (items % threads == 0 or items >= 4 * threads):
            return heads
    return 1


def attention_backward(dout: np.ndarray, cache):
    """Gradients of the fused attention.  Cache: (q, k, v, out, logsumexp, allowed, scale).

    Per row t: P_tj = exp(scale q_t.k_j - logsumexp_t), delta_t = dout_t . out_t,
    dS_tj = P_tj (dout_t . v_j - delta_t);  dq_t = scale sum_j dS_tj k_j,
    dk_j = scale sum_t dS_tj q_t,  dv_j = sum_t P_tj dout_t (each summed over the group's heads).
    Returns (dq (B, H, T, Dh), dk (B, Hkv, S, Dh), dv (B, Hkv, S, Dh)).
    """
    if len(cache) == REFERENCE_CACHE_LENGTH:  # made by the reference forward (T = 1)
        return reference_attention.attention_backward(dout, cache)
    q, k, v = cache[:3]
    heads_per_item = _backward_heads_per_item(q.shape[0], k.shape[1], q.shape[1] // k.shape[1])
    return backward_in_work_items(dout, cache, heads_per_item)


def backward_in_work_items(dout: np.ndarray, cache, heads_per_item: int):
    """``attention_backward`` of a fused cache with ``heads_per_item`` heads (a divisor of the group)
    in each parallel work item; ``attention_backward`` picks it, tests try every divisor."""
    q, k, v, out, logsumexp, allowed, scale = cache
    dout = np.ascontiguousarray(dout, dtype=q.dtype)
    B, H, T, Dh = q.shape
    Hkv, S = k.shape[1], k.shape[2]
    group = H // Hkv
    if group % heads_per_item:
        raise ValueError(f"heads_per_item must divide the group of {group} heads, got {heads_per_item}")
    dq = np.empty_like(q)  # every row written by the kernel
    dk_partial = np.zeros((B, H // heads_per_item, S, Dh), dtype=q.dtype)  # one slab per work item
    dv_partial = np.zeros((B, H // heads_per_item, S, Dh), dtype=q.dtype)
    with _one_blas_thread():
        _backward_kernel(q, k, v, out, dout, logsumexp, allowed, q.dtype.type(scale), heads_per_item,
                         dq, dk_partial, dv_partial)
    if heads_per_item == group:  # one slab per kv head already
        return dq, dk_partial, dv_partial
    dk = dk_partial.reshape(B, Hkv, group // heads_per_item, S, Dh).sum(axis=2)  # (B, Hkv, S, Dh)
    dv = dv_partial.reshape(B, Hkv, group // heads_per_item, S, Dh).sum(axis=2)
    return dq, dk, dv
