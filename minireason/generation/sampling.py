"""Choosing the next token from the logits: greedy, temperature, top-k, top-p, min-p.

One step for a whole batch, with no Python loop over rows:

    logits (B, V) ──÷ temperature──▶ scaled ──top-k──▶ ──top-p──▶ ──min-p──▶ filtered ──draw──▶ token (B,)

Each filter returns a boolean ``keep`` mask (B, V) and sees only the tokens the previous one kept,
renormalised (so top-p measures mass within the top-k set). Dropped tokens get probability 0.
``temperature == 0`` means greedy: the arg-max, which every filter keeps anyway.

Two log-probabilities come back for every chosen token, because RL needs both:
- ``logprobs``: under the raw model, log softmax(logits) at temperature 1 with no filter; this is
  the number a training forward recomputes, so the policy ratio pi_new / pi_old starts at 1;
- ``sampling_logprobs``: under the distribution the token was actually drawn from (temperature and
  filters applied); 0.0 for greedy, which picks its token with probability 1.

Ties are kept together: top-k keeps every token whose logit equals the k-th largest, and top-p keeps
every token as likely as the least likely member of its nucleus, so each filter defines a set that
does not depend on how a sort orders equal values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from minireason.errors import InputError
from minireason.nn.loss import log_softmax_forward, token_logprobs_forward


@dataclass(frozen=True)
class SamplingSettings:
    """temperature >= 0 (0 = greedy); top_k >= 0 (0 = off); top_p in (0, 1] (1 = off); min_p in [0, 1] (0 = off)."""

    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    min_p: float = 0.0

    def __post_init__(self) -> None:
        check_sampling_settings(self.temperature, self.top_k, self.top_p, self.min_p)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


def _is_real_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def check_sampling_settings(temperature, top_k, top_p, min_p) -> None:
    """Raise InputError naming the argument and its allowed range if a setting is out of range."""
    if not _is_real_number(temperature) or not np.isfinite(temperature) or temperature < 0:
        raise InputError(f"temperature must be a finite number >= 0 (0 means greedy), got {temperature!r}")
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 0:
        raise InputError(f"top_k must be an int >= 0 (0 means no top-k filter), got {top_k!r}")
    if not _is_real_number(top_p) or not 0 < top_p <= 1:
        raise InputError(f"top_p must lie in (0, 1] (1 means no top-p filter), got {top_p!r}")
    if not _is_real_number(min_p) or not 0 <= min_p <= 1:
        raise InputError(f"min_p must lie in [0, 1] (0 means no min-p filter), got {min_p!r}")


# ----------------------------------------------------------------------------- log-probabilities
# Both come from minireason.nn.loss, the project's one log-softmax: a filtered row keeps its -inf
# logits (dropped tokens) at -inf there, because every row keeps at least one finite logit.


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax over the last axis (``nn.loss.log_softmax_forward``); -inf logits stay -inf.  (B, V) -> (B, V)."""
    return log_softmax_forward(logits)[0]


# The dtypes sampling runs in as given (any other is widened to float64): a float32 model's logits
# are not (NumPy's float64 exp has no SIMD loop without AVX-512, several times float32's;
# docs/generation.md, "Sampling").
SAMPLING_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _in_a_sampling_dtype(logits) -> np.ndarray:
    """The logits as they are in a SAMPLING_DTYPES dtype, else widened to float64 (no copy otherwise)."""
    logits = np.asarray(logits)
    return logits if logits.dtype in SAMPLING_DTYPES else logits.astype(np.float64)


def chosen_logprobs(logits: np.ndarray, token_ids: np.ndarray, logprob_op=token_logprobs_forward) -> np.ndarray:
    """log softmax(logits)[b, token_ids[b]] for every row.  logits (B, V), token_ids (B,) -> (B,) float64.

    The token log-probability op of training at temperature 1, each row a sequence of one position,
    in the logits' own dtype (float32 or float64; any other is widened to float64):
    ``nn.loss.token_logprobs_forward``, or a backend's implementation of
    it (``model.ops.token_logprobs_forward``, as generation passes).  So the log-probability
    recorded at sampling time is the number the training forward's op computes from the same
    logits (an RL policy ratio pi_new / pi_old starts at 1 up to the rounding of the logits
    themselves), and a float32 model's rows are not widened to float64 first: the (B, V) float64
    exp that widening costs was most of a decoding step's time outside the model at a large
    vocabulary (docs/generation.md, "Sampling").  Returned as float64, exactly those numbers.
    """
    logits = _in_a_sampling_dtype(logits)  # (B, V)
    (logp, _), _ = logprob_op(logits[:, None, :], np.asarray(token_ids, dtype=np.int64)[:, None], 1.0, False)
    return np.asarray(logp[:, 0], dtype=np.float64)


