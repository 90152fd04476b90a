"""The shape of an answer: a single expression, or a tuple, set, list, interval, union, relation or matrix.

A normalised answer string (:func:`minireason.evaluation.normalize.normalize_answer`) is read
into a small tree, at the string level, before any symbolic work:

=================================  =====================================  ========================
text                               node                                   compared
=================================  =====================================  ========================
``(0,9)\\cup(9,36)``                 ``Union([...])``                         as a set of parts
``1,-2`` / ``x=1, x=-2``             ``AnswerList([...])``                    order does not matter
``\\{1,2\\}``                          ``AnswerSet([...])``                     order does not matter
``(1,2)`` ``[1,2)`` ``(6,31,-1)``    ``Bracketed("(", ")", [...])``          in order; ends matter
``\\begin{pmatrix}..\\end{pmatrix}``   ``MatrixAnswer(rows)``                   shape and entries
``x=5`` ``y=2x+3`` ``x>3``           ``Relation(["="], [lhs, rhs])``          see ``compare``
``1\\pm\\sqrt{19}``                    ``AnswerList([1+.., 1-..])``             order does not matter
``\\sqrt{8}``                          ``Leaf("\\sqrt{8}")``                     by a leaf comparator
=================================  =====================================  ========================

An inequality in one variable with constant bounds becomes the interval it describes
(``x>3`` is ``(3,\\infty)``, ``3<x\\le4`` is ``(3,4]``, ``-2x<6`` is ``(-3,\\infty)``, ``x\\ne2`` is
``(-\\infty,2)\\cup(2,\\infty)``), so ``x \\ge 3`` against ``[3,\\infty)`` is decided like two
intervals; ``\\mathbb{R}`` is ``(-\\infty,\\infty)`` and ``A \\setminus \\{2\\}`` the union left when
the points are cut out of the interval ``A``. A condition on ``|x|`` with constant bounds is the set
it describes too (``1 \\le |x| \\le 2`` is ``[-2,-1]\\cup[1,2]``, ``|x|>3`` two rays), and an equality
whose every side is a constant is a computation whose value is its last side (``2+3=5`` is ``5``).

The answer shapes, each a small function with its policy in docs/grading.md: a labelled answer
(``(a,b)=(5,1)``, ``\\frac{PQ}{RS}=\\frac23``, ``f(2)=9``) is its value (:func:`is_label`); an
equality chain ``t=2+3=5`` is its first and last side, and an approximation after an exact side
is dropped (:func:`_reduce_chain`); a ratio ``3:8`` is compared by the value of its parts
(:class:`Ratio`); a multiple-choice answer ``d. 7`` or ``(B) 12`` equals its letter or its value
(:class:`Choice`); plain braces ``{1,2}`` are a set; brackets around a matrix are its own. ``(2,4)`` is both a point and an open interval; both readings
are the same node, so the comparison does not need to know which was meant.

:func:`compare` takes a ``leaf_equal(a, b) -> bool`` function for the expressions at the leaves:
the grader passes a cheap exact one first and the sympy one when the cheap one cannot decide.
The reader caps the number of items and the nesting so that its work stays linear.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from minireason.errors import InputError
from minireason.evaluation.equivalence import plain_number

MAX_ITEMS = 64
MAX_STRUCTURE_DEPTH = 8


class StructureRefused(InputError):
    """The answer's structure is too large or too deeply nested to compare."""


@dataclass(frozen=True)
class Leaf:
    """A single expression, compared by a leaf comparator."""
    text: str


@dataclass(frozen=True)
class Bracketed:
    """A tuple or interval: its brackets and items, compared in order, the ends included."""
    opening: str
    closing: str
    items: tuple


@dataclass(frozen=True)
class AnswerList:
    """Several answers separated by commas, compared in any order."""
    items: tuple


@dataclass(frozen=True)
class AnswerSet:
    """A set ``\\{..\\}``, compared in any order."""
    items: tuple


@dataclass(frozen=True)
class Union:
    """A union of intervals or sets, compared as a set of parts."""
    parts: tuple


@dataclass(frozen=True)
class Relation:
    """An equation or inequality: its operators and sides."""
    operators: tuple  # each of "=", "<", "<=", ">", ">=", "!="
    sides: tuple


@dataclass(frozen=True)
class MatrixAnswer:
    """A matrix: rows of nodes, compared by shape and entries."""
    rows: tuple  # tuple of tuples of nodes


@dataclass(frozen=True)
class Ratio:
    """A ratio ``a:b``, equal to another with proportional parts."""
    parts: tuple  # ``3:8`` -> (Leaf("3"), Leaf("8")); equal to another ratio with proportional parts


