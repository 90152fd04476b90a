"""Answer extraction: the final answer's text inside a model's (or a solution's) full response.

:func:`extract_answer` looks, in this order, for

1. the **last** ``\\boxed{...}`` or ``\\fbox{...}`` (nested braces, spaces before the brace and
   ``\\boxed 5`` included; ``$`` around it is fine). If the last box is cut off (unbalanced
   braces, as when generation stopped mid-answer) the result is ``None``;
2. with ``fallback="number"`` only, when there is no box at all:

   a. a phrase: "final answer is X", "the answer is X", "Answer: X" (the last one; X runs to the
      end of its line or sentence, with ``$`` and ``\\(...\\)`` wrappers removed);
   b. the last math span: ``$...$``, ``$$...$$``, ``\\(...\\)`` or ``\\[...\\]``;
   c. the last number in the text.

``fallback=None`` requires a box: the RL reward uses that, so that a policy is paid only for
answers it marked as final. Everything is a linear scan from the end; megabyte texts are fine.
"""

from __future__ import annotations

import re

from minireason.errors import InputError

_BOX_COMMAND = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])")
_PHRASE = re.compile(
    r"(?:final answer is|the answer is|answer\s*:)\s*:?\s*(.+?)(?=\n|$|\.\s|\.$)",
    re.IGNORECASE)
_MATH_SPANS = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
_FALLBACKS = ("number", None)


def _braced_content(text: str, start: int) -> str | None:
    """The text inside the brace group opening at ``text[start] == "{"``; None if never closed.

    An escaped brace ``\\{`` or ``\\}`` does not count (it is a literal brace of a set).
    """
    depth = 0
    index = start
    while index < len(text):
        character = text[index]
        if character == "\\":
            index += 2
            continue
        if character == "{":
            depth += 1
        elif character == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1: index]
        index += 1
    return None


def last_boxed(text: str) -> tuple[bool, str | None]:
    """(whether a box command occurs, the content of the last box or None if it is cut off)."""
    matches = list(_BOX_COMMAND.finditer(text)) if len(text) < 200_000 else None
    if matches is None:  # very long text: only the tail can hold the final box
        tail_start = max(0, text.rfind("\\boxed", 0), text.rfind("\\fbox"))
        matches = list(_BOX_COMMAND.finditer(text, tail_start))
    if not matches:
        return False, None
    match = matches[-1]
    index = match.end()
    while index < len(text) and text[index] in " \t\n":
        index += 1
    if index < len(text) and text[index] == "{":
        content = _braced_content(text, index)
        return True, None if content is None else content.strip()
    # \boxed 5 : TeX takes one token; answers written this way run to a space, $ or end
    unbraced = re.match(r"[^\s$]+", text[index:index + 1000])
    if unbraced is None:
        return True, None
    return True, unbraced.group(0).rstrip(".,;")


def _strip_wrappers(answer: str) -> str:
    answer = answer.strip().rstrip(".")
    for opening, closing in (("$$", "$$"), ("$", "$"), (r"\(", r"\)"), (r"\[", r"\]")):
        if answer.startswith(opening) and answer.endswith(closing) and len(answer) > len(opening) + len(closing):
            answer = answer[len(opening): len(answer) - len(closing)].strip()
    return answer


def extract_answer(text: str, fallback: str | None = "number") -> str | None:
    """The final answer in ``text``: the last box, else (``fallback="number"``) a phrase, math span or number.

    >>> extract_answer(r"so $x = \\boxed{\\frac{1}{2}}$.")
    '\\\\frac{1}{2}'
    >>> extract_answer("The answer is 42.") , extract_answer("no box here", fallback=None)
    ('42', None)
    """
    if fallback not in _FALLBACKS:
        raise InputError(f"extract_answer fallback: expected one of {_FALLBACKS}, got {fallback!r}")
    if not isinstance(text, str):
        raise InputError(f"extract_answer text: expected str, got {type(text).__name__}")
    found_box, boxed = last_boxed(text)
    if found_box or fallback is None:
        return boxed or None
    tail = text[-20_000:]  # fallbacks look at the end of a long response only
    phrases = list(_PHRASE.finditer(tail))
    if phrases:
        answer = _strip_wrappers(phrases[-1].group(1))
        if answer:
            return answer
    spans = list(_MATH_SPANS.finditer(tail))
    if spans:
        answer = next(g for g in spans[-1].groups() if g is not None).strip()
        if answer:
            return answer
    numbers = _NUMBER.findall(tail)
    if numbers:
        return numbers[-1].rstrip(",")
    return None
