"""``minireason demo``: the project's first command, a short inference-time scaling comparison.

    minireason demo                      # builtin:base, 48 held-out 3-digit additions, greedy / cot / sc@4 / sc@8
    minireason demo --problems 50 --methods greedy,cot,sc@4,sc@8,bon@4

The built-in model answers held-out problems of a built-in task three ways: a direct answer, one
greedy chain of thought, and self-consistency (a majority vote over sampled chains). It prints
accuracy against the tokens each method spent, one worked vote, and where the files went. About a
minute on 2 cores with the defaults. The full comparison is ``minireason scale``.
"""

from __future__ import annotations

from minireason.cli import arguments
from minireason.cli.scale import add_common_arguments, run_scaling_comparison

DEMO_METHODS = "greedy,cot,sc@4,sc@8"
DEMO_DATA = "task:addition?n=100&split=test&seed=0&difficulty=3"  # 3-digit: the base model errs, but not always
DEMO_PROBLEMS = 48


def add_arguments(parser) -> None:
    parser.add_argument("--model", default="builtin:base", help="checkpoint directory or builtin:NAME")
    parser.add_argument("--data", default=DEMO_DATA, help="problem file or task:NAME?...")
    parser.add_argument("--problems", type=arguments.positive_int, default=None,
                        help=f"how many problems, the first N of --data (default {DEMO_PROBLEMS}; --limit N "
                             "says the same)")
    parser.add_argument("--out-dir", default="runs/demo", help="where records.jsonl, summary.json and the plot go")
    add_common_arguments(parser, DEMO_METHODS, None, 160)


def _example_vote(records_path) -> str | None:
    """One self-consistency vote from the records, preferring a split vote; None if no sc method ran."""
    from minireason.jsonl import read_jsonl_tolerant

    chosen = None
    records, _ = read_jsonl_tolerant(records_path)
    for record in records:
        distribution = record.get("details", {}).get("vote_distribution")
        if distribution is None:
            continue
        if chosen is None or (len(distribution) > 1 and len(chosen["details"]["vote_distribution"]) <= 1):
            chosen = record
    if chosen is None:
        return None
    votes = ", ".join(f"{answer!r}: {count}" for answer, count in chosen["details"]["vote_distribution"].items())
    verdict = "right" if chosen["correct"] else "wrong"
    return (f"example vote ({chosen['method']}): {chosen['problem']}\n"
            f"  votes {{{votes}}} -> {chosen['answer']!r} ({verdict}; gold {chosen['gold']!r})")


def problem_count(problems: int | None, limit: int | None) -> int:
    """--problems and --limit (the flag ``scale`` has) both say how many problems; one is enough."""
    from minireason.errors import InputError

    if problems is not None and limit is not None and problems != limit:
        raise InputError(f"--problems {problems} and --limit {limit} both say how many problems; give one")
    return next((n for n in (problems, limit) if n is not None), DEMO_PROBLEMS)


def run(args) -> int:
    from minireason.scaling.runner import format_table

    args.problems = problem_count(args.problems, args.limit)

    print(f"minireason demo: {args.model} on {args.problems} problems of {args.data}")
    print(f"methods {args.methods}; sampled methods at temperature {args.temperature}, seed {args.seed}\n")
    rows, paths = run_scaling_comparison(args.model, args.data, args.methods, args.out_dir, args.problems, args.seed,
                                         args.max_new_tokens, args.temperature, args.top_p, args.prompt_format,
                                         args.batch_size, args.quiet, title=f"demo: {args.model}")
    print(format_table(rows))
    by_method = {row.method: row for row in rows}
    print()
    if "greedy" in by_method and "cot" in by_method:
        greedy, cot = by_method["greedy"], by_method["cot"]
        print(f"chain of thought: {cot.accuracy:.0%} vs {greedy.accuracy:.0%} answering directly, for "
              f"{cot.tokens_per_problem / max(greedy.tokens_per_problem, 1e-9):.1f}x the tokens")
    for row in rows:
        if row.method.startswith("sc@") and "cot" in by_method:
            cot = by_method["cot"]
            print(f"{row.method}: {row.accuracy:.0%}, against {row.pass_at_1:.0%} for one sampled chain and "
                  f"{cot.accuracy:.0%} for the greedy chain, for "
                  f"{row.tokens_per_problem / max(cot.tokens_per_problem, 1e-9):.1f}x the greedy chain's tokens; "
                  f"some sample was right on {row.pass_at_n:.0%} of problems")
    example = _example_vote(paths["records"])
    if example:
        print(example)
    print(f"\n{paths['seconds']:.1f} s in all. records: {paths['records']}  plot: {paths['plot']}")
    return 0
