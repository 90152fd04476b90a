"""Countdown: reach a target from given numbers, each used at most once, with ``+ - * /``.

Difficulty ``d`` (1..4) gives ``d + 2`` numbers from 1..10 (from difficulty 3 on, often
one of 25, 50, 75, 100). The target is made by combining some of them, so a solution
always exists; it is between 10 and 999 and is not one of the given numbers.

The answer is an *expression*, not a number: the verifier parses it with its own tiny
parser (digits, ``+ - * /``, parentheses; exact fractions; never ``eval``), checks that the
numbers it uses are among those given (each at most as often as given) and that its
value is the target. ``\\boxed{(25-5)*4+3}`` and ``\\boxed{3+4*(25-5)=83}`` both count.

The trace is a short search: sometimes a first attempt that misses ("no"), then the
attempt that reaches the target ("yes"), one operation per step, and the expression::

    Make 83 from 3 4 5 7 25.
    25+7=32, 32*3=96, no
    25-5=20, 20*4=80, 80+3=83, yes
    (25-5)*4+3=83

A flawed trace misreads one number (uses one it was not given, or one twice) and reaches
the target with it; every step's arithmetic is right, but the verifier rejects the answer.
"""

from __future__ import annotations

import itertools
import random
import re
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction

from minireason.tasks.base import Problem, check_difficulty, format_trace, make_problem

LARGE_NUMBERS = (25, 50, 75, 100)
SMALLEST_TARGET, LARGEST_TARGET = 10, 999
PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


# ---------------------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Node:
    """An expression tree: a leaf number (``operator`` is None) or ``left operator right``."""

    value: Fraction
    operator: str | None = None
    left: Node | None = None
    right: Node | None = None

    def text(self) -> str:
        """The expression with only the parentheses precedence needs."""
        if self.operator is None:
            return str(self.value)
        left, right = self.left.text(), self.right.text()
        if self.left.operator and PRECEDENCE[self.left.operator] < PRECEDENCE[self.operator]:
            left = f"({left})"
        if self.right.operator and (
            PRECEDENCE[self.right.operator] < PRECEDENCE[self.operator]
            or (PRECEDENCE[self.right.operator] == PRECEDENCE[self.operator] and self.operator in "-/")
        ):
            right = f"({right})"
        return f"{left}{self.operator}{right}"

    def leaves(self) -> list[int]:
        if self.operator is None:
            return [int(self.value)]
        return self.left.leaves() + self.right.leaves()


def leaf(number: int) -> Node:
    """A tree node holding one of the given numbers."""
    return Node(Fraction(number))


def combine(left: Node, operator: str, right: Node) -> Node | None:
    """``left operator right`` when it stays a positive whole number, else None (countdown rules)."""
    a, b = left.value, right.value
    if operator == "+":
        value = a + b
    elif operator == "-":
        value = a - b
    elif operator == "*":
        value = a * b
    elif b != 0 and (a / b).denominator == 1:
        value = a / b
    else:
        return None
    return Node(value, operator, left, right) if value > 0 else None


def step_text(node: Node) -> str:
    """One step of a solution as the chain of thought writes it: ``a+b=c``."""
    return f"{node.left.value}{node.operator}{node.right.value}={node.value}"


def random_path(rng: random.Random, numbers: list[int]) -> list[Node]:
    """Combine the numbers pairwise at random until one is left; return the steps made."""
    items = [leaf(number) for number in numbers]
    steps: list[Node] = []
    while len(items) > 1:
        i, j = rng.sample(range(len(items)), 2)
        if items[i].value < items[j].value:
            i, j = j, i  # larger first, so "-" and "/" can apply
        options = [combine(items[i], operator, items[j]) for operator in "+-*/"]
        options = [node for node in options if node is not None
                   and not (node.operator in "*/" and node.right.value == 1)]  # no "times one" padding
        if not options:
            options = [combine(items[i], "+", items[j])]
        node = rng.choice(options)
        items = [item for index, item in enumerate(items) if index not in (i, j)] + [node]
        steps.append(node)
    return steps


