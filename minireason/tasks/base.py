"""What every synthetic task family shares: the Problem record, the family protocol,
the train/test split rule, and the text forms a problem is rendered into.

A *problem* is a question with one checkable answer ("Compute 4821+397." -> ``5218``).
It comes with two completions a model can be trained on:

- the **direct** completion, only the answer: ``\\boxed{5218}``;
- the **trace** completion, a short worked solution inside a ``<think>`` block, then the answer::

      <think>
      1+7+0=8, 8
      2+9+0=11, 18
      8+3+1=12, 218
      4+0+1=5, 5218
      </think>
      \\boxed{5218}

A *flawed* problem carries a trace with one deliberate mistake carried through to a wrong
boxed answer; its gold ``answer`` stays the true one, so a grader marks that trace wrong.

Splits are decided by the problem text alone: ``sha256(text) mod 10 < 8`` is train, the
rest is test. The same text therefore always lands in the same split, whichever seed,
family or difficulty produced it, and the two splits can never share a problem.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import re
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from minireason.errors import InputError
from minireason.evaluation.prompts import check_style

SPLITS = ("train", "test")
TRAIN_BUCKETS = 8  # of 10: 80% of all problem texts are train, 20% test


@dataclass(frozen=True)
class Problem:
    """One generated problem with its gold answer and both completions.

    ``text`` is canonical: two problems with the same text are the same problem.
    ``data`` holds the family's own description (operands, numbers, target, ...) as plain
    JSON values, so a problem can be re-checked or re-traced after a round trip to disk.
    """

    family: str
    text: str
    answer: str
    difficulty: int
    unique_id: str
    direct_completion: str = ""
    trace_completion: str = ""
    flawed: bool = False
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def split(self) -> str:
        return split_of(self.text)


@runtime_checkable
class TaskFamily(Protocol):
    """A family of problems: how to make one, check an answer, and write a worked solution."""

    name: str
    description: str
    default_difficulty: int
    max_difficulty: int

    def generate(self, rng: random.Random, difficulty: int) -> Problem:
        """Draw one problem of this difficulty, with both completions filled in."""

    def verify(self, problem: Problem, answer_text: str) -> bool:
        """True when ``answer_text`` (the content of the final box) solves the problem."""

    def write_trace(self, problem: Problem, rng: random.Random, mistake: bool = False) -> str:
        """The trace completion; with ``mistake=True`` one step is wrong and so is the answer."""


# ---------------------------------------------------------------------------- splits


def text_hash(text: str) -> str:
    """Hex sha256 of the problem text: the problem's identity and its split."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def split_of(text: str) -> str:
    """``"train"`` or ``"test"``, decided by the text alone (80% / 20%)."""
    return "train" if int(text_hash(text), 16) % 10 < TRAIN_BUCKETS else "test"


def unique_id_of(family: str, text: str) -> str:
    """A problem's stable id: its family and a hash of its text."""
    return f"{family}/{text_hash(text)[:12]}"


def check_split(split: str) -> str:
    """``split`` if it is one of the task splits, else an ``InputError`` naming them."""
    if split not in SPLITS:
        raise InputError(f"split: expected one of {SPLITS}, got {split!r}")
    return split


def check_difficulty(family: str, difficulty: Any, max_difficulty: int) -> int:
    """``difficulty`` if it is an int in ``1..max_difficulty``, else an ``InputError`` naming the family and the range."""
    if isinstance(difficulty, bool) or not isinstance(difficulty, int) or not 1 <= difficulty <= max_difficulty:
        raise InputError(
            f"difficulty of task family {family!r}: expected an integer in 1..{max_difficulty}, got {difficulty!r}"
        )
    return difficulty


# ---------------------------------------------------------------------------- completions


def boxed(answer: str) -> str:
    """``answer`` wrapped in ``\\boxed{}``, the form the graders extract."""
    return "\\boxed{" + answer + "}"


def format_trace(steps: list[str], answer: str) -> str:
    """Wrap reasoning lines in a ``<think>`` block and end with the boxed answer."""
    return "<think>\n" + "\n".join(steps) + "\n</think>\n" + boxed(answer)


def last_boxed(completion: str) -> str | None:
    """Content of the last ``\\boxed{...}`` in a completion (balanced braces), or None.

    Only what this package writes needs reading here; the general extractor for model
    output is ``minireason.evaluation.extract``.
    """
    start = completion.rfind("\\boxed{")
    if start < 0:
        return None
    depth, begin = 0, start + len("\\boxed{")
    for index in range(begin, len(completion)):
        character = completion[index]
        if character == "{":
            depth += 1
        elif character == "}":
            if depth == 0:
                return completion[begin:index]
            depth -= 1
    return None


_INTEGER = re.compile(r"([+-]?[0-9]{1,40})(?:\.0*)?")


def integer_answer_matches(answer_text: str, expected: int) -> bool:
    """Integer answer check shared by the arithmetic families.

    Accepts ``5218``, ``5,218``, ``5218.0``, `` $5218$ ``; anything else (including numbers
    longer than 40 digits) is simply wrong. The general grader is
    ``minireason.evaluation.grader.grade_answer``.
    """
    text = answer_text.strip().strip("$").strip().rstrip(".").replace(",", "").replace(" ", "")
    match = _INTEGER.fullmatch(text)
    return match is not None and int(match.group(1)) == expected


def make_problem(family: TaskFamily, text: str, answer: str, difficulty: int, data: dict,
                 rng: random.Random) -> Problem:
    """Build a Problem and fill in its direct and (correct) trace completions."""
    problem = Problem(family=family.name, text=text, answer=answer, difficulty=difficulty,
                      unique_id=unique_id_of(family.name, text), data=data)
    return dataclasses.replace(problem, direct_completion=boxed(answer),
                               trace_completion=family.write_trace(problem, rng))


def make_flawed(family: TaskFamily, problem: Problem, rng: random.Random) -> Problem:
    """A copy of ``problem`` whose trace contains one deliberate mistake, marked ``flawed``.

    The gold answer is unchanged; the trace's boxed answer is wrong (the family's own
    verifier rejects it).
    """
    return dataclasses.replace(problem, flawed=True,
                               trace_completion=family.write_trace(problem, rng, mistake=True))


def review(draft_trace: str, correct_trace: str) -> str:
    """What a checker of ``draft_trace`` should say, knowing the right trace worked the same way:
    the first line that differs and what it should read, or that the solution is correct."""
    draft_lines, correct_lines = draft_trace.split("\n"), correct_trace.split("\n")
    for draft_line, correct_line in zip(draft_lines, correct_lines):
        if draft_line != correct_line:
            return f"The first wrong step is {draft_line}; it should be {correct_line}."
    if len(draft_lines) != len(correct_lines):
        raise ValueError("the traces differ in length but agree line by line: not worked the same way")
    return "The solution is correct."


# ---------------------------------------------------------------------------- completions for training


def render_completion(problem: Problem, style: str = "cot") -> str:
    """What should follow the prompt ``PromptSpec(style).text(problem.text)`` (the plain format of the
    one prompt spec, :mod:`minireason.evaluation.prompts`): the boxed answer, or trace then boxed answer."""
    return problem.trace_completion if check_style(style) == "cot" else problem.direct_completion
