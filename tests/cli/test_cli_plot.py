"""``minireason plot`` on real sft, distill and dpo runs: each method's chosen panels, held-out accuracy
from step 0, no bookkeeping figures, a title naming the method."""

from __future__ import annotations

import pytest

from minireason.cli.main import main
from minireason.cli.plot import OPTIONAL_PANELS, PANELS, method_panels, training_method
from minireason.training.metrics import read_metrics

TRAIN = "task:addition?n=24&split=train&difficulty=1"
HELD_OUT = "task:addition?n=6&split=test&difficulty=1"
BOOKKEEPING = ("seconds", "step_seconds", "eval_seconds", "tokens", "eval_problems", "eval_tokens_per_problem")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One tiny run of each method, evaluated on held-out problems at step 0 and every step."""
    root = tmp_path_factory.mktemp("runs")
    traces, pairs = root / "traces.jsonl", root / "pairs.jsonl"
    common = ["--steps", "2", "--batch-size", "4", "--eval-every", "1", "--eval-data", HELD_OUT,
              "--max-new-tokens", "24", "--no-progress"]
    assert main(["distill-data", "--teacher", "builtin:base", "--data", TRAIN, "--samples", "2", "--out",
                 str(traces), "--max-new-tokens", "24", "--no-progress"]) == 0
    assert main(["dpo-data", "--model", "builtin:student", "--data", TRAIN, "--samples", "4", "--out", str(pairs),
                 "--max-new-tokens", "24", "--no-progress"]) == 0
    assert main(["sft", "--model", "builtin:student", "--data", str(traces), "--out-dir", str(root / "sft"),
                 *common]) == 0
    assert main(["distill", "--student", "builtin:student", "--teacher", "builtin:base", "--data", str(traces),
                 "--out-dir", str(root / "distill"), *common]) == 0
    assert main(["dpo", "--model", "builtin:student", "--data", str(pairs), "--out-dir", str(root / "dpo"),
                 *common]) == 0
    return root


@pytest.mark.parametrize("method", ["sft", "distill", "dpo"])
def test_each_method_plots_its_chosen_panels(runs, method, capsys):
    run = runs / method
    rows, evaluations = read_metrics(run / "metrics.jsonl"), read_metrics(run / "eval.jsonl")
    assert training_method(rows) == method
    panels = method_panels(method, rows, evaluations)
    chosen = [title for title, _ in PANELS[method]]
    titles = [title for title, _ in panels]
    assert set(chosen) - set(titles) <= OPTIONAL_PANELS and len(titles) <= 6
    labels = {label for _, curves in panels for label, _, _ in curves}
    assert not labels & set(BOOKKEEPING)
    keys = {key for _, curves in PANELS[method] for _, key, _ in curves}  # the labels are legend words
    assert not keys & set(BOOKKEEPING)
    accuracy = dict(panels)["held-out accuracy"]
    (_, steps, values), = accuracy
    assert steps[0] == 0 and len(steps) == 3 and all(0 <= value <= 1 for value in values)
    assert all(any(steps for _, steps, _ in curves) for title, curves in panels if title != "held-out accuracy")
    assert main(["plot", str(run), "--out", str(run / "plot.png")]) == 0
    assert (run / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_run_of_no_known_method_gets_every_metric(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "loss": 1.5}\n')
    assert training_method(read_metrics(tmp_path / "metrics.jsonl")) is None
    assert main(["plot", str(tmp_path)]) == 0 and (tmp_path / "curves.png").exists()