def solve(numbers: list[int], target: int, must_use: int | None = None) -> Node | None:
    """Depth-first search for an expression reaching ``target`` (small inputs only).

    With ``must_use``, only expressions containing that number count.
    """

    def search(items: list[Node]) -> Node | None:
        for item in items:
            if item.value == target and (must_use is None or must_use in item.leaves()):
                return item
        for i, j in itertools.permutations(range(len(items)), 2):
            rest = [item for index, item in enumerate(items) if index not in (i, j)]
            for operator in "+-*/":
                if operator in "+*" and i > j:
                    continue  # commutative: one order is enough
                node = combine(items[i], operator, items[j])
                if node is not None and (found := search(rest + [node])):
                    return found
        return None

    return search([leaf(number) for number in numbers])


def steps_of(node: Node) -> list[Node]:
    """The operations of an expression tree in the order they are computed (left first)."""
    if node.operator is None:
        return []
    return steps_of(node.left) + steps_of(node.right) + [node]


# ---------------------------------------------------------------------------- safe parser


class ExpressionError(ValueError):
    """The submitted answer is not an expression of numbers, ``+ - * /`` and parentheses."""


MAX_ANSWER_CHARS = 200
MAX_NESTING = 30
_TOKEN = re.compile(r"\s*(?:([0-9]{1,9})|([-+*/()]))")


def tokenize(text: str) -> list[str]:
    """The tokens of an answer expression (numbers, operators, parentheses); raises ``ExpressionError`` on anything else or on a too-long answer."""
    if len(text) > MAX_ANSWER_CHARS:
        raise ExpressionError(f"answer longer than {MAX_ANSWER_CHARS} characters")
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ExpressionError(f"unexpected character {text[position]!r} at {position}")
        tokens.append(match.group(1) or match.group(2))
        position = match.end()
    return tokens


def parse_expression(text: str) -> Node:
    """Parse ``text`` into a Node tree (recursive descent; no eval, no names, no powers).

    Grammar: ``expr := term (("+"|"-") term)*``, ``term := factor (("*"|"/") factor)*``,
    ``factor := NUMBER | "(" expr ")"``. Numbers are plain non-negative integers written
    without leading zeros; there is no unary minus. Division by zero is an error.
    """
    tokens = tokenize(text)
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        if position >= len(tokens):
            raise ExpressionError("expression ends too early")
        position += 1
        return tokens[position - 1]

    def expression(depth: int) -> Node:
        node = term(depth)
        while peek() in ("+", "-"):
            node = apply(node, take(), term(depth))
        return node

    def term(depth: int) -> Node:
        node = factor(depth)
        while peek() in ("*", "/"):
            node = apply(node, take(), factor(depth))
        return node

    def factor(depth: int) -> Node:
        if depth > MAX_NESTING:
            raise ExpressionError(f"parentheses nested deeper than {MAX_NESTING}")
        token = take()
        if token == "(":
            node = expression(depth + 1)
            if take() != ")":
                raise ExpressionError("unbalanced parentheses")
            return node
        if not token.isdigit():
            raise ExpressionError(f"expected a number or '(', got {token!r}")
        if len(token) > 1 and token[0] == "0":
            raise ExpressionError(f"number with a leading zero: {token!r}")
        return leaf(int(token))

    def apply(left: Node, operator: str, right: Node) -> Node:
        if operator == "/" and right.value == 0:
            raise ExpressionError("division by zero")
        value = {"+": left.value + right.value, "-": left.value - right.value,
                 "*": left.value * right.value}.get(operator)
        if value is None:
            value = left.value / right.value
        return Node(value, operator, left, right)

    if not tokens:
        raise ExpressionError("empty expression")
    node = expression(0)
    if position != len(tokens):
        raise ExpressionError(f"unexpected {tokens[position]!r} after the expression")
    return node


_LATEX_OPERATORS = {"\\times": "*", "\\cdot": "*", "\\div": "/", "\\left": "", "\\right": "", "$": ""}


def check_countdown_answer(answer_text: str, numbers: list[int], target: int) -> bool:
    """True when ``answer_text`` is an expression over the given numbers whose value is ``target``.

    An optional ``=target`` at the end is accepted. Anything malformed or hostile is simply
    wrong: this never raises on bad input and never evaluates code.
    """
    text = answer_text
    for latex, plain in _LATEX_OPERATORS.items():
        text = text.replace(latex, plain)
    if text.count("=") > 1:
        return False
    if "=" in text:
        text, claimed = text.split("=")
        if claimed.strip() != str(target):
            return False
    try:
        node = parse_expression(text)
    except ExpressionError:
        return False
    used, given = Counter(node.leaves()), Counter(numbers)
    return all(used[number] <= given[number] for number in used) and node.value == target


