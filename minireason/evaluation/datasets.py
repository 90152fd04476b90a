"""Problem sets with verifiable answers: MATH-style JSON lists or JSON Lines files.

A problem is a dict with ``problem`` and ``answer`` (strings) and optionally ``solution``,
``subject``, ``level`` and ``unique_id``. :func:`load_problems` reads either a JSON list of such
dicts or one dict per line (JSONL), and reports a malformed line or a missing field with the
file and line number as a :class:`minireason.errors.DataError`.
"""

from __future__ import annotations

import json
from pathlib import Path

from minireason.errors import DataError

REQUIRED_FIELDS = ("problem", "answer")
OPTIONAL_FIELDS = ("solution", "subject", "level", "unique_id")


def _check_problem(record, path: Path, line: int) -> dict:
    if not isinstance(record, dict):
        raise DataError(f"{path}:{line}: expected a JSON object, got {type(record).__name__}")
    for field in REQUIRED_FIELDS:
        if field not in record:
            raise DataError(f"{path}:{line}: missing field {field!r} (expected {REQUIRED_FIELDS})")
        if not isinstance(record[field], str):
            raise DataError(f"{path}:{line}: field {field!r} expected str, got {type(record[field]).__name__}")
    return dict(record)


def _line_of_list_items(text: str) -> list[int]:
    """Approximate line numbers of the top-level items of a JSON list (for error messages)."""
    decoder = json.JSONDecoder()
    lines = []
    index = text.index("[") + 1
    while True:
        while index < len(text) and text[index] in " \t\r\n,":
            index += 1
        if index >= len(text) or text[index] == "]":
            return lines
        lines.append(text.count("\n", 0, index) + 1)
        _, index = decoder.raw_decode(text, index)


def read_text_file(path: Path, what: str) -> str:
    """The UTF-8 text of a data file; DataError naming the file (and the line of a byte that is not UTF-8)."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise DataError(f"{path}: cannot read {what}: {error}") from error
    except UnicodeDecodeError as error:
        line = error.object[: error.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not UTF-8 text ({error.reason} at byte {error.start})") from None


def load_problems(path: str | Path) -> list[dict]:
    """Read problems from a JSON list or a JSONL file (see the module docstring)."""
    path = Path(path)
    text = read_text_file(path, "problems")
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as error:
            raise DataError(f"{path}:{error.lineno}: malformed JSON: {error.msg}") from error
        lines = _line_of_list_items(text)
        return [_check_problem(r, path, lines[i] if i < len(lines) else 0) for i, r in enumerate(records)]
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{path}:{number}: malformed JSON line: {error.msg}") from error
        problems.append(_check_problem(record, path, number))
    if not problems:
        raise DataError(f"{path}: expected at least one problem, got none")
    return problems
