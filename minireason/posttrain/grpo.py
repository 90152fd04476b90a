"""GRPO and its variants: reinforcement learning with verifiable rewards, on the shared training loop.

One step of :class:`GRPOTrainer`:

    P prompts ─sample G completions each (rollout.py)─▶ rewards (rewards.py, the one judge)
        ─▶ group advantages (advantages.py) ─▶ drop groups with no signal (optionally sample more)
        ─▶ epochs x minibatches optimizer updates; each is the one training step (training/step.py)
           over micro-batches weighted by the aggregation's weights of the whole update:
              model forward ─▶ logp, entropy (token log-prob op at the sampling temperature)
              ─▶ policy loss (policy_losses.py: grpo | ppo | gspo | cispo, + KL, + entropy)
              ─▶ dlogp and its metrics ─▶ model backward

The step accumulates and guards against non-finite losses; the loop (``minireason.training.loop``)
owns the optimizer, schedule, clipping, checkpoints, exact resume, Ctrl-C and metrics files.
The policy losses stay in policy_losses.py beside this file: they are a family of their own
(four losses, three KL estimators, the aggregations) with their own tests and derivation, used
without the trainer by examples and tests; this module is the config, the step and its bookkeeping.
:func:`train_grpo` is the Python API (the ``minireason grpo`` command is a thin layer over it).
Derivations and a comparison of the variants: docs/rl.md.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from minireason.errors import InputError
from minireason.evaluation.held_out import HeldOutEvaluation
from minireason.evaluation.prompts import PromptSpec
from minireason.generation.generate import pad_token_id
from minireason.generation.rollout import Rollouts, pack_rows, sample_groups, sample_rollouts
from minireason.identity import json_sha256, weights_sha256
from minireason.posttrain.advantages import (
    ADVANTAGE_MODES,
    group_advantages,
    group_statistics,
    zero_variance_groups,
)
from minireason.posttrain.policy_losses import (
    AGGREGATIONS,
    PolicyBatch,
    PolicyLossSettings,
    aggregation_weights,
    kl_reward_penalty,
    policy_loss,
)
from minireason.posttrain.reference import FrozenReference, check_reference
from minireason.posttrain.rewards import (
    RewardSpec,
    Rollout,
    compute_rewards,
    correctness_reward,
    parse_reward_spec,
)
from minireason.seeds import MAX_SEED
from minireason.training.config import TrainerConfig
from minireason.training.loop import Trainer
from minireason.training.metrics import MetricsWriter
from minireason.training.run import run_training
from minireason.training.step import add_metrics, training_step

LOSS_DEFAULT_AGGREGATION = {
    "grpo": "seq-mean-token-sum",  # the sequence-level objective -mean_i A_i sum_t log pi(o_it)
    "ppo": "token-mean",  # DAPO's token-level mean
    "gspo": "seq-mean-token-mean",  # GSPO averages sequences
    "cispo": "token-mean",
}


@dataclass
class GRPOConfig(TrainerConfig, PolicyLossSettings):
    """Every setting of a GRPO run (the CLI flags and the TOML file's keys have these names): the shared
    trainer settings (training/config.py), the policy loss's (``PolicyLossSettings``: loss, clip_low,
    clip_high, dual_clip, cispo_max, kl_beta, kl_estimator, entropy_coef) and GRPO's own."""

    prompts_per_step: int = 16  # P
    group_size: int = 8  # G
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    epochs: int = 1  # mu: passes over each batch of rollouts
    minibatches: int = 1  # optimizer updates per pass (the batch split into this many parts)
    micro_batch_size: int = 64  # rows per forward/backward (gradient accumulation bounds memory)
    kl_in_reward: bool = False  # fold the k1 estimate into the reward instead of a loss term
    advantage: str = "group"  # group | rloo | dr
    scale_by_std: bool = True  # group advantages divided by the group's std (not for rloo / dr)
    batch_normalize: bool = False
    aggregation: str | None = None  # None: the loss's default (LOSS_DEFAULT_AGGREGATION)
    reward: str = "correctness:1"
    reward_combine: str = "sum"  # sum | gdpo
    overlong_buffer: int = 0  # DAPO's soft overlong penalty ramp length (with the "overlong" reward)
    mask_truncated: bool = False  # completions that hit the length limit get no loss
    drop_zero_variance: bool = True  # groups whose rewards are all equal carry no signal
    dynamic_sampling: bool = False  # DAPO: sample more prompts until every group has signal
    max_sampling_tries: int = 4
    sample_every: int = 10
    samples_to_log: int = 4
    # the shared settings with GRPO's defaults
    steps: int = 100
    learning_rate: float = 1e-4
    warmup_steps: int = 0
    schedule: str = "constant"
    betas: tuple[float, float] = (0.9, 0.99)
    eval_every: int = 10
    eval_batch_size: int = 128
    checkpoint_every: int = 10

    BOOKKEEPING: ClassVar[tuple[str, ...]] = (*TrainerConfig.BOOKKEEPING, "sample_every", "samples_to_log")
    POSITIVE_INTS: ClassVar[tuple[str, ...]] = ("prompts_per_step", "group_size", "epochs", "minibatches",
                                                "micro_batch_size", "max_sampling_tries", "samples_to_log")
    NON_NEGATIVE_INTS: ClassVar[tuple[str, ...]] = ("sample_every", "overlong_buffer", "top_k")

    def __post_init__(self):
        TrainerConfig.__post_init__(self)
        PolicyLossSettings.__post_init__(self)  # the clip, KL and entropy settings, with the loss's own messages
        if self.advantage not in ADVANTAGE_MODES:
            raise InputError(f"advantage must be one of {', '.join(ADVANTAGE_MODES)}, got {self.advantage!r}")
        if self.aggregation is not None and self.aggregation not in AGGREGATIONS:
            raise InputError(f"aggregation must be one of {', '.join(AGGREGATIONS)}, got {self.aggregation!r}")
        if self.group_size < 2:
            raise InputError(f"group_size {self.group_size}: a group baseline ({self.advantage}) needs at least 2 "
                             f"completions per prompt")
        if self.minibatches > self.prompts_per_step:
            raise InputError(f"minibatches ({self.minibatches}) cannot exceed prompts_per_step ({self.prompts_per_step})")
        if not (isinstance(self.temperature, (int, float)) and self.temperature > 0):
            raise InputError(f"temperature must be > 0 for sampling rollouts, got {self.temperature!r}")
        if self.reward_combine not in ("sum", "gdpo"):
            raise InputError(f"reward_combine must be sum or gdpo, got {self.reward_combine!r}")
        if self.kl_in_reward and self.kl_beta <= 0:
            raise InputError("kl_in_reward needs kl_beta > 0")

    @property
    def aggregation_mode(self) -> str:
        if self.aggregation is not None:
            return self.aggregation
        return "seq-mean-token-sum-norm" if self.advantage == "dr" else LOSS_DEFAULT_AGGREGATION[self.loss]

    def loss_settings(self) -> PolicyLossSettings:
        """The policy loss's settings of this run (no KL loss term when the KL is folded into the reward)."""
        values = {field.name: getattr(self, field.name) for field in dataclasses.fields(PolicyLossSettings)}
        return PolicyLossSettings(**{**values, "kl_beta": 0.0 if self.kl_in_reward else self.kl_beta})


