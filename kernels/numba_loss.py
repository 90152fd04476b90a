"""The token log-probability op pair (the loss seam of ``minireason.nn.loss``) in Numba, chunked
over the vocabulary, forward and backward.

The reference builds the (B, T, V) log-probabilities, keeps them in its cache, and makes more
(B, T, V) temporaries on the way (scaled and shifted logits, their exp, and in the backward the
probabilities).  With V = 151936 (Qwen3) and 1024 tokens that is 620 MB each.  Here one row of
logits is read in chunks of ``CHUNK`` vocabulary entries, with the online logsumexp of
docs/kernels.md (the same rescaling as attention's online softmax), on u = z / tau:

    m <- max(m, max_chunk u)        l <- l * exp(m_old - m) + sum_chunk exp(u - m)

and only the row's logsumexp ``L = m + log l`` is kept (as m and log l: exp's argument is
``(u - m) - log l``, accurate near the maximum even for logits in the thousands): O(B T) memory
instead of O(B T V).
The entropy comes from the same pass: with ``w = sum_v exp(u_v - m) (u_v - m)`` (rescaled as
``w <- exp(m_old - m) (w + (m_old - m) l)`` when the maximum moves),

    H = -sum_v p_v log p_v = L - sum_v p_v u_v = log l - w / l

(both terms >= 0: no cancellation).  The backward writes, chunk by chunk, the only (B, T, V)
array either pass makes:

    dz_v = (dlogp (onehot_v - p_v) - dH p_v (log p_v + H)) / tau,   p_v = exp(u_v - L),

and rows whose upstream gradients are both zero (padding) as zeros without reading the logits.
The temperature is divided inside the loops, in the logits' dtype as the reference does (the
same u bit for bit): no scaled copy of the logits.

Speed: NumPy's ``exp`` is SIMD and Numba's scalar ``np.exp`` is not (no SVML).  float32 rows therefore use ``numba_math.exp_float32`` (a Cody-Waite range
reduction and a degree-6 polynomial, relative error below 3e-7) whose loop LLVM vectorises.
float64 rows use ``np.exp``.
"""

from __future__ import annotations

import numba
import numpy as np
from minireason.kernels.numba_math import exp_float32, larger
from minireason.kernels.numba_threads import threads_here  # (its import sets the OpenMP wait policy)

from minireason.errors import InputError

CHUNK = 2048  # vocabulary entries per chunk: two scratch chunks stay in L1/L2 per thread


# The forward splits its rows over numba's threads from two rows and PARALLEL_MIN_ELEMENTS logits:
# below, waking the thread pool costs more than the work (decoding's chosen tokens, one (B, 1, V)
# call a step: one row of the built-in models' 347 logits took 227 us parallel against 101 us on
# the calling thread, medians, numba's threads asleep between calls; 16 rows of 8,192 253 us
# against 331, two rows of 151,936 664 against 1,125, best of 20 to 100; docs/kernels.md).
PARALLEL_MIN_ELEMENTS = 1 << 17


def runs_in_parallel(logits) -> bool:
    """Whether ``token_logprobs_forward`` splits the rows of ``logits`` (..., V) over numba's threads."""
    return logits.size >= PARALLEL_MIN_ELEMENTS and logits.size >= 2 * logits.shape[-1]


# Each helper below takes a chunk as a slice and indexes it from 0.  Numba wraps a negative index
# around (a[i] is a[n + i] for i < 0), and for a[start + i] it cannot prove the index non-negative,
# so every element's load picks between two addresses and the loop loads one element at a time;
# indexed from 0, the loads are contiguous vectors (the exp chunk 3x faster, docs/kernels.md).
@numba.njit(nogil=True, cache=True, inline="always")
def _chunk_max(chunk):  # pragma: no cover - compiled
    """max(chunk) (a chunk of at least one value) by ``larger``, a reduction LLVM vectorises; a NaN
    is passed over here and makes the row's sum of exponentials NaN instead."""
    largest = chunk[0]
    for i in range(chunk.shape[0]):
        largest = larger(largest, chunk[i])
    return largest


