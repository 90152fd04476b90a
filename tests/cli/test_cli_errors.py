"""Bad input on the command line: one typed line naming the problem, never a traceback."""

import argparse
import json
import subprocess
import sys

import pytest
from cli_support import assert_one_line_error, run_cli
from hypothesis import given
from hypothesis import strategies as st

from minireason.cli.main import main
from minireason.config import PRESETS
from minireason.jsonl import read_jsonl
from minireason.model import Qwen3Model


@given(seed=st.integers(max_value=-1) | st.integers(min_value=2**63))
def test_out_of_range_seeds_are_refused_by_every_command(seed):
    for argv in (["generate", "--model", "m", "--prompt", "p"], ["chat", "--model", "m"],
                 ["eval", "--model", "m", "--data", "d", "--out", "o"],
                 ["scale", "--model", "m", "--data", "d"],
                 ["demo"], ["smoke"], ["pretrain"]):
        code, _, err = run_cli([*argv, "--seed", str(seed)])
        assert code == 2
        assert_one_line_error(code, err, argv[0], "argument --seed", "expected an integer in [0, 2**63)")


@given(value=st.integers(max_value=0))
def test_counts_below_one_are_refused(value):
    for argv, flag in ((["eval", "--model", "m", "--data", "d", "--out", "o"], "--limit"),
                       (["eval", "--model", "m", "--data", "d", "--out", "o"], "--batch-size"),
                       (["scale", "--model", "m", "--data", "d"], "--limit"), (["demo"], "--limit"),
                       (["demo"], "--problems"), (["smoke"], "--seq-len"), (["smoke"], "--batch-size"),
                       (["generate", "--model", "m", "--prompt", "p"], "--max-new-tokens")):
        code, _, err = run_cli([*argv, flag, str(value)])
        assert_one_line_error(code, err, argv[0], f"argument {flag}", "expected an integer >= 1")


@given(n=st.integers(min_value=1_000_001, max_value=10**15))
def test_task_sizes_have_an_upper_bound(n):
    code, _, err = run_cli(["eval", "--model", "m", "--data", f"task:addition?n={n}", "--limit", "3",
                            "--out", "o"])
    assert_one_line_error(code, err, "eval", "option n", "1,000,000")
    code, _, err = run_cli(["tasks", "export", "--family", "addition", "--n", str(n), "--split", "test",
                            "--out", "o"])
    assert_one_line_error(code, err, "tasks", "at most 1,000,000")


@given(size=st.integers(min_value=1025, max_value=10**12), kind=st.sampled_from(["sc", "bon", "refine"]))
def test_method_sizes_have_an_upper_bound(size, kind):
    code, _, err = run_cli(["scale", "--model", "nowhere", "--data", "x",
                            "--methods", f"greedy,{kind}@{size}"])
    assert_one_line_error(code, err, "scale", f"{kind}@{size}", "at most 1,024")


def test_invalid_utf8_arguments_are_refused():
    undecodable = b"1+\xff=".decode("utf-8", "surrogateescape")  # how Python passes such a command line
    code, _, err = run_cli(["generate", "--model", "m", "--prompt", undecodable])
    assert_one_line_error(code, err, "generate", "--prompt", "not valid UTF-8 (byte 0xff at character 3)")
    code, _, err = run_cli(["chat", "--model", "m", "--system", "\ud800"])
    assert_one_line_error(code, err, "chat", "--system", "lone surrogate U+D800")