@dataclass(frozen=True)
class Choice:
    """A multiple-choice answer: its letter and, when written, its value."""
    letter: str  # upper case: ``d. 7`` -> Choice("D", Leaf("7"))
    value: object


_OPENERS = {"(": ")", "[": "]", "{": "}"}
_RELATIONS = [(r"\approx", "~"), ("\u2248", "~"), (r"\leq", "<="), (r"\geq", ">="), (r"\neq", "!="), (r"\le", "<="), (r"\ge", ">="),
              (r"\ne", "!="), (r"\lt", "<"), (r"\gt", ">"), ("<=", "<="), (">=", ">="), ("!=", "!="),
              ("=", "="), ("<", "<"), (">", ">")]
_LONE_VARIABLE = re.compile(r"[A-Za-z](?:_\{?[A-Za-z0-9]+\}?)?|\\(?:theta|alpha|beta|phi)")
_MATRIX = re.compile(r"\\begin\{([pbBvV]?matrix|array)\}(?:\{[^{}]*\})?(.*)\\end\{\1\}", re.S)
_PLUS_MINUS = re.compile(r"\\(pm|mp)(?![a-zA-Z])")
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "!=": "!=", "~": "~"}
# a name that labels an answer: x, a_1, \theta, AB, PQ (letters, at most 4, with subscripts/primes)
_NAME = r"(?:(?:[A-Za-z]|\\(?:alpha|beta|gamma|theta|phi|omega))(?:_\{?[A-Za-z0-9]+\}?)?'*){1,4}"
_LABEL_TEXT = re.compile(rf"{_NAME}|{_NAME}/{_NAME}|\\frac\{{{_NAME}\}}\{{{_NAME}\}}"
                         r"|[A-Za-z](?:_\{?[A-Za-z0-9]+\}?)?\([^()]{1,40}\)"
                         r"|m?\\angle\s*[A-Z]{1,3}|\\overline\{[A-Z]{1,3}\}")
_SET_BUILDER = re.compile(r"\\\{\s*[A-Za-z]\s*(?:\\mid|\||:)\s*(.+)\\\}", re.S)
_CHOICE = re.compile(r"\(([A-Ea-e])\)\s*(\S.*)|([A-Ea-e])(?:[.:]\s+|\)\s*)(\S.*)", re.S)
_REALS = re.compile(r"\\mathbb\s*\{?R\}?|\\R|all real numbers|\\text\{all real numbers\}")
_SET_MINUS = [r"\setminus", r"\backslash"]
_COEFFICIENT_VARIABLE = re.compile(r"(-?)(\d+(?:\.\d+)?|\\frac\{\d+\}\{\d+\})?\s*\*?\s*"
                                   r"([A-Za-z](?:_\{?[A-Za-z0-9]+\}?)?|\\(?:theta|alpha|beta|phi))")


def _scan_top_level(text: str):
    """Yield (index, depth) for every character, depth counting (), [], {}, \\{ \\} as brackets.

    Mixed pairs such as ``[1,2)`` count as a pair: only the depth matters here.
    """
    depth = 0
    index = 0
    while index < len(text):
        character = text[index]
        if character == "\\" and index + 1 < len(text) and text[index + 1] in "{}":
            depth += 1 if text[index + 1] == "{" else -1
            yield index, depth
            index += 2
            continue
        if character in "([{":
            depth += 1
        elif character in ")]}":
            depth -= 1
        yield index, depth
        index += 1


def split_top_level(text: str, separators: list[str]) -> tuple[list[str], list[str]]:
    """Split ``text`` at separators outside all brackets; return (parts, separators found)."""
    parts, found = [], []
    start = 0
    skip_until = -1
    for index, depth in _scan_top_level(text):
        if index < skip_until or depth != 0 or text[index] in ")]}":
            continue
        for separator in separators:
            if text.startswith(separator, index):
                if separator[0] == "\\" and text[index + len(separator): index + len(separator) + 1].isalpha():
                    continue  # "\le" must not match the start of "\left"
                parts.append(text[start:index])
                found.append(separator)
                start = index + len(separator)
                skip_until = start
                break
        if len(parts) > MAX_ITEMS:
            raise StructureRefused(f"answer: more than {MAX_ITEMS} items")
    parts.append(text[start:])
    return parts, found


