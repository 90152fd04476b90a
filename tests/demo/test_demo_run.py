"""``minireason demo``: every stage on the quick budget (what CI runs), the report's fields and value
ranges (not exact figures), one stage alone, the targets' verdicts, the refusals, and progress lines
that name their stage."""

from __future__ import annotations

import contextlib
import io
import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minireason import demo
from minireason.cli.main import main
from minireason.config import PRESETS
from minireason.demo import STAGES, DemoSettings, StageRow, check_targets, decode_without_cache, run_demo
from minireason.demo.grpo import trailing_mean
from minireason.demo.scaling import votes_where_greedy_errs
from minireason.errors import InputError, MinireasonError
from minireason.generation.generate import generate
from minireason.model import Qwen3Model

REPORT_FIELDS = {"stage", "method", "problems", "accuracy", "tokens_per_problem", "seconds"}


def run_cli(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("demo") / "out"
    code, out, err = run_cli(["demo", "--quick", "--out-dir", str(out_dir)])
    assert code == 0, err
    return out_dir, out, err


def test_quick_demo_writes_the_report_with_every_stage(quick_run):
    out_dir, out, err = quick_run
    report = json.loads((out_dir / "report.json").read_text())
    assert set(report) == {"stages", "total_seconds"}
    assert 0 < report["total_seconds"] < 600
    rows = report["stages"]
    assert [row["stage"] for row in rows] == sorted((row["stage"] for row in rows), key=STAGES.index)
    assert {row["stage"] for row in rows} == set(STAGES)
    quick = DemoSettings.quick()
    for row in rows:
        assert REPORT_FIELDS <= set(row)
        assert 0.0 <= row["accuracy"] <= 1.0
        assert row["problems"] >= 1 and row["seconds"] >= 0 and row["tokens_per_problem"] >= 0
        if row["stage"] in ("direct", "grpo", "distillation") or row["method"] == "cot":
            assert row["problems"] == quick.held_out  # held-out accuracies see every held-out problem
        if "p_value" in row:
            assert 0.0 <= row["p_value"] <= 1.0
            assert row["gained"] + row["lost"] <= row["compared_problems"]
            # the paired fields agree with the two accuracies they compare
            change = round((row["gained"] - row["lost"]) / row["compared_problems"], 9)
            assert round(row["accuracy"] - row["accuracy_before"], 9) == pytest.approx(change, abs=1e-6)
    methods = {(row["stage"], row["method"]) for row in rows}
    assert {("generation", "kv-cache"), ("generation", "no-cache"), ("direct", "direct"), ("scaling", "cot"),
            ("grpo", "before"), ("grpo", "after"), ("distillation", "before"), ("distillation", "after")} <= methods
    for name in quick.scaling_methods.split(","):
        assert ("scaling", name) in methods
    for budget in quick.thinking_budgets:
        assert ("scaling", f"budget@{budget}") in methods
    generation = [row for row in rows if row["stage"] == "generation"]
    assert all(row["tokens_per_second"] > 0 for row in generation)
    # greedy decoding with and without the cache gives the same tokens
    assert all(row["identical_completions"] == row["problems"] for row in generation)


def test_quick_demo_writes_run_json_plots_and_a_table(quick_run):
    out_dir, out, err = quick_run
    run = json.loads((out_dir / "run.json").read_text())
    assert run["stages"] == list(STAGES)
    assert run["settings"]["held_out"] == DemoSettings.quick().held_out
    assert {target["target"] for target in run["targets"]} >= {"GRPO >= +5 points held-out"}
    for name in ("accuracy_vs_tokens.png", "grpo_curves.png", "distillation_curves.png"):
        assert (out_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Output folder: " + str(out_dir) in out
    for stage in STAGES:
        assert any(line.startswith(stage) for line in out.splitlines())
    assert "[generation] stage 1/5: " in err and "[distillation] stage 5/5: " in err  # progress per stage on stderr


def test_every_progress_line_names_its_stage_and_results_sit_under_their_stage(quick_run):
    out_dir, out, err = quick_run
    lines = [line for line in err.splitlines() if line.strip()]
    named = re.compile(r"^\[(" + "|".join(STAGES) + r")\] ")
    assert lines and all(named.match(line) for line in lines), [line for line in lines if not named.match(line)]
    for stage in STAGES:  # a stage's lines come between its own header and its own closing line
        own = [line for line in lines if line.startswith(f"[{stage}] ")]
        assert re.match(rf"\[{stage}\] stage \d/5: ", own[0]) or own[0].startswith(f"[{stage}] running in process")
        assert re.match(rf"\[{stage}\] done in [0-9.]+ s$", own[-1])
        assert len(own) >= 3  # header, a result, closing line
    # the results table on stdout: each stage's rows together, stages in pipeline order
    table_stages = [line.split()[0] for line in out.splitlines() if line.split() and line.split()[0] in STAGES]
    assert [stage for index, stage in enumerate(table_stages) if index == 0 or table_stages[index - 1] != stage] == \
        list(STAGES)


def test_one_stage_alone(tmp_path):
    settings = DemoSettings.quick()
    report = run_demo(settings, ["direct"], tmp_path / "out", log=None)
    assert [(row.stage, row.method) for row in report.rows] == [("direct", "direct")]
    rows = json.loads((tmp_path / "out" / "report.json").read_text())["stages"]
    assert len(rows) == 1 and rows[0]["problems"] == settings.held_out
    assert all(target["met"] is None for target in report.targets)


def _row(stage, method, accuracy, before=None):
    extra = {} if before is None else {"accuracy_before": before}
    return StageRow(stage, method, 100, accuracy, 10.0, 1.0, extra)


def test_targets_are_judged_from_the_measured_rows():
    rows = [_row("scaling", "cot", 0.60, before=0.10), _row("scaling", "sc@8", 0.62, before=0.60),
            _row("grpo", "after", 0.70, before=0.64), _row("distillation", "after", 0.15, before=0.10),
            _row("scaling", "budget@8", 0.0), _row("scaling", "budget@16", 0.2), _row("scaling", "budget@64", 0.6)]
    verdicts = {target["target"].split(" ")[0]: (target["measured_points"], target["met"])
                for target in check_targets(rows)}
    assert verdicts["chain"] == (50.0, True)
    assert verdicts["self-consistency@8"] == (2.0, False)
    assert verdicts["GRPO"] == (6.0, True)
    assert verdicts["distilled"] == (5.0, False)
    assert verdicts["thinking-budget"] == (60.0, True)
    falling = [_row("scaling", "budget@8", 0.3), _row("scaling", "budget@16", 0.2), _row("scaling", "budget@32", 0.5)]
    assert check_targets(falling)[-1]["met"] is False  # a dip in the middle is not a rising curve


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**31), lengths=st.lists(st.integers(1, 6), min_size=1, max_size=3))
def test_decoding_without_the_cache_equals_generate(seed, lengths):
    model = Qwen3Model.from_config(PRESETS["test-tiny"], seed=seed % 1000)
    rng = np.random.default_rng(seed)
    prompts = [rng.integers(1, model.config.vocab_size, size=length).tolist() for length in lengths]
    cached = [list(result.token_ids) for result in generate(model, None, prompts, 5)]
    assert decode_without_cache(model, prompts, 5, stop_ids=()) == cached


