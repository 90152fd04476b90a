"""Linear equations ``a*x + b = c*x + d``, solved for x.

Difficulty:

1. one side only (``3x+5=20``), whole-number solution;
2. x on both sides, whole-number solution;
3. coefficients and constants of either sign, the solution may be a fraction;
4. as 3 with larger numbers.

The trace gathers x on the left and the numbers on the right, simplifies, divides::

    Solve 3x+5=x+12.
    3x-x=12-5
    2x=7
    x=7/2

The answer is a reduced fraction or whole number (``7/2``, ``-3``). It is graded by
``minireason.evaluation.grader.grade_answer``, so ``x = 7/2``, ``3.5`` and ``\\frac{7}{2}``
all count. A flawed trace forgets to flip a sign when moving a term across, or slips by
one when simplifying, and divides on from there.

Gathering x on the left is the default way; with x on both sides, ``write_trace(...,
strategy="x right")`` gathers x on the right instead (``5-12=x-3x``, ``-7=-2x``, ``x=-7/-2``,
``x=7/2``), so one problem has two worked paths whose slips differ.
"""

from __future__ import annotations

import random
import re
from fractions import Fraction

from minireason.errors import InputError
from minireason.evaluation.grader import grade_answer
from minireason.tasks.base import Problem, check_difficulty, format_trace, make_problem

# difficulty -> (largest |coefficient|, largest |constant|, signed?, x on both sides?, fractional x?)
LEVELS = {
    1: (9, 20, False, False, False),
    2: (9, 20, False, True, False),
    3: (9, 20, True, True, True),
    4: (19, 50, True, True, True),
}


def x_term(coefficient: int, leading: bool) -> str:
    """``3x``, ``-x``, ``+2x`` (the sign shown unless leading and positive); ``""`` for 0."""
    if coefficient == 0:
        return ""
    magnitude = "" if abs(coefficient) == 1 else str(abs(coefficient))
    sign = "-" if coefficient < 0 else ("" if leading else "+")
    return f"{sign}{magnitude}x"


def number_term(value: int, leading: bool) -> str:
    """An integer as a term of an equation: as is when leading, else with its sign, and nothing for 0."""
    if leading:
        return str(value)
    return "" if value == 0 else (f"+{value}" if value > 0 else str(value))


def side(coefficient: int, constant: int) -> str:
    """One side of the equation, e.g. ``3x+5``, ``-x``, ``12``."""
    if coefficient == 0:
        return str(constant)
    return x_term(coefficient, leading=True) + number_term(constant, leading=False)


def fraction_text(value: Fraction) -> str:
    """A fraction as ``n`` or ``n/d``."""
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def solution_steps(a: int, b: int, c: int, d: int, mistake: str | None = None) -> tuple[list[str], Fraction]:
    """The trace lines solving ``a x + b = c x + d`` and the value of x they reach.

    ``mistake`` is ``None`` or one of ``"constant sign"`` (move b across without flipping its
    sign), ``"coefficient sign"`` (the same for c x) and ``"slip"`` (d - b off by one).
    """
    moved_constant = b if mistake == "constant sign" else -b
    moved_coefficient = c if mistake == "coefficient sign" else -c
    left = x_term(a, leading=True) + x_term(moved_coefficient, leading=False)
    right = number_term(d, leading=True) + number_term(moved_constant, leading=False)
    coefficient = a + moved_coefficient
    constant = d + moved_constant + (1 if mistake == "slip" else 0)
    if coefficient == 0:
        raise ValueError("the x terms cancel")
    steps = [f"{left}={right}"] if (c != 0 or b != 0) else []
    steps.append(f"{x_term(coefficient, leading=True)}={constant}")
    value = Fraction(constant, coefficient)
    if coefficient != 1:
        steps.append(f"x={constant}/{coefficient}")
        if steps[-1] != f"x={fraction_text(value)}":
            steps.append(f"x={fraction_text(value)}")
    return steps, value


def right_side_steps(a: int, b: int, c: int, d: int, mistake: str | None = None) -> tuple[list[str], Fraction]:
    """The lines gathering x on the right of ``a x + b = c x + d``: those of the mirrored equation
    ``c x + d = a x + b`` solved the default way, each written right side first, except the last
    (``x=...``) kept as it reads. ``mistake`` as in :func:`solution_steps`, of the mirrored equation."""
    steps, value = solution_steps(c, d, a, b, mistake)
    mirrored = []
    for line in steps:
        left, right = line.split("=")
        mirrored.append(line if left == "x" else f"{right}={left}")
    return mirrored, value


