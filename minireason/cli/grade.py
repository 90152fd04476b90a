"""``minireason grade``: re-grade a results JSONL file (after a grader change) and print the summary."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", help="results JSONL written by `minireason eval`")
    parser.add_argument("--write", default=None, metavar="PATH",
                        help="also write the re-graded records to PATH (atomically; may be the input)")


def run(args: argparse.Namespace) -> int:
    from minireason.evaluation.runs import format_summary, read_records, regrade_file

    records, summary = regrade_file(args.results, args.write, _task_verifier(read_records(args.results)))
    changed = sum(1 for r in records if r.get("correct") is not None)
    print(f"re-graded {changed} records")
    print(format_summary(summary))
    return 0


def _task_verifier(records: list[dict]):
    """Records of built-in task problems are re-checked by their family's verifier (a countdown
    answer is an expression over the given numbers, not a value to compare with the gold one)."""
    if not records or not all("family" in r and "data" in r for r in records):
        return None
    from minireason.tasks.export import verify_record

    def verify(record: dict, extracted):
        task_record = {"problem": record["problem"], "answer": record["gold"], "family": record["family"],
                       "level": record["level"], "unique_id": record["unique_id"], "data": record["data"]}
        return verify_record(task_record, extracted)

    return verify
