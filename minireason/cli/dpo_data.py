"""``minireason dpo-data``: preference pairs from a model's own samples.

    minireason dpo-data --model builtin:base --data "task:addition?n=2000&split=train&difficulty=3" \
        --samples 8 --out pairs.jsonl [--pairs-per-problem 1 --temperature 1.0 --seed 0]

K completions per problem (the one rollout path), judged by the one judge: a verified one becomes
``chosen``, a wrong one ``rejected`` (both finished, picked at random among the distinct texts).
Resumable: run the same command again after an interrupt.
"""

from __future__ import annotations

import argparse

from minireason.cli import arguments
from minireason.cli.distill_data import add_sampling_arguments, sampling_settings
from minireason.io.pretrained import load_pretrained
from minireason.posttrain.teacher_data import sample_pairs
from minireason.scaleout import scale_out
from minireason.tasks.export import resolve_data


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the options of ``minireason dpo-data`` to its parser."""
    add_sampling_arguments(parser, "--model", "output JSONL of pairs (resumed after its last complete problem if it exists with its manifest)")
    parser.add_argument("--pairs-per-problem", type=arguments.positive_int, default=1,
                        help="at most this many (chosen, rejected) pairs per problem")


def run(args: argparse.Namespace) -> int:
    """Runs ``minireason dpo-data`` on the parsed arguments; returns the exit status (0 on success)."""
    settings = sampling_settings(args, pairs_per_problem=args.pairs_per_problem)
    records = resolve_data(args.data)
    model, tokenizer = load_pretrained(args.model)
    with scale_out(model, tokenizer, args.ray, args.workers, args.address) as executor:
        counts = sample_pairs(model, tokenizer, records, settings, args.out, progress=not args.no_progress,
                              executor=executor)
    resumed = f" (resumed after {counts['resumed_after']})" if counts["resumed_after"] else ""
    print(f"dpo-data: {counts['problems']} problems{resumed} x {settings.samples} samples: {counts['verified']} verified "
          f"({counts['verified'] / max(counts['sampled'], 1):.1%}), {counts['written']} pairs from "
          f"{counts['problems_with_output']} problems -> {counts['out']}")
    return 0
