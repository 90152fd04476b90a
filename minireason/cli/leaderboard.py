"""``minireason leaderboard``: rank models from pairwise comparisons on the same prompts.

Every model answers the prompts of ``--data`` (one resumable ``minireason eval`` run each, in
``--out-dir``); every pair of models is then compared on every prompt, by the verifier (the right
answer beats the wrong one; two right or two wrong tie) or, with ``--judge MODEL``, by a judge model
that sees both answers in both orders. Bradley-Terry strengths with bootstrap intervals over prompts,
online Elo (and its range over orders) and the ranked table are printed; ``leaderboard.json``,
``comparisons.jsonl`` and ``leaderboard.png`` are written to ``--out-dir``.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from minireason.atomic import atomic_write_jsonl, atomic_write_text
from minireason.cli import arguments
from minireason.errors import InputError
from minireason.evaluation.leaderboard import (
    format_leaderboard,
    leaderboard,
    plot_leaderboard,
    verifier_comparisons,
)
from minireason.evaluation.model_judge import ModelJudge, agreement_with_verifier
from minireason.evaluation.prompts import default_prompt_format
from minireason.evaluation.runs import EvalSettings, read_records, run_evaluation
from minireason.io.pretrained import load_pretrained
from minireason.tasks.export import resolve_data


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the options of ``minireason leaderboard`` to its parser."""
    parser.add_argument("--models", nargs="+", required=True,
                        help="two or more checkpoint directories or builtin:NAME (a run's final/, a checkpoint)")
    parser.add_argument("--names", nargs="+", default=None, help="a short name per model for the table")
    parser.add_argument("--data", required=True, help="problems: a JSON/JSONL file or a task such as task:addition?n=200")
    parser.add_argument("--out-dir", required=True, help="folder for each model's answers, the comparisons, "
                        "leaderboard.json and leaderboard.png; re-running resumes the answers")
    parser.add_argument("--limit", type=arguments.positive_int, default=None, help="use the first N problems")
    parser.add_argument("--template", default="short-cot",
                        help="the prompt around each problem (see minireason eval --template)")
    parser.add_argument("--prompt-format", choices=("auto", "plain", "chat"), default="auto",
                        help="auto: plain for builtin models, chat for others")
    parser.add_argument("--max-new-tokens", type=arguments.positive_int, default=256, help="completion limit")
    parser.add_argument("--batch-size", type=arguments.positive_int, default=8, help="problems per generation batch")
    parser.add_argument("--judge", default=None,
                        help="decide each pair by this judge model (both orders) instead of the verifier")
    parser.add_argument("--judge-max-new-tokens", type=arguments.positive_int, default=256,
                        help="the judge's reply limit")
    parser.add_argument("--bootstrap", type=arguments.positive_int, default=200, help="bootstrap resamples of the prompts")
    parser.add_argument("--seed", type=arguments.seed, default=0, help="seed of the bootstrap and of Elo's orders")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "model"


def run(args: argparse.Namespace) -> int:
    """Runs ``minireason leaderboard`` on the parsed arguments; returns the exit status (0 on success)."""
    if len(args.models) < 2:
        raise InputError(f"--models: expected two or more models, got {len(args.models)}")
    names = args.names or [_slug(model.removeprefix("builtin:")) for model in args.models]
    if len(names) != len(args.models) or len(set(names)) != len(names):
        raise InputError(f"--names: expected {len(args.models)} distinct names, got {args.names!r}")
    out_dir = Path(args.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out-dir {out_dir}: exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    problems = resolve_data(args.data)
    answers = []
    for index, (path, name) in enumerate(zip(args.models, names)):
        prompt_format = default_prompt_format(path) if args.prompt_format == "auto" else args.prompt_format
        settings = EvalSettings(template=args.template, chat=prompt_format == "chat", batch_size=args.batch_size,
                                max_new_tokens=args.max_new_tokens)
        model, tokenizer = load_pretrained(path)
        results = out_dir / f"answers_{index}_{_slug(name)}.jsonl"
        summary = run_evaluation(model, tokenizer, problems, results, settings, limit=args.limit,
                                 progress=not args.no_progress, run_info={"model": path})
        records = read_records(results)
        answers.append(records)
        print(f"{name}: accuracy {summary['accuracy']:.1%} ({summary['correct']}/{summary['total']})")
        del model
    correct = [[bool(record["correct"]) for record in records] for records in answers]
    comparisons = verifier_comparisons(correct)
    agreement = None
    if args.judge is not None:
        comparisons, agreement = _judged_comparisons(args, answers, comparisons)
    rows = leaderboard(names, comparisons, samples=args.bootstrap, seed=args.seed)
    for row in rows:
        row["accuracy"] = sum(correct[names.index(row["model"])]) / len(correct[0])
    print(f"\n{len(comparisons)} comparisons on {len(correct[0])} prompts, decided by "
          f"{'the judge ' + args.judge if args.judge else 'the verifier'}")
    print(format_leaderboard(rows))
    if agreement is not None:
        print(f"judge: agreement with the verifier {agreement['agreement']:.1%} on {agreement['decidable']} pairs "
              f"with one right answer; orders disagreed on {agreement['position_bias']:.1%}; "
              f"no verdict {agreement['no_verdict']:.1%}")
    atomic_write_jsonl(out_dir / "comparisons.jsonl",
                       [{"prompt": p, "first": names[a], "second": names[b], "outcome": o} for p, a, b, o in comparisons])
    atomic_write_text(out_dir / "leaderboard.json", json.dumps({"rows": rows, "judge": args.judge,
                                                                "judge_agreement": agreement}, indent=2) + "\n")
    try:
        plot_leaderboard(rows, out_dir / "leaderboard.png")
        print(f"plot: {out_dir / 'leaderboard.png'}")
    except ImportError:
        print("plot: skipped (pip install matplotlib)")
    return 0


def _judged_comparisons(args, answers, verifier):
    """Each pair on each prompt decided by the judge model (both orders); its agreement with the verifier."""
    model, tokenizer = load_pretrained(args.judge)
    judge = ModelJudge(model, tokenizer, prompt_format=default_prompt_format(args.judge),
                       max_new_tokens=args.judge_max_new_tokens, batch_size=args.batch_size)
    pairs = [(prompt, first, second) for prompt, first, second, _ in verifier]
    judgements = judge.judge_pairs([answers[0][prompt]["problem"] for prompt, _, _ in pairs],
                                   [answers[first][prompt]["generated"] for prompt, first, _ in pairs],
                                   [answers[second][prompt]["generated"] for prompt, _, second in pairs])
    outcome = {"first": 1.0, "second": 0.0, "tie": 0.5, None: 0.5}
    comparisons = [(prompt, first, second, outcome[j["verdict"]]) for (prompt, first, second), j in zip(pairs, judgements)]
    agreement = agreement_with_verifier(judgements, [answers[first][prompt]["correct"] for prompt, first, _ in pairs],
                                        [answers[second][prompt]["correct"] for prompt, _, second in pairs])
    return comparisons, agreement
