"""A whitelist parser from answer text to sympy expressions that never runs the text as code.

Why not ``sympy.sympify`` or ``parse_expr``? Both hand the string to Python's ``eval``:
``sympify("__import__('os').system('rm -rf ~')")`` runs the command. Model output is untrusted,
so this module reads it with a hand-written scanner and a recursive-descent parser whose only
actions are constructors of sympy objects (``Integer``, ``Rational``, ``Symbol``, ``Add``, ``Mul``,
``Pow`` and functions from a fixed table). A character that is not in the whitelist, or a
command that is not in the table, refuses the whole answer with :class:`ParseRefused`.

Grammar (highest number binds tightest)::

    expression := term (("+" | "-") term)*
    term       := signed (("*" | "/" | \\cdot | \\times | \\div) signed | <implicit> power)*
    signed     := ("+" | "-") signed | power
    power      := postfix ("^" exponent)?          right-associative: 2^3^2 = 2^(3^2)
    postfix    := atom "!"*
    atom       := number | letter[_sub] | (expr) | {expr} | [expr] | |expr|
                | \\frac A B | \\sqrt[n]{x} | \\binom A B | \\pi | \\infty | \\lfloor x \\rfloor
                | \\sin x | \\log_b x | ... (functions from FUNCTIONS)

Implicit multiplication (``2x``, ``2\\sqrt{2}``, ``(a+5)(b+2)``) joins a power directly
followed by the start of an atom. ``\\frac12`` and ``\\sqrt2`` take one character as argument,
as in TeX. ``e`` is Euler's number and ``i`` the imaginary unit.

Size caps make every construction cheap, so a hostile answer is refused instead of computed:
input length, nesting depth, digits per number, the bit size of a numeric power (``9^{9^{9^9}}``
is refused, since ``9^{387420489}`` has 1.2 billion bits), the exponent on a symbolic base, and
factorials and binomials of at most ``MAX_FACTORIAL``. Decimals become exact rationals
(``0.1`` is ``1/10``); the parse result says whether a decimal was present, so the grader can
allow a rounding tolerance exactly when one was.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import sympy

from minireason.errors import InputError

MAX_INPUT_CHARS = 1000
MAX_DEPTH = 40
MAX_DIGITS = 200
MAX_POWER_BITS = 20_000
MAX_SYMBOLIC_EXPONENT = 1000
MAX_FACTORIAL = 1000


class ParseRefused(InputError):
    """The answer uses something outside the whitelist, or would be too costly to build."""


@dataclass(frozen=True)
class ParsedExpression:
    """A sympy expression and whether its text contained a decimal point."""

    expression: sympy.Expr
    has_decimal: bool


_FUNCTIONS = {
    "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "cot": sympy.cot, "sec": sympy.sec,
    "csc": sympy.csc, "arcsin": sympy.asin, "arccos": sympy.acos, "arctan": sympy.atan,
    "sinh": sympy.sinh, "cosh": sympy.cosh, "tanh": sympy.tanh, "exp": sympy.exp, "ln": sympy.log,
    "log": sympy.log, "lg": lambda x: sympy.log(x, 10),
}
_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta",
          "iota", "kappa", "lambda", "mu", "nu", "xi", "rho", "sigma", "tau", "upsilon", "phi", "varphi",
          "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Sigma", "Phi", "Psi", "Omega"}
_MULTIPLY = {r"\cdot", r"\times", "*", r"\ast"}
_DIVIDE = {"/", r"\div"}
_FRAC = {r"\frac", r"\dfrac", r"\tfrac", r"\cfrac"}
_BINOM = {r"\binom", r"\dbinom", r"\tbinom"}
_IGNORED_COMMANDS = {r"\left", r"\right", r"\,", r"\!", r"\;", r"\:", r"\ ", r"\displaystyle", r"\quad"}

_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d*)?|\.\d+)|(\\[a-zA-Z]+|\\[{}|,;:! ])|([a-zA-Z])|([-+*/^_!()\[\]{}|]))")


class _Parser:
    def __init__(self, text: str):
        if len(text) > MAX_INPUT_CHARS:
            raise ParseRefused(f"answer: expected at most {MAX_INPUT_CHARS} characters, got {len(text)}")
        self.text = text
        self.position = 0
        self.depth = 0
        self.has_decimal = False

    # scanning -----------------------------------------------------------------------------
    def peek(self) -> str | None:
        """The next token without consuming it (None at the end)."""
        while True:
            match = _TOKEN.match(self.text, self.position)
            if match is None:
                rest = self.text[self.position:]
                if rest.strip() == "":
                    return None
                raise ParseRefused(f"answer: unexpected character {rest.strip()[0]!r}")
            token = match.group(match.lastindex)
            if token in _IGNORED_COMMANDS:
                self.position = match.end()
                continue
            return token

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise ParseRefused("answer: unexpected end")
        match = _TOKEN.match(self.text, self.position)
        self.position = match.end()
        return token

    def expect(self, token: str) -> None:
        got = self.take()
        if got != token:
            raise ParseRefused(f"answer: expected {token!r}, got {got!r}")

    def single_character_argument(self) -> sympy.Expr:
        """The argument of ``\\frac`` or ``\\sqrt``: a ``{group}``, a command, or one character."""
        while self.position < len(self.text) and self.text[self.position].isspace():
            self.position += 1
        if self.position >= len(self.text):
            raise ParseRefused("answer: missing argument")
        character = self.text[self.position]
        if character == "{":
            self.take()
            value = self.expression()
            self.expect("}")
            return value
        if character == "\\":
            return self.atom()
        if character.isdigit():
            self.position += 1
            return sympy.Integer(int(character))
        if character.isalpha():
            self.position += 1
            return self.letter(character)
        raise ParseRefused(f"answer: unexpected argument {character!r}")

    # grammar ------------------------------------------------------------------------------
    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParseRefused(f"answer: nesting deeper than {MAX_DEPTH}")

    def expression(self) -> sympy.Expr:
        self.enter()
        value = self.term()
        while self.peek() in ("+", "-"):
            operator = self.take()
            right = self.term()
            value = sympy.Add(value, right if operator == "+" else -right)
        self.depth -= 1
        return value

    def starts_atom(self, token: str | None) -> bool:
        if token is None:
            return False
        if token[0].isdigit() or token[0] == "." or token.isalpha() or token in ("(", "{", "["):
            return True
        if token.startswith("\\"):
            name = token[1:]
            return (token in _FRAC or token in _BINOM or name in _FUNCTIONS or name in _GREEK
                    or name in ("sqrt", "pi", "infty", "lfloor", "lceil", "text", "mathrm", "e"))
        return False

    def term(self) -> sympy.Expr:
        value = self.signed()
        while True:
            token = self.peek()
            if token in _MULTIPLY:
                self.take()
                value = sympy.Mul(value, self.signed())
            elif token in _DIVIDE:
                self.take()
                value = sympy.Mul(value, sympy.Pow(self.signed(), -1))
            elif self.starts_atom(token):
                value = sympy.Mul(value, self.power())
            else:
                return value

    def signed(self) -> sympy.Expr:
        token = self.peek()
        if token in ("+", "-"):
            self.take()
            self.enter()
            value = self.signed()
            self.depth -= 1
            return -value if token == "-" else value
        return self.power()

    def power(self) -> sympy.Expr:
        base = self.postfix()
        if self.peek() == "^":
            self.take()
            self.enter()
            exponent = self.exponent()
            self.depth -= 1
            return checked_power(base, exponent)
        return base

    def exponent(self) -> sympy.Expr:
        token = self.peek()
        if token == "{":
            self.take()
            value = self.expression()
            self.expect("}")
            return value
        if token in ("+", "-"):
            self.take()
            value = self.exponent()
            return -value if token == "-" else value
        return self.power()

    def postfix(self) -> sympy.Expr:
        value = self.atom()
        while self.peek() == "!":
            self.take()
            value = checked_factorial(value)
        return value

    def group(self, opening: str, closing: str) -> sympy.Expr:
        self.expect(opening)
        value = self.expression()
        self.expect(closing)
        return value

    def letter(self, name: str) -> sympy.Expr:
        if self.peek() == "_":
            self.take()
            subscript = self.subscript_text()
            return sympy.Symbol(f"{name}_{subscript}")
        if name == "e":
            return sympy.E
        if name == "i":
            return sympy.I
        return sympy.Symbol(name)

    def subscript_text(self) -> str:
        token = self.take()
        if token == "{":
            parts = []
            while self.peek() != "}":
                part = self.take()
                if not (part.isalnum()):
                    raise ParseRefused(f"answer: unexpected {part!r} in a subscript")
                parts.append(part)
                if len(parts) > 8:
                    raise ParseRefused("answer: subscript too long")
            self.take()
            return "".join(parts)
        if token.isalnum():
            return token
        raise ParseRefused(f"answer: unexpected {token!r} in a subscript")

    def number(self, token: str) -> sympy.Expr:
        digits = token.replace(".", "")
        if len(digits) > MAX_DIGITS:
            raise ParseRefused(f"answer: expected a number of at most {MAX_DIGITS} digits, got {len(digits)}")
        if self.peek() == "_":  # a base subscript, as in 52_8: the digits are the answer as written
            self.take()
            self.subscript_text()
        if "." in token:
            self.has_decimal = True
            whole, _, fraction = token.partition(".")
            return sympy.Rational(int(whole or "0") * 10 ** len(fraction) + int(fraction or "0"),
                                  10 ** len(fraction))
        return sympy.Integer(int(token))

    def atom(self) -> sympy.Expr:
        self.enter()
        token = self.take()
        value = self.atom_from(token)
        self.depth -= 1
        return value

    def atom_from(self, token: str) -> sympy.Expr:
        if token[0].isdigit() or token[0] == ".":
            return self.number(token)
        if token.isalpha():
            return self.letter(token)
        if token == "(":
            value = self.expression()
            self.expect(")")
            return value
        if token == "{":
            value = self.expression()
            self.expect("}")
            return value
        if token == "[":
            value = self.expression()
            self.expect("]")
            return value
        if token == "|":
            value = self.expression()
            self.expect("|")
            return sympy.Abs(value)
        if token in _FRAC:
            numerator = self.single_character_argument()
            denominator = self.single_character_argument()
            return sympy.Mul(numerator, sympy.Pow(denominator, -1))
        if token in _BINOM:
            return checked_binomial(self.single_character_argument(), self.single_character_argument())
        name = token[1:]
        if name == "sqrt":
            if self.peek() == "[":
                self.take()
                index = self.expression()
                self.expect("]")
                return checked_power(self.single_character_argument(), sympy.Pow(index, -1))
            return sympy.sqrt(self.single_character_argument())
        if name == "pi":
            return sympy.pi
        if name == "infty":
            return sympy.oo
        if name == "e":
            return sympy.E
        if name in _GREEK:
            return sympy.Symbol(name)
        if name == "lfloor":
            value = self.expression()
            self.expect(r"\rfloor")
            return sympy.floor(value)
        if name == "lceil":
            value = self.expression()
            self.expect(r"\rceil")
            return sympy.ceiling(value)
        if name in ("text", "mathrm"):  # \mathrm{e}, \text{i}: a single letter only
            self.expect("{")
            letter = self.take()
            if not (letter.isalpha() and len(letter) == 1):
                raise ParseRefused(f"answer: text {letter!r} inside a formula")
            self.expect("}")
            return self.letter(letter)
        if name in _FUNCTIONS:
            return self.function(name)
        raise ParseRefused(f"answer: command {token!r} is not in the whitelist")

    def function(self, name: str) -> sympy.Expr:
        """``\\sin x``, ``\\sin^2 x``, ``\\log_2 8``, ``\\sin(2x)``, ``\\cos 2\\theta``."""
        function = _FUNCTIONS[name]
        base = None
        exponent = None
        if name == "log" and self.peek() == "_":
            self.take()
            base = self.single_character_argument()
        if self.peek() == "^":
            self.take()
            exponent = self.exponent()
        if self.peek() in ("(", "{"):
            argument = self.atom()
        else:  # an implicit product of powers, stopping at the next function
            argument = self.power()
            while self.starts_atom(self.peek()) and self.peek()[1:] not in _FUNCTIONS:
                argument = sympy.Mul(argument, self.power())
        value = sympy.log(argument, base) if base is not None else function(argument)
        return checked_power(value, exponent) if exponent is not None else value


def _bits(number: sympy.Rational) -> float:
    """log2 of the larger of |numerator| and denominator (0 for 0 and +-1)."""
    largest = max(abs(int(number.p)), int(number.q))
    return math.log2(largest) if largest > 1 else 0.0


def checked_power(base: sympy.Expr, exponent: sympy.Expr) -> sympy.Expr:
    """``base ** exponent``, refused when the result would be enormous to build or evaluate."""
    if exponent.is_Rational and base.is_Rational:
        if _bits(base) * abs(float(exponent)) > MAX_POWER_BITS or _bits(exponent) > 64:
            raise ParseRefused(f"answer: power {base}^{exponent} exceeds {MAX_POWER_BITS} bits")
    elif exponent.is_Rational and abs(exponent) > MAX_SYMBOLIC_EXPONENT:
        raise ParseRefused(f"answer: exponent {exponent} exceeds {MAX_SYMBOLIC_EXPONENT}")
    elif exponent.is_number and base.is_number:
        try:
            magnitude = abs(complex(exponent.evalf(15)))
        except (TypeError, ValueError, OverflowError) as error:
            raise ParseRefused(f"answer: exponent {exponent} cannot be sized") from error
        if not magnitude <= MAX_SYMBOLIC_EXPONENT:  # also refuses nan
            raise ParseRefused(f"answer: exponent {exponent} too large")
    return sympy.Pow(base, exponent)


def checked_factorial(value: sympy.Expr) -> sympy.Expr:
    """``n!`` for an integer ``0 <= n <= MAX_FACTORIAL`` or a symbol; anything else is refused."""
    if value.is_Integer and 0 <= value <= MAX_FACTORIAL:
        return sympy.factorial(value)
    if value.is_Symbol:
        return sympy.factorial(value)
    raise ParseRefused(f"answer: factorial of {value} is refused (limit {MAX_FACTORIAL})")


def checked_binomial(top: sympy.Expr, bottom: sympy.Expr) -> sympy.Expr:
    """``binomial(top, bottom)``; a numeric argument that is not an integer in ``0..MAX_FACTORIAL`` is refused (``ParseRefused``)."""
    for value in (top, bottom):
        if value.is_number and not (value.is_Integer and 0 <= value <= MAX_FACTORIAL):
            raise ParseRefused(f"answer: binomial argument {value} is refused (limit {MAX_FACTORIAL})")
    return sympy.binomial(top, bottom)


def parse_expression(text: str) -> ParsedExpression:
    """Parse one answer expression (no commas, relations or brackets of structure) into sympy.

    Raises :class:`ParseRefused` on anything outside the whitelist or the size caps.

    >>> parse_expression(r"2\\sqrt{2}").expression == parse_expression(r"\\sqrt8").expression
    True
    """
    parser = _Parser(text)
    if parser.peek() is None:
        raise ParseRefused("answer: empty")
    try:
        value = parser.expression()
    except RecursionError as error:  # belt and braces: MAX_DEPTH keeps well below the limit
        raise ParseRefused("answer: nesting too deep") from error
    if parser.peek() is not None:
        raise ParseRefused(f"answer: unexpected {parser.peek()!r} after the expression")
    return ParsedExpression(value, parser.has_decimal)
