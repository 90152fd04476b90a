"""JSON Lines the project writes (results, metrics, problem sets): one line per record, and a
reader that tells a line torn by an interrupt from a damaged file.

A file that is appended to while a run goes on (``eval`` results, ``metrics.jsonl``) can be cut
anywhere by a kill or a full disk, also inside a multi-byte UTF-8 character (records keep
non-ASCII text as is).  So the reader works on bytes: the last line is decoded and parsed on its
own, and when either fails it is dropped as torn; any other undecodable or malformed line is a
``DataError`` naming the file and line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from minireason.errors import DataError


def jsonl_line(record: Any) -> str:
    """``record`` as one JSON line (with its newline), non-ASCII text kept as is.

    A string holding a lone surrogate (which JSON's ``\\udXXX`` escape can carry, but UTF-8
    cannot) makes the line fall back to ASCII escapes, so it is written and read back unchanged.
    """
    line = json.dumps(record, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(record, ensure_ascii=True)
    return line + "\n"


RecordCheck = Callable[[Any], "str | None"]  # a parsed record -> what is wrong with it, or None


def read_jsonl_tolerant(path: str | os.PathLike, require_object: bool = True,
                        check: RecordCheck | None = None) -> tuple[list[Any], bool]:
    """The records of a JSONL file and whether its last line was torn (and dropped).

    For files appended to during a run (results, metrics). The last non-blank line is dropped as
    torn when it is not valid UTF-8 or not valid JSON (or, with ``require_object``, not a JSON
    object); the same fault on any earlier line is a ``DataError`` "PATH:LINE: ...".  ``check``
    (e.g. "index must be an int") runs on every parsed record; what it returns is a DataError
    "PATH:LINE: ..." wherever the line is (a whole JSON object is not torn).  Blank lines are
    skipped.  A missing file or a directory raises the ``OSError`` ``open`` raises.
    """
    return _read(path, require_object, check, tolerate_torn_tail=True)


def read_jsonl(path: str | os.PathLike, require_object: bool = True,
               check: RecordCheck | None = None) -> list[Any]:
    """The records of a JSONL file written whole (a problem set): every bad line, the last one
    included, is a ``DataError`` "PATH:LINE: ..." (not valid UTF-8, not valid JSON, not an object,
    or what ``check`` says)."""
    records, _ = _read(path, require_object, check, tolerate_torn_tail=False)
    return records


def _read(path, require_object: bool, check: RecordCheck | None, tolerate_torn_tail: bool) -> tuple[list[Any], bool]:
    with open(path, "rb") as handle:
        data = handle.read()
    lines = data.split(b"\n")
    last = max((number for number, line in enumerate(lines) if line.strip()), default=-1)
    records = []
    for number, raw in enumerate(lines):
        if not raw.strip():
            continue
        try:
            record = _parse_line(raw, require_object)
        except ValueError as error:
            if tolerate_torn_tail and number == last:  # written while the run was interrupted
                return records, True
            raise DataError(f"{os.fspath(path)}:{number + 1}: {error}") from None
        problem = check(record) if check is not None else None
        if problem is not None:
            raise DataError(f"{os.fspath(path)}:{number + 1}: {problem}")
        records.append(record)
    return records, False


def _parse_line(raw: bytes, require_object: bool) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        byte = raw[error.start]
        raise ValueError(f"not valid UTF-8 (byte {byte:#04x} at column {error.start + 1})") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON ({error.msg} at column {error.colno})") from None
    if require_object and not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value
