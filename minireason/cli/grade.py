"""``minireason grade``: re-grade a results JSONL file (after a grader change) and print the summary."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", help="results JSONL written by `minireason eval`")
    parser.add_argument("--write", default=None, metavar="PATH",
                        help="also write the re-graded records to PATH (atomically; may be the input)")


def run(args: argparse.Namespace) -> int:
    from minireason.evaluation.runs import format_summary, regrade_file

    records, summary = regrade_file(args.results, args.write)
    changed = sum(1 for r in records if r.get("correct") is not None)
    print(f"re-graded {changed} records")
    print(format_summary(summary))
    return 0
