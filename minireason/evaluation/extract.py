"""Answer extraction: the final answer's text inside a model's (or a solution's) full response.

:func:`extract_answer` looks, in this order, for

1. the **last** ``\\boxed{...}`` or ``\\fbox{...}`` (nested braces, spaces before the brace and
   ``\\boxed 5`` included; ``$`` around it is fine). Boxes just before it that are separated
   from it only by connectives (spaces, ``,``, ``;``, "and", "or", ``$``, ``\\quad``, a label
   such as ``x =``) belong to the same answer and are joined into a list: ``\\boxed{-2}`` and
   ``\\boxed{1}`` is ``-2, 1`` (rule "adjacent boxes"). If the last box is cut off (unbalanced
   braces, as when generation stopped mid-answer) the result is ``None``;
2. with ``fallback="number"`` only, when there is no box at all:

   a. a phrase: "final answer is X", "the answer is X", "Answer: X" (the last one; X runs to the
      end of its line or sentence, with ``$``, ``\\(...\\)`` and ``**`` wrappers removed). When X is
      prose ("the smallest $k$ is 7") the value is what follows its last "is"/"are"/"equals", else
      its last math span, else its last standalone number (rule "answer in prose");
   b. the whole text, when it is a bare answer: one short line with no prose (``\\frac{1}{2}``,
      ``(1, 2)``, ``d. 7``), so that extracting from an answer returns the answer;
   c. the last math span: ``$...$``, ``$$...$$``, ``\\(...\\)`` or ``\\[...\\]``, when it closes the
      response (at most a short sentence after it);
   d. the last standalone number: not glued to a letter, ``^``, ``_`` or a brace (``x2``,
      ``2^{10}``, ``AZYUK2A`` hold none), not a label ("Step 1", "question 2", a list marker
      ``1.`` at the start of a line); fractions ``2/3``, mixed numbers ``4 4/9`` and thousands
      ``3{,}250`` are read whole (rule "standalone number").

``fallback=None`` requires a box: the RL reward uses that, so that a policy is paid only for
answers it marked as final. A response whose every backslash is doubled (``\\\\frac``, from a JSON
escaper) is read with single ones first. Everything is a linear scan; megabyte texts are fine.
"""

from __future__ import annotations

import re

from minireason.errors import InputError
from minireason.evaluation.normalize import halve_doubled_backslashes

_BOX_COMMAND = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])")
_PHRASE = re.compile(
    r"(?:final answer is|the answer is|answer\s*:|^#{2,4}(?!#))\s*:?\s*(.+?)(?=\n|$|\.\s|\.$)",
    re.IGNORECASE | re.MULTILINE)
_NESTED_PHRASE = re.compile(r"(?:final answer is|the answer is)\s*:?\s*", re.IGNORECASE)
_MATH_SPANS = re.compile(r"(?<!\\)\$\$(.+?)(?<!\\)\$\$|(?<!\\)\$(.+?)(?<!\\)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]",
                         re.DOTALL)
_FALLBACKS = ("number", None)
# rule "adjacent boxes": what may stand between two boxes of one answer
_BOX_GAP = re.compile(r"(?:[\s$,;.&*]|and|or|\\text\{\s*(?:and|or|,)?\s*\}|\\q?quad|\\[\[\]()]|\\[,;:! ]"
                      r"|\\\\|[A-Za-z](?:_\{?\w+\}?)?\s*=)*")
# rule "answer in prose": the value follows the last verb of being
_IS = re.compile(r"\s(?:is|are|was|were|equals|be|becomes|gives|of)\s+(?=\S)", re.IGNORECASE)
_PROSE_WORD = re.compile(r"[A-Za-z]{3,}")
_MATH_WORDS = frozenset({"or", "pi", "ln", "sqrt", "sin", "cos", "tan", "cot", "sec", "csc", "log", "exp", "infty", "frac", "and",
                         "arcsin", "arccos", "arctan", "pmatrix", "bmatrix", "matrix", "array", "begin", "end",
                         "text", "cup", "cap", "pm", "mp", "cdot", "times", "left", "right", "dfrac", "tfrac"})
