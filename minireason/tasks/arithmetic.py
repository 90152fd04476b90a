"""Multi-step arithmetic expressions, evaluated one operation per line.

Difficulty ``d`` (1..8) is the number of operators. Operands are the digits 1..9; the
operators are ``+ - * /``, and from two operators on, half of the problems put one group
in parentheses. Problems are kept friendly: every intermediate result is a whole number
between 0 and 999 (divisions come out exact).

Each line of the trace performs the one operation that precedence says comes next
(innermost parentheses first, then ``*`` and ``/`` left to right, then ``+`` and ``-`` left
to right) and rewrites what is left of the expression::

    Evaluate (7-3)*4+6/2.
    7-3=4, 4*4+6/2
    4*4=16, 16+6/2
    6/2=3, 16+3
    16+3=19

A flawed trace gets one operation's result wrong by one or two and works on correctly
from the wrong value.

That order is the default way; ``write_trace(..., strategy="any order")`` applies, at each
line, an operation drawn at random from those that may go next without changing the value
(``3*4+6/2``: ``3*4`` or ``6/2``, not ``4+6``), so one problem has several worked orders.
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

MAX_OPERATORS = 8
LARGEST_INTERMEDIATE = 999
OPERATOR_WEIGHTS = {"+": 3, "-": 3, "*": 3, "/": 2}

Token = int | str  # a number, an operator, or a parenthesis


class NotFriendly(ValueError):
    """An expression (or a slipped evaluation) leaves the whole numbers 0..999."""


def render(tokens: list[Token]) -> str:
    """The expression's text, tokens joined without spaces."""
    return "".join(str(token) for token in tokens)


def _apply(left: int, operator: str, right: int) -> int:
    if operator == "+":
        value = left + right
    elif operator == "-":
        value = left - right
    elif operator == "*":
        value = left * right
    else:
        if right == 0 or left % right:
            raise NotFriendly(f"{left}/{right} is not a whole number")
        value = left // right
    if not 0 <= value <= LARGEST_INTERMEDIATE:
        raise NotFriendly(f"{left}{operator}{right}={value} is outside 0..{LARGEST_INTERMEDIATE}")
    return value


def _next_operation(tokens: list[Token]) -> int:
    """Index of the operator precedence says to apply next."""
    start, end = 0, len(tokens)
    for index, token in enumerate(tokens):  # innermost group: the last "(" before the first ")"
        if token == "(":
            start = index + 1
        elif token == ")":
            end = index
            break
    group = range(start, end)
    for operators in ("*/", "+-"):
        for index in group:
            if isinstance(tokens[index], str) and tokens[index] in operators:
                return index
    raise AssertionError(f"no operator left in {render(tokens)}")


PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}
STRATEGIES = ("precedence", "any order")


def ready_operations(tokens: list[Token]) -> list[int]:
    """Indices of the operators that may be applied now without changing the expression's value.

    An operator between two numbers is ready when nothing binds its left number more tightly or
    earlier (the start, ``(``, or a looser operator before it) and nothing binds its right number
    more tightly (the end, ``)``, or an operator no tighter after it): in ``8-2*3+1`` only ``2*3``;
    in ``3*4+6/2`` both ``3*4`` and ``6/2``.
    """
    ready = []
    for index in range(1, len(tokens) - 1):
        operator = tokens[index]
        if operator not in PRECEDENCE or not (isinstance(tokens[index - 1], int) and isinstance(tokens[index + 1], int)):
            continue
        before = tokens[index - 2] if index >= 2 else "("
        after = tokens[index + 2] if index + 2 < len(tokens) else ")"
        if ((before == "(" or PRECEDENCE[before] < PRECEDENCE[operator])
                and (after == ")" or PRECEDENCE[after] <= PRECEDENCE[operator])):
            ready.append(index)
    return ready


