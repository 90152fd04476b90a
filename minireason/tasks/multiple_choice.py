"""The built-in multiple-choice version of every task family: the right answer among distractors
made from the family's own plausible mistakes.

A distractor is the boxed answer of a flawed trace (:func:`minireason.tasks.base.make_flawed`: a
dropped carry, a sign moved wrongly, a misread number), so the wrong options are the ones a model
that slips would write, not random numbers. Each is checked wrong by the family's verifier. Where a
problem's mistakes give too few distinct wrong answers (a one-digit sum has few), an integer answer
is completed with near neighbours (answer +- 1, 2, ...), still checked wrong; a problem that cannot
be completed is skipped. The right option's position is drawn per problem from its own seed, so it
is spread evenly over the letters and the same problem always gets the same options.
"""

from __future__ import annotations

import random

from minireason.errors import InputError
from minireason.evaluation.multiple_choice import choice_record
from minireason.tasks import FAMILIES, flawed_copy, generate_problems, get_family, verify
from minireason.tasks.base import Problem, last_boxed, text_hash

# flawed traces tried per problem before falling back on neighbours
MISTAKE_TRIES = 40


def distractors(problem: Problem, count: int, seed: int = 0) -> list[str] | None:
    """``count`` distinct wrong answers from the family's mistakes (then integer neighbours), or None."""
    rng = random.Random(f"{seed}/{problem.unique_id}")
    wrong: list[str] = []
    for _ in range(MISTAKE_TRIES):
        if len(wrong) == count:
            return wrong
        answer = last_boxed(flawed_copy(problem, rng).trace_completion)
        if answer is not None and answer not in wrong and answer != problem.answer and not verify(problem, answer):
            wrong.append(answer)
    try:
        value = int(problem.answer)
    except ValueError:
        return wrong if len(wrong) == count else None
    for step in range(1, 4 * count + 1):
        for candidate in (str(value + step), str(value - step)):
            if len(wrong) < count and candidate not in wrong and not verify(problem, candidate):
                wrong.append(candidate)
    return wrong if len(wrong) == count else None


def choice_problem(problem: Problem, choices: int = 4, seed: int = 0) -> dict | None:
    """``problem`` as a multiple-choice record with ``choices`` options, or None when too few mistakes."""
    wrong = distractors(problem, choices - 1, seed)
    if wrong is None:
        return None
    position = int(text_hash(f"{seed}/{problem.text}"), 16) % choices
    options = wrong[:position] + [problem.answer] + wrong[position:]
    return choice_record(problem.text, options, position, problem.unique_id, unique_id=problem.unique_id,
                         subject=problem.family, level=problem.difficulty, family=problem.family)


def choice_problems(family: str, n: int, split: str = "test", seed: int = 0, difficulty: int | None = None,
                    choices: int = 4) -> list[dict]:
    """``n`` multiple-choice records of one family (``"all"``: the families in turn), reproducible."""
    if isinstance(choices, bool) or not isinstance(choices, int) or not 2 <= choices <= 10:
        raise InputError(f"choices: expected an int in 2..10, got {choices!r}")

    families = sorted(FAMILIES) if family == "all" else [get_family(family).name]
    shares = [n // len(families) + (index < n % len(families)) for index in range(len(families))]
    records: list[dict] = []
    for name, share in zip(families, shares):
        # a few spare problems in case some cannot get enough distinct mistakes
        pool = generate_problems(name, share + share // 4 + 8, split=split, seed=seed, difficulty=difficulty) \
            if share else []
        made = [record for record in (choice_problem(problem, choices, seed) for problem in pool) if record]
        if len(made) < share:
            raise InputError(f"n: asked for {share} multiple-choice {name} problems, could make only {len(made)}; "
                             "use a higher difficulty or a smaller n")
        records.extend(made[:share])
    return records