# rule "standalone number": thousands with , or {,}, decimals, a/b, mixed numbers "4 4/9"
_NUMBER = re.compile(r"(?<![\w.^_{\\/])(?:-\s?)?(?:\d{1,3}(?:(?:,|\{,\})\d{3})+|\d+)(?:\.\d+)?"
                     r"(?:\s\d+/\d+|/\d+)?(?![\w^_{(]|\.\d|/)")
_LABEL_BEFORE = re.compile(r"(?:step|case|part|question|problem|example|option|line|equation|figure|section|"
                           r"method|approach|stage|phase|round|chapter|page|item|rule|hint|lemma|theorem|"
                           r"condition|eq\.|no\.|(?<!#)#)\s*$", re.IGNORECASE)


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


def _box_content(text: str, match: re.Match) -> tuple[str | None, int]:
    """(content of the box whose command is ``match``, or None if cut off; index just past the box)."""
    index = match.end()
    while index < len(text) and text[index] in " \t\n":
        index += 1
    if index < len(text) and text[index] == "{":
        content = _braced_content(text, index)
        if content is None:
            return None, len(text)
        return content.strip(), index + len(content) + 2
    # \boxed 5 : TeX takes one token; answers written this way run to a space, $ or end
    unbraced = re.match(r"[^\s$]+", text[index:index + 1000])
    if unbraced is None:
        return None, len(text)
    return unbraced.group(0).rstrip(".,;"), index + len(unbraced.group(0))


def last_boxed(text: str) -> tuple[bool, str | None]:
    """(whether a box command occurs, the content of the last box or None if it is cut off).

    Boxes right before the last one, separated from it only by connectives, are joined with
    ``", "`` (rule "adjacent boxes"); repeated equal boxes count once.
    """
    matches = list(_BOX_COMMAND.finditer(text)) if len(text) < 200_000 else None
    if matches is None:  # very long text: only the tail can hold the final box
        tail_start = max(0, text.rfind("\\boxed", 0), text.rfind("\\fbox"))
        matches = list(_BOX_COMMAND.finditer(text, tail_start))
    if not matches:
        return False, None
    content, _ = _box_content(text, matches[-1])
    if content is None:
        return True, None
    contents, next_start = [content], matches[-1].start()
    for match in reversed(matches[-16:-1]):
        earlier, end = _box_content(text, match)
        gap = text[end:next_start]
        if earlier is None or end > next_start or len(gap) > 80 or not _BOX_GAP.fullmatch(gap):
            break
        contents.insert(0, earlier)
        next_start = match.start()
    if len(set(contents)) == 1:
        return True, contents[-1]
    return True, ", ".join(contents)


def _strip_wrappers(answer: str) -> str:
    answer = answer.strip().strip("*").strip().rstrip(".").strip()
    for opening, closing in (("$$", "$$"), ("$", "$"), (r"\(", r"\)"), (r"\[", r"\]")):
        if answer.startswith(opening) and answer.endswith(closing) and len(answer) > len(opening) + len(closing):
            answer = answer[len(opening): len(answer) - len(closing)].strip()
    return answer


def _is_prose(text: str, shortest: int = 3) -> bool:
    """Whether ``text`` holds words of a sentence (``shortest`` letters or more, outside math and commands)."""
    outside = _MATH_SPANS.sub(" ", text)
    outside = re.sub(r"\\[a-zA-Z]+(?:\{[^{}]*\})?", " ", outside)
    words = re.findall(rf"[A-Za-z]{{{shortest},}}", outside) if shortest != 3 else _PROSE_WORD.findall(outside)
    return any(word.lower() not in _MATH_WORDS for word in words)


