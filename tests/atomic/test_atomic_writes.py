"""Files written atomically behave like ordinary files: modes, symlinks, devices, pipes, failures."""

import json
import os
import stat
import subprocess
import sys
import threading

import numpy as np
import pytest
from cli_support import umask

from minireason.atomic import atomic_write, atomic_write_jsonl, atomic_write_text, default_file_mode
from minireason.errors import InputError
from minireason.training.checkpoint import save_checkpoint


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
