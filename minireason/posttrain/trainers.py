"""SFT, logit distillation (off- and on-policy) and DPO as trainers on the shared training loop.

One step of :class:`SequenceTrainer` (SFT, distillation):

    draw batch_size examples from one length bucket (data.py) ─▶ pack prompt + completion
        (on-policy distillation: with probability lambda the student samples the completions
         instead, through the one rollout path, generation/rollout.py)
    ─▶ micro-batches: SFT        model ─▶ logp ─masked mean NLL─▶ dlogp        (token seam)
                      distill    teacher logits (all V or top-k) at the completion positions;
                                 student logits ─fkl | rkl | jsd at tau─▶ dlogits  (soft-target seam)
    ─▶ one optimizer update (micro-batch losses weighted by their share of the batch's tokens)

One step of :class:`PreferenceTrainer` (DPO): batch_size pairs ─▶ chosen and rejected rows in one
packed batch ─▶ logp ─sequence sums, against a frozen reference's─▶ sigmoid | ipo loss ─▶ dlogp.

The loop (``minireason.training.loop``) owns the optimizer, schedule, clipping, NaN guard,
checkpoints, exact resume, Ctrl-C and the metrics files; held-out accuracy is GRPO's hook
(``HeldOutEvaluation``: eval.jsonl and eval/step_N.json), joined by each method's validation loss.
:func:`train_sft`, :func:`train_distill` and :func:`train_dpo` are the Python API (the ``minireason
sft / distill / dpo`` commands are thin layers over them).  Derivations: docs/distillation.md.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np

from minireason.errors import CheckpointError, InputError
from minireason.training.loop import Trainer


# ---------------------------------------------------------------------------------------------- settings
@dataclass
class SFTConfig:
    """Every setting of an SFT run (the CLI flags and the TOML keys have these names)."""

    steps: int = 200
    batch_size: int = 32  # sequences per optimizer update
    micro_batch_size: int = 32  # sequences per forward/backward (gradient accumulation bounds memory)
    max_tokens: int = 512  # prompt + completion; longer examples are dropped (and counted)
    length_buckets: int = 8
    validation_fraction: float = 0.05  # share of the prompts (by hash) held out for the validation loss
    validation_max_examples: int = 256  # validation loss on at most this many of them
    learning_rate: float = 1e-3
    warmup_steps: int = 10
    schedule: str = "cosine"
    min_lr_ratio: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 0
    prompt_format: str = "plain"  # plain (built-in models) | chat (Qwen3 chat template, thinking on)
    max_new_tokens: int = 128  # completion limit of held-out evaluation (and of on-policy samples)
    eval_max_new_tokens: int | None = None  # None: max_new_tokens
    eval_every: int = 50
    eval_batch_size: int = 256
    checkpoint_every: int = 50
    max_bad_steps: int = 1  # a non-finite update stops the run (the last good checkpoint stays)

    BOOKKEEPING = ("steps", "eval_every", "eval_batch_size", "checkpoint_every", "validation_max_examples",
                   "max_bad_steps")

    def __post_init__(self):
        def integer(name, minimum=1):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise InputError(f"{name} must be an int >= {minimum}, got {value!r}")

        for name in ("steps", "batch_size", "micro_batch_size", "max_tokens", "length_buckets",
                     "validation_max_examples", "max_new_tokens", "eval_batch_size", "checkpoint_every",
                     "max_bad_steps"):
            integer(name)
        for name in ("warmup_steps", "eval_every"):
            integer(name, 0)
        if self.eval_max_new_tokens is not None:
            integer("eval_max_new_tokens")
        if not (isinstance(self.validation_fraction, (int, float)) and 0 <= self.validation_fraction < 1):
            raise InputError(f"validation_fraction must lie in [0, 1), got {self.validation_fraction!r}")
        if self.prompt_format not in ("plain", "chat"):
            raise InputError(f"prompt_format must be plain or chat, got {self.prompt_format!r}")
        self.betas = tuple(float(beta) for beta in self.betas)
        self.train_config()  # the loop's own checks (learning rate, schedule, betas)

    def train_config(self):
        from minireason.training.loop import TrainConfig

        return TrainConfig(steps=self.steps, learning_rate=self.learning_rate, warmup_steps=self.warmup_steps,
                           min_lr_ratio=self.min_lr_ratio, schedule=self.schedule, betas=self.betas,
                           weight_decay=self.weight_decay, max_grad_norm=self.max_grad_norm, seed=self.seed,
                           log_every=1, checkpoint_every=self.checkpoint_every, max_bad_steps=self.max_bad_steps)

    def identity(self) -> dict:
        """The settings that change what the run computes (not its length or bookkeeping)."""
        return {key: (list(value) if isinstance(value, tuple) else value)
                for key, value in dataclasses.asdict(self).items() if key not in self.BOOKKEEPING}

    @classmethod
    def from_dict(cls, values: dict, where: str = "config"):
        fields = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise InputError(f"{where}: unknown setting(s) {unknown}; known: {sorted(fields)}")
        return cls(**values)


@dataclass
class DistillConfig(SFTConfig):
    """SFT's settings and the distillation loss's."""

    loss: str = "fkl"  # fkl | rkl | jsd
    beta: float = 0.5  # jsd's interpolation, in (0, 1)
    temperature: float = 1.0  # tau: both distributions at logits / tau, the loss scaled by tau^2
    top_k: int = 0  # the teacher's top-k tokens per position (0: all V)
    lambda_on_policy: float = 0.0  # probability that a step's completions are the student's own samples
    sample_temperature: float = 1.0  # the student's sampling temperature on on-policy steps
    chunk_positions: int = 1024  # positions per chunk of the loss (bounds its temporaries)

    def __post_init__(self):
        from minireason.posttrain.distill_losses import check_distill_settings

        super().__post_init__()
        check_distill_settings(self.loss, self.beta, self.temperature, self.top_k)
        if not (isinstance(self.lambda_on_policy, (int, float)) and 0 <= self.lambda_on_policy <= 1):
            raise InputError(f"lambda_on_policy must lie in [0, 1], got {self.lambda_on_policy!r}")
        if not (isinstance(self.sample_temperature, (int, float)) and self.sample_temperature > 0):
            raise InputError(f"sample_temperature must be > 0, got {self.sample_temperature!r}")
        if isinstance(self.chunk_positions, bool) or not isinstance(self.chunk_positions, int) \
                or self.chunk_positions < 1:
            raise InputError(f"chunk_positions must be an int >= 1, got {self.chunk_positions!r}")


@dataclass
class DPOConfig(SFTConfig):
    """SFT's settings (batch_size and micro_batch_size count pairs) and the preference loss's."""

    loss: str = "sigmoid"  # sigmoid (DPO) | ipo
    beta: float = 0.1
    learning_rate: float = 1e-4
    schedule: str = "constant"

    def __post_init__(self):
        from minireason.posttrain.distill_losses import PREFERENCE_LOSSES

        super().__post_init__()
        if self.loss not in PREFERENCE_LOSSES:
            raise InputError(f"loss must be one of {', '.join(PREFERENCE_LOSSES)}, got {self.loss!r}")
        if not (isinstance(self.beta, (int, float)) and self.beta > 0):
            raise InputError(f"beta must be a number > 0, got {self.beta!r}")


def _micro_batches(count: int, size: int) -> list[slice]:
    return [slice(start, min(start + size, count)) for start in range(0, count, size)]


def _trimmed(arrays, rows: slice):
    """The rows of packed (N, T) arrays, without the columns that are padding in every one of them."""
    input_ids, targets, loss_mask, attention_mask = (array[rows] for array in arrays)
    width = int(np.flatnonzero(attention_mask.any(axis=0)).max()) + 1
    return input_ids[:, :width], targets[:, :width], loss_mask[:, :width], attention_mask[:, :width]


def _scaled(loss_fn, weight: float):
    """A token-seam loss function times ``weight`` (a micro-batch's share of its update)."""

    def scaled(logp, entropy=None):
        loss, dlogp, dentropy = loss_fn(logp, entropy)
        return loss * weight, dlogp * dlogp.dtype.type(weight), dentropy

    return scaled


def _add(total: dict | None, grads: dict) -> dict:
    if total is None:
        return grads
    for name, value in grads.items():
        total[name] += value
    return total


# ---------------------------------------------------------------------------------------------- SFT, distillation
class SequenceTrainer(Trainer):
    """SFT (``teacher=None``) or logit distillation (a teacher model and a ``DistillConfig``)."""

    def __init__(self, model, tokenizer, train, validation, config: SFTConfig, teacher=None):
        from minireason.generation.generate import pad_token_id
        from minireason.posttrain.data import LengthBuckets

        if teacher is not None and not isinstance(config, DistillConfig):
            raise InputError("a teacher needs a DistillConfig (the distillation loss's settings)")
        self.tokenizer, self.train, self.validation, self.config = tokenizer, train, validation, config
        self.teacher = teacher
        self.buckets = LengthBuckets(train.lengths, config.length_buckets)
        self.pad_id = pad_token_id(tokenizer, model)

    @property
    def distilling(self) -> bool:
        return self.teacher is not None

    def step(self, model, rng: np.random.Generator, step: int, apply_update) -> tuple[float, dict]:
        from minireason.generation.sequences import pack_completions

        config = self.config
        started = time.perf_counter()
        rows = self.buckets.draw(rng, config.batch_size)
        on_policy = self.distilling and config.lambda_on_policy > 0 and rng.random() < config.lambda_on_policy
        metrics = {}
        if on_policy:
            packed, metrics = self._sample(model, rng, rows)
        else:
            packed = pack_completions([self.train.prompt_ids[i] for i in rows],
                                      [self.train.completion_ids[i] for i in rows], self.pad_id)
        total = int(packed[2].sum())  # completion tokens of the whole update
        loss_total, grads_total, figures = 0.0, None, {"divergence": 0.0, "kl": 0.0}
        for part in _micro_batches(len(rows), config.micro_batch_size):
            input_ids, targets, loss_mask, attention_mask = _trimmed(packed, part)
            weight = float(loss_mask.sum()) / max(total, 1)
            if self.distilling:
                loss, grads, part_figures = self._distill_loss(model, input_ids, loss_mask, attention_mask, weight)
                for key in figures:
                    figures[key] += weight * part_figures[key]
            else:
                from minireason.nn.loss import masked_mean_nll

                loss, grads = model.token_loss_and_grads(input_ids, targets, _scaled(masked_mean_nll(
                    self._device(model, loss_mask)), weight), loss_mask, attention_mask)
            loss_total += loss
            grads_total = _add(grads_total, grads)
        if not math.isfinite(loss_total):  # a non-finite loss is a bad update even with a finite gradient
            grads_total = {name: np.full((), np.nan) for name in list(grads_total)[:1]}
        apply_update(grads_total)
        seconds = time.perf_counter() - started
        learner_tokens = int(packed[3].sum())
        metrics.update(tokens=total, tokens_per_second=learner_tokens / max(seconds, 1e-9),
                       step_seconds=seconds)
        if self.distilling:
            metrics.update(on_policy=int(on_policy), kl_teacher_student=figures["kl"])
        return loss_total, metrics

    @staticmethod
    def _device(model, array):
        from minireason.device import to_module

        return to_module(array, model.array_module)

    def _distill_loss(self, model, input_ids, loss_mask, attention_mask, weight: float):
        from minireason.posttrain.distill_losses import distillation_loss
        from minireason.posttrain.teacher import teacher_targets

        config = self.config
        teacher = teacher_targets(self.teacher, input_ids, attention_mask, loss_mask, config.top_k)
        captured = {}

        def loss_fn(logits):
            loss, dlogits, figures = distillation_loss(logits, teacher, self._device(model, loss_mask), config.loss,
                                                       config.beta, config.temperature, config.chunk_positions)
            captured.update(figures)
            return loss * weight, dlogits * dlogits.dtype.type(weight)

        loss, grads = model.logits_loss_and_grads(input_ids, loss_fn, attention_mask)
        return loss, grads, captured

    def _sample(self, model, rng, rows):
        """On-policy: the student's own completions of the rows' prompts (the one rollout path)."""
        from minireason.evaluation.prompts import PromptSpec
        from minireason.generation.rollout import pack_rows, sample_rollouts

        config = self.config
        started = time.perf_counter()
        rollouts = sample_rollouts(model, self.tokenizer, [self.train.records[i] for i in rows],
                                   [self.train.prompts[i] for i in rows], 1, config.max_new_tokens,
                                   config.sample_temperature, rng=rng,
                                   stop_strings=PromptSpec(prompt_format=config.prompt_format).stop_strings)
        part = pack_rows(rollouts, range(len(rows)), self.pad_id)
        lengths = rollouts.num_tokens
        return (part.input_ids, part.targets, part.loss_mask, part.attention_mask), {
            "sample_seconds": time.perf_counter() - started, "sample_length_mean": float(lengths.mean()),
            "sample_truncated_fraction": float(rollouts.truncated.mean())}

    def validation_figures(self, model) -> dict:
        """Validation loss (token-mean NLL for SFT; the distillation loss and the teacher-student KL,
        and the NLL, for distillation) on the validation examples, without a backward."""
        from minireason.generation.sequences import pack_completions
        from minireason.nn.loss import cross_entropy_forward
        from minireason.posttrain.distill_losses import distillation_loss
        from minireason.posttrain.teacher import teacher_targets

        count = min(len(self.validation), self.config.validation_max_examples)
        if count == 0:
            return {}
        order = np.argsort(self.validation.lengths[:count], kind="stable")  # similar lengths share a batch
        sums = {"nll": 0.0, "distill": 0.0, "kl": 0.0}
        tokens = 0
        for part in _micro_batches(count, self.config.micro_batch_size):
            rows = order[part]
            packed = pack_completions([self.validation.prompt_ids[i] for i in rows],
                                      [self.validation.completion_ids[i] for i in rows], self.pad_id)
            input_ids, targets, loss_mask, attention_mask = _trimmed(packed, slice(None))
            n = int(loss_mask.sum())
            logits = model.logits(input_ids, attention_mask)
            device_mask = self._device(model, loss_mask)
            sums["nll"] += n * cross_entropy_forward(logits, self._device(model, targets), device_mask)[0]
            if self.distilling:
                config = self.config
                teacher = teacher_targets(self.teacher, input_ids, attention_mask, loss_mask, config.top_k)
                loss, _, figures = distillation_loss(logits, teacher, device_mask, config.loss, config.beta,
                                                     config.temperature, config.chunk_positions, with_gradient=False)
                sums["distill"] += n * loss
                sums["kl"] += n * figures["kl"]
            tokens += n
        tokens = max(tokens, 1)
        if not self.distilling:
            return {"validation_loss": sums["nll"] / tokens}
        return {"validation_loss": sums["distill"] / tokens, "validation_kl": sums["kl"] / tokens,
                "validation_nll": sums["nll"] / tokens}


# ---------------------------------------------------------------------------------------------- DPO
class PreferenceTrainer(Trainer):
    """DPO (sigmoid) or IPO against a frozen reference: the policy's starting weights."""

    REFERENCE_CHUNK = 64  # pairs whose reference log-probabilities are computed together (and cached)

    def __init__(self, model, tokenizer, train, validation, config: DPOConfig, reference=None):
        from minireason.generation.generate import pad_token_id
        from minireason.identity import weights_sha256
        from minireason.model import frozen_copy
        from minireason.posttrain.data import LengthBuckets

        self.tokenizer, self.train, self.validation, self.config = tokenizer, train, validation, config
        self.reference = reference if reference is not None else frozen_copy(model)
        self.reference_sha256 = weights_sha256(self.reference.params)
        self.buckets = LengthBuckets(train.lengths, config.length_buckets)
        self.pad_id = pad_token_id(tokenizer, model)
        self._reference_sums = ({}, {})  # (train, validation): chunk index -> (chosen (c,), rejected (c,))

    def state_dict(self) -> dict:
        return {"reference_sha256": self.reference_sha256}

    def load_state_dict(self, state: dict) -> None:
        saved = state.get("reference_sha256")
        if saved != self.reference_sha256:
            raise CheckpointError(f"the checkpoint was trained against reference model {str(saved)[:12]}, this run's "
                                  f"reference is {str(self.reference_sha256)[:12]}; resume with the same --model")

    def _pack(self, pairs, rows):
        """Chosen rows then rejected rows of the given pairs, packed into one batch (2n, T)."""
        from minireason.generation.sequences import pack_completions

        prompts = [pairs.prompt_ids[i] for i in rows]
        completions = [pairs.chosen_ids[i] for i in rows] + [pairs.rejected_ids[i] for i in rows]
        return _trimmed(pack_completions(prompts + prompts, completions, self.pad_id), slice(None))

    def _reference(self, which: int, rows) -> np.ndarray:
        """The reference's summed log-probabilities (2n,) of the rows' chosen then rejected completions.
        Computed a fixed chunk of pairs at a time, so a value never depends on which batch asked first
        (a resumed run reads exactly the numbers an uninterrupted one did)."""
        from minireason.posttrain.distill_losses import sequence_logprob_sums

        pairs = (self.train, self.validation)[which]
        cache = self._reference_sums[which]
        for chunk in sorted({int(row) // self.REFERENCE_CHUNK for row in rows} - set(cache)):
            members = range(chunk * self.REFERENCE_CHUNK, min((chunk + 1) * self.REFERENCE_CHUNK, len(pairs)))
            input_ids, targets, loss_mask, attention_mask = self._pack(pairs, list(members))
            logp, _ = self.reference.token_logprobs(input_ids, targets, attention_mask)
            sums = sequence_logprob_sums(logp, loss_mask)
            cache[chunk] = (sums[:len(members)], sums[len(members):])
        chosen = [cache[int(row) // self.REFERENCE_CHUNK][0][int(row) % self.REFERENCE_CHUNK] for row in rows]
        rejected = [cache[int(row) // self.REFERENCE_CHUNK][1][int(row) % self.REFERENCE_CHUNK] for row in rows]
        return np.array(chosen + rejected, dtype=np.float64)

    def step(self, model, rng: np.random.Generator, step: int, apply_update) -> tuple[float, dict]:
        from minireason.posttrain.distill_losses import preference_loss_fn

        config = self.config
        started = time.perf_counter()
        rows = self.buckets.draw(rng, config.batch_size)
        loss_total, grads_total, tokens = 0.0, None, 0
        figures = {"reward_chosen_sum": 0.0, "reward_rejected_sum": 0.0, "reward_margin_sum": 0.0,
                   "preference_correct": 0}
        for part in _micro_batches(len(rows), config.micro_batch_size):
            input_ids, targets, loss_mask, attention_mask = self._pack(self.train, rows[part])
            captured = {}
            loss_fn = preference_loss_fn(SequenceTrainer._device(model, loss_mask), self._reference(0, rows[part]),
                                         config.beta, config.loss, normaliser=len(rows), captured=captured)
            loss, grads = model.token_loss_and_grads(input_ids, targets, loss_fn, loss_mask, attention_mask)
            loss_total += loss
            grads_total = _add(grads_total, grads)
            tokens += int(attention_mask.sum())
            for key in figures:
                figures[key] += captured[key]
        if not math.isfinite(loss_total):
            grads_total = {name: np.full((), np.nan) for name in list(grads_total)[:1]}
        apply_update(grads_total)
        seconds = time.perf_counter() - started
        n = len(rows)
        return loss_total, {"reward_chosen": figures["reward_chosen_sum"] / n,
                            "reward_rejected": figures["reward_rejected_sum"] / n,
                            "reward_margin": figures["reward_margin_sum"] / n,
                            "preference_accuracy": figures["preference_correct"] / n,
                            "tokens": tokens, "tokens_per_second": tokens / max(seconds, 1e-9),
                            "step_seconds": seconds}

    def validation_figures(self, model) -> dict:
        from minireason.posttrain.distill_losses import preference_loss, sequence_logprob_sums

        count = min(len(self.validation), self.config.validation_max_examples)
        if count == 0:
            return {}
        policy, reference = [], []
        for part in _micro_batches(count, self.config.micro_batch_size):
            rows = np.arange(count)[part]
            input_ids, targets, loss_mask, attention_mask = self._pack(self.validation, rows)
            logp, _ = model.token_logprobs(input_ids, targets, attention_mask)
            sums = sequence_logprob_sums(logp, loss_mask)
            policy.append((sums[:len(rows)], sums[len(rows):]))
            reference.append(self._reference(1, rows))
        chosen, rejected = np.concatenate([p[0] for p in policy]), np.concatenate([p[1] for p in policy])
        reference_chosen = np.concatenate([r[:len(r) // 2] for r in reference])
        reference_rejected = np.concatenate([r[len(r) // 2:] for r in reference])
        loss, _, _, figures = preference_loss(chosen, rejected, reference_chosen, reference_rejected,
                                              self.config.beta, self.config.loss)
        return {"validation_loss": loss, "validation_reward_margin": figures["reward_margin_sum"] / count,
                "validation_preference_accuracy": figures["preference_correct"] / count}


# ---------------------------------------------------------------------------------------------- running
class RunEvaluation:
    """The loop's eval hook: the trainer's validation figures, then held-out greedy accuracy
    (``training.run.HeldOutEvaluation``: eval/step_N.json keeps each problem's verdict)."""

    def __init__(self, trainer, held_out=None):
        self.trainer, self.held_out = trainer, held_out

    def __call__(self, model, step: int) -> dict:
        figures = self.trainer.validation_figures(model)
        if self.held_out is not None:
            figures.update(self.held_out(model, step))
        return figures


def _run(model, tokenizer, trainer, config, out_dir, eval_records, resume, progress, identity, report, log) -> dict:
    """Train with the shared run (training/run.py), the data report logged first and kept in summary.json."""
    from minireason.training.run import HeldOutEvaluation, run_training

    if log is not None:
        log(report.summary())
    held_out = HeldOutEvaluation.from_config(tokenizer, eval_records, out_dir, config,
                                                 progress=progress) if eval_records else None
    has_validation = min(len(trainer.validation), config.validation_max_examples) > 0
    eval_fn = RunEvaluation(trainer, held_out) if held_out is not None or has_validation else None
    history = run_training(model, tokenizer, trainer, config.train_config(), out_dir, eval_fn=eval_fn,
                           eval_every=config.eval_every, resume=resume, progress=progress, identity=identity,
                           summary_extra={"data": report.as_dict()}, log=log)
    return {**history, "data": report}


def train_sft(model, tokenizer, data, config: SFTConfig, out_dir, eval_records: list[dict] | None = None,
              resume: bool = True, progress: bool = True, run_identity: dict | None = None, log=None) -> dict:
    """Supervised fine-tuning of ``model`` (in place) on traces or (prompt, completion) records.

    data: a file (JSON list or JSONL) or a list of records (see ``minireason.posttrain.data``).
    Writes into ``out_dir`` what ``minireason grpo`` writes: metrics.jsonl/.csv, eval.jsonl/.csv and
    eval/ (validation loss and held-out accuracy at step 0, every eval_every steps and the last),
    checkpoint/ (exact resume), final/ (a Hugging Face directory) and summary.json.
    Returns {"summary", "metrics", "eval", "paired" (held-out before/after), "data" (the DataReport)}.
    """
    from minireason.identity import weights_sha256
    from minireason.posttrain.data import load_sequences

    train_set, validation, report = load_sequences(data, tokenizer, config.prompt_format, config.max_tokens,
                                                   config.validation_fraction)
    trainer = SequenceTrainer(model, tokenizer, train_set, validation, config)
    identity = {"sft": config.identity(), "initial_weights_sha256": weights_sha256(model.params),
                "train_data_sha256": train_set.fingerprint(), **(run_identity or {})}
    return _run(model, tokenizer, trainer, config, out_dir, eval_records, resume, progress, identity, report, log)


def train_distill(model, tokenizer, teacher, teacher_tokenizer, data, config: DistillConfig, out_dir,
                  eval_records: list[dict] | None = None, resume: bool = True, progress: bool = True,
                  run_identity: dict | None = None, log=None) -> dict:
    """Logit distillation of ``teacher`` into ``model`` (in place): ``config.loss`` (fkl | rkl | jsd) at
    ``config.temperature`` on the data's completions, or, with probability ``config.lambda_on_policy``
    per step, on the student's own samples of the same prompts (on-policy distillation, GKD).
    Teacher and student must share a tokenizer (ConfigError otherwise).  Files and history as
    :func:`train_sft`, with the teacher-student KL in metrics and eval."""
    from minireason.identity import weights_sha256
    from minireason.posttrain.data import load_sequences
    from minireason.posttrain.teacher import check_same_tokenizer

    vocabulary = check_same_tokenizer(model, tokenizer, teacher, teacher_tokenizer)
    train_set, validation, report = load_sequences(data, tokenizer, config.prompt_format, config.max_tokens,
                                                   config.validation_fraction)
    trainer = SequenceTrainer(model, tokenizer, train_set, validation, config, teacher=teacher)
    identity = {"distill": config.identity(), "initial_weights_sha256": weights_sha256(model.params),
                "teacher_weights_sha256": weights_sha256(teacher.params), "vocabulary_sha256": vocabulary,
                "train_data_sha256": train_set.fingerprint(), **(run_identity or {})}
    return _run(model, tokenizer, trainer, config, out_dir, eval_records, resume, progress, identity, report, log)


def train_dpo(model, tokenizer, pairs, config: DPOConfig, out_dir, eval_records: list[dict] | None = None,
              resume: bool = True, progress: bool = True, run_identity: dict | None = None, log=None) -> dict:
    """DPO (``config.loss="sigmoid"``) or IPO of ``model`` (in place) on preference pairs, against a
    frozen copy of its starting weights.  Metrics add the implicit rewards of chosen and rejected
    completions, their margin and the preference accuracy.  Files and history as :func:`train_sft`."""
    from minireason.posttrain.data import load_pairs

    train_set, validation, report = load_pairs(pairs, tokenizer, config.prompt_format, config.max_tokens,
                                               config.validation_fraction)
    trainer = PreferenceTrainer(model, tokenizer, train_set, validation, config)
    identity = {"dpo": config.identity(), "initial_weights_sha256": trainer.reference_sha256,
                "train_data_sha256": train_set.fingerprint(), **(run_identity or {})}
    return _run(model, tokenizer, trainer, config, out_dir, eval_records, resume, progress, identity, report, log)