def _enclosing_pair(text: str) -> tuple[str, str] | None:
    """The outer bracket pair if it encloses the whole text, as in ``(1,2]`` (not ``(1)(2)``)."""
    if len(text) < 2:
        return None
    if text.startswith(r"\{") and text.endswith(r"\}"):
        opening, closing, inner_start = r"\{", r"\}", 2
    elif text[0] in "([" and text[-1] in ")]":
        opening, closing, inner_start = text[0], text[-1], 1
    elif text[0] == "{" and text[-1] == "}":
        opening, closing, inner_start = "{", "}", 1
    else:
        return None
    for index, depth in _scan_top_level(text):
        if depth == 0 and index < len(text) - len(closing):
            return None
    del inner_start
    return opening, closing


def _is_constant(text: str) -> bool:
    """No variable letters (``\\pi``, ``\\infty``, ``\\sqrt``, ``e`` and commands are fine)."""
    without_commands = re.sub(r"\\[a-zA-Z]+", "", text)
    return re.search(r"[a-df-zA-Z]", without_commands) is None


def _expand_plus_minus(text: str) -> list[str]:
    r"""``1\pm\sqrt{19}`` -> ``["1+\sqrt{19}", "1-\sqrt{19}"]`` (each \pm doubles the list)."""
    results = [text]
    while any(_PLUS_MINUS.search(r) for r in results):  # "\pmy" is no sign: the loop must not spin on it
        if len(results) > 16:
            raise StructureRefused(r"answer: too many \pm signs")
        expanded = []
        for result in results:
            match = _PLUS_MINUS.search(result)
            if match is None:
                expanded.append(result)
                continue
            first, second = ("+", "-") if match.group(1) == "pm" else ("-", "+")
            for sign in (first, second):
                expanded.append(result[: match.start()] + sign + result[match.end():])
        results = expanded
    return results


def read_structure(text: str, depth: int = 0):
    """Read a normalised answer string into a node (see the module docstring)."""
    if depth > MAX_STRUCTURE_DEPTH:
        raise StructureRefused(f"answer: structure nested deeper than {MAX_STRUCTURE_DEPTH}")
    text = text.strip()
    choice = _CHOICE.fullmatch(text)
    if choice is not None:
        letter, value = (choice.group(1), choice.group(2)) if choice.group(1) else (choice.group(3), choice.group(4))
        return Choice(letter.upper(), read_structure(value, depth + 1))
    parts, _ = split_top_level(text, [r"\cup"])
    if len(parts) > 1:
        return Union(tuple(read_structure(part, depth + 1) for part in parts))
    builder = _SET_BUILDER.fullmatch(text)
    if builder is not None:  # \{x \mid x \ne 2\}: the set its condition describes
        return read_structure(builder.group(1), depth + 1)
    if _REALS.fullmatch(text):
        return Bracketed("(", ")", (Leaf(r"-\infty"), Leaf(r"\infty")))
    difference = _set_difference(text, depth)
    if difference is not None:
        return difference
    parts, _ = split_top_level(text, [","])
    if len(parts) > 1:
        return AnswerList(tuple(read_structure(part, depth + 1) for part in parts))
    parts, operators = split_top_level(text, [symbol for symbol, _ in _RELATIONS])
    if len(parts) > 1:
        names = dict(_RELATIONS)
        return _relation([names[o] for o in operators], parts, depth)
    parts, _ = split_top_level(text, [":"])
    if len(parts) > 1 and all(p.strip() for p in parts):
        return Ratio(tuple(read_structure(p, depth + 1) for p in parts))
    named_point = re.fullmatch(r"[A-Z]\s*(\(.*\))", text, re.S)
    if named_point and len(split_top_level(named_point.group(1)[1:-1], [","])[0]) > 1:
        text = named_point.group(1)  # P(1,2): the point P is (1,2)
    matrix = _MATRIX.fullmatch(text)
    if matrix:
        rows = [row for row in re.split(r"\\\\", matrix.group(2)) if row.strip()]
        if len(rows) > MAX_ITEMS:
            raise StructureRefused(f"answer: more than {MAX_ITEMS} matrix rows")
        cells = [split_top_level(row, ["&"])[0] for row in rows]
        return MatrixAnswer(tuple(tuple(read_structure(c, depth + 1) for c in row) for row in cells))
    pair = _enclosing_pair(text)
    if pair is not None:
        opening, closing = pair
        inner = text[len(opening): len(text) - len(closing)]
        items, _ = split_top_level(inner, [","])
        nodes = tuple(read_structure(item, depth + 1) for item in items)
        if opening == r"\{" or (opening == "{" and len(nodes) > 1):  # {1,2}: braces as set notation
            return AnswerSet(nodes)
        if len(nodes) == 1 and ((opening, closing) in (("(", ")"), ("{", "}"))
                                or isinstance(nodes[0], MatrixAnswer)):  # [\begin{array}..\end{array}]
            return nodes[0]
        return Bracketed(opening, closing, nodes)
    if r"\pm" in text or r"\mp" in text:
        return AnswerList(tuple(Leaf(t) for t in _expand_plus_minus(text)))
    return Leaf(text)