def logprob_op_of(model):
    """The token log-probability op of ``model``'s backend (``model.ops``), the reference's for an
    object without one (a stand-in model that only has ``forward``)."""
    ops = getattr(model, "ops", None)
    return token_logprobs_forward if ops is None else ops.token_logprobs_forward


# ----------------------------------------------------------------------------- the filters


def top_k_mask(logits: np.ndarray, k: int) -> np.ndarray:
    """Keep the k largest logits of each row (and any tied with the k-th).  (B, V) -> bool (B, V)."""
    V = logits.shape[-1]
    if k <= 0 or k >= V:
        return logits > -np.inf
    kth_largest = -np.partition(-logits, k - 1, axis=-1)[:, k - 1 : k]  # (B, 1)
    return logits >= kth_largest


# Top-p looks for its nucleus among this many most likely tokens first, and among eight times as
# many while some row's nucleus is not closed yet: a nucleus is usually a few tokens of a
# vocabulary of 10^5, and a partial sort of the candidates costs O(V) where a full sort costs
# O(V log V) (measured in docs/generation.md, "Sampling").
NUCLEUS_FIRST_CANDIDATES = 64


def top_p_mask(logits: np.ndarray, p: float) -> np.ndarray:
    """Nucleus: the smallest set of most likely tokens whose probability mass reaches p.

    The top token is always kept (so the set is never empty), and so is any token exactly as likely
    as the least likely member of the set.  (B, V) -> bool (B, V).

    The masses are those of the full descending sort (the first m sorted values and their running
    sums are the same numbers whichever m), found among the m most likely tokens, m growing until
    the nucleus closes within them.
    """
    if p >= 1.0:
        return logits > -np.inf
    log_probs = log_softmax(logits)  # (B, V)
    V = log_probs.shape[-1]
    threshold = np.empty((log_probs.shape[0], 1), dtype=log_probs.dtype)  # (B, 1) least likely member
    open_rows = np.arange(log_probs.shape[0])
    candidates = min(V, NUCLEUS_FIRST_CANDIDATES)
    while open_rows.size:
        negated = -log_probs[open_rows]  # (R, V)
        if candidates < V:
            negated = np.partition(negated, candidates - 1, axis=-1)[:, :candidates]  # (R, m) the m most likely
        descending = -np.sort(negated, axis=-1)  # (R, m), most likely first
        probs = np.exp(descending)  # (R, m)
        mass_before = np.cumsum(probs, axis=-1) - probs  # (R, m) mass of strictly earlier tokens
        # the nucleus is the sorted prefix whose earlier mass is still short of p
        short = mass_before < p
        size = np.where(short.all(axis=-1), candidates, np.argmin(short, axis=-1))  # (R,)
        closed = (size < candidates) | (candidates == V)
        size = np.maximum(size, 1)
        threshold[open_rows[closed], 0] = descending[closed, size[closed] - 1]
        open_rows = open_rows[~closed]
        candidates = min(V, 8 * candidates)
    return (log_probs >= threshold) & (log_probs > -np.inf)


def min_p_mask(logits: np.ndarray, min_p: float) -> np.ndarray:
    """Keep tokens with probability >= min_p * (probability of the most likely token).  (B, V) -> bool (B, V).

    In logits: logit >= max logit + log(min_p); the normaliser cancels, so no softmax is needed.
    """
    if min_p <= 0.0:
        return logits > -np.inf
    largest = np.max(logits, axis=-1, keepdims=True)  # (B, 1)
    return logits >= largest + np.log(min_p)


