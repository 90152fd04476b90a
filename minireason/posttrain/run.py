"""What the data-driven methods (SFT, distillation, preference tuning) share around their trainer:
the eval hook (validation figures, then held-out accuracy) and the run (data report, shared run)."""

from __future__ import annotations

from minireason.evaluation.held_out import HeldOutEvaluation
from minireason.training.run import run_training


class RunEvaluation:
    """The loop's eval hook: the trainer's validation figures, then held-out greedy accuracy
    (``evaluation.held_out.HeldOutEvaluation``: eval/step_N.json keeps each problem's verdict)."""

    def __init__(self, trainer, held_out=None):
        self.trainer, self.held_out = trainer, held_out

    def __call__(self, model, step: int, should_stop=None) -> dict:
        figures = self.trainer.validation_figures(model)
        if self.held_out is not None:
            figures.update(self.held_out(model, step, should_stop=should_stop))
        return figures


def run_method(model, tokenizer, trainer, config, out_dir, eval_records, resume, progress, identity, report,
               log) -> dict:
    """Train with the shared run (training/run.py), the data report logged first and kept in summary.json."""
    if log is not None:
        log(report.summary())
    held_out = HeldOutEvaluation.from_config(tokenizer, eval_records, out_dir, config,
                                             progress=progress) if eval_records else None
    has_validation = min(len(trainer.validation), config.validation_max_examples) > 0
    eval_fn = RunEvaluation(trainer, held_out) if held_out is not None or has_validation else None
    history = run_training(model, tokenizer, trainer, config.train_config(), out_dir, eval_fn=eval_fn,
                           eval_every=config.eval_every, resume=resume, progress=progress, identity=identity,
                           summary_extra={"data": report.as_dict()}, log=log)
    return {**history, "data": report}
