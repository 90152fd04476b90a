"""Stage ``distillation``: the base model's verified traces of train-split problems (rejection
sampling), then logit distillation (forward KL to the base model's distribution) of the student on
them; held-out accuracy of the student before and after, paired."""

from __future__ import annotations

import time

from minireason.demo.context import DemoContext
from minireason.demo.report import StageRow, before_after_rows
from minireason.demo.settings import PROMPT_FORMAT
from minireason.evaluation.paired import format_paired
from minireason.io.pretrained import load_pretrained
from minireason.posttrain.distill import DistillConfig, train_distill
from minireason.posttrain.teacher_data import SamplingSettings, sample_traces
from minireason.tasks.export import resolve_data
from minireason.training.metrics import plot_panels

TITLE = "distillation: the student taught by the base model"


def run(context: DemoContext) -> list[StageRow]:
    """The distillation stage: the student's held-out accuracy before and after distilling from the base model."""
    settings, log = context.settings, context.stage_log("distillation")
    started = time.perf_counter()
    teacher, teacher_tokenizer = context.shipped(settings.model)
    folder = context.stage_folder("distillation")
    data_name = settings.train_data(settings.distill_problems)
    traces_path = folder / "traces.jsonl"
    sampling = SamplingSettings(model=settings.model, data=data_name, samples=settings.distill_samples,
                                temperature=1.0, max_new_tokens=settings.max_new_tokens, seed=settings.seed,
                                prompt_format=PROMPT_FORMAT, problems_per_batch=32)
    counts = sample_traces(teacher, teacher_tokenizer, resolve_data(data_name), sampling, traces_path, progress=False)
    trace_seconds = time.perf_counter() - started
    log(f"teacher traces: {counts['written']} verified of {counts['sampled']} sampled "
        f"({settings.distill_samples} per problem, {settings.distill_problems} problems) in {trace_seconds:.1f} s")

    student, student_tokenizer = load_pretrained(settings.student)
    config = DistillConfig(steps=settings.distill_steps, batch_size=settings.distill_batch_size,
                           micro_batch_size=settings.distill_batch_size,
                           learning_rate=settings.distill_learning_rate, warmup_steps=min(10, settings.distill_steps),
                           seed=settings.seed, prompt_format=PROMPT_FORMAT, max_new_tokens=settings.max_new_tokens,
                           eval_every=settings.distill_eval_every, checkpoint_every=settings.distill_steps,
                           loss="fkl")
    history = train_distill(student, student_tokenizer, teacher, teacher_tokenizer, str(traces_path), config,
                            folder / "run", eval_records=context.held_out, resume=False, progress=False)
    seconds = time.perf_counter() - started
    extra = {"steps": config.steps, "teacher": settings.model, "traces": counts["written"],
             "trace_seconds": trace_seconds, "train_seconds": history["summary"]["seconds"]}
    log(f"held-out accuracy of {settings.student} {format_paired(history['paired'])}")
    metrics, evaluations = history["metrics"], history["eval"]
    validation = [row for row in evaluations if "validation_loss" in row]
    plot_panels(context.out_dir / "distillation_curves.png", title=f"{settings.student} distilled from {settings.model}",
                panels=[
        ("loss", [("training (forward KL)", [row["step"] for row in metrics], [row["loss"] for row in metrics]),
                  ("validation", [row["step"] for row in validation], [row["validation_loss"] for row in validation])]),
        ("held-out accuracy", [("greedy chain of thought", [row["step"] for row in evaluations],
                                [row["eval_accuracy"] for row in evaluations])]),
    ])
    context.plots["distillation_curves"] = context.out_dir / "distillation_curves.png"
    return before_after_rows("distillation", history, seconds, extra)
