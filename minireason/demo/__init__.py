"""The main job: every stage of a reasoning model, run live and measured (``minireason demo``).

    generation    greedy decoding with and without the KV cache: the same tokens, tokens/s of each
    direct        the built-in base model answers held-out problems directly (greedy), graded by the judge
    scaling       chain of thought, self-consistency, best-of-N, self-refinement and a thinking budget
                  (``budget@N``: at most N thinking tokens): accuracy against tokens
    grpo          GRPO from the base model: held-out accuracy before and after, the reward curve
    distillation  the built-in student taught by the base model (logit distillation on the base model's
                  verified traces) against the student as shipped

One module per stage, each a short script of the public API (``run(context) -> rows``); this module
checks what it can, claims the output folders (``folders.py``), runs the stages and writes the report.

On a machine with two cores or more (Linux), GRPO, the longest stage, trains in a forked child
process while this one runs the other stages (``DemoSettings.parallel``; ``beside.py``); the figures
are the same as one stage after another, only the wall time changes.  Every progress line begins
with its stage's name (``[grpo] ...``), so lines of the two processes still say whose they are.

Every figure is measured in the run, on fixed seeds and held-out (test-split) problems of one built-in
task family; training uses train-split problems, which never share a problem with the test split
(``tasks.base.split_of``).  GRPO and distillation are judged on at least 1,000 held-out problems with
the paired comparison of ``evaluation/paired.py`` (problems gained and lost, exact McNemar p-value):
the two evaluations see the same problems, so only the problems that changed say anything.

:func:`run_demo` is the Python API; ``minireason demo`` is a thin layer over it.  It writes, into
the output folder, ``report.json`` (``{"stages": [{"stage", "method", "problems", "accuracy",
"tokens_per_problem", "seconds", ...}], "total_seconds"}``), ``run.json`` (the settings, the demo's
targets against what was measured, the machine's load), the plots, and each stage's own folder.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from minireason import runtime
from minireason.demo import direct, distillation, generation, grpo, scaling
from minireason.demo.beside import ChildStage
from minireason.demo.context import DemoContext, stderr_log
from minireason.demo.folders import claim_demo_folders
from minireason.demo.generation import decode_without_cache
from minireason.demo.report import DemoReport, StageRow, format_rows
from minireason.demo.settings import STAGES, DemoSettings
from minireason.demo.targets import check_targets
from minireason.errors import InputError
from minireason.io.pretrained import resolve_checkpoint_path
from minireason.tasks.export import resolve_data

__all__ = ["STAGES", "DemoSettings", "DemoReport", "StageRow", "check_targets", "decode_without_cache",
           "format_rows", "run_demo", "stderr_log"]

STAGE_MODULES = {"generation": generation, "direct": direct, "scaling": scaling, "grpo": grpo,
                 "distillation": distillation}
STAGE_FUNCTIONS = {name: module.run for name, module in STAGE_MODULES.items()}


def check_before_running(settings: DemoSettings, stages: Sequence[str]) -> None:
    """What a stage would refuse minutes into the run, refused before the first: a checkpoint that
    is not there, a sampling temperature or a scaling method the runner does not take."""
    resolve_checkpoint_path(settings.model)
    if "distillation" in stages:
        resolve_checkpoint_path(settings.student)
    if "scaling" in stages:
        scaling.method_specs(settings)
        scaling.scaling_settings(settings)


def run_stage(context: DemoContext, name: str, number: int, total: int) -> list[StageRow]:
    """One stage, between a line naming it and a line with its time."""
    log = context.stage_log(name)
    started = time.perf_counter()
    log(f"stage {number}/{total}: {STAGE_MODULES[name].TITLE}")
    rows = STAGE_FUNCTIONS[name](context)
    log(f"done in {time.perf_counter() - started:.1f} s")
    return rows


def runs_beside(settings: DemoSettings, ordered: Sequence[str]) -> bool:
    """GRPO runs in a child process beside the other stages when there are other stages, two cores
    or more, and fork (Linux): the child starts before any model is loaded, so it shares nothing
    but the imported modules."""
    return (settings.parallel and "grpo" in ordered and len(ordered) > 1 and (os.cpu_count() or 1) >= 2
            and sys.platform.startswith("linux"))


def start_beside(context: DemoContext, name: str, number: int, total: int) -> ChildStage:
    """Stage ``name`` in a forked child, on one BLAS thread; its rows and plots come back as JSON."""
    def work(child_log: Callable[[str], None] | None) -> dict:
        context.log = child_log  # this is the child's copy of the context: its lines go through the pipe
        with runtime.blas_threads(1):
            rows = run_stage(context, name, number, total)
        return {"rows": [row.as_dict() for row in rows],
                "plots": {key: str(path) for key, path in context.plots.items()}}

    child = ChildStage(name, work, context.out_dir / f".{name}_stage.json", context.log)
    context.stage_log(name)(f"running in process {child.pid}, beside the other stages")
    return child


def run_demo(settings: DemoSettings | None = None, stages: Sequence[str] | None = None,
             out_dir: str | os.PathLike = "runs/demo", log: Callable[[str], None] | None = stderr_log) -> DemoReport:
    """Run the chosen stages (all by default, in pipeline order), write report.json, run.json and the
    plots into ``out_dir``; progress goes to ``log`` (stderr by default; None: silent).

    Everything that can be checked is checked before the first stage, the folders included: a
    refusal leaves nothing written."""
    settings = settings or DemoSettings()
    chosen = list(STAGES) if stages is None else list(stages)
    unknown = [name for name in chosen if name not in STAGES]
    if unknown or not chosen:
        raise InputError(f"demo stage: expected some of {', '.join(STAGES)}, got {', '.join(unknown) or 'none'}")
    ordered = [name for name in STAGES if name in chosen]
    check_before_running(settings, ordered)
    held_out = resolve_data(settings.held_out_data())
    folders = claim_demo_folders(out_dir, ordered)
    try:
        return _run_claimed(settings, ordered, DemoContext(settings, folders.out.path, log, held_out))
    finally:
        folders.release()


def _run_claimed(settings: DemoSettings, ordered: list[str], context: DemoContext) -> DemoReport:
    started = time.perf_counter()
    numbers = {name: number for number, name in enumerate(ordered, start=1)}
    beside = start_beside(context, "grpo", numbers["grpo"], len(ordered)) if runs_beside(settings, ordered) else None
    stage_rows: dict[str, list[StageRow]] = {}
    try:
        # with two cores, GRPO (the longest stage) trains in a child process while this one runs the rest;
        # each side on one BLAS thread so the two do not fight over the cores
        with runtime.blas_threads(1) if beside is not None else contextlib.nullcontext():
            for name in ordered:
                if beside is None or name != "grpo":
                    stage_rows[name] = run_stage(context, name, numbers[name], len(ordered))
        if beside is not None:
            result = beside.wait()
            context.plots.update({key: Path(path) for key, path in result["plots"].items()})
            stage_rows["grpo"] = [StageRow.from_dict(row) for row in result["rows"]]
    except BaseException:
        if beside is not None:
            beside.stop()
        raise
    rows = [row for name in ordered for row in stage_rows[name]]
    report = DemoReport(rows, time.perf_counter() - started, context.out_dir, check_targets(rows),
                        {name: str(path) for name, path in context.plots.items()})
    report.write(settings, ordered)
    return report
