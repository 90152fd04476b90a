"""Normalisation of answer strings: many spellings of one answer become one spelling.

A model writes ``\\dfrac{1}{2}``, ``½``, ``\\left( 3, \\frac{\\pi}{2} \\right)``, ``90^\\circ``,
``\\$1,\\!000``, ``x = 5.``; a dataset writes ``\\frac12``, ``(3,\\frac{\\pi}2)``, ``90``,
``1000``, ``5``. :func:`normalize_answer` rewrites such text into a plain LaTeX-like string that
the structure reader (:mod:`minireason.evaluation.structure`) and the whitelist parser
(:mod:`minireason.evaluation.safe_parse`) understand. It changes *spelling* only, never meaning:

1. unicode math (``π √ × · − ≤ ≥ ∞ ° ² ½``) becomes LaTeX;
2. the wrappers ``$...$``, ``\\(...\\)``, ``\\[...\\]``, ``\\displaystyle`` are removed;
3. sizing (``\\left``, ``\\right``, ``\\big``...) and spacing (``\\,``, ``\\!``, ``\\quad``, ``~``)
   commands are removed (``,\\!`` and ``{,}`` are thousands separators and go first);
4. ``\\dfrac``/``\\tfrac``/``\\cfrac`` become ``\\frac``; ``\\mbox``, ``\\textrm``, ``\\textbf``,
   ``\\mathrm``, ``\\mathbf``, ``\\operatorname`` become ``\\text``;
5. degrees (``^\\circ``, ``\\degree``, the word "degrees"), percent signs and dollar signs are
   dropped; units written as ``\\text{...}`` after a number are dropped, with their power;
6. a lone ``\\text{word}`` is unwrapped to ``word``;
7. trailing punctuation goes, and a whole-answer thousands-separated number ``10,080`` becomes
   ``10080`` (inside brackets a comma always separates items: ``(1,000)`` is a pair);
8. the written-out forms, each a named function below: :func:`halve_doubled_backslashes`
   (``\\\\frac`` written by a JSON escaper), :func:`plain_math_to_latex` (``sqrt(3)``, ``2*pi*r``,
   ``x**2``), :func:`scientific_to_latex` (``1.5e6``), :func:`list_words_to_commas` (``2 or -3``,
   ``1; 2``, ``19, 46, and 82``), :func:`drop_unit_words` (``125 miles``, ``28 percent``) and
   :func:`drop_expression_thousands` (``1,234/2``);
9. several solutions and measured units: :func:`solution_groups_to_tuples` (``a=3,b=5; a=5,b=3`` is the list of
   tuples ``(3,5),(5,3)``) and the unit ``m`` after a measured number (``2,500.75 m²``, in
   :func:`drop_unit_words`).

Every regular expression here is linear in the input (no nested quantifiers), so megabyte
strings cost milliseconds; the grader caps lengths before calling in anyway.
"""

from __future__ import annotations

import re

_SUPERSCRIPTS = {"⁰": "0", "¹": "1", "²": "2", "³": "3", "⁴": "4", "⁵": "5", "⁶": "6", "⁷": "7",
                 "⁸": "8", "⁹": "9", "⁻": "-", "⁺": "+"}
_SUPERSCRIPT_RUN = re.compile("[" + "".join(_SUPERSCRIPTS) + "]+")

_VULGAR_FRACTIONS = {"½": r"\frac{1}{2}", "⅓": r"\frac{1}{3}", "⅔": r"\frac{2}{3}", "¼": r"\frac{1}{4}",
                     "¾": r"\frac{3}{4}", "⅕": r"\frac{1}{5}", "⅛": r"\frac{1}{8}", "⅙": r"\frac{1}{6}"}

