"""What the training commands tell a user: a file of problems given where traces or pairs belong gets
one line naming the command that makes them; the last line's time is the whole run's."""

from __future__ import annotations

import re

import pytest

from minireason.cli.main import main

HELD_OUT = "task:addition?n=4&split=test&difficulty=1"


@pytest.fixture
def problems(tmp_path):
    path = tmp_path / "train.jsonl"
    assert main(["tasks", "export", "--family", "addition", "--limit", "6", "--split", "train", "--difficulty", "1",
                 "--out", str(path)]) == 0
    return path


@pytest.mark.parametrize("argv,command", [
    (["sft", "--model", "builtin:student"], "distill-data"),
    (["distill", "--student", "builtin:student", "--teacher", "builtin:base"], "distill-data"),
    (["dpo", "--model", "builtin:student"], "dpo-data"),
])
def test_problems_instead_of_traces_get_one_line_naming_the_command(argv, command, problems, tmp_path, capsys):
    capsys.readouterr()
    assert main([*argv, "--data", str(problems), "--out-dir", str(tmp_path / "run"), "--steps", "1",
                 "--no-progress"]) == 1
    error = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(error) == 1 and len(error[0]) < 400
    assert f"minireason {command} " in error[0] and "6 problems" in error[0]


def test_the_last_line_times_the_whole_run_with_its_evaluations(tmp_path, capsys):
    traces = tmp_path / "traces.jsonl"
    traces.write_text("".join(
        f'{{"problem": "Compute {a}+1. Think step by step.", "message_thinking": "{a}+1+0={a + 1}", '
        f'"message_content": "\\\\boxed{{{a + 1}}}"}}\n' for a in range(2, 9)))
    assert main(["sft", "--model", "builtin:student", "--data", str(traces), "--out-dir", str(tmp_path / "run"),
                 "--steps", "2", "--batch-size", "2", "--eval-every", "1", "--eval-data", HELD_OUT,
                 "--max-new-tokens", "16", "--no-progress"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("sft: "))
    assert re.fullmatch(r"sft: 2 steps in \d+\.\d min, held-out evaluation included", line)
