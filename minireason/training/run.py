"""A fine-tuning run around the shared loop: held-out evaluation, then final weights and summary.

Every trainer that starts from a model and judges it on held-out problems (GRPO, SFT, logit
distillation, DPO) runs the same way:

    train(...)                    the shared loop (training/loop.py): steps, checkpoints, resume
      eval hook every N steps     HeldOutEvaluation (evaluation/held_out.py): greedy accuracy through
                                  the one evaluation core, each problem's verdict kept
    paired before/after           evaluation/paired.py on the first and last evaluations
    final/ and summary.json       a Hugging Face directory of the trained weights; the run's summary

:func:`run_training` is that sequence, once; ``train_grpo`` and the posttrain methods' ``train_*``
build their trainer and identity and hand over.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import minireason.tasks  # noqa: F401 - hands the task families' verifiers to the judge (rewards, held-out records)
from minireason.atomic import atomic_write_text
from minireason.evaluation.held_out import HeldOutEvaluation, paired_before_after
from minireason.evaluation.paired import format_paired
from minireason.identity import json_sha256
from minireason.io.pretrained import check_finite_weights, save_pretrained
from minireason.run_folder import RunFolder, claim_run_folder
from minireason.training.checkpoint import checkpoint_step
from minireason.training.loop import train
from minireason.training.metrics import read_metrics


def start_line(command: str, folder: RunFolder, steps: int, resume: bool = True) -> str:
    """A training command's first line: whether it resumes (and where), so it never reads like a fresh run."""
    step = checkpoint_step(folder.path)
    if step is None:
        return f"{command}: new run in {folder.path}" + (" (no checkpoint in it yet)" if folder.resumed else "")
    if not resume:
        return f"{command}: starting over in {folder.path} (its checkpoint at step {step} is replaced)"
    return f"{command}: resuming {folder.path} at step {step} of {steps}"


def _method_name(identity: dict | None) -> str:
    """The training method an identity describes: its first setting that is a group of settings
    (``{"sft": config.identity(), ...}`` -> ``"sft"``)."""
    return next((key for key, value in (identity or {}).items() if isinstance(value, dict)), "train")


def _held_out_records(eval_fn) -> list[dict] | None:
    """The held-out problems of ``eval_fn``: a HeldOutEvaluation, or an evaluation holding one as
    ``held_out``."""
    held_out = eval_fn if isinstance(eval_fn, HeldOutEvaluation) else getattr(eval_fn, "held_out", None)
    return held_out.records if isinstance(held_out, HeldOutEvaluation) else None


def run_training(model, tokenizer, trainer, train_config, out_dir, *, eval_fn=None, eval_every: int = 0,
                 resume: bool = True, progress: bool = True, identity: dict | None = None,
                 summary_extra: dict | None = None, log: Callable[[str], None] | None = None,
                 command: str | None = None) -> dict:
    """Train with the shared loop, then write final/ (unless interrupted) and summary.json.

    ``out_dir`` is claimed as ``command``'s run folder first (minireason/run_folder.py; ``command``
    defaults to the method ``identity`` names), and the weights to train (and a trainer's ``teacher``
    or ``reference`` model) must be finite, before the step-0 evaluation.  The held-out problems'
    contents join the identity a resume must match.
    Returns the run's history: {"summary", "metrics" (rows), "eval" (rows), "paired" (the held-out
    before/after comparison, or None without held-out evaluations at step 0 and later)}.
    """

    out_dir = Path(out_dir)
    with claim_run_folder(out_dir, command or _method_name(identity)):
        check_finite_weights(model.params, "the model to train")
        for role in ("teacher", "reference"):  # the other models a trainer may hold
            other = getattr(trainer, role, None)
            other = getattr(other, "model", other)  # a FrozenReference holds its model
            if other is not None:
                check_finite_weights(other.params, f"the {role} model")
        held_out = _held_out_records(eval_fn)
        if held_out is not None:
            identity = {**(identity or {}), "eval_data_sha256": json_sha256(held_out)}
        summary = train(model, trainer, train_config, out_dir, resume=resume, progress=progress,
                        eval_fn=eval_fn, eval_every=eval_every, run_identity=identity)
        paired = paired_before_after(out_dir)
        if not summary["interrupted"]:
            save_pretrained(out_dir / "final", model, tokenizer)
        summary = {**summary, "paired": paired, "out_dir": str(out_dir), **(summary_extra or {})}
        atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=1) + "\n")
    if log is not None and paired is not None:
        log(f"held-out accuracy {format_paired(paired)}")
    metrics = read_metrics(out_dir / "metrics.jsonl") if (out_dir / "metrics.jsonl").exists() else []
    evaluations = read_metrics(out_dir / "eval.jsonl") if (out_dir / "eval.jsonl").exists() else []
    return {"summary": summary, "metrics": metrics, "eval": evaluations, "paired": paired}
