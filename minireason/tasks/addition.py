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

The columns are the default way; ``write_trace(..., strategy=...)`` writes the same problem in
other ways a person would work it, so a model trained on a random mix of them has several
paths to an answer whose slips differ (what self-consistency needs)::

    Compute 478+356.
    columns        8+6+0=14, 4 / 7+5+1=13, 34 / 4+3+1=8, 834
    split          478+300=778 / 778+50=828 / 828+6=834      (the second number one place at a time)
    rounding       478+360=838 / 838-4=834                   (round the second number up to tens)
    place values   400+300=700 / 70+50=120 / 8+6=14 / 700+120=820 / 820+14=834   (addition only)

A flawed trace in these ways writes one line's result off by one or by ten and works on from it.

The column ways (``COLUMN_WAYS``) keep every line one digit sum, as local as the columns, and differ
only in how each line reaches its digits, so their slips in reading the problem differ::

    Compute 239+515.
    commuted       5+9+0=14, 4 / 1+3+1=5, 54 / 5+2+0=7, 754             (addition only)
    carry first    0+9+5=14, 4 / 1+3+1=5, 54 / 0+2+5=7, 754             (subtraction: 6-0-3=3, 3)
    reversed       reversed 932+515 / 9+5+0=14, 4 / ...                 (the numbers copied ones first,
                                                                         padded to one width; then columns)
    places         1s 9 5, 10s 3 1, 100s 2 5 / 9+5+0=14, 4 / ...        (the digits paired by place)

A flawed trace in a column way slips in one column line (never in a copy line).
"""

from __future__ import annotations

import random

from minireason.errors import InputError
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


def column_values(top: int, bottom: int, operator: str, slip: tuple[int, str] | None = None
                  ) -> list[tuple[int, int, int, int, str]]:
    """Each column of ``top operator bottom``, ones first, as ``(x, y, incoming, result, written)``.

    x: the top digit as the line shows it (in a subtraction, enlarged by 10 when the column
    borrows); y: the bottom digit; incoming: the carry (addition) or borrow (subtraction) coming in;
    result: the column sum or difference; written: the answer digits found so far, most significant
    first. ``slip`` as in :func:`column_steps`.
    """
    width = len(str(top))
    top_digits = _digits_low_first(top, width)
    bottom_digits = _digits_low_first(bottom, width)
    columns = []
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
            columns.append((x, y, incoming, total, written))
        else:
            borrow = 1 if x - y - incoming < 0 else 0
            shown_top = x + 10 * borrow
            result = shown_top - y - incoming + {"plus": 1, "minus": -1}.get(kind, 0)
            if not 0 <= result <= 9:
                raise ValueError(f"slip {slip} makes column {column} leave the digits 0..9")
            carry = borrow
            written = str(result) + written
            columns.append((shown_top, y, incoming, result, written))
    return columns


def column_steps(top: int, bottom: int, operator: str, slip: tuple[int, str] | None = None
                 ) -> tuple[list[str], int]:
    """The column-by-column lines for ``top operator bottom`` and the value they arrive at.

    ``slip = (column, kind)`` makes one mistake in that column (0 = ones): ``"plus"`` /
    ``"minus"`` write the column result one too high / low, ``"drop"`` ignores the carry or
    borrow coming in. Later columns are worked correctly from the slipped state.
    """
    return column_way_steps(top, bottom, operator, "columns", slip)


def _place_name(power: int) -> str:
    return f"{10**power}s"


def column_way_steps(top: int, bottom: int, operator: str, way: str, slip: tuple[int, str] | None = None
                     ) -> tuple[list[str], int]:
    """The lines of one of the ``COLUMN_WAYS`` and the value they arrive at (``slip`` as in :func:`column_steps`).

    Every way adds (or subtracts) the same columns with the same carries; they differ in how the
    digits are reached: in the order the problem gives them (columns), the operands commuted
    (commuted, addition only), the carry or borrow written before the digits (carry first), or
    read from a first line that copies the numbers ones first (reversed) or pairs them by place
    (places). Slips happen in the column lines only; a copy line is always right.
    """
    columns = column_values(top, bottom, operator, slip)
    width = len(str(top))
    if way == "columns":
        lines = [f"{x}{operator}{y}{operator}{c}={r}, {w}" for x, y, c, r, w in columns]
    elif way == "commuted":
        if operator != "+":
            raise ValueError("only an addition can be commuted")
        lines = [f"{y}+{x}+{c}={r}, {w}" for x, y, c, r, w in columns]
    elif way == "carry first":
        lines = ([f"{c}+{x}+{y}={r}, {w}" for x, y, c, r, w in columns] if operator == "+" else
                 [f"{x}-{c}-{y}={r}, {w}" for x, y, c, r, w in columns])
    elif way == "reversed":
        top_text, bottom_text = (str(number).zfill(width)[::-1] for number in (top, bottom))
        lines = [f"reversed {top_text}{operator}{bottom_text}"]
        lines += [f"{x}{operator}{y}{operator}{c}={r}, {w}" for x, y, c, r, w in columns]
    elif way == "places":
        top_digits, bottom_digits = _digits_low_first(top, width), _digits_low_first(bottom, width)
        lines = [", ".join(f"{_place_name(power)} {top_digits[power]} {bottom_digits[power]}"
                           for power in range(width))]
        lines += [f"{x}{operator}{y}{operator}{c}={r}, {w}" for x, y, c, r, w in columns]
    else:
        raise ValueError(f"unknown column way {way!r}")
    return lines, int(columns[-1][4])


STRATEGIES = ("columns", "split", "rounding", "place values", "commuted", "carry first", "reversed", "places")
# the ways that work digit columns (every line one digit sum, as local as the default); the others
# write whole multi-digit sums per line
COLUMN_WAYS = ("columns", "commuted", "carry first", "reversed", "places")
LINE_SLIPS = (1, -1, 10, -10)


def _place_parts(number: int) -> list[int]:
    """``478`` -> ``[400, 70, 8]``: the number's nonzero place values, largest first (``[0]`` for 0)."""
    parts = [int(digit) * 10**power for power, digit in enumerate(reversed(str(number))) if digit != "0"]
    return list(reversed(parts)) or [0]