def test_chat_skips_an_undecodable_line_and_goes_on(tmp_path, monkeypatch):
    from minireason.cli import chat

    lines = iter([b"bad \xfe".decode("utf-8", "surrogateescape"), "/exit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    monkeypatch.setattr(chat, "load_model", lambda args: (Qwen3Model.from_config(PRESETS["test-tiny"]), None))
    code, _, err = run_cli(["chat", "--model", "m"])
    assert code == 0 and "[line ignored: not valid UTF-8 (byte 0xfe at character 5)]" in err


def test_grade_names_a_missing_file_and_a_directory(tmp_path):
    code, _, err = run_cli(["grade", str(tmp_path / "absent.jsonl")])
    assert_one_line_error(code, err, "grade", "no such file")
    code, _, err = run_cli(["grade", str(tmp_path)])
    assert_one_line_error(code, err, "grade", "is a directory")


def _result(**fields):
    return {"index": 0, "unique_id": "u", "subject": "s", "level": 1, "problem": "1+1", "gold": "2",
            "generated": "\\boxed{2}", "generated_tokens": 3, "seconds": 0.1, **fields}


def test_grade_write_keeps_an_escaped_lone_surrogate(tmp_path):
    source = tmp_path / "r.jsonl"
    source.write_text(json.dumps(_result(problem="a\udc80b")) + "\n")
    code, out, err = run_cli(["grade", str(source), "--write", str(tmp_path / "w.jsonl")])
    assert code == 0, err
    (written,) = read_jsonl(tmp_path / "w.jsonl")
    assert written["problem"] == "a\udc80b" and written["correct"] is True


def test_grade_of_a_task_record_without_problem_names_the_field(tmp_path):
    from minireason.tasks import generate_problems
    from minireason.tasks.export import to_record

    task = to_record(generate_problems("addition", 1, split="test")[0])
    record = _result(family=task["family"], data=task["data"], gold=task["answer"])
    del record["problem"]
    (tmp_path / "r.jsonl").write_text(json.dumps(record) + "\n")
    code, _, err = run_cli(["grade", str(tmp_path / "r.jsonl")])
    assert_one_line_error(code, err, "grade", "field 'problem'")


def test_output_paths_of_the_wrong_kind(tmp_path):
    code, _, err = run_cli(["eval", "--model", "m", "--data", "task:addition", "--out", str(tmp_path)])
    assert_one_line_error(code, err, "eval", "is a directory")
    for folder_name in (str(tmp_path / "new") + "/", str(tmp_path / "new" / "sub" / "..")):  # folders not made yet
        code, _, err = run_cli(["eval", "--model", "m", "--data", "task:addition", "--out", folder_name])
        assert_one_line_error(code, err, "eval", "is a directory")
    assert not (tmp_path / "new").exists()
    code, _, err = run_cli(["tasks", "export", "--family", "addition", "--n", "2", "--split", "test",
                            "--out", str(tmp_path)])
    assert_one_line_error(code, err, "tasks", "is a directory")
    (tmp_path / "file").write_text("x")
    code, _, err = run_cli(["pretrain", "--out-dir", str(tmp_path / "file")])
    assert_one_line_error(code, err, "pretrain", "exists and is not a directory")
    code, _, err = run_cli(["scale", "--model", "m", "--data", "d", "--out-dir", str(tmp_path / "file")])
    assert_one_line_error(code, err, "scale", "exists and is not a directory")


def test_non_utf8_data_file(tmp_path):
    (tmp_path / "p.jsonl").write_bytes(b'{"problem": "\xff", "answer": "1"}\n')
    code, _, err = run_cli(["eval", "--model", "m", "--data", str(tmp_path / "p.jsonl"), "--out",
                            str(tmp_path / "o.jsonl")])
    assert_one_line_error(code, err, "eval", "p.jsonl:1: not UTF-8")


def test_smoke_sequence_longer_than_the_window():
    code, _, err = run_cli(["smoke", "--preset", "test-tiny", "--seq-len", "513"])
    assert_one_line_error(code, err, "smoke", "at most 512 positions")


def test_demo_limit_is_honoured_or_refused():
    from minireason.cli.demo import add_arguments, settings_from

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    for argv, expected in ((["--limit", "300"], 300), (["--problems", "500"], 500), ([], 1000),
                           (["--limit", "400", "--problems", "400"], 400), (["--quick", "--limit", "3"], 3)):
        settings = settings_from(parser.parse_args(argv))
        assert settings.held_out == expected, argv
        assert settings.scaling_problems <= expected and settings.generation_prompts <= expected
    code, _, err = run_cli(["demo", "--limit", "3", "--problems", "5"])
    assert_one_line_error(code, err, "demo", "give one")


def test_errors_are_one_line_unless_debug(tmp_path, monkeypatch):
    from minireason.cli import smoke

    def buggy(args):
        raise KeyError("a bug")

    monkeypatch.setattr(smoke, "run", buggy)
    code, _, err = run_cli(["smoke"])
    assert_one_line_error(code, err, "smoke", "internal error KeyError", "--debug")
    with pytest.raises(KeyError):
        main(["--debug", "smoke"])
    monkeypatch.setenv("MINIREASON_DEBUG", "1")
    with pytest.raises(KeyError):
        main(["smoke"])
    monkeypatch.setenv("MINIREASON_DEBUG", "0")

    def unreadable(args):
        open(tmp_path)  # noqa: SIM115

    monkeypatch.setattr(smoke, "run", unreadable)
    code, _, err = run_cli(["smoke"])
    assert_one_line_error(code, err, "smoke", "IsADirectoryError: [Errno 21]")


def test_piping_into_head_ends_quietly():
    # 2000 problems are more than a pipe's buffer holds, so the writer meets the closed pipe
    command = [sys.executable, "-m", "minireason.cli.main", "tasks", "show", "--family", "addition",
               "--n", "2000"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.readline()
    process.stdout.close()  # what head does after its lines
    stderr = process.stderr.read()
    assert process.wait(timeout=60) == 141
    assert stderr == b""


@given(seed=st.integers(max_value=-1) | st.integers(min_value=2**63))
def test_grpo_seed_out_of_range_is_an_argument_error(seed):
    code, _, err = run_cli(["grpo", "--seed", str(seed)])
    assert_one_line_error(code, err, "grpo", "argument --seed", "expected an integer in [0, 2**63)")
