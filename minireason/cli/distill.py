"""``minireason distill``: logit distillation of a teacher into a student (forward KL, reverse KL or
generalised JSD at a temperature; teacher top-k; on-policy with probability lambda).

A thin layer over :func:`minireason.posttrain.distill.train_distill`; flags are ``DistillConfig``'s
fields (``--config FILE.toml`` sets any of them), shared with ``minireason sft``.
"""

from __future__ import annotations

import argparse
import sys
import time

from minireason.cli import arguments
from minireason.cli.sft import FLAGS as SFT_FLAGS
from minireason.cli.sft import (
    PLACE_HELP,
    REQUIRED,
    add_common_arguments,
    load_eval_records,
    report_run,
    settings_from,
    training_problems,
)
from minireason.io.pretrained import load_pretrained
from minireason.posttrain.distill import DistillConfig, train_distill
from minireason.run_folder import claim_run_folder, releasing_run_folders
from minireason.training.run import start_line

FLAGS = {
    **SFT_FLAGS,
    "--loss": ("loss", str, "fkl (forward KL(teacher || student)), rkl (reverse KL) or jsd (generalised "
                            "Jensen-Shannon with --beta)"),
    "--beta": ("beta", float, "jsd's interpolation in (0, 1): near 0 like fkl, near 1 like rkl"),
    "--temperature": ("temperature", float, "tau: both distributions at logits / tau, the loss times tau^2"),
    "--top-k": ("top_k", arguments.non_negative_int, "the teacher's top-k tokens per position, both distributions "
                                                     "renormalised there (0: the whole vocabulary)"),
    "--lambda-on-policy": ("lambda_on_policy", float, "probability that a step trains on the student's own "
                                                      "samples of its prompts (GKD)"),
    "--sample-temperature": ("sample_temperature", float, "the student's sampling temperature on on-policy steps"),
    "--chunk-positions": ("chunk_positions", arguments.positive_int, "positions per chunk of the loss"),
}
PLACES = {"student": "the model to train: builtin:NAME or a Hugging Face Qwen3 directory" + REQUIRED,
          "teacher": "the teacher (same tokenizer as the student): builtin:NAME or a directory" + REQUIRED,
          "data": PLACE_HELP["data"].replace(REQUIRED, "") + " (on-policy steps use its prompts)" + REQUIRED,
          "eval_data": PLACE_HELP["eval_data"], "out_dir": PLACE_HELP["out_dir"]}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the options of ``minireason distill`` to its parser."""
    add_common_arguments(parser, PLACES, FLAGS)


def config_defaults(command: str | None = None) -> dict:
    """What each flag left out means (DistillConfig's defaults), for --help."""

    return arguments.dataclass_defaults(DistillConfig)


@releasing_run_folders
def run(args: argparse.Namespace) -> int:
    """Runs ``minireason distill`` on the parsed arguments; returns the exit status (0 on success)."""
    places, values = settings_from(args, tuple(PLACES), ("student", "teacher", "data", "out_dir"), FLAGS,
                                   model_place="student")
    config = DistillConfig.from_dict(values, where="distill settings")
    folder = claim_run_folder(places["out_dir"], "distill")  # before loading anything: a user's folder is refused
    print(start_line("distill", folder, config.steps, resume=not args.no_resume), file=sys.stderr)
    eval_records = load_eval_records(places, training_problems(places["data"]))
    model, tokenizer = load_pretrained(places["student"])
    teacher, teacher_tokenizer = load_pretrained(places["teacher"])
    print(f"distill: {places['teacher']} -> {places['student']}, {config.loss} at tau={config.temperature}"
          + (f", top-{config.top_k}" if config.top_k else "")
          + (f", on-policy with probability {config.lambda_on_policy}" if config.lambda_on_policy else "")
          + f", {config.steps} steps of {config.batch_size} sequences; run in {places['out_dir']}", file=sys.stderr)
    started = time.perf_counter()
    history = train_distill(model, tokenizer, teacher, teacher_tokenizer, places["data"], config, places["out_dir"],
                            eval_records, resume=not args.no_resume, progress=not args.no_progress,
                            run_identity={key: str(places[key]) for key in ("student", "teacher", "data", "eval_data")},
                            log=lambda text: print(text, file=sys.stderr))
    return report_run("distill", history, places["out_dir"], ("loss", "kl_teacher_student", "tokens_per_second"),
                      started)
