"""``minireason grpo``: reinforcement learning with verifiable rewards (GRPO and its variants).

A thin layer over :func:`minireason.posttrain.grpo.train_grpo`: every flag is a field of ``GRPOConfig``;
``--config FILE.toml`` sets any of them (same names, underscores), flags given on the command
line override the file.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from minireason.cli import arguments
from minireason.errors import DataError, InputError
from minireason.evaluation.paired import format_paired
from minireason.io.pretrained import load_pretrained
from minireason.posttrain.grpo import GRPOConfig, train_grpo
from minireason.run_folder import claim_run_folder, releasing_run_folders
from minireason.scaleout import add_ray_arguments, scale_out
from minireason.tasks.export import resolve_data
from minireason.training.run import start_line

# flag -> (GRPOConfig field, type, help); defaults come from GRPOConfig
FLAGS = {
    "--steps": ("steps", arguments.positive_int, "training steps (each: one batch of rollouts and its updates)"),
    "--prompts-per-step": ("prompts_per_step", arguments.positive_int, "P: prompts per step"),
    "--group-size": ("group_size", arguments.positive_int, "G: completions sampled per prompt"),
    "--temperature": ("temperature", float, "sampling temperature of the rollouts (the learner uses the same)"),
    "--top-p": ("top_p", float, "nucleus filter of the rollouts (1 = off; then old log-probs are recomputed)"),
    "--top-k": ("top_k", arguments.non_negative_int, "top-k filter of the rollouts (0 = off)"),
    "--max-new-tokens": ("max_new_tokens", arguments.positive_int, "length limit of a completion"),
    "--loss": ("loss", str, "policy loss: grpo (REINFORCE with group advantages on each completion's summed log-probability), "
                           "ppo (clipped), gspo, cispo"),
    "--epochs": ("epochs", arguments.positive_int, "mu: optimisation passes over each batch of rollouts"),
    "--minibatches": ("minibatches", arguments.positive_int, "optimizer updates per pass"),
    "--micro-batch-size": ("micro_batch_size", arguments.positive_int, "rows per forward/backward (bounds memory)"),
    "--clip-low": ("clip_low", float, "ratio >= 1 - clip_low (ppo, gspo)"),
    "--clip-high": ("clip_high", float, "ratio <= 1 + clip_high (ppo, gspo; clip-higher: 0.28)"),
    "--dual-clip": ("dual_clip", float, "dual-clip constant c > 1 for negative advantages (ppo)"),
    "--cispo-max": ("cispo_max", float, "CISPO's upper bound on the importance weight"),
    "--kl-beta": ("kl_beta", float, "KL(pi || reference) coefficient (0 = no reference model)"),
    "--kl-estimator": ("kl_estimator", str, "k1, k2 or k3 as the KL loss term"),
    "--entropy-coef": ("entropy_coef", float, "entropy bonus coefficient"),
    "--advantage": ("advantage", str, "group (mean, / std), rloo (leave-one-out) or dr (Dr. GRPO: no std)"),
    "--aggregation": ("aggregation", str, "token-mean, seq-mean-token-mean, seq-mean-token-sum, "
                                          "seq-mean-token-sum-norm (default: the loss's own)"),
    "--reward": ("reward", str, "weighted rewards, e.g. correctness:1,format:0.1,overlong:1"),
    "--reward-combine": ("reward_combine", str, "sum, or gdpo (each reward normalised in its group first)"),
    "--overlong-buffer": ("overlong_buffer", arguments.non_negative_int, "DAPO's soft overlong penalty ramp, in tokens"),
    "--max-sampling-tries": ("max_sampling_tries", arguments.positive_int, "with --dynamic-sampling: batches of prompts tried per step"),
    "--lr": ("learning_rate", float, "learning rate (AdamW)"),
    "--warmup-steps": ("warmup_steps", arguments.non_negative_int, "linear warmup, in optimizer updates"),
    "--weight-decay": ("weight_decay", float, "AdamW weight decay"),
    "--max-grad-norm": ("max_grad_norm", float, "gradient clipping"),
    "--seed": ("seed", arguments.seed, "seed of prompt choice and sampling (an int in [0, 2**63))"),
    "--eval-every": ("eval_every", arguments.non_negative_int, "held-out evaluation every N steps (and at step 0 and the end)"),
    "--eval-max-new-tokens": ("eval_max_new_tokens", arguments.positive_int, "length limit of evaluation completions"),
    "--sample-every": ("sample_every", arguments.non_negative_int, "write a few completions to samples.jsonl every N steps"),
    "--checkpoint-every": ("checkpoint_every", arguments.positive_int, "checkpoint every N steps"),
}
SWITCHES = {
    "--kl-in-reward": ("kl_in_reward", "fold the k1 KL estimate into the reward instead of a loss term"),
    "--batch-normalize": ("batch_normalize", "normalise advantages over the whole batch"),
    "--no-std": ("scale_by_std", "do not divide group advantages by the group's std"),
    "--mask-truncated": ("mask_truncated", "no loss on completions that hit the length limit"),
    "--keep-zero-variance": ("drop_zero_variance", "train on groups whose rewards are all equal too"),
    "--dynamic-sampling": ("dynamic_sampling", "DAPO: sample more prompts until every group has signal"),
}
INVERTED = {"--no-std", "--keep-zero-variance"}
REQUIRED = " (required, here or in --config)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the options of ``minireason grpo`` to its parser."""
    parser.add_argument("--model", default=None, help="starting model: builtin:NAME or a Hugging Face Qwen3 directory"
                        + REQUIRED)
    parser.add_argument("--data", default=None, help="training problems: task:NAME?split=train&... or a "
                        "MATH-style JSON/JSONL file with problem and answer" + REQUIRED)
    parser.add_argument("--eval-data", default=None, help="held-out problems (same forms as --data)")
    parser.add_argument("--out-dir", default=None, help="run directory (metrics, checkpoints, final model)" + REQUIRED)
    parser.add_argument("--config", default=None, help="TOML file with any of the settings below (flags override)")
    parser.add_argument("--no-resume", action="store_true", help="start over even if OUT_DIR has a checkpoint")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_ray_arguments(parser, "--rollout-workers")
    for flag, (field, kind, text) in FLAGS.items():
        parser.add_argument(flag, dest=field, type=kind, default=None, help=text)
    for flag, (field, text) in SWITCHES.items():
        parser.add_argument(flag, dest=field, action="store_const", const=flag not in INVERTED, default=None,
                            help=text)


