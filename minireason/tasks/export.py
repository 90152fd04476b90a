"""Task problems as MATH-style records: JSONL files and ``task:NAME`` data names.

A record has the MATH fields every evaluation command reads (``problem``, ``answer``,
``solution``, ``subject`` = family, ``level`` = difficulty, ``unique_id``) and the task's
own: ``family``, ``flawed``, ``data`` (what the verifier needs, e.g. countdown's numbers),
``direct_completion`` and ``trace_completion``.

Wherever a command takes ``--data``, :func:`resolve_data` also accepts a task name::

    task:addition
    task:countdown?n=200&split=test&seed=0&difficulty=2

(defaults: ``n=100``, ``split=test``, ``seed=0``, the family's default difficulty; ``n`` at most
``MAX_TASK_PROBLEMS`` = 1,000,000, since the problems are generated at once).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from minireason.atomic import atomic_write_jsonl
from minireason.errors import DataError, InputError
from minireason.evaluation.datasets import load_problems
from minireason.jsonl import read_jsonl as read_jsonl_records
from minireason.tasks.base import Problem
from minireason.tasks.families import generate_problems, verify

TASK_PREFIX = "task:"
TASK_OPTIONS = {"n": int, "split": str, "seed": int, "difficulty": int}
TASK_DEFAULTS = {"n": 100, "split": "test", "seed": 0, "difficulty": None}
MAX_TASK_PROBLEMS = 1_000_000  # problems are generated eagerly: a bound keeps a typo from filling memory


def to_record(problem: Problem) -> dict[str, Any]:
    """The problem as a MATH-style dict (JSON-ready)."""
    reasoning = problem.trace_completion.removeprefix("<think>\n")
    solution = reasoning.replace("\n</think>\n", "\n", 1)
    return {
        "problem": problem.text,
        "answer": problem.answer,
        "solution": solution,
        "subject": problem.family,
        "level": problem.difficulty,
        "unique_id": problem.unique_id,
        "family": problem.family,
        "flawed": problem.flawed,
        "data": problem.data,
        "direct_completion": problem.direct_completion,
        "trace_completion": problem.trace_completion,
    }


def problem_from_record(record: dict[str, Any], where: str = "record") -> Problem:
    """Rebuild a Problem from :func:`to_record`'s dict; DataError names a missing or bad field."""
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}")
    fields = {"problem": str, "answer": str, "family": str, "level": int, "unique_id": str, "data": dict}
    for name, kind in fields.items():
        if not isinstance(record.get(name), kind):
            raise DataError(f"{where}: field {name!r} expected {kind.__name__}, got {record.get(name)!r}")
    return Problem(
        family=record["family"], text=record["problem"], answer=record["answer"],
        difficulty=record["level"], unique_id=record["unique_id"],
        direct_completion=record.get("direct_completion", ""),
        trace_completion=record.get("trace_completion", ""),
        flawed=bool(record.get("flawed", False)), data=record["data"],
    )


def verify_record(record: dict[str, Any], answer_text: str | None, where: str = "record") -> bool:
    """The family's own verifier on a record, e.g. countdown's expression check.

    Generic graders compare answers by value; a countdown answer must instead be checked
    against the given numbers, which only the family's verifier does. A record lacking a field
    the verifier needs is a DataError naming it (``where`` says which record).
    """

    return verify(problem_from_record(record, where), answer_text)


def write_jsonl(records: list[dict[str, Any]], path: str | os.PathLike) -> Path:
    """Write one JSON object per line, atomically (temporary file, then ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_jsonl(path, records)
    return path


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read a JSONL file written by :func:`write_jsonl`; DataError names the file and line
    (a line that is not UTF-8, not JSON or not an object)."""

    return read_jsonl_records(path)


def parse_task_name(name: str) -> tuple[str, dict[str, Any]]:
    """``"task:countdown?n=50&seed=3"`` -> ``("countdown", {"n": 50, "split": "test", ...})``."""
    if not name.startswith(TASK_PREFIX):
        raise InputError(f"task name: expected it to start with {TASK_PREFIX!r}, got {name!r}")
    family, _, query = name[len(TASK_PREFIX):].partition("?")
    options = dict(TASK_DEFAULTS)
    for pair in filter(None, query.split("&")):
        key, equals, value = pair.partition("=")
        if key not in TASK_OPTIONS or not equals:
            raise InputError(f"task name {name!r}: expected options {sorted(TASK_OPTIONS)} as key=value, got {pair!r}")
        try:
            options[key] = TASK_OPTIONS[key](value)
        except ValueError:
            raise InputError(f"task name {name!r}: option {key} expected an integer, got {value!r}") from None
    if not 0 <= options["n"] <= MAX_TASK_PROBLEMS:
        raise InputError(f"task name {name!r}: option n expected an integer in [0, {MAX_TASK_PROBLEMS:,}], "
                         f"got {options['n']}")
    return family, options


def resolve_data(name: str | os.PathLike) -> list[dict[str, Any]]:
    """MATH-style records for ``--data``: a ``task:...`` name is generated, a path is read.

    Paths go to ``minireason.evaluation.datasets.load_problems``.
    """
    text = os.fspath(name)
    if text.startswith(TASK_PREFIX):

        family, options = parse_task_name(text)
        problems = generate_problems(family, options["n"], split=options["split"], seed=options["seed"],
                                     difficulty=options["difficulty"])
        return [to_record(problem) for problem in problems]
    # a file: read, checked (a non-UTF-8 one is a DataError) and turned into records there

    return load_problems(text)
