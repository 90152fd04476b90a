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


def chosen_logprobs(logits: np.ndarray, token_ids: np.ndarray) -> np.ndarray:
    """log softmax(logits)[b, token_ids[b]] for every row.  logits (B, V), token_ids (B,) -> (B,).

    The reference token log-probability op of training (``nn.loss.token_logprobs_forward`` at
    temperature 1), with each row as a sequence of one position: the log-probability recorded at
    sampling time is the formula a training forward recomputes, so an RL policy ratio
    pi_new / pi_old starts at 1 (up to the rounding of the logits themselves).
    """
    (chosen, _), _ = token_logprobs_forward(logits[:, None, :], np.asarray(token_ids)[:, None])  # (B, 1)
    return chosen[:, 0]


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
# O(V log V) (a batch of 16 rows of Qwen3's 151,936 logits: 242 ms with the full sort, measured).
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
    """The probabilities (B, V) the next token is drawn from (one-hot on the arg-max for greedy)."""
    logits = np.asarray(logits, dtype=np.float64)
    if settings.greedy:
        probs = np.zeros_like(logits)
        probs[np.arange(len(logits)), np.argmax(logits, axis=-1)] = 1.0
        return probs
    filtered = filter_logits(logits / settings.temperature, settings.top_k, settings.top_p, settings.min_p)
    return np.exp(log_softmax(filtered))


# ----------------------------------------------------------------------------- one sampling step


@dataclass
class SampledTokens:
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


def sample_next_tokens(logits: np.ndarray, settings: SamplingSettings, rng) -> SampledTokens:
    """Draw one token per row.  logits (B, V) -> SampledTokens with (B,) arrays.

    Sampling uses inverse-CDF: one uniform number per row, whatever V is, so a seed fixes the
    whole sequence of draws. ``rng``: a Generator for the batch, or one Generator per row (see
    :func:`row_uniforms`). Greedy draws no random numbers.
    """
    logits = np.asarray(logits, dtype=np.float64)  # (B, V); float64 so log-probs are exact to ~1e-15
    if logits.ndim != 2:
        raise InputError(f"logits must have shape (B, V), got {logits.shape}")
    B = logits.shape[0]
    if settings.greedy:
        token_ids = np.argmax(logits, axis=-1)  # (B,)
        return SampledTokens(token_ids, chosen_logprobs(logits, token_ids), np.zeros(B))
    filtered = filter_logits(logits / settings.temperature, settings.top_k, settings.top_p, settings.min_p)
    largest = np.max(filtered, axis=-1, keepdims=True)  # (B, 1)
    weights = np.exp(filtered - largest)  # (B, V), unnormalised; 0 for dropped tokens
    cumulative = np.cumsum(weights, axis=-1)  # (B, V)
    totals = cumulative[:, -1]  # (B,)
    targets = row_uniforms(rng, B) * totals  # (B,) uniform in [0, total)
    # first index whose cumulative weight exceeds the target; it always has weight > 0
    token_ids = np.argmax(cumulative > targets[:, None], axis=-1)  # (B,)
    rows = np.arange(B)
    sampling_logprobs = np.log(weights[rows, token_ids]) - np.log(totals)
    return SampledTokens(token_ids, chosen_logprobs(logits, token_ids), sampling_logprobs)
