"""The training loop every trainer shares: schedule, clipping, NaN guard, metrics, checkpoints, resume.

A trainer supplies ``step_fn(model, rng, step) -> (loss, grads, metrics)``; the loop owns
the optimizer, the learning-rate schedule, the data RNG (so a resumed run draws exactly the
batches an uninterrupted one would), progress display and the files in ``out_dir``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minireason.device import to_module
from minireason.errors import CheckpointError, MinireasonError
from minireason.optim import AdamW, clip_grad_norm, cosine_schedule
from minireason.training.blas_threads import blas_threads_sleeping
from minireason.training.checkpoint import load_checkpoint, save_checkpoint
from minireason.training.memory import keep_freed_memory_for_reuse
from minireason.training.metrics import MetricsWriter


class TrainingDiverged(MinireasonError):
    """The loss or gradient was not finite for too many steps in a row."""


def check_checkpoint_fits(saved: dict, params: dict, out_dir) -> None:
    """A checkpoint resumes only the model it was written for: same parameter names and shapes."""
    missing, unexpected = sorted(set(params) - set(saved)), sorted(set(saved) - set(params))
    if missing or unexpected:
        raise CheckpointError(f"checkpoint in {out_dir} does not fit this model: missing {missing[:3]}, "
                              f"unexpected {unexpected[:3]}; use another output directory or start over")
    for name, value in saved.items():
        if value.shape != params[name].shape:
            raise CheckpointError(f"checkpoint in {out_dir}: {name} has shape {value.shape}, the model "
                                  f"{params[name].shape}; use another output directory or start over")


@dataclass
class TrainConfig:
    steps: int
    learning_rate: float = 3e-3
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 200
    max_bad_steps: int = 5
    keep_freed_memory: bool = True  # glibc keeps freed activation memory for the next step (training/memory.py)
    blas_threads_sleep: bool = True  # OpenBLAS's threads sleep between products during the run (training/blas_threads.py)


def train(model, step_fn, config: TrainConfig, out_dir, resume: bool = True, progress: bool = True,
          eval_fn=None, eval_every: int = 0) -> dict:
    """Run ``config.steps`` optimizer steps on ``model.params`` in place. Returns a summary dict."""
    if config.keep_freed_memory:
        keep_freed_memory_for_reuse()
    with blas_threads_sleeping(config.blas_threads_sleep):
        return _train_steps(model, step_fn, config, out_dir, resume, progress, eval_fn, eval_every)


def _train_steps(model, step_fn, config: TrainConfig, out_dir, resume, progress, eval_fn, eval_every) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    optimizer = AdamW(config.learning_rate, betas=(0.9, 0.95), weight_decay=config.weight_decay)
    rng = np.random.default_rng(config.seed)
    start_step = 0
    checkpoint = load_checkpoint(out_dir) if resume else None
    if checkpoint is not None:
        params, optimizer_state, state = checkpoint
        check_checkpoint_fits(params, model.params, out_dir)
        module = model.array_module  # the checkpoint is on the host; the model may be on a GPU
        for name, value in params.items():
            model.params[name][...] = to_module(value, module)
        optimizer.load_state_dict({name: to_module(value, module) for name, value in optimizer_state.items()})
        rng.bit_generator.state = state["rng_state"]
        start_step = int(state["step"])
    metrics = MetricsWriter(out_dir, resume_step=start_step if checkpoint is not None else None)

    def checkpoint_now(step: int) -> None:
        save_checkpoint(out_dir, model.params, optimizer.state_dict(),
                        {"step": step, "rng_state": rng.bit_generator.state, "train_config": config.__dict__})

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=config.steps, initial=start_step, desc="train", unit="step", dynamic_ncols=True)
    bad_steps_in_a_row, skipped, last_loss = 0, 0, float("nan")
    started = time.perf_counter()
    losses = []
    for step in range(start_step, config.steps):
        loss, grads, step_metrics = step_fn(model, rng, step)
        grads, grad_norm = clip_grad_norm(grads, config.max_grad_norm)
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            bad_steps_in_a_row += 1
            skipped += 1
            if bad_steps_in_a_row >= config.max_bad_steps:
                raise TrainingDiverged(f"loss or gradient not finite for {bad_steps_in_a_row} steps in a row "
                                       f"(step {step}); lower the learning rate")
            continue
        bad_steps_in_a_row = 0
        learning_rate = cosine_schedule(step, config.learning_rate, config.warmup_steps, config.steps,
                                        config.min_lr_ratio)
        optimizer.step(model.params, grads, learning_rate)
        last_loss = loss
        losses.append(loss)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}")
        if (step + 1) % config.log_every == 0 or step + 1 == config.steps:
            row = dict(step=step + 1, loss=float(np.mean(losses[-config.log_every:])), lr=learning_rate,
                       grad_norm=grad_norm, seconds=time.perf_counter() - started, **step_metrics)
            if eval_fn is not None and eval_every and ((step + 1) % eval_every == 0 or step + 1 == config.steps):
                row.update(eval_fn(model))
            metrics.log(**row)
        if (step + 1) % config.checkpoint_every == 0 or step + 1 == config.steps:
            checkpoint_now(step + 1)
    if bar is not None:
        bar.close()
    return {"steps": config.steps, "resumed_from": start_step, "final_loss": last_loss, "skipped_steps": skipped,
            "seconds": time.perf_counter() - started, "metrics": str(metrics.jsonl_path)}
