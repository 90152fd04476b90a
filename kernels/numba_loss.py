"""Fused, chunked log-softmax + masked token cross-entropy in Numba, forward and backward.

The reference (``minireason.nn.loss``) builds the (B, T, V) log-probabilities, keeps them in its
cache, and makes three more (B, T, V) temporaries on the way (shifted logits, their exp, and in
the backward the probabilities).  With V = 151936 (Qwen3) and 1024 tokens that is 620 MB each.
Here one row of logits is read in chunks of ``CHUNK`` vocabulary entries, with the online
logsumexp of docs/kernels.md (the same rescaling as attention's online softmax):

    m <- max(m, max_chunk z)        l <- l * exp(m_old - m) + sum_chunk exp(z - m)

and only the row's logsumexp ``L = m + log l`` is kept: O(B T) memory instead of O(B T V).
The backward writes ``dlogits = w (exp(z - L) - onehot(target))`` chunk by chunk, with the
row weight ``w = dloss * mask / N``; it is the only (B, T, V) array either pass makes.

Speed: NumPy's ``exp`` is SIMD and Numba's scalar ``np.exp`` is not (no SVML), about 7x slower
on this machine.  float32 rows therefore use ``numba_math.exp_float32`` (a Cody-Waite range
reduction and a degree-6 polynomial, relative error below 3e-7) whose loop LLVM vectorises.
float64 rows use ``np.exp``.
"""

from __future__ import annotations

import minireason.kernels.numba_threads  # noqa: F401  (sets passive OpenMP waiting first)
import numba
import numpy as np
from minireason.kernels.numba_math import exp_float32

CHUNK = 2048  # vocabulary entries per chunk: two scratch chunks stay in L1/L2 per thread


@numba.njit(cache=True, fastmath={"reassoc", "contract"})
def _exp_chunk(source, start, stop, shift, out):  # pragma: no cover - compiled
    """out[:stop - start] = exp(source[start:stop] - shift), in source's dtype."""
    if source.itemsize == 4:  # float32 (a constant per compiled specialisation)
        shift_float32 = np.float32(shift)
        for i in range(stop - start):
            out[i] = exp_float32(source[start + i] - shift_float32)
    else:
        for i in range(stop - start):
            out[i] = np.exp(source[start + i] - shift)


@numba.njit(parallel=True, cache=True, fastmath={"reassoc", "contract"})
def _logsumexp_rows(logits, logsumexp):  # pragma: no cover - compiled
    n_rows, vocab = logits.shape
    for row in numba.prange(n_rows):
        values = logits[row]
        exps = np.empty(CHUNK, dtype=logits.dtype)
        running_max = -np.inf
        running_sum = 0.0
        for start in range(0, vocab, CHUNK):
            stop = min(start + CHUNK, vocab)
            chunk_max = values[start]
            for i in range(start + 1, stop):
                chunk_max = max(chunk_max, values[i])
            if chunk_max > running_max:  # rescale what was summed relative to the old maximum
                running_sum *= np.exp(running_max - chunk_max)
                running_max = chunk_max
            _exp_chunk(values, start, stop, running_max, exps)
            chunk_sum = 0.0
            for i in range(stop - start):
                chunk_sum += exps[i]
            running_sum += chunk_sum
        logsumexp[row] = running_max + np.log(running_sum)


@numba.njit(parallel=True, cache=True, fastmath={"reassoc", "contract"})
def _cross_entropy_backward_rows(logits, logsumexp, targets, row_weights, dlogits):  # pragma: no cover
    n_rows, vocab = logits.shape
    for row in numba.prange(n_rows):
        weight = row_weights[row]
        out = dlogits[row]
        if weight == 0:  # a position outside the loss mask: no gradient
            out[:] = 0
            continue
        values = logits[row]
        shift = logsumexp[row]
        for start in range(0, vocab, CHUNK):
            stop = min(start + CHUNK, vocab)
            probabilities = out[start:stop]
            _exp_chunk(values, start, stop, shift, probabilities)  # softmax, in place
            for i in range(stop - start):
                probabilities[i] *= weight
        out[targets[row]] -= weight


def cross_entropy_forward(logits: np.ndarray, targets: np.ndarray, loss_mask: np.ndarray | None = None):
    """The reference's contract (mean of -log p(target) over masked positions; empty mask -> 0).

    logits (B, T, V), targets (B, T), loss_mask (B, T) bool or None.  Returns (loss, cache) with
    cache (logits, logsumexp (B*T,), targets (B*T,), mask (B*T,), N): no (B, T, V) array of its own.
    """
    if loss_mask is None:
        loss_mask = np.ones(targets.shape, dtype=bool)
    loss_mask = np.asarray(loss_mask).astype(bool).reshape(-1)
    vocab = logits.shape[-1]
    rows = np.ascontiguousarray(logits).reshape(-1, vocab)  # (B*T, V), a view of the model's logits
    safe_targets = np.where(loss_mask, np.asarray(targets).reshape(-1), 0).astype(np.int64)  # (B*T,)
    logsumexp = np.empty(rows.shape[0], dtype=rows.dtype)
    _logsumexp_rows(rows, logsumexp)
    target_log_probs = rows[np.arange(rows.shape[0]), safe_targets] - logsumexp  # (B*T,)
    n_tokens = max(int(loss_mask.sum()), 1)
    loss = -float(np.sum(np.where(loss_mask, target_log_probs, 0.0))) / n_tokens
    return loss, (logits, logsumexp, safe_targets, loss_mask, n_tokens)


def cross_entropy_backward(dloss: float, cache) -> np.ndarray:
    """dlogits[b, t] = dloss * mask[b, t] / N * (softmax(logits[b, t]) - onehot(target)), as the reference."""
    logits, logsumexp, targets, loss_mask, n_tokens = cache
    vocab = logits.shape[-1]
    rows = np.ascontiguousarray(logits).reshape(-1, vocab)
    row_weights = (loss_mask * (dloss / n_tokens)).astype(rows.dtype)  # (B*T,)
    dlogits = np.empty_like(rows)
    _cross_entropy_backward_rows(rows, logsumexp, targets, row_weights, dlogits)
    return dlogits.reshape(logits.shape)