def _reduce_chain(operators: list[str], parts: list[str]) -> tuple[list[str], list[str]]:
    """Rule "equality chain": ``t = 2+3 = 5`` is ``t = 5``; ``x = 1/3 \\approx 0.33`` is ``x = 1/3``.

    An approximation after an exact side is a rounding of it and is dropped; an approximation with
    no exact side before it (``t \\approx 5``) counts as the equation. The middle of a chain is
    working, not the answer: only the first and last sides are kept.
    """
    if not all(o in ("=", "~") for o in operators):
        return [o if o != "~" else "=" for o in operators], parts
    if "~" in operators and operators.index("~") > 0:
        first_approximation = operators.index("~")
        operators, parts = operators[:first_approximation], parts[:first_approximation + 1]
    if len(parts) > 2:
        parts = [parts[0], parts[-1]]
    return ["="] * (len(parts) - 1), parts


def _scaled_variable(part: str) -> tuple[str, object] | None:
    """``-2x`` -> ("x", Fraction(-2)); ``x`` -> ("x", 1); None when ``part`` is not a multiple of one variable."""

    match = _COEFFICIENT_VARIABLE.fullmatch(part)
    if match is None:
        return None
    coefficient = plain_number(match.group(2)) if match.group(2) else None
    value = coefficient[0] if coefficient is not None else 1
    if match.group(2) and coefficient is None or value == 0:
        return None
    return match.group(3), (-value if match.group(1) else value)


def _divided(bound: str, factor) -> str:
    """``bound / factor`` as text, exact when the bound is a plain number."""

    if factor == 1:
        return bound
    number = plain_number(bound.replace(" ", ""))
    if number is not None and not number[1]:
        return str(number[0] / factor)
    if number is not None:
        return repr(float(number[0] / factor))
    return rf"\frac{{{bound}}}{{{factor}}}" if factor > 0 else rf"-\frac{{{bound}}}{{{-factor}}}"


_ABSOLUTE_VARIABLE = re.compile(r"\|\s*([A-Za-z](?:_\{?[A-Za-z0-9]+\}?)?)\s*\|")


def _negated(bound: str) -> str:
    """``-bound`` as text: exact for a plain number, else ``-(bound)``."""

    number = plain_number(bound.replace(" ", ""))
    return str(-number[0]) if number is not None and not number[1] else f"-({bound})"


def _absolute_value_condition(operators: list[str], parts: list[str]):
    """Rule "absolute value": ``1 \\le |x| \\le 2`` is ``[-2,-1]\\cup[1,2]``, ``|x|<3`` is ``(-3,3)``,
    ``|x|>3`` is ``(-\\infty,-3)\\cup(3,\\infty)``; None unless one side is ``|variable|`` and the
    others are plain numbers >= 0 (``|x-1|<3`` is another set and stays a relation)."""
    if operators[0] in (">", ">="):  # read right to left: 2 >= |x| >= 1 is 1 <= |x| <= 2
        parts, operators = parts[::-1], [_FLIP[o] for o in operators[::-1]]
    positions = [i for i, p in enumerate(parts) if _ABSOLUTE_VARIABLE.fullmatch(p.replace(" ", ""))]
    if len(positions) != 1 or len(parts) > 3:
        return None
    position = positions[0]
    bounds = [_bound_value(p) for i, p in enumerate(parts) if i != position]
    if any(b is None or b == float("inf") or b < 0 for b in bounds):
        return None
    lower = parts[position - 1] if position > 0 else None
    upper = parts[position + 1] if position + 1 < len(parts) else None
    lower_closed = position > 0 and operators[position - 1] == "<="
    upper_closed = upper is not None and operators[position] == "<="
    if upper is None:  # |x| > a: two rays
        return Union((Bracketed("(", "]" if lower_closed else ")", (Leaf(r"-\infty"), Leaf(_negated(lower)))),
                      Bracketed("[" if lower_closed else "(", ")", (Leaf(lower), Leaf(r"\infty")))))
    closing = "]" if upper_closed else ")"
    opening = "[" if upper_closed else "("
    if lower is None or (_bound_value(lower) == 0 and lower_closed):  # |x| < b: one interval around 0
        return Bracketed(opening, closing, (Leaf(_negated(upper)), Leaf(upper)))
    inner_open = "]" if lower_closed else ")"
    inner_close = "[" if lower_closed else "("
    return Union((Bracketed(opening, inner_open, (Leaf(_negated(upper)), Leaf(_negated(lower)))),
                  Bracketed(inner_close, closing, (Leaf(lower), Leaf(upper)))))