_UNICODE_MATH = {
    "π": r"\pi ", "∞": r"\infty ", "×": r"\times ", "·": r"\cdot ", "⋅": r"\cdot ", "÷": r"\div ",
    "−": "-", "–": "-", "≤": r"\le ", "≥": r"\ge ", "≠": r"\ne ", "≈": r"\approx ", "±": r"\pm ", "∓": r"\mp ",
    "∪": r"\cup ", "∈": r"\in ", "°": r"^\circ ", "θ": r"\theta ", "α": r"\alpha ", "β": r"\beta ",
    "\u00a0": " ", "\u2009": " ", "\u202f": " ",
}

# "√2", "√(x+1)", "√x" -> \sqrt{...}
_UNICODE_ROOT = re.compile(r"√\s*(\([^()]*\)|\{[^{}]*\}|\d+(?:\.\d+)?|[A-Za-z])")

_WRAPPERS = (("$$", "$$"), ("$", "$"), (r"\(", r"\)"), (r"\[", r"\]"))

_SIZING = re.compile(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|Biggl|Biggr|big|Big|bigg|Bigg)(?![a-zA-Z])\.?")
_SPACING = re.compile(r"(?<!\\)\\(?:[,;:! ]|quad(?![a-zA-Z])|qquad(?![a-zA-Z])|displaystyle(?![a-zA-Z])"
                      r"|textstyle(?![a-zA-Z])|hfill(?![a-zA-Z])|nobreak(?![a-zA-Z]))|~")
_THOUSANDS_MARK = re.compile(r"(\d),(?:\\!|\{\})\s*(?=\d{3})|(\d)\{,\}(?=\d{3})")
_ANGLE_BRACKETS = re.compile(r"\\[lr]angle(?![a-zA-Z])|\\hline(?![a-zA-Z])")  # vectors <1,2> are tuples
_ANGLE_REPLACEMENTS = {r"\langle": "(", r"\rangle": ")", r"\hline": ""}
_FRAC_ALIASES = re.compile(r"\\(?:dfrac|tfrac|cfrac)(?![a-zA-Z])")
_TEXT_ALIASES = re.compile(r"\\(?:mbox|textrm|textbf|textit|textnormal|mathrm|mathbf|mathit|"
                           r"operatorname\*?|textup|mathsf|text)(?![a-zA-Z])\s*")
_CHOICE_PREFIX = re.compile(r"^\s*(?:(?:option|choice)\s+)?\\text\{\s*\(?([A-Ea-e])\)?\s*\}(?=\s*\S)"
                            r"|^\s*(?:option|choice)\s+\(?([A-Ea-e])\)?\s*[.:]?(?=\s)", re.IGNORECASE)
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\circ(?![a-zA-Z])|\\degree(?![a-zA-Z])")
_DEGREE_WORDS = re.compile(r"\\text\{\s*(?:degrees?|deg)\s*\}|(?<=[\d}\s])(?:degrees?)\s*$")
_PERCENT = re.compile(r"\\?%")
_DOLLAR = re.compile(r"\\\$|\$")
_TEXT_GROUP = re.compile(r"\\text\{([^{}]*)\}")
_UNIT_POWER = re.compile(r"\\text\{[^{}]*\}\s*(?:\^\s*\{?\s*[23]\s*\}?)?")
_WHOLE_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_SPACED_THOUSANDS = re.compile(r"-?\d{1,3}(?: \d{3})+(?:\.\d+)?")
_TRAILING = re.compile(r"[\s.,;:]+$")  # not "!": 5! is a factorial
_ELLIPSIS = re.compile(r"\.\.\.\s*$")
_LEADING_IN = re.compile(r"^[A-Za-z]\s*\\in(?![a-zA-Z])\s*")
_SPACES = re.compile(r"\s+")

