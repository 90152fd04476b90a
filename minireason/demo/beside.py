"""One stage in a forked child process beside the others, and the child's tie to its parent.

The child writes its result (or its error) as JSON into a hand-over file; the parent waits for it
and raises the child's error, if any, as its own.  The child's progress lines come back through a
pipe and go to the parent's own printer, so they go wherever the parent's go (a redirected
``sys.stderr``, a ``log`` callback), as they are written.  The child dies with its parent: a parent killed
with SIGKILL runs no clean-up, so the child asks the kernel to kill it when the parent goes
(Linux ``prctl(PR_SET_PDEATHSIG)``), or, where that is not available, watches its parent's pid from
a thread; either way it never writes a stage's files for a parent that is gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from minireason import errors
from minireason.atomic import atomic_write_text

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
WATCHDOG_SECONDS = 0.5


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(WATCHDOG_SECONDS)
    os._exit(1)  # the parent is gone: stop now, write nothing more


def die_with_parent(parent_pid: int, use_prctl: bool = True) -> str:
    """Make this (child) process end when ``parent_pid`` ends; returns how: "prctl" or "watchdog".

    Called first thing in the child.  PR_SET_PDEATHSIG fires when the parent exits however it exits
    (SIGKILL included); a parent that died before the call is caught by the pid check after it."""
    how = "watchdog"
    if use_prctl and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0:
                how = "prctl"
    if how == "watchdog":
        threading.Thread(target=_watch_parent, args=(parent_pid,), name="parent watchdog", daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the tie was made
        os._exit(1)
    return how


def _forward_lines(read_end: int, log: Callable[[str], None]) -> None:
    with os.fdopen(read_end, "r", encoding="utf-8", errors="replace") as lines:
        for line in lines:
            log(line.rstrip("\n"))


class ChildStage:
    """A stage running in a forked child: :meth:`wait` gives its JSON result, :meth:`stop` ends it."""

    def __init__(self, name: str, work: Callable[[Callable[[str], None] | None], dict], result_path: Path,
                 log: Callable[[str], None] | None):
        """``work(log)`` runs in the child with a printer whose lines reach ``log`` here (None: silent)."""
        self.name = name
        self.result_path = result_path
        result_path.unlink(missing_ok=True)
        parent_pid = os.getpid()
        read_end, write_end = os.pipe() if log is not None else (None, None)

        def child() -> None:
            die_with_parent(parent_pid)
            child_log = None
            if write_end is not None:
                os.close(read_end)
                lines = os.fdopen(write_end, "w", encoding="utf-8", buffering=1)

                def child_log(text: str) -> None:
                    lines.write(text.replace("\n", " ") + "\n")
            try:
                result = work(child_log)
            except Exception as error:  # reported to the parent, which raises it
                result = {"error_type": type(error).__name__, "error": str(error)}
            atomic_write_text(result_path, json.dumps(result) + "\n")

        # daemon: a parent that stops early (an error, Ctrl-C) and exits takes the child with it
        self.process = multiprocessing.get_context("fork").Process(target=child, name=f"minireason demo {name}",
                                                                   daemon=True)
        self.process.start()
        self.reader = None
        if read_end is not None:
            os.close(write_end)
            self.reader = threading.Thread(target=_forward_lines, args=(read_end, log), daemon=True,
                                           name=f"minireason demo {name} lines")
            self.reader.start()

    @property
    def pid(self) -> int:
        """The child process's id."""
        return self.process.pid

    def stop(self) -> None:
        """End the child now (the parent is stopping without its result)."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self._join_reader()
        self.result_path.unlink(missing_ok=True)

    def _join_reader(self) -> None:
        if self.reader is not None:
            self.reader.join()  # the pipe ends when the child does: every line it wrote has been printed

    def wait(self) -> dict:
        """The child's result; its error raised here (the same class when it is one of minireason.errors)."""
        self.process.join()
        self._join_reader()
        if not self.result_path.exists():
            raise errors.MinireasonError(f"demo stage {self.name}: its process ended with code "
                                         f"{self.process.exitcode} and no result")
        result = json.loads(self.result_path.read_text(encoding="utf-8"))
        self.result_path.unlink()
        if "error" in result:
            error_class = getattr(errors, result["error_type"], None)
            if not (isinstance(error_class, type) and issubclass(error_class, errors.MinireasonError)):
                raise errors.MinireasonError(f"demo stage {self.name}: {result['error_type']}: {result['error']}")
            raise error_class(result["error"])
        return result
