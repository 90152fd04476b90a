"""Stage ``grpo``: GRPO on train-split problems from the base model as shipped; held-out accuracy at
step 0, every ``grpo_eval_every`` steps and the last, the paired before/after comparison, and the
reward curve."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from minireason.demo.context import DemoContext
from minireason.demo.report import StageRow, before_after_rows
from minireason.demo.settings import PROMPT_FORMAT
from minireason.evaluation.paired import format_paired
from minireason.io.pretrained import load_pretrained
from minireason.posttrain.grpo import GRPOConfig, train_grpo
from minireason.tasks.export import resolve_data
from minireason.training.metrics import plot_panels

TITLE = "GRPO from the base model"


def trailing_mean(values: Sequence[float], window: int) -> list[float]:
    """The mean of each value and the up to ``window - 1`` before it (a noisy per-step curve, smoothed)."""
    sums = np.cumsum(np.asarray(values, dtype=np.float64))
    return [float((sums[i] - (sums[i - window] if i >= window else 0.0)) / min(i + 1, window))
            for i in range(len(values))]


def run(context: DemoContext) -> list[StageRow]:
    """The GRPO stage: held-out accuracy of the base model before and after GRPO, with its curves."""
    settings, log = context.settings, context.stage_log("grpo")
    started = time.perf_counter()
    model, tokenizer = load_pretrained(settings.model)  # its own copy: training changes it in place
    train_records = resolve_data(settings.train_data(settings.grpo_train_problems))
    config = GRPOConfig(steps=settings.grpo_steps, prompts_per_step=settings.grpo_prompts_per_step,
                        group_size=settings.grpo_group_size, learning_rate=settings.grpo_learning_rate,
                        temperature=1.0, max_new_tokens=settings.max_new_tokens, seed=settings.seed,
                        eval_every=settings.grpo_eval_every, checkpoint_every=settings.grpo_steps,
                        sample_every=0, prompt_format=PROMPT_FORMAT)
    log(f"{config.steps} steps of {config.prompts_per_step} prompts x {config.group_size} samples, "
        f"lr {config.learning_rate:g}; held-out evaluation on {len(context.held_out)} problems")
    history = train_grpo(model, tokenizer, train_records, config, context.stage_folder("grpo"),
                         eval_records=context.held_out, resume=False, progress=False, log=None)
    seconds = time.perf_counter() - started

    metrics = history["metrics"]
    reward_steps = [row["step"] for row in metrics if "reward_mean" in row]
    rewards = [row["reward_mean"] for row in metrics if "reward_mean" in row]
    extra = {"steps": config.steps, "train_seconds": history["summary"]["seconds"],
             "reward_first": rewards[0] if rewards else None,
             "reward_last_10_mean": float(np.mean(rewards[-10:])) if rewards else None}
    log(f"held-out accuracy {format_paired(history['paired'])}")
    plot_panels(context.out_dir / "grpo_curves.png", title=f"GRPO from {settings.model}", panels=[
        ("reward (mean of P x G)", [("reward per step", reward_steps, rewards),
                                    ("mean of the last 10 steps", reward_steps, trailing_mean(rewards, 10))]),
        ("held-out accuracy", [("greedy chain of thought", [row["step"] for row in history["eval"]],
                                [row["eval_accuracy"] for row in history["eval"]])]),
    ])
    context.plots["grpo_curves"] = context.out_dir / "grpo_curves.png"
    return before_after_rows("grpo", history, seconds, extra)
