"""SimPO (Meng et al. 2024, arXiv:2405.14734): reference-free preference tuning with a length-normalised
implicit reward and a target margin (derivation: docs/distillation.md, "SimPO").

With S the summed log-probability of a completion under the policy and L its token count, the
implicit reward is the average log-probability r = beta S / L, and for a pair (chosen c, rejected r)

    h = beta (S_c / L_c - S_r / L_r) - gamma,        loss = 1/N sum_pairs -log sigmoid(h)

No frozen reference: the reward is the policy's own, and dividing by the length keeps a long
completion from winning by its length alone.  A method on the preference trainer (dpo.py):
this file is its config, its loss and its gradient, and ``minireason simpo`` runs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from minireason.device import to_host
from minireason.errors import InputError
from minireason.posttrain.dpo import PreferenceTrainer, sequence_loss_fn
from minireason.posttrain.sft import SFTConfig


@dataclass
class SimPOConfig(SFTConfig):
    """SFT's settings (batch_size and micro_batch_size count pairs) and SimPO's beta and gamma."""

    beta: float = field(default=2.0, metadata={"help": "scale of the length-normalised reward beta * mean logp"})
    gamma: float = field(default=1.0, metadata={"help": "target reward margin between chosen and rejected (>= 0)"})
    learning_rate: float = 1e-4
    schedule: str = "constant"

    def __post_init__(self):
        super().__post_init__()
        if isinstance(self.beta, bool) or not (isinstance(self.beta, (int, float)) and self.beta > 0):
            raise InputError(f"beta must be a number > 0, got {self.beta!r}")
        if isinstance(self.gamma, bool) or not (isinstance(self.gamma, (int, float)) and self.gamma >= 0):
            raise InputError(f"gamma must be a number >= 0, got {self.gamma!r}")


def simpo_loss(policy_chosen, policy_rejected, length_chosen, length_rejected, beta: float, gamma: float,
               normaliser: int | None = None):
    """SimPO's loss of sequence log-probabilities, and its gradient.

    policy_chosen, policy_rejected (n,): summed log-probabilities S of each pair's completions;
    length_chosen, length_rejected (n,): their token counts L (>= 1).  With
    h_i = beta (S_c / L_c - S_r / L_r) - gamma and N = ``normaliser`` (default n):

        L = 1/N sum_i -log sigmoid(h_i),     dL/dh_i = -sigmoid(-h_i) / N,
        dL/dS_c = dL/dh beta / L_c,          dL/dS_r = -dL/dh beta / L_r.

    Returns (loss, dchosen (n,), drejected (n,), figures) with the rewards beta S / L of both
    completions, their margin and the preference accuracy (margin > 0), summed over the pairs.
    """
    policy_chosen, policy_rejected = np.asarray(policy_chosen, np.float64), np.asarray(policy_rejected, np.float64)
    length_chosen = np.asarray(length_chosen, np.float64)
    length_rejected = np.asarray(length_rejected, np.float64)
    if np.any(length_chosen < 1) or np.any(length_rejected < 1):
        raise InputError("simpo: every completion needs at least one token (its reward is a mean over them)")
    n = len(policy_chosen)
    normaliser = n if normaliser is None else normaliser
    reward_chosen = beta * policy_chosen / length_chosen  # (n,)
    reward_rejected = beta * policy_rejected / length_rejected  # (n,)
    margin = reward_chosen - reward_rejected
    h = margin - gamma
    values = np.logaddexp(0.0, -h)  # -log sigmoid(h)
    dh = -0.5 * (1.0 + np.tanh(-0.5 * h)) / normaliser  # -sigmoid(-h) / N, no overflow
    figures = {"pairs": n, "reward_chosen_sum": float(reward_chosen.sum()),
               "reward_rejected_sum": float(reward_rejected.sum()), "reward_margin_sum": float(margin.sum()),
               "preference_correct": int(np.sum(margin > 0))}
    return float(values.sum() / normaliser), dh * beta / length_chosen, -dh * beta / length_rejected, figures


class SimPOTrainer(PreferenceTrainer):
    """The preference trainer with SimPO's loss and no reference model."""

    needs_reference = False

    def pair_loss(self, loss_mask, reference_sums, normaliser: int):
        lengths = to_host(loss_mask.sum(axis=1))  # (2n,) completion tokens per row
        n = len(lengths) // 2

        def pair_loss(sums):
            value, dchosen, drejected, figures = simpo_loss(sums[:n], sums[n:], lengths[:n], lengths[n:],
                                                            self.config.beta, self.config.gamma, normaliser)
            return value, np.concatenate([dchosen, drejected]), figures

        return sequence_loss_fn(loss_mask, pair_loss)

    def validation_pair_loss(self, chosen, rejected, reference_chosen, reference_rejected, lengths):
        loss, _, _, figures = simpo_loss(chosen, rejected, lengths[0], lengths[1], self.config.beta, self.config.gamma)
        return loss, figures


TRAINER = SimPOTrainer  # what ``minireason simpo`` runs
CONFIG = SimPOConfig
