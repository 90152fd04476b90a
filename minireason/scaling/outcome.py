"""What every scaling method takes (its settings) and gives back (its outcome) for one problem.

A method is a function ``method(sampler, problem, is_correct, settings, seed) -> MethodOutcome``:
it asks the sampler for completions, turns them into one final answer, and grades it with
``is_correct(answer) -> bool`` (the gold answer stays outside the method; only the oracle scorer
of best-of-N looks through it). The extractor and the equivalence used for voting are settings
rather than imports, so tests can script them and a user can swap them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from minireason.errors import InputError
from minireason.evaluation.extract import extract_answer
from minireason.evaluation.grader import grade_answer

Extractor = Callable[[str], "str | None"]
Judge = Callable[["str | None"], bool]


def default_extractor() -> Extractor:
    """``extract_answer`` from the evaluation package: the last boxed answer, else the last number."""
    return extract_answer


def default_equivalence() -> Callable[[str, str], bool]:
    """The equivalence votes use when none is given: ``grade_answer`` (one answer, however it is written)."""
    return grade_answer


@dataclass
class ScalingSettings:
    """Knobs shared by all methods.

    max_new_tokens: per completion; temperature: for the *sampled* completions (greedy and cot
    always decode at temperature 0); prompt_format: ``"plain"`` or ``"chat"`` (see prompts.py);
    extract: completion text -> answer string or None; equivalent: (answer, other) -> same answer?
    """

    max_new_tokens: int = 256
    temperature: float = 0.8
    prompt_format: str = "plain"
    extract: Extractor | None = None
    equivalent: Callable[[str, str], bool] | None = None

    def __post_init__(self):
        if isinstance(self.max_new_tokens, bool) or not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise InputError(f"ScalingSettings: field 'max_new_tokens': expected an int >= 1, got {self.max_new_tokens!r}")
        if not isinstance(self.temperature, (int, float)) or not self.temperature > 0:
            raise InputError(f"ScalingSettings: field 'temperature': expected a number > 0 for sampled methods, "
                             f"got {self.temperature!r}")
        if self.extract is None:
            self.extract = default_extractor()
        if self.equivalent is None:
            self.equivalent = default_equivalence()



@dataclass
class MethodOutcome:
    """One method on one problem: the final answer, whether it is right, and what it cost.

    compute: :meth:`ComputeMeter.as_dict`; details: method-specific facts (vote distribution,
    per-sample answers, scores, accepted revisions, ...), all JSON-serialisable.
    """

    answer: str | None
    correct: bool
    completion: str
    compute: dict
    details: dict = field(default_factory=dict)


def finite_or_none(value: float) -> float | None:
    """JSON has no infinity: an empty completion's -inf log-probability is written as null."""
    return float(value) if math.isfinite(value) else None
