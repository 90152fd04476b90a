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

import minireason.kernels.numba_threads  # noqa: F401  (sets passive OpenMP waiting first)
import numba
import numpy as np

from minireason.nn import attention as reference_attention

QUERY_BLOCK = 64  # query rows per tile
KEY_BLOCK = 64  # keys per tile: one online-softmax rescale of the accumulator per tile
REFERENCE_CACHE_LENGTH = 5  # (q grouped, k, v, probabilities, scale)
_FAST = {"reassoc", "contract"}  # lets LLVM vectorise dot products; keeps inf/nan semantics


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


@numba.njit(parallel=True, cache=True, fastmath=_FAST)
def _forward_kernel(q, k, v, allowed, scale, out, logsumexp):  # pragma: no cover - compiled
    B, H, T, Dh = q.shape
    Hkv, S = k.shape[1], k.shape[2]
    group = H // Hkv
    offset = S - T  # query t sits at key slot offset + t
    for batch_head in numba.prange(B * H):
        b = batch_head // H
        h = batch_head % H
        q_head, k_head, v_head = q[b, h], k[b, h // group], v[b, h // group]  # (T, Dh), (S, Dh), (S, Dh)
        for t0 in range(0, T, QUERY_BLOCK):
            t1 = min(T, t0 + QUERY_BLOCK)
            n_rows = t1 - t0
            row_max = np.full(n_rows, -np.inf, dtype=q.dtype)
            row_sum = np.zeros(n_rows, dtype=q.dtype)
            accumulator = np.zeros((n_rows, Dh), dtype=q.dtype)
            last_key = min(offset + t1 - 1, S - 1)  # causal: no later key is seen by this block
            for j0 in range(0, last_key + 1, KEY_BLOCK):
                j1 = min(last_key + 1, j0 + KEY_BLOCK)
                scores = np.dot(q_head[t0:t1], k_head[j0:j1].T)  # (rows, keys) tile, on BLAS
                for r in range(n_rows):
                    limit = offset + t0 + r
                    block_max = -np.inf
                    for c in range(j1 - j0):
                        if j0 + c <= limit and allowed[b, j0 + c]:
                            scores[r, c] *= scale
                            block_max = max(block_max, scores[r, c])
                        else:
                            scores[r, c] = -np.inf
                    new_max = max(row_max[r], block_max)
                    if new_max == -np.inf:  # no key seen yet: the tile row contributes nothing
                        scores[r, :] = 0.0
                        continue
                    correction = np.exp(row_max[r] - new_max)  # 0 on the first seen block
                    row_sum[r] *= correction
                    accumulator[r, :] *= correction
                    for c in range(j1 - j0):
                        p = np.exp(scores[r, c] - new_max)
                        scores[r, c] = p
                        row_sum[r] += p
                    row_max[r] = new_max
                accumulator += np.dot(scores, v_head[j0:j1])  # (rows, Dh)
            for r in range(n_rows):
                if row_sum[r] > 0.0:
                    out[b, h, t0 + r] = accumulator[r] / row_sum[r]
                    logsumexp[b, h, t0 + r] = row_max[r] + np.log(row_sum[r])
                else:
                    _uniform_average(v_head, out[b, h, t0 + r])
                    logsumexp[b, h, t0 + r] = np.inf


@numba.njit(parallel=True, cache=True, fastmath=_FAST)
def _backward_kernel(q, k, v, out, dout, logsumexp, allowed, scale, dq, dk_per_head, dv_per_head):  # pragma: no cover
    B, H, T, Dh = q.shape
    Hkv, S = k.shape[1], k.shape[2]
    group = H // Hkv
    offset = S - T
    for batch_head in numba.prange(B * H):
        b = batch_head // H
        h = batch_head % H
        q_head, k_head, v_head = q[b, h], k[b, h // group], v[b, h // group]
        dout_head, dq_head = dout[b, h], dq[b, h]  # (T, Dh)
        dk_head, dv_head = dk_per_head[b, h], dv_per_head[b, h]  # (S, Dh)
        lse_head = logsumexp[b, h]
        delta = np.sum(dout_head * out[b, h], axis=1)  # (T,) delta_t = dout_t . out_t = sum_j P_tj dP_tj
        for j0 in range(0, S, KEY_BLOCK):
            j1 = min(S, j0 + KEY_BLOCK)
            first_query = max(0, j0 - offset)  # earlier queries see none of these keys
            for t0 in range(first_query, T, QUERY_BLOCK):
                t1 = min(T, t0 + QUERY_BLOCK)
                probs = np.dot(q_head[t0:t1], k_head[j0:j1].T)  # (rows, keys): scores, then P in place
                for r in range(t1 - t0):
                    limit = offset + t0 + r
                    lse = lse_head[t0 + r]
                    for c in range(j1 - j0):
                        if lse != np.inf and j0 + c <= limit and allowed[b, j0 + c]:
                            probs[r, c] = np.exp(probs[r, c] * scale - lse)
                        else:
                            probs[r, c] = 0.0  # unseen key, or a uniform row (done below)
                dv_head[j0:j1] += np.dot(probs.T, dout_head[t0:t1])
                dscores = np.dot(dout_head[t0:t1], v_head[j0:j1].T)  # dP, then dS in place
                for r in range(t1 - t0):
                    for c in range(j1 - j0):
                        dscores[r, c] = probs[r, c] * (dscores[r, c] - delta[t0 + r]) * scale
                dq_head[t0:t1] += np.dot(dscores, k_head[j0:j1])
                dk_head[j0:j1] += np.dot(dscores.T, q_head[t0:t1])
        for t in range(T):  # rows that saw no key: the reference's uniform P = 1/S over all slots
            if lse_head[t] != np.inf:
                continue
            for j in range(S):
                p = 1.0 / S
                dp = np.sum(dout_head[t] * v_head[j])
                dscore = p * (dp - delta[t]) * scale
                dv_head[j] += p * dout_head[t]
                dq_head[t] += dscore * k_head[j]
                dk_head[j] += dscore * q_head[t]


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
    _forward_kernel(q, k, v, allowed, dtype.type(scale), out, logsumexp)
    return out, (q, k, v, out, logsumexp, allowed, scale)


def attention_backward(dout: np.ndarray, cache):
    """Gradients of the fused attention.  Cache: (q, k, v, out, logsumexp, allowed, scale).

    Per row t: P_tj = exp(scale q_t.k_j - logsumexp_t), delta_t = dout_t . out_t,
    dS_tj = P_tj (dout_t . v_j - delta_t);  dq_t = scale sum_j dS_tj k_j,
    dk_j = scale sum_t dS_tj q_t,  dv_j = sum_t P_tj dout_t (each summed over the group's heads).
    Returns (dq (B, H, T, Dh), dk (B, Hkv, S, Dh), dv (B, Hkv, S, Dh)).
    """
    if len(cache) == REFERENCE_CACHE_LENGTH:  # made by the reference forward (T = 1)
        return reference_attention.attention_backward(dout, cache)
    q, k, v, out, logsumexp, allowed, scale = cache
    dout = np.ascontiguousarray(dout, dtype=q.dtype)
    B, H, T, Dh = q.shape
    Hkv, S = k.shape[1], k.shape[2]
    dq = np.zeros_like(q)
    dk_per_head = np.zeros((B, H, S, Dh), dtype=q.dtype)  # summed over each group's heads below
    dv_per_head = np.zeros((B, H, S, Dh), dtype=q.dtype)
    _backward_kernel(q, k, v, out, dout, logsumexp, allowed, q.dtype.type(scale), dq, dk_per_head, dv_per_head)
    group = H // Hkv
    dk = dk_per_head.reshape(B, Hkv, group, S, Dh).sum(axis=2)
    dv = dv_per_head.reshape(B, Hkv, group, S, Dh).sum(axis=2)
    return dq, dk, dv
