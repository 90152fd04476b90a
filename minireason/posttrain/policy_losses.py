"""The policy-gradient losses of GRPO and its variants, each a small function of per-token log-probabilities.

The model computes logp (N, T), the log-probability of each sampled token under the current policy at
the sampling temperature, and optionally the entropy (N, T) of the distribution at each position; a
loss here returns (loss, dlogp, dentropy, metrics) and the model's backward does the rest:

    logp (N, T) [, entropy (N, T)] ─policy_loss─▶ loss, dlogp (N, T) [, dentropy (N, T)], metrics
    dlogits (N, T, V) ◀─token_logprobs_backward (minireason/nn/loss.py)─┘

Every loss is a weighted sum of per-token terms, loss = sum_{n,t} w[n, t] * term[n, t], with the
weights w from ``aggregation_weights`` computed once over the whole batch of one optimizer update;
so the losses and gradients of row slices (micro-batches) add up to the whole batch's exactly.

Derivations (formulas, gradients, clip regions, what each KL estimator's gradient targets):
docs/rl.md, section "Policy losses and their gradients".  Tests: tests/posttrain/test_policy_losses.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from minireason.device import array_module_of, to_module
from minireason.errors import InputError

AGGREGATIONS = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm")
POLICY_LOSSES = ("grpo", "ppo", "gspo", "cispo")
KL_ESTIMATORS = ("k1", "k2", "k3")


# ---------------------------------------------------------------------------------------- aggregation
def aggregation_weights(mask, aggregation: str, max_length: int | None = None) -> np.ndarray:
    """(N, T) float64 weights w such that the loss is sum_{n,t} w[n, t] * (per-token term).

    mask (N, T) bool: the completion tokens in the loss; len_n = sum_t mask[n, t]; N counts every row.
      token-mean               mask / (total masked tokens)           every token counts the same (DAPO)
      seq-mean-token-mean      mask / (len_n * N)                     mean over tokens, then over rows (GRPO)
      seq-mean-token-sum       mask / N                               sum over tokens, mean over rows
      seq-mean-token-sum-norm  mask / (N * max_length)                Dr. GRPO: a constant divisor
    max_length is the generation limit (required by seq-mean-token-sum-norm, ignored by the others; no
    row may hold more masked tokens than it).  A row with no masked token gets weight 0.

    Compute the weights once over the WHOLE batch of one optimizer update and slice them by rows for
    micro-batches: then summing the micro-batches' losses and gradients gives exactly the whole batch's.
    """
    if aggregation not in AGGREGATIONS:
        raise InputError(f"unknown aggregation {aggregation!r}; choose one of {', '.join(AGGREGATIONS)}")
    if getattr(mask, "ndim", None) != 2:
        raise InputError(f"mask must be a 2-D (N, T) array, got {type(mask).__name__} of shape "
                         f"{getattr(mask, 'shape', None)}")
    mask = mask.astype(bool)
    float_mask = mask.astype(np.float64)  # (N, T)
    N = mask.shape[0]
    lengths = mask.sum(axis=1)  # (N,) masked tokens per row
    if aggregation == "token-mean":
        return float_mask / max(int(mask.sum()), 1)
    if aggregation == "seq-mean-token-mean":
        return float_mask / (np.maximum(lengths, 1)[:, None] * max(N, 1))  # empty rows: 0 / (1 * N)
    if aggregation == "seq-mean-token-sum":
        return float_mask / max(N, 1)
    if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)) or max_length < 1:
        raise InputError(f"aggregation 'seq-mean-token-sum-norm' needs max_length, the generation limit, "
                         f"as an int >= 1; got {max_length!r}")
    longest = int(lengths.max()) if N else 0
    if longest > max_length:
        raise InputError(f"max_length {max_length} is shorter than a row's {longest} masked tokens; "
                         f"pass the generation limit")
    return float_mask / (max(N, 1) * int(max_length))


# ---------------------------------------------------------------------------------------- settings
def _check_number(label: str, value, minimum: float, *, strict: bool = False, below: float | None = None):
    """Raise InputError unless value is a finite real number in the stated range; label names the field."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    ok = ok and math.isfinite(value) and (value > minimum if strict else value >= minimum)
    ok = ok and (below is None or value < below)
    if not ok:
        bound = f"{'>' if strict else '>='} {minimum}" + ("" if below is None else f" and < {below}")
        raise InputError(f"{label} must be a finite number {bound}, got {value!r}")


