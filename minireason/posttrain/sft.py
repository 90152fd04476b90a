"""Supervised fine-tuning: the masked mean negative log-likelihood of completion tokens.

One step of :class:`SequenceTrainer` (SFT; logit distillation, distill.py, plugs in another loss):

    draw batch_size examples from one length bucket (data.py) ─▶ pack prompt + completion
    ─▶ micro-batches: model ─▶ logp ─masked mean NLL, times the micro-batch's token share─▶ dlogp
    ─▶ one optimizer update (training/step.py: accumulation, non-finite guard; the loop clips)

:func:`train_sft` is the Python API (``minireason sft`` is a thin layer over it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from minireason.device import to_module
from minireason.errors import InputError
from minireason.generation.generate import pad_token_id
from minireason.generation.sequences import pack_completions
from minireason.identity import weights_sha256
from minireason.nn.loss import cross_entropy_forward, masked_mean_nll
from minireason.posttrain.data import LengthBuckets, load_sequences, micro_batches, trimmed
from minireason.posttrain.run import run_method
from minireason.training.config import TrainerConfig
from minireason.training.loop import Trainer
from minireason.training.step import training_step


@dataclass
class SFTConfig(TrainerConfig):
    """Every setting of an SFT run (the CLI flags and the TOML keys have these names)."""

    batch_size: int = 32  # sequences per optimizer update
    micro_batch_size: int = 32  # sequences per forward/backward (gradient accumulation bounds memory)
    max_tokens: int = 512  # prompt + completion; longer examples are dropped (and counted)
    length_buckets: int = 8
    validation_fraction: float = 0.05  # share of the prompts (by hash) held out for the validation loss
    validation_max_examples: int = 256  # validation loss on at most this many of them

    BOOKKEEPING: ClassVar[tuple[str, ...]] = (*TrainerConfig.BOOKKEEPING, "validation_max_examples")
    POSITIVE_INTS: ClassVar[tuple[str, ...]] = ("batch_size", "micro_batch_size", "max_tokens", "length_buckets",
                                                "validation_max_examples")

    def __post_init__(self):

        super().__post_init__()
        if not (isinstance(self.validation_fraction, (int, float)) and 0 <= self.validation_fraction < 1):
            raise InputError(f"validation_fraction must lie in [0, 1), got {self.validation_fraction!r}")


def scaled(loss_fn, weight: float):
    """A token-seam loss function times ``weight`` (a micro-batch's share of its update)."""

    def scaled_loss(logp, entropy=None):
        loss, dlogp, dentropy = loss_fn(logp, entropy)
        return loss * weight, dlogp * dlogp.dtype.type(weight), dentropy

    return scaled_loss


class SequenceTrainer(Trainer):
    """Batches of (prompt, completion) sequences, one update per step; SFT's loss.  A subclass plugs in
    another loss (``part_loss``), another way to get a step's sequences (``batch``) and other
    validation figures."""

    def __init__(self, model, tokenizer, train, validation, config: SFTConfig):
        self.tokenizer, self.train, self.validation, self.config = tokenizer, train, validation, config
        self.buckets = LengthBuckets(train.lengths, config.length_buckets)
        self.pad_id = pad_token_id(tokenizer, model)

    def batch(self, model, rng: np.random.Generator, rows) -> tuple[tuple, dict]:
        """The step's packed (input_ids, targets, loss_mask, attention_mask) and figures of making it."""
        return pack_completions([self.train.prompt_ids[i] for i in rows],
                                [self.train.completion_ids[i] for i in rows], self.pad_id), {}

    def part_loss(self, model, part, weight: float) -> tuple[float, dict, dict]:
        """SFT: the masked mean NLL of a micro-batch, times its share of the update's tokens."""
        input_ids, targets, loss_mask, attention_mask = part
        loss, grads = model.token_loss_and_grads(input_ids, targets, scaled(masked_mean_nll(
            to_module(loss_mask, model.array_module)), weight), loss_mask, attention_mask)
        return loss, grads, {}

    def step(self, model, rng: np.random.Generator, step: int, apply_update) -> tuple[float, dict]:
        config = self.config
        started = time.perf_counter()
        rows = self.buckets.draw(rng, config.batch_size)
        packed, metrics = self.batch(model, rng, rows)
        total = int(packed[2].sum())  # completion tokens of the whole update

        def part_loss(part):
            return self.part_loss(model, part, float(part[2].sum()) / max(total, 1))

        parts = (trimmed(packed, rows) for rows in micro_batches(len(rows), config.micro_batch_size))
        loss, figures = training_step(parts, part_loss, apply_update)
        seconds = time.perf_counter() - started
        learner_tokens = int(packed[3].sum())
        metrics.update(tokens=total, tokens_per_second=learner_tokens / max(seconds, 1e-9), step_seconds=seconds,
                       **figures)
        return loss, metrics

    def validation_batches(self):
        """The validation examples (at most validation_max_examples), similar lengths together:
        (input_ids, targets, loss_mask, attention_mask) per micro-batch."""
        count = min(len(self.validation), self.config.validation_max_examples)
        order = np.argsort(self.validation.lengths[:count], kind="stable")  # similar lengths share a batch
        for part in micro_batches(count, self.config.micro_batch_size):
            rows = order[part]
            yield trimmed(pack_completions([self.validation.prompt_ids[i] for i in rows],
                                           [self.validation.completion_ids[i] for i in rows], self.pad_id),
                          slice(None))

    def validation_figures(self, model) -> dict:
        """Validation loss (token-mean NLL) on the validation examples, without a backward."""
        if min(len(self.validation), self.config.validation_max_examples) == 0:
            return {}
        nll, tokens = 0.0, 0
        for input_ids, targets, loss_mask, attention_mask in self.validation_batches():
            n = int(loss_mask.sum())
            logits = model.logits(input_ids, attention_mask)
            nll += n * cross_entropy_forward(logits, to_module(targets, model.array_module),
                                             to_module(loss_mask, model.array_module))[0]
            tokens += n
        return {"validation_loss": nll / max(tokens, 1)}


def train_sft(model, tokenizer, data, config: SFTConfig, out_dir, eval_records: list[dict] | None = None,
              resume: bool = True, progress: bool = True, run_identity: dict | None = None, log=None) -> dict:
    """Supervised fine-tuning of ``model`` (in place) on traces or (prompt, completion) records.

    data: a file (JSON list or JSONL) or a list of records (see ``minireason.posttrain.data``).
    Writes into ``out_dir`` what ``minireason grpo`` writes: metrics.jsonl/.csv, eval.jsonl/.csv and
    eval/ (validation loss and held-out accuracy at step 0, every eval_every steps and the last),
    checkpoint/ (exact resume), final/ (a Hugging Face directory) and summary.json.
    Returns {"summary", "metrics", "eval", "paired" (held-out before/after), "data" (the DataReport)}.
    """
    train_set, validation, report = load_sequences(data, tokenizer, config.prompt_format, config.max_tokens,
                                                   config.validation_fraction)
    trainer = SequenceTrainer(model, tokenizer, train_set, validation, config)
    identity = {"sft": config.identity(), "initial_weights_sha256": weights_sha256(model.params),
                "train_data_sha256": train_set.fingerprint(), **(run_identity or {})}
    return run_method(model, tokenizer, trainer, config, out_dir, eval_records, resume, progress, identity, report,
                      log)
