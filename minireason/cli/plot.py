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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from minireason.atomic import atomic_write
    from minireason.errors import DataError
    from minireason.training.metrics import plot_metrics, read_metrics

    run_dir = Path(run_dir)
    metrics_path = run_dir / "metrics.jsonl"
    if not metrics_path.is_file():
        raise DataError(f"{run_dir}: no metrics.jsonl (not a training run directory, or it has not logged a step yet)")
    out_png = Path(out_png) if out_png is not None else run_dir / "curves.png"
    rows = read_metrics(metrics_path)
    if not any("reward_mean" in row for row in rows):
        return plot_metrics(metrics_path, out_png)
    evaluations = read_metrics(run_dir / "eval.jsonl") if (run_dir / "eval.jsonl").is_file() else []
    figure, axes = plt.subplots(len(RL_PANELS), 1, figsize=(7, 2.1 * len(RL_PANELS)), sharex=True)
    try:
        for axis, (title, keys) in zip(axes, RL_PANELS):
            for key in keys:
                source = evaluations if key == "eval_accuracy" else rows
                points = [(row["step"], row[key]) for row in source
                          if isinstance(row.get(key), (int, float)) and row[key] == row[key]]
                if points:
                    label = "held-out (greedy)" if key == "eval_accuracy" else key
                    axis.plot(*zip(*points), marker="o" if key == "eval_accuracy" else None, markersize=3,
                              label=label)
            if not axis.get_lines():
                axis.text(0.5, 0.5, "not measured in this run", ha="center", va="center", transform=axis.transAxes,
                          fontsize=8, color="grey")
            axis.set_ylabel(title, fontsize=9)
            axis.grid(alpha=0.3)
            if len(axis.get_lines()) > 1:
                axis.legend(fontsize=7)
        axes[-1].set_xlabel("step")
        figure.suptitle(str(run_dir), fontsize=9)
        figure.tight_layout()
        with atomic_write(out_png, "wb") as handle:
            figure.savefig(handle, format="png", dpi=100)
    finally:
        plt.close(figure)
    return out_png


def run(args: argparse.Namespace) -> int:
    path = plot_run(args.run, args.out)
    print(f"wrote {path}")
    return 0
