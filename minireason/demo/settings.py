"""The demo's settings: every knob, the full budget and the quick one CI runs, and the data they name."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from minireason.errors import InputError

STAGES = ("generation", "direct", "scaling", "grpo", "distillation")
PROMPT_FORMAT = "plain"  # the built-in models read the plain one-line task prompts
# the evaluations of this demo read a final-answer phrase or the last number when there is no box
# (the scaling methods' extractor does); GRPO and distillation count boxed answers only, as the reward does
ANSWER_FALLBACK = "number"


@dataclass
class DemoSettings:
    """Every knob of the demo; :meth:`quick` is the reduced budget CI runs."""

    model: str = "builtin:base"
    student: str = "builtin:student"
    family: str = "addition"
    difficulty: int = 3  # 3-digit additions: the base model errs, but not always
    held_out: int = 1000  # test-split problems of every held-out accuracy
    data_seed: int = 99
    seed: int = 0
    max_new_tokens: int = 128  # per chain of thought
    # generation: decode speed with and without the KV cache on the first few held-out prompts
    generation_prompts: int = 16
    generation_tokens: int = 64
    # scaling: the sampled methods run problem by problem (scaling.runner), on the first few held-out problems
    scaling_problems: int = 100
    scaling_methods: str = "sc@8,bon@8,refine@2"
    temperature: float = 0.6  # sampled chains: where self-consistency gains most on the built-in base (docs/builtin_models.md)
    # budget@N rows: at most N thinking tokens; the base thinks 38 to 68 tokens on these problems, so the
    # budgets span the whole chain (below its shortest, up to past its longest)
    thinking_budgets: tuple[int, ...] = (32, 48, 64, 96)
    # GRPO (docs/rl.md's recipe, fewer steps)
    grpo_steps: int = 60
    grpo_prompts_per_step: int = 16
    grpo_group_size: int = 8
    grpo_learning_rate: float = 1e-4
    grpo_train_problems: int = 5000
    grpo_eval_every: int = 30
    # distillation: the teacher's verified traces of train-split problems, then logit distillation
    distill_problems: int = 1000
    distill_samples: int = 4  # teacher samples per problem (rejection sampling keeps the right ones)
    distill_steps: int = 150
    distill_batch_size: int = 32
    distill_learning_rate: float = 3e-3
    distill_eval_every: int = 75
    # GRPO in a child process beside the other stages (two cores or more, Linux); False: one after another
    parallel: bool = True

    def __post_init__(self):
        for name in ("difficulty", "held_out", "max_new_tokens", "generation_prompts", "generation_tokens",
                     "scaling_problems", "grpo_steps", "grpo_prompts_per_step", "grpo_group_size",
                     "grpo_train_problems", "distill_problems", "distill_samples", "distill_steps",
                     "distill_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"demo setting {name}: expected an int >= 1, got {value!r}")
        for name in ("data_seed", "seed", "grpo_eval_every", "distill_eval_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(f"demo setting {name}: expected an int >= 0, got {value!r}")
        if self.scaling_problems > self.held_out:
            raise InputError(f"demo setting scaling_problems: {self.scaling_problems} is more than the "
                             f"{self.held_out} held-out problems")
        if self.generation_prompts > self.held_out:
            raise InputError(f"demo setting generation_prompts: {self.generation_prompts} is more than the "
                             f"{self.held_out} held-out problems")
        if not isinstance(self.parallel, bool):
            raise InputError(f"demo setting parallel: expected True or False, got {self.parallel!r}")
        if isinstance(self.thinking_budgets, (str, bytes)) or not hasattr(self.thinking_budgets, "__iter__"):
            raise InputError(f"demo setting thinking_budgets: expected a sequence of ints >= 1, "
                             f"got {self.thinking_budgets!r}")
        budgets = tuple(self.thinking_budgets)
        if any(isinstance(budget, bool) or not isinstance(budget, int) or budget < 1 for budget in budgets):
            raise InputError(f"demo setting thinking_budgets: expected ints >= 1, got {self.thinking_budgets!r}")
        self.thinking_budgets = tuple(sorted(set(budgets)))

    @classmethod
    def quick(cls, **overrides) -> DemoSettings:
        """Every stage on a reduced budget: the same code paths, figures too small to mean much."""
        values = dict(held_out=100, generation_prompts=4, generation_tokens=24, scaling_problems=4,
                      scaling_methods="sc@4,bon@4,refine@1", thinking_budgets=(16, 32), grpo_steps=2,
                      grpo_prompts_per_step=4, grpo_group_size=4, grpo_train_problems=200, grpo_eval_every=0,
                      distill_problems=16, distill_samples=2, distill_steps=3, distill_batch_size=8,
                      distill_eval_every=0)
        values.update(overrides)
        return cls(**values)

    def held_out_data(self) -> str:
        """The task spec of the held-out (test-split) problems every accuracy is measured on."""
        return (f"task:{self.family}?n={self.held_out}&split=test&difficulty={self.difficulty}"
                f"&seed={self.data_seed}")

    def train_data(self, problems: int) -> str:
        """The task spec of ``problems`` train-split problems (never shared with the held-out ones)."""
        return f"task:{self.family}?n={problems}&split=train&difficulty={self.difficulty}&seed={self.seed}"

    def as_dict(self) -> dict:
        """The settings as JSON values (tuples as lists), for run.json."""
        return {key: (list(value) if isinstance(value, tuple) else value)
                for key, value in dataclasses.asdict(self).items()}