@dataclass
class PolicyLossSettings:
    """Which policy loss, its clip ranges, and the KL and entropy terms added to it.

    loss: one of POLICY_LOSSES.  "grpo" ignores the clip settings; "gspo" applies clip_low/clip_high to
    its sequence ratio, whose natural scale is far smaller: the GSPO paper (Zheng et al. 2025,
    arXiv:2507.18071) uses clip_low = 3e-4 and clip_high = 4e-4, not PPO's 0.2.
    clip_low / clip_high: the ratio's clip range [1 - clip_low, 1 + clip_high] (PPO 0.2 / 0.2; DAPO's
    clip-higher, arXiv:2503.14476, uses 0.2 / 0.28).
    dual_clip: c > 1 (e.g. 3.0, Ye et al. 2020, arXiv:1912.09729) bounds the loss of A < 0 tokens whose
    ratio has grown past c; "ppo" only.
    cispo_max: CISPO's upper bound on its stop-gradient importance weight.  MiniMax-M1
    (arXiv:2506.13585) sets no lower bound and tunes only the upper one without publishing it; 5.0 is
    the bound of Meta's torchforge CISPOLoss (clip_high = 4.0 as an offset from 1, so 1 + 4 = 5;
    meta-pytorch/torchforge, src/forge/rl/loss/cispo.py).  Thinking Machines' Tinker caps at 4.0.
    kl_beta, kl_estimator: beta * k(logp, ref_logp) added per token (0 = off); which KL each estimator's
    gradient targets is derived in docs/rl.md (k3, the common choice, targets KL(ref || pi)).
    entropy_coef: the loss gets -entropy_coef * sum w H (an entropy bonus; 0 = off).
    These fields are ``GRPOConfig``'s too (it subclasses this class): declared once, here.
    """

    loss: str = "grpo"
    clip_low: float = 0.2
    clip_high: float = 0.2
    dual_clip: float | None = None
    cispo_max: float = 5.0
    kl_beta: float = 0.0
    kl_estimator: str = "k3"
    entropy_coef: float = 0.0

    def __post_init__(self):
        if self.loss not in POLICY_LOSSES:
            raise InputError(f"loss must be one of {', '.join(POLICY_LOSSES)}, got {self.loss!r}")
        _check_number("PolicyLossSettings.clip_low", self.clip_low, 0.0, below=1.0)
        _check_number("PolicyLossSettings.clip_high", self.clip_high, 0.0)
        if self.dual_clip is not None:
            _check_number("PolicyLossSettings.dual_clip", self.dual_clip, 1.0, strict=True)
            if self.loss != "ppo":
                raise InputError(f"PolicyLossSettings.dual_clip applies to loss 'ppo' only, "
                                 f"got loss {self.loss!r}")
        _check_number("PolicyLossSettings.cispo_max", self.cispo_max, 0.0, strict=True)
        _check_number("PolicyLossSettings.kl_beta", self.kl_beta, 0.0)
        if self.kl_estimator not in KL_ESTIMATORS:
            raise InputError(f"unknown kl_estimator {self.kl_estimator!r}; "
                             f"choose one of {', '.join(KL_ESTIMATORS)}")
        _check_number("PolicyLossSettings.entropy_coef", self.entropy_coef, 0.0)