def filter_logits(scaled_logits: np.ndarray, top_k: int = 0, top_p: float = 1.0, min_p: float = 0.0) -> np.ndarray:
    """Apply top-k, then top-p, then min-p; dropped tokens get -inf.  (B, V) -> (B, V).

    Each filter sees the logits the previous one left (-inf for dropped tokens), so top-p's mass is
    measured on the distribution renormalised over the top-k set.
    """
    filtered = scaled_logits
    if top_k > 0:
        filtered = np.where(top_k_mask(filtered, top_k), filtered, -np.inf)
    if top_p < 1.0:
        filtered = np.where(top_p_mask(filtered, top_p), filtered, -np.inf)
    if min_p > 0.0:
        filtered = np.where(min_p_mask(filtered, min_p), filtered, -np.inf)
    return filtered


def sampling_distribution(logits: np.ndarray, settings: SamplingSettings) -> np.ndarray:
    """The probabilities (B, V) the next token is drawn from (one-hot on the arg-max for greedy), in
    the dtype the draw runs in (``SAMPLING_DTYPES``)."""
    logits = _in_a_sampling_dtype(logits)  # (B, V)
    if settings.greedy:
        probs = np.zeros_like(logits)  # (B, V)
        probs[np.arange(len(logits)), np.argmax(logits, axis=-1)] = 1.0
        return probs
    filtered = filter_logits(logits / logits.dtype.type(settings.temperature), settings.top_k, settings.top_p,
                             settings.min_p)
    return np.exp(log_softmax(filtered))


# ----------------------------------------------------------------------------- one sampling step


@dataclass
class SampledTokens:
    """One sampled token per row, with its log-probability under the raw model and under the distribution it was drawn from."""
    token_ids: np.ndarray  # (B,) int64
    logprobs: np.ndarray  # (B,) float64, under the raw model (temperature 1, no filter)
    sampling_logprobs: np.ndarray  # (B,) float64, under the distribution actually sampled from


def row_uniforms(rng, B: int) -> np.ndarray:
    """One uniform number in [0, 1) per row.  (B,)

    ``rng`` is one Generator for the whole batch (``rng.random(B)``: row b's draw depends on the
    rows before it), or a sequence of B Generators, one per row (each row draws from its own, so
    its samples do not depend on which other rows share the batch).
    """
    if isinstance(rng, np.random.Generator):
        return rng.random(B)
    generators = list(rng)
    if len(generators) != B or not all(isinstance(g, np.random.Generator) for g in generators):
        raise InputError(f"rng must be a numpy Generator or a list of {B} Generators (one per row), "
                         f"got {len(generators)} items")
    return np.array([generator.random() for generator in generators])  # (B,)


def sample_next_tokens(logits: np.ndarray, settings: SamplingSettings, rng,
                       logprob_op=token_logprobs_forward) -> SampledTokens:
    """Draw one token per row.  logits (B, V) -> SampledTokens with (B,) arrays.

    Sampling uses inverse-CDF: one uniform number per row, whatever V is, so a seed fixes the
    whole sequence of draws. ``rng``: a Generator for the batch, or one Generator per row (see
    :func:`row_uniforms`). Greedy draws no random numbers.  Everything runs in the logits' dtype
    (float32 or float64; any other is widened to float64): the filters, the draw's weights and sums
    and ``sampling_logprobs``; ``logprobs`` come from ``logprob_op`` (:func:`chosen_logprobs`).
    """
    scores = _in_a_sampling_dtype(logits)  # (B, V)
    if scores.ndim != 2:
        raise InputError(f"logits must have shape (B, V), got {scores.shape}")
    B = scores.shape[0]
    if settings.greedy:
        token_ids = np.argmax(scores, axis=-1)  # (B,)
        return SampledTokens(token_ids, chosen_logprobs(scores, token_ids, logprob_op), np.zeros(B))
    unfiltered = settings.temperature == 1 and settings.top_k == 0 and settings.top_p == 1 and settings.min_p == 0
    filtered = scores if unfiltered else filter_logits(scores / scores.dtype.type(settings.temperature),
                                                      settings.top_k, settings.top_p, settings.min_p)
    largest = np.max(filtered, axis=-1, keepdims=True)  # (B, 1)
    weights = filtered - largest  # (B, V)
    np.exp(weights, out=weights)  # unnormalised probabilities; 0 for dropped tokens
    token_ids, totals = inverse_cdf_draw(weights, row_uniforms(rng, B))  # (B,), (B,)
    sampling_logprobs = (np.log(weights[np.arange(B), token_ids]) - np.log(totals)).astype(np.float64)  # (B,)
    return SampledTokens(token_ids, chosen_logprobs(scores, token_ids, logprob_op), sampling_logprobs)


