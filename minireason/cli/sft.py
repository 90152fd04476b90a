"""``minireason sft``: supervised fine-tuning on teacher traces or (prompt, completion) records.

A thin layer over :func:`minireason.posttrain.sft.train_sft`: every flag is a field of
``SFTConfig``; ``--config FILE.toml`` sets any of them (same names, underscores), flags on the
command line override the file.  ``minireason distill`` and ``minireason dpo`` share this module's
flags and settings reader.
"""

from __future__ import annotations

import argparse
import sys
import time

from minireason.cli import arguments
from minireason.errors import DataError, InputError
from minireason.evaluation.paired import format_paired
from minireason.evaluation.prompts import default_prompt_format
from minireason.io.pretrained import load_pretrained
from minireason.posttrain.data import read_records
from minireason.posttrain.sft import SFTConfig, train_sft
from minireason.run_folder import claim_run_folder, releasing_run_folders
from minireason.tasks.export import resolve_data
from minireason.training.run import start_line

# flag -> (config field, type, help); defaults come from the config dataclass
FLAGS = {
    "--steps": ("steps", arguments.positive_int, "optimizer updates"),
    "--batch-size": ("batch_size", arguments.positive_int, "sequences per update"),
    "--micro-batch-size": ("micro_batch_size", arguments.positive_int, "sequences per forward/backward (bounds memory)"),
    "--max-tokens": ("max_tokens", arguments.positive_int, "prompt + completion limit; longer examples are dropped"),
    "--length-buckets": ("length_buckets", arguments.positive_int, "batches are drawn from one of this many length "
                                                                  "buckets"),
    "--validation-fraction": ("validation_fraction", float, "share of prompts (by hash) held out for the validation "
                                                            "loss"),
    "--lr": ("learning_rate", float, "learning rate (AdamW)"),
    "--warmup-steps": ("warmup_steps", arguments.non_negative_int, "linear warmup, in updates"),
    "--schedule": ("schedule", str, "cosine (to min_lr_ratio) or constant"),
    "--weight-decay": ("weight_decay", float, "AdamW weight decay"),
    "--max-grad-norm": ("max_grad_norm", float, "gradient clipping"),
    "--seed": ("seed", arguments.seed, "seed of batch choice (and on-policy sampling)"),
    "--prompt-format": ("prompt_format", str, "plain (built-in models) or chat (Qwen3 chat template); default "
                                              "from the model"),
    "--max-new-tokens": ("max_new_tokens", arguments.positive_int, "completion limit of held-out evaluation (and of "
                                                                   "on-policy samples)"),
    "--eval-max-new-tokens": ("eval_max_new_tokens", arguments.positive_int, "completion limit of held-out "
                                                                             "evaluation"),
    "--eval-every": ("eval_every", arguments.non_negative_int, "validation loss and held-out accuracy every N steps "
                                                               "(and at step 0 and the end)"),
    "--eval-batch-size": ("eval_batch_size", arguments.positive_int, "prompts per greedy generation batch"),
    "--checkpoint-every": ("checkpoint_every", arguments.positive_int, "checkpoint every N steps"),
}
REQUIRED = " (required, here or in --config)"
PLACE_HELP = {
    "model": "starting model: builtin:NAME or a Hugging Face Qwen3 directory" + REQUIRED,
    "data": "training records: teacher traces (problem, message_thinking, message_content; minireason distill-data "
            "writes them) or prompt, completion; a JSON list or JSONL file" + REQUIRED,
    "eval_data": "held-out problems for greedy accuracy: task:NAME?split=test&... or a MATH-style JSON/JSONL file",
    "out_dir": "run directory (metrics, checkpoints, final model)" + REQUIRED,
}