@dataclass
class PolicyBatch:
    """The rows of one micro-batch; every (N, T) array is aligned with the model's targets.

    mask (N, T) bool: completion tokens in the loss.  weights (N, T): from ``aggregation_weights`` over
    the whole update's batch, sliced to these rows (0 outside mask).  advantages (N,).
    old_logp (N, T): log-prob of each token under the policy that sampled it (any value outside mask).
    ref_logp (N, T) or None: under a frozen reference model; required when kl_beta > 0.
    """

    mask: np.ndarray
    weights: np.ndarray
    advantages: np.ndarray
    old_logp: np.ndarray
    ref_logp: np.ndarray | None = None


# ---------------------------------------------------------------------------------------- the losses
def _clipped_objective(ratio, advantage, low: float, high: float, dual_clip: float | None):
    """PPO's pessimistic objective J = min(r A, clip(r, low, high) A) [dual: max(J, c A) where A < 0],
    its derivative dJ/dlog r (A r where J follows r A, 0 where a clip binds), and the binding masks.

    ratio and advantage broadcast together ((N, T) with (N, 1) for PPO, (N,) with (N,) for GSPO).
    """
    objective = np.minimum(ratio * advantage, np.clip(ratio, low, high) * advantage)
    clipped_high = (advantage > 0) & (ratio > high)  # the min picks (1 + clip_high) A, flat in r
    clipped_low = (advantage < 0) & (ratio < low)  # the min picks (1 - clip_low) A, flat in r
    flat = clipped_high | clipped_low
    clipped_dual = np.zeros_like(flat)
    if dual_clip is not None:
        clipped_dual = (advantage < 0) & (ratio > dual_clip)  # max(J, c A) picks c A, flat in r
        objective = np.where(advantage < 0, np.maximum(objective, dual_clip * advantage), objective)
        flat = flat | clipped_dual
    dobjective_dlog_ratio = np.where(flat, 0.0, advantage * ratio)
    return objective, dobjective_dlog_ratio, clipped_low, clipped_high, clipped_dual


def _batch_arrays(logp, batch: PolicyBatch, settings: PolicyLossSettings):
    """The batch's arrays on logp's device, checked against logp's (N, T) shape, garbage outside mask
    replaced by 0 before any arithmetic (so no inf or NaN can arise there)."""
    if getattr(logp, "ndim", None) != 2:
        raise InputError(f"logp must be a 2-D (N, T) array, got shape {getattr(logp, 'shape', None)}")
    shape = tuple(logp.shape)
    module = array_module_of(logp)

    def on_device(name, array, expected_shape):
        if array is None or tuple(getattr(array, "shape", ())) != expected_shape:
            got = None if array is None else getattr(array, "shape", type(array).__name__)
            raise InputError(f"PolicyBatch.{name} must have shape {expected_shape} (logp's rows), got {got}")
        return to_module(array, module)

    mask = on_device("mask", batch.mask, shape).astype(bool)
    weights = np.where(mask, on_device("weights", batch.weights, shape).astype(np.float64), 0.0)
    advantages = on_device("advantages", batch.advantages, shape[:1]).astype(np.float64)  # (N,)
    old_logp = np.where(mask, on_device("old_logp", batch.old_logp, shape).astype(np.float64), 0.0)
    ref_logp = None
    if batch.ref_logp is not None:
        ref_logp = np.where(mask, on_device("ref_logp", batch.ref_logp, shape).astype(np.float64), 0.0)
    elif settings.kl_beta > 0:
        raise InputError(f"kl_beta = {settings.kl_beta} needs PolicyBatch.ref_logp (the reference model's "
                         f"log-probs), got None")
    return mask, weights, advantages, old_logp, ref_logp


