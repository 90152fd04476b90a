"""``minireason tasks``: list the synthetic task families, show samples, export problem sets.

    minireason tasks list
    minireason tasks show --family countdown [--n 3 --difficulty 3 --seed 0]
    minireason tasks export --family addition --n 500 --split test --out addition_test.jsonl
"""

from __future__ import annotations

import argparse
import random

from minireason.cli import arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    verbs.add_parser("list", help="the task families and their difficulty ranges")

    show = verbs.add_parser("show", help="print a few rendered problems with their traces")
    show.add_argument("--family", required=True)
    show.add_argument("--n", type=arguments.non_negative_int, default=3)
    show.add_argument("--split", default="train", choices=("train", "test"))
    show.add_argument("--seed", type=int, default=0)
    show.add_argument("--difficulty", type=int, default=None)
    show.add_argument("--flawed", action="store_true", help="also show a deliberately flawed trace")

    export = verbs.add_parser("export", help="write a MATH-style JSONL problem set")
    export.add_argument("--family", required=True)
    export.add_argument("--n", type=arguments.non_negative_int, required=True)
    export.add_argument("--split", required=True, choices=("train", "test"))
    export.add_argument("--seed", type=int, default=0)
    export.add_argument("--difficulty", type=int, default=None)
    export.add_argument("--out", required=True, help="output .jsonl file (written atomically)")


def run(args: argparse.Namespace) -> int:
    from minireason.tasks import (
        FAMILIES,
        flawed_copy,
        generate_problems,
        to_record,
        write_jsonl,
    )

    if args.verb == "list":
        for name, family in FAMILIES.items():
            print(f"{name:16} difficulty 1..{family.max_difficulty} (default {family.default_difficulty})  "
                  f"{family.description}")
        return 0
    from minireason.errors import InputError
    from minireason.evaluation.prompts import PromptSpec
    from minireason.tasks.export import MAX_TASK_PROBLEMS

    if args.n > MAX_TASK_PROBLEMS:
        raise InputError(f"--n: expected at most {MAX_TASK_PROBLEMS:,} problems, got {args.n:,}")
    problems = generate_problems(args.family, args.n, split=args.split, seed=args.seed, difficulty=args.difficulty)
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
