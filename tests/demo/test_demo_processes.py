"""The demo's GRPO child dies with its parent: a parent killed with SIGKILL leaves no child running
and no grpo/final written after it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from paths import REPOSITORY

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork and /proc: Linux")



def process_gone(pid: int) -> bool:
    """No such process, or a zombie (dead, waiting to be reaped by whoever inherited it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True
    return state in ("Z", "X")


def wait_until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def start_python(code: str) -> subprocess.Popen:
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPOSITORY, env=environment, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def read_line_with(process: subprocess.Popen, stream, marker: str) -> str:
    for line in stream:
        if marker in line:
            return line
    raise AssertionError(f"the process ended (code {process.wait()}) before printing {marker!r}")


def test_killing_the_demo_kills_its_grpo_child_and_no_final_appears(tmp_path):
    out = tmp_path / "out"
    # GRPO long enough that it would still be training when the parent is killed
    parent = start_python(
        "from minireason.demo import DemoSettings, run_demo\n"
        f"run_demo(DemoSettings.quick(grpo_steps=400, grpo_eval_every=0), ['direct', 'grpo'], {str(out)!r})\n")
    try:
        line = read_line_with(parent, parent.stderr, "running in process")
        child_pid = int(line.split("running in process")[1].split(",")[0])
        assert wait_until(lambda: (out / "grpo" / "metrics.jsonl").exists(), 120), "the child never trained"
        assert not process_gone(child_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert wait_until(lambda: process_gone(child_pid), 5), "the GRPO child outlived its parent"
        steps_written = (out / "grpo" / "metrics.jsonl").read_text()
        time.sleep(1.0)
        assert (out / "grpo" / "metrics.jsonl").read_text() == steps_written  # nothing more written
        assert not (out / "grpo" / "final").exists() and not (out / "report.json").exists()
    finally:
        parent.kill()
        parent.wait()


@pytest.mark.parametrize("use_prctl", [True, False])
def test_a_child_tied_to_its_parent_dies_with_it(use_prctl):
    # the tie itself, through the kernel (prctl) and through the portable fallback (a watchdog thread)
    parent = start_python(
        "import multiprocessing, os, time\n"
        "from minireason.demo.beside import die_with_parent\n"
        "parent_pid = os.getpid()\n"
        "def child():\n"
        f"    os.write(1, ('tied by ' + die_with_parent(parent_pid, use_prctl={use_prctl}) + chr(10)).encode())\n"
        "    time.sleep(120)\n"
        "process = multiprocessing.get_context('fork').Process(target=child)\n"
        "process.start()\n"
        "os.write(1, f'child {process.pid}\\n'.encode())  # one write: the two processes share the pipe\n"
        "time.sleep(120)\n")
    try:
        said = {}  # the two lines come from two processes, in either order
        while len(said) < 2:
            line = read_line_with(parent, parent.stdout, "")
            said[line.split()[0]] = line.split()[-1]
        child_pid, how = int(said["child"]), said["tied"]
        assert how == ("prctl" if use_prctl else "watchdog")
        time.sleep(0.2)
        assert not process_gone(child_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert wait_until(lambda: process_gone(child_pid), 5), f"the child outlived its parent ({how})"
    finally:
        parent.kill()
        parent.wait()