def policy_loss(logp, entropy, batch: PolicyBatch, settings: PolicyLossSettings):
    """-> (loss: float, dlogp (N, T) in logp's dtype, dentropy (N, T) or None, metrics: dict).

    With r = exp(logp - old_logp), A = the row's advantage, w = batch.weights, the loss is
    sum_{n,t} w * term plus the KL and entropy terms:
      grpo   term = -A logp.  Sequence-level GRPO / REINFORCE with a group baseline: with
             seq-mean-token-sum it is -mean_n A_n sum_t logp.  On-policy: old_logp is not used, so with
             several epochs per batch it is plain policy gradient at the current policy (no correction).
             dlogp = -w A.
      ppo    term = -min(r A, clip(r, 1 - clip_low, 1 + clip_high) A)  [dual clip, A < 0: -max(that, c A)].
             dlogp = -w A r, except exactly 0 where a clipped term binds: A > 0 and r > 1 + clip_high,
             A < 0 and r < 1 - clip_low, A < 0 and r > c (dual clip).
      gspo   s_n = exp(sum_t mask (logp - old_logp) / len_n); per sequence -min(s A, clip(s) A), weighted
             by the row weight W_n = sum_t w[n, t].  dlogp_t = -W_n A s_n / len_n, or 0 where clipped.
      cispo  term = -sg(min(r, cispo_max)) A logp: the importance weight is a constant (stop-gradient),
             so dlogp = -w min(r, cispo_max) A and no token's gradient is ever zeroed.
      KL     kl_beta * w * k with d = ref_logp - logp: k1 = -d, k2 = d^2 / 2, k3 = exp(d) - d - 1;
             dk/dlogp = 1, -d, 1 - exp(d).
      entropy  -entropy_coef * w * H; dentropy = -entropy_coef * w (None when entropy_coef == 0).
    entropy (N, T) or None; entropy_coef > 0 with entropy None raises InputError.

    metrics (sums over masked tokens, so a trainer adds micro-batches and divides):
      tokens        masked tokens
      ratio_sum     sum of r (gspo: each token counts its sequence's s_n)
      clipped_low   tokens whose lower clip binds (ppo/gspo: A < 0 and ratio < 1 - clip_low; else 0)
      clipped_high  tokens whose upper clip binds (ppo/gspo: A > 0 and ratio > 1 + clip_high;
                    cispo: r > cispo_max, any A; grpo 0)
      clipped_dual  tokens where the dual clip binds (ppo with dual_clip: A < 0 and r > c; else 0)
      kl_sum        sum of the k3 estimate of KL(pi || ref), whatever the estimator (when ref_logp given)
      entropy_sum   sum of H (when entropy given)
    """
    mask, weights, advantages, old_logp, ref_logp = _batch_arrays(logp, batch, settings)
    if settings.entropy_coef > 0 and entropy is None:
        raise InputError(f"entropy_coef = {settings.entropy_coef} needs the entropy (N, T); got None "
                         f"(run the model's log-prob op with with_entropy=True)")
    if entropy is not None and tuple(getattr(entropy, "shape", ())) != tuple(logp.shape):
        raise InputError(f"entropy must have logp's shape {tuple(logp.shape)}, "
                         f"got {getattr(entropy, 'shape', None)}")
    log_probs = np.where(mask, logp.astype(np.float64), 0.0)  # (N, T), float64 for the sums
    log_ratio = log_probs - old_logp  # (N, T), 0 outside mask
    ratio = np.exp(log_ratio)  # (N, T), 1 outside mask
    advantage = advantages[:, None]  # (N, 1)
    low, high = 1.0 - settings.clip_low, 1.0 + settings.clip_high
    no_tokens = np.zeros_like(mask)
    clipped_low = clipped_high = clipped_dual = no_tokens
    ratio_per_token = ratio

    if settings.loss == "grpo":
        loss = -np.sum(weights * advantage * log_probs)
        dlogp = -weights * advantage
    elif settings.loss == "ppo":
        objective, dobjective, clipped_low, clipped_high, clipped_dual = _clipped_objective(
            ratio, advantage, low, high, settings.dual_clip)
        loss = -np.sum(weights * objective)
        dlogp = -weights * dobjective  # d ratio / d logp = ratio, already inside dobjective
    elif settings.loss == "gspo":
        lengths = np.maximum(mask.sum(axis=1), 1)  # (N,); an empty row has log s = 0 and weight 0
        sequence_ratio = np.exp(log_ratio.sum(axis=1) / lengths)  # (N,) s_n
        row_weights = weights.sum(axis=1)  # (N,) W_n
        objective, dobjective, low_rows, high_rows, _ = _clipped_objective(
            sequence_ratio, advantages, low, high, None)
        loss = -np.sum(row_weights * objective)
        # d log s_n / d logp_t = 1 / len_n on the row's masked tokens
        dlogp = np.where(mask, (-row_weights * dobjective / lengths)[:, None], 0.0)
        clipped_low, clipped_high = mask & low_rows[:, None], mask & high_rows[:, None]
        ratio_per_token = np.where(mask, sequence_ratio[:, None], 0.0)
    else:  # cispo
        importance_weight = np.minimum(ratio, settings.cispo_max)  # a constant in the gradient (sg)
        loss = -np.sum(weights * importance_weight * advantage * log_probs)
        dlogp = -weights * importance_weight * advantage
        clipped_high = ratio > settings.cispo_max

    if settings.kl_beta > 0:
        difference = ref_logp - log_probs  # (N, T) d, 0 outside mask
        if settings.kl_estimator == "k1":
            estimate, destimate = -difference, np.ones_like(difference)
        elif settings.kl_estimator == "k2":
            estimate, destimate = 0.5 * difference * difference, -difference
        else:
            expm1 = np.expm1(difference)  # exp(d) - 1, accurate near d = 0
            estimate, destimate = expm1 - difference, -expm1
        loss = loss + settings.kl_beta * np.sum(weights * estimate)
        dlogp = dlogp + settings.kl_beta * weights * destimate

    dentropy = None
    if entropy is not None:
        entropy_values = np.where(mask, to_module(entropy, array_module_of(logp)).astype(np.float64), 0.0)
        if settings.entropy_coef > 0:
            loss = loss - settings.entropy_coef * np.sum(weights * entropy_values)
            dentropy = (-settings.entropy_coef * weights).astype(entropy.dtype)

    metrics = {
        "tokens": int(mask.sum()),
        "ratio_sum": float(np.sum(np.where(mask, ratio_per_token, 0.0))),
        "clipped_low": int(np.sum(mask & clipped_low)),
        "clipped_high": int(np.sum(mask & clipped_high)),
        "clipped_dual": int(np.sum(mask & clipped_dual)),
    }
    if ref_logp is not None:
        difference = ref_logp - log_probs
        metrics["kl_sum"] = float(np.sum(np.expm1(difference) - difference))  # 0 outside mask
    if entropy is not None:
        metrics["entropy_sum"] = float(np.sum(entropy_values))
    return float(loss), dlogp.astype(logp.dtype), dentropy, metrics


