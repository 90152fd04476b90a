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
on this machine.  float32 rows therefore use ``_exp_float32``, a Cody-Waite range reduction and
a degree-6 polynomial (relative error below 3e-7, i.e. about 2 float32 ulp) whose loop LLVM
vectorises; 2^n is assembled from its exponent bits in an int32 scratch chunk.  float64 rows use
``np.exp``.
"""

from __future__ import annotations

import minireason.kernels.numba_threads  # noqa: F401  (sets passive OpenMP waiting first)
import numba
import numpy as np

CHUNK = 2048  # vocabulary entries per chunk: two scratch chunks stay in L1/L2 per thread

_F = np.float32
_LOG2E = _F(1.4426950408889634)
_LN2_HIGH = _F(0.693359375)  # ln 2 split in two so that n * ln2_high is exact in float32
_LN2_LOW = _F(-2.12194440e-4)
_EXP_FLOOR = _F(-87.0)  # exp(-87) ~ 1.6e-38, the smallest normal float32 is 1.2e-38


@numba.njit(cache=True, fastmath=True, error_model="numpy")
def _exp_float32(source, start, stop, shift, out, exponent_bits):  # pragma: no cover - compiled
    """out[:stop - start] = exp(source[start:stop] - shift) for float32; arguments <= 0 expected.

    exp(v) = 2^n exp(r) with n = round(v / ln 2), r = v - n ln 2 in [-ln2/2, ln2/2]; exp(r) by a
    polynomial; 2^n written as the float32 whose exponent field is n + 127.  Arguments below -87
    are clamped there (their exp is below 2e-38 and only ever added to a sum >= 1 or scaled).
    """
    shift = _F(shift)
    for i in range(stop - start):
        v = source[start + i] - shift
        v = v if v > _EXP_FLOOR else _EXP_FLOOR
        n = np.floor(v * _LOG2E + _F(0.5))
        r = v - n * _LN2_HIGH - n * _LN2_LOW
        p = _F(1.9875691500e-4)
        p = p * r + _F(1.3981999507e-3)
        p = p * r + _F(8.3334519073e-3)
        p = p * r + _F(4.1665795894e-2)
        p = p * r + _F(1.6666665459e-1)
        p = p * r + _F(5.0000001201e-1)
        out[i] = p * r * r + r + _F(1.0)
        exponent_bits[i] = (np.int32(n) + np.int32(127)) << np.int32(23)
    powers_of_two = exponent_bits.view(np.float32)
    for i in range(stop - start):
        out[i] *= powers_of_two[i]


@numba.njit(cache=True, fastmath={"reassoc", "contract"})
def _exp_chunk(source, start, stop, shift, out, exponent_bits):  # pragma: no cover - compiled
    """out[:stop - start] = exp(source[start:stop] - shift), in source's dtype."""
    if source.itemsize == 4:  # float32 (a constant per compiled specialisation)
        _exp_float32(source, start, stop, shift, out, exponent_bits)
    else:
        for i in range(stop - start):
            out[i] = np.exp(source[start + i] - shift)


@numba.njit(parallel=True, cache=True, fastmath={"reassoc", "contract"})
def _logsumexp_rows(logits, logsumexp):  # pragma: no cover - compiled
    n_rows, vocab = logits.shape
    for row in numba.prange(n_rows):
        values = logits[row]
        exps = np.empty(CHUNK, dtype=logits.dtype)
        exponent_bits = np.empty(CHUNK, dtype=np.int32)
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
            _exp_chunk(values, start, stop, running_max, exps, exponent_bits)
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
        exponent_bits = np.empty(CHUNK, dtype=np.int32)
        shift = logsumexp[row]
        for start in range(0, vocab, CHUNK):
            stop = min(start + CHUNK, vocab)
            probabilities = out[start:stop]
            _exp_chunk(values, start, stop, shift, probabilities, exponent_bits)  # softmax, in place
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