# rule "doubled backslashes": every run of backslashes has even length, and one run of two starts a command
_BACKSLASH_RUN = re.compile(r"\\+")
_DOUBLED_COMMAND = re.compile(r"(?<!\\)\\\\(?:[a-zA-Z]+|[()\[\]{},!%$])")
# rule "plain math": function words written without a backslash, pi, infinity, ** for powers
_PLAIN_FUNCTION = re.compile(r"(?<![\\A-Za-z])(sqrt|sin|cos|tan|cot|sec|csc|ln|log|exp|arcsin|arccos|arctan)"
                             r"(?=\s*[\d({_])")
_PLAIN_CONSTANT = re.compile(r"(?<![\\A-Za-z])(pi|infinity|infty|inf)(?![A-Za-z])")
_DOUBLE_STAR = re.compile(r"(?<=[\w)}])\*\*(?=[\w({\-])")
# rule "scientific notation": 1.5e6, 6.02E+23 (a number, e, a signed integer, nothing glued around)
_SCIENTIFIC = re.compile(r"(?<![\w.\\])(\d+(?:\.\d+)?)[eE]([+-]?\d{1,4})(?![\w.])")
_TIMES_TEN = re.compile(r"(\d)\s*[xX]\s*10\s*\^")  # 1.2 x 10^5: the letter x as a times sign
# rule "list words": "and", "or" (plain or in \text) and ";" separate the items of a list
_LIST_TEXT_WORD = re.compile(r"\\text\{\s*,?\s*(?:and|or)\s*\}")
_LIST_PLAIN_WORD = re.compile(r"(?:(?<=\s)|(?<=,)|(?<=\$))(?:and|or)(?=\s|\$)")
_INEQUALITY = re.compile(r"[<>]|\\(?:le|ge|lt|gt|leq|geq)(?![a-zA-Z])")
_REPEATED_COMMAS = re.compile(r",(?:\s*,)+")
# rule "unit words": trailing words after a value (125 miles, 28 percent, 15 cm^2, 12 sq. units)
_UNIT_WORDS = re.compile(r"(?:\s+(?:[A-Za-z]{2,}\.?(?:\^\{?[23]\}?)?))+\s*$")
# the one-letter unit m (m, m^2, m^3) after a number written with a thousands separator or a decimal
# point: such a number is a measurement (2,500.75 m^2), where 3 m^2 could be a monomial
_METRE_UNIT = re.compile(r"(-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+\.\d+)\s+m(?:\^\{?[23]\}?)?")
_NOT_UNITS = frozenset({"sin", "cos", "tan", "cot", "sec", "csc", "ln", "log", "exp", "sqrt", "pi", "mod",
                        "and", "or", "arcsin", "arccos", "arctan", "infty", "inf", "infinity", "to"})
# rule "thousands inside an expression": 1,234/2 (every comma sits between groups of three digits)
_COMMA = re.compile(r",")
_EMPTY_SET = re.compile(r"\\varnothing|\\emptyset|\\\{\s*\\\}|\{\s*\}|(?:the )?empty set", re.IGNORECASE)
_RATIO_WORD = re.compile(r"^([^\s]*\d[^\s]*) to ([^\s]*\d[^\s]*)$")
_THOUSANDS_COMMA = re.compile(r"(?<![\d.])\d{1,3}(?:,\d{3})+(?![\d])")


