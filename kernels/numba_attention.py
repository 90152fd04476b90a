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

Layout (docs/kernels.md has the measurements): a work item takes the query heads that share a
kv head and stacks their queries, times the scale, as the columns of one (Dh, G * QUERY_BLOCK)
matrix, so each tile is S^T = k_tile q^T, (KEY_BLOCK keys, G * QUERY_BLOCK queries), and each k / v
tile is read once for the group.  Every product goes to BLAS (numba's gemm entry, accumulating with beta = 1) as a plain or
A^T B product; the softmax runs down the tile's columns and vectorises, with a polynomial float32
exp.  Tiles that every query sees whole (below the causal diagonal, no padding) skip the mask.
OpenBLAS is held to one thread while the kernels run (``minireason.runtime.single_threaded_blas``):
they are parallel already.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
from minireason.kernels.numba_math import HOST_VECTORS, exp_float32, larger, prefetch_range_to_l2
from minireason.kernels.numba_threads import threads_here  # (its import sets the OpenMP wait policy)
from numba.core import types

from minireason.runtime import single_threaded_blas

QUERY_BLOCK = 32  # query positions per tile; a tile stacks them for each head it serves
# Keys per tile: one online-softmax rescale of the accumulator per tile, and larger tiles make
# fewer, larger BLAS calls.  With AVX-512 (a Xeon) 64 tied or won (at Dh = 128 128-key tiles took
# 101 ms against 80); with AVX2 (a Zen 3) 256 won at every shape measured (docs/kernels.md).  Read
# at each call and passed to the kernels, so that tests run either size on any CPU.
KEY_BLOCKS = {"avx512": 64, "avx2 or less": 256}
KEY_BLOCK = KEY_BLOCKS[HOST_VECTORS]
_FAST = {"reassoc", "contract"}  # lets LLVM vectorise dot products; keeps inf/nan semantics


class FusedAttentionCache(NamedTuple):
    """What the fused forwards keep for ``attention_backward``: O(T) per head, no (T, S) matrix.
    Its own type, so that the backend gives it to this backward and the reference's tuple to the reference's."""

    q: np.ndarray  # (B, H, T, Dh)
    k: np.ndarray  # (B, Hkv, S, Dh)
    v: np.ndarray  # (B, Hkv, S, Dh)
    out: np.ndarray  # (B, H, T, Dh)
    logsumexp: np.ndarray  # (B, H, T); +inf marks a row that sees no key
    allowed: np.ndarray  # (B, S) bool: the key mask, all True for none
    scale: float



# numba's own BLAS entry (numba/_lapack.c, what np.dot calls): c = alpha op(a) op(b) + beta c in
# Fortran order, with the BLAS that numba found (scipy's).  Called by symbol name, so kernels
# that use it stay cacheable.
_xxgemm = types.ExternalFunction("numba_xxgemm", types.intc(
    types.char, types.char, types.char, types.intp, types.intp, types.intp,  # kind, transa, transb, m, n, k
    types.voidptr, types.voidptr, types.intp, types.voidptr, types.intp,  # alpha, a, lda, b, ldb
    types.voidptr, types.voidptr, types.intp))  # beta, c, ldc


@numba.njit(nogil=True, cache=True)
def _product(a, transpose_a, b, transpose_b, out, alpha, beta, coefficients):  # pragma: no cover - compiled
    """out = alpha op(a) op(b) + beta out on BLAS, op transposing where asked; beta = 1 accumulates
    with no temporary.  Row-major 2-D views with unit inner stride; ``coefficients`` is 2-entry scratch."""
    coefficients[0] = alpha
    coefficients[1] = beta
    rows, columns = out.shape
    inner = a.shape[0] if transpose_a else a.shape[1]
    kind = np.int8(115) if out.itemsize == 4 else np.int8(100)  # 's' or 'd'
    no, yes = np.int8(110), np.int8(116)  # 'n', 't'
    # row-major out = op(a) op(b) is column-major out^T = op(b)^T op(a)^T
    status = _xxgemm(kind, yes if transpose_b else no, yes if transpose_a else no, columns, rows, inner,
                     coefficients.ctypes, b.ctypes, b.strides[0] // b.itemsize,
                     a.ctypes, a.strides[0] // a.itemsize,
                     coefficients[1:].ctypes, out.ctypes, out.strides[0] // out.itemsize)
    if status != 0:
        raise RuntimeError("numba found no BLAS gemm (scipy is needed)")


@numba.njit(nogil=True, cache=True, fastmath=_FAST)
def _exp_minus(row, shifts):  # pragma: no cover - compiled
    """row[r] = exp(row[r] - shifts[r]) in place.

    float32: exp(x) = 2^n exp(r), n = round(x / ln 2), r = x - n ln 2, exp(r) by a degree-6
    polynomial (relative error below 3e-7), 2^n the float32 with exponent field n + 127; the loop
    vectorises.  Arguments at or below -88 (a -inf score or a +inf shift included) give exactly 0:
    they round to n = -127, an exponent field of 0.  float64: np.exp.
    """
    if row.itemsize == 4:  # float32 (a constant per compiled specialisation)
        for r in range(row.shape[0]):
            row[r] = exp_float32(row[r] - shifts[r])
    else:
        for r in range(row.shape[0]):
            row[r] = np.exp(row[r] - shifts[r])


@numba.njit(nogil=True, cache=True, fastmath=_FAST)
def _exp_minus_constant(row, shift):  # pragma: no cover - compiled
    """row[r] = exp(row[r] - shift) in place, by the same exp as ``_exp_minus`` (-inf gives 0);
    returns the sum of the new row (the softmax's denominator, in the same pass)."""
    total = row.dtype.type(0.0)
    if row.itemsize == 4:
        for r in range(row.shape[0]):
            value = exp_float32(row[r] - shift)
            row[r] = value
            total += value
    else:
        for r in range(row.shape[0]):
            value = np.exp(row[r] - shift)
            row[r] = value
            total += value
    return total


@numba.njit(nogil=True, cache=True, fastmath=_FAST)
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


@numba.njit(nogil=True, cache=True)
def _tile_is_visible(allowed_row, j0, j1, first_query_slot):  # pragma: no cover - compiled
    """True when every query of the tile sees every key in [j0, j1): the last key is not later
    than the first query's slot and none is padding.  Such a tile needs no mask."""
    if j1 - 1 > first_query_slot:
        return False
    for j in range(j0, j1):
        if not allowed_row[j]:
            return False
    return True


@numba.njit(nogil=True, cache=True)
def _mask_tile(scores, allowed_row, j0, first_query_slot, n_steps):  # pragma: no cover - compiled
    """scores (keys, heads * steps), key j0 + c against query step i of each head (column
    g * steps + i, at slot first_query_slot + i): -inf where the key is padding or later than the query."""
    for c in range(scores.shape[0]):
        key_scores = scores[c]
        if not allowed_row[j0 + c]:
            key_scores[:] = -np.inf
            continue
        hidden = min(max(j0 + c - first_query_slot, 0), n_steps)  # steps i < hidden come before the key
        if hidden == 0:
            continue
        for column0 in range(0, scores.shape[1], n_steps):
            key_scores[column0:column0 + hidden] = -np.inf


@numba.njit(nogil=True, cache=True)
def _balanced_block(index, n_blocks):  # pragma: no cover - compiled
    """Query block of the index-th work item: 0, n-1, 1, n-2, ... so that any run of items mixes
    short causal rows with long ones and prange's contiguous chunks get equal work."""
    return index // 2 if index % 2 == 0 else n_blocks - 1 - index // 2


@numba.njit(nogil=True, cache=True)
def _stack_columns(source, b, first_head, heads, t0, t1, multiplier, columns):  # pragma: no cover
    """Column g * steps + i of ``columns`` (Dh, heads * steps) = multiplier * source[b, first_head + g, t0 + i]:
    the queries (or upstream gradients) of a group's heads side by side."""
    n_steps = t1 - t0
    for g in range(heads):
        for i in range(n_steps):
            for d in range(source.shape[3]):
                columns[d, g * n_steps + i] = multiplier * source[b, first_head + g, t0 + i, d]


@numba.njit(nogil=True, cache=True)
def _stack_rows(source, b, first_head, heads, t0, t1, multiplier, rows):  # pragma: no cover - compiled
    """Row g * steps + i of ``rows`` (heads * steps, Dh) = multiplier * source[b, first_head + g, t0 + i]."""
    n_steps = t1 - t0
    for g in range(heads):
        for i in range(n_steps):
            for d in range(source.shape[3]):
                rows[g * n_steps + i, d] = multiplier * source[b, first_head + g, t0 + i, d]


@numba.njit(parallel=True, nogil=True, cache=True, fastmath=_FAST)
def _forward_kernel(q, k, v, allowed, scale, out, logsumexp, heads_per_item, key_block):  # pragma: no cover - compiled
    """One work item: one query block of ``heads_per_item`` heads that share a kv head.

    Their queries, times the scale, are stacked as the columns of one (Dh, G * steps) matrix
    (column g * steps + i: head first_head + g, query t0 + i), so each key/value tile is read once
    for all of them.  Each tile is S^T = k_tile q^T, (keys, G * steps): both tile products are
    plain or A^T B BLAS products (the faster kinds here), and the softmax runs down the columns,
    so its max, exp and sums vectorise across the queries.
    """
    B, H, T, Dh = q.shape
    S = k.shape[2]
    group = H // k.shape[1]
    offset = S - T  # query t sits at key slot offset + t
    n_blocks = (T + QUERY_BLOCK - 1) // QUERY_BLOCK
    sets_per_batch = H // heads_per_item
    max_columns = heads_per_item * QUERY_BLOCK
    for item in numba.prange(B * sets_per_batch * n_blocks):
        head_set = item // n_blocks
        b = head_set // sets_per_batch
        first_head = (head_set % sets_per_batch) * heads_per_item
        k_head, v_head = k[b, first_head // group], v[b, first_head // group]  # (S, Dh)
        t0 = _balanced_block(item % n_blocks, n_blocks) * QUERY_BLOCK
        t1 = min(T, t0 + QUERY_BLOCK)
        n_steps = t1 - t0
        n_columns = heads_per_item * n_steps
        query_columns = np.empty((Dh, n_columns), dtype=q.dtype)  # (Dh, G * steps), times the scale
        _stack_columns(q, b, first_head, heads_per_item, t0, t1, scale, query_columns)
        coefficients = np.empty(2, dtype=q.dtype)
        score_buffer = np.empty(key_block * max_columns, dtype=q.dtype)
        accumulator = np.zeros((n_columns, Dh), dtype=q.dtype)
        running_max = np.full(n_columns, -np.inf, dtype=q.dtype)
        running_sum = np.zeros(n_columns, dtype=q.dtype)
        tile_max = np.empty(n_columns, dtype=q.dtype)
        shifts = np.empty(n_columns, dtype=q.dtype)
        corrections = np.empty(n_columns, dtype=q.dtype)
        last_key = min(offset + t1 - 1, S - 1)  # causal: no later key is seen by this block
        for j0 in range(0, last_key + 1, key_block):
            j1 = min(last_key + 1, j0 + key_block)
            n_keys = j1 - j0
            scores = score_buffer[:n_keys * n_columns].reshape((n_keys, n_columns))  # (keys, G * steps)
            _product(k_head[j0:j1], False, query_columns, False, scores, 1.0, 0.0, coefficients)
            if not _tile_is_visible(allowed[b], j0, j1, offset + t0):
                _mask_tile(scores, allowed[b], j0, offset + t0, n_steps)
            tile_max[:] = -np.inf
            for c in range(n_keys):
                for r in range(n_columns):
                    tile_max[r] = larger(tile_max[r], scores[c, r])  # vectorises; max() kept it scalar
            for r in range(n_columns):
                new_max = max(running_max[r], tile_max[r])
                if new_max == -np.inf:  # no key seen yet: the tile column contributes nothing
                    shifts[r] = np.inf  # exp(score - inf) = 0
                    corrections[r] = 1.0
                else:
                    shifts[r] = new_max
                    corrections[r] = np.exp(running_max[r] - new_max)  # 0 on the first seen block
                running_max[r] = new_max
                running_sum[r] *= corrections[r]
            for c in range(n_keys):
                _exp_minus(scores[c], shifts)  # now unnormalised probabilities
                for r in range(n_columns):
                    running_sum[r] += scores[c, r]
            # loops here and below, not array expressions: for those numba compiles a broadcasting
            # error's message, seconds of a first run (docs/kernels.md, "Compilation is cached")
            for r in range(n_columns):
                if corrections[r] != 1.0:
                    for d in range(Dh):
                        accumulator[r, d] *= corrections[r]
            _product(scores, True, v_head[j0:j1], False, accumulator, 1.0, 1.0, coefficients)  # += P v
        for r in range(n_columns):
            h, t = first_head + r // n_steps, t0 + r % n_steps
            if running_sum[r] == 0.0:  # saw no key (a NaN sum is not this case: it stays NaN, as the reference's)
                _uniform_average(v_head, out[b, h, t])
                logsumexp[b, h, t] = np.inf
            else:
                for d in range(Dh):
                    out[b, h, t, d] = accumulator[r, d] / running_sum[r]
                logsumexp[b, h, t] = running_max[r] + np.log(running_sum[r])


@numba.njit(parallel=True, nogil=True, cache=True, fastmath=_FAST)
def _backward_kernel(q, k, v, out, dout, logsumexp, allowed, scale, heads_per_item, key_block,
                     dq, dk_partial, dv_partial):  # pragma: no cover - compiled
    """One work item: ``heads_per_item`` heads that share a kv head, all their query blocks.

    Queries are stacked as in the forward, tiles are transposed, (keys, G * steps), and the
    queries carry the scale, so the tile's dS' = P (dP - delta) gives dk = dS'^T (scale q) directly
    and dq = scale dS' k.  The item owns its heads' dq rows and one (S, Dh) slab of
    dk_partial / dv_partial (B, H / heads_per_item, S, Dh), summed over each group afterwards.
    """
    B, H, T, Dh = q.shape
    S = k.shape[2]
    group = H // k.shape[1]
    offset = S - T
    sets_per_batch = H // heads_per_item
    max_columns = heads_per_item * QUERY_BLOCK
    for head_set in numba.prange(B * sets_per_batch):
        b = head_set // sets_per_batch
        first_head = (head_set % sets_per_batch) * heads_per_item
        k_head, v_head = k[b, first_head // group], v[b, first_head // group]  # (S, Dh)
        dk_slab, dv_slab = dk_partial[b, head_set % sets_per_batch], dv_partial[b, head_set % sets_per_batch]
        query_row_buffer = np.empty(max_columns * Dh, dtype=q.dtype)
        query_column_buffer = np.empty(max_columns * Dh, dtype=q.dtype)
        dout_row_buffer = np.empty(max_columns * Dh, dtype=q.dtype)
        dout_column_buffer = np.empty(max_columns * Dh, dtype=q.dtype)
        dq_row_buffer = np.empty(max_columns * Dh, dtype=q.dtype)
        probs_buffer = np.empty(key_block * max_columns, dtype=q.dtype)
        dscores_buffer = np.empty(key_block * max_columns, dtype=q.dtype)
        lse_columns = np.empty(max_columns, dtype=q.dtype)
        delta_columns = np.empty(max_columns, dtype=q.dtype)
        coefficients = np.empty(2, dtype=q.dtype)
        for t0 in range(0, T, QUERY_BLOCK):
            t1 = min(T, t0 + QUERY_BLOCK)
            n_steps = t1 - t0
            n_columns = heads_per_item * n_steps
            query_rows = query_row_buffer[:n_columns * Dh].reshape((n_columns, Dh))  # scale q, stacked
            query_columns = query_column_buffer[:n_columns * Dh].reshape((Dh, n_columns))  # its transpose
            dout_rows = dout_row_buffer[:n_columns * Dh].reshape((n_columns, Dh))
            dout_columns = dout_column_buffer[:n_columns * Dh].reshape((Dh, n_columns))
            dq_rows = dq_row_buffer[:n_columns * Dh].reshape((n_columns, Dh))  # dS' k, summed over key tiles
            _stack_rows(q, b, first_head, heads_per_item, t0, t1, scale, query_rows)
            _stack_columns(q, b, first_head, heads_per_item, t0, t1, scale, query_columns)
            _stack_rows(dout, b, first_head, heads_per_item, t0, t1, 1.0, dout_rows)
            _stack_columns(dout, b, first_head, heads_per_item, t0, t1, 1.0, dout_columns)
            for r in range(n_columns):  # delta_t = dout_t . out_t = sum_j P_tj dP_tj
                h, t = first_head + r // n_steps, t0 + r % n_steps
                lse_columns[r] = logsumexp[b, h, t]
                total = 0.0
                for d in range(Dh):
                    total += dout_rows[r, d] * out[b, h, t, d]
                delta_columns[r] = total
            dq_rows[:] = 0.0
            last_key = min(offset + t1 - 1, S - 1)
            for j0 in range(0, last_key + 1, key_block):
                j1 = min(last_key + 1, j0 + key_block)
                n_keys = j1 - j0
                probs = probs_buffer[:n_keys * n_columns].reshape((n_keys, n_columns))  # S^T, then P^T in place
                dscores = dscores_buffer[:n_keys * n_columns].reshape((n_keys, n_columns))  # dP^T, then dS'^T
                _product(k_head[j0:j1], False, query_columns, False, probs, 1.0, 0.0, coefficients)
                if not _tile_is_visible(allowed[b], j0, j1, offset + t0):
                    _mask_tile(probs, allowed[b], j0, offset + t0, n_steps)
                for c in range(n_keys):  # a column with logsumexp +inf (it saw no key) gets P = 0 here
                    _exp_minus(probs[c], lse_columns)
                _product(probs, False, dout_rows, False, dv_slab[j0:j1], 1.0, 1.0, coefficients)  # dv += P^T dout
                _product(v_head[j0:j1], False, dout_columns, False, dscores, 1.0, 0.0, coefficients)
                for c in range(n_keys):
                    for r in range(n_columns):
                        dscores[c, r] = probs[c, r] * (dscores[c, r] - delta_columns[r])
                _product(dscores, True, k_head[j0:j1], False, dq_rows, 1.0, 1.0, coefficients)  # dq += dS' k
                _product(dscores, False, query_rows, False, dk_slab[j0:j1], 1.0, 1.0, coefficients)  # dk += dS'^T q
            for r in range(n_columns):
                row = dq[b, first_head + r // n_steps, t0 + r % n_steps]
                for d in range(Dh):
                    row[d] = scale * dq_rows[r, d]
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


# Each decode item reads its own runs of keys and values (n_keys rows of a longer buffer) and
# computes between its reads, so the hardware prefetchers, which follow the reads they see and
# restart at every gap and page, fall behind.  So each block of four keys (and of four values)
# asks for the four rows PREFETCH_KEYS_AHEAD on, into L2, running on into the next item's rows
# at the end of the run (docs/kernels.md, "Decode attention", has the measurements).
PREFETCH_KEYS_AHEAD = 32


@numba.njit(nogil=True, cache=True, inline="always")
def _prefetch_four_rows_ahead(buffer, item, j, n_keys):  # pragma: no cover - compiled
    """Prefetch into L2 rows j + PREFETCH_KEYS_AHEAD to j + PREFETCH_KEYS_AHEAD + 3 of work item
    ``item``'s first ``n_keys`` rows of ``buffer`` (B, Hkv, L, Dh), counting on into the next
    item's rows past the end; nothing past the last item."""
    Hkv = buffer.shape[1]
    target = j + PREFETCH_KEYS_AHEAD
    if target >= n_keys:
        target -= n_keys
        item += 1
        if item >= buffer.shape[0] * Hkv or target >= n_keys:
            return
    rows = buffer[item // Hkv, item % Hkv]  # (L, Dh); rows past its end are a hint too (a prefetch never faults)
    row_bytes = rows.shape[1] * rows.itemsize
    prefetch_range_to_l2(rows.ctypes.data + target * row_bytes, 4 * row_bytes, 0, 1)


def _decode_body(q, k, v, n_keys, allowed, scale, out, logsumexp, scores, queries, sums, item):  # pragma: no cover - compiled
    """The new query rows of the G heads that share kv head ``item % Hkv`` of batch row
    ``item // Hkv``: q, out (B, H, Dh) (T = 1 dropped), logsumexp (B, H), against the first
    ``n_keys`` slots of k, v (B, Hkv, L >= n_keys, Dh).  Each key and value row is read once for
    the whole group.  Passes: the scores with the mask and each head's running maximum (dot
    products over Dh, four keys at a time, the scaled queries copied to a contiguous scratch
    first), the exp with its sum and the normalisation (vectorised over the keys), the weighted
    values (four value rows at a time); no BLAS call, so nothing here wakes BLAS's threads.
    Scratch, allocated once per thread (not per item), each C-contiguous so that its loops
    vectorise: ``scores`` (G, n_keys), ``queries`` and ``sums`` (G, Dh).  (Every view below is a leading-axis index of a
    C-contiguous array, which Numba compiles to unit-stride SIMD loops; a middle-axis slice would not be.)"""
    H, Dh = q.shape[1], q.shape[2]
    Hkv = k.shape[1]
    group = H // Hkv
    b, hk = item // Hkv, item % Hkv
    first_head = hk * group
    keys, values = k[b, hk], v[b, hk]  # (L, Dh) each
    allowed_row = allowed[b]
    for g in range(group):
        for d in range(Dh):
            queries[g, d] = q[b, first_head + g, d] * scale
    # The single query sits at the last slot: every allowed key is causal.  Four keys per pass
    # over Dh (four running sums, each query element loaded once for them): a lone dot product
    # of Dh = 32 to 128 leaves LLVM's vector loop (16 lanes, 4 sums) empty and runs its remainder.
    # The same pass applies the mask and keeps each head's running maximum in its logsumexp slot.
    minus_inf = q.dtype.type(-np.inf)
    for g in range(group):
        logsumexp[b, first_head + g] = minus_inf
    j = 0
    while j + 4 <= n_keys:
        _prefetch_four_rows_ahead(k, item, j, n_keys)
        for g in range(group):
            s0 = s1 = s2 = s3 = q.dtype.type(0.0)
            for d in range(Dh):
                query = queries[g, d]
                s0 += query * keys[j, d]
                s1 += query * keys[j + 1, d]
                s2 += query * keys[j + 2, d]
                s3 += query * keys[j + 3, d]
            s0 = s0 if allowed_row[j] else minus_inf
            s1 = s1 if allowed_row[j + 1] else minus_inf
            s2 = s2 if allowed_row[j + 2] else minus_inf
            s3 = s3 if allowed_row[j + 3] else minus_inf
            scores[g, j], scores[g, j + 1], scores[g, j + 2], scores[g, j + 3] = s0, s1, s2, s3
            logsumexp[b, first_head + g] = max(logsumexp[b, first_head + g], max(max(s0, s1), max(s2, s3)))
        j += 4
    while j < n_keys:
        for g in range(group):
            total = q.dtype.type(0.0)
            for d in range(Dh):
                total += queries[g, d] * keys[j, d]
            total = total if allowed_row[j] else minus_inf
            scores[g, j] = total
            logsumexp[b, first_head + g] = max(logsumexp[b, first_head + g], total)
        j += 1
    for g in range(group):
        row_max = logsumexp[b, first_head + g]
        if row_max == -np.inf:  # a padding row that sees no key: the reference's answer, the mean of all values
            logsumexp[b, first_head + g] = np.inf
            _uniform_average(values[:n_keys], out[b, first_head + g])
            for j in range(n_keys):
                scores[g, j] = 0.0  # adds nothing to the sums below
            continue
        probabilities = scores[g]
        row_sum = _exp_minus_constant(probabilities, row_max)  # exactly 0 where not allowed
        logsumexp[b, first_head + g] = row_max + np.log(row_sum)
        inverse = 1.0 / row_sum
        for j in range(n_keys):
            probabilities[j] *= inverse
    sums[:] = 0.0
    j = 0
    while j + 4 <= n_keys:  # four value rows per update of the sums: a quarter of the sums' loads and stores
        _prefetch_four_rows_ahead(v, item, j, n_keys)
        for g in range(group):
            w0, w1, w2, w3 = scores[g, j], scores[g, j + 1], scores[g, j + 2], scores[g, j + 3]
            for d in range(Dh):
                sums[g, d] += w0 * values[j, d] + w1 * values[j + 1, d] + w2 * values[j + 2, d] + w3 * values[j + 3, d]
        j += 4
    while j < n_keys:
        for g in range(group):
            weight = scores[g, j]
            for d in range(Dh):
                sums[g, d] += weight * values[j, d]
        j += 1
    for g in range(group):
        if logsumexp[b, first_head + g] != np.inf:
            for d in range(Dh):
                out[b, first_head + g, d] = sums[g, d]


_decode_group = numba.njit(nogil=True, cache=True, fastmath=_FAST)(_decode_body)


@numba.njit(nogil=True, cache=True, fastmath=_FAST)
def _decode_serial(q, k, v, n_keys, allowed, scale, out, logsumexp):  # pragma: no cover - compiled
    group, Dh = q.shape[1] // k.shape[1], q.shape[2]
    scores = np.empty((group, n_keys), dtype=q.dtype)  # (G, n_keys)
    queries, sums = np.empty((group, Dh), dtype=q.dtype), np.empty((group, Dh), dtype=q.dtype)  # (G, Dh)
    for item in range(q.shape[0] * k.shape[1]):
        _decode_group(q, k, v, n_keys, allowed, scale, out, logsumexp, scores, queries, sums, item)


@numba.njit(parallel=True, nogil=True, cache=True, fastmath=_FAST)
def _decode_parallel(q, k, v, n_keys, allowed, scale, out, logsumexp, n_chunks):  # pragma: no cover - compiled
    n_items = q.shape[0] * k.shape[1]
    group, Dh = q.shape[1] // k.shape[1], q.shape[2]
    for chunk in numba.prange(n_chunks):  # one scratch per chunk of items
        scores = np.empty((group, n_keys), dtype=q.dtype)  # (G, n_keys)
        queries, sums = np.empty((group, Dh), dtype=q.dtype), np.empty((group, Dh), dtype=q.dtype)  # (G, Dh)
        for item in range(chunk * n_items // n_chunks, (chunk + 1) * n_items // n_chunks):
            _decode_group(q, k, v, n_keys, allowed, scale, out, logsumexp, scores, queries, sums, item)


# below this many multiply-adds a thread hand-off costs more than it saves (test-small at 64 rows
# splits from 16 keys on; docs/kernels.md, "Threads")
PARALLEL_DECODE_WORK = 1 << 17


def decode_runs_in_parallel(q: np.ndarray, k: np.ndarray) -> bool:
    """Whether ``decode_attention_forward`` splits its items over numba's threads: q (B, H, 1, Dh)
    against the keys k (B, Hkv, S, Dh) are at least PARALLEL_DECODE_WORK multiply-adds, and there
    is more than one thread (on one, no hand-off)."""
    B, H, _, Dh = q.shape
    return B * H * k.shape[2] * Dh >= PARALLEL_DECODE_WORK and threads_here() > 1


def _allowed_keys(key_mask, batch_size: int, key_length: int) -> np.ndarray:
    if key_mask is None:
        return np.ones((batch_size, key_length), dtype=np.bool_)
    return np.ascontiguousarray(key_mask, dtype=np.bool_)


@numba.njit(nogil=True, cache=True)
def _same_start(a, b):  # pragma: no cover - compiled
    """Whether arrays a and b start at the same address.  Compiled because two ``.ctypes.data``
    lookups in Python cost several times the call, and decoding asks it twice a layer a step
    (docs/kernels.md, "Decode attention")."""
    return a.ctypes.data == b.ctypes.data


def _whole_buffer(keys: np.ndarray) -> np.ndarray:
    """keys (B, Hkv, S, Dh) as a C-contiguous (B, Hkv, L, Dh) array whose first S slots they are.

    A KV cache hands attention the slots filled so far, a view ``buffer[:, :, :S]`` of its
    contiguous (B, Hkv, max_len, Dh) buffer.  Numba compiles a loop over such a strided view
    without SIMD, and copying it reads and writes the whole cache at every
    step; so the kernel takes the buffer and S instead.  Any other non-contiguous input is copied.
    """
    if keys.flags.c_contiguous:
        return keys
    buffer = keys.base
    if (isinstance(buffer, np.ndarray) and buffer.flags.c_contiguous and buffer.dtype == keys.dtype
            and buffer.ndim == 4 and buffer.strides == keys.strides and buffer.shape[:2] == keys.shape[:2]
            and buffer.shape[3] == keys.shape[3]
            and buffer.shape[2] >= keys.shape[2] and _same_start(buffer, keys)):
        return buffer  # same start, same strides, as long or longer: keys is buffer[:, :, :S]
    return np.ascontiguousarray(keys)


def decode_attention_forward(q: np.ndarray, k: np.ndarray, v: np.ndarray, key_mask: np.ndarray | None,
                             scale: float):
    """Attention of one new token per row (T = 1) against the KV cache; same contract and cache as
    ``attention_forward`` (whose backward therefore takes its cache).  The numba backend's
    attention for every decoding step: one pass over each row's keys, no batched small products."""
    dtype = np.result_type(q, k, v)
    q = np.ascontiguousarray(q, dtype=dtype)
    k, v = k.astype(dtype, copy=False), v.astype(dtype, copy=False)
    B, H, T, Dh = q.shape
    if T != 1:
        raise ValueError(f"decode_attention_forward takes one query per row, got T = {T}")
    n_keys = k.shape[2]
    allowed = _allowed_keys(key_mask, B, n_keys)  # (B, S)
    out = np.empty_like(q)  # (B, H, 1, Dh)
    logsumexp = np.empty((B, H, 1), dtype=dtype)  # (B, H, 1), +inf marks a row that sees no key
    arguments = (q.reshape(B, H, Dh), _whole_buffer(k), _whole_buffer(v), n_keys, allowed, dtype.type(scale),
                 out.reshape(B, H, Dh), logsumexp.reshape(B, H))
    if decode_runs_in_parallel(q, k):
        _decode_parallel(*arguments, min(B * k.shape[1], threads_here()))
    else:
        _decode_serial(*arguments)
    return out, FusedAttentionCache(q, k, v, out, logsumexp, allowed, scale)


def attention_forward(q: np.ndarray, k: np.ndarray, v: np.ndarray, key_mask: np.ndarray | None, scale: float):
    """Causal GQA attention, fused. q (B, H, T, Dh); k, v (B, Hkv, S, Dh); key_mask (B, S) or None."""
    dtype = np.result_type(q, k, v)
    q = np.ascontiguousarray(q, dtype=dtype)
    k = np.ascontiguousarray(k, dtype=dtype)
    v = np.ascontiguousarray(v, dtype=dtype)
    B, H, T, Dh = q.shape
    allowed = _allowed_keys(key_mask, B, k.shape[2])
    out = np.empty_like(q)  # (B, H, T, Dh)
    logsumexp = np.empty((B, H, T), dtype=dtype)  # (B, H, T), +inf marks a row that sees no key
    with single_threaded_blas():
        _forward_kernel(q, k, v, allowed, dtype.type(scale), out, logsumexp, H // k.shape[1], KEY_BLOCK)
    return out, FusedAttentionCache(q, k, v, out, logsumexp, allowed, scale)


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
    """Gradients of the fused attention, from a ``FusedAttentionCache``.

    Per row t: P_tj = exp(scale q_t.k_j - logsumexp_t), delta_t = dout_t . out_t,
    dS_tj = P_tj (dout_t . v_j - delta_t);  dq_t = scale sum_j dS_tj k_j,
    dk_j = scale sum_t dS_tj q_t,  dv_j = sum_t P_tj dout_t (each summed over the group's heads).
    Returns (dq (B, H, T, Dh), dk (B, Hkv, S, Dh), dv (B, Hkv, S, Dh)).
    """
    if not isinstance(cache, FusedAttentionCache):
        raise TypeError(f"the fused attention backward takes a FusedAttentionCache, got {type(cache).__name__}")
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
    with single_threaded_blas():
        _backward_kernel(q, k, v, out, dout, logsumexp, allowed, q.dtype.type(scale), heads_per_item, KEY_BLOCK,
                         dq, dk_partial, dv_partial)
    if heads_per_item == group:  # one slab per kv head already
        return dq, dk_partial, dv_partial
    dk = dk_partial.reshape(B, Hkv, group // heads_per_item, S, Dh).sum(axis=2)  # (B, Hkv, S, Dh)
    dv = dv_partial.reshape(B, Hkv, group // heads_per_item, S, Dh).sum(axis=2)
    return dq, dk, dv
