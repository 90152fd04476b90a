"""Paired comparisons between training runs evaluated on the same held-out problems, family by family.

Every run of ``minireason sft / distill / dpo / grpo`` with ``--eval-data`` keeps each problem's
verdict in ``RUN/eval/step_N.json``.  Two runs evaluated on the same file can be compared pairwise
(``evaluation/paired.py``: problems gained and lost, exact McNemar p-value), which is what the
acceptance table of docs/distillation.md is made of::

    python -m minireason.posttrain.report --eval-data eval_all.jsonl --baseline RUN_A@0 \\
        --control RUN_CONTROL RUN_B RUN_C ...

``RUN@STEP`` names one evaluation of a run (default: its last); ``RUN_A@0`` is the model before training.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from minireason.errors import DataError
from minireason.evaluation.paired import paired_comparison
from minireason.tasks.export import resolve_data


def read_verdicts(spec: str) -> tuple[str, int, list[bool], float | None]:
    """(run, step, per-problem verdicts, wall seconds of the run) of ``RUN`` (its last evaluation) or ``RUN@STEP``."""
    run, _, step = spec.partition("@")
    directory = Path(run) / "eval"
    files = sorted(directory.glob("step_*.json"))
    if not files:
        raise DataError(f"{run}: no eval/step_*.json (was the run evaluated with --eval-data?)")
    path = directory / f"step_{int(step):06d}.json" if step else files[-1]
    if not path.exists():
        raise DataError(f"{path} does not exist; evaluations of {run}: {[p.stem for p in files]}")
    detail = json.loads(path.read_text(encoding="utf-8"))
    seconds = None
    summary = Path(run) / "summary.json"
    if summary.exists():
        seconds = json.loads(summary.read_text(encoding="utf-8")).get("seconds")
    return run, int(detail["step"]), [bool(value) for value in detail["correct"]], seconds


def paired_by_family(before: list[bool], after: list[bool], records: list[dict]) -> dict[str, dict]:
    """The paired comparison over all problems ("all") and within each record's ``family`` (or "problems")."""

    if not (len(before) == len(after) == len(records)):
        raise DataError(f"the evaluations cover {len(before)} and {len(after)} problems, the eval data {len(records)}; "
                        f"compare runs evaluated on the same file")
    groups: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        groups.setdefault(str(record.get("family", "problems")), []).append(index)
    table = {"all": paired_comparison(before, after)}
    if len(groups) > 1:
        for family, indices in groups.items():
            table[family] = paired_comparison([before[i] for i in indices], [after[i] for i in indices])
    return table


def markdown_table(baseline: str, control: str | None, runs: list[str], records: list[dict]) -> str:
    """One row per run and family: accuracy, change against the baseline (gained/lost, p), and against the
    control (if given), and the run's wall time."""
    _, _, base, _ = read_verdicts(baseline)
    control_verdicts = read_verdicts(control)[2] if control else None
    lines = ["| run | family | accuracy | vs baseline (gained / lost, McNemar p) |"
             + (" vs control (gained / lost, p) |" if control else "") + " wall time |",
             "|---|---|---|---|" + ("---|" if control else "") + "---|"]
    for spec in ([control] if control else []) + runs:
        run, step, verdicts, seconds = read_verdicts(spec)
        against_base = paired_by_family(base, verdicts, records)
        against_control = paired_by_family(control_verdicts, verdicts, records) if control else None
        for family, row in against_base.items():
            change = 100 * (row["accuracy_after"] - row["accuracy_before"])
            cells = [f"{Path(run).name} (step {step})", family, f"{row['accuracy_after']:.1%}",
                     f"{change:+.1f} ({row['gained']} / {row['lost']}, {row['p_value']:.2g})"]
            if control:
                other = against_control[family]
                delta = 100 * (other["accuracy_after"] - other["accuracy_before"])
                cells.append("-" if spec == control else
                             f"{delta:+.1f} ({other['gained']} / {other['lost']}, {other['p_value']:.2g})")
            cells.append(f"{seconds / 60:.1f} min" if seconds is not None and family == "all" else "")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """The command line of ``python -m minireason.posttrain.report``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m minireason.posttrain.report", description=__doc__.split("\n")[0])
    parser.add_argument("--eval-data", required=True, help="the held-out problems every run was evaluated on")
    parser.add_argument("--baseline", required=True, help="RUN@0: the model before training")
    parser.add_argument("--control", default=None, help="the run every other run is compared with too")
    parser.add_argument("runs", nargs="+", help="RUN or RUN@STEP")
    args = parser.parse_args(argv)
    print(markdown_table(args.baseline, args.control, args.runs, resolve_data(args.eval_data)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