def kl_reward_penalty(old_logp, ref_logp, mask, beta) -> np.ndarray:
    """(N,) float64: beta * sum_t mask (old_logp - ref_logp), the k1 estimate of KL(pi_old || ref) of each
    sampled sequence, to subtract from its reward before advantages are computed (instead of a KL loss term).

    As a reward, the score-function gradient E[k1 grad log pi(y)] is an unbiased gradient of the
    sequence-level KL(pi || ref) on-policy (docs/rl.md); values outside mask are ignored.
    """
    _check_number("kl_reward_penalty beta", beta, 0.0)
    if getattr(mask, "ndim", None) != 2:
        raise InputError(f"mask must be a 2-D (N, T) array, got shape {getattr(mask, 'shape', None)}")
    shape = tuple(mask.shape)
    for name, array in (("old_logp", old_logp), ("ref_logp", ref_logp)):
        if tuple(getattr(array, "shape", ())) != shape:
            raise InputError(f"{name} must have the mask's shape {shape}, "
                             f"got {getattr(array, 'shape', None)}")
    mask = mask.astype(bool)
    old = np.where(mask, old_logp.astype(np.float64), 0.0)  # (N, T), garbage outside mask dropped first
    ref = np.where(mask, ref_logp.astype(np.float64), 0.0)  # (N, T)
    return beta * (old - ref).sum(axis=1)  # (N,)