# ---------------------------------------------------------------------------- the family


class CountdownTask:
    """Reach a target with the given numbers, each used at most once, with + - * /; the verifier evaluates the answer's expression exactly, without ``eval``."""
    name = "countdown"
    description = "reach a target with given numbers, each at most once, using + - * /"
    default_difficulty = 2
    max_difficulty = 4

    def generate(self, rng: random.Random, difficulty: int) -> Problem:
        check_difficulty(self.name, difficulty, self.max_difficulty)
        count = difficulty + 2
        while True:
            numbers = [rng.randint(1, 10) for _ in range(count)]
            if difficulty >= 3 and rng.random() < 0.5:
                numbers[0] = rng.choice(LARGE_NUMBERS)
            used = rng.sample(numbers, rng.randint(2, count))
            solution = random_path(rng, used)[-1]
            target = int(solution.value)
            if SMALLEST_TARGET <= target <= LARGEST_TARGET and target not in numbers:
                break
        numbers.sort()
        text = f"Make {target} from {' '.join(map(str, numbers))}."
        data = {"numbers": numbers, "target": target, "solution": solution.text()}
        return make_problem(self, text, solution.text(), difficulty, data, rng)

    def verify(self, problem: Problem, answer_text: str) -> bool:
        return check_countdown_answer(answer_text, problem.data["numbers"], problem.data["target"])

    def write_trace(self, problem: Problem, rng: random.Random, mistake: bool = False) -> str:
        numbers, target = problem.data["numbers"], problem.data["target"]
        solution = parse_expression(problem.data["solution"])
        lines = []
        if len(numbers) >= 4 and rng.random() < 0.5:
            miss = self._missed_attempt(rng, numbers, target)
            if miss:
                lines.append(miss)
        if mistake:
            solution = self._misread_solution(rng, numbers, target, solution)
        lines.append(", ".join(step_text(step) for step in steps_of(solution)) + ", yes")
        lines.append(f"{solution.text()}={target}")
        return format_trace(lines, solution.text())

    @staticmethod
    def _missed_attempt(rng: random.Random, numbers: list[int], target: int) -> str | None:
        steps = random_path(rng, rng.sample(numbers, rng.randint(2, 3)))
        if any(step.value == target for step in steps):
            return None
        return ", ".join(step_text(step) for step in steps) + ", no"

    @staticmethod
    def _misread_solution(rng: random.Random, numbers: list[int], target: int, solution: Node) -> Node:
        """A solution that reaches the target with one number misread (or reused).

        Tries small searches over a few of the given numbers with one of them replaced by a
        neighbour or duplicated; if none reaches the target, misreads a number in the gold
        solution and keeps its last step's claim, i.e. the arithmetic is then also wrong.
        """
        for _ in range(6):
            pool = rng.sample(numbers, min(3, len(numbers)))
            original = rng.choice(pool)
            misread = rng.choice([original + 1, original - 1, original]) or original + 1
            found = solve(pool + [misread], target, must_use=misread)
            if found and not check_countdown_answer(found.text(), numbers, target):
                return found
        gold_leaves = solution.leaves()
        wrong = rng.choice(gold_leaves)
        return _replace_leaf(solution, wrong, wrong + 1, numbers)


def _replace_leaf(node: Node, old: int, new: int, numbers: list[int]) -> Node:
    """The fallback misreading: the first leaf ``old`` becomes ``new``, values recomputed
    honestly except that the root keeps claiming the target."""
    done = False

    def rebuild(current: Node) -> Node:
        nonlocal done
        if current.operator is None:
            if not done and int(current.value) == old:
                done = True
                return leaf(new)
            return current
        left, right = rebuild(current.left), rebuild(current.right)
        value = {"+": left.value + right.value, "-": left.value - right.value,
                 "*": left.value * right.value}.get(current.operator)
        if value is None:
            value = left.value / right.value if right.value else Fraction(0)
        return Node(value, current.operator, left, right)

    rebuilt = rebuild(node)
    return Node(node.value, rebuilt.operator, rebuilt.left, rebuilt.right)


FAMILY = CountdownTask()
