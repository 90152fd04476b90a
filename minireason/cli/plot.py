"""``minireason plot RUN``: the curves of a training run in one PNG (works while the run is going).

Each training method has its chosen panels (``PANELS``): what a reader judges the run by, with the
training figure and its held-out counterpart in one panel where both exist, and held-out accuracy
from the evaluation at step 0. Bookkeeping figures (seconds, token counts) are left out. A run of no
known method (``pretrain``) gets one panel per numeric metric.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from minireason.errors import DataError
from minireason.training.metrics import plot_metrics, plot_panels, read_metrics

TRAINING, HELD_OUT = "metrics", "eval"  # the file a curve comes from: metrics.jsonl or eval.jsonl
HELD_OUT_ACCURACY = ("held-out accuracy", [(HELD_OUT, "eval_accuracy", "held-out (greedy)")])
GRADIENT_NORM = ("gradient norm", [(TRAINING, "grad_norm", "before clipping")])
VALIDATED_LOSS = ("loss", [(TRAINING, "loss", "training"), (HELD_OUT, "validation_loss", "validation")])

# method -> [(panel title, [(file, key, legend label), ...]), ...]; a panel shows whichever curves the run has
PANELS: dict[str, list[tuple[str, list[tuple[str, str, str]]]]] = {
    "grpo": [
        ("reward", [(TRAINING, "reward_mean", "mean over rollouts")]),
        ("accuracy", [(TRAINING, "accuracy", "rollouts (sampled)"), (HELD_OUT, "eval_accuracy", "held-out (greedy)")]),
        ("KL to reference", [(TRAINING, "kl", "KL estimate")]),
        ("entropy", [(TRAINING, "entropy", "per token")]),
        ("response length", [(TRAINING, "response_length_mean", "mean"), (TRAINING, "response_length_max", "max")]),
        ("clip fraction", [(TRAINING, "clip_fraction_low", "low"), (TRAINING, "clip_fraction_high", "high")]),
    ],
    "sft": [
        ("loss (NLL per token)", [(TRAINING, "loss", "training"), (HELD_OUT, "validation_loss", "validation")]),
        HELD_OUT_ACCURACY,
        ("learning rate", [(TRAINING, "lr", "AdamW")]),
        GRADIENT_NORM,
    ],
    "distill": [
        VALIDATED_LOSS,
        ("KL(teacher || student)", [(TRAINING, "kl_teacher_student", "training"),
                                    (HELD_OUT, "validation_kl", "validation")]),
        ("NLL of the traces", [(HELD_OUT, "validation_nll", "validation")]),
        HELD_OUT_ACCURACY,
        ("on-policy sample length", [(TRAINING, "sample_length_mean", "mean")]),
        GRADIENT_NORM,
    ],
    "dpo": [
        VALIDATED_LOSS,
        ("preference accuracy", [(TRAINING, "preference_accuracy", "training"),
                                 (HELD_OUT, "validation_preference_accuracy", "validation")]),
        ("reward margin", [(TRAINING, "reward_margin", "training"),
                           (HELD_OUT, "validation_reward_margin", "validation")]),
        ("implicit rewards", [(TRAINING, "reward_chosen", "chosen"), (TRAINING, "reward_rejected", "rejected")]),
        HELD_OUT_ACCURACY,
        GRADIENT_NORM,
    ],
}
# panels drawn only when the run measured them (on-policy distillation)
OPTIONAL_PANELS = {"on-policy sample length", "NLL of the traces"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the options of ``minireason plot`` to its parser."""
    parser.add_argument("run", help="run directory (holding metrics.jsonl, and eval.jsonl if evaluated)")
    parser.add_argument("--out", default=None, help="PNG path (default: RUN/curves.png)")


def training_method(rows: list[dict]) -> str | None:
    """Which trainer wrote these metrics rows, told by the figures only it logs; None for another run."""
    keys = set().union(*rows) if rows else set()
    for method, marker in (("grpo", "reward_mean"), ("dpo", "preference_accuracy"),
                           ("distill", "kl_teacher_student")):
        if marker in keys:
            return method
    return "sft" if "tokens_per_second" in keys and "loss" in keys else None


def method_panels(method: str, rows: list[dict], evaluations: list[dict]) -> list[tuple[str, list]]:
    """``plot_panels``' panels for a run of ``method``: each chosen panel's curves as (label, steps, values)."""
    sources = {TRAINING: rows, HELD_OUT: evaluations}
    panels = []
    for title, curves in PANELS[method]:
        drawn = []
        for source, key, label in curves:
            found = [row for row in sources[source] if key in row]
            drawn.append((label, [row["step"] for row in found], [row[key] for row in found]))
        if title in OPTIONAL_PANELS and not any(steps for _, steps, _ in drawn):
            continue
        panels.append((title, drawn))
    return panels


def plot_run(run_dir, out_png=None) -> Path:
    """The run's chosen panels (``PANELS``) against step, or every numeric metric for a run of no known
    method; one PNG, written atomically."""
    run_dir = Path(run_dir)
    metrics_path = run_dir / "metrics.jsonl"
    if not metrics_path.is_file():
        raise DataError(f"{run_dir}: no metrics.jsonl (not a training run directory, or it has not logged a step yet)")
    out_png = Path(out_png) if out_png is not None else run_dir / "curves.png"
    rows = read_metrics(metrics_path)
    method = training_method(rows)
    if method is None:
        return plot_metrics(metrics_path, out_png)
    evaluations = read_metrics(run_dir / "eval.jsonl") if (run_dir / "eval.jsonl").is_file() else []
    return plot_panels(out_png, method_panels(method, rows, evaluations), title=f"{method}: {run_dir}",
                       panel_height=2.1)


def run(args: argparse.Namespace) -> int:
    """Runs ``minireason plot`` on the parsed arguments; returns the exit status (0 on success)."""
    path = plot_run(args.run, args.out)
    print(f"wrote {path}")
    return 0
