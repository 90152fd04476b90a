"""Leaf equivalence: when are two single expressions the same answer?

Two comparators, one cheap and one symbolic, with the same signature ``(a, b) -> bool``:

:func:`exact_leaf_equal` decides in microseconds, without sympy, the leaves most answers are made
of: the same text (up to case and spaces), integers, decimals and fractions (compared exactly
with :class:`fractions.Fraction`, or with the decimal tolerance), and words (``east``,
``Evelyn``, ``no solution``), which are compared as text. Anything else raises
:class:`NeedsSymbolic`, and the grader hands the pair to the symbolic comparator in a separate
process (see :mod:`minireason.evaluation.timeouts`).

:func:`symbolic_leaf_equal` parses both sides with the whitelist parser and compares the sympy
expressions:

* structurally equal (sympy already puts ``2\\sqrt2`` and ``\\sqrt8`` in one form) -> equal;
* otherwise both are evaluated numerically to 40 significant digits, at the point itself for
  constants and at several fixed pseudo-random points for expressions with variables
  (a polynomial identity test: two different expressions agree at random points with
  vanishing probability). Without a decimal in either text the values must agree in all but
  the last 15 of the digits computed, and enough digits are computed (up to
  ``MAX_EVALUATION_DIGITS``) to see the units digit, so ``10^{30}`` and ``10^{30}+1`` differ and
  values too large to tell apart grade "not equal"; with a decimal, the values must agree to
  ``DECIMAL_RELATIVE_TOLERANCE`` (1e-6), so ``0.1+0.2`` is ``0.3`` and ``3.14159`` is ``\\pi``
  rounded, while ``0.33`` is not ``1/3``.

Sampling at points of both signs keeps ``\\sqrt{x^2}`` apart from ``x``. Nothing is simplified
symbolically, so the cost is a few evaluations, and the parser's caps bound each one.
"""

from __future__ import annotations

import random
import re
from fractions import Fraction

from minireason.evaluation.normalize import rewrite_mixed_number
from minireason.evaluation.safe_parse import ParseRefused, parse_expression

DECIMAL_RELATIVE_TOLERANCE = 1e-6
SAMPLE_POINTS = 5
EVALUATION_DIGITS = 40
MAX_EVALUATION_DIGITS = 1500


class NeedsSymbolic(Exception):
    """The cheap comparator cannot decide this pair; the symbolic one must."""


_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_FRACTION = re.compile(r"([+-]?)\\frac(?:\{(\d+)\}\{(\d+)\}|(\d)(\d)|\{(\d+)\}(\d)|(\d)\{(\d+)\})")
_SLASH = re.compile(r"([+-]?\d+)/(\d+)")
_WORDS = re.compile(r"[A-Za-z]{2,}(?: [A-Za-z]+)*")
_SINGLE_LETTER = re.compile(r"[A-Za-z]")


def plain_number(text: str) -> tuple[Fraction, bool] | None:
    """``"-3"``, ``"0.15"``, ``"\\frac{3}{56}"``, ``"\\frac43"``, ``"7/2"`` -> (exact value, had a decimal)."""
    if len(text) > 400:
        return None
    if _DECIMAL.fullmatch(text):
        return Fraction(text), "." in text
    match = _FRACTION.fullmatch(text)
    if match:
        numerator, denominator = [g for g in match.groups()[1:] if g is not None]
        if int(denominator) == 0:
            return None
        value = Fraction(int(numerator), int(denominator))
        return (-value if match.group(1) == "-" else value), False
    match = _SLASH.fullmatch(text)
    if match and int(match.group(2)) != 0:
        return Fraction(int(match.group(1)), int(match.group(2))), False
    return None


def numbers_close(a: complex, b: complex, relative_tolerance: float) -> bool:
    """Whether two numbers agree within ``relative_tolerance`` of the larger magnitude (two zeros agree)."""
    scale = max(abs(a), abs(b))
    if scale == 0:
        return True
    return abs(a - b) <= relative_tolerance * scale


