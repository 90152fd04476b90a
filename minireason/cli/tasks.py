"""``minireason tasks``: list the synthetic task families, show samples, export problem sets.

    minireason tasks list
    minireason tasks show --family countdown [--limit 3 --difficulty 3 --seed 0]
    minireason tasks export --family addition --limit 500 --split test --out addition_test.jsonl
"""

from __future__ import annotations

import argparse
import random

from minireason.cli import arguments
from minireason.errors import InputError
from minireason.evaluation.prompts import PromptSpec
from minireason.tasks import FAMILIES, flawed_copy, generate_problems, to_record, write_jsonl
from minireason.tasks.export import MAX_TASK_PROBLEMS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the options of ``minireason tasks`` to its parser."""
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    verbs.add_parser("list", help="the task families and their difficulty ranges")

    show = verbs.add_parser("show", help="print a few rendered problems with their traces")
    add_problem_arguments(show, count_default=3, split_default="train")
    show.add_argument("--flawed", action="store_true", help="also show a deliberately flawed trace")

    export = verbs.add_parser("export", help="write a MATH-style JSONL problem set")
    add_problem_arguments(export, count_default=None, split_default=None)
    export.add_argument("--out", required=True, help="output .jsonl file (written atomically)")


def add_problem_arguments(parser: argparse.ArgumentParser, count_default: int | None,
                          split_default: str | None) -> None:
    """The flags ``tasks show`` and ``tasks export`` share: which problems (a flag without a default is required)."""
    parser.add_argument("--family", required=True, help="the task family (minireason tasks list names them)")
    # not argparse-required, so that the old spelling --n satisfies it too (checked in run)
    parser.add_argument("--limit", type=arguments.non_negative_int, default=count_default,
                        help="how many problems: the first N of the family's seeded stream for the split"
                             + (" (required)" if count_default is None else ""))
    arguments.add_hidden_alias(parser, "--n", dest="limit", type=arguments.non_negative_int)
    parser.add_argument("--split", default=split_default, required=split_default is None, choices=("train", "test"),
                        help="train or test: disjoint problem sets")
    parser.add_argument("--seed", type=arguments.integer, default=0, help="seed of the problem stream")
    parser.add_argument("--difficulty", type=arguments.integer, default=None,
                        help="1 .. the family's maximum (default: the family's own, see minireason tasks list)")


def run(args: argparse.Namespace) -> int:
    """Runs ``minireason tasks`` on the parsed arguments; returns the exit status (0 on success)."""
    if args.verb == "list":
        for name, family in FAMILIES.items():
            print(f"{name:16} difficulty 1..{family.max_difficulty} (default {family.default_difficulty})  "
                  f"{family.description}")
        return 0

    if args.limit is None:
        raise InputError("--limit N is required: how many problems to export")
    if args.limit > MAX_TASK_PROBLEMS:
        raise InputError(f"--limit: expected an integer at most {MAX_TASK_PROBLEMS:,}, got {args.limit:,}")
    problems = generate_problems(args.family, args.limit, split=args.split, seed=args.seed, difficulty=args.difficulty)
    if args.verb == "show":
        rng = random.Random(args.seed)
        for problem in problems:
            print(f"--- {problem.unique_id} (difficulty {problem.difficulty}, {problem.split})")
            print(PromptSpec("direct").text(problem.text) + problem.direct_completion)
            print()
            print(PromptSpec("cot").text(problem.text) + problem.trace_completion)
            if args.flawed:
                print("\n[flawed trace]")
                print(PromptSpec("cot").text(problem.text) + flawed_copy(problem, rng).trace_completion)
            print()
        return 0
    path = write_jsonl([to_record(problem) for problem in problems], args.out)
    print(f"wrote {len(problems)} {args.family} problems ({args.split} split) to {path}")
    return 0
