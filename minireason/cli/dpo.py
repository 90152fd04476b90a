"""``minireason dpo``: preference tuning (DPO's sigmoid loss or IPO) against a frozen reference, the
starting model itself.

A thin layer over :func:`minireason.posttrain.trainers.train_dpo`; flags are ``DPOConfig``'s fields
(``--config FILE.toml`` sets any of them), shared with ``minireason sft``.
"""

from __future__ import annotations

import argparse
import sys
import time

from minireason.cli import arguments
from minireason.cli.sft import FLAGS as SFT_FLAGS
from minireason.cli.sft import PLACE_HELP, REQUIRED

FLAGS = {
    **SFT_FLAGS,
    "--batch-size": ("batch_size", arguments.positive_int, "preference pairs per update"),
    "--loss": ("loss", str, "sigmoid (DPO: -log sigmoid(beta * margin)) or ipo ((margin - 1/(2 beta))^2)"),
    "--beta": ("beta", float, "strength of the pull towards the reference (DPO's beta, IPO's tau)"),
}
PLACES = {"model": PLACE_HELP["model"],
          "data": "preference pairs: JSON list or JSONL of prompt, chosen, rejected (minireason dpo-data writes them)"
                  + REQUIRED,
          "eval_data": PLACE_HELP["eval_data"], "out_dir": PLACE_HELP["out_dir"]}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from minireason.cli.sft import add_common_arguments

    add_common_arguments(parser, PLACES, FLAGS)
    arguments.add_hidden_alias(parser, "--pairs", dest="data", default=None)


def config_defaults() -> dict:
    """What each flag left out means (DPOConfig's defaults), for --help."""
    from minireason.posttrain.trainers import DPOConfig

    return arguments.dataclass_defaults(DPOConfig)


def run(args: argparse.Namespace) -> int:
    from minireason.cli.sft import load_eval_records, report_run, settings_from, training_problems
    from minireason.io.pretrained import load_pretrained
    from minireason.posttrain.trainers import DPOConfig, train_dpo

    places, values = settings_from(args, tuple(PLACES), ("model", "data", "out_dir"), FLAGS)
    config = DPOConfig.from_dict(values, where="dpo settings")
    eval_records = load_eval_records(places, training_problems(places["data"]))
    model, tokenizer = load_pretrained(places["model"])
    print(f"dpo: {places['model']} on {places['data']}, {config.loss} loss, beta={config.beta}, {config.steps} "
          f"steps of {config.batch_size} pairs; run in {places['out_dir']}", file=sys.stderr)
    started = time.perf_counter()
    history = train_dpo(model, tokenizer, places["data"], config, places["out_dir"], eval_records,
                        resume=not args.no_resume, progress=not args.no_progress,
                        # "pairs": the key earlier runs recorded the data under, so that they still resume
                        run_identity={"model": str(places["model"]), "pairs": str(places["data"]),
                                      "eval_data": str(places["eval_data"])},
                        log=lambda text: print(text, file=sys.stderr))
    return report_run("dpo", history, places["out_dir"], ("loss", "reward_margin", "preference_accuracy"),
                      started)
