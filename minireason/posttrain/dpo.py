"""Preference tuning against a frozen reference: DPO's sigmoid loss or IPO's squared loss (derivations:
docs/distillation.md), and the preference trainer other pairwise methods plug into (simpo.py).

One step of :class:`PreferenceTrainer`: batch_size pairs ─▶ micro-batches, chosen and rejected rows
of each in one packed batch ─▶ logp ─sequence sums (and lengths)─▶ the method's ``pair_loss`` ─▶
dlogp ─▶ one optimizer update (training/step.py).  A method is its config (fields with a ``help``
in their metadata become ``minireason <method>`` flags), its ``pair_loss`` and whether it needs the
frozen reference; ``minireason.cli.preference`` runs any of them by the module's ``TRAINER``.

DPO is a function of each sequence's summed log-probability, so it goes through the per-token seam
``Qwen3Model.token_loss_and_grads``: dlogp[b, t] = mask[b, t] dL/dsum_b.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from minireason.device import array_module_of, to_host, to_module
from minireason.errors import InputError
from minireason.generation.generate import pad_token_id
from minireason.generation.sequences import pack_completions
from minireason.identity import weights_sha256
from minireason.nn.swiglu import sigmoid
from minireason.posttrain.data import LengthBuckets, load_pairs, micro_batches, trimmed
from minireason.posttrain.reference import FrozenReference, check_reference
from minireason.posttrain.run import run_method
from minireason.posttrain.sft import SFTConfig
from minireason.training.loop import Trainer
from minireason.training.step import training_step

PREFERENCE_LOSSES = ("sigmoid", "ipo")


@dataclass
class DPOConfig(SFTConfig):
    """SFT's settings (batch_size and micro_batch_size count pairs) and the preference loss's."""

    loss: str = field(default="sigmoid", metadata={
        "help": "sigmoid (DPO: -log sigmoid(beta * margin)) or ipo ((margin - 1/(2 beta))^2)"})
    beta: float = field(default=0.1, metadata={
        "help": "strength of the pull towards the reference (DPO's beta, IPO's tau)"})
    learning_rate: float = 1e-4
    schedule: str = "constant"

    def __post_init__(self):
        super().__post_init__()
        if self.loss not in PREFERENCE_LOSSES:
            raise InputError(f"loss must be one of {', '.join(PREFERENCE_LOSSES)}, got {self.loss!r}")
        if not (isinstance(self.beta, (int, float)) and self.beta > 0):
            raise InputError(f"beta must be a number > 0, got {self.beta!r}")


def preference_loss(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta: float,
                    loss: str = "sigmoid", normaliser: int | None = None):
    """DPO's sigmoid loss or IPO's squared loss of sequence log-probabilities, and the gradient.

    Each argument is (n,): the summed log-probability of a pair's chosen / rejected completion under
    the policy and under the frozen reference.  With h = (logp_c - ref_c) - (logp_r - ref_r):

        sigmoid  L = 1/N sum_i -log sigmoid(beta h_i),    dL/dh_i = -beta sigmoid(-beta h_i) / N
        ipo      L = 1/N sum_i (h_i - 1 / (2 beta))^2,    dL/dh_i = 2 (h_i - 1 / (2 beta)) / N

    and dL/dlogp_c = dL/dh, dL/dlogp_r = -dL/dh.  N = ``normaliser`` (default n: the mean over
    these pairs; a micro-batch of a larger update passes the update's pair count).
    Returns (loss, dchosen (n,), drejected (n,), figures) with the implicit rewards
    beta (logp - ref) of both completions, their margin and the preference accuracy (margin > 0).
    """
    if loss not in PREFERENCE_LOSSES:
        raise InputError(f"preference loss must be one of {', '.join(PREFERENCE_LOSSES)}, got {loss!r}")
    if not (isinstance(beta, (int, float)) and beta > 0):
        raise InputError(f"preference beta must be a number > 0, got {beta!r}")
    policy_chosen, policy_rejected = np.asarray(policy_chosen, np.float64), np.asarray(policy_rejected, np.float64)
    h = (policy_chosen - np.asarray(reference_chosen, np.float64)) - (
        policy_rejected - np.asarray(reference_rejected, np.float64))  # (n,)
    n = len(h)
    normaliser = n if normaliser is None else normaliser
    if loss == "sigmoid":
        values = np.logaddexp(0.0, -beta * h)  # -log sigmoid(beta h)
        dh = -beta * sigmoid(-beta * h) / normaliser
    else:
        values = (h - 1.0 / (2.0 * beta)) ** 2
        dh = 2.0 * (h - 1.0 / (2.0 * beta)) / normaliser
    chosen_reward = beta * (policy_chosen - np.asarray(reference_chosen, np.float64))
    rejected_reward = beta * (policy_rejected - np.asarray(reference_rejected, np.float64))
    figures = {"pairs": n, "reward_chosen_sum": float(chosen_reward.sum()),
               "reward_rejected_sum": float(rejected_reward.sum()), "reward_margin_sum": float(beta * h.sum()),
               "preference_correct": int(np.sum(h > 0))}
    return float(values.sum() / normaliser), dh, -dh, figures


def sequence_logprob_sums(logp, loss_mask) -> np.ndarray:
    """sum_t mask[b, t] logp[b, t] for each row b, as float64 (N,)."""
    module = array_module_of(logp)
    mask = module.asarray(loss_mask).astype(bool)
    return to_host(np.sum(np.where(mask, logp, 0.0), axis=-1)).astype(np.float64)


def sequence_loss_fn(loss_mask, pair_loss):
    """``loss_fn(logp, entropy)`` for ``Qwen3Model.token_loss_and_grads`` over a batch of 2n rows: the n
    chosen completions, then the n rejected ones, of the same n prompts in the same order.

    loss_mask (2n, T) marks completion tokens; ``pair_loss(sums (2n,)) -> (loss, dsums (2n,), metrics)``
    is the method's loss of the rows' summed log-probabilities.  dlogp[b, t] = mask[b, t] dsums[b].
    """

    def loss_fn(logp, entropy=None):
        module = array_module_of(logp)
        value, dsums, metrics = pair_loss(sequence_logprob_sums(logp, loss_mask))
        dsums = module.asarray(dsums.astype(logp.dtype))  # (2n,)
        dlogp = module.asarray(loss_mask).astype(logp.dtype) * dsums[:, None]  # (2n, T)
        return value, dlogp, None, metrics

    return loss_fn


def preference_loss_fn(loss_mask, reference_sums, beta: float, loss: str = "sigmoid",
                       normaliser: int | None = None):
    """DPO / IPO as a token-seam loss function (:func:`sequence_loss_fn` of :func:`preference_loss`);
    reference_sums (2n,) the reference model's summed log-probabilities of the same rows.  Its
    metrics are those of :func:`preference_loss`."""

    def pair_loss(sums):
        n = len(sums) // 2
        value, dchosen, drejected, metrics = preference_loss(sums[:n], sums[n:], reference_sums[:n],
                                                             reference_sums[n:], beta, loss, normaliser)
        return value, np.concatenate([dchosen, drejected]), metrics

    return sequence_loss_fn(loss_mask, pair_loss)


class PreferenceTrainer(Trainer):
    """Pairwise preference tuning, DPO (sigmoid) or IPO by default, against a frozen reference: the
    policy's starting weights.  A method without a reference sets ``needs_reference = False`` and
    overrides ``pair_loss`` and ``validation_pair_loss``."""

    needs_reference = True
    REFERENCE_CHUNK = 64  # pairs whose reference log-probabilities are computed together (and cached)

    def __init__(self, model, tokenizer, train, validation, config, reference=None):
        self.tokenizer, self.train, self.validation, self.config = tokenizer, train, validation, config
        self.reference = FrozenReference(model, reference) if self.needs_reference else None
        self.buckets = LengthBuckets(train.lengths, config.length_buckets)
        self.pad_id = pad_token_id(tokenizer, model)
        self._reference_sums = ({}, {})  # (train, validation): chunk index -> (chosen (c,), rejected (c,))

    @property
    def reference_sha256(self) -> str | None:
        return self.reference.sha256 if self.reference is not None else None

    def state_dict(self) -> dict:
        return self.reference.state_dict() if self.reference is not None else {}

    def load_state_dict(self, state: dict) -> None:
        check_reference(state, self.reference_sha256)

    def _pack(self, pairs, rows):
        """Chosen rows then rejected rows of the given pairs, packed into one batch (2n, T)."""
        prompts = [pairs.prompt_ids[i] for i in rows]
        completions = [pairs.chosen_ids[i] for i in rows] + [pairs.rejected_ids[i] for i in rows]
        return trimmed(pack_completions(prompts + prompts, completions, self.pad_id), slice(None))

    def _reference(self, which: int, rows) -> np.ndarray:
        """The reference's summed log-probabilities (2n,) of the rows' chosen then rejected completions.
        Computed a fixed chunk of pairs at a time, so a value never depends on which batch asked first
        (a resumed run reads exactly the numbers an uninterrupted one did)."""
        pairs = (self.train, self.validation)[which]
        cache = self._reference_sums[which]
        for chunk in sorted({int(row) // self.REFERENCE_CHUNK for row in rows} - set(cache)):
            members = range(chunk * self.REFERENCE_CHUNK, min((chunk + 1) * self.REFERENCE_CHUNK, len(pairs)))
            input_ids, targets, loss_mask, attention_mask = self._pack(pairs, list(members))
            logp, _ = self.reference.model.token_logprobs(input_ids, targets, attention_mask, loss_mask=loss_mask)
            sums = sequence_logprob_sums(logp, loss_mask)
            cache[chunk] = (sums[:len(members)], sums[len(members):])
        chosen = [cache[int(row) // self.REFERENCE_CHUNK][0][int(row) % self.REFERENCE_CHUNK] for row in rows]
        rejected = [cache[int(row) // self.REFERENCE_CHUNK][1][int(row) % self.REFERENCE_CHUNK] for row in rows]
        return np.array(chosen + rejected, dtype=np.float64)

    def pair_loss(self, loss_mask, reference_sums, normaliser: int):
        """The token-seam loss function of a micro-batch of pairs; ``normaliser``: the update's pair count."""
        config = self.config
        return preference_loss_fn(loss_mask, reference_sums, config.beta, config.loss, normaliser=normaliser)

    def validation_pair_loss(self, chosen, rejected, reference_chosen, reference_rejected, lengths):
        """(loss, figures) of all validation pairs' sequence sums at once."""
        loss, _, _, figures = preference_loss(chosen, rejected, reference_chosen, reference_rejected,
                                              self.config.beta, self.config.loss)
        return loss, figures

    def step(self, model, rng: np.random.Generator, step: int, apply_update) -> tuple[float, dict]:
        config = self.config
        started = time.perf_counter()
        rows = self.buckets.draw(rng, config.batch_size)

        def part_loss(part):
            input_ids, targets, loss_mask, attention_mask = self._pack(self.train, rows[part])
            reference_sums = self._reference(0, rows[part]) if self.reference is not None else None
            loss_fn = self.pair_loss(to_module(loss_mask, model.array_module), reference_sums, len(rows))
            loss, grads, figures = model.token_loss_and_grads(input_ids, targets, loss_fn, loss_mask, attention_mask)
            return loss, grads, {**figures, "tokens": int(attention_mask.sum())}

        loss, figures = training_step(micro_batches(len(rows), config.micro_batch_size), part_loss, apply_update)
        seconds = time.perf_counter() - started
        n = len(rows)
        return loss, {"reward_chosen": figures["reward_chosen_sum"] / n,
                      "reward_rejected": figures["reward_rejected_sum"] / n,
                      "reward_margin": figures["reward_margin_sum"] / n,
                      "preference_accuracy": figures["preference_correct"] / n,
                      "tokens": figures["tokens"], "tokens_per_second": figures["tokens"] / max(seconds, 1e-9),
                      "step_seconds": seconds}

    def validation_figures(self, model) -> dict:
        count = min(len(self.validation), self.config.validation_max_examples)
        if count == 0:
            return {}
        policy, reference, lengths = [], [], []
        for part in micro_batches(count, self.config.micro_batch_size):
            rows = np.arange(count)[part]
            input_ids, targets, loss_mask, attention_mask = self._pack(self.validation, rows)
            logp, _ = model.token_logprobs(input_ids, targets, attention_mask, loss_mask=loss_mask)
            sums = sequence_logprob_sums(logp, loss_mask)
            policy.append((sums[:len(rows)], sums[len(rows):]))
            counts = loss_mask.sum(axis=1)
            lengths.append((counts[:len(rows)], counts[len(rows):]))
            reference.append(self._reference(1, rows) if self.reference is not None else np.zeros(2 * len(rows)))
        chosen, rejected = np.concatenate([p[0] for p in policy]), np.concatenate([p[1] for p in policy])
        reference_chosen = np.concatenate([r[:len(r) // 2] for r in reference])
        reference_rejected = np.concatenate([r[len(r) // 2:] for r in reference])
        lengths = (np.concatenate([c for c, _ in lengths]), np.concatenate([r for _, r in lengths]))
        loss, figures = self.validation_pair_loss(chosen, rejected, reference_chosen, reference_rejected, lengths)
        return {"validation_loss": loss, "validation_reward_margin": figures["reward_margin_sum"] / count,
                "validation_preference_accuracy": figures["preference_correct"] / count}


def train_preference(model, tokenizer, pairs, config, out_dir, eval_records: list[dict] | None = None,
                     resume: bool = True, progress: bool = True, run_identity: dict | None = None, log=None,
                     trainer_class=PreferenceTrainer, name: str = "dpo") -> dict:
    """Any pairwise preference method (``trainer_class`` with its config) on preference pairs; files and
    history as :func:`minireason.posttrain.sft.train_sft`."""
    train_set, validation, report = load_pairs(pairs, tokenizer, config.prompt_format, config.max_tokens,
                                               config.validation_fraction)
    trainer = trainer_class(model, tokenizer, train_set, validation, config)
    initial = trainer.reference_sha256 if trainer.reference is not None else weights_sha256(model.params)
    identity = {name: config.identity(), "initial_weights_sha256": initial,
                "train_data_sha256": train_set.fingerprint(), **(run_identity or {})}
    return run_method(model, tokenizer, trainer, config, out_dir, eval_records, resume, progress, identity, report,
                      log)


def train_dpo(model, tokenizer, pairs, config: DPOConfig, out_dir, eval_records: list[dict] | None = None,
              resume: bool = True, progress: bool = True, run_identity: dict | None = None, log=None) -> dict:
    """DPO (``config.loss="sigmoid"``) or IPO of ``model`` (in place) on preference pairs, against a
    frozen copy of its starting weights.  Metrics add the implicit rewards of chosen and rejected
    completions, their margin and the preference accuracy.  Files and history as
    :func:`minireason.posttrain.sft.train_sft`."""
    return train_preference(model, tokenizer, pairs, config, out_dir, eval_records, resume, progress, run_identity,
                            log, PreferenceTrainer, "dpo")


TRAINER = PreferenceTrainer  # what ``minireason dpo`` runs
CONFIG = DPOConfig