def exact_leaf_equal(predicted: str, gold: str) -> bool:
    """Decide a pair of leaves without sympy, or raise :class:`NeedsSymbolic`."""
    if predicted == gold:
        return True
    compact_p, compact_g = predicted.replace(" ", "").lower(), gold.replace(" ", "").lower()
    if compact_p == compact_g:
        return True
    number_p, number_g = plain_number(predicted.replace(" ", "")), plain_number(gold.replace(" ", ""))
    if number_p is not None and number_g is not None:
        (value_p, decimal_p), (value_g, decimal_g) = number_p, number_g
        if decimal_p or decimal_g:
            scale = max(abs(value_p), abs(value_g))
            return abs(value_p - value_g) <= Fraction(DECIMAL_RELATIVE_TOLERANCE) * scale
        return value_p == value_g
    words_p = _WORDS.fullmatch(predicted) is not None
    words_g = _WORDS.fullmatch(gold) is not None
    if words_p or words_g:
        # a word is text, not a product of letters ("even" is not "neve"); a letter is a choice
        # or a variable, and two different letters are different answers either way
        if (words_p or _SINGLE_LETTER.fullmatch(predicted)) and (words_g or _SINGLE_LETTER.fullmatch(gold)):
            return False
    if _SINGLE_LETTER.fullmatch(predicted) and _SINGLE_LETTER.fullmatch(gold):
        return False
    raise NeedsSymbolic


def exact_proportional(predicted: str, gold: str, positive: bool = False) -> bool:
    """The cheap comparator's proportionality test (the ``proportional`` argument of
    :func:`minireason.evaluation.structure.compare`): it never decides, it always raises.

    Whether two expressions (the sides of equations or inequalities moved to ``... = 0``) are
    nonzero constant multiples of each other needs evaluation at sample points, so the pair goes to
    :func:`symbolic_proportional`, which has the same signature and meaning.

    Args:
        predicted: the predicted expression, as normalised answer text.
        gold: the gold expression, as normalised answer text.
        positive: ask for a positive multiple (inequalities keep their direction).

    Raises:
        NeedsSymbolic: always; :func:`minireason.evaluation.grader.grade_exact` turns it into
            "undecided" (None) and the grader hands the pair to the symbolic stage.
    """
    raise NeedsSymbolic


# ---- symbolic ---------------------------------------------------------------------------------

def _sample_points(symbols: list, count: int) -> list[dict]:
    """Fixed pseudo-random rational points of both signs (seeded: the grader is deterministic)."""
    generator = random.Random(20240531)
    import sympy

    points = []
    for _ in range(count):
        point = {}
        for symbol in symbols:
            numerator = generator.choice([-1, 1]) * generator.randint(11, 290)
            point[symbol] = sympy.Rational(numerator, generator.choice([97, 101, 103, 89]))
        points.append(point)
    return points


def _values(expression, points: list[dict], digits: int) -> list:
    """Values (mpmath complex, ``digits`` significant digits) of ``expression`` at ``points``; None where undefined.

    The values stay at high precision: Python floats would round both sides of an identity
    differently in the 16th digit and hide the agreement of exact answers.
    """
    import mpmath
    import sympy

    values = []
    for point in points:
        try:
            value = expression.evalf(digits, subs=point) if point else expression.evalf(digits)
            real, imaginary = value.as_real_imag()
            number = mpmath.mpc(mpmath.mpmathify(sympy.Float(real, digits)),
                                mpmath.mpmathify(sympy.Float(imaginary, digits)))
        except (TypeError, ValueError, ZeroDivisionError, OverflowError, AttributeError):
            values.append(None)
            continue
        values.append(number if mpmath.isfinite(number) else None)
    return values


