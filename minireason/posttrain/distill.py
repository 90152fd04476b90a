"""Logit distillation of a teacher into a student, off- and on-policy; its losses with hand-derived
gradients (derivations: docs/distillation.md).

One step is SFT's (sft.py ``SequenceTrainer``) with two changes: with probability lambda the student
samples the completions itself (on-policy distillation, GKD; the one rollout path,
generation/rollout.py), and the loss reads the teacher's distribution:

    teacher logits (all V or top-k) at the completion positions;
    student logits ─fkl | rkl | jsd at tau─▶ dlogits  (the soft-target seam), times the token share

Logit distillation reads the teacher's whole distribution at each position, so it goes through the
soft-target seam ``Qwen3Model.logits_loss_and_grads`` (loss_fn(logits) -> (loss, dlogits)):

    student logits (B, T, V) ─gather masked positions, chunk─▶ u = z / tau (n, K)
    teacher logits at the same positions (M, K) ─▶ p = softmax(teacher / tau)
    D(p, q = softmax(u)) per position ─▶ L = tau^2 / M * sum_positions D
    dL/dz = tau / M * dD/du, scattered back into (B, T, V) (zero at unmasked positions)

with D one of

* ``fkl``  forward KL(p || q) = sum_v p_v (log p_v - log q_v);             dD/du = q - p
* ``rkl``  reverse KL(q || p) = sum_v q_v (log q_v - log p_v);             dD/du = q (log q - log p - D)
* ``jsd``  generalised Jensen-Shannon, m = beta p + (1 - beta) q:
           D = beta KL(p || m) + (1 - beta) KL(q || m);                    dD/du = q (g - sum_w q_w g_w),
           g = (1 - beta) log(q / m).  D / beta -> KL(p || q) as beta -> 0 and
           D / (1 - beta) -> KL(q || p) as beta -> 1 (the GKD paper's convention).

Teacher top-k (``TeacherDistribution.indices`` given): both distributions are restricted to the
teacher's k most likely tokens at that position and renormalised there, so the loss is the
divergence between the teacher and the student *conditioned on the teacher's top-k set*.  It is
exact when k = V; otherwise it ignores how much mass each puts outside the set and how that mass is
spread (for reverse KL and JSD a teacher probability of exactly zero outside the set would make the
divergence infinite, hence the student is restricted too; the same rule for all three losses keeps
them comparing the same two distributions).  The teacher then costs M x k numbers, not M x V.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from minireason.device import array_module_of, to_module
from minireason.errors import InputError
from minireason.evaluation.prompts import PromptSpec
from minireason.generation.rollout import pack_rows, sample_rollouts
from minireason.identity import weights_sha256
from minireason.nn.loss import cross_entropy_forward, log_softmax_forward
from minireason.posttrain.data import load_sequences
from minireason.posttrain.run import run_method
from minireason.posttrain.sft import SequenceTrainer, SFTConfig
from minireason.posttrain.teacher import TeacherDistribution, check_same_tokenizer, teacher_targets

DISTILL_LOSSES = ("fkl", "rkl", "jsd")
DEFAULT_CHUNK_POSITIONS = 1024


def check_distill_settings(loss: str, beta: float, temperature: float, top_k: int = 0) -> None:
    """One-line InputError for a loss name, beta, temperature or top_k outside its range."""
    if loss not in DISTILL_LOSSES:
        raise InputError(f"distillation loss must be one of {', '.join(DISTILL_LOSSES)}, got {loss!r}")
    if loss == "jsd" and not (isinstance(beta, (int, float)) and 0 < beta < 1):
        raise InputError(f"jsd beta must lie in (0, 1) (its limits are the fkl and rkl losses), got {beta!r}")
    if not (isinstance(temperature, (int, float)) and temperature > 0):
        raise InputError(f"distillation temperature must be a number > 0, got {temperature!r}")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
        raise InputError(f"top_k must be an int >= 0 (0: the whole vocabulary), got {top_k!r}")


def divergence_and_gradient(teacher_logp, student_logp, loss: str, beta: float = 0.5):
    """D(p, q) at each row and dD/du, where q = softmax(u) and u are the student's (tempered) logits.

    teacher_logp, student_logp (n, K): log p and log q, each normalised over its last axis.
    Returns (D (n,), dD/du (n, K)).  See the module docstring for the three formulas.
    """
    p, q = np.exp(teacher_logp), np.exp(student_logp)  # (n, K)
    if loss == "fkl":
        values = np.sum(p * (teacher_logp - student_logp), axis=-1)  # (n,)
        return values, q - p
    if loss == "rkl":
        values = np.sum(q * (student_logp - teacher_logp), axis=-1)  # (n,)
        return values, q * (student_logp - teacher_logp - values[:, None])
    if loss == "jsd":
        dtype = student_logp.dtype.type
        # log m = log(beta p + (1 - beta) q), without forming m where it would underflow
        mixture_logp = np.logaddexp(teacher_logp + dtype(np.log(beta)), student_logp + dtype(np.log1p(-beta)))
        values = (dtype(beta) * np.sum(p * (teacher_logp - mixture_logp), axis=-1)
                  + dtype(1 - beta) * np.sum(q * (student_logp - mixture_logp), axis=-1))  # (n,)
        g = dtype(1 - beta) * (student_logp - mixture_logp)  # dD/dq, (n, K)
        return values, q * (g - np.sum(q * g, axis=-1, keepdims=True))
    raise InputError(f"distillation loss must be one of {', '.join(DISTILL_LOSSES)}, got {loss!r}")


def distillation_loss(student_logits, teacher: TeacherDistribution, loss_mask, loss: str = "fkl",
                      beta: float = 0.5, temperature: float = 1.0, chunk_positions: int = DEFAULT_CHUNK_POSITIONS,
                      with_gradient: bool = True):
    """L = tau^2 / M * sum over the M masked positions of D(p_teacher, q_student) at temperature tau.

    student_logits (B, T, V); loss_mask (B, T) bool; teacher: its logits at the M masked positions.
    Positions are processed ``chunk_positions`` at a time, so temporaries stay (chunk, V).
    Returns (loss, dlogits (B, T, V) or None, figures) with figures = {"positions": M,
    "divergence": mean D, "kl": mean KL(p || q) (teacher-student forward KL at tau, on the same
    support as the loss)}.  An empty mask gives loss 0 and a zero gradient.
    """
    check_distill_settings(loss, beta, temperature)
    module = array_module_of(student_logits)
    B, T, V = student_logits.shape
    loss_mask = module.asarray(loss_mask).astype(bool)
    if loss_mask.shape != (B, T):
        raise InputError(f"loss_mask must have shape {(B, T)} like the student's logits, got {loss_mask.shape}")
    batch_index, time_index = module.nonzero(loss_mask)
    M = int(batch_index.shape[0])
    if len(teacher) != M:
        raise InputError(f"the teacher's distribution covers {len(teacher)} positions, the loss mask {M}")
    if teacher.indices is None and teacher.logits.shape[-1] != V:
        raise InputError(f"teacher logits have {teacher.logits.shape[-1]} entries per position, the student {V}: "
                         f"teacher and student must share a tokenizer")
    dtype = student_logits.dtype
    dlogits = module.zeros_like(student_logits) if with_gradient else None  # (B, T, V)
    figures = {"positions": M, "divergence": 0.0, "kl": 0.0}
    if M == 0:
        return 0.0, dlogits, figures
    tau = dtype.type(temperature)
    scale = dtype.type(temperature / M)  # dL/du = tau^2 / M * dD/du, and du/dz = 1 / tau
    total = kl_total = 0.0
    for start in range(0, M, chunk_positions):
        rows_b, rows_t = batch_index[start:start + chunk_positions], time_index[start:start + chunk_positions]
        logits = student_logits[rows_b, rows_t]  # (n, V)
        teacher_logits = teacher.logits[start:start + chunk_positions].astype(dtype, copy=False)  # (n, K)
        if teacher.indices is not None:
            indices = teacher.indices[start:start + chunk_positions]  # (n, K)
            logits = logits[module.arange(len(indices))[:, None], indices]  # (n, K)
        student_logp, _ = log_softmax_forward(logits / tau)
        teacher_logp, _ = log_softmax_forward(teacher_logits / tau)
        values, du = divergence_and_gradient(teacher_logp, student_logp, loss, beta)
        total += float(values.sum())
        kl_total += float(values.sum()) if loss == "fkl" else float(
            np.sum(np.exp(teacher_logp) * (teacher_logp - student_logp)))
        if with_gradient:
            dz = (du * scale).astype(dtype, copy=False)  # (n, K)
            if teacher.indices is None:
                dlogits[rows_b, rows_t] = dz
            else:
                dense = module.zeros((len(indices), V), dtype=dtype)  # (n, V)
                dense[module.arange(len(indices))[:, None], indices] = dz
                dlogits[rows_b, rows_t] = dense
    figures.update(divergence=total / M, kl=kl_total / M)
    return float(temperature ** 2 * total / M), dlogits, figures


@dataclass
class DistillConfig(SFTConfig):
    """SFT's settings and the distillation loss's."""

    loss: str = "fkl"  # fkl | rkl | jsd
    beta: float = 0.5  # jsd's interpolation, in (0, 1)
    temperature: float = 1.0  # tau: both distributions at logits / tau, the loss scaled by tau^2
    top_k: int = 0  # the teacher's top-k tokens per position (0: all V)
    lambda_on_policy: float = 0.0  # probability that a step's completions are the student's own samples
    sample_temperature: float = 1.0  # the student's sampling temperature on on-policy steps
    chunk_positions: int = DEFAULT_CHUNK_POSITIONS  # positions per chunk of the loss (bounds its temporaries)

    POSITIVE_INTS: ClassVar[tuple[str, ...]] = (*SFTConfig.POSITIVE_INTS, "chunk_positions")

    def __post_init__(self):
        super().__post_init__()
        check_distill_settings(self.loss, self.beta, self.temperature, self.top_k)
        if not (isinstance(self.lambda_on_policy, (int, float)) and 0 <= self.lambda_on_policy <= 1):
            raise InputError(f"lambda_on_policy must lie in [0, 1], got {self.lambda_on_policy!r}")
        if not (isinstance(self.sample_temperature, (int, float)) and self.sample_temperature > 0):
            raise InputError(f"sample_temperature must be > 0, got {self.sample_temperature!r}")


class DistillTrainer(SequenceTrainer):
    """Logit distillation of ``teacher`` into the model: SFT's step with the distillation loss."""

    def __init__(self, model, tokenizer, train, validation, config: DistillConfig, teacher):
        if not isinstance(config, DistillConfig):
            raise InputError("a teacher needs a DistillConfig (the distillation loss's settings)")
        super().__init__(model, tokenizer, train, validation, config)
        self.teacher = teacher

    def batch(self, model, rng, rows):
        """The data's completions, or with probability lambda_on_policy the student's own samples."""
        config = self.config
        on_policy = config.lambda_on_policy > 0 and rng.random() < config.lambda_on_policy
        if not on_policy:
            packed, metrics = super().batch(model, rng, rows)
        else:
            packed, metrics = self._sample(model, rng, rows)
        return packed, {**metrics, "on_policy": int(on_policy)}

    def part_loss(self, model, part, weight: float):
        """The distillation loss of a micro-batch, times its share of the update's tokens; the
        teacher-student KL, weighted the same, as its metric."""
        config = self.config
        input_ids, _, loss_mask, attention_mask = part
        teacher = teacher_targets(self.teacher, input_ids, attention_mask, loss_mask, config.top_k)

        def loss_fn(logits):
            loss, dlogits, figures = distillation_loss(logits, teacher, to_module(loss_mask, model.array_module),
                                                       config.loss, config.beta, config.temperature,
                                                       config.chunk_positions)
            return loss * weight, dlogits * dlogits.dtype.type(weight), {"kl_teacher_student": weight * figures["kl"]}

        return model.logits_loss_and_grads(input_ids, loss_fn, attention_mask)

    def _sample(self, model, rng, rows):
        """On-policy: the student's own completions of the rows' prompts (the one rollout path)."""
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
        """The distillation loss, the teacher-student KL and the NLL on the validation examples."""
        if min(len(self.validation), self.config.validation_max_examples) == 0:
            return {}
        config = self.config
        sums = {"nll": 0.0, "distill": 0.0, "kl": 0.0}
        tokens = 0
        for input_ids, targets, loss_mask, attention_mask in self.validation_batches():
            n = int(loss_mask.sum())
            logits = model.logits(input_ids, attention_mask)
            device_mask = to_module(loss_mask, model.array_module)
            sums["nll"] += n * cross_entropy_forward(logits, to_module(targets, model.array_module), device_mask)[0]
            teacher = teacher_targets(self.teacher, input_ids, attention_mask, loss_mask, config.top_k)
            loss, _, figures = distillation_loss(logits, teacher, device_mask, config.loss, config.beta,
                                                 config.temperature, config.chunk_positions, with_gradient=False)
            sums["distill"] += n * loss
            sums["kl"] += n * figures["kl"]
            tokens += n
        tokens = max(tokens, 1)
        return {"validation_loss": sums["distill"] / tokens, "validation_kl": sums["kl"] / tokens,
                "validation_nll": sums["nll"] / tokens}


