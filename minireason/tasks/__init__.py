"""Synthetic verifiable task families: problems with checkable answers and worked traces.

Importing this package hands every family's verifier to the one judge
(:func:`minireason.evaluation.judge.register_verifier`); ``judge_completion`` is re-exported here so
that ``minireason.judge_completion`` always judges task records with them.

Four families, each a module with a ``FAMILY`` object following
:class:`~minireason.tasks.base.TaskFamily`:

- ``addition``: multi-digit addition and subtraction, column by column;
- ``arithmetic``: expressions with ``+ - * /`` and parentheses, one operation per line;
- ``linear_equation``: ``a*x+b=c*x+d`` solved for x (fractions allowed);
- ``countdown``: reach a target with given numbers; the answer is an expression.

``generate_problems("addition", 100, split="test", seed=0)`` draws problems until it has
100 distinct ones whose text hashes into the test split (see :func:`base.split_of`).
The same arguments always give the same problems.
"""

from __future__ import annotations

import random

from minireason.errors import InputError
from minireason.evaluation.judge import judge_completion, register_verifier
from minireason.tasks import addition, arithmetic, countdown, linear_equation
from minireason.tasks.base import (
    Problem,
    TaskFamily,
    check_split,
    make_flawed,
    render_completion,
    split_of,
)
from minireason.tasks.export import problem_from_record, resolve_data, to_record, verify_record, write_jsonl

FAMILIES: dict[str, TaskFamily] = {
    module.FAMILY.name: module.FAMILY for module in (addition, arithmetic, linear_equation, countdown)
}

# each family's verifier judges its records wherever the one judge is asked
for _name in FAMILIES:
    register_verifier(_name, verify_record)

# give up after this many draws in a row brought nothing new for the split
MAX_MISSES_IN_A_ROW = 5000


def get_family(name: str) -> TaskFamily:
    """The family called ``name``; an InputError lists the known names otherwise."""
    try:
        return FAMILIES[name]
    except (KeyError, TypeError):
        raise InputError(f"task family: expected one of {sorted(FAMILIES)}, got {name!r}") from None


def generate_problems(family: str, n: int, split: str = "train", seed: int = 0,
                      difficulty: int | None = None) -> list[Problem]:
    """``n`` distinct problems of one family, all from ``split``, reproducible from ``seed``.

    ``difficulty`` defaults to the family's ``default_difficulty``. Raises InputError when
    the family at that difficulty has too few distinct problems in the split to supply n.
    """
    task = get_family(family)
    check_split(split)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise InputError(f"n: expected a non-negative integer, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InputError(f"seed: expected an integer, got {seed!r}")
    level = task.default_difficulty if difficulty is None else difficulty
    rng = random.Random(seed)
    problems: dict[str, Problem] = {}
    misses = 0
    while len(problems) < n and misses < MAX_MISSES_IN_A_ROW:
        problem = task.generate(rng, level)
        if problem.text not in problems and split_of(problem.text) == split:
            problems[problem.text] = problem
            misses = 0
        else:
            misses += 1
    if len(problems) < n:
        raise InputError(
            f"n: asked for {n} distinct {family} problems of difficulty {level} in the {split} split, "
            f"found only {len(problems)}; use a higher difficulty or a smaller n"
        )
    return list(problems.values())


def flawed_copy(problem: Problem, seed: int | random.Random = 0) -> Problem:
    """``problem`` with a deliberately mistaken trace (marked ``flawed=True``)."""
    rng = seed if isinstance(seed, random.Random) else random.Random(seed)
    return make_flawed(get_family(problem.family), problem, rng)


def verify(problem: Problem, answer_text: str | None) -> bool:
    """Whether ``answer_text`` (e.g. the last ``\\boxed{}``'s content) solves ``problem``."""
    if answer_text is None:
        return False
    return get_family(problem.family).verify(problem, answer_text)


__all__ = [
    "FAMILIES",
    "Problem",
    "TaskFamily",
    "flawed_copy",
    "generate_problems",
    "get_family",
    "judge_completion",
    "problem_from_record",
    "resolve_data",
    "render_completion",
    "split_of",
    "to_record",
    "verify",
    "verify_record",
    "write_jsonl",
]