# The inverse-CDF draw goes through the vocabulary in blocks: block sums, then the running sum
# inside the one block the draw lands in.  A running sum over all V (NumPy's cumsum: one addition
# after another, no SIMD) is slow over a vocabulary of 10^5.  A block of about sqrt(V) tokens (a
# power of two, at least CDF_SMALLEST_BLOCK) keeps both running sums short: 512 for Qwen3's
# vocabulary, 128 for 8,192.
# Up to CDF_ONE_SUM_VOCAB tokens one running sum is taken: the blocks' extra NumPy calls cost
# more than they save at small batches.  The choice depends on V alone, never on the batch, so a
# row's draw is the same numbers in any batch.  (Figures: docs/generation.md, "Sampling".)
CDF_SMALLEST_BLOCK = 16
CDF_ONE_SUM_VOCAB = 1024


def cdf_block(V: int) -> int:
    """Tokens per block of the inverse-CDF draw over a vocabulary of V (above CDF_ONE_SUM_VOCAB):
    the smallest power of two at least sqrt(V) and at least CDF_SMALLEST_BLOCK."""
    return max(CDF_SMALLEST_BLOCK, 1 << max(0, math.isqrt(V - 1)).bit_length())


def inverse_cdf_draw(weights: np.ndarray, uniforms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The inverse-CDF draw: per row, the first token whose running sum of weights exceeds
    u * total.  weights (B, V) >= 0 with a positive sum per row, uniforms (B,) in [0, 1)
    -> (token_ids (B,), totals (B,)).

    Never a zero-weight token: the running sum only passes the target at a positive weight.  Above
    CDF_ONE_SUM_VOCAB tokens the sums are taken per block of ``cdf_block(V)`` tokens and then within
    the block the target falls in; they round differently from one running sum over the whole row,
    which moves a draw only when its target lies within rounding (about 1e-16 of the total) of a
    boundary between two tokens.
    """
    B, V = weights.shape
    if V <= CDF_ONE_SUM_VOCAB:
        running = np.cumsum(weights, axis=-1)  # (B, V)
        totals = running[:, -1]
        return _first_passing(weights, running, uniforms * totals), totals
    block_size = cdf_block(V)
    full_blocks = V // block_size
    n_blocks = full_blocks + (V % block_size > 0)
    block_sums = np.empty((B, n_blocks), dtype=weights.dtype)  # (B, n_blocks)
    block_sums[:, :full_blocks] = weights[:, :full_blocks * block_size].reshape(B, full_blocks, block_size).sum(axis=-1)
    if n_blocks > full_blocks:
        block_sums[:, -1] = weights[:, full_blocks * block_size:].sum(axis=-1)
    block_ends = np.cumsum(block_sums, axis=-1)  # (B, n_blocks)
    totals = block_ends[:, -1]
    targets = uniforms * totals  # (B,) uniform in [0, total)
    block = _first_passing(block_sums, block_ends, targets)  # (B,) the block the target falls in
    before = np.where(block > 0, block_ends[np.arange(B), np.maximum(block - 1, 0)], 0.0)  # (B,) earlier blocks' weight
    columns = block[:, None] * block_size + np.arange(block_size)  # (B, block_size)
    inside = np.take_along_axis(weights, np.minimum(columns, V - 1), axis=-1)  # (B, block_size)
    inside[columns >= V] = 0.0  # the last block's columns past the vocabulary
    running = before[:, None] + np.cumsum(inside, axis=-1)  # (B, block_size)
    return block * block_size + _first_passing(inside, running, targets), totals


def _first_passing(weights: np.ndarray, running: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per row, the first column whose running sum of ``weights`` passes the target; where none
    does, the last column of positive weight (the block sums rounded the target into a block whose
    own running sum stops just short of it, or u * total rounded up to the total: either way the
    target sits at the end).  weights, running (B, W), targets (B,) -> (B,)."""
    passed = running > targets[:, None]  # (B, W)
    token_ids = np.argmax(passed, axis=-1)  # (B,)
    missed = ~passed.any(axis=-1)  # (B,)
    if missed.any():
        positive = weights[missed] > 0  # (M, W)
        token_ids[missed] = positive.shape[-1] - 1 - np.argmax(positive[:, ::-1], axis=-1)
    return token_ids