def _apply(left: int, operator: str, right: int) -> int:
    return left + right if operator == "+" else left - right


def _rounding_target(bottom: int) -> int:
    return (bottom // 10 + 1) * 10


def strategy_operations(top: int, bottom: int, operator: str, strategy: str) -> list[tuple]:
    """The lines of one non-column strategy as operations ``(left, operator, right)``.

    An operand is a number or ``("line", k)``, the result of line k; results are filled in by
    :func:`operation_steps`, so a slipped line carries into every later one.
    """
    if strategy == "split":
        operations, previous = [], top
        for part in _place_parts(bottom):
            operations.append((previous, operator, part))
            previous = ("line", len(operations) - 1)
        return operations
    if strategy == "rounding":
        target = _rounding_target(bottom)
        return [(top, operator, target), (("line", 0), "-" if operator == "+" else "+", target - bottom)]
    if strategy == "place values":
        width = len(str(top))
        tops, bottoms = _digits_low_first(top, width), _digits_low_first(bottom, width)
        operations = [(tops[power] * 10**power, "+", bottoms[power] * 10**power)
                      for power in reversed(range(width)) if tops[power] or bottoms[power]] or [(0, "+", 0)]
        previous = ("line", 0)
        for index in range(1, len(operations)):
            operations.append((previous, "+", ("line", index)))
            previous = ("line", len(operations) - 1)
        return operations
    raise ValueError(f"unknown strategy {strategy!r}")


def operation_steps(operations: list[tuple], slip: tuple[int, int] | None = None) -> tuple[list[str], int]:
    """Work the operations in order: the lines ``left op right=result`` and the last result.

    ``slip = (line, delta)`` adds ``delta`` to that line's result; later lines use the slipped value.
    Raises ValueError when a result would be negative.
    """
    results: list[int] = []
    steps: list[str] = []
    for index, (left, operator, right) in enumerate(operations):
        left, right = (results[value[1]] if isinstance(value, tuple) else value for value in (left, right))
        result = _apply(left, operator, right) + (slip[1] if slip is not None and slip[0] == index else 0)
        if result < 0:
            raise ValueError(f"line {index} goes below zero")
        results.append(result)
        steps.append(f"{left}{operator}{right}={result}")
    return steps, results[-1]


class AdditionTask:
    """Multi-digit addition and subtraction; the chain of thought adds column by column with the carry,
    or in one of the other ``STRATEGIES`` when ``write_trace`` is asked for it."""
    name = "addition"
    strategies = STRATEGIES  # every way write_trace knows; strategies_for(problem) says which fit
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

    def strategies_for(self, problem: Problem) -> tuple[str, ...]:
        """The strategies that work this problem: rounding needs a second number not already in tens
        (and, in a subtraction, a rounded one no larger than the first); place values and commuted only add."""
        top, bottom, operator = problem.data["top"], problem.data["bottom"], problem.data["operator"]
        usable = ["columns", "split"]
        if bottom % 10 and (operator == "+" or _rounding_target(bottom) <= top):
            usable.append("rounding")
        if operator == "+":
            usable.append("place values")
        usable += ["commuted"] if operator == "+" else []
        usable += ["carry first", "reversed", "places"]
        return tuple(usable)

    def write_trace(self, problem: Problem, rng: random.Random, mistake: bool = False,
                    strategy: str = "columns") -> str:
        top, bottom, operator = problem.data["top"], problem.data["bottom"], problem.data["operator"]
        if strategy not in self.strategies_for(problem):
            raise InputError(f"strategy: expected one of {self.strategies_for(problem)} for {problem.text!r}, "
                             f"got {strategy!r}")
        if strategy in COLUMN_WAYS:
            slip = self._choose_slip(top, bottom, operator, rng) if mistake else None
            steps, value = column_way_steps(top, bottom, operator, strategy, slip)
            return format_trace(steps, str(value))
        operations = strategy_operations(top, bottom, operator, strategy)
        steps, value = operation_steps(operations)
        if mistake:
            true_value = value
            slips = [(line, delta) for line in range(len(operations)) for delta in LINE_SLIPS]
            rng.shuffle(slips)
            for slip in slips:
                try:
                    steps, value = operation_steps(operations, slip)
                except ValueError:
                    continue
                if value != true_value:
                    break
            else:
                raise AssertionError("unreachable: +1 on the last line always changes the answer")
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