def config_defaults(command: str | None = None) -> dict:
    """What each flag left out means (GRPOConfig's defaults), for --help."""

    return arguments.dataclass_defaults(GRPOConfig)


def settings_from(args: argparse.Namespace) -> tuple[dict, dict]:
    """(the run's places: model, data, eval_data, out_dir) and (GRPOConfig fields), file then flags."""

    values = arguments.read_toml_config(args.config) if args.config else {}
    places = {key: values.pop(key, None) for key in ("model", "data", "eval_data", "out_dir")}
    for key in places:
        if getattr(args, key) is not None:
            places[key] = getattr(args, key)
    for field, _kind, _text in FLAGS.values():
        if getattr(args, field, None) is not None:
            values[field] = getattr(args, field)
    for field, _text in SWITCHES.values():
        if getattr(args, field, None) is not None:
            values[field] = getattr(args, field)
    missing = [f"--{key.replace('_', '-')}" for key in ("model", "data", "out_dir") if not places[key]]
    if missing:
        raise InputError(f"missing {', '.join(missing)} (on the command line or in --config)")
    if "betas" in values:
        values["betas"] = tuple(values["betas"])
    if not str(places["model"]).startswith("builtin:") and "prompt_format" not in values:
        values["prompt_format"] = "chat"
    return places, values


@releasing_run_folders
def run(args: argparse.Namespace) -> int:
    """Runs ``minireason grpo`` on the parsed arguments; returns the exit status (0 on success)."""
    places, values = settings_from(args)
    config = GRPOConfig.from_dict(values, where="grpo settings")
    folder = claim_run_folder(places["out_dir"], "grpo")  # before loading anything: a user's folder is refused
    print(start_line("grpo", folder, config.steps, resume=not args.no_resume), file=sys.stderr)
    train_records = resolve_data(places["data"])
    eval_records = resolve_data(places["eval_data"]) if places["eval_data"] else None
    if eval_records is not None:
        overlap = {r["problem"] for r in train_records} & {r["problem"] for r in eval_records}
        if overlap:
            raise DataError(f"--eval-data shares {len(overlap)} problem(s) with --data, e.g. {sorted(overlap)[0]!r}; "
                            f"held-out problems must not be trained on")
    model, tokenizer = load_pretrained(places["model"])
    print(f"grpo: {config.loss} loss, {config.advantage} advantages, P={config.prompts_per_step} x "
          f"G={config.group_size}, {config.steps} steps, {len(train_records)} training problems"
          + (f", {len(eval_records)} held-out" if eval_records else "") + f"; run in {places['out_dir']}",
          file=sys.stderr)
    started = time.perf_counter()
    with scale_out(model, tokenizer, args.ray, args.workers, args.address, "--rollout-workers") as executor:
        history = train_grpo(model, tokenizer, train_records, config, places["out_dir"], eval_records,
                             resume=not args.no_resume, progress=not args.no_progress,
                             run_identity={"model": str(places["model"]), "data": str(places["data"]),
                                           "eval_data": str(places["eval_data"])}, rollout_executor=executor)
    summary = history["summary"]
    if summary["interrupted"]:
        print(f"grpo: interrupted after step {summary['last_step']}; the checkpoint in {places['out_dir']} resumes "
              f"it (run the same command again)")
        return 130
    rows = history["metrics"]
    last = rows[-1] if rows else {}
    print(f"grpo: {summary['steps']} steps in {(time.perf_counter() - started) / 60:.1f} min, held-out evaluation "
          f"included"
          + (f" (resumed from step {summary['resumed_from']})" if summary["resumed_from"] else ""))
    if last:
        print(f"  last step: reward {last.get('reward_mean', float('nan')):.3f}, training accuracy "
              f"{last.get('accuracy', float('nan')):.1%}, response length {last.get('response_length_mean', 0):.1f}")
    if history["paired"] is not None:
        print(f"  held-out accuracy (greedy): {format_paired(history['paired'])}")
    print(f"  files: {places['out_dir']}/metrics.csv, eval.jsonl, samples.jsonl, final/ "
          f"(plot: minireason plot {places['out_dir']})")
    return 0


def config_fields() -> list[str]:
    """The names of every ``GRPOConfig`` field (the keys a ``--config`` TOML file may set)."""
    return [field.name for field in dataclasses.fields(GRPOConfig)]
