"""The Numba CPU backend: which implementation of each op runs, for which inputs, in one table.

``DISPATCH`` below is the whole story (``minireason.backend`` builds the ops from it and
``minireason.backend.describe("numba")`` prints it): for each op, the choices in order, the
first whose condition holds runs the forward, and the backward is the one that takes the cache
that forward made.  Ops missing from the table, and the choices that name ``minireason.nn``, are
the NumPy reference: no kernel measured faster there.  docs/kernels.md has why each kernel wins
and the measurements behind each threshold.

Importing this module fails with ImportError when numba (or scipy, which numba needs for
np.dot) is missing; the backend turns that into a ConfigError naming the ``fast`` extra.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg  # noqa: F401  (numba compiles np.dot to BLAS through scipy; fail here, with the install hint)
from minireason.kernels import numba_attention, numba_decode, numba_fused, numba_loss, numba_rope
from minireason.kernels.numba_attention import FusedAttentionCache
from minireason.kernels.numba_threads import on_one_thread, threads_here

from minireason.backend import Choice
from minireason.nn import attention as reference_attention
from minireason.nn import linear as reference_linear
from minireason.runtime import blas_workers_poll, serial_blas

# Below this many keys the reference's batched BLAS products are as fast as the fused attention
# (its tiles are 64 keys long, so short sequences leave them mostly empty).  On one thread (a
# training batch split over the cores, minireason.model.SHARD_MIN_WORK) forward + backward of
# (32, 4, T, 32) with 2 kv heads: T = 40 reference 4.0 ms, fused 3.6; T = 66 14.7 against 7.9;
# T = 100 29.0 against 16.0 (thread CPU time, best of 5).
FUSED_ATTENTION_MIN_KEYS = 64

reads_bfloat16_weights = True  # the linear op multiplies BFloat16Matrix weights as they are


# While OpenBLAS's workers sleep as soon as a product ends (the train profile), a product of at
# most this many multiply-adds runs on one thread: waking a worker costs about what the second
# thread saves, and far more on cores that other work keeps busy.  While they poll (decoding),
# a worker is awake already and the products take every thread (the kernels between them take one,
# _between_blas_products): 64 x 128 x 128 took 19 us on two threads against 34 us on one, and
# decoding 64 rows of test-small 1.13x faster than with this limit (docs/kernels.md, "Threads").
SERIAL_BLAS_MAX_WORK = 1 << 20

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _multiply_adds(x, weight) -> int:
    return math.prod(x.shape) * weight.shape[0]


def _serial_blas_linear_forward(x, weight):
    """y = x W^T by BLAS on one thread (a product too small to share); the reference's cache."""
    with serial_blas():
        return reference_linear.linear_forward(x, weight)


def _bfloat16_linear_forward(x, weight):
    """y = x W^T with W a BFloat16Matrix, read as 2-byte weights (decoding); cache (x, W) as the reference's."""
    return numba_decode.bf16_linear(x, weight.bits), (x, weight)


def _small_batch_linear_forward(x, weight):
    """y = x W^T for a few rows, each weight read once (numba_decode); cache (x, W) as the reference's."""
    return numba_decode.small_batch_linear(x, weight), (x, weight)


def _rows(x) -> int:
    """Rows of an op's input: every axis but the last."""
    return math.prod(x.shape[:-1])


def _few_rows_of(rows: int, features: int) -> bool:
    """Whether a linear op of ``rows`` input rows of ``features`` inputs is the small-batch kernel's:
    at most SMALL_BATCH_ROWS rows, or at most WIDE_INPUT_ROWS of WIDE_INPUT_FEATURES or more inputs,
    or at most WIDE_INPUT_ROWS of any width on more than one thread.  (Narrower products alone are
    faster on BLAS past SMALL_BATCH_ROWS, but a decoding step with no BLAS product leaves the cores
    to numba's kernels, which then split over them: faster on two threads, slower on one, where
    nothing splits; docs/kernels.md, "Threads".)"""
    return rows <= numba_decode.SMALL_BATCH_ROWS or (rows <= numba_decode.WIDE_INPUT_ROWS and (
        features >= numba_decode.WIDE_INPUT_FEATURES or threads_here() > 1))


def _few_rows(x) -> bool:
    """Whether the linear op of input x (every axis but the last a row) is the small-batch kernel's."""
    return _few_rows_of(_rows(x), x.shape[-1])


def _between_blas_products(rows: int, features: int) -> bool:
    """Whether a kernel of ``rows`` rows sits between products that OpenBLAS's threads ran and whose
    workers still poll: the linear ops around it, ``rows`` rows of ``features`` inputs, are BLAS's
    (more rows than the small-batch kernel takes of that width), outside the ``train`` profile
    (whose workers sleep as soon as a product ends).  The other cores are then the polling
    workers', and a parallel kernel waits for its share of them: the small preset decoding 64 rows
    with its products on BLAS took 1.2x to 1.4x as long with the kernels below parallel
    (docs/kernels.md, "Threads").
    ``features`` is the input width of the product next to the kernel where the kernel's own
    arrays show it (RMSNorm: the hidden size; SwiGLU: the down projection's; attention: the
    output projection's, H x Dh), and 0 where they do not (the token log-probabilities follow the
    head, whose input they do not show): a narrow width, BLAS's from SMALL_BATCH_ROWS rows on."""
    return not _few_rows_of(rows, features) and blas_workers_poll()


