"""``minireason eval``: evaluate a model on a problem set with verifiable answers."""

from __future__ import annotations

import argparse
from pathlib import Path

from minireason.cli import arguments
from minireason.cli.generate import add_thinking_budget_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from minireason.evaluation.prompts import TEMPLATES
    from minireason.scaleout import add_ray_arguments

    parser.add_argument("--model", required=True, help="checkpoint directory or builtin:NAME")
    parser.add_argument("--data", required=True, help="problems: JSON list or JSONL (problem, answer, ...), or a built-in task "
                        "such as task:addition or task:countdown?n=200&split=test")
    parser.add_argument("--out", required=True, help="results JSONL (and OUT.manifest.json: what made it); "
                        "re-running with the same settings resumes after its last record")
    parser.add_argument("--force-new", action="store_true",
                        help="start over: replace the records in --out, even those of another run")
    parser.add_argument("--limit", type=arguments.positive_int, default=None,
                        help="evaluate the first N problems")
    parser.add_argument("--template", choices=sorted(TEMPLATES), default="direct")
    parser.add_argument("--chat", action="store_true", help="wrap the prompt in the Qwen3 chat template")
    parser.add_argument("--thinking", action="store_true", help="with --chat: enable the <think> block")
    parser.add_argument("--batch-size", type=arguments.positive_int, default=8)
    parser.add_argument("--max-new-tokens", type=arguments.positive_int, default=512)
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--top-k", type=int, default=0)
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--seed", type=arguments.seed, default=None, help="an int >= 0")
    add_thinking_budget_arguments(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_ray_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from minireason.evaluation.runs import EvalSettings, format_summary, run_evaluation
    from minireason.evaluation.timeouts import warm_up
    from minireason.io.pretrained import load_pretrained
    from minireason.scaleout import scale_out

    check_results_path(args.out)
    problems = _load(args.data)
    settings = EvalSettings(template=args.template, chat=args.chat, enable_thinking=args.thinking,
                            batch_size=args.batch_size, max_new_tokens=args.max_new_tokens,
                            temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed,
                            max_thinking_tokens=args.max_thinking_tokens,
                            min_thinking_tokens=args.min_thinking_tokens, max_wait=args.max_wait)
    settings.check()
    warm_up(1, wait_seconds=0.0)  # start the sympy worker while the model loads
    model, tokenizer = load_pretrained(args.model)
    # task problems are graded by their family's verifier: the one judge does that by default
    with scale_out(model, tokenizer, args.ray, args.workers, args.address) as executor:
        summary = run_evaluation(model, tokenizer, problems, args.out, settings, limit=args.limit,
                                 progress=not args.no_progress, force_new=args.force_new,
                                 run_info={"arguments": _arguments(args)}, executor=executor)
    print(format_summary(summary))
    return 0


def check_results_path(out: str) -> None:
    """--out is read back to resume, then appended to: a regular file, or a path not there yet."""
    from minireason.errors import InputError

    path = Path(out)
    if path.is_dir():
        raise InputError(f"--out {out}: is a directory; expected a results .jsonl file")
    if path.exists() and not path.is_file():
        raise InputError(f"--out {out}: not a regular file; the results file is read back to resume a run, "
                         "so it must be a regular file")


def _load(data: str) -> list[dict]:
    from minireason.tasks.export import resolve_data

    return resolve_data(data)  # a task:NAME, or a problem file


def _arguments(args: argparse.Namespace) -> dict:
    """The command's arguments, for the results' manifest (what a reader sees made the file)."""
    return {key: value for key, value in vars(args).items()
            if isinstance(value, (str, int, float, bool)) or value is None}