@pytest.mark.parametrize("overrides, fragment", [
    ({"held_out": 0}, "held_out: expected an int >= 1"),
    ({"grpo_steps": True}, "grpo_steps"),
    ({"seed": -1}, "seed: expected an int >= 0"),
    ({"held_out": 10, "scaling_problems": 20}, "scaling_problems: 20 is more than the 10"),
    ({"thinking_budgets": (8, 0)}, "thinking_budgets"),
    ({"thinking_budgets": 5}, "thinking_budgets: expected a sequence"),
    ({"parallel": "yes"}, "parallel: expected True or False"),
])
def test_bad_settings_are_refused(overrides, fragment):
    with pytest.raises(InputError, match=fragment):
        DemoSettings.quick(**overrides)


def test_bad_command_lines_get_one_line_errors(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    for argv, fragment in ((["--out-dir", str(tmp_path / "file")], str(tmp_path / "file")),
                           (["--stage", "nope"], "invalid choice"),
                           (["--limit", "3", "--problems", "4"], "give one"),
                           (["--problems", "0"], "expected an integer >= 1")):
        code, _, err = run_cli(["demo", "--quick", *argv])
        assert code not in (0, None)
        assert "Traceback" not in err
        assert len([line for line in err.splitlines() if line.startswith("minireason demo: error: ")]) == 1, err
        assert fragment in err


@given(st.lists(st.tuples(st.booleans(), st.lists(st.booleans(), min_size=1, max_size=8)), min_size=1, max_size=20))
def test_votes_where_greedy_errs_counts_what_a_majority_can_fix(problems):
    greedy = [right for right, _ in problems]
    summary = votes_where_greedy_errs(greedy, [samples for _, samples in problems])
    wrong = [samples for right, samples in problems if not right]
    assert summary["greedy_wrong_problems"] == len(wrong)
    if wrong:
        assert summary["greedy_wrong_right_majority"] == sum(samples.count(True) > len(samples) / 2 for samples in wrong)
        assert summary["greedy_wrong_sample_accuracy"] == pytest.approx(
            sum(samples.count(True) / len(samples) for samples in wrong) / len(wrong))


@given(st.lists(st.floats(-1e3, 1e3), max_size=30), st.integers(1, 12))
def test_trailing_mean_is_the_mean_of_the_window(values, window):
    smoothed = trailing_mean(values, window)
    assert len(smoothed) == len(values)
    for i, value in enumerate(smoothed):
        chunk = values[max(0, i - window + 1):i + 1]
        assert value == pytest.approx(sum(chunk) / len(chunk), abs=1e-6)


def test_grpo_beside_the_other_stages_equals_grpo_in_turn(tmp_path):
    together = run_demo(DemoSettings.quick(), ["direct", "grpo"], tmp_path / "beside", log=None)
    in_turn = run_demo(DemoSettings.quick(parallel=False), ["direct", "grpo"], tmp_path / "in_turn", log=None)
    for beside, alone in zip(together.rows, in_turn.rows, strict=True):
        assert (beside.stage, beside.method, beside.problems, beside.accuracy, beside.tokens_per_problem) == \
            (alone.stage, alone.method, alone.problems, alone.accuracy, alone.tokens_per_problem)
        assert {key: beside.extra[key] for key in ("gained", "lost", "p_value") if key in beside.extra} == \
            {key: alone.extra[key] for key in ("gained", "lost", "p_value") if key in alone.extra}
    assert (tmp_path / "beside" / "grpo_curves.png").exists()
    assert not list((tmp_path / "beside").glob(".*_stage.json"))  # the child's hand-over file is gone


def test_an_error_in_the_stage_beside_is_raised_here(tmp_path, monkeypatch):
    def failing(context):
        raise InputError("grpo: no training problems")

    monkeypatch.setitem(demo.STAGE_FUNCTIONS, "grpo", failing)
    with pytest.raises(InputError, match="no training problems"):
        run_demo(DemoSettings.quick(), ["direct", "grpo"], tmp_path / "out", log=None)
    monkeypatch.setitem(demo.STAGE_FUNCTIONS, "grpo", lambda context: 1 / 0)
    with pytest.raises(MinireasonError, match="ZeroDivisionError"):
        run_demo(DemoSettings.quick(), ["direct", "grpo"], tmp_path / "out2", log=None)


@given(st.dictionaries(st.sampled_from(["gained", "lost", "p_value", "step", "note"]), st.integers(0, 99), max_size=4),
       st.floats(0, 1), st.integers(1, 1000))
def test_a_report_row_comes_back_from_its_json_as_it_was(extra, accuracy, problems):
    row = StageRow("grpo", "after", problems, accuracy, 48.0, 1.5, extra)
    back = StageRow.from_dict(json.loads(json.dumps(row.as_dict())))
    assert back == row
    assert set(row.as_dict()) == REPORT_FIELDS | set(extra)


@pytest.mark.parametrize("argv, fragment", [
    (["--model", "builtin:nope"], "no built-in checkpoint 'nope'"),
    (["--student", "/nonexistent/student"], "does not exist"),
    (["--temperature", "-1"], "temperature"),
    (["--methods", "sc@x"], "sc@x"),
])
def test_what_a_stage_would_refuse_is_refused_before_the_first(tmp_path, argv, fragment):
    out_dir = tmp_path / "out"
    code, out, err = run_cli(["demo", "--quick", "--out-dir", str(out_dir), *argv])
    assert code not in (0, None) and "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("minireason demo: error: ")]
    assert len(errors) == 1 and fragment in errors[0], err
    assert "stage 1/5" not in err and not out_dir.exists()  # no stage ran, nothing was written
