"""``minireason eval``: evaluate a model on a problem set with verifiable answers."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from minireason.cli import arguments
from minireason.cli.generate import add_thinking_budget_arguments
from minireason.errors import InputError
from minireason.evaluation.multiple_choice import (
    format_choice_summary,
    load_choice_records,
    run_multiple_choice,
)
from minireason.evaluation.prompts import TEMPLATES
from minireason.evaluation.runs import EvalSettings, format_summary, run_evaluation
from minireason.evaluation.timeouts import warm_up
from minireason.io.pretrained import load_pretrained
from minireason.scaleout import add_ray_arguments, scale_out
from minireason.tasks.export import TASK_PREFIX, parse_task_name, resolve_data
from minireason.tasks.multiple_choice import choice_problems


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the options of ``minireason eval`` to its parser."""
    parser.add_argument("--model", required=True, help="checkpoint directory or builtin:NAME")
    parser.add_argument("--data", required=True, help="problems: JSON list or JSONL (problem, answer, ...), or a built-in task "
                        "such as task:addition or task:countdown?n=200&split=test")
    parser.add_argument("--out", required=True, help="results JSONL (and OUT.manifest.json: what made it); "
                        "re-running with the same settings resumes after its last record")
    parser.add_argument("--force-new", action="store_true",
                        help="start over: replace the records in --out, even those of another run")
    parser.add_argument("--limit", type=arguments.positive_int, default=None,
                        help="evaluate the first N problems")
    parser.add_argument("--template", choices=sorted(TEMPLATES), default="direct",
                        help="the instruction around each problem (direct: answer at once, cot: think step by step; "
                             "see minireason.evaluation.prompts.TEMPLATES)")
    parser.add_argument("--prompt-format", choices=("plain", "chat"), default="plain",
                        help="plain: the prompt as text; chat: wrapped in the Qwen3 chat template")
    arguments.add_hidden_alias(parser, "--chat", dest="prompt_format", action="store_const", const="chat")
    parser.add_argument("--thinking", action="store_true", help="with --prompt-format chat: enable the <think> block")
    parser.add_argument("--batch-size", type=arguments.positive_int, default=8, help="problems per generation batch")
    parser.add_argument("--max-new-tokens", type=arguments.positive_int, default=512, help="completion limit")
    parser.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (0 = greedy)")
    parser.add_argument("--top-k", type=arguments.non_negative_int, default=0, help="keep the k most likely tokens (0 = off)")
    parser.add_argument("--top-p", type=float, default=1.0, help="nucleus mass in (0, 1] (1 = off)")
    parser.add_argument("--seed", type=arguments.seed, default=None,
                        help="fix the sampling randomness (an integer >= 0)")
    add_thinking_budget_arguments(parser)
    parser.add_argument("--mode", choices=("generate", "mc-letter", "mc-logprob"), default="generate",
                        help="generate: answers checked by the verifier; mc-letter: multiple choice, the model writes "
                             "the letter; mc-logprob: multiple choice, each option scored by its log-probability "
                             "(--data: MMLU-style JSON/JSONL/CSV, or task:NAME / task:all for the built-in "
                             "multiple-choice tasks)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_ray_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Runs ``minireason eval`` on the parsed arguments; returns the exit status (0 on success)."""
    check_results_path(args.out)
    if args.mode != "generate":
        return _run_multiple_choice(args)
    problems = _load(args.data)
    settings = _settings(args)
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


def _settings(args: argparse.Namespace):

    return EvalSettings(template=args.template, chat=args.prompt_format == "chat", enable_thinking=args.thinking,
                        batch_size=args.batch_size, max_new_tokens=args.max_new_tokens,
                        temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed,
                        max_thinking_tokens=args.max_thinking_tokens,
                        min_thinking_tokens=args.min_thinking_tokens, max_wait=args.max_wait)


def _run_multiple_choice(args: argparse.Namespace) -> int:

    settings = _settings(args)
    settings.check()
    if args.data.startswith(TASK_PREFIX):
        family, options = parse_task_name(args.data)
        records = choice_problems(family, options["n"], split=options["split"], seed=options["seed"],
                                  difficulty=options["difficulty"])
    else:
        records = load_choice_records(args.data)
    model, tokenizer = load_pretrained(args.model)
    summary = run_multiple_choice(model, tokenizer, records, args.out, args.mode, settings, limit=args.limit,
                                  progress=not args.no_progress, force_new=args.force_new,
                                  run_info={"arguments": _arguments(args)})
    print(format_choice_summary(summary))
    return 0


def check_results_path(out: str) -> None:
    """--out is read back to resume, then appended to: a regular file, or a path not there yet."""

    path = Path(out)
    # "runs/" or "runs/x/.." names a folder even before it exists (the writer would make it, then fail on it)
    if path.is_dir() or out.endswith(("/", os.sep)) or path.name in ("", ".", ".."):
        raise InputError(f"--out {out}: is a directory; expected a results .jsonl file")
    if path.exists() and not path.is_file():
        raise InputError(f"--out {out}: not a regular file; the results file is read back to resume a run, "
                         "so it must be a regular file")


def _load(data: str) -> list[dict]:

    return resolve_data(data)  # a task:NAME, or a problem file


def _arguments(args: argparse.Namespace) -> dict:
    """The command's arguments, for the results' manifest (what a reader sees made the file)."""
    return {key: value for key, value in vars(args).items()
            if isinstance(value, (str, int, float, bool)) or value is None}