def _on_one_thread(forward):
    """``forward`` with numba's kernels on the calling thread (``numba_threads.on_one_thread``)."""
    def forward_on_one_thread(*arguments):
        return on_one_thread(forward, *arguments)

    forward_on_one_thread.__module__ = forward.__module__
    forward_on_one_thread.__name__ = forward_on_one_thread.__qualname__ = f"{forward.__name__} on one thread"
    return forward_on_one_thread


BESIDE_BLAS = (f"parallel by its size, but more than {numba_decode.SMALL_BATCH_ROWS} rows ({numba_decode.WIDE_INPUT_ROWS} "
               f"where the next product's input is {numba_decode.WIDE_INPUT_FEATURES} or wider or numba has more than one "
               "thread: the linear ops' are BLAS's) while OpenBLAS's workers poll (_between_blas_products)")

DISPATCH = {
    "linear": (
        Choice("bfloat16 weights (decoding after with_bfloat16_decoding)", _bfloat16_linear_forward, None,
               applies=lambda x, weight: isinstance(weight, reference_linear.BFloat16Matrix)),
        Choice(f"at most {numba_decode.SMALL_BATCH_ROWS} rows ({numba_decode.WIDE_INPUT_ROWS} of "
               f"{numba_decode.WIDE_INPUT_FEATURES}+ inputs, or of any width on more than one numba thread; "
               f"numba_decode.ROW_WINDOWS[{numba_decode.HOST_VECTORS!r}]), x and W of one float dtype",
               _small_batch_linear_forward, reference_linear.linear_backward,
               applies=lambda x, weight: _few_rows(x) and x.dtype == weight.dtype and x.dtype in _FLOAT_DTYPES),
        Choice(f"at most {SERIAL_BLAS_MAX_WORK:,} multiply-adds (SERIAL_BLAS_MAX_WORK) while OpenBLAS's workers "
               "sleep (train profile): BLAS on one thread",
               _serial_blas_linear_forward, reference_linear.linear_backward,
               applies=lambda x, weight: _multiply_adds(x, weight) <= SERIAL_BLAS_MAX_WORK and not blas_workers_poll()),
        Choice("otherwise (BLAS, its own threads)", reference_linear.linear_forward, reference_linear.linear_backward),
    ),
    "attention": (
        Choice(f"one query per row, {BESIDE_BLAS}: on one thread", _on_one_thread(numba_attention.decode_attention_forward),
               numba_attention.attention_backward, cache_type=FusedAttentionCache,
               applies=lambda q, k, v, key_mask, scale: (q.shape[2] == 1 and _between_blas_products(q.shape[0], q.shape[1] * q.shape[3])
                                                         and numba_attention.decode_runs_in_parallel(q, k))),
        Choice("one query per row (decoding)", numba_attention.decode_attention_forward,
               numba_attention.attention_backward, cache_type=FusedAttentionCache,
               applies=lambda q, k, v, key_mask, scale: q.shape[2] == 1),
        Choice(f"fewer than {FUSED_ATTENTION_MIN_KEYS} keys (FUSED_ATTENTION_MIN_KEYS)", reference_attention.attention_forward,
               reference_attention.attention_backward,
               applies=lambda q, k, v, key_mask, scale: k.shape[2] < FUSED_ATTENTION_MIN_KEYS),
        Choice("otherwise (fused, tiled)", numba_attention.attention_forward, numba_attention.attention_backward,
               cache_type=FusedAttentionCache),
    ),
    # one row per iteration; serial (or one thread) below numba_fused.PARALLEL_MIN_ELEMENTS elements,
    # numba_fused.runs_in_parallel
    "rmsnorm": (
        Choice(f"{BESIDE_BLAS}: on one thread", _on_one_thread(numba_fused.rmsnorm_forward),
               numba_fused.rmsnorm_backward,
               applies=lambda x, weight, eps: _between_blas_products(_rows(x), x.shape[-1]) and numba_fused.runs_in_parallel(x.size)),
        Choice("otherwise", numba_fused.rmsnorm_forward, numba_fused.rmsnorm_backward),
    ),
    "swiglu": (
        Choice(f"{BESIDE_BLAS}: on one thread", _on_one_thread(numba_fused.swiglu_forward),
               numba_fused.swiglu_backward,
               applies=lambda gate, up: _between_blas_products(_rows(gate), gate.shape[-1]) and numba_fused.runs_in_parallel(gate.size)),
        Choice("otherwise", numba_fused.swiglu_forward, numba_fused.swiglu_backward),
    ),
    "rope": (Choice("always", numba_rope.rope_forward, numba_rope.rope_backward),),
    # the loss seam; its cache (a logsumexp per row, not the (B, T, V) probabilities) is not the reference's.
    # Decoding asks it for the chosen tokens' log-probabilities right after the head's product
    # (generation.sampling.chosen_logprobs), where the rule of the other kernels holds: 64 x 8,192
    # logits right after a product took 2.1 ms parallel beside the polling workers, 0.9 ms on one thread
    "token_logprobs": (
        Choice(f"under {numba_loss.PARALLEL_MIN_ELEMENTS:,} logits or one row (numba_loss.runs_in_parallel), "
               f"or {BESIDE_BLAS}: on one thread", _on_one_thread(numba_loss.token_logprobs_forward),
               numba_loss.token_logprobs_backward,
               applies=lambda logits, targets, temperature, with_entropy: (
                   not numba_loss.runs_in_parallel(logits) or _between_blas_products(_rows(logits), 0))),
        Choice("otherwise", numba_loss.token_logprobs_forward, numba_loss.token_logprobs_backward),
    ),
}

__all__ = ["DISPATCH", "FUSED_ATTENTION_MIN_KEYS", "SERIAL_BLAS_MAX_WORK", "reads_bfloat16_weights"]