def add_common_arguments(parser: argparse.ArgumentParser, places: dict[str, str], flags: dict) -> None:
    """Adds the options every sequence trainer (sft, distill, dpo, simpo) shares: its input places, ``--config``, ``--no-resume`` and the trainer settings in ``flags``."""
    for place, text in places.items():
        parser.add_argument("--" + place.replace("_", "-"), dest=place, default=None, help=text)
    parser.add_argument("--config", default=None, help="TOML file with any of the settings below (flags override)")
    parser.add_argument("--no-resume", action="store_true", help="start over even if OUT_DIR has a checkpoint")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    for flag, (field, kind, text) in flags.items():
        parser.add_argument(flag, dest=field, type=kind, default=None, help=text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the options of ``minireason sft`` to its parser."""
    add_common_arguments(parser, PLACE_HELP, FLAGS)


def config_defaults(command: str | None = None) -> dict:
    """What each flag left out means (SFTConfig's defaults), for --help."""

    return arguments.dataclass_defaults(SFTConfig)


def settings_from(args: argparse.Namespace, places: tuple[str, ...], required: tuple[str, ...],
                  flags: dict, model_place: str = "model") -> tuple[dict, dict]:
    """(the run's places, config fields): the TOML file's, then the flags'; the prompt format defaults
    from the model (plain for builtin:*, chat otherwise)."""

    values = arguments.read_toml_config(args.config) if args.config else {}
    found = {key: values.pop(key, None) for key in places}
    for key in places:
        if getattr(args, key, None) is not None:
            found[key] = getattr(args, key)
    for field, _kind, _text in flags.values():
        if getattr(args, field, None) is not None:
            values[field] = getattr(args, field)
    missing = [f"--{key.replace('_', '-')}" for key in required if not found[key]]
    if missing:
        raise InputError(f"missing {', '.join(missing)} (on the command line or in --config)")
    if "betas" in values:
        values["betas"] = tuple(values["betas"])
    values.setdefault("prompt_format", default_prompt_format(str(found[model_place])))
    return found, values


def load_eval_records(places: dict, train_problems: set[str]):
    """Held-out problems (or None), refusing any that the training records share."""

    if not places.get("eval_data"):
        return None
    records = resolve_data(places["eval_data"])
    overlap = train_problems & {record["problem"] for record in records}
    if overlap:
        raise DataError(f"--eval-data shares {len(overlap)} problem(s) with the training data, e.g. "
                        f"{sorted(overlap)[0]!r}; held-out problems must not be trained on")
    return records


def training_problems(source) -> set[str]:
    """The problem texts of a training file's records (for the held-out overlap check)."""

    found, _ = read_records(source)
    return {record["problem"] for _, record in found if isinstance(record, dict)
            and isinstance(record.get("problem"), str)}


def report_run(command: str, history: dict, out_dir: str, keys: tuple[str, ...], started: float) -> int:
    """Print the end of a run: time, the last step's figures, the held-out comparison, the files.

    ``started``: ``time.perf_counter()`` before the training call, so that the time printed is the
    whole run's (held-out evaluations, step 0's included, and saving), not the loop's steps alone."""

    summary = history["summary"]
    if summary["interrupted"]:
        print(f"{command}: interrupted after step {summary['last_step']}; the checkpoint in {out_dir} resumes it "
              f"(run the same command again)")
        return 130
    print(f"{command}: {summary['steps']} steps in {(time.perf_counter() - started) / 60:.1f} min, held-out "
          f"evaluation included"
          + (f" (resumed from step {summary['resumed_from']})" if summary["resumed_from"] else ""))
    rows = history["metrics"]
    if rows:
        print("  last step: " + ", ".join(f"{key} {rows[-1][key]:.4g}" for key in keys
                                           if isinstance(rows[-1].get(key), (int, float))))
    evaluations = history["eval"]
    if evaluations and "validation_loss" in evaluations[-1]:
        print(f"  validation loss {evaluations[0].get('validation_loss', float('nan')):.4f} -> "
              f"{evaluations[-1]['validation_loss']:.4f}")
    if history["paired"] is not None:
        print(f"  held-out accuracy (greedy): {format_paired(history['paired'])}")
    print(f"  files: {out_dir}/metrics.csv, eval.jsonl, final/ (plot: minireason plot {out_dir})")
    return 0


@releasing_run_folders
def run(args: argparse.Namespace) -> int:
    """Runs ``minireason sft`` on the parsed arguments; returns the exit status (0 on success)."""
    places, values = settings_from(args, ("model", "data", "eval_data", "out_dir"), ("model", "data", "out_dir"),
                                   FLAGS)
    config = SFTConfig.from_dict(values, where="sft settings")
    folder = claim_run_folder(places["out_dir"], "sft")  # before loading anything: a user's folder is refused
    print(start_line("sft", folder, config.steps, resume=not args.no_resume), file=sys.stderr)
    eval_records = load_eval_records(places, training_problems(places["data"]))
    model, tokenizer = load_pretrained(places["model"])
    print(f"sft: {places['model']} on {places['data']}, {config.steps} steps of {config.batch_size} sequences, "
          f"{config.prompt_format} format; run in {places['out_dir']}", file=sys.stderr)
    started = time.perf_counter()
    history = train_sft(model, tokenizer, places["data"], config, places["out_dir"], eval_records,
                        resume=not args.no_resume, progress=not args.no_progress,
                        run_identity={key: str(places[key]) for key in ("model", "data", "eval_data")},
                        log=lambda text: print(text, file=sys.stderr))
    return report_run("sft", history, places["out_dir"], ("loss", "tokens_per_second"), started)