def _relation(operators: list[str], parts: list[str], depth: int):
    """A relation node; an inequality in one variable with constant bounds becomes an interval."""
    parts = [p.strip() for p in parts]
    operators, parts = _reduce_chain(operators, parts)
    if operators == ["="] and all(_is_constant(p) for p in parts):
        # rule "computation": 2+3=5 or \frac34 \$ = \frac78 states a value: its last side
        return read_structure(parts[-1], depth + 1)
    if all(o in ("<", "<=") for o in operators) or all(o in (">", ">=") for o in operators):
        condition = _absolute_value_condition(list(operators), list(parts))
        if condition is not None:
            return condition
    if operators == ["!="] and any(_LONE_VARIABLE.fullmatch(p) for p in parts):
        constant = parts[1] if _LONE_VARIABLE.fullmatch(parts[0]) else parts[0]
        if _is_constant(constant):  # x \ne 2: every real number but 2
            return Union((Bracketed("(", ")", (Leaf(r"-\infty"), Leaf(constant))),
                          Bracketed("(", ")", (Leaf(constant), Leaf(r"\infty")))))
    if all(o in ("<", "<=") for o in operators) or all(o in (">", ">=") for o in operators):
        scaled = [(i, _scaled_variable(p)) for i, p in enumerate(parts) if not _is_constant(p)]
        if len(scaled) == 1 and scaled[0][1] is not None and len(parts) <= 3:
            position, (variable, factor) = scaled[0][0], scaled[0][1]
            # -2x < 6 is x > -3: divide every side by the coefficient, flip when it is negative
            parts = [variable if i == position else _divided(p, factor) for i, p in enumerate(parts)]
            if factor < 0:
                operators = [_FLIP[o] for o in operators]
        if operators[0] in (">", ">="):  # read right to left: 4 >= x > 3 is 3 < x <= 4
            parts, operators = parts[::-1], [_FLIP[o] for o in operators[::-1]]
        variables = [i for i, p in enumerate(parts) if _LONE_VARIABLE.fullmatch(p)]
        if len(variables) == 1 and len(parts) <= 3 and all(
                _is_constant(p) for i, p in enumerate(parts) if i != variables[0]):
            position = variables[0]
            lower = parts[position - 1] if position > 0 else r"-\infty"
            upper = parts[position + 1] if position + 1 < len(parts) else r"\infty"
            opening = "(" if position == 0 or operators[position - 1] == "<" else "["
            closing = ")" if position + 1 == len(parts) or operators[position] == "<" else "]"
            return Bracketed(opening, closing, (Leaf(lower), Leaf(upper)))
    return Relation(tuple(operators), tuple(read_structure(p, depth + 1) for p in parts))


def _bound_value(text: str):
    """An interval end or a removed point as a number: a Fraction, +-inf; None when not a plain number."""

    compact = text.replace(" ", "")
    if compact in (r"\infty", r"+\infty"):
        return float("inf")
    if compact == r"-\infty":
        return float("-inf")
    number = plain_number(compact)
    return None if number is None else number[0]


def _set_difference(text: str, depth: int):
    """Rule "set difference": ``\\mathbb{R} \\setminus \\{1,3\\}`` -> ``(-\\infty,1)\\cup(1,3)\\cup(3,\\infty)``.

    Points are cut out of one interval (or the reals); the result is a union of intervals, so it
    meets an answer written as a union. Only plain-number points and ends are ordered; anything
    else stays the text it was (equal only to the same text).
    """
    parts, _ = split_top_level(text, _SET_MINUS)
    if len(parts) != 2:
        minus = re.fullmatch(r"(\\mathbb\s*\{?R\}?|\\R)\s*-\s*(\\\{.*\\\})", text, re.S)
        if minus is None:
            return None
        parts = [minus.group(1), minus.group(2)]
    base, removed = read_structure(parts[0], depth + 1), read_structure(parts[1], depth + 1)
    points = removed.items if isinstance(removed, (AnswerSet, AnswerList)) else (removed,)
    if not (isinstance(base, Bracketed) and len(base.items) == 2 and all(isinstance(p, Leaf) for p in points)):
        return Leaf(text)
    (low, high), values = base.items, [_bound_value(p.text) for p in points]
    low_value, high_value = _bound_value(low.text), _bound_value(high.text)
    if low_value is None or high_value is None or any(v is None for v in values):
        return Leaf(text)
    pieces, start, start_closed = [], low, base.opening == "["
    end_closed = base.closing == "]"
    for value, point in sorted(zip(values, points), key=lambda pair: pair[0]):
        if value == low_value:
            start_closed = False
        elif value == high_value:
            end_closed = False
        elif low_value < value < high_value and _bound_value(start.text) != value:
            pieces.append(Bracketed("[" if start_closed else "(", ")", (start, point)))
            start, start_closed = point, False
    pieces.append(Bracketed("[" if start_closed else "(", "]" if end_closed else ")", (start, high)))
    return pieces[0] if len(pieces) == 1 else Union(tuple(pieces))