def train_distill(model, tokenizer, teacher, teacher_tokenizer, data, config: DistillConfig, out_dir,
                  eval_records: list[dict] | None = None, resume: bool = True, progress: bool = True,
                  run_identity: dict | None = None, log=None) -> dict:
    """Logit distillation of ``teacher`` into ``model`` (in place): ``config.loss`` (fkl | rkl | jsd) at
    ``config.temperature`` on the data's completions, or, with probability ``config.lambda_on_policy``
    per step, on the student's own samples of the same prompts (on-policy distillation, GKD).
    Teacher and student must share a tokenizer (ConfigError otherwise).  Files and history as
    :func:`minireason.posttrain.sft.train_sft`, with the teacher-student KL in metrics and eval."""
    vocabulary = check_same_tokenizer(model, tokenizer, teacher, teacher_tokenizer)
    train_set, validation, report = load_sequences(data, tokenizer, config.prompt_format, config.max_tokens,
                                                   config.validation_fraction)
    trainer = DistillTrainer(model, tokenizer, train_set, validation, config, teacher)
    identity = {"distill": config.identity(), "initial_weights_sha256": weights_sha256(model.params),
                "teacher_weights_sha256": weights_sha256(teacher.params), "vocabulary_sha256": vocabulary,
                "train_data_sha256": train_set.fingerprint(), **(run_identity or {})}
    return run_method(model, tokenizer, trainer, config, out_dir, eval_records, resume, progress, identity, report,
                      log)