@numba.njit(nogil=True, cache=True, fastmath={"contract"})
def _exp_chunk(chunk, temperature, shift, offset, out):  # pragma: no cover - compiled
    """out[:len(chunk)] = exp((chunk / temperature - shift) - offset), in chunk's dtype.

    No "reassoc": the two subtractions stay apart (u - m is exact near the maximum, then the small
    log l), so exp's argument is as accurate as the reference's log-probabilities even when the
    logits are in the thousands (a merged shift m + log l would round at that magnitude)."""
    if chunk.itemsize == 4:  # float32 (a constant per compiled specialisation)
        temperature_float32, shift_float32, offset_float32 = np.float32(temperature), np.float32(shift), np.float32(offset)
        for i in range(chunk.shape[0]):
            out[i] = exp_float32((chunk[i] / temperature_float32 - shift_float32) - offset_float32)
    else:
        for i in range(chunk.shape[0]):
            out[i] = np.exp((chunk[i] / temperature - shift) - offset)


@numba.njit(nogil=True, cache=True, fastmath={"contract"})
def _shifted_chunk(chunk, temperature, shift, out):  # pragma: no cover - compiled
    """out[:len(chunk)] = chunk / temperature - shift (u - m), apart from the callers' reassociated
    sums so that no sum is split into sum(e u) - m sum(e) (which cancels)."""
    for i in range(chunk.shape[0]):
        out[i] = chunk[i] / temperature - shift


@numba.njit(nogil=True, cache=True, fastmath={"contract"})
def _entropy_gradient_chunk(chunk, temperature, shift, log_sum, entropy,
                            logp_weight, entropy_weight, out):  # pragma: no cover - compiled
    """out[:len(chunk)] = -p (a + c (log p + H)) with log p = (u - m) - log l, u = chunk / temperature,
    a = logp_weight, c = entropy_weight; no reassociation (u - m first, as in _exp_chunk)."""
    entropy_minus_log_sum = entropy - log_sum
    if chunk.itemsize == 4:
        temperature_float32, shift_float32 = np.float32(temperature), np.float32(shift)
        log_sum_float32, entropy_minus_log_sum_float32 = np.float32(log_sum), np.float32(entropy_minus_log_sum)
        for i in range(chunk.shape[0]):
            shifted = chunk[i] / temperature_float32 - shift_float32
            probability = exp_float32(shifted - log_sum_float32)
            out[i] = -probability * (logp_weight + entropy_weight * (shifted + entropy_minus_log_sum_float32))
    else:
        for i in range(chunk.shape[0]):
            shifted = chunk[i] / temperature - shift
            probability = np.exp(shifted - log_sum)
            out[i] = -probability * (logp_weight + entropy_weight * (shifted + entropy_minus_log_sum))


@numba.njit(nogil=True, cache=True, fastmath={"reassoc", "contract"})
def _logsumexp_row_range(logits, temperature, with_entropy, row_max, log_sum, entropy, first, last):  # pragma: no cover
    """logsumexp of row u = logits[row] / temperature as row_max[row] + log_sum[row] (m and log l), and,
    if with_entropy, entropy[row] = -sum_v p_v log p_v, in one online pass over the row (module
    docstring), for rows ``first`` to ``last - 1``.  The one compiled body: called whole on one
    thread, and once per thread by the parallel kernel (a prange over the rows themselves went
    through numba's parallel passes and took twice as long to compile, docs/kernels.md)."""
    vocab = logits.shape[1]
    for row in range(first, last):
        values = logits[row]
        exps = np.empty(CHUNK, dtype=logits.dtype)
        shifted = np.empty(CHUNK if with_entropy else 0, dtype=logits.dtype)
        running_max = -np.inf
        running_sum = 0.0  # l = sum exp(u - m)
        running_weighted = 0.0  # w = sum exp(u - m) (u - m)
        for start in range(0, vocab, CHUNK):
            stop = min(start + CHUNK, vocab)
            chunk = values[start:stop]
            chunk_max = _chunk_max(chunk) / temperature  # rounding is monotone: the largest rounded u
            if chunk_max > running_max:  # rescale what was summed relative to the old maximum
                if running_max != -np.inf:
                    rescale = np.exp(running_max - chunk_max)
                    running_weighted = rescale * (running_weighted + (running_max - chunk_max) * running_sum)
                    running_sum *= rescale
                running_max = chunk_max
            _exp_chunk(chunk, temperature, running_max, 0.0, exps)
            chunk_sum = 0.0
            for i in range(stop - start):
                chunk_sum += exps[i]
            running_sum += chunk_sum
            if with_entropy:
                _shifted_chunk(chunk, temperature, running_max, shifted)
                chunk_weighted = 0.0
                for i in range(stop - start):
                    chunk_weighted += exps[i] * shifted[i]
                running_weighted += chunk_weighted
        row_max[row] = running_max
        log_sum[row] = np.log(running_sum)
        if with_entropy:
            entropy[row] = np.log(running_sum) - running_weighted / running_sum


