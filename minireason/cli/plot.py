"""``minireason plot RUN``: the curves of a training run in one PNG (works while the run is going)."""

from __future__ import annotations

import argparse
from pathlib import Path

# the panels of an RL run, in order; each shows whichever of its keys the run has
RL_PANELS = [
    ("reward", ["reward_mean"]),
    ("accuracy", ["accuracy", "eval_accuracy"]),
    ("KL to reference", ["kl"]),
    ("entropy", ["entropy"]),
    ("response length", ["response_length_mean", "response_length_max"]),
    ("clip fraction", ["clip_fraction_low", "clip_fraction_high"]),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="run directory (holding metrics.jsonl, and eval.jsonl if evaluated)")
    parser.add_argument("--out", default=None, help="PNG path (default: RUN/curves.png)")


def plot_run(run_dir, out_png=None) -> Path:
    """Reward, held-out accuracy, KL, entropy, response length and clip fractions against step (RL
    runs), or every numeric metric (other runs); one PNG, written atomically."""
    from minireason.errors import DataError
    from minireason.training.metrics import plot_metrics, plot_panels, read_metrics

    run_dir = Path(run_dir)
    metrics_path = run_dir / "metrics.jsonl"
    if not metrics_path.is_file():
        raise DataError(f"{run_dir}: no metrics.jsonl (not a training run directory, or it has not logged a step yet)")
    out_png = Path(out_png) if out_png is not None else run_dir / "curves.png"
    rows = read_metrics(metrics_path)
    if not any("reward_mean" in row for row in rows):
        return plot_metrics(metrics_path, out_png)
    evaluations = read_metrics(run_dir / "eval.jsonl") if (run_dir / "eval.jsonl").is_file() else []
    panels = []
    for title, keys in RL_PANELS:
        curves = []
        for key in keys:
            source = evaluations if key == "eval_accuracy" else rows
            label = "held-out (greedy)" if key == "eval_accuracy" else key
            curves.append((label, [row["step"] for row in source if key in row], [row[key] for row in source if key in row]))
        panels.append((title, curves))
    return plot_panels(out_png, panels, title=str(run_dir), panel_height=2.1)


def run(args: argparse.Namespace) -> int:
    path = plot_run(args.run, args.out)
    print(f"wrote {path}")
    return 0
