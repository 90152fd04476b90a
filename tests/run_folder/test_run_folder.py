"""Run folders and results files: made by the project or refused, one writer at a time, the run's
identity holding its data's contents, finite input weights, a start line that says it resumes."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from cli_support import assert_one_line_error, run_cli

from minireason.errors import CheckpointError, InputError
from minireason.evaluation.runs import run_evaluation
from minireason.io.pretrained import load_pretrained, save_pretrained
from minireason.model import Qwen3Model
from minireason.posttrain.grpo import GRPOConfig, train_grpo
from minireason.posttrain.teacher_data import SamplingSettings, sample_traces
from minireason.run_folder import (
    LOCK_NAME,
    MARKER_NAME,
    claim_run_folder,
    lock_results_file,
    releasing_run_folders,
)
from minireason.tasks.export import resolve_data
from minireason.training.run import start_line

HOLDER = textwrap.dedent("""
    import sys
    from minireason.run_folder import claim_run_folder, lock_results_file
    held = claim_run_folder(sys.argv[2], "grpo") if sys.argv[1] == "folder" else lock_results_file(sys.argv[2])
    print("held", flush=True)
    sys.stdin.read()
""")


@pytest.fixture
def holder():
    """Start another process holding a run folder (``holder("folder", path)``) or a results file's lock
    (``holder("file", path)``); it is ended at the end of the test."""
    started = []

    def start(kind, path):
        process = subprocess.Popen([sys.executable, "-c", HOLDER, kind, str(path)], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
        started.append(process)
        assert process.stdout.readline().strip() == "held"
        return process

    yield start
    for process in started:
        process.kill()
        process.wait(timeout=30)


def listing(path):
    return sorted(os.listdir(path))


# ----------------------------------------------------------------------------- hostile folders


def test_a_new_folder_is_made_and_marked_first(tmp_path):
    path = tmp_path / "a" / "run"
    with claim_run_folder(path, "grpo") as folder:
        assert folder.path == path and not folder.resumed
        marker = json.loads((path / MARKER_NAME).read_text())
        assert marker["command"] == "grpo" and {"created_at", "minireason_version"} <= set(marker)
        assert listing(path) == sorted([MARKER_NAME, LOCK_NAME])
        assert (path / LOCK_NAME).read_text().strip() == str(os.getpid())
    assert listing(path) == [MARKER_NAME]  # the lock goes with the claim
    (path / "metrics.jsonl").write_text("")
    with claim_run_folder(path, "grpo") as again:
        assert again.resumed


def test_an_empty_folder_is_taken(tmp_path):
    with claim_run_folder(tmp_path, "sft") as folder:
        assert not folder.resumed
    assert json.loads((tmp_path / MARKER_NAME).read_text())["command"] == "sft"


def test_a_users_folder_is_refused_naming_what_is_there_and_nothing_is_written(tmp_path):
    names = ["summary.json", "metrics.csv", "notes.txt", "a", "b", "c", "d"]
    for name in names:
        (tmp_path / name).write_text("mine")
    with pytest.raises(InputError, match="not a minireason run folder") as refused:
        claim_run_folder(tmp_path, "grpo")
    message = str(refused.value)
    assert "\n" not in message and "and 2 more" in message
    assert sum(name in message for name in names) == 5
    assert listing(tmp_path) == sorted(names)
    assert all((tmp_path / name).read_text() == "mine" for name in names)


def test_a_folder_of_another_command_is_refused(tmp_path):
    claim_run_folder(tmp_path, "sft").release()
    with pytest.raises(InputError, match="run folder of `minireason sft`, not of `minireason grpo`"):
        claim_run_folder(tmp_path, "grpo")


def test_a_damaged_marker_is_refused(tmp_path):
    (tmp_path / MARKER_NAME).write_text("{not json")
    with pytest.raises(InputError, match="not a readable run marker"):
        claim_run_folder(tmp_path, "grpo")


def test_a_dangling_symlink_and_a_file_are_refused_saying_so(tmp_path):
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "gone")
    with pytest.raises(InputError, match=r"is a symbolic link to .*gone, which does not exist") as refused:
        claim_run_folder(link, "grpo")
    assert "File exists" not in str(refused.value)
    assert not (tmp_path / "gone").exists()
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(InputError, match="exists and is not a directory"):
        claim_run_folder(file, "grpo")
    (tmp_path / "target").mkdir()
    (tmp_path / "to_folder").symlink_to(tmp_path / "target")
    with claim_run_folder(tmp_path / "to_folder", "grpo"):  # a link to a folder is that folder
        assert (tmp_path / "target" / MARKER_NAME).is_file()


# ----------------------------------------------------------------------------- one writer at a time


def test_a_second_process_is_refused_naming_the_holder(tmp_path, holder):
    process = holder("folder", tmp_path / "run")
    with pytest.raises(InputError, match=f"in use by process {process.pid}"):
        claim_run_folder(tmp_path / "run", "grpo")


def test_a_dead_holders_lock_is_taken_over(tmp_path, holder):
    process = holder("folder", tmp_path / "run")
    process.kill()
    process.wait(timeout=30)
    assert (tmp_path / "run" / LOCK_NAME).read_text().strip() == str(process.pid)  # left behind by the kill
    with claim_run_folder(tmp_path / "run", "grpo") as folder:
        assert folder.resumed
        assert (tmp_path / "run" / LOCK_NAME).read_text().strip() == str(os.getpid())


def test_a_lock_file_naming_a_dead_pid_is_taken_over(tmp_path):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
    claim_run_folder(tmp_path, "grpo").release()
    (tmp_path / LOCK_NAME).write_text(finished.stdout)
    with claim_run_folder(tmp_path, "grpo"):
        assert (tmp_path / LOCK_NAME).read_text().strip() == str(os.getpid())


def test_a_child_works_under_its_parents_claim(tmp_path, holder):
    child_claim = ("import sys; from minireason.run_folder import claim_run_folder; "
                   "folder = claim_run_folder(sys.argv[1], 'grpo'); print(folder.command, folder.resumed)")
    with claim_run_folder(tmp_path / "stage", "demo grpo"):
        child = subprocess.run([sys.executable, "-c", child_claim, str(tmp_path / "stage")], capture_output=True,
                               text=True)
        assert child.returncode == 0 and child.stdout.strip() == "demo grpo True", child.stderr
        assert (tmp_path / "stage" / LOCK_NAME).read_text().strip() == str(os.getpid())
    # a process that is not the holder's child is refused
    other = holder("folder", tmp_path / "other")
    child = subprocess.run([sys.executable, "-c", child_claim, str(tmp_path / "other")], capture_output=True,
                           text=True)
    assert child.returncode != 0 and f"in use by process {other.pid}" in child.stderr


def test_nested_claims_share_one_lock(tmp_path):
    outer = claim_run_folder(tmp_path, "demo")
    stage = claim_run_folder(tmp_path / "grpo", "grpo")
    inner = claim_run_folder(tmp_path / "grpo", "grpo")  # the command, then the trainer it calls
    assert inner.resumed == stage.resumed is False
    stage_trainer = claim_run_folder(tmp_path / "grpo", "sft")  # joins: the first claim named the command
    assert stage_trainer.command == "grpo"
    stage_trainer.release()
    inner.release()
    assert (tmp_path / "grpo" / LOCK_NAME).exists()  # still held by the outer claim
    stage.release()
    stage.release()  # a second release does nothing
    assert not (tmp_path / "grpo" / LOCK_NAME).exists()
    outer.release()
    assert listing(tmp_path) == sorted([MARKER_NAME, "grpo"])


def test_a_command_releases_its_claims_when_it_returns(tmp_path):
    @releasing_run_folders
    def command(path):
        claim_run_folder(path, "grpo")
        raise InputError("stopped")

    with pytest.raises(InputError):
        command(tmp_path)
    assert not (tmp_path / LOCK_NAME).exists()


def test_results_file_lock_refuses_a_second_writer(tmp_path, holder):
    out = tmp_path / "results.jsonl"
    process = holder("file", out)
    assert (tmp_path / "results.jsonl.lock").read_text().strip() == str(process.pid)
    with pytest.raises(InputError, match=f"in use by process {process.pid}"):
        lock_results_file(out)
    # eval and teacher data take the lock before anything else (no model needed to be refused)
    with pytest.raises(InputError, match=f"in use by process {process.pid}"):
        run_evaluation(None, None, [], out)
    with pytest.raises(InputError, match=f"in use by process {process.pid}"):
        sample_traces(None, None, [{"problem": "1+1", "answer": "2"}], SamplingSettings("m", "d"), out)
    assert not out.exists()
    process.kill()
    process.wait(timeout=30)
    with lock_results_file(out):  # a dead writer's lock is taken over
        assert (tmp_path / "results.jsonl.lock").read_text().strip() == str(os.getpid())
    assert not (tmp_path / "results.jsonl.lock").exists()
    with lock_results_file("/dev/null"):  # streamed, not kept: no lock beside it
        pass


def test_teacher_data_does_not_replace_a_users_file(tmp_path):
    out = tmp_path / "traces.jsonl"
    out.write_text("my own notes\n")
    with pytest.raises(InputError, match="not written by this command"):
        sample_traces(None, None, [{"problem": "1+1", "answer": "2"}], SamplingSettings("m", "d"), out)
    assert out.read_text() == "my own notes\n"


def test_eval_does_not_replace_a_users_file_even_when_starting_over(tmp_path):
    model, tokenizer = load_pretrained("builtin:student")
    out = tmp_path / "results.jsonl"
    out.write_text("my own notes\n")  # one line: a reader would take it for a torn record
    for force_new in (False, True):
        with pytest.raises(InputError, match="was not written by `minireason eval`"):
            run_evaluation(model, tokenizer, resolve_data("task:addition?n=2"), out, force_new=force_new,
                           progress=False)
    assert out.read_text() == "my own notes\n"


# ----------------------------------------------------------------------------- training runs


@pytest.fixture(scope="module")
def student():
    return load_pretrained("builtin:student")


def fresh(student):
    model, tokenizer = student
    return Qwen3Model(model.config, {name: value.copy() for name, value in model.params.items()}), tokenizer


def tiny_config(**changes) -> GRPOConfig:
    settings = dict(steps=1, prompts_per_step=2, group_size=2, max_new_tokens=8, temperature=1.0,
                    eval_every=0, checkpoint_every=1, eval_max_new_tokens=8)
    return GRPOConfig(**{**settings, **changes})


def test_grpo_resume_onto_changed_data_contents_is_refused_naming_it(student, tmp_path):
    train = resolve_data("task:addition?n=6&split=train&difficulty=1")
    held_out = resolve_data("task:addition?n=2&split=test&difficulty=1")
    train_grpo(*fresh(student), train, tiny_config(), tmp_path, held_out, progress=False)
    changed = [dict(train[0], answer=train[0]["answer"] + "0"), *train[1:]]
    with pytest.raises(CheckpointError, match=r"\(train_data_sha256: [0-9a-f]{12}\.\.\. -> [0-9a-f]{12}\.\.\.\)") \
            as refused:
        train_grpo(*fresh(student), changed, tiny_config(steps=2), tmp_path, held_out, progress=False)
    assert len(str(refused.value)) < 300
    with pytest.raises(CheckpointError, match=r"\(eval_data_sha256: [0-9a-f]{12}\.\.\. -> [0-9a-f]{12}\.\.\.\)"):
        train_grpo(*fresh(student), train, tiny_config(steps=2), tmp_path, held_out[:1], progress=False)
    history = train_grpo(*fresh(student), train, tiny_config(steps=2), tmp_path, held_out, progress=False)
    assert history["summary"]["resumed_from"] == 1


def test_a_training_run_refuses_a_users_folder_before_any_work(student, tmp_path):
    (tmp_path / "summary.json").write_text("mine")
    train = resolve_data("task:addition?n=4&split=train&difficulty=1")
    with pytest.raises(InputError, match=r"not a minireason run folder \(it holds summary.json\)"):
        train_grpo(*fresh(student), train, tiny_config(), tmp_path, progress=False)
    assert listing(tmp_path) == ["summary.json"]


@pytest.mark.parametrize("value, kind", [(np.nan, "NaN"), (np.inf, "inf")])
def test_non_finite_input_weights_are_refused_naming_the_tensor(student, tmp_path, value, kind):
    model, tokenizer = fresh(student)
    model.params["model.layers.0.mlp.up_proj.weight"][1, 2] = value
    train = resolve_data("task:addition?n=4&split=train&difficulty=1")
    with pytest.raises(InputError, match=f"model.layers.0.mlp.up_proj.weight holds {kind}"):
        train_grpo(model, tokenizer, train, tiny_config(kl_beta=0.0), tmp_path, progress=False)
    assert not (tmp_path / "metrics.jsonl").exists() and not (tmp_path / "final").exists()


def test_cli_refuses_nan_weights_and_a_users_folder_in_one_line(student, tmp_path):
    model, tokenizer = fresh(student)
    model.params["model.layers.0.mlp.up_proj.weight"][0, 0] = np.nan
    save_pretrained(tmp_path / "nan_model", model, tokenizer)
    base = ["--data", "task:addition?n=4&split=train&difficulty=1", "--steps", "1", "--no-progress"]
    code, _, err = run_cli(["grpo", "--model", str(tmp_path / "nan_model"), *base, "--out-dir", str(tmp_path / "o")])
    assert_one_line_error(code, err, "grpo", "model.layers.0.mlp.up_proj.weight holds NaN")
    users = tmp_path / "users"
    users.mkdir()
    (users / "metrics.csv").write_text("mine")
    # refused before the model is looked at: a model that does not exist is not the complaint
    code, _, err = run_cli(["grpo", "--model", str(tmp_path / "absent"), *base, "--out-dir", str(users)])
    assert_one_line_error(code, err, "grpo", "not a minireason run folder", "metrics.csv")
    assert listing(users) == ["metrics.csv"]
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "nowhere")
    code, _, err = run_cli(["grpo", "--model", "builtin:student", *base, "--out-dir", str(link)])
    assert_one_line_error(code, err, "grpo", "is a symbolic link to", "which does not exist")


def test_a_resumed_run_says_so_in_its_first_line(tmp_path):
    out = tmp_path / "run"
    base = ["grpo", "--model", "builtin:student", "--data", "task:addition?n=4&split=train&difficulty=1",
            "--prompts-per-step", "2", "--group-size", "2", "--max-new-tokens", "8", "--no-progress",
            "--out-dir", str(out)]
    code, _, err = run_cli([*base, "--steps", "1"])
    assert code == 0, err
    assert err.splitlines()[0] == f"grpo: new run in {out}"
    code, _, err = run_cli([*base, "--steps", "2"])
    assert code == 0, err
    assert err.splitlines()[0] == f"grpo: resuming {out} at step 1 of 2"
    assert not (out / LOCK_NAME).exists()  # the command let go of its folder


def test_commands_are_refused_at_once_while_another_process_writes(tmp_path, holder):
    folder_holder = holder("folder", tmp_path / "run")
    code, _, err = run_cli(["grpo", "--model", "builtin:student", "--data", "task:addition?n=4", "--steps", "1",
                            "--no-progress", "--out-dir", str(tmp_path / "run")])
    assert_one_line_error(code, err, "grpo", f"in use by process {folder_holder.pid}")
    assert not (tmp_path / "run" / "metrics.jsonl").exists()
    file_holder = holder("file", tmp_path / "results.jsonl")
    code, _, err = run_cli(["eval", "--model", "builtin:student", "--data", "task:addition?n=2", "--no-progress",
                            "--out", str(tmp_path / "results.jsonl")])
    assert_one_line_error(code, err, "eval", f"in use by process {file_holder.pid}")
    assert not (tmp_path / "results.jsonl").exists()


def test_start_line_says_new_resuming_or_starting_over(tmp_path):
    with claim_run_folder(tmp_path / "run", "sft") as folder:
        assert start_line("sft", folder, 10) == f"sft: new run in {folder.path}"
        (folder.path / "checkpoint").mkdir()
        (folder.path / "checkpoint" / "state.json").write_text(json.dumps({"step": 4}))
        assert start_line("sft", folder, 10) == f"sft: resuming {folder.path} at step 4 of 10"
        assert start_line("sft", folder, 10, resume=False).startswith(f"sft: starting over in {folder.path}")


def test_teacher_data_resume_with_another_model_is_refused_naming_it(student, tmp_path):
    problems = resolve_data("task:addition?n=2&split=train&difficulty=1")
    settings = SamplingSettings("builtin:student", "addition", samples=1, max_new_tokens=4, problems_per_batch=1)
    out = tmp_path / "traces.jsonl"
    model, tokenizer = fresh(student)
    sample_traces(model, tokenizer, problems[:1], settings, out, progress=False)
    before = out.read_bytes()
    model.params["model.norm.weight"][0] += 1.0
    with pytest.raises(InputError, match=r"model_sha256: [0-9a-f]{12}\.\.\. -> [0-9a-f]{12}\.\.\."):
        sample_traces(model, tokenizer, problems[:1], settings, out, progress=False)
    assert out.read_bytes() == before


def test_a_forked_child_releasing_its_copy_keeps_the_parents_lock(tmp_path):
    with claim_run_folder(tmp_path, "grpo") as folder:
        child = os.fork()
        if child == 0:  # the child: join the inherited claim, then let go of everything it inherited
            code = 0
            try:
                claim_run_folder(tmp_path, "grpo").release()
                folder.release()
            except BaseException:
                code = 1
            os._exit(code)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert (tmp_path / LOCK_NAME).read_text().strip() == str(os.getpid())
        # a process that is not our child (a grandchild) is still refused: the lock is held
        grandchild = ("import subprocess, sys; subprocess.run([sys.executable, '-c', 'import sys; from "
                      "minireason.run_folder import claim_run_folder; claim_run_folder(sys.argv[1], \\'grpo\\')', "
                      "sys.argv[1]])")
        refused = subprocess.run([sys.executable, "-c", grandchild, str(tmp_path)], capture_output=True, text=True)
        assert f"in use by process {os.getpid()}" in refused.stderr
