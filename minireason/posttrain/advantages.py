"""Group-relative advantages: how much better one sampled completion did than its siblings.

A batch holds P prompts with G sampled completions each, as N = P * G consecutive rows (one
prompt's samples side by side). The group's own rewards are the baseline, so no value model is
needed. Three modes:

- ``"group"``: GRPO (Shao et al. 2024, DeepSeekMath, arXiv:2402.03300, eq. in sec. 4.1.2):
  ``A_i = (R_i - mean_g) / (std_g + eps)``; with ``scale_by_std=False`` only the mean is subtracted.
- ``"rloo"``: REINFORCE leave-one-out (Kool et al. 2019; Ahmadian et al. 2024, "Back to Basics",
  arXiv:2402.14740): ``A_i = R_i - mean_{j != i} R_j``, which equals ``G / (G - 1) * (R_i - mean_g)``.
  The baseline of a sample does not contain the sample itself, so the estimate stays unbiased.
- ``"dr"``: Dr. GRPO (Liu et al. 2025, "Understanding R1-Zero-Like Training", arXiv:2503.20783):
  ``A_i = R_i - mean_g``, never divided by the std; dividing by it weights questions that are too
  easy or too hard (small std) more than the others.

A group whose rewards are all equal carries no learning signal: its advantages are exactly 0 in
every mode (set explicitly, not left to ``0 / eps`` of rounding residues, which can be ~1e-11).
``batch_normalize`` then rescales the whole batch, as GDPO (arXiv:2601.05242) does after summing
its per-reward advantages and as DLER / TRL's ``scale_rewards="batch"`` do.
"""

from __future__ import annotations

import numbers

import numpy as np

from minireason.errors import InputError

ADVANTAGE_MODES = ("group", "rloo", "dr")


def _check_group_size(group_size, minimum: int, where: str) -> int:
    if isinstance(group_size, bool) or not isinstance(group_size, numbers.Integral) or group_size < minimum:
        raise InputError(f"{where}: argument 'group_size': expected an int >= {minimum}, got {group_size!r}")
    return int(group_size)


def _grouped_rewards(rewards, group_size: int, where: str) -> np.ndarray:
    """``rewards`` (N,) as float64 (P, G); InputError for a bad shape, a ragged batch or a non-finite reward."""
    try:
        values = np.asarray(rewards, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{where}: argument 'rewards': expected a 1-D array of numbers") from None
    if values.ndim != 1:
        raise InputError(f"{where}: argument 'rewards': expected a 1-D array (N,), got shape {values.shape}")
    if values.size == 0:
        raise InputError(f"{where}: argument 'rewards': expected at least one group, got an empty array")
    if values.size % group_size != 0:
        raise InputError(f"{where}: len(rewards) = {values.size} is not a multiple of group_size = {group_size}; "
                         "rows must come as consecutive groups of one prompt's samples")
    if not np.all(np.isfinite(values)):
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise InputError(f"{where}: argument 'rewards': row {bad} is {values[bad]!r}; rewards must be finite")
    return values.reshape(-1, group_size)  # (P, G)


def _check_eps(eps, where: str) -> float:
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not (np.isfinite(eps) and eps > 0):
        raise InputError(f"{where}: argument 'eps': expected a finite number > 0, got {eps!r}")
    return float(eps)


def zero_variance_groups(rewards, group_size: int) -> np.ndarray:
    """(P,) bool: the groups whose rewards are all equal (every advantage would be 0: no learning signal).

    DAPO's dynamic sampling drops these groups and samples more prompts instead.
    """
    group_size = _check_group_size(group_size, 1, "zero_variance_groups")
    grouped = _grouped_rewards(rewards, group_size, "zero_variance_groups")  # (P, G)
    return np.all(grouped == grouped[:, :1], axis=1)  # (P,)


def group_advantages(rewards, group_size: int, mode: str = "group", scale_by_std: bool = True,
                     batch_normalize: bool = False, eps: float = 1e-6) -> np.ndarray:
    """Advantages (N,) float64 of rewards (N,) that come in consecutive groups of ``group_size``.

    ``mode="group"`` divides by the **sample** std of the group (Bessel-corrected, ``ddof=1``),
    which is what the reference implementations compute: TRL's GRPOTrainer and verl's
    ``compute_grpo_outcome_advantage`` both call ``torch.std``, unbiased by default. For G = 2
    and rewards (0, 1) the advantages are then (-1/sqrt 2, +1/sqrt 2), not (-1, +1).
    ``scale_by_std`` is ignored by ``"rloo"`` and ``"dr"`` (neither divides by the std).
    ``batch_normalize`` afterwards computes ``(A - mean(A)) / (std(A) + eps)`` over all N rows,
    again with the sample std.

    A group of one sample has no baseline but its own reward (its advantage would always be 0),
    so ``group_size`` must be at least 2.
    """
    where = "group_advantages"
    if mode not in ADVANTAGE_MODES:
        raise InputError(f"{where}: argument 'mode': expected one of {ADVANTAGE_MODES}, got {mode!r}")
    if isinstance(group_size, numbers.Integral) and not isinstance(group_size, bool) and group_size == 1:
        raise InputError(f"{where}: group_size = 1 leaves no group baseline (each sample's mean is its own "
                         "reward, so every advantage is 0); sample at least 2 completions per prompt")
    group_size = _check_group_size(group_size, 2, where)
    eps = _check_eps(eps, where)
    grouped = _grouped_rewards(rewards, group_size, where)  # (P, G)

    group_mean = grouped.mean(axis=1, keepdims=True)  # (P, 1)
    centered = grouped - group_mean  # (P, G)
    if mode == "group":
        advantages = centered / (grouped.std(axis=1, ddof=1, keepdims=True) + eps) if scale_by_std else centered
    elif mode == "rloo":
        # R_i - (sum_g - R_i) / (G - 1) = G / (G - 1) * (R_i - mean_g)
        advantages = centered * (group_size / (group_size - 1))
    else:  # "dr"
        advantages = centered
    constant = np.all(grouped == grouped[:, :1], axis=1)  # (P,)
    advantages[constant] = 0.0
    advantages = advantages.reshape(-1)  # (N,)

    if batch_normalize:
        spread = advantages.std(ddof=1)
        advantages = (advantages - advantages.mean()) / (spread + eps)
        if spread == 0.0:  # every advantage equal (e.g. all groups constant): no signal, exactly 0
            advantages = np.zeros_like(advantages)
    return advantages


def group_statistics(rewards, group_size: int) -> dict:
    """What to log about a batch's rewards.

    ``reward_mean`` and ``reward_std`` are over all N rows (``reward_std`` is the population std,
    ``ddof=0``: it describes this batch and stays defined for N = 1); ``zero_std_fraction`` is the
    share of groups whose rewards are all equal (they contribute no gradient).
    """
    group_size = _check_group_size(group_size, 1, "group_statistics")
    grouped = _grouped_rewards(rewards, group_size, "group_statistics")  # (P, G)
    return {
        "reward_mean": float(grouped.mean()),
        "reward_std": float(grouped.std()),
        "zero_std_fraction": float(zero_variance_groups(grouped.reshape(-1), group_size).mean()),
    }
