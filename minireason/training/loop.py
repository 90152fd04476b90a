"""The training loop every trainer shares: schedule, clipping, NaN guard, metrics, checkpoints, resume.

A trainer supplies its step (a ``Trainer``, or a plain ``step_fn(model, rng, step) -> (loss, grads,
metrics)`` for one update per step); the loop owns the optimizer, the learning-rate schedule, the
data RNG (so a resumed run draws exactly the batches an uninterrupted one would), the NaN guard,
progress display, evaluation, Ctrl-C handling and the files in ``out_dir``.  A checkpoint records
what made the run (``run_identity``); a resume onto another run's directory is refused.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minireason.device import to_module
from minireason.errors import CheckpointError, InputError, MinireasonError
from minireason.identity import describe_differences
from minireason.optim import AdamW, clip_grad_norm, cosine_schedule
from minireason.runtime import TRAIN, use_profile
from minireason.seeds import check_seed
from minireason.training.checkpoint import load_checkpoint, save_checkpoint
from minireason.training.metrics import MetricsWriter
from minireason.training.step import training_step


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
    """The settings of the shared training loop: steps, learning rate and schedule, optimizer, clipping,
    evaluation and checkpoint cadence."""
    steps: int
    learning_rate: float = 3e-3
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    schedule: str = "cosine"  # "cosine" (linear warmup, cosine decay) or "constant" (warmup, then flat)
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    accumulation_steps: int = 1  # a plain step_fn is called this many times per update, gradients averaged
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 200
    max_bad_steps: int = 5  # non-finite updates in a row before the run stops (1: stop at the first)

    def __post_init__(self):
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise InputError(f"steps must be an int >= 1, got {self.steps!r}")
        if not (self.learning_rate >= 0 and math.isfinite(self.learning_rate)):
            raise InputError(f"learning_rate must be a finite number >= 0, got {self.learning_rate!r}")
        if self.schedule not in SCHEDULES:
            raise InputError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        for name in ("warmup_steps", "log_every", "checkpoint_every", "max_bad_steps", "accumulation_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "warmup_steps" else 1):
                raise InputError(f"{name} must be an int >= {0 if name == 'warmup_steps' else 1}, got {value!r}")
        self.seed = check_seed(self.seed, "seed", allow_none=False)  # the one seed rule: an int in [0, 2**63)
        self.betas = tuple(float(beta) for beta in self.betas)
        if len(self.betas) != 2 or not all(0 <= beta < 1 for beta in self.betas):
            raise InputError(f"betas must be two numbers in [0, 1), got {self.betas!r}")

    def identity(self) -> dict:
        """The settings that change what a run computes (everything but its length and bookkeeping)."""
        skip = {"steps", "log_every", "checkpoint_every", "max_bad_steps"}
        return {key: (list(value) if isinstance(value, tuple) else value)
                for key, value in self.__dict__.items() if key not in skip}


SCHEDULES = ("cosine", "constant")


class Trainer:
    """What a trainer gives the loop.  ``step`` does one step's work and calls ``apply_update(grads)``
    once or more (several optimizer updates per batch of rollouts, as PPO's epochs and minibatches do);
    ``apply_update`` clips, checks for NaN/inf, applies the scheduled learning rate and returns the
    gradient norm.  ``state_dict``/``load_state_dict`` carry the trainer's own state (a reference
    model's identity, counters) through checkpoints, so a resume continues exactly.

    A plain ``step_fn(model, rng, step) -> (loss, grads, metrics)`` is one update per step
    (``FunctionTrainer``); the pretraining and SFT trainers are that.
    """

    updates_per_step: int = 1

    def begin(self, out_dir: Path, start_step: int, resumed: bool) -> None:
        """Called once the checkpoint (if any) is loaded, before the first step (open the trainer's files)."""

    def step(self, model, rng: np.random.Generator, step: int, apply_update) -> tuple[float, dict]:
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class FunctionTrainer(Trainer):
    """One update per step from ``step_fn(model, rng, step) -> (loss, grads, metrics)``; with
    ``accumulation_steps`` k > 1, step_fn is called k times (k micro-batches drawn in turn from the
    loop's RNG) and the update uses the mean loss and mean gradient (training/step.py): a batch k
    times larger in the memory of one.  Metrics add up over the k micro-batches."""

    def __init__(self, step_fn, accumulation_steps: int = 1):
        self.step_fn = step_fn
        self.accumulation_steps = accumulation_steps

    def step(self, model, rng, step, apply_update):
        return training_step(range(self.accumulation_steps), lambda _: self.step_fn(model, rng, step), apply_update,
                             mean_of=self.accumulation_steps)


class _InterruptFlag:
    """The first Ctrl-C asks the loop to stop after the current step (then it checkpoints that
    step and returns); a second one interrupts at once.  Only in the main thread, where Python
    delivers signals."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.getsignal(signal.SIGINT)

            def handler(signum, frame):
                if self.requested:
                    raise KeyboardInterrupt
                self.requested = True
                print("\ninterrupt: finishing this step, then writing a checkpoint (Ctrl-C again to stop now)",
                      file=sys.stderr, flush=True)

            signal.signal(signal.SIGINT, handler)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


def check_run_identity(saved: dict | None, current: dict, out_dir) -> None:
    """A resume continues only the run that wrote the checkpoint: refuse, naming the settings that differ."""
    if saved is None:
        return
    differing = describe_differences(saved, current)
    if differing:
        raise CheckpointError(f"{out_dir} holds a checkpoint of another run ({differing}); use another output "
                              f"directory, or start over (--no-resume / resume=False)")


def train(model, step_fn, config: TrainConfig, out_dir, resume: bool = True, progress: bool = True,
          eval_fn=None, eval_every: int = 0, run_identity: dict | None = None) -> dict:
    """Run ``config.steps`` steps on ``model.params`` in place. Returns a summary dict.

    step_fn: a ``Trainer`` or a plain ``step_fn(model, rng, step) -> (loss, grads, metrics)``.
    eval_fn(model, step, should_stop) -> dict of figures, written to ``out_dir/eval.jsonl`` with the step
    (``should_stop()`` turns true at the first Ctrl-C, for an evaluation to end between batches): before
    the first step of a new run (step 0), after every ``eval_every`` steps (0: never between) and after
    the last; the figures also join that step's metrics row.
    run_identity: JSON-able facts that make this run what it is (data, model, trainer settings); a
    checkpoint written with other facts, or with another TrainConfig.identity(), is refused on resume.
    """
    trainer = step_fn if isinstance(step_fn, Trainer) else FunctionTrainer(step_fn, config.accumulation_steps)
    # where training starts: the process settings for it (minireason/runtime.py), the previous ones after
    with use_profile(TRAIN), _InterruptFlag() as interrupt:
        return _train_steps(model, trainer, config, out_dir, resume, progress, eval_fn, eval_every,
                            {"train_config": config.identity(), **(run_identity or {})}, interrupt)


def _train_steps(model, trainer: Trainer, config: TrainConfig, out_dir, resume, progress, eval_fn, eval_every,
                 identity: dict, interrupt: _InterruptFlag) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    optimizer = AdamW(config.learning_rate, betas=config.betas, weight_decay=config.weight_decay)
    rng = np.random.default_rng(config.seed)
    start_step = 0
    checkpoint = load_checkpoint(out_dir) if resume else None
    if checkpoint is not None:
        params, optimizer_state, state = checkpoint
        check_checkpoint_fits(params, model.params, out_dir)
        check_run_identity(state.get("identity"), json.loads(json.dumps(identity)), out_dir)
        if int(state["step"]) > config.steps:
            raise CheckpointError(f"{out_dir} holds a checkpoint at step {state['step']}, past the {config.steps} "
                                  f"steps asked for; ask for at least {state['step']} steps or use another directory")
        module = model.array_module  # the checkpoint is on the host; the model may be on a GPU
        for name, value in params.items():
            model.params[name][...] = to_module(value, module)
        optimizer.load_state_dict({name: to_module(value, module) for name, value in optimizer_state.items()})
        rng.bit_generator.state = state["rng_state"]
        trainer.load_state_dict(state.get("trainer", {}))
        start_step = int(state["step"])
    resumed = checkpoint is not None
    metrics = MetricsWriter(out_dir, resume_step=start_step if resumed else None)
    evaluations = MetricsWriter(out_dir, resume_step=start_step if resumed else None, name="eval") \
        if eval_fn is not None else None

    def checkpoint_now(step: int) -> None:
        save_checkpoint(out_dir, model.params, optimizer.state_dict(),
                        {"step": step, "rng_state": rng.bit_generator.state, "train_config": config.__dict__,
                         "identity": identity, "trainer": trainer.state_dict()})

    def evaluate(step: int) -> dict:
        # the first Ctrl-C also ends a running evaluation between its batches
        figures = eval_fn(model, step, should_stop=lambda: interrupt.requested)
        evaluations.log(step=step, **figures)
        return figures

    trainer.begin(out_dir, start_step, resumed)
    if evaluations is not None and start_step == 0:
        evaluate(0)
        if interrupt.requested:  # Ctrl-C during the first evaluation: no step was taken, nothing to keep
            return {"steps": config.steps, "resumed_from": 0, "final_loss": float("nan"), "skipped_steps": 0,
                    "seconds": 0.0, "metrics": str(metrics.jsonl_path), "interrupted": True, "last_step": 0}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=config.steps, initial=start_step, desc="train", unit="step", dynamic_ncols=True)
    total_updates = config.steps * trainer.updates_per_step
    bad_updates_in_a_row, skipped, last_loss = 0, 0, float("nan")
    update_figures: list[dict] = []

    def apply_update(grads) -> float:
        nonlocal bad_updates_in_a_row, skipped
        grads, grad_norm = clip_grad_norm(grads, config.max_grad_norm)
        if not math.isfinite(grad_norm):
            bad_updates_in_a_row += 1
            skipped += 1
            if bad_updates_in_a_row >= config.max_bad_steps:
                raise TrainingDiverged(f"loss or gradient not finite for {bad_updates_in_a_row} update(s) in a row "
                                       f"(step {step + 1}); the last checkpoint in {out_dir} is intact; "
                                       f"lower the learning rate")
            return grad_norm
        bad_updates_in_a_row = 0
        update_index = optimizer.step_count
        if config.schedule == "constant":
            learning_rate = config.learning_rate * min(1.0, (update_index + 1) / max(config.warmup_steps, 1))
        else:
            learning_rate = cosine_schedule(update_index, config.learning_rate, config.warmup_steps, total_updates,
                                            config.min_lr_ratio)
        optimizer.step(model.params, grads, learning_rate)
        update_figures.append({"grad_norm": grad_norm, "lr": learning_rate})
        return grad_norm

    started = time.perf_counter()
    losses = []
    interrupted = False
    step = start_step
    for step in range(start_step, config.steps):
        update_figures.clear()
        loss, step_metrics = trainer.step(model, rng, step, apply_update)
        if bad_updates_in_a_row and not update_figures:  # every update of the step was skipped (non-finite)
            continue
        if not update_figures:  # the trainer found nothing to learn from (e.g. no group with signal)
            update_figures.append({"grad_norm": 0.0, "lr": float("nan")})
        last_loss = loss
        losses.append(loss)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}")
        if (step + 1) % config.log_every == 0 or step + 1 == config.steps:
            row = dict(step=step + 1, loss=float(np.mean(losses[-config.log_every:])),
                       lr=update_figures[-1]["lr"], grad_norm=float(np.mean([f["grad_norm"] for f in update_figures])),
                       seconds=time.perf_counter() - started, **step_metrics)
            if evaluations is not None and ((eval_every and (step + 1) % eval_every == 0) or step + 1 == config.steps):
                row.update(evaluate(step + 1))
            metrics.log(**row)
        if (step + 1) % config.checkpoint_every == 0 or step + 1 == config.steps or interrupt.requested:
            checkpoint_now(step + 1)
        if interrupt.requested:
            interrupted = True
            break
    if bar is not None:
        bar.close()
    return {"steps": config.steps, "resumed_from": start_step, "final_loss": last_loss, "skipped_steps": skipped,
            "seconds": time.perf_counter() - started, "metrics": str(metrics.jsonl_path),
            "interrupted": interrupted, "last_step": step + 1 if interrupted else config.steps}