def _agreeing_values(x, y, points: list[dict], decimal: bool) -> tuple | None:
    """Pairs of values of ``x`` and ``y`` at the points, at a precision that can tell them apart.

    Exact answers must agree to all but the last 15 of the digits used, and enough digits are
    used to see the units digit of the largest value: ``10^{30}`` and ``10^{30}+1`` differ.
    Returns None when the values are too large for ``MAX_EVALUATION_DIGITS``.
    """
    import mpmath

    digits = EVALUATION_DIGITS
    while True:
        with mpmath.workdps(digits + 5):
            pairs = [(a, b) for a, b in zip(_values(x, points, digits), _values(y, points, digits))
                     if a is not None and b is not None]
            largest = max((max(abs(a), abs(b)) for a, b in pairs), default=mpmath.mpf(0))
            magnitude = int(mpmath.log10(largest)) + 1 if largest > 1 else 0
        if decimal or magnitude + 30 <= digits:
            return pairs, (DECIMAL_RELATIVE_TOLERANCE if decimal else 10.0 ** -(digits - 15)), digits
        digits = magnitude + 40
        if digits > MAX_EVALUATION_DIGITS:
            return None


def _parse_pair(predicted: str, gold: str):

    return parse_expression(rewrite_mixed_number(predicted)), parse_expression(rewrite_mixed_number(gold))


def _points_for(x, y) -> list[dict]:
    symbols = sorted(x.free_symbols | y.free_symbols, key=str)
    return _sample_points(symbols, SAMPLE_POINTS) if symbols else [{}]


def symbolic_leaf_equal(predicted: str, gold: str) -> bool:
    """Parse both leaves (whitelist parser) and compare them as sympy expressions."""
    try:
        return exact_leaf_equal(predicted, gold)
    except NeedsSymbolic:
        pass

    try:
        parsed_p, parsed_g = _parse_pair(predicted, gold)
    except ParseRefused:
        return False
    x, y = parsed_p.expression, parsed_g.expression
    if x == y:
        return True
    import mpmath
    import sympy

    if not (isinstance(x, sympy.Expr) and isinstance(y, sympy.Expr)):
        return False

    if x.has(sympy.oo, -sympy.oo, sympy.zoo, sympy.nan) or y.has(sympy.oo, -sympy.oo, sympy.zoo, sympy.nan):
        return False  # equal infinities were caught structurally above
    points = _points_for(x, y)
    evaluated = _agreeing_values(x, y, points, parsed_p.has_decimal or parsed_g.has_decimal)
    if evaluated is None:
        return False
    pairs, tolerance, digits = evaluated
    if len(pairs) < min(len(points), 3):
        return False
    with mpmath.workdps(digits + 5):
        return all(numbers_close(a, b, tolerance) for a, b in pairs)


def symbolic_proportional(predicted: str, gold: str, positive: bool = False) -> bool:
    """Whether two expressions are nonzero constant multiples of each other (equations ``=0``).

    ``positive=True`` asks for a positive multiple (inequalities: ``-x > -1`` is ``1-x > 0``, a
    positive multiple of ``x < 1``'s ``1-x``, while ``x > -1``'s ``x+1`` is not a multiple at all).
    """

    try:
        parsed_p, parsed_g = _parse_pair(predicted, gold)
    except ParseRefused:
        return False
    import mpmath

    x, y = parsed_p.expression, parsed_g.expression
    points = _points_for(x, y)
    evaluated = _agreeing_values(x, y, points, parsed_p.has_decimal or parsed_g.has_decimal)
    if evaluated is None:
        return False
    pairs, tolerance, digits = evaluated
    with mpmath.workdps(digits + 5):
        ratios = [a / b for a, b in pairs if a != 0 and b != 0]
        if len(ratios) < min(len(points), 3):
            return False
        if positive and not (abs(ratios[0].imag) <= tolerance * abs(ratios[0]) and ratios[0].real > 0):
            return False
        return all(numbers_close(r, ratios[0], tolerance * 10) for r in ratios)
