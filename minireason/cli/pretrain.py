"""``minireason pretrain``: train the tiny built-in models on the synthetic task corpus, reproducibly."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from minireason.atomic import atomic_write_text
from minireason.cli import arguments
from minireason.errors import InputError
from minireason.io.pretrained import load_pretrained
from minireason.run_folder import claim_run_folder, releasing_run_folders
from minireason.tasks import get_family
from minireason.tasks.accuracy import format_accuracy_table, task_accuracy
from minireason.training.pretrain import RECIPES, pretrain


def add_arguments(parser) -> None:
    """Adds the options of ``minireason pretrain`` to its parser."""
    parser.add_argument("--model", default="base", help="recipe to train: base, student or all")
    parser.add_argument("--out-dir", default="runs/pretrain", help="where runs and trained models go")
    parser.add_argument("--steps", type=arguments.positive_int, default=None,
                        help="override the recipe's number of steps")
    parser.add_argument("--seed", type=arguments.seed, default=None, help="override the recipe's seed")
    parser.add_argument("--no-resume", action="store_true", help="start over instead of resuming a checkpoint")
    ways = parser.add_mutually_exclusive_group()
    ways.add_argument("--mixed-strategies", action="store_true",
                      help="work each chain of thought in a way drawn at random from those its family knows "
                           "(the shipped recipes do)")
    ways.add_argument("--single-way", action="store_true",
                      help="work every chain of thought its family's default way (no mix)")
    parser.add_argument("--strategies", action="append", default=None, metavar="FAMILY=WAY,WAY",
                        help="the ways FAMILY's chains are drawn from (repeatable; default: the recipe's, "
                             "all of a family's ways where the recipe names none)")
    parser.add_argument("--refine-fraction", type=arguments.fraction, default=None,
                        help="share of chains of thought that also become self-refinement examples (0..1)")
    parser.add_argument("--eval-n", type=arguments.non_negative_int, default=50,
                        help="held-out problems per family for the final table")
    parser.add_argument("--install", action="store_true",
                        help="copy the trained model into the package (minireason/builtin/NAME)")


def chosen_strategies(texts: list[str], mixed: bool) -> dict:
    """``["addition=columns,commuted"]`` -> ``{"addition": ["columns", "commuted"]}``, each way checked
    against those its family knows; an InputError naming ``--strategies`` otherwise."""
    if not mixed:
        raise InputError("--strategies: only means something when chains mix their ways (not with --single-way)")
    chosen = {}
    for text in texts:
        family_name, _, ways = text.partition("=")
        family = get_family(family_name.strip())
        known = getattr(family, "strategies", ())
        names = [way.strip() for way in ways.split(",") if way.strip()]
        unknown = [way for way in names if way not in known]
        if not names or unknown:
            raise InputError(f"--strategies: expected {family.name}=WAY,WAY with ways from {', '.join(known) or 'none'}, "
                             f"got {text!r}")
        chosen[family.name] = names
    return chosen


TEST_SAMPLE_SIZE = 12  # problems per family in the fixed sample tests/builtin/test_builtin_models.py re-checks


def record_accuracy(model_dir, families, eval_n: int, difficulties: dict | None = None) -> dict:
    """Measure greedy accuracy per family and style and write it to MODEL_DIR/accuracy.json.

    "held_out": the first ``eval_n`` test-split problems of each family (seed 1234);
    "test_sample": the first TEST_SAMPLE_SIZE of them, which the test suite re-measures.
    """

    model, tokenizer = load_pretrained(model_dir)
    record = {
        "command": "minireason pretrain (greedy decoding, seed 1234 test-split problems)",
        "eval_n": eval_n,
        "difficulties": difficulties,
        "held_out": task_accuracy(model, tokenizer, families, n=eval_n, difficulty=difficulties),
        "test_sample_n": TEST_SAMPLE_SIZE,
        "test_sample": task_accuracy(model, tokenizer, families, n=TEST_SAMPLE_SIZE, difficulty=difficulties),
    }
    atomic_write_text(Path(model_dir) / "accuracy.json", json.dumps(record, indent=1) + "\n")
    return record


@releasing_run_folders
def run(args) -> int:
    """Runs ``minireason pretrain`` on the parsed arguments; returns the exit status (0 on success)."""
    if Path(args.out_dir).exists() and not Path(args.out_dir).is_dir():
        raise InputError(f"--out-dir {args.out_dir}: exists and is not a directory")
    names = list(RECIPES) if args.model == "all" else [args.model]
    for name in names:
        if name not in RECIPES:
            raise InputError(f"--model: expected one of {', '.join(RECIPES)} or all, got {name!r}")
    mixed = args.mixed_strategies or (not args.single_way and all(RECIPES[name].mixed_strategies for name in names))
    strategies = chosen_strategies(args.strategies, mixed) if args.strategies else None
    claim_run_folder(args.out_dir, "pretrain")  # each recipe's folder inside it is claimed by pretrain()
    for name in names:
        recipe = RECIPES[name]
        changes = {k: v for k, v in (("steps", args.steps), ("seed", args.seed),
                                     ("refine_fraction", args.refine_fraction)) if v is not None}
        if args.mixed_strategies or args.single_way:
            changes["mixed_strategies"] = args.mixed_strategies
        if strategies:
            changes["strategies"] = strategies
        recipe = dataclasses.replace(recipe, **changes)
        out_dir = Path(args.out_dir) / name
        summary = pretrain(recipe, out_dir, resume=not args.no_resume)
        print(f"[{name}] {summary['parameters']:,} parameters, {summary['steps']} steps, final loss "
              f"{summary['final_loss']:.4f}, {summary['total_seconds'] / 60:.1f} min; model in {summary['model_dir']}")
        if args.eval_n > 0:
            accuracy = record_accuracy(summary["model_dir"], recipe.families, args.eval_n, recipe.eval_difficulties)
            print(format_accuracy_table(accuracy["held_out"]))
        if args.install:
            target = Path(__file__).resolve().parent.parent / "builtin" / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(summary["model_dir"], target)
            print(f"[{name}] installed as builtin:{name} ({target})")
    return 0