def is_lone_variable(node) -> bool:
    """Whether the node is a single variable name (``x``), the left side of ``x=5``."""
    return isinstance(node, Leaf) and _LONE_VARIABLE.fullmatch(node.text) is not None


def is_label(node) -> bool:
    """Rule "labelled answer": ``x``, ``a_1``, ``AB``, ``f(2)``, ``\\frac{PQ}{RS}``, ``(a,b)``, ``A_1:A_2``.

    A label names what is asked for and holds no number outside a subscript or a function's
    argument, so ``(a,b)=(5,1)`` is the answer ``(5,1)``; ``7 = 11a+c`` and ``2x+z=1`` have no
    label side and stay equations (a sum is an equation, not a name).
    """
    if isinstance(node, Leaf):
        return _LABEL_TEXT.fullmatch(node.text.replace(" ", "")) is not None
    if isinstance(node, Bracketed) and node.opening == "(" and node.closing == ")":
        return all(isinstance(item, Leaf) and _LONE_VARIABLE.fullmatch(item.text) for item in node.items)
    if isinstance(node, Ratio):
        return all(is_label(part) for part in node.parts)
    return False


LeafEqual = Callable[[str, str], bool]
ProportionalEqual = Callable[..., bool]  # (a, b, positive=False) -> bool


def _match_unordered(predicted: tuple, gold: tuple, equal: Callable) -> bool:
    """True when the items can be paired one to one (greedy is enough: equivalence is transitive)."""
    if len(predicted) != len(gold):
        return False
    remaining = list(gold)
    for item in predicted:
        for index, candidate in enumerate(remaining):
            if equal(item, candidate):
                del remaining[index]
                break
        else:
            return False
    return True


def _unwrap_assignment(node):
    """``x = 5`` -> ``5``, ``(a,b) = (5,1)`` -> ``(5,1)``: a label on one side of a single equation."""
    if isinstance(node, Relation) and node.operators == ("=",):
        left, right = node.sides
        if is_label(left):
            return right
        if is_label(right):
            return left
    return node


def compare(predicted, gold, leaf_equal: LeafEqual, proportional: ProportionalEqual) -> bool:
    """Whether two answer nodes are equivalent, deciding leaves with ``leaf_equal``.

    ``proportional(a, b)`` says whether expressions ``a`` and ``b`` are nonzero constant
    multiples of each other; it decides equations such as ``5x-7y+11z+4=0`` vs ``-10x+14y-22z=8``.
    """

    def same(p, g) -> bool:
        return compare(p, g, leaf_equal, proportional)

    if isinstance(gold, Choice) or isinstance(predicted, Choice):
        return _compare_choices(predicted, gold, same)
    assigned = _compare_assignments(predicted, gold, same)
    if assigned is not None:
        return assigned
    if isinstance(gold, Relation) and isinstance(predicted, Relation):
        return _compare_relations(predicted, gold, leaf_equal, proportional)
    if isinstance(gold, Relation) != isinstance(predicted, Relation):
        unwrapped_p, unwrapped_g = _unwrap_assignment(predicted), _unwrap_assignment(gold)
        if unwrapped_p is predicted and unwrapped_g is gold:
            return False
        return same(unwrapped_p, unwrapped_g)
    if isinstance(gold, (AnswerList, AnswerSet)) or isinstance(predicted, (AnswerList, AnswerSet)):
        p_items = predicted.items if isinstance(predicted, (AnswerList, AnswerSet)) else (predicted,)
        g_items = gold.items if isinstance(gold, (AnswerList, AnswerSet)) else (gold,)
        p_items = _flatten(tuple(_unwrap_assignment(i) for i in p_items))
        g_items = _flatten(tuple(_unwrap_assignment(i) for i in g_items))
        # lists of solutions are equal as sets of values: a value written twice
        # ("15\frac{39}{40}, or \frac{639}{40}", a double root) counts once
        p_items, g_items = _deduplicate(p_items, same), _deduplicate(g_items, same)
        return _match_unordered(p_items, g_items, same)
    if isinstance(gold, Union) or isinstance(predicted, Union):
        p_parts = predicted.parts if isinstance(predicted, Union) else (predicted,)
        g_parts = gold.parts if isinstance(gold, Union) else (gold,)
        return _match_unordered(p_parts, g_parts, same)
    if isinstance(gold, MatrixAnswer) or isinstance(predicted, MatrixAnswer):
        return _compare_matrices(predicted, gold, same)
    if isinstance(gold, Bracketed) and isinstance(predicted, Bracketed):
        if (predicted.opening, predicted.closing) != (gold.opening, gold.closing):
            return False
        return len(predicted.items) == len(gold.items) and all(
            same(p, g) for p, g in zip(predicted.items, gold.items))
    if isinstance(gold, Ratio) or isinstance(predicted, Ratio):
        return _compare_ratios(predicted, gold, leaf_equal)
    if isinstance(gold, Leaf) and isinstance(predicted, Leaf):
        return leaf_equal(predicted.text, gold.text)
    return False


