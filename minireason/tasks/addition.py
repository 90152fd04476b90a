"""Multi-digit addition and subtraction, worked column by column.

Difficulty ``d`` (1..8) is the number of digits of the larger operand; the other operand
has 1..d digits. Subtractions always have the larger number first, so answers are >= 0.

The trace handles one column per line, ones first: the two digits, the carry (or borrow)
coming in, the column result, and the answer digits found so far::

    Compute 4821+397.           Compute 4821-397.
    1+7+0=8, 8                  11-7-0=4, 4        (borrowed: 1 became 11)
    2+9+0=11, 18                12-9-1=2, 24
    8+3+1=12, 218               8-3-1=4, 424
    4+0+1=5, 5218               4-0-0=4, 4424

A sum of 10 or more carries 1 into the next line; in subtraction a column that would go
below zero borrows 10, written as the enlarged top digit, and passes 1 down. The digits
so far are the answer read right to left, so the last line holds the whole answer (with
any leading zeros of a subtraction dropped in the box).

A flawed trace makes one slip in one column (a sum off by one, or a dropped carry or
borrow) and carries on correctly from there, so the answer is off by a power of ten.
"""

from __future__ import annotations

import random

from minireason.tasks.base import (
    Problem,
    check_difficulty,
    format_trace,
    integer_answer_matches,
    make_problem,
)

MAX_DIGITS = 8


def _digits_low_first(number: int, width: int) -> list[int]:
    return [(number // 10**position) % 10 for position in range(width)]


def _random_number(rng: random.Random, digits: int) -> int:
    low = 0 if digits == 1 else 10 ** (digits - 1)
    return rng.randint(low, 10**digits - 1)


def column_steps(top: int, bottom: int, operator: str, slip: tuple[int, str] | None = None
                 ) -> tuple[list[str], int]:
    """The column-by-column lines for ``top operator bottom`` and the value they arrive at.

    ``slip = (column, kind)`` makes one mistake in that column (0 = ones): ``"plus"`` /
    ``"minus"`` write the column result one too high / low, ``"drop"`` ignores the carry or
    borrow coming in. Later columns are worked correctly from the slipped state.
    """
    width = len(str(top))
    top_digits = _digits_low_first(top, width)
    bottom_digits = _digits_low_first(bottom, width)
    steps: list[str] = []
    written = ""  # answer digits found so far, most significant first
    carry = 0  # carry (addition) or borrow (subtraction) coming into this column
    for column in range(width):
        x, y = top_digits[column], bottom_digits[column]
        kind = slip[1] if slip is not None and slip[0] == column else None
        incoming = 0 if kind == "drop" else carry
        last = column == width - 1
        if operator == "+":
            total = x + y + incoming + {"plus": 1, "minus": -1}.get(kind, 0)
            if total < 0:
                raise ValueError(f"slip {slip} makes column {column} negative")
            carry = total // 10
            written = (str(total) if last else str(total % 10)) + written
            steps.append(f"{x}+{y}+{incoming}={total}, {written}")
        else:
            borrow = 1 if x - y - incoming < 0 else 0
            shown_top = x + 10 * borrow
            result = shown_top - y - incoming + {"plus": 1, "minus": -1}.get(kind, 0)
            if not 0 <= result <= 9:
                raise ValueError(f"slip {slip} makes column {column} leave the digits 0..9")
            carry = borrow
            written = str(result) + written
            steps.append(f"{shown_top}-{y}-{incoming}={result}, {written}")
    return steps, int(written)


class AdditionTask:
    """Multi-digit addition and subtraction; the chain of thought adds column by column with the carry."""
    name = "addition"
    description = "multi-digit addition and subtraction, traced column by column"
    default_difficulty = 4
    max_difficulty = MAX_DIGITS

    def generate(self, rng: random.Random, difficulty: int) -> Problem:
        check_difficulty(self.name, difficulty, self.max_difficulty)
        top = _random_number(rng, difficulty)
        bottom = _random_number(rng, rng.randint(1, difficulty))
        operator = rng.choice("+-")
        if operator == "-" and bottom > top:
            top, bottom = bottom, top
        value = top + bottom if operator == "+" else top - bottom
        data = {"top": top, "bottom": bottom, "operator": operator}
        return make_problem(self, f"Compute {top}{operator}{bottom}.", str(value), difficulty, data, rng)

    def verify(self, problem: Problem, answer_text: str) -> bool:
        return integer_answer_matches(answer_text, int(problem.answer))

    def write_trace(self, problem: Problem, rng: random.Random, mistake: bool = False) -> str:
        top, bottom, operator = problem.data["top"], problem.data["bottom"], problem.data["operator"]
        slip = self._choose_slip(top, bottom, operator, rng) if mistake else None
        steps, value = column_steps(top, bottom, operator, slip)
        return format_trace(steps, str(value))

    @staticmethod
    def _choose_slip(top: int, bottom: int, operator: str, rng: random.Random) -> tuple[int, str]:
        """A slip that changes the answer and keeps every line well formed (no negative column)."""
        width = len(str(top))
        candidates = [(column, kind) for column in range(width) for kind in ("plus", "minus", "drop")]
        rng.shuffle(candidates)
        true_value = top + bottom if operator == "+" else top - bottom
        for slip in candidates:
            try:
                _, value = column_steps(top, bottom, operator, slip)
            except ValueError:
                continue
            if value != true_value:
                return slip
        raise AssertionError("unreachable: a +1 or -1 slip in the last column always changes the answer")


FAMILY = AdditionTask()