def evaluate_steps(tokens: list[Token], slip: tuple[int, int] | None = None,
                   order_seed: int | None = None) -> tuple[list[str], int]:
    """Reduce the expression one operation at a time; return the trace lines and the value.

    ``slip = (step, delta)`` adds ``delta`` to the result of that step (0 = first).
    ``order_seed``: None applies operations in precedence order; a seed draws each next
    operation among the ready ones (:func:`ready_operations`), the same draws for the same seed.
    Raises :class:`NotFriendly` when a step leaves the whole numbers 0..999.
    """
    tokens = list(tokens)
    steps: list[str] = []
    order = None if order_seed is None else random.Random(order_seed)
    while len(tokens) > 1:
        index = _next_operation(tokens) if order is None else order.choice(ready_operations(tokens))
        left, operator, right = tokens[index - 1], tokens[index], tokens[index + 1]
        value = _apply(left, operator, right)
        if slip is not None and slip[0] == len(steps):
            value += slip[1]
            if not 0 <= value <= LARGEST_INTERMEDIATE:
                raise NotFriendly("the slip leaves 0..999")
        tokens[index - 1:index + 2] = [value]
        if index - 2 >= 0 and tokens[index - 2] == "(" and tokens[index] == ")":
            tokens[index - 2:index + 1] = [value]  # "(7)" -> "7"
        line = f"{left}{operator}{right}={value}"
        steps.append(line if len(tokens) == 1 else f"{line}, {render(tokens)}")
    return steps, int(tokens[0])


def random_expression(rng: random.Random, operators: int) -> list[Token]:
    """A random expression of single-digit numbers with ``operators`` operators (weighted draw), as tokens."""
    numbers = [rng.randint(1, 9) for _ in range(operators + 1)]
    chosen = rng.choices(list(OPERATOR_WEIGHTS), weights=list(OPERATOR_WEIGHTS.values()), k=operators)
    tokens: list[Token] = [numbers[0]]
    for operator, number in zip(chosen, numbers[1:]):
        tokens += [operator, number]
    if operators >= 2 and rng.random() < 0.5:  # parenthesise numbers first..last, not all of them
        first = rng.randint(0, operators - 1)
        last = rng.randint(first + 1, operators if first > 0 else operators - 1)
        tokens.insert(2 * last + 1, ")")
        tokens.insert(2 * first, "(")
    return tokens


class ArithmeticTask:
    """Multi-step expressions with + - * / and parentheses; the chain of thought does one operation per line."""
    name = "arithmetic"
    strategies = STRATEGIES  # every way write_trace knows; strategies_for(problem) says which fit
    description = "multi-step expressions with + - * / and parentheses, one operation per line"
    default_difficulty = 3
    max_difficulty = MAX_OPERATORS

    def generate(self, rng: random.Random, difficulty: int) -> Problem:
        check_difficulty(self.name, difficulty, self.max_difficulty)
        while True:  # rejection sampling: most draws are friendly
            tokens = random_expression(rng, difficulty)
            try:
                _, value = evaluate_steps(tokens)
            except NotFriendly:
                continue
            data = {"expression": render(tokens)}
            return make_problem(self, f"Evaluate {render(tokens)}.", str(value), difficulty, data, rng)

    def verify(self, problem: Problem, answer_text: str) -> bool:
        return integer_answer_matches(answer_text, int(problem.answer))

    def strategies_for(self, problem: Problem) -> tuple[str, ...]:
        return STRATEGIES

    def write_trace(self, problem: Problem, rng: random.Random, mistake: bool = False,
                    strategy: str = "precedence") -> str:
        if strategy not in STRATEGIES:
            raise InputError(f"strategy: expected one of {STRATEGIES}, got {strategy!r}")
        tokens = parse_tokens(problem.data["expression"])
        order_seed = rng.getrandbits(32) if strategy == "any order" else None
        steps, value = evaluate_steps(tokens, order_seed=order_seed)
        if mistake:
            true_value = value
            slips = [(step, delta) for step in range(len(steps)) for delta in (1, -1, 2, -2)]
            rng.shuffle(slips)
            for slip in slips:
                try:
                    steps, value = evaluate_steps(tokens, slip, order_seed)
                except NotFriendly:
                    continue
                if value != true_value:
                    break
            else:
                raise AssertionError("unreachable: a slip in the last step always changes the value")
        return format_trace(steps, str(value))


def parse_tokens(expression: str) -> list[Token]:
    """Split an expression this family wrote (digits, ``+-*/``, parentheses) back into tokens."""
    tokens: list[Token] = []
    for character in expression:
        if character.isdigit() and tokens and isinstance(tokens[-1], int):
            tokens[-1] = tokens[-1] * 10 + int(character)
        elif character.isdigit():
            tokens.append(int(character))
        else:
            tokens.append(character)
    return tokens


FAMILY = ArithmeticTask()
