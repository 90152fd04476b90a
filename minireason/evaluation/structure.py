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
(``x>3`` is ``(3,\\infty)``, ``3<x\\le4`` is ``(3,4]``), so ``x \\ge 3`` against ``[3,\\infty)``
is decided like two intervals. ``(2,4)`` is both a point and an open interval; both readings
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

MAX_ITEMS = 64
MAX_STRUCTURE_DEPTH = 8


class StructureRefused(InputError):
    """The answer's structure is too large or too deeply nested to compare."""


@dataclass(frozen=True)
class Leaf:
    text: str


@dataclass(frozen=True)
class Bracketed:
    opening: str
    closing: str
    items: tuple


@dataclass(frozen=True)
class AnswerList:
    items: tuple


@dataclass(frozen=True)
class AnswerSet:
    items: tuple


@dataclass(frozen=True)
class Union:
    parts: tuple


@dataclass(frozen=True)
class Relation:
    operators: tuple  # each of "=", "<", "<=", ">", ">=", "!="
    sides: tuple


@dataclass(frozen=True)
class MatrixAnswer:
    rows: tuple  # tuple of tuples of nodes


_OPENERS = {"(": ")", "[": "]", "{": "}"}
_RELATIONS = [(r"\leq", "<="), (r"\geq", ">="), (r"\neq", "!="), (r"\le", "<="), (r"\ge", ">="),
              (r"\ne", "!="), (r"\lt", "<"), (r"\gt", ">"), ("<=", "<="), (">=", ">="), ("!=", "!="),
              ("=", "="), ("<", "<"), (">", ">")]
_LONE_VARIABLE = re.compile(r"[A-Za-z](?:_\{?[A-Za-z0-9]+\}?)?|\\(?:theta|alpha|beta|phi)")
_MATRIX = re.compile(r"\\begin\{([pbBvV]?matrix|array)\}(?:\{[^{}]*\})?(.*)\\end\{\1\}", re.S)
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "!=": "!="}


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
    while any(r"\pm" in r or r"\mp" in r for r in results):
        if len(results) > 16:
            raise StructureRefused(r"answer: too many \pm signs")
        expanded = []
        for result in results:
            match = re.search(r"\\(pm|mp)(?![a-zA-Z])", result)
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
    parts, _ = split_top_level(text, [r"\cup"])
    if len(parts) > 1:
        return Union(tuple(read_structure(part, depth + 1) for part in parts))
    parts, _ = split_top_level(text, [","])
    if len(parts) > 1:
        return AnswerList(tuple(read_structure(part, depth + 1) for part in parts))
    parts, operators = split_top_level(text, [symbol for symbol, _ in _RELATIONS])
    if len(parts) > 1:
        names = dict(_RELATIONS)
        return _relation([names[o] for o in operators], parts, depth)
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
        if opening == r"\{":
            return AnswerSet(nodes)
        if len(nodes) == 1 and (opening, closing) in (("(", ")"), ("{", "}")):
            return nodes[0]
        return Bracketed(opening, closing, nodes)
    if r"\pm" in text or r"\mp" in text:
        return AnswerList(tuple(Leaf(t) for t in _expand_plus_minus(text)))
    return Leaf(text)


def _relation(operators: list[str], parts: list[str], depth: int):
    """A relation node; an inequality in one variable with constant bounds becomes an interval."""
    parts = [p.strip() for p in parts]
    if all(o in ("<", "<=") for o in operators) or all(o in (">", ">=") for o in operators):
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


def is_lone_variable(node) -> bool:
    return isinstance(node, Leaf) and _LONE_VARIABLE.fullmatch(node.text) is not None


LeafEqual = Callable[[str, str], bool]
ProportionalEqual = Callable[[str, str], bool]


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
    """``x = 5`` -> ``5`` (a lone variable on one side of a single equation); otherwise unchanged."""
    if isinstance(node, Relation) and node.operators == ("=",):
        left, right = node.sides
        if is_lone_variable(left):
            return right
        if is_lone_variable(right):
            return left
    return node


def compare(predicted, gold, leaf_equal: LeafEqual, proportional: ProportionalEqual) -> bool:
    """Whether two answer nodes are equivalent, deciding leaves with ``leaf_equal``.

    ``proportional(a, b)`` says whether expressions ``a`` and ``b`` are nonzero constant
    multiples of each other; it decides equations such as ``5x-7y+11z+4=0`` vs ``-10x+14y-22z=8``.
    """

    def same(p, g) -> bool:
        return compare(p, g, leaf_equal, proportional)

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
        if isinstance(gold, AnswerSet) and isinstance(predicted, AnswerSet):
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
    if isinstance(gold, Leaf) and isinstance(predicted, Leaf):
        return leaf_equal(predicted.text, gold.text)
    return False


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


def _compare_matrices(predicted, gold, same: Callable) -> bool:
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
    return False


def _difference(relation: Relation) -> str:
    left, right = relation.sides
    return f"({left.text})-({right.text})"