@dataclass(frozen=True)
class GroupRewards:
    """The rewards (N,) and their components of whole groups of rollouts, as a step computes them: a plain
    callable that a rollout actor runs on the groups it drew."""

    spec: RewardSpec
    group_size: int
    max_new_tokens: int
    overlong_buffer: int
    custom: dict
    combine: str

    def __call__(self, rollouts: Rollouts) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        items = [Rollout(record=record, prompt=prompt, completion=completion, num_tokens=len(ids),
                         truncated=bool(cut))
                 for record, prompt, completion, ids, cut in zip(rollouts.records, rollouts.prompts,
                                                                 rollouts.completions, rollouts.completion_ids,
                                                                 rollouts.truncated)]
        rewards, components = compute_rewards(items, self.spec, self.group_size, self.max_new_tokens,
                                              overlong_buffer=self.overlong_buffer, custom=self.custom,
                                              combine=self.combine)
        if "correctness" not in components:  # accuracy is always reported
            components = {**components, "_correct": np.array([correctness_reward(item) for item in items])}
        return np.asarray(rewards, dtype=np.float64), components


class GRPOTrainer(Trainer):
    """The GRPO step on the shared loop (see the module docstring)."""

    def __init__(self, model, tokenizer, train_records: list[dict], config: GRPOConfig, out_dir=None,
                 custom_rewards: dict | None = None, reference=None, log=None, rollout_executor=None):

        if not train_records:
            raise InputError("training data: expected at least one problem, got none")
        for index, record in enumerate(train_records):
            if not isinstance(record.get("problem"), str) or not isinstance(record.get("answer"), str) \
                    or not record["answer"].strip():
                raise InputError(f"training data: problem {index} has no answer to check rewards against "
                                 f"(each record needs non-empty 'problem' and 'answer' strings)")
        self.model, self.tokenizer, self.config = model, tokenizer, config
        self.records = train_records
        prompt_spec = PromptSpec("cot", config.prompt_format)
        self.prompts = [prompt_spec.text(record["problem"]) for record in train_records]
        self.custom_rewards = dict(custom_rewards or {})
        self.reward_spec = parse_reward_spec(config.reward, custom_names=tuple(self.custom_rewards))
        self.loss_settings = config.loss_settings()
        self.reference = FrozenReference(model, reference) if config.kl_beta > 0 else None
        self.pad_id = pad_token_id(tokenizer, model)
        self.stop_strings = prompt_spec.stop_strings
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.samples = None
        self.log = log
        # rollouts on actors (minireason.scaleout.RayExecutor): each step publishes the weights to them once
        self.rollout_executor = rollout_executor
        self._reward_seconds = 0.0

    # ------------------------------------------------------------------ Trainer protocol
    @property
    def updates_per_step(self) -> int:
        return self.config.epochs * self.config.minibatches

    def begin(self, out_dir, start_step: int, resumed: bool) -> None:
        self.samples = MetricsWriter(out_dir, resume_step=start_step if resumed else None, name="samples")

    @property
    def reference_sha256(self) -> str | None:
        return self.reference.sha256 if self.reference is not None else None

    def state_dict(self) -> dict:
        return {"reference_sha256": self.reference_sha256}

    def load_state_dict(self, state: dict) -> None:
        check_reference(state, self.reference_sha256)

    # ------------------------------------------------------------------ one step
    def step(self, model, rng: np.random.Generator, step: int, apply_update) -> tuple[float, dict]:
        config = self.config
        weight_sync_seconds = self.rollout_executor.publish(model) if self.rollout_executor is not None else 0.0
        self._reward_seconds = 0.0
        started = time.perf_counter()
        rollouts, rewards, components, tries, groups_seen, groups_dropped = self._collect(model, rng)
        rollout_seconds = time.perf_counter() - started
        metrics = self._rollout_metrics(rollouts, rewards, components, groups_seen, groups_dropped, tries)
        metrics["rollout_seconds"] = rollout_seconds  # sampling and rewards, as the driver waited for them
        metrics["reward_seconds"] = self._reward_seconds  # on actors: their seconds added up
        metrics["weight_sync_seconds"] = weight_sync_seconds
        metrics["rollout_tokens_per_second"] = metrics.pop("_generated_tokens") / max(rollout_seconds, 1e-9)
        if self.samples is not None and config.sample_every and step % config.sample_every == 0:
            self._log_samples(step + 1, rollouts, rewards)
        started = time.perf_counter()
        loss, learner_metrics, learner_tokens = self._learn(model, rollouts, rewards, apply_update)
        learner_seconds = time.perf_counter() - started
        metrics.update(learner_metrics)
        metrics["learner_seconds"] = learner_seconds
        metrics["learner_tokens_per_second"] = learner_tokens / max(learner_seconds, 1e-9)
        return loss, metrics

    def _collect(self, model, rng):
        """Rollouts of prompts_per_step groups with signal (fewer when the tries run out), their rewards."""

        config = self.config
        kept_rollouts, kept_rewards, kept_components = [], [], []
        groups_seen = groups_dropped = tries = 0
        first_rollouts = first_rewards = first_components = None
        while tries < (config.max_sampling_tries if config.dynamic_sampling else 1):
            tries += 1
            chosen = rng.choice(len(self.records), size=config.prompts_per_step,
                                replace=len(self.records) < config.prompts_per_step)
            rollouts, rewards, components = self._sample(model, rng, chosen)
            if first_rollouts is None:
                first_rollouts, first_rewards, first_components = rollouts, rewards, components
            groups_seen += config.prompts_per_step
            if config.drop_zero_variance:
                signal = np.flatnonzero(~zero_variance_groups(rewards, config.group_size))
                groups_dropped += config.prompts_per_step - len(signal)
            else:
                signal = np.arange(config.prompts_per_step)
            rows = (signal[:, None] * config.group_size + np.arange(config.group_size)).reshape(-1)
            kept_rollouts.append(rollouts.select_groups(signal))
            kept_rewards.append(rewards[rows])
            kept_components.append({name: values[rows] for name, values in components.items()})
            if sum(len(part) for part in kept_rollouts) >= config.prompts_per_step * config.group_size:
                break
        rollouts = Rollouts.concatenate(kept_rollouts)
        limit = config.prompts_per_step * config.group_size
        rollouts = rollouts.select_groups(np.arange(min(len(rollouts), limit) // config.group_size))
        rewards = np.concatenate(kept_rewards)[:len(rollouts)]
        components = {name: np.concatenate([part[name] for part in kept_components])[:len(rollouts)]
                      for name in kept_components[0]}
        # the reported reward, accuracy and lengths describe what was sampled (before dropping)
        self._sampled = (first_rollouts, first_rewards, first_components)
        return rollouts, rewards, components, tries, groups_seen, groups_dropped

    def _sample(self, model, rng, chosen):
        """The rollouts of the chosen prompts and their rewards (components too).

        In this process: one rollout batch drawn from ``rng`` (the stream of every earlier version).
        On the rollout executor's actors: a step seed drawn from ``rng``, then each prompt's group from
        its own generators (``sample_groups``) and rewarded where it was drawn, so the step does not
        depend on the number of workers nor on which of them died.
        """
        config = self.config
        records, prompts = [self.records[i] for i in chosen], [self.prompts[i] for i in chosen]
        if self.rollout_executor is None:
            rollouts = sample_rollouts(model, self.tokenizer, records, prompts, config.group_size,
                                       config.max_new_tokens, config.temperature, config.top_p, config.top_k, rng,
                                       self.stop_strings)
            started = time.perf_counter()
            rewards, components = self._rewards(rollouts)
            self._reward_seconds += time.perf_counter() - started
            return rollouts, rewards, components
        step_seed = int(rng.integers(MAX_SEED))
        score = GroupRewards(self.reward_spec, config.group_size, config.max_new_tokens, config.overlong_buffer,
                             self.custom_rewards, config.reward_combine)
        rollouts, scores, seconds = sample_groups(model, self.tokenizer, records, prompts, config.group_size,
                                                  config.max_new_tokens, config.temperature, config.top_p,
                                                  config.top_k, seed=step_seed, stop_strings=self.stop_strings,
                                                  score=score, executor=self.rollout_executor)
        self._reward_seconds += seconds
        rewards = np.concatenate([rewards for rewards, _ in scores])
        components = {name: np.concatenate([part[name] for _, part in scores]) for name in scores[0][1]}
        return rollouts, rewards, components

    def _rewards(self, rollouts):
        config = self.config
        return GroupRewards(self.reward_spec, config.group_size, config.max_new_tokens, config.overlong_buffer,
                            self.custom_rewards, config.reward_combine)(rollouts)

    def _rollout_metrics(self, rollouts, rewards, components, groups_seen, groups_dropped, tries) -> dict:

        sampled, sampled_rewards, sampled_components = self._sampled
        lengths = sampled.num_tokens
        statistics = group_statistics(sampled_rewards, self.config.group_size)
        correct = sampled_components.get("correctness", sampled_components.get("_correct"))
        metrics = {
            "reward_mean": statistics["reward_mean"], "reward_std": statistics["reward_std"],
            "accuracy": float(np.mean(correct > 0.5)),
            "zero_std_fraction": statistics["zero_std_fraction"],
            "response_length_mean": float(lengths.mean()), "response_length_max": int(lengths.max()),
            "truncated_fraction": float(sampled.truncated.mean()),
            "groups_dropped": groups_dropped, "groups_seen": groups_seen, "sampling_tries": tries,
            "groups_trained": len(rollouts) // self.config.group_size,
            "_generated_tokens": int(lengths.sum()),
        }
        for name, values in sampled_components.items():
            if not name.startswith("_"):
                metrics[f"reward_{name}"] = float(np.mean(values))
        return metrics

    def _log_samples(self, step, rollouts, rewards) -> None:
        sampled, sampled_rewards, _ = self._sampled
        for row in range(min(self.config.samples_to_log, len(sampled))):
            self.samples.log(step=step, prompt=sampled.prompts[row], completion=sampled.completions[row],
                             reward=float(sampled_rewards[row]), gold=sampled.records[row].get("answer"))

    # ------------------------------------------------------------------ the learner
    def _learn(self, model, rollouts, rewards, apply_update):
        """epochs x minibatches optimizer updates over the rollouts; returns (mean loss, metrics, tokens)."""
        config = self.config
        metrics = {"advantage_mean": 0.0, "advantage_std": 0.0, "entropy": float("nan"), "kl": float("nan"),
                   "clip_fraction_low": 0.0, "clip_fraction_high": 0.0, "clip_fraction_dual": 0.0,
                   "ratio_mean": float("nan"),
                   "logprob_mismatch_max": float("nan")}
        N = len(rollouts)
        if N == 0:  # every group was dropped: nothing to learn from this step
            return 0.0, metrics, 0
        # minibatches: contiguous runs of whole groups, one optimizer update each; micro-batches split
        # a minibatch into forward/backward passes of at most micro_batch_size rows, shortest rows
        # first: a micro-batch is as wide as its longest row, and the weights below make the update
        # the same whichever rows share a micro-batch
        groups = N // config.group_size
        bounds = np.linspace(0, groups, min(config.minibatches, groups) + 1).round().astype(int) * config.group_size
        lengths = rollouts.sequence_lengths  # (N,)
        micro, minibatch_parts = [], []
        for first, last in zip(bounds[:-1], bounds[1:]):
            parts = shortest_first(lengths, first, last, config.micro_batch_size)
            minibatch_parts.append(list(range(len(micro), len(micro) + len(parts))))
            micro += parts
        packed = [pack_rows(rollouts, rows, self.pad_id) for rows in micro]
        truncation_filter = config.top_p < 1.0 or config.top_k > 0
        old_logp = [part.old_logp for part in packed]
        if truncation_filter:  # the sampler's numbers are under a renormalised distribution: recompute
            old_logp = [np.asarray(model.token_logprobs(part.input_ids, part.targets, part.attention_mask,
                                                        config.temperature, loss_mask=part.loss_mask)[0],
                                   dtype=np.float64)
                        for part in packed]
        ref_logp = [None] * len(packed)
        if self.reference is not None:
            ref_logp = [np.asarray(self.reference.model.token_logprobs(part.input_ids, part.targets, part.attention_mask,
                                                                 config.temperature, loss_mask=part.loss_mask)[0],
                                   dtype=np.float64)
                        for part in packed]
        if config.kl_in_reward:
            penalty = np.concatenate([kl_reward_penalty(old, ref, part.loss_mask, config.kl_beta)
                                      for old, ref, part in zip(old_logp, ref_logp, packed)])
            rewards = rewards - penalty
        advantages = group_advantages(rewards, config.group_size, config.advantage, config.scale_by_std,
                                      config.batch_normalize)
        metrics["advantage_mean"], metrics["advantage_std"] = float(advantages.mean()), float(advantages.std())
        masks = [part.loss_mask & ~rollouts.truncated[rows][:, None] if config.mask_truncated else part.loss_mask
                 for part, rows in zip(packed, micro)]
        losses, learner_tokens = [], 0
        sums = {}
        for epoch in range(config.epochs):
            for update, parts in enumerate(minibatch_parts):
                # the aggregation's normaliser spans the whole update, whatever the micro-batch size
                weights = self._update_weights([masks[i] for i in parts])
                first_update = epoch == 0 and update == 0  # before the first update: sampler == learner?

                def part_loss(index_and_weight, first_update=first_update):
                    nonlocal learner_tokens
                    index, weight = index_and_weight
                    part, rows = packed[index], micro[index]
                    batch = PolicyBatch(mask=masks[index], weights=weight, advantages=advantages[rows],
                                        old_logp=old_logp[index], ref_logp=ref_logp[index])

                    def loss_fn(logp, entropy):
                        loss, dlogp, dentropy, figures = policy_loss(logp, entropy, batch, self.loss_settings)
                        if first_update and part.loss_mask.any():
                            difference = np.abs(np.asarray(logp, dtype=np.float64) - part.old_logp)
                            figures["logprob_mismatch_max"] = float(difference[part.loss_mask].max())
                        return loss, dlogp, dentropy, figures

                    learner_tokens += int(part.attention_mask.sum())
                    return model.token_loss_and_grads(part.input_ids, part.targets, loss_fn, part.loss_mask,
                                                      part.attention_mask, config.temperature, with_entropy=True)

                loss, figures = training_step(zip(parts, weights), part_loss, apply_update, dtype=model.dtype)
                losses.append(loss)
                add_metrics(sums, figures)
        tokens = max(sums["tokens"], 1.0)
        metrics.update({
            "entropy": sums.get("entropy_sum", 0.0) / tokens, "ratio_mean": sums["ratio_sum"] / tokens,
            "clip_fraction_low": sums["clipped_low"] / tokens, "clip_fraction_high": sums["clipped_high"] / tokens,
            "clip_fraction_dual": sums["clipped_dual"] / tokens,
            "kl": sums["kl_sum"] / tokens if self.reference is not None else float("nan"),
            "logprob_mismatch_max": sums.get("logprob_mismatch_max", 0.0),
        })
        return float(np.mean(losses)), metrics, learner_tokens

    def _update_weights(self, masks: list[np.ndarray]) -> list[np.ndarray]:
        """Aggregation weights of one update's micro-batches, normalised over all of them together."""

        width = max(mask.shape[1] for mask in masks)
        stacked = np.concatenate([np.pad(mask, ((0, 0), (0, width - mask.shape[1]))) for mask in masks])
        weights = aggregation_weights(stacked, self.config.aggregation_mode, self.config.max_new_tokens)
        parts, start = [], 0
        for mask in masks:
            parts.append(weights[start:start + len(mask), :mask.shape[1]])
            start += len(mask)
        return parts


def shortest_first(lengths: np.ndarray, first: int, last: int, size: int) -> list[list[int]]:
    """Rows first..last-1 in micro-batches of at most ``size``, shortest rows first (``lengths`` (N,)
    in tokens; equal lengths keep their order)."""
    by_length = first + np.argsort(lengths[first:last], kind="stable")
    return [by_length[start:start + size].tolist() for start in range(0, last - first, size)]


def train_grpo(model, tokenizer, train_records: list[dict], config: GRPOConfig, out_dir,
               eval_records: list[dict] | None = None, resume: bool = True, progress: bool = True,
               custom_rewards: dict | None = None, run_identity: dict | None = None, log=None,
               rollout_executor=None) -> dict:
    """Train ``model`` in place with GRPO (or a variant) and return the run's history.

    Writes into ``out_dir``: metrics.jsonl/.csv (a row per step), eval.jsonl/.csv and eval/ (held-out
    greedy accuracy at step 0, every eval_every steps and the last), samples.jsonl (a few completions
    every sample_every steps), checkpoint/ (for resume), final/ (a Hugging Face directory) and
    summary.json.  ``run_identity``: facts about the data and model source that a resume must match
    (the CLI passes the --model and --data it was given); the initial weights' hash is always added.
    ``rollout_executor`` (:class:`minireason.scaleout.RayExecutor`): rollouts and rewards on its actors,
    the weights published to them once per step; the learner stays here.
    Returns {"summary", "metrics" (rows), "eval" (rows), "paired" (before/after comparison or None)}.
    """

    trainer = GRPOTrainer(model, tokenizer, train_records, config, out_dir, custom_rewards,
                          rollout_executor=rollout_executor)
    identity = {"grpo": config.identity(), "initial_weights_sha256": weights_sha256(model.params),
                "train_data_sha256": json_sha256(train_records),
                "custom_rewards": sorted(trainer.custom_rewards), **(run_identity or {})}
    eval_fn = HeldOutEvaluation.from_config(tokenizer, eval_records, out_dir, config,
                                                progress=progress) if eval_records else None
    return run_training(model, tokenizer, trainer, config.train_config(), out_dir, eval_fn=eval_fn,
                        eval_every=config.eval_every, resume=resume, progress=progress, identity=identity, log=log,
                        command="grpo")
