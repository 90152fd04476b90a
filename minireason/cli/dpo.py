"""``minireason dpo``: preference tuning (DPO's sigmoid loss or IPO) against a frozen reference, the
starting model itself.

A thin layer over :func:`minireason.posttrain.trainers.train_dpo`; flags are ``DPOConfig``'s fields
(``--config FILE.toml`` sets any of them), shared with ``minireason sft``.
"""

from __future__ import annotations

import argparse
import sys

from minireason.cli.sft import FLAGS as SFT_FLAGS
from minireason.cli.sft import PLACE_HELP
from minireason.run_folder import claim_run_folder, releasing_run_folders
from minireason.training.run import start_line

FLAGS = {
    **SFT_FLAGS,
    "--loss": ("loss", str, "sigmoid (DPO: -log sigmoid(beta * margin)) or ipo ((margin - 1/(2 beta))^2)"),
    "--beta": ("beta", float, "strength of the pull towards the reference (DPO's beta, IPO's tau)"),
}
PLACES = {"model": PLACE_HELP["model"],
          "pairs": "preference pairs: JSON list or JSONL of prompt, chosen, rejected (minireason dpo-data writes them)",
          "eval_data": PLACE_HELP["eval_data"], "out_dir": PLACE_HELP["out_dir"]}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from minireason.cli.sft import add_common_arguments

    add_common_arguments(parser, PLACES, FLAGS)


@releasing_run_folders
def run(args: argparse.Namespace) -> int:
    from minireason.cli.sft import load_eval_records, report_run, settings_from, training_problems
    from minireason.io.pretrained import load_pretrained
    from minireason.posttrain.trainers import DPOConfig, train_dpo

    places, values = settings_from(args, tuple(PLACES), ("model", "pairs", "out_dir"), FLAGS)
    config = DPOConfig.from_dict(values, where="dpo settings")
    folder = claim_run_folder(places["out_dir"], "dpo")  # before loading anything: a user's folder is refused
    print(start_line("dpo", folder, config.steps, resume=not args.no_resume), file=sys.stderr)
    eval_records = load_eval_records(places, training_problems(places["pairs"]))
    model, tokenizer = load_pretrained(places["model"])
    print(f"dpo: {places['model']} on {places['pairs']}, {config.loss} loss, beta={config.beta}, {config.steps} "
          f"steps of {config.batch_size} pairs; run in {places['out_dir']}", file=sys.stderr)
    history = train_dpo(model, tokenizer, places["pairs"], config, places["out_dir"], eval_records,
                        resume=not args.no_resume, progress=not args.no_progress,
                        run_identity={key: str(places[key]) for key in ("model", "pairs", "eval_data")},
                        log=lambda text: print(text, file=sys.stderr))
    return report_run("dpo", history, places["out_dir"], ("loss", "reward_margin", "preference_accuracy"))