def _standalone_number_matches(text: str) -> list[re.Match]:
    """Numbers in ``text`` that can be an answer (rule "standalone number"), in order."""
    kept = []
    for match in _NUMBER.finditer(text):
        before = text[max(0, match.start() - 24):match.start()]
        line_start = text.rfind("\n", 0, match.start()) + 1
        if _LABEL_BEFORE.search(before):
            continue
        if not text[line_start:match.start()].strip() and re.match(r"[.)]\s", text[match.end():match.end() + 2]):
            continue  # "1. " or "2) " opening a line: a list marker
        kept.append(match)
    return kept


def _standalone_numbers(text: str) -> list[str]:
    return [match.group(0).rstrip(",") for match in _standalone_number_matches(text)]


def _closing_numbers(text: str) -> str | None:
    """The last standalone number, with the numbers just before it joined by ``,``/"and"/"or" ("3 and 4")."""
    matches = _standalone_number_matches(text)
    if not matches:
        return None
    chosen, start = [matches[-1].group(0).rstrip(",")], matches[-1].start()
    for match in reversed(matches[-16:-1]):
        if not re.fullmatch(r"\s*(?:,\s*)?(?:(?:and|or)\s+)?", text[match.end():start]):
            break
        chosen.insert(0, match.group(0).rstrip(","))
        start = match.start()
    return chosen[-1] if len(set(chosen)) == 1 else ", ".join(chosen)


def _answer_from_phrase(candidate: str) -> str | None:
    """The value in what follows "the answer is" (rule "answer in prose"); None when it holds none."""
    candidate = _strip_wrappers(candidate)
    while True:
        nested = list(_NESTED_PHRASE.finditer(candidate))
        if not nested:
            break
        candidate = _strip_wrappers(candidate[nested[-1].end():])
    if not _is_prose(candidate):
        return candidate or None
    verbs = list(_IS.finditer(candidate))
    if verbs:
        after = _strip_wrappers(candidate[verbs[-1].end():])
        if after and not _is_prose(after):
            return after
    spans = list(_MATH_SPANS.finditer(candidate))
    if spans:
        return next(g for g in spans[-1].groups() if g is not None).strip() or None
    numbers = _standalone_numbers(candidate)
    return numbers[-1] if numbers else None


def _closing_spans(text: str, spans: list[re.Match]) -> str | None:
    """The last math span, with the spans just before it joined by "and"/"or" ("$x=1$ and $x=2$")."""
    contents, start = [], spans[-1].start()
    for span in reversed(spans[-16:]):
        gap = text[span.end():start]
        if contents and not (len(gap) <= 40 and _BOX_GAP.fullmatch(gap) and re.search(r"\b(?:and|or)\b", gap)):
            break
        contents.insert(0, next(g for g in span.groups() if g is not None).strip().rstrip(",;.").strip())
        start = span.start()
    contents = [c for c in contents if c]
    if not contents:
        return None
    return contents[-1] if len(set(contents)) == 1 else ", ".join(contents)


def _is_bare_answer(text: str) -> bool:
    """One short line with no prose, or one or two words: the text is an answer already (``\\frac12``, ``d. 7``)."""
    if re.fullmatch(r"[A-Za-z]+(?: [A-Za-z]+)?\.?", text):
        return True  # a word answer: "Evelyn", "no solution"
    return 0 < len(text) <= 200 and "\n" not in text and not _is_prose(text, shortest=2)


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
    if "\\\\" in text:
        text = halve_doubled_backslashes(text)
    found_box, boxed = last_boxed(text)
    if found_box or fallback is None:
        return boxed or None
    tail = text[-20_000:].strip()  # fallbacks look at the end of a long response only
    phrases = list(_PHRASE.finditer(tail))
    if phrases:
        answer = _answer_from_phrase(phrases[-1].group(1))
        if answer:
            return answer
    if _is_bare_answer(tail):
        return _strip_wrappers(tail) or None
    spans = list(_MATH_SPANS.finditer(tail))
    if spans and len(tail) - spans[-1].end() <= 100 and "\n\n" not in tail[spans[-1].end():]:
        return _closing_spans(tail, spans)
    return _closing_numbers(tail)
