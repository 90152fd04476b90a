"""The demo's output folder: a user's folder, another command's folder and a foreign stage folder are
refused before any stage runs, with nothing written; a demo's own folder is run again cleanly."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from minireason.demo import DemoSettings, run_demo
from minireason.demo.folders import claim_demo_folders
from minireason.errors import InputError


def snapshot(root):
    """Every entry under ``root``: its kind, and for a file its size, mtime and hash (a folder's own mtime
    is left out: taking and dropping the lock, the one transient file of a refused claim, changes it)."""
    entries = {}
    for directory, folders, files in os.walk(root):
        for name in folders + files:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as file:
                    digest = hashlib.sha256(file.read()).hexdigest()
                entries[os.path.relpath(path, root)] = (oct(info.st_mode), info.st_size, info.st_mtime_ns, digest)
            else:
                entries[os.path.relpath(path, root)] = (oct(info.st_mode),)
    return entries


def never_called(context):
    raise AssertionError("a stage ran in a folder that should have been refused")


@pytest.fixture
def stages_must_not_run(monkeypatch):
    from minireason import demo

    for name in demo.STAGE_FUNCTIONS:
        monkeypatch.setitem(demo.STAGE_FUNCTIONS, name, never_called)


def test_a_users_folder_is_refused_and_left_as_it_was(tmp_path, stages_must_not_run):
    out = tmp_path / "out"
    (out / "scaling").mkdir(parents=True)
    (out / "scaling" / "records.jsonl").write_text('{"mine": true}\n')
    (out / "summary.json").write_text("{}\n")
    before = snapshot(tmp_path)
    with pytest.raises(InputError) as refusal:
        run_demo(DemoSettings.quick(), None, out, log=None)
    message = str(refusal.value)
    assert "\n" not in message and str(out) in message and "scaling" in message and "summary.json" in message
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("stages", [None, ["grpo"], ["direct", "scaling", "grpo"]])
def test_a_foreign_stage_folder_in_a_demo_folder_is_refused_before_any_stage(tmp_path, stages, stages_must_not_run):
    out = tmp_path / "out"
    claim_demo_folders(out, ["direct"]).release()  # a demo run folder, as an earlier demo leaves it
    (out / "grpo").mkdir()
    (out / "grpo" / "notes.txt").write_text("mine")
    before = snapshot(tmp_path)
    with pytest.raises(InputError, match="grpo"):
        run_demo(DemoSettings.quick(), stages, out, log=None)
    assert snapshot(tmp_path) == before  # nothing made, nothing written: no scaling/, no report, no lock left


def test_another_commands_run_folder_is_refused(tmp_path, stages_must_not_run):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".minireason-run.json").write_text(json.dumps({"command": "grpo", "created_at": "then",
                                                          "minireason_version": "0"}) + "\n")
    before = snapshot(tmp_path)
    with pytest.raises(InputError, match="grpo"):
        run_demo(DemoSettings.quick(), ["direct"], out, log=None)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("kind", ["file", "dangling symlink"])
def test_an_out_dir_that_is_not_a_folder_gets_a_one_line_error(tmp_path, kind, stages_must_not_run):
    out = tmp_path / "out"
    if kind == "file":
        out.write_text("not a folder")
    else:
        out.symlink_to(tmp_path / "nowhere")
    with pytest.raises(InputError) as refusal:
        run_demo(DemoSettings.quick(), ["direct"], out, log=None)
    assert str(out) in str(refusal.value) and "\n" not in str(refusal.value)
    assert not (tmp_path / "nowhere").exists()


def test_a_demo_folder_runs_again_with_its_stage_folders_emptied(tmp_path):
    out = tmp_path / "out"
    claim_demo_folders(out, ["grpo"]).release()
    stale = out / "grpo" / "eval" / "step_99.json"  # an earlier run's file, which this run would misread
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    report = run_demo(DemoSettings.quick(parallel=False), ["grpo"], out, log=None)
    assert not stale.exists()
    assert [row.method for row in report.rows] == ["before", "after"]
    assert json.loads((out / "report.json").read_text())["stages"][1]["method"] == "after"
    assert not list(out.rglob(".minireason-run.lock"))  # every lock released at the end