@numba.njit(parallel=True, nogil=True, cache=True)
def _logsumexp_parallel(logits, temperature, with_entropy, row_max, log_sum, entropy, n_chunks):  # pragma: no cover
    n_rows = logits.shape[0]
    for chunk in numba.prange(n_chunks):  # one contiguous run of rows per thread
        _logsumexp_row_range(logits, temperature, with_entropy, row_max, log_sum, entropy,
                             chunk * n_rows // n_chunks, (chunk + 1) * n_rows // n_chunks)


def _over_rows(row_range, parallel, arguments: tuple, n_rows: int) -> None:
    """A pass over every row: ``row_range(*arguments, 0, n_rows)`` on the calling thread, or, with more
    than one numba thread and row, ``parallel(*arguments, n_chunks)``, one contiguous run of rows a thread."""
    threads = threads_here()
    if threads > 1 and n_rows > 1:
        parallel(*arguments, min(threads, n_rows))
    else:
        row_range(*arguments, 0, n_rows)


@numba.njit(nogil=True, cache=True, fastmath={"reassoc", "contract"})
def _token_logprobs_backward_row_range(logits, row_max, log_sum, entropy, targets, temperature,
                                       logp_weights, entropy_weights, dlogits, first, last):  # pragma: no cover
    """dlogits[row] = -p (a + c (log p + H)) + a onehot(target), with a = dlogp / tau, c = dH / tau
    (the row's weights), log p = (u - m) - log l, u = logits[row] / temperature, for rows ``first``
    to ``last - 1``; compiled once, as ``_logsumexp_row_range``."""
    vocab = logits.shape[1]
    for row in range(first, last):
        logp_weight = logp_weights[row]
        entropy_weight = entropy_weights[row]
        out = dlogits[row]
        if logp_weight == 0 and entropy_weight == 0:  # padding, or a position the loss does not use
            out[:] = 0
            continue
        values = logits[row]
        shift = row_max[row]
        for start in range(0, vocab, CHUNK):
            stop = min(start + CHUNK, vocab)
            gradient = out[start:stop]
            if entropy_weight == 0:
                _exp_chunk(values[start:stop], temperature, shift, log_sum[row], gradient)  # softmax, in place
                for i in range(stop - start):
                    gradient[i] *= -logp_weight
            else:
                _entropy_gradient_chunk(values[start:stop], temperature, shift, log_sum[row], entropy[row],
                                        logp_weight, entropy_weight, gradient)
        out[targets[row]] += logp_weight


def token_logprobs_forward(logits: np.ndarray, targets: np.ndarray, temperature: float = 1.0,
                           with_entropy: bool = False):
    """The reference's contract: ((logp (B, T), entropy (B, T) or None), cache) with
    logp = log softmax(logits / temperature)[target] and entropy = -sum_v p log p.

    logits (B, T, V); targets (B, T) ints in [0, V) everywhere; temperature > 0.  Cache: (logits,
    row maximum m (B*T,), log l (B*T,), entropy (B*T,) or None, targets (B*T,), temperature): no
    (B, T, V) array of its own (the logits are the caller's).
    """
    vocab = logits.shape[-1]
    rows = np.ascontiguousarray(logits).reshape(-1, vocab)  # (B*T, V), a view of the model's logits
    dtype = rows.dtype
    n_rows = rows.shape[0]
    temperature = dtype.type(temperature)  # u = z / tau in the logits' dtype, as the reference divides
    row_max = np.empty(n_rows, dtype=dtype)  # (B*T,) m, the largest u of the row
    log_sum = np.empty(n_rows, dtype=dtype)  # (B*T,) log l = log sum exp(u - m); logsumexp = m + log l
    entropy = np.empty(n_rows if with_entropy else 0, dtype=dtype)  # (B*T,) or unused
    _over_rows(_logsumexp_row_range, _logsumexp_parallel,
               (rows, temperature, bool(with_entropy), row_max, log_sum, entropy), n_rows)
    flat_targets = np.asarray(targets).reshape(-1).astype(np.int64)  # (B*T,)
    target_log_probs = (rows[np.arange(n_rows), flat_targets] / temperature - row_max) - log_sum  # (B*T,)
    shape = np.shape(targets)
    entropy = entropy if with_entropy else None
    cache = (logits, row_max, log_sum, entropy, flat_targets, temperature)
    return (target_log_probs.reshape(shape), None if entropy is None else entropy.reshape(shape)), cache


@numba.njit(parallel=True, nogil=True, cache=True)
def _token_logprobs_backward_parallel(logits, row_max, log_sum, entropy, targets, temperature,
                                      logp_weights, entropy_weights, dlogits, n_chunks):  # pragma: no cover
    n_rows = logits.shape[0]
    for chunk in numba.prange(n_chunks):  # one contiguous run of rows per thread
        _token_logprobs_backward_row_range(logits, row_max, log_sum, entropy, targets, temperature, logp_weights,
                                           entropy_weights, dlogits, chunk * n_rows // n_chunks,
                                           (chunk + 1) * n_rows // n_chunks)


def token_logprobs_backward(dlogp: np.ndarray, dentropy: np.ndarray | None, cache) -> np.ndarray:
    """Forward: u = z / tau, p = softmax(u), logp[b, t] = log p[b, t, target], H[b, t] = -sum_v p log p.
    Cache: (logits, m, log l, H or None, targets, tau), all but the logits one number per row.

    dz[b, t, v] = (dlogp[b, t] (onehot_v - p_v) - dH[b, t] p_v (log p_v + H[b, t])) / tau, written
    chunk by chunk; rows with dlogp = dH = 0 are zeros.  dentropy may be None (no entropy term).
    """
    logits, row_max, log_sum, entropy, targets, temperature = cache
    if dentropy is not None and entropy is None:
        raise InputError("token_logprobs_backward got dentropy but the forward ran without with_entropy")
    vocab = logits.shape[-1]
    rows = np.ascontiguousarray(logits).reshape(-1, vocab)  # (B*T, V)
    dtype = rows.dtype
    logp_weights = (np.asarray(dlogp).reshape(-1) / temperature).astype(dtype)  # (B*T,) dlogp / tau
    if dentropy is None:
        entropy_weights = np.zeros_like(row_max)  # (B*T,)
        entropy = row_max  # not read: every entropy weight is zero
    else:
        entropy_weights = (np.asarray(dentropy).reshape(-1) / temperature).astype(dtype)  # (B*T,) dH / tau
    dlogits = np.empty_like(rows)  # (B*T, V), the only vocabulary-sized array
    _over_rows(_token_logprobs_backward_row_range, _token_logprobs_backward_parallel,
               (rows, row_max, log_sum, entropy, targets, temperature, logp_weights, entropy_weights, dlogits), len(rows))
    return dlogits.reshape(logits.shape)
