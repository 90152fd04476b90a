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
from minireason.evaluation.held_out import (  # noqa: F401 - re-exported: the trainers' eval hook
    HeldOutEvaluation,
    paired_before_after,
    read_eval_details,
)


def run_training(model, tokenizer, trainer, train_config, out_dir, *, eval_fn=None, eval_every: int = 0,
                 resume: bool = True, progress: bool = True, identity: dict | None = None,
                 summary_extra: dict | None = None, log: Callable[[str], None] | None = None) -> dict:
    """Train with the shared loop, then write final/ (unless interrupted) and summary.json.

    Returns the run's history: {"summary", "metrics" (rows), "eval" (rows), "paired" (the held-out
    before/after comparison, or None without held-out evaluations at step 0 and later)}.
    """
    from minireason.atomic import atomic_write_text
    from minireason.evaluation.paired import format_paired
    from minireason.io.pretrained import save_pretrained
    from minireason.training.loop import train
    from minireason.training.metrics import read_metrics

    out_dir = Path(out_dir)
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