def _assignments(node) -> dict | None:
    """``a=5, b=1`` -> {"a": 5, "b": 1} (distinct lone variables, in order); None for anything else."""
    if not isinstance(node, AnswerList) or len(node.items) < 2:
        return None
    names = {}
    for item in node.items:
        if not (isinstance(item, Relation) and item.operators == ("=",) and is_lone_variable(item.sides[0])):
            return None
        names[item.sides[0].text] = item.sides[1]
    return names if len(names) == len(node.items) else None


def _named_tuple(node) -> dict | None:
    """``(a,b) = (5,1)`` -> {"a": 5, "b": 1}; None for anything else."""
    if isinstance(node, Relation) and node.operators == ("=",) and is_label(node.sides[0]):
        names, values = node.sides
        if (isinstance(names, Bracketed) and isinstance(values, Bracketed)
                and len(names.items) == len(values.items) == len({n.text for n in names.items})):
            return {n.text: v for n, v in zip(names.items, values.items)}
    return None


def _compare_assignments(predicted, gold, same: Callable) -> bool | None:
    """Rule "assignments": ``a=5, b=1`` equals ``(a,b)=(5,1)`` by name and ``(5,1)`` in order.

    None when neither side is a list of assignments to distinct variables.
    """
    for assignments, other, flipped in ((_assignments(predicted), gold, False), (_assignments(gold), predicted, True)):
        if assignments is None:
            continue
        named = _named_tuple(other)
        if named is not None:
            return named.keys() == assignments.keys() and all(
                same(named[k], v) if flipped else same(v, named[k]) for k, v in assignments.items())
        if isinstance(other, Bracketed) and other.opening == "(" and len(other.items) == len(assignments):
            return all(same(o, v) if flipped else same(v, o) for v, o in zip(assignments.values(), other.items))
    return None


def _choice_letter(node) -> str | None:
    if isinstance(node, Leaf) and re.fullmatch(r"\(?[A-Ea-e]\)?", node.text):
        return node.text.strip("()").upper()
    return None


def _compare_choices(predicted, gold, same: Callable) -> bool:
    """Rule "multiple choice": ``d. 7`` equals ``D`` and ``7``; two choices need both parts equal."""
    if isinstance(predicted, Choice) and isinstance(gold, Choice):
        return predicted.letter == gold.letter and same(predicted.value, gold.value)
    choice, other = (predicted, gold) if isinstance(predicted, Choice) else (gold, predicted)
    letter = _choice_letter(other)
    if letter is not None:
        return letter == choice.letter
    return same(choice.value, other) if other is gold else same(other, choice.value)


def _is_zero(node) -> bool:
    return isinstance(node, Leaf) and re.fullmatch(r"[+-]?0+(?:\.0*)?", node.text.replace(" ", "")) is not None


def _compare_ratios(predicted, gold, leaf_equal: LeafEqual) -> bool:
    """Rule "ratio": ``6:16`` = ``3:8`` (parts proportional), ``1:2`` = ``\\frac12`` (its value).

    Each part is divided by the first; a ratio with a zero part (``12:00``, a time) is compared part by
    part as written instead.
    """
    def quotients(node) -> list[str] | None:
        if isinstance(node, Ratio) and all(isinstance(p, Leaf) for p in node.parts):
            first = node.parts[0].text
            return [rf"\frac{{{p.text}}}{{{first}}}" for p in node.parts[1:]]
        if isinstance(node, Leaf):
            return [rf"\frac{{1}}{{{node.text}}}"]  # x = a/b is the ratio a:b, whose b/a is 1/x
        return None

    if isinstance(predicted, Ratio) and isinstance(gold, Ratio) and len(predicted.parts) != len(gold.parts):
        return False
    if any(_is_zero(p) for node in (predicted, gold) if isinstance(node, Ratio) for p in node.parts):
        return (isinstance(predicted, Ratio) and isinstance(gold, Ratio) and all(
            isinstance(p, Leaf) and isinstance(g, Leaf) and leaf_equal(p.text, g.text)
            for p, g in zip(predicted.parts, gold.parts)))
    p_quotients, g_quotients = quotients(predicted), quotients(gold)
    if p_quotients is None or g_quotients is None or len(p_quotients) != len(g_quotients):
        return False
    return all(leaf_equal(p, g) for p, g in zip(p_quotients, g_quotients))


