"""The demo's targets (what each stage should show on the built-in models), judged from the rows a run measured."""

from __future__ import annotations

from collections.abc import Sequence

from minireason.demo.report import StageRow


def check_targets(rows: Sequence[StageRow]) -> list[dict]:
    """The demo's targets against what this run measured (``met`` is None when a stage did not run)."""
    by_key = {(row.stage, row.method): row for row in rows}

    def gain(stage: str, method: str) -> float | None:
        row = by_key.get((stage, method))
        if row is None or "accuracy_before" not in row.extra:
            return None
        return 100 * (row.accuracy - row.extra["accuracy_before"])

    sc_rows = [row for row in rows if row.stage == "scaling" and row.method.startswith("sc@8")]
    targets = [("chain of thought >= direct + 15 points", gain("scaling", "cot"), 15.0),
               ("self-consistency@8 >= greedy chain of thought + 3 points",
                gain("scaling", sc_rows[0].method) if sc_rows else None, 3.0),
               ("GRPO >= +5 points held-out", gain("grpo", "after"), 5.0),
               ("distilled student >= shipped student + 10 points", gain("distillation", "after"), 10.0)]
    checked = [{"target": name, "measured_points": None if measured is None else round(measured, 2),
                "met": None if measured is None else measured >= threshold} for name, measured, threshold in targets]
    # the thinking-budget curve rises: never lower at a larger budget, and higher at the largest than the smallest
    budget_rows = sorted((int(row.method.split("@")[1].split(":")[0]), row.accuracy) for row in rows
                         if row.stage == "scaling" and row.method.startswith("budget@"))
    accuracies = [accuracy for _, accuracy in budget_rows]
    rising = (len(accuracies) >= 2 and accuracies[-1] > accuracies[0]
              and all(later >= earlier for earlier, later in zip(accuracies, accuracies[1:])))
    checked.append({"target": "thinking-budget accuracy rises with the budget (smallest to largest)",
                    "measured_points": round(100 * (accuracies[-1] - accuracies[0]), 2) if len(accuracies) >= 2 else None,
                    "met": rising if len(accuracies) >= 2 else None})
    return checked
