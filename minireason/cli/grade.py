"""``minireason grade``: re-grade a results JSONL file (after a grader change) and print the summary."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", help="results JSONL written by `minireason eval`")
    parser.add_argument("--write", default=None, metavar="PATH",
                        help="also write the re-graded records to PATH (atomically; may be the input)")


def run(args: argparse.Namespace) -> int:
    from minireason.errors import InputError
    from minireason.evaluation.runs import format_summary, read_records, regrade_file

    path = Path(args.results)
    if not path.exists():
        raise InputError(f"{args.results}: no such file")
    if not path.is_file():
        kind = "a directory" if path.is_dir() else "not a regular file"
        raise InputError(f"{args.results}: is {kind}; expected a results .jsonl file written by "
                         "`minireason eval`")
    verify = _task_verifier(read_records(args.results), args.results)
    records, summary = regrade_file(args.results, args.write, verify)
    changed = sum(1 for r in records if r.get("correct") is not None)
    print(f"re-graded {changed} records")
    print(format_summary(summary))
    return 0


def _task_verifier(records: list[dict], path: str):
    """Records of built-in task problems are re-checked by their family's verifier (a countdown
    answer is an expression over the given numbers, not a value to compare with the gold one)."""
    if not records or not all("family" in r and "data" in r for r in records):
        return None
    from minireason.tasks.export import verify_record

    def verify(record: dict, extracted):
        # fields read with .get: a missing one is a DataError naming it (from problem_from_record)
        task_record = {"problem": record.get("problem"), "answer": record.get("gold"),
                       "family": record.get("family"), "level": record.get("level"),
                       "unique_id": record.get("unique_id"), "data": record.get("data")}
        return verify_record(task_record, extracted, where=f"{path}: record {record.get('index')!r}")

    return verify
