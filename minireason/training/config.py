"""The settings every trainer shares, declared once: optimizer, schedule, seed, evaluation, checkpoints.

A method's config (``SFTConfig``, ``GRPOConfig``, ...) subclasses :class:`TrainerConfig` and adds
only its own fields (or a different default for a shared one); the CLI flags and the TOML file's
keys are the field names.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from minireason.errors import InputError
from minireason.training.loop import TrainConfig


def check_int(config, name: str, minimum: int = 1) -> None:
    """One-line InputError unless ``config.name`` is an int >= minimum (a bool is not an int here)."""
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"{name} must be an int >= {minimum}, got {value!r}")


@dataclass
class TrainerConfig:
    """The shared settings of a fine-tuning run (the CLI flags and the TOML keys have these names)."""

    steps: int = 200
    learning_rate: float = 1e-3
    warmup_steps: int = 10
    schedule: str = "cosine"  # "cosine" (linear warmup, cosine decay) or "constant" (warmup, then flat)
    min_lr_ratio: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 0
    prompt_format: str = "plain"  # plain (built-in models) | chat (Qwen3 chat template, thinking on)
    max_new_tokens: int = 128  # completion limit of sampling and of held-out evaluation
    eval_max_new_tokens: int | None = None  # None: max_new_tokens
    eval_every: int = 50
    eval_batch_size: int = 256
    checkpoint_every: int = 50
    max_bad_steps: int = 1  # a non-finite update stops the run (the last good checkpoint stays)

    # settings that change the run's length or bookkeeping, not what it computes
    BOOKKEEPING: ClassVar[tuple[str, ...]] = ("steps", "eval_every", "eval_batch_size", "checkpoint_every",
                                              "max_bad_steps")
    POSITIVE_INTS: ClassVar[tuple[str, ...]] = ()  # a method's own int fields >= 1
    NON_NEGATIVE_INTS: ClassVar[tuple[str, ...]] = ()  # and >= 0

    def __post_init__(self):
        for name in ("steps", "max_new_tokens", "eval_batch_size", "checkpoint_every", "max_bad_steps",
                     *self.POSITIVE_INTS):
            check_int(self, name)
        for name in ("warmup_steps", "eval_every", *self.NON_NEGATIVE_INTS):
            check_int(self, name, 0)
        if self.eval_max_new_tokens is not None:
            check_int(self, "eval_max_new_tokens")
        if self.prompt_format not in ("plain", "chat"):
            raise InputError(f"prompt_format must be plain or chat, got {self.prompt_format!r}")
        self.betas = tuple(float(beta) for beta in self.betas)
        self.train_config()  # the loop's own checks (learning rate, schedule, betas, seed)

    def train_config(self) -> TrainConfig:
        """The loop's settings of this run (a metrics row per step)."""
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
        """The config from a dict of settings (a TOML file's, the flags'), naming unknown keys."""
        fields = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise InputError(f"{where}: unknown setting(s) {unknown}; known: {sorted(fields)}")
        return cls(**values)