def _flatten(items: tuple) -> tuple:
    """Items of nested answer lists (from ``\\pm`` or ``x=1, x=-2`` inside a set) join the outer list."""
    flat: list = []
    for item in items:
        flat.extend(item.items if isinstance(item, AnswerList) else (item,))
    return tuple(flat)


def _deduplicate(items: tuple, same: Callable) -> tuple:
    kept: list = []
    for item in items:
        if not any(same(item, k) for k in kept):
            kept.append(item)
    return tuple(kept)


def _as_vector(node):
    """Entries of a one-row or one-column matrix, or of a parenthesised tuple; else None."""
    if isinstance(node, MatrixAnswer):
        if len(node.rows) == 1:
            return node.rows[0]
        if all(len(row) == 1 for row in node.rows):
            return tuple(row[0] for row in node.rows)
        return None
    if isinstance(node, Bracketed) and (node.opening, node.closing) in (("(", ")"), ("[", "]")):
        return node.items
    return None


def _as_matrix(node):
    """A matrix node, or ``[[1,2],[3,4]]`` (rows of equal length in brackets) as one; else ``node``."""
    if (isinstance(node, Bracketed) and node.items and all(
            isinstance(row, Bracketed) and row.opening == "[" and len(row.items) == len(node.items[0].items)
            for row in node.items) and node.opening == "["):
        return MatrixAnswer(tuple(row.items for row in node.items))
    return node


def _compare_matrices(predicted, gold, same: Callable) -> bool:
    predicted, gold = _as_matrix(predicted), _as_matrix(gold)
    if isinstance(predicted, MatrixAnswer) and isinstance(gold, MatrixAnswer):
        if [len(r) for r in predicted.rows] != [len(r) for r in gold.rows]:
            return False
        return all(same(p, g) for p_row, g_row in zip(predicted.rows, gold.rows) for p, g in zip(p_row, g_row))
    p_vector, g_vector = _as_vector(predicted), _as_vector(gold)
    if p_vector is None or g_vector is None or len(p_vector) != len(g_vector):
        return False
    return all(same(p, g) for p, g in zip(p_vector, g_vector))


def _compare_relations(predicted: Relation, gold: Relation, leaf_equal: LeafEqual,
                       proportional: ProportionalEqual) -> bool:
    def same(p, g) -> bool:
        return compare(p, g, leaf_equal, proportional)

    if len(predicted.sides) != len(gold.sides):
        return False
    flipped = Relation(tuple(_FLIP[o] for o in predicted.operators[::-1]), predicted.sides[::-1])
    for candidate in (predicted, flipped):
        if candidate.operators == gold.operators and all(
                same(p, g) for p, g in zip(candidate.sides, gold.sides)):
            return True
    if len(gold.sides) == 2 and all(isinstance(s, Leaf) for s in gold.sides + predicted.sides):
        if gold.operators == ("=",) and predicted.operators == ("=",):
            if is_lone_variable(gold.sides[0]) and is_lone_variable(predicted.sides[0]):
                return gold.sides[0] == predicted.sides[0] and same(predicted.sides[1], gold.sides[1])
            return proportional(_difference(predicted), _difference(gold))
        oriented_p, oriented_g = _oriented(predicted), _oriented(gold)
        if oriented_p is not None and oriented_g is not None and oriented_p[1] == oriented_g[1]:
            # rule "inequality": 2x+2y>2 is x+y>1 and -x>-1 is x<1 (a positive multiple of the same side)
            return proportional(oriented_p[0], oriented_g[0], positive=True)
    return False


def _oriented(relation: Relation) -> tuple[str, bool] | None:
    """A one-operator inequality as (an expression that is positive, strict?): ``a < b`` -> ("(b)-(a)", True)."""
    if len(relation.operators) != 1 or relation.operators[0] not in ("<", "<=", ">", ">="):
        return None
    operator, (left, right) = relation.operators[0], relation.sides
    greater, lesser = (right, left) if operator in ("<", "<=") else (left, right)
    return f"({greater.text})-({lesser.text})", operator in ("<", ">")


def _difference(relation: Relation) -> str:
    left, right = relation.sides
    return f"({left.text})-({right.text})"
