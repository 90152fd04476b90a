"""``minireason grade``: re-grade a results JSONL file (after a grader change) and print the summary."""

from __future__ import annotations

import argparse
from pathlib import Path

import minireason.tasks  # noqa: F401 - hands the task families' verifiers to the judge (task records)
from minireason.errors import InputError
from minireason.evaluation.runs import format_summary, regrade_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the options of ``minireason grade`` to its parser."""
    parser.add_argument("results", help="results JSONL written by `minireason eval`")
    parser.add_argument("--out", default=None, metavar="PATH",
                        help="also write the re-graded records to PATH (atomically; may be the input)")
    parser.add_argument("--write", dest="out", default=None, help=argparse.SUPPRESS)  # the old spelling


def run(args: argparse.Namespace) -> int:
    """Runs ``minireason grade`` on the parsed arguments; returns the exit status (0 on success)."""
    path = Path(args.results)
    if not path.exists():
        raise InputError(f"{args.results}: no such file")
    if not path.is_file():
        kind = "a directory" if path.is_dir() else "not a regular file"
        raise InputError(f"{args.results}: is {kind}; expected a results .jsonl file written by "
                         "`minireason eval`")
    # task records (with family and data) are re-checked by their family's verifier: the one judge
    records, summary = regrade_file(args.results, args.out)
    changed = sum(1 for r in records if r.get("correct") is not None)
    print(f"re-graded {changed} records")
    print(format_summary(summary))
    return 0

