"""What the demo reports: a row of the results table, the paired-comparison fields, the table as
text, and report.json / run.json."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from minireason.atomic import atomic_write_text
from minireason.evaluation.paired import paired_comparison


@dataclass
class StageRow:
    """One line of the results table (and of report.json's ``stages``)."""

    stage: str
    method: str
    problems: int
    accuracy: float
    tokens_per_problem: float
    seconds: float
    extra: dict = field(default_factory=dict)  # paired comparison (gained, lost, p_value), tokens/s, ...

    FIELDS = ("stage", "method", "problems", "accuracy", "tokens_per_problem", "seconds")

    def as_dict(self) -> dict:
        """The row as one JSON object: the six fields and the extra ones beside them."""
        return {**{name: getattr(self, name) for name in self.FIELDS}, **self.extra}

    @classmethod
    def from_dict(cls, row: dict) -> StageRow:
        """The inverse of :meth:`as_dict`: the six fields, and every other key into ``extra``."""
        return cls(*(row[name] for name in cls.FIELDS), {key: value for key, value in row.items() if key not in cls.FIELDS})


def comparison_fields(comparison: dict, against: str) -> dict:
    """A report row's fields for a paired comparison (``evaluation.paired.paired_comparison``'s
    result): what the row is compared with, on how many problems, gained, lost, p-value."""
    return {"compared_with": against, "compared_problems": comparison["problems"],
            "accuracy_before": comparison["accuracy_before"], "gained": comparison["gained"],
            "lost": comparison["lost"], "p_value": comparison["p_value"]}


def paired_fields(before: Sequence[bool], after: Sequence[bool], against: str) -> dict:
    """:func:`comparison_fields` of two lists of verdicts on the same problems."""
    return comparison_fields(paired_comparison(list(before), list(after)), against)


def before_after_rows(stage: str, history: dict, seconds: float, extra_after: dict) -> list[StageRow]:
    """The rows of a training stage from its history: held-out accuracy at step 0 ("before") and at
    the last step ("after", paired against "before")."""
    evaluations = [row for row in history["eval"] if "eval_accuracy" in row]
    first, last = evaluations[0], evaluations[-1]
    before = StageRow(stage, "before", first["eval_problems"], first["eval_accuracy"],
                      first["eval_tokens_per_problem"], first["eval_seconds"], {"step": first["step"]})
    after = StageRow(stage, "after", last["eval_problems"], last["eval_accuracy"], last["eval_tokens_per_problem"],
                     seconds - first["eval_seconds"],
                     {"step": last["step"], **comparison_fields(history["paired"], "before"), **extra_after})
    return [before, after]


def format_rows(rows: Sequence[StageRow]) -> str:
    """The results table, stage under stage: method, problems, held-out accuracy, tokens per problem,
    seconds, and the paired comparison (or decode speed) where the row has one."""
    header = (f"{'stage':<13} {'method':<10} {'problems':>8} {'accuracy':>8} {'tokens/problem':>14} "
              f"{'seconds':>8}  notes")
    lines = [header, "-" * (len(header) + 40)]
    for index, row in enumerate(rows):
        if index and rows[index - 1].stage != row.stage:
            lines.append("")  # each stage's results together, under their own stage
        extra = row.extra
        if "tokens_per_second" in extra:
            note = f"{extra['tokens_per_second']:,.0f} tokens/s"
        elif "gained" in extra:
            change = 100 * (row.accuracy - extra["accuracy_before"])
            note = (f"vs {extra['compared_with']} ({extra['accuracy_before']:.1%} on these {extra['compared_problems']}):"
                    f" {change:+.1f} pts, {extra['gained']} gained, {extra['lost']} lost, p={extra['p_value']:.2g}")
        else:
            note = ""
        lines.append(f"{row.stage:<13} {row.method:<10} {row.problems:>8} {row.accuracy:>8.1%} "
                     f"{row.tokens_per_problem:>14.1f} {row.seconds:>8.1f}  {note}".rstrip())
    return "\n".join(lines)


def machine_load() -> dict:
    """CPU count and load averages, so a reader can judge the timings."""
    try:
        one, five, fifteen = os.getloadavg()
    except (AttributeError, OSError):
        one = five = fifteen = None
    return {"cpus": os.cpu_count(), "load_1min": one, "load_5min": five, "load_15min": fifteen}


@dataclass
class DemoReport:
    """What a demo run measured: the table's rows, the targets judged, the plots and the output folder."""
    rows: list[StageRow]
    total_seconds: float
    out_dir: Path
    targets: list[dict]
    plots: dict

    def as_report(self) -> dict:
        """report.json: every row (stage, method, problems, accuracy, tokens_per_problem, seconds, and
        the row's extra fields) and the total time."""
        return {"stages": [row.as_dict() for row in self.rows], "total_seconds": self.total_seconds}

    def write(self, settings, stages: Sequence[str]) -> None:
        """report.json and run.json (the settings, the stages run, the targets, the plots, the machine)."""
        atomic_write_text(self.out_dir / "report.json", json.dumps(self.as_report(), indent=1) + "\n")
        atomic_write_text(self.out_dir / "run.json", json.dumps({
            "settings": settings.as_dict(), "stages": list(stages), "held_out_data": settings.held_out_data(),
            "targets": self.targets, "plots": self.plots, "machine": machine_load(),
            "total_seconds": self.total_seconds, "written_at": time.strftime("%Y-%m-%dT%H:%M:%S")}, indent=1) + "\n")
