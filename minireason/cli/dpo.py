"""``minireason dpo`` (and every pairwise preference method registered on this module): preference
tuning on (prompt, chosen, rejected) pairs.

The command's name picks the method: ``minireason NAME`` runs ``minireason.posttrain.NAME``'s
``TRAINER`` with its ``CONFIG``.  Flags are ``minireason sft``'s plus the config's own fields that
carry a ``help`` in their metadata (``--config FILE.toml`` sets any of them).  So a new preference
method is one file in minireason/posttrain/ and one line in cli/main.py's command table.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
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
from minireason.posttrain.dpo import train_preference
from minireason.run_folder import claim_run_folder, releasing_run_folders
from minireason.training.run import start_line

PLACES = {"model": PLACE_HELP["model"],
          "data": "preference pairs: JSON list or JSONL of prompt, chosen, rejected (minireason dpo-data writes them)"
                  + REQUIRED,
          "eval_data": PLACE_HELP["eval_data"], "out_dir": PLACE_HELP["out_dir"]}


def method_module(command: str):
    """The posttrain module of the preference method a command names (``dpo``, ``simpo``, ...)."""
    return importlib.import_module(f"minireason.posttrain.{command}")


def method_flags(config_class) -> dict:
    """SFT's flags and the method's own: a ``--name`` for each config field with a ``help`` in its metadata."""
    flags = {**SFT_FLAGS, "--batch-size": ("batch_size", arguments.positive_int, "preference pairs per update")}
    for field in dataclasses.fields(config_class):
        if "help" in field.metadata:
            flags["--" + field.name.replace("_", "-")] = (field.name, type(field.default), field.metadata["help"])
    return flags


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the options of ``minireason dpo`` to its parser."""
    command = parser.prog.split()[-1]
    add_common_arguments(parser, PLACES, method_flags(method_module(command).CONFIG))
    arguments.add_hidden_alias(parser, "--pairs", dest="data", default=None)


def config_defaults(command: str = "dpo") -> dict:
    """What each flag left out means (the method's config defaults), for --help."""
    return arguments.dataclass_defaults(method_module(command).CONFIG)


@releasing_run_folders
def run(args: argparse.Namespace) -> int:
    """Runs ``minireason dpo`` on the parsed arguments; returns the exit status (0 on success)."""
    command = args.command
    method = method_module(command)
    places, values = settings_from(args, tuple(PLACES), ("model", "data", "out_dir"), method_flags(method.CONFIG))
    config = method.CONFIG.from_dict(values, where=f"{command} settings")
    folder = claim_run_folder(places["out_dir"], command)  # before loading anything: a user's folder is refused
    print(start_line(command, folder, config.steps, resume=not args.no_resume), file=sys.stderr)
    eval_records = load_eval_records(places, training_problems(places["data"]))
    model, tokenizer = load_pretrained(places["model"])
    own = ", ".join(f"{field.name}={getattr(config, field.name)}" for field in dataclasses.fields(config)
                    if "help" in field.metadata)
    print(f"{command}: {places['model']} on {places['data']}, {own}, {config.steps} steps of {config.batch_size} "
          f"pairs; run in {places['out_dir']}", file=sys.stderr)
    started = time.perf_counter()
    history = train_preference(model, tokenizer, places["data"], config, places["out_dir"], eval_records,
                               resume=not args.no_resume, progress=not args.no_progress,
                               # "pairs": the key earlier runs recorded the data under, so that they still resume
                               run_identity={"model": str(places["model"]), "pairs": str(places["data"]),
                                             "eval_data": str(places["eval_data"])},
                               log=lambda text: print(text, file=sys.stderr), trainer_class=method.TRAINER,
                               name=command)
    return report_run(command, history, places["out_dir"], ("loss", "reward_margin", "preference_accuracy"),
                      started)