def halve_doubled_backslashes(text: str) -> str:
    r"""Text whose every backslash is doubled (``\\frac{1}{2}``, from a JSON escaper) gets single ones.

    Only when every run of backslashes has even length and a doubled one starts a command or a
    delimiter: real LaTeX has single-backslash commands, and its ``\\`` row breaks are followed by
    a space, a digit or a sign, never mistaken for ``\\frac``.
    """
    if "\\\\" not in text or not _DOUBLED_COMMAND.search(text):
        return text
    if any(len(run) % 2 for run in _BACKSLASH_RUN.findall(text)):
        return text
    return _BACKSLASH_RUN.sub(lambda m: "\\" * (len(m.group(0)) // 2), text)


def _parenthesised_end(text: str, start: int) -> int | None:
    """Index just past the ``)`` matching ``text[start] == "("``; None when it is never closed."""
    depth = 0
    for index in range(start, min(len(text), start + 500)):
        if text[index] == "(":
            depth += 1
        elif text[index] == ")":
            depth -= 1
            if depth == 0:
                return index + 1
    return None


def plain_math_to_latex(text: str) -> str:
    r"""``sqrt(3)`` -> ``\sqrt{3}``, ``sin(x)`` -> ``\sin(x)``, ``2*pi*r`` -> ``2*\pi*r``, ``x**2`` -> ``x^2``.

    Function words count only when a bracket or a digit follows and no letter precedes them, so
    ``cost``, ``pit`` and ``\sqrt`` are left alone.
    """
    if not any(word in text for word in ("sqrt", "sin", "cos", "tan", "cot", "sec", "csc", "ln", "log",
                                         "exp", "arc", "pi", "inf", "**")):
        return text
    text = _DOUBLE_STAR.sub("^", text)
    pieces, position = [], 0
    for match in _PLAIN_FUNCTION.finditer(text):
        pieces.append(text[position:match.start()])
        name, after = match.group(1), match.end()
        while after < len(text) and text[after] == " ":
            after += 1
        opens = name == "sqrt" and after < len(text) and text[after] == "("
        end = _parenthesised_end(text, after) if opens else None
        if end is not None:  # sqrt(...) -> \sqrt{...}: the parser's \sqrt takes a brace group
            pieces.append(r"\sqrt{" + text[after + 1:end - 1] + "}")
            position = end
        else:
            pieces.append("\\" + name)
            position = match.end()
    pieces.append(text[position:])
    text = "".join(pieces)
    return _PLAIN_CONSTANT.sub(lambda m: r"\pi " if m.group(1) == "pi" else r"\infty ", text)


def scientific_to_latex(text: str) -> str:
    r"""``1.5e6`` -> ``1.5\times10^{6}``; ``2e`` (two times Euler's number) and ``e^{2}`` are left alone."""
    text = _TIMES_TEN.sub(r"\1\\times10^", text)
    if "e" not in text and "E" not in text:
        return text
    return _SCIENTIFIC.sub(lambda m: m.group(1) + r"\times10^{" + m.group(2) + "}", text)


# rule "solution groups": a=3,b=5; a=5,b=3 (groups split by ";" or "or", each assigning the same variables)
_GROUP_SEPARATOR = re.compile(r"\s*;\s*|\s+or\s+|\s*\\text\{\s*or\s*\}\s*")
_ASSIGNMENT = re.compile(r"\s*([A-Za-z](?:_\{?[A-Za-z0-9]+\}?)?)\s*=\s*([^=;]+?)\s*")


def solution_groups_to_tuples(text: str) -> str:
    """``a=3,b=5; a=5,b=3`` -> ``(3,5),(5,3)``: groups of assignments to the same variables (two or more,
    in the first group's order) become tuples of their values; anything else is left as it is."""
    if "=" not in text or len(text) > 500:
        return text
    groups = _GROUP_SEPARATOR.split(text.strip())
    if len(groups) < 2:
        return text
    tuples, names = [], None
    for group in groups:
        pieces = [_ASSIGNMENT.fullmatch(piece) for piece in group.split(",")]
        if len(pieces) < 2 or any(piece is None for piece in pieces):
            return text
        values = {piece.group(1): piece.group(2) for piece in pieces}
        if len(values) != len(pieces) or (names is not None and set(values) != set(names)):
            return text
        names = names or list(values)
        tuples.append("(" + ",".join(values[name] for name in names) + ")")
    return ",".join(tuples)


def list_words_to_commas(text: str) -> str:
    r"""``2 or -3``, ``2 \text{ and } -3``, ``2; -3``, ``19, 46, and 82`` -> items separated by commas.

    "and"/"or" count as separators only as whole words between spaces, so ``\text{random}`` and
    ``\operatorname{or}`` inside words are untouched; a lone word answer is never a list.
    """
    if ";" not in text and "and" not in text and "or" not in text:
        return text
    grouped = solution_groups_to_tuples(text)
    if grouped != text:
        return grouped
    if _INEQUALITY.search(text):  # x<-3 or x>5 is a union; "and" between inequalities is not a list
        text = _LIST_TEXT_WORD.sub(lambda m: r" \cup " if "or" in m.group(0) else m.group(0), text)
        return re.sub(r"(?:(?<=\s)|(?<=\$))or(?=\s|\$)", r"\\cup", text)
    text = _LIST_TEXT_WORD.sub(",", text)
    text = _LIST_PLAIN_WORD.sub(",", text)
    text = text.replace(";", ",")
    text = _REPEATED_COMMAS.sub(",", text)
    return text.strip().strip(",")


def drop_unit_words(text: str) -> str:
    """``125 miles`` -> ``125``; ``28 percent`` -> ``28``: trailing words after a value with a digit.

    Words are two letters or more (a single letter is a variable: ``2 x`` stays), and never a
    function name or a list word; what stays must hold a digit, so ``no solution`` stays.
    """
    metres = _METRE_UNIT.fullmatch(text) if len(text) <= 200 else None
    if metres is not None:
        return metres.group(1)
    match = _UNIT_WORDS.search(text) if len(text) <= 200 else None
    if match is None:
        return text
    value = text[:match.start()].strip()
    words = re.findall(r"[A-Za-z]+", match.group(0))
    if not re.search(r"\d", value) or any(word.lower() in _NOT_UNITS for word in words):
        return text
    if re.search(r"[A-Za-z]{2,}", re.sub(r"\\[a-zA-Z]+", "", value)):
        return text  # prose before the words: not a value with a unit
    return value


def drop_expression_thousands(text: str) -> str:
    """``1,234/2`` -> ``1234/2`` when every comma of the text separates groups of three digits.

    A list has a comma with a space, a sign or a short group next to it (``1,-2``, ``3, 5``), so it
    is never read as one number; brackets keep their commas as separators (``(1,000)`` is a pair).
    """
    if "," not in text or re.search(r"[()\[\]{}]", text):
        return text
    groups = _THOUSANDS_COMMA.findall(text)
    if sum(group.count(",") for group in groups) != len(_COMMA.findall(text)):
        return text
    return _THOUSANDS_COMMA.sub(lambda m: m.group(0).replace(",", ""), text)


def strip_math_wrappers(text: str) -> str:
    """Remove one layer of ``$...$``, ``$$...$$``, ``\\(...\\)`` or ``\\[...\\]`` around the whole text."""
    text = text.strip()
    changed = True
    while changed:
        changed = False
        for opening, closing in _WRAPPERS:
            if len(text) >= len(opening) + len(closing) and text.startswith(opening) and text.endswith(closing):
                text = text[len(opening): len(text) - len(closing)].strip()
                changed = True
    return text


def _replace_unicode(text: str) -> str:
    for character, latex in _VULGAR_FRACTIONS.items():
        text = text.replace(character, latex)
    text = _SUPERSCRIPT_RUN.sub(lambda m: "^{" + "".join(_SUPERSCRIPTS[c] for c in m.group(0)) + "}", text)

    def root(match: re.Match) -> str:
        inner = match.group(1)
        if inner[0] in "({":
            inner = inner[1:-1]
        return r"\sqrt{" + inner + "}"

    text = _UNICODE_ROOT.sub(root, text)
    for character, latex in _UNICODE_MATH.items():
        text = text.replace(character, latex)
    return text


def _drop_units(text: str) -> str:
    """Drop ``\\text{...}`` groups (units, words) when a number stays behind; else unwrap them."""
    without_text = _UNIT_POWER.sub("", text).strip()
    if without_text and re.search(r"\d", without_text):
        return re.sub(r"^(?:=|\\approx(?![a-zA-Z]))\s*", "", without_text)  # \text{Area} = 5 is 5
    return _TEXT_GROUP.sub(lambda m: m.group(1), text)


def normalize_answer(text: str) -> str:
    """Rewrite one answer string into its canonical spelling (see the module docstring).

    >>> normalize_answer(r"\\$1,\\!000.")
    '1000'
    >>> normalize_answer(r"\\left( 3, \\dfrac{\\pi}{2} \\right)")
    '(3,\\\\frac{\\\\pi}{2})'
    """
    text = halve_doubled_backslashes(text)
    text = _replace_unicode(text)
    text = strip_math_wrappers(text)
    text = text.replace(r"\displaystyle", "")
    text = _THOUSANDS_MARK.sub(lambda m: (m.group(1) or m.group(2)), text)
    text = _SIZING.sub("", text)
    text = _ANGLE_BRACKETS.sub(lambda m: _ANGLE_REPLACEMENTS[m.group(0)], text)
    text = _SPACING.sub(" ", text)
    text = _FRAC_ALIASES.sub(r"\\frac", text)
    text = _TEXT_ALIASES.sub(r"\\text", text)
    text = _CHOICE_PREFIX.sub(lambda m: f"({m.group(1) or m.group(2)})", text)  # \text{(B)} 12 keeps its letter
    text = list_words_to_commas(text)
    text = _DEGREE_WORDS.sub("", text)
    text = _DEGREES.sub("", text)
    text = _PERCENT.sub("", text)
    text = _DOLLAR.sub("", text)
    text = _drop_units(text)
    text = _LEADING_IN.sub("", text.strip())
    text = _ELLIPSIS.sub(r"\\dots", text)  # "1, 2, 3, ..." goes on: the dots are not punctuation
    text = _TRAILING.sub("", text)
    text = _SPACES.sub(" ", text).strip()
    text = drop_unit_words(text)
    text = scientific_to_latex(plain_math_to_latex(text))
    if _WHOLE_THOUSANDS.fullmatch(text) or _SPACED_THOUSANDS.fullmatch(text):
        text = text.replace(",", "").replace(" ", "")
    text = drop_expression_thousands(text)
    text = _RATIO_WORD.sub(r"\1:\2", text)  # "3 to 8" is the ratio 3:8
    if _EMPTY_SET.fullmatch(text):
        text = r"\emptyset"
    # spaces next to brackets, commas and operators carry no meaning
    text = re.sub(r"\s*([,()\[\]{}=+\-*/^_&])\s*", r"\1", text)
    return rewrite_mixed_number(text)


_MIXED_NUMBER = re.compile(r"(-?)(\d+)\s*\\frac(?:\{(\d+)\}\{(\d+)\}|(\d)(\d))|(-?)(\d+) (\d+)/(\d+)")


def rewrite_mixed_number(text: str) -> str:
    r"""A whole answer that is a mixed number, ``1\frac{4}{5}`` or ``1 4/5``, becomes the fraction ``\frac{9}{5}``.

    Only a whole answer of this exact form is rewritten: inside a formula ``2\frac{x}{3}`` is a
    product, and the parser reads it so.
    """
    match = _MIXED_NUMBER.fullmatch(text.strip())
    if match is None or len(text) > 200:
        return text
    if match.group(8) is not None:  # the slash form: 4 4/9
        sign, whole, numerator, denominator = match.group(7), int(match.group(8)), int(match.group(9)), int(
            match.group(10))
    else:
        sign, whole = match.group(1), int(match.group(2))
        numerator = int(match.group(3) or match.group(5))
        denominator = int(match.group(4) or match.group(6))
    if denominator == 0 or numerator >= denominator:
        return text
    return rf"{sign}\frac{{{whole * denominator + numerator}}}{{{denominator}}}"
