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
   ``10080`` (inside brackets a comma always separates items: ``(1,000)`` is a pair).

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
    "−": "-", "–": "-", "≤": r"\le ", "≥": r"\ge ", "≠": r"\ne ", "±": r"\pm ", "∓": r"\mp ",
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
_FRAC_ALIASES = re.compile(r"\\(?:dfrac|tfrac|cfrac)(?![a-zA-Z])")
_TEXT_ALIASES = re.compile(r"\\(?:mbox|textrm|textbf|textit|textnormal|mathrm|mathbf|mathit|"
                           r"operatorname\*?|textup|mathsf|text)(?![a-zA-Z])\s*")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\circ(?![a-zA-Z])|\\degree(?![a-zA-Z])")
_DEGREE_WORDS = re.compile(r"\\text\{\s*(?:degrees?|deg)\s*\}|(?<=[\d}\s])(?:degrees?)\s*$")
_PERCENT = re.compile(r"\\?%")
_DOLLAR = re.compile(r"\\\$|\$")
_TEXT_GROUP = re.compile(r"\\text\{([^{}]*)\}")
_UNIT_POWER = re.compile(r"\\text\{[^{}]*\}\s*(?:\^\s*\{?\s*[23]\s*\}?)?")
_WHOLE_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_SPACED_THOUSANDS = re.compile(r"-?\d{1,3}(?: \d{3})+(?:\.\d+)?")
_TRAILING = re.compile(r"[\s.,;:]+$")  # not "!": 5! is a factorial
_LEADING_IN = re.compile(r"^[A-Za-z]\s*\\in(?![a-zA-Z])\s*")
_SPACES = re.compile(r"\s+")


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
        return without_text
    return _TEXT_GROUP.sub(lambda m: m.group(1), text)


def normalize_answer(text: str) -> str:
    """Rewrite one answer string into its canonical spelling (see the module docstring).

    >>> normalize_answer(r"\\$1,\\!000.")
    '1000'
    >>> normalize_answer(r"\\left( 3, \\dfrac{\\pi}{2} \\right)")
    '(3,\\\\frac{\\\\pi}{2})'
    """
    text = _replace_unicode(text)
    text = strip_math_wrappers(text)
    text = text.replace(r"\displaystyle", "")
    text = _THOUSANDS_MARK.sub(lambda m: (m.group(1) or m.group(2)), text)
    text = _SIZING.sub("", text)
    text = _SPACING.sub(" ", text)
    text = _FRAC_ALIASES.sub(r"\\frac", text)
    text = _TEXT_ALIASES.sub(r"\\text", text)
    text = _DEGREE_WORDS.sub("", text)
    text = _DEGREES.sub("", text)
    text = _PERCENT.sub("", text)
    text = _DOLLAR.sub("", text)
    text = _drop_units(text)
    text = _LEADING_IN.sub("", text.strip())
    text = _TRAILING.sub("", text)
    text = _SPACES.sub(" ", text).strip()
    if _WHOLE_THOUSANDS.fullmatch(text) or _SPACED_THOUSANDS.fullmatch(text):
        text = text.replace(",", "").replace(" ", "")
    # spaces next to brackets, commas and operators carry no meaning
    text = re.sub(r"\s*([,()\[\]{}=+\-*/^_&])\s*", r"\1", text)
    return rewrite_mixed_number(text)


_MIXED_NUMBER = re.compile(r"(-?)(\d+)\s*\\frac(?:\{(\d+)\}\{(\d+)\}|(\d)(\d))")


def rewrite_mixed_number(text: str) -> str:
    r"""A whole answer that is a mixed number, ``1\frac{4}{5}``, becomes the fraction ``\frac{9}{5}``.

    Only a whole answer of this exact form is rewritten: inside a formula ``2\frac{x}{3}`` is a
    product, and the parser reads it so.
    """
    match = _MIXED_NUMBER.fullmatch(text.strip())
    if match is None or len(text) > 200:
        return text
    sign, whole = match.group(1), int(match.group(2))
    numerator = int(match.group(3) or match.group(5))
    denominator = int(match.group(4) or match.group(6))
    if denominator == 0 or numerator >= denominator:
        return text
    return rf"{sign}\frac{{{whole * denominator + numerator}}}{{{denominator}}}"
