"""The families by name, and the problems they make: ``generate_problems(family, n, split, seed)``."""

from __future__ import annotations

import random

from minireason.errors import InputError
from minireason.tasks import addition, arithmetic, countdown, linear_equation
from minireason.tasks.base import Problem, TaskFamily, check_split, make_flawed, split_of

FAMILIES: dict[str, TaskFamily] = {
    module.FAMILY.name: module.FAMILY for module in (addition, arithmetic, linear_equation, countdown)
}

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
