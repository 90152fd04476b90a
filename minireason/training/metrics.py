"""Metrics files: one JSON object per line (JSONL) and a CSV view of the same rows, flushed as written."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

from minireason.atomic import atomic_write, atomic_write_jsonl
from minireason.jsonl import read_jsonl_tolerant
from minireason.plotting import pyplot


class MetricsWriter:
    """Appends rows of metrics to ``DIR/NAME.jsonl`` (the record) and ``DIR/NAME.csv`` (a view); NAME is "metrics" by default.

    On resume, rows after ``resume_step`` (the checkpointed step) are dropped first, so a run restarted from a
    checkpoint does not record the same step twice.
    """

    def __init__(self, directory: str | os.PathLike, resume_step: int | None = None, name: str = "metrics"):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.jsonl_path = self.directory / f"{name}.jsonl"
        self.csv_path = self.directory / f"{name}.csv"
        self.rows = read_metrics(self.jsonl_path) if self.jsonl_path.exists() else []
        if resume_step is not None:
            self.rows = [row for row in self.rows if row.get("step", -1) <= resume_step]
        else:
            self.rows = []
        self._rewrite()

    def _rewrite(self) -> None:
        atomic_write_jsonl(self.jsonl_path, self.rows)
        self._write_csv()

    def _write_csv(self) -> None:
        columns = sorted({key for row in self.rows for key in row}, key=lambda k: (k != "step", k))
        with atomic_write(self.csv_path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(self.rows)

    def log(self, **values) -> None:
        row = {key: (float(value) if isinstance(value, float) else value) for key, value in values.items()}
        self.rows.append(row)
        with open(self.jsonl_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
            handle.flush()
        self._write_csv()


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """Rows of a metrics.jsonl file; a torn last line (from an interrupt, even one cut inside a
    multi-byte character) is ignored, a bad line elsewhere is a DataError naming file and line."""

    rows, _ = read_jsonl_tolerant(path)
    return rows


def plot_panels(out_png: str | os.PathLike, panels: list[tuple[str, list[tuple[str, list, list]]]],
                title: str | None = None, panel_height: float = 2.2) -> Path:
    """Curves against step, one panel per ``(panel title, [(label, steps, values), ...])``, into one
    PNG written atomically.  Non-finite values are left out; a panel with nothing to draw says so."""
    plt = pyplot()

    figure, axes = plt.subplots(max(len(panels), 1), 1, figsize=(7, panel_height * max(len(panels), 1)),
                                sharex=True, squeeze=False)
    try:
        for axis, (panel_title, curves) in zip(axes[:, 0], panels):
            for label, steps, values in curves:
                points = [(step, value) for step, value in zip(steps, values)
                          if isinstance(value, (int, float)) and math.isfinite(value)]
                if points:
                    axis.plot(*zip(*points), marker="o" if len(points) <= 12 else None, markersize=3, label=label)
            if axis.get_lines():
                axis.legend(fontsize=7)
            else:
                axis.text(0.5, 0.5, "not measured in this run", ha="center", va="center", transform=axis.transAxes,
                          fontsize=8, color="grey")
            axis.set_ylabel(panel_title, fontsize=9)
            axis.grid(alpha=0.3)
        axes[-1, 0].set_xlabel("step")
        if title:
            figure.suptitle(title, fontsize=9)
        figure.tight_layout()
        with atomic_write(out_png, "wb") as handle:
            figure.savefig(handle, format="png", dpi=100)
    finally:
        plt.close(figure)
    return Path(out_png)


def plot_metrics(path: str | os.PathLike, out_png: str | os.PathLike, keys: list[str] | None = None) -> Path:
    """Every numeric metric (or ``keys``) against step, one panel each, into one PNG."""
    rows = read_metrics(path)
    keys = keys or sorted({k for row in rows for k, v in row.items() if k != "step" and isinstance(v, (int, float))})
    panels = [(key, [(key, [row["step"] for row in rows if key in row], [row[key] for row in rows if key in row])])
              for key in keys]
    return plot_panels(out_png, panels)
