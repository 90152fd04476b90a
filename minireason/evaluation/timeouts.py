"""How a grading call is bounded in wall time, from any thread and any process.

The usual trick, ``signal.alarm``, works only in the main thread of the main interpreter and
cannot interrupt C code (a big-integer power inside sympy never returns to Python). So the
grader is split in two:

1. **Cheap exact paths in the caller's process.** Normalisation, reading the structure and
   comparing integers, fractions, decimals and words are linear-time string and ``Fraction``
   work on capped inputs: they finish in microseconds whatever the text, and decide most pairs.

2. **The sympy part in a persistent child process.** A pair the cheap paths cannot decide is
   sent, as one JSON line, to a worker process started with ``subprocess`` (``python -m
   minireason.evaluation.sympy_worker``), which parses with the whitelist parser, compares with
   sympy and answers with one JSON line. The caller waits with ``select`` until its deadline;
   if no answer has come, the worker is killed (SIGKILL, which nothing can ignore) and a fresh
   one is started in the background for the next call, and the pair is graded "not
   equivalent". A worker also caps its own memory (``RLIMIT_AS``), and exits when its stdin
   closes, so it never outlives its parent.

``subprocess`` rather than ``multiprocessing``: it works from any thread (no fork of a
threaded process), from daemonic pool workers (which ``multiprocessing`` forbids to have
children) and needs no pickling. Workers live in a :class:`WorkerPool`: a call takes an idle
worker or starts a new one, so threads grade in parallel, each with its own worker, and
:func:`minireason.evaluation.grader.grade_batch` uses several workers as parallel processes.

Starting a worker (importing sympy) takes about half a second, more on a busy machine. The very
first start in a process is waited for up to ``FIRST_START_SECONDS`` on top of the call's
timeout (otherwise the first symbolic pair of every run would be graded wrong on a slow
machine); every later start, such as the replacement of a killed worker, counts against the
deadline of the call that uses it. :func:`warm_up` starts workers ahead of time, and a killed
worker's replacement is started at once, so it is usually ready before it is needed. A worker
that is still starting at a deadline is not killed (its start is not wasted): it goes back to
the pool.
The pool notices a ``fork`` (a new process id) and starts afresh in the child.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

FIRST_START_SECONDS = 30.0
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


class WorkerDied(RuntimeError):
    """The worker process exited or closed its pipe."""


class SympyWorker:
    """One child process speaking JSON lines: request ``{"pred", "gold"}``, reply ``{"equal"}``."""

    def __init__(self):
        environment = dict(os.environ)
        environment["PYTHONPATH"] = _PACKAGE_PARENT + os.pathsep + environment.get("PYTHONPATH", "")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "minireason.evaluation.sympy_worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=environment, close_fds=True)
        self.buffer = bytearray()
        self.ready = False

    def _read_line(self, deadline: float) -> bytes | None:
        """One line from the worker, or None if the deadline passes first."""
        descriptor = self.process.stdout.fileno()
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            readable, _, _ = select.select([descriptor], [], [], remaining)
            if not readable:
                return None
            chunk = os.read(descriptor, 65536)
            if not chunk:
                raise WorkerDied("sympy worker closed its output")
            self.buffer += chunk
        line, _, rest = bytes(self.buffer).partition(b"\n")
        self.buffer = bytearray(rest)
        return line

    def wait_ready(self, deadline: float) -> bool:
        if not self.ready:
            line = self._read_line(deadline)
            if line is None:
                return False
            if line != b"ready":
                raise WorkerDied(f"sympy worker said {line[:80]!r} instead of ready")
            self.ready = True
        return True

    def send(self, message: dict) -> None:
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        self.process.stdin.flush()

    def receive(self, deadline: float) -> dict | None:
        line = self._read_line(deadline)
        return None if line is None else json.loads(line)

    def kill(self) -> None:
        try:
            self.process.kill()
            self.process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass


class WorkerPool:
    """Idle workers shared by all threads of this process; see the module docstring."""

    def __init__(self, max_idle: int = 4):
        self.max_idle = max_idle
        self._lock = threading.Lock()
        self._idle: list[SympyWorker] = []
        self._owner = os.getpid()
        self._had_ready_worker = False

    def _check_fork(self) -> None:
        if os.getpid() != self._owner:  # workers of the parent are not ours to use
            self._idle, self._owner, self._lock = [], os.getpid(), threading.Lock()
            self._had_ready_worker = False

    def take(self) -> SympyWorker:
        self._check_fork()
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return SympyWorker()

    def give_back(self, worker: SympyWorker) -> None:
        with self._lock:
            if len(self._idle) < self.max_idle and worker.process.poll() is None:
                self._idle.append(worker)
                return
        worker.kill()

    def warm_up(self, count: int = 1, wait_seconds: float = 0.0) -> None:
        """Start workers until ``count`` are idle; optionally wait up to ``wait_seconds`` until ready."""
        self._check_fork()
        self.max_idle = max(self.max_idle, count)
        with self._lock:
            missing = count - len(self._idle)
        started = [SympyWorker() for _ in range(max(0, missing))]
        deadline = time.monotonic() + wait_seconds
        for worker in started:
            try:
                worker.wait_ready(deadline)
            except WorkerDied:
                worker.kill()
                continue
            self._had_ready_worker = self._had_ready_worker or worker.ready
            self.give_back(worker)

    def call(self, message: dict, timeout: float) -> dict | None:
        """Send ``message`` to a worker and return its reply, or None if ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        worker = self.take()
        first_start = not self._had_ready_worker
        ready_deadline = max(deadline, time.monotonic() + FIRST_START_SECONDS) if first_start else deadline
        try:
            if not worker.wait_ready(ready_deadline):
                self.give_back(worker)  # still importing sympy: keep it for the next call
                return None
            if first_start:  # the first start does not eat into the computation's time
                deadline = max(deadline, time.monotonic() + timeout)
            self._had_ready_worker = True
            worker.send(message)
            reply = worker.receive(deadline)
        except (OSError, ValueError, WorkerDied):
            reply = None
            worker.kill()
            return None
        if reply is None:
            worker.kill()  # stuck in a computation: kill it, start a replacement now
            self.give_back(SympyWorker())
            return None
        self.give_back(worker)
        return reply

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.kill()


_POOL = WorkerPool()
atexit.register(_POOL.close)


def shared_pool() -> WorkerPool:
    """The process-wide pool of sympy workers."""
    return _POOL


def warm_up(count: int = 1, wait_seconds: float = 5.0) -> None:
    """Start ``count`` sympy workers now (and wait for them), so later calls do not pay the start."""
    _POOL.warm_up(count, wait_seconds)