STRATEGIES = ("x left", "x right")


class LinearEquationTask:
    """Solve ``a*x+b=c*x+d`` for x (fractions allowed); graded by ``grade_answer``."""
    name = "linear_equation"
    strategies = STRATEGIES  # every way write_trace knows; strategies_for(problem) says which fit
    description = "solve a*x+b=c*x+d for x; fractions allowed; graded by grade_answer"
    default_difficulty = 2
    max_difficulty = len(LEVELS)

    def generate(self, rng: random.Random, difficulty: int) -> Problem:
        check_difficulty(self.name, difficulty, self.max_difficulty)
        largest_coefficient, largest_constant, signed, both_sides, fractional = LEVELS[difficulty]
        low = -largest_coefficient if signed else 1
        while True:
            a = rng.randint(low, largest_coefficient)
            c = rng.randint(low, largest_coefficient) if both_sides else 0
            b = rng.randint(-largest_constant if signed else 1, largest_constant)
            if a == 0 or a == c or (a == 1 and c == 0):
                continue
            if fractional:
                d = rng.randint(-largest_constant, largest_constant)
            else:  # pick a whole solution, then the constant that makes it one
                x = rng.randint(-9 if signed else 0, 12)
                d = (a - c) * x + b
                if not both_sides and d <= 0:
                    continue
            break
        value = Fraction(d - b, a - c)
        data = {"a": a, "b": b, "c": c, "d": d}
        return make_problem(self, f"Solve {side(a, b)}={side(c, d)}.", fraction_text(value), difficulty, data, rng)

    def verify(self, problem: Problem, answer_text: str) -> bool:
        return bool(grade_answer(answer_text, problem.answer))

    def strategies_for(self, problem: Problem) -> tuple[str, ...]:
        """Gathering x on the right needs x on both sides (else it only moves the one x term)."""
        return STRATEGIES if problem.data["c"] else STRATEGIES[:1]

    def write_trace(self, problem: Problem, rng: random.Random, mistake: bool = False,
                    strategy: str = "x left") -> str:
        a, b, c, d = (problem.data[key] for key in "abcd")
        if strategy not in self.strategies_for(problem):
            raise InputError(f"strategy: expected one of {self.strategies_for(problem)} for {problem.text!r}, "
                             f"got {strategy!r}")
        solve = solution_steps if strategy == "x left" else right_side_steps
        steps, value = solve(a, b, c, d)
        if mistake:
            moved_constant, moved_x = (b, c) if strategy == "x left" else (d, a)
            kinds = ["slip"] + (["constant sign"] if moved_constant else []) + (["coefficient sign"] if moved_x else [])
            rng.shuffle(kinds)
            for kind in kinds:
                try:
                    flawed_steps, flawed_value = solve(a, b, c, d, kind)
                except ValueError:
                    continue
                if flawed_value != value:
                    steps, value = flawed_steps, flawed_value
                    break
            else:
                raise AssertionError("unreachable: the slip always changes x")
        return format_trace(steps, fraction_text(value))


_NUMBER = r"[+-]?(?:[0-9]{1,30}(?:\.[0-9]{1,30})?|\.[0-9]{1,30})"
_FRACTION_FORMS = (
    re.compile(rf"({_NUMBER})"),
    re.compile(rf"({_NUMBER})/({_NUMBER})"),
    re.compile(rf"([+-]?)\\[dt]?frac\{{({_NUMBER})\}}\{{({_NUMBER})\}}"),
)


def fraction_answer(answer_text: str) -> Fraction | None:
    """Read ``7/2``, ``x = 7/2``, ``3.5``, ``\\frac{7}{2}``, ``-\\dfrac{7}{2}`` as a Fraction; else None.

    Only the fallback when ``grade_answer`` is not importable: a tiny, safe reader for the
    forms this family's answers take.
    """
    text = answer_text.replace(" ", "").strip("$").rstrip(".")
    text = re.sub(r"^x=", "", text)
    number, over, frac = _FRACTION_FORMS
    try:
        if match := number.fullmatch(text):
            return Fraction(match.group(1))
        if match := over.fullmatch(text):
            return Fraction(match.group(1)) / Fraction(match.group(2))
        if match := frac.fullmatch(text):
            sign = -1 if match.group(1) == "-" else 1
            return sign * Fraction(match.group(2)) / Fraction(match.group(3))
    except ZeroDivisionError:
        return None
    return None


FAMILY = LinearEquationTask()
