"""Reliability (issue 14, sections 2 and 3): written files behave like ordinary files, torn tails
are dropped at the byte level, and every bad input the CLI meets is a one-line error."""

import argparse
import contextlib
import dataclasses
import io
import json
import math
import os
import stat
import subprocess
import sys
import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minireason.atomic import atomic_write, atomic_write_jsonl, atomic_write_text, default_file_mode
from minireason.cli.main import main
from minireason.config import PRESETS
from minireason.errors import CheckpointError, DataError, InputError
from minireason.jsonl import jsonl_line, read_jsonl, read_jsonl_tolerant
from minireason.model import Qwen3Model
from minireason.nn.loss import masked_mean_nll
from minireason.training.checkpoint import load_checkpoint, save_checkpoint
from minireason.training.metrics import read_metrics


def run_cli(argv):
    """(exit code, stdout, stderr) of ``minireason ARGV`` run in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse's own errors
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


def assert_one_line_error(code, err, command, *fragments):
    assert code not in (0, None)
    assert "Traceback" not in err
    error_lines = [line for line in err.splitlines() if line.startswith(f"minireason {command}: error: ")]
    assert len(error_lines) == 1, err
    for fragment in fragments:
        assert fragment in error_lines[0], err


@contextlib.contextmanager
def umask(mask):
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


# ----------------------------------------------------------------------------- writing files


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_new_file_gets_the_usual_mode(tmp_path, mask):
    with umask(mask):
        assert default_file_mode() == 0o666 & ~mask
        atomic_write_text(tmp_path / "new.txt", "x")
        opened = tmp_path / "opened.txt"
        opened.write_text("x")  # what a plain open() gives
    assert stat.S_IMODE(os.stat(tmp_path / "new.txt").st_mode) == stat.S_IMODE(os.stat(opened).st_mode)


def test_replaced_file_keeps_its_mode(tmp_path):
    path = tmp_path / "model.json"
    path.write_text("old")
    os.chmod(path, 0o640)
    atomic_write_text(path, "new")
    assert path.read_text() == "new"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_symlink_target_is_written_and_the_link_kept(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "out.jsonl"
    target.write_text("old\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    atomic_write_jsonl(link, [{"a": "é"}])
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert json.loads(target.read_text(encoding="utf-8")) == {"a": "é"}
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["out.jsonl"]  # no temporary left


def test_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.txt"
    link.symlink_to(tmp_path / "made.txt")
    atomic_write_text(link, "hello")
    assert link.is_symlink() and (tmp_path / "made.txt").read_text() == "hello"


def test_character_device_is_written_through_not_replaced():
    before = os.stat("/dev/null")
    atomic_write_text("/dev/null", "discarded")
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_full_device_reports_no_space():
    with pytest.raises(OSError, match="No space left") as raised:
        atomic_write_text("/dev/full", "x" * 100)
    assert raised.value.filename == "/dev/full"
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_fifo_is_streamed(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    atomic_write_jsonl(fifo, [{"n": 1}, {"n": 2}])
    reader.join(timeout=10)
    assert received == [b'{"n": 1}\n{"n": 2}\n']
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_stdout_alias_is_written_through_to_a_pipe():
    code = ("from minireason.atomic import atomic_write_text; "
            "atomic_write_text('/dev/stdout', 'through the pipe\\n')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.returncode == 0 and done.stdout == b"through the pipe\n"
    assert stat.S_ISLNK(os.lstat("/dev/stdout").st_mode) or stat.S_ISCHR(os.stat("/dev/stdout").st_mode)


def test_directory_and_missing_directory_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="is a directory"):
        atomic_write_text(tmp_path, "x")
    with pytest.raises(FileNotFoundError) as raised:
        atomic_write_text(tmp_path / "absent" / "f.txt", "x")
    assert raised.value.filename == str(tmp_path / "absent")


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "keep.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(path, "w") as handle:
        handle.write("half")
        raise RuntimeError("interrupted")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_checkpoint_directory_and_files_follow_the_umask(tmp_path):
    params = {"w": np.ones((2, 2), dtype=np.float32)}
    with umask(0o022):
        target = save_checkpoint(tmp_path / "run", params, {"m": np.zeros(2, dtype=np.float32)},
                                 {"step": 1, "rng_state": {}})
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o755
    for name in ("params.safetensors", "optimizer.safetensors", "state.json"):
        assert stat.S_IMODE(os.stat(target / name).st_mode) == 0o644, name


# ----------------------------------------------------------------------------- torn tails


def _records_bytes(records):
    return "".join(jsonl_line(record) for record in records).encode("utf-8")


@given(texts=st.lists(st.text(min_size=1, max_size=8), min_size=2, max_size=4),
       cut_fraction=st.floats(0.01, 0.99))
def test_a_last_line_cut_anywhere_is_dropped(tmp_path_factory, texts, cut_fraction):
    records = [{"index": i, "text": text + "é€😀"} for i, text in enumerate(texts)]
    data = _records_bytes(records)
    last_start = len(_records_bytes(records[:-1]))
    cut = last_start + max(1, int((len(data) - 1 - last_start) * cut_fraction))  # inside the last line
    path = tmp_path_factory.mktemp("torn") / "results.jsonl"
    path.write_bytes(data[:cut])
    read, torn = read_jsonl_tolerant(path)
    assert read == records[:-1] and torn


def test_cut_inside_a_multibyte_character(tmp_path):
    data = _records_bytes([{"index": 0, "problem": "é"}, {"index": 1, "problem": "ééé"}])
    cut = data.rindex("é".encode()) + 1  # between the two bytes of é
    path = tmp_path / "r.jsonl"
    path.write_bytes(data[:cut])
    assert read_jsonl_tolerant(path) == ([{"index": 0, "problem": "é"}], True)
    (tmp_path / "metrics.jsonl").write_bytes(data[:cut])
    assert read_metrics(tmp_path / "metrics.jsonl") == [{"index": 0, "problem": "é"}]


def test_whole_file_is_not_torn(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(_records_bytes([{"a": 1}, {"a": 2}]))
    assert read_jsonl_tolerant(path) == ([{"a": 1}, {"a": 2}], False)


@pytest.mark.parametrize("bad_line, message", [(b'{"a": \xff}', "not valid UTF-8"),
                                               (b'{"a": ', "not valid JSON"),
                                               (b"[1, 2]", "expected a JSON object")])
def test_bad_line_before_the_last_names_file_and_line(tmp_path, bad_line, message):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"a": 1}\n' + bad_line + b'\n{"a": 3}\n')
    with pytest.raises(DataError, match=f"r.jsonl:2: {message}"):
        read_jsonl_tolerant(path)
    with pytest.raises(DataError, match="r.jsonl:2"):
        read_metrics(path)


def test_record_check_names_file_and_line(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(_records_bytes([{"index": 0}, {"index": "1"}, {"index": 2}]) + b'{"ind')

    def index_is_int(record):
        index = record.get("index")
        return None if isinstance(index, int) and not isinstance(index, bool) else f"index {index!r} is not an int"

    with pytest.raises(DataError, match=r"r.jsonl:2: index '1' is not an int"):
        read_jsonl_tolerant(path, check=index_is_int)
    path.write_bytes(_records_bytes([{"index": 0}, {"index": 1}]) + b'{"ind')
    assert read_jsonl_tolerant(path, check=index_is_int) == ([{"index": 0}, {"index": 1}], True)


def test_strict_reader_refuses_a_bad_last_line(tmp_path):
    path = tmp_path / "problems.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": \xc3')
    with pytest.raises(DataError, match="problems.jsonl:2: not valid UTF-8"):
        read_jsonl(path)


def test_lone_surrogate_round_trips(tmp_path):
    record = {"problem": "a\udc80b", "gold": "é"}
    line = jsonl_line(record)
    line.encode("utf-8")  # writable
    assert json.loads(line) == record
    assert json.loads(jsonl_line({"gold": "é"})) == {"gold": "é"} and "é" in jsonl_line({"gold": "é"})
    atomic_write_jsonl(tmp_path / "r.jsonl", [record])
    assert read_jsonl(tmp_path / "r.jsonl") == [record]


# ----------------------------------------------------------------------------- checkpoints


def _save(directory, step=3, params=None):
    params = params or {"w": np.arange(4, dtype=np.float32)}
    return save_checkpoint(directory, params, {"m": np.zeros(4, dtype=np.float32)},
                           {"step": step, "rng_state": {"state": 1}})


@pytest.mark.parametrize("key", ["step", "rng_state"])
def test_state_without_a_needed_key_names_it(tmp_path, key):
    target = _save(tmp_path)
    state = json.loads((target / "state.json").read_text())
    del state[key]
    (target / "state.json").write_text(json.dumps(state))
    with pytest.raises(CheckpointError, match=f"missing key '{key}'"):
        load_checkpoint(tmp_path)


def test_state_with_a_string_step_is_refused(tmp_path):
    target = _save(tmp_path)
    (target / "state.json").write_text(json.dumps({"step": "3", "rng_state": {}}))
    with pytest.raises(CheckpointError, match="'step' expected int"):
        load_checkpoint(tmp_path)


def test_kill_between_the_renames_resumes_from_the_previous_checkpoint(tmp_path):
    _save(tmp_path, step=3)
    os.replace(tmp_path / "checkpoint", tmp_path / ".checkpoint.old.12345")  # the first rename, then a kill
    params, _, state = load_checkpoint(tmp_path)
    assert state["step"] == 3 and params["w"].tolist() == [0, 1, 2, 3]
    assert (tmp_path / "checkpoint").is_dir() and not (tmp_path / ".checkpoint.old.12345").exists()
    _save(tmp_path, step=6)  # and saving goes on as usual
    assert load_checkpoint(tmp_path)[2]["step"] == 6


def test_leftover_previous_checkpoint_is_removed_on_save(tmp_path):
    _save(tmp_path, step=3)
    (tmp_path / f".checkpoint.old.{os.getpid()}").mkdir()  # a kill after the second rename, same process id
    (tmp_path / f".checkpoint.old.{os.getpid()}" / "junk").write_text("x")
    _save(tmp_path, step=6)
    assert load_checkpoint(tmp_path)[2]["step"] == 6
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint"]


def test_nan_checkpoint_is_refused(tmp_path):
    _save(tmp_path, params={"w": np.array([0.0, np.nan], dtype=np.float32)})
    with pytest.raises(CheckpointError, match="'w' holds NaN"):
        load_checkpoint(tmp_path)


def test_checkpoint_into_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match="not a directory"):
        _save(tmp_path / "file")


# ----------------------------------------------------------------------------- model and loss


def test_positions_past_the_context_window_are_refused():
    config = dataclasses.replace(PRESETS["test-tiny"], max_position_embeddings=8)
    model = Qwen3Model.from_config(config, seed=0, dtype="float64")
    ids = np.arange(9)[None, :] % config.vocab_size
    loss, _ = model.loss_and_grads(ids[:, :-1], ids[:, 1:])  # 8 positions: the whole window
    assert math.isfinite(loss)
    with pytest.raises(InputError, match="max_position_embeddings 8"):
        model.loss_and_grads(ids, ids)  # 9 positions
    with pytest.raises(InputError, match="max_position_embeddings 8"):
        model.forward(ids[:, :2], position_ids=np.array([[0, 8]]))

    from minireason.generation.kv_cache import KVCache

    cache = KVCache(config, 1, 16, dtype=np.float64)
    model.forward(ids[:, :6], kv_cache=cache, last_only=True)
    with pytest.raises(InputError, match="cached tokens included"):
        model.forward(ids[:, :3], kv_cache=cache, last_only=True)  # positions 6, 7, 8


def test_empty_loss_mask_gives_positive_zero_and_zero_gradient():
    logp = -np.random.default_rng(0).random((2, 3))
    loss, dlogp, _ = masked_mean_nll(np.zeros((2, 3), dtype=bool))(logp)
    assert loss == 0.0 and math.copysign(1.0, loss) == 1.0
    assert not np.any(dlogp)


def test_api_generate_refuses_bad_seeds():
    from minireason.generation.generate import generate

    model = Qwen3Model.from_config(PRESETS["test-tiny"], seed=0)
    for seed in (-1, 1.5, "3", True):
        with pytest.raises(InputError, match="seed must be None or an int >= 0"):
            generate(model, None, [[1, 2, 3]], 2, temperature=1.0, seed=seed)
    assert len(generate(model, None, [[1, 2, 3]], 2, temperature=1.0, seed=0)[0].token_ids) == 2


# ----------------------------------------------------------------------------- the command line


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


# ----------------------------------------------------------------------------- one run per directory or file
# (issue 14, section 1: a resume never mixes two runs)


def _tiny_recipe(**changes):
    from minireason.training.pretrain import PretrainRecipe

    values = dict(name="tiny", hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                  num_key_value_heads=1, head_dim=8, vocab_size=270, max_position_embeddings=128, steps=2,
                  batch_size=2, warmup_steps=0, families=("addition",), problems_per_family=6, max_tokens=64,
                  difficulties={"addition": [1]}, eval_difficulties={"addition": 1})
    return PretrainRecipe(**{**values, **changes})


def test_pretrain_resume_refuses_another_seed_or_fewer_steps_and_extends(tmp_path):
    from minireason.training.pretrain import pretrain

    def run(**changes):
        return pretrain(_tiny_recipe(**changes), tmp_path, progress=False, log=lambda *_: None)

    run()
    tokenizer_before = (tmp_path / "run" / "tokenizer.json").read_bytes()
    checkpoint_before = (tmp_path / "run" / "checkpoint" / "params.safetensors").read_bytes()
    with pytest.raises(CheckpointError, match=r"another recipe \(seed: 0 -> 1\).*--no-resume"):
        run(seed=1, steps=3)
    with pytest.raises(CheckpointError, match="problems_per_family: 6 -> 7"):
        run(problems_per_family=7, steps=3)
    with pytest.raises(CheckpointError, match="past the 1 steps asked for"):
        run(steps=1)
    # nothing of the run was touched by the refused resumes
    assert (tmp_path / "run" / "tokenizer.json").read_bytes() == tokenizer_before
    assert (tmp_path / "run" / "checkpoint" / "params.safetensors").read_bytes() == checkpoint_before
    run(steps=3)  # more steps: the same run goes on
    state = json.loads((tmp_path / "run" / "checkpoint" / "state.json").read_text())
    assert state["step"] == 3 and state["identity"]["pretrain_recipe"]["seed"] == 0
    recipe = json.loads((tmp_path / "model" / "recipe.json").read_text())
    assert recipe["steps"] == 3 and recipe["families"] == ["addition"]
    assert stat.S_IMODE((tmp_path / "model" / "recipe.json").stat().st_mode) == default_file_mode()
    # the loop's own check stands behind the recipe file: without it, the checkpoint still refuses
    (tmp_path / "run" / "recipe.json").unlink()
    with pytest.raises(CheckpointError, match="pretrain_recipe"):
        run(seed=1, steps=4)
    # starting over is always possible
    pretrain(_tiny_recipe(seed=1, steps=1), tmp_path, resume=False, progress=False, log=lambda *_: None)
    assert json.loads((tmp_path / "run" / "recipe.json").read_text())["seed"] == 1


@pytest.mark.parametrize("seed", [-1, 2**63, 1.5, "3", True, None])
def test_train_config_seed_is_an_int_in_range(seed):
    from minireason.training.loop import TrainConfig

    with pytest.raises(InputError, match=r"seed must be an int >= 0 and < 2\*\*63"):
        TrainConfig(steps=1, seed=seed)
    assert TrainConfig(steps=1, seed=np.int64(2**63 - 1)).seed == 2**63 - 1


@given(seed=st.integers(max_value=-1) | st.integers(min_value=2**63))
def test_grpo_seed_out_of_range_is_an_argument_error(seed):
    code, _, err = run_cli(["grpo", "--seed", str(seed)])
    assert_one_line_error(code, err, "grpo", "argument --seed", "expected an integer in [0, 2**63)")


@pytest.fixture(scope="module")
def saved_tiny_model(tmp_path_factory):
    from minireason.io.bpe_trainer import train_bpe
    from minireason.io.pretrained import save_pretrained

    path = tmp_path_factory.mktemp("model") / "tiny"
    tokenizer = train_bpe(["What is 12 + 34? 46 \\boxed{46} " * 20], vocab_size=270)
    config = PRESETS["test-tiny"].replace(vocab_size=tokenizer.vocab_size, max_position_embeddings=512)
    save_pretrained(path, Qwen3Model.from_config(config, seed=0), tokenizer)
    return str(path)


def test_eval_resume_onto_another_run_is_one_line_naming_the_settings(saved_tiny_model, tmp_path):
    out = str(tmp_path / "o.jsonl")
    base = ["eval", "--model", saved_tiny_model, "--out", out, "--max-new-tokens", "3", "--no-progress",
            "--template", "short-direct"]
    code, printed, err = run_cli([*base, "--data", "task:addition?n=4", "--limit", "2"])
    assert code == 0, err
    manifest = json.loads((tmp_path / "o.jsonl.manifest.json").read_text())
    assert manifest["run"]["arguments"]["data"] == "task:addition?n=4" and manifest["command"] == "eval"
    before = (tmp_path / "o.jsonl").read_bytes()
    code, _, err = run_cli([*base, "--data", "task:arithmetic?n=4"])  # the blended accuracy
    assert_one_line_error(code, err, "eval", "holds 2 records of another run", "data_sha256", "--force-new")
    code, _, err = run_cli([*base, "--data", "task:addition?n=4", "--temperature", "0.7", "--seed", "1"])
    assert_one_line_error(code, err, "eval", "seed: None -> 1", "temperature: 0.0 -> 0.7")
    assert (tmp_path / "o.jsonl").read_bytes() == before
    code, printed, err = run_cli([*base, "--data", "task:addition?n=4", "--batch-size", "3"])  # same run: goes on
    assert code == 0 and "/4)" in printed, err
    code, printed, err = run_cli([*base, "--data", "task:arithmetic?n=4", "--limit", "1", "--force-new"])
    assert code == 0 and "/1)" in printed, err
    assert len(read_jsonl(out)) == 1
