"""``minireason distill-data``: rejection-sampled teacher traces for SFT and distillation.

    minireason distill-data --teacher builtin:base --data "task:addition?n=2000&split=train&difficulty=3" \
        --samples 4 --out traces.jsonl [--temperature 1.0 --max-new-tokens 128 --seed 0]

K completions per problem from the teacher (the one rollout path), the ones the one judge verifies
(boxed answer) and that finished, deduplicated, written as teacher traces with the teacher's name
and sampling settings.  Resumable: run the same command again after an interrupt.
"""

from __future__ import annotations

import argparse

from minireason.cli import arguments
from minireason.evaluation.prompts import default_prompt_format
from minireason.io.pretrained import load_pretrained
from minireason.posttrain.teacher_data import SamplingSettings, sample_traces
from minireason.scaleout import add_ray_arguments, scale_out
from minireason.tasks.export import resolve_data


def add_sampling_arguments(parser: argparse.ArgumentParser, model_flag: str, out_help: str) -> None:
    """Adds the sampling options that ``distill-data`` and ``dpo-data`` share (model, data, samples, temperature, ...)."""
    parser.add_argument(model_flag, dest="model", required=True, help="builtin:NAME or a Hugging Face Qwen3 directory")
    parser.add_argument("--data", required=True, help="problems with answers: task:NAME?split=train&... or a "
                        "MATH-style JSON/JSONL file")
    parser.add_argument("--samples", type=arguments.positive_int, default=4, help="K completions per problem")
    parser.add_argument("--out", required=True, help=out_help)
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (> 0)")
    parser.add_argument("--top-p", type=float, default=1.0, help="nucleus filter (1 = off)")
    parser.add_argument("--top-k", type=arguments.non_negative_int, default=0, help="top-k filter (0 = off)")
    parser.add_argument("--max-new-tokens", type=arguments.positive_int, default=128, help="completion limit")
    parser.add_argument("--seed", type=arguments.seed, default=0, help="sampling seed")
    parser.add_argument("--batch-size", type=arguments.positive_int, default=32, help="problems per generation batch "
                        "(each gives K rows)")
    parser.add_argument("--prompt-format", choices=("plain", "chat"), default=None,
                        help="default: plain for builtin:*, chat otherwise")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_ray_arguments(parser)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the options of ``minireason distill-data`` to its parser."""
    add_sampling_arguments(parser, "--teacher", "output JSONL of traces (resumed after its last complete problem if it exists with its manifest)")


def sampling_settings(args: argparse.Namespace, **extra):
    """The ``SamplingSettings`` the parsed sampling options describe (``extra``: fields of the command's own)."""
    return SamplingSettings(model=str(args.model), data=str(args.data), samples=args.samples,
                            temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
                            max_new_tokens=args.max_new_tokens, seed=args.seed,
                            prompt_format=args.prompt_format or default_prompt_format(str(args.model)),
                            problems_per_batch=args.batch_size, **extra)


def run(args: argparse.Namespace) -> int:
    """Runs ``minireason distill-data`` on the parsed arguments; returns the exit status (0 on success)."""
    settings = sampling_settings(args)
    records = resolve_data(args.data)
    model, tokenizer = load_pretrained(args.model)
    with scale_out(model, tokenizer, args.ray, args.workers, args.address) as executor:
        counts = sample_traces(model, tokenizer, records, settings, args.out, progress=not args.no_progress,
                               executor=executor)
    resumed = f" (resumed after {counts['resumed_after']})" if counts["resumed_after"] else ""
    print(f"distill-data: {counts['problems']} problems{resumed} x {settings.samples} samples: {counts['verified']} verified "
          f"({counts['verified'] / max(counts['sampled'], 1):.1%}), {counts['written']} traces written after "
          f"{counts['duplicates']} duplicates, from {counts['problems_with_output']} problems -> {counts['out']}")
    return 0
