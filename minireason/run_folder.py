"""Run folders and results files that belong to one run: made by the project or refused, one writer at a time.

A command that writes a folder (``minireason grpo --out-dir runs/grpo``) claims it first::

    folder = claim_run_folder("runs/grpo", command="grpo")   # or: with claim_run_folder(...) as folder:
    folder.resumed     # the folder already held this command's marker: a run to resume

- The marker ``.minireason-run.json`` ({"command", "created_at", "minireason_version"}) says the
  project made the folder, and for which command.  A folder that does not exist is made and marked;
  an empty one is marked; a non-empty one without the marker is the user's and is refused (naming
  what is in it) before anything is written; a folder marked for another command is refused.
- One lock per folder, ``.minireason-run.lock``, holding the writer's process id.  The lock is an
  advisory ``flock`` on that file: the kernel drops it when the process dies however it dies, so a
  lock file left by a dead process is stale by construction and the next claim takes it over; a
  live holder makes a second claim fail at once, naming its pid.  (The pid in the file is for the
  message; the ``flock`` decides.)  The lock is taken before the folder's contents are judged, so
  two claims racing on a new folder cannot both see it empty.
- Claims nest: a command may claim sub-folders of its own run folder.  A claim of a folder this
  process already holds (the command line, then the trainer it calls; the demo's stage folder,
  then the stage's trainer) joins that claim, whatever command it names: the first claim decided
  the folder's command, and the joined claim reports it.  A child process of the holder (a stage
  run in a second process) joins its parent's claim the same way, under the parent's lock.

A results FILE that grows over sessions (``eval --out FILE``, ``distill-data --out FILE``) gets the
same one-writer rule with a lock file beside it, ``FILE.lock`` (:func:`lock_results_file`).

Locks are released on ``release()``, on leaving a ``with`` block, and at the latest when the process
exits.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import inspect
import json
import os
import time
from pathlib import Path

from minireason.atomic import atomic_write_text
from minireason.errors import InputError
from minireason.identity import project_version

try:
    import fcntl
except ImportError:  # no flock (Windows): an O_EXCL lock file; a stale one must be removed by hand
    fcntl = None

MARKER_NAME = ".minireason-run.json"
LOCK_NAME = ".minireason-run.lock"
LOCK_SUFFIX = ".lock"
SHOWN_ENTRIES = 5


class _Lock:
    """One held lock file: the open descriptor that carries the ``flock``, or None when the lock is
    the parent process's (a child working in its parent's folder)."""

    def __init__(self, path: Path, descriptor: int | None):
        self.path, self.descriptor = path, descriptor
        self.owner = os.getpid()  # a forked child inherits this object, but the lock stays its parent's

    def release(self) -> None:
        if self.descriptor is None:
            return
        with contextlib.suppress(OSError):
            # remove the file only while it is still ours (a stale-lock takeover may have replaced it)
            if os.getpid() == self.owner and os.path.samestat(os.fstat(self.descriptor), os.stat(self.path)):
                os.unlink(self.path)
        with contextlib.suppress(OSError):
            os.close(self.descriptor)
        self.descriptor = None


def _holder_pid(lock_path: Path) -> int | None:
    try:
        return int(lock_path.read_text(encoding="ascii").strip())
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _held_by_parent(lock_path: Path) -> bool:
    """Whether ``lock_path`` names this process's parent, which holds it (its ``flock`` is taken)."""
    if fcntl is None or _holder_pid(lock_path) != os.getppid():
        return False
    try:
        descriptor = os.open(lock_path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True  # taken: the parent holds it
    finally:
        os.close(descriptor)  # closing drops a shared lock we may have got
    return False


def _acquire(lock_path: Path, what: str) -> _Lock:
    """Take ``lock_path`` for this process, or raise InputError naming the live holder's pid."""
    if fcntl is None:
        return _acquire_exclusive_file(lock_path, what)
    for _ in range(10):  # a holder may remove the file between our open and our flock: open again
        try:
            descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as error:
            raise InputError(f"{what}: cannot make its lock file {lock_path} ({error.strerror})") from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(descriptor)
            holder = _holder_pid(lock_path)
            for _ in range(20):  # a holder that has just taken the lock writes its pid a moment later
                if holder is not None:
                    break
                time.sleep(0.01)
                holder = _holder_pid(lock_path)
            who = "this process" if holder == os.getpid() else f"process {holder if holder else '(unknown)'}"
            raise InputError(f"{what} is in use by {who} (lock {lock_path}); wait for it to finish or choose "
                             f"another") from None
        try:
            same_file = os.path.samestat(os.fstat(descriptor), os.stat(lock_path))
        except FileNotFoundError:
            same_file = False
        if same_file:
            os.ftruncate(descriptor, 0)
            os.write(descriptor, f"{os.getpid()}\n".encode("ascii"))
            return _Lock(lock_path, descriptor)
        os.close(descriptor)  # we locked a file its holder had just removed
    raise InputError(f"{what}: its lock {lock_path} keeps changing hands; try again")


def _acquire_exclusive_file(lock_path: Path, what: str) -> _Lock:
    try:
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        raise InputError(f"{what} is in use by process {_holder_pid(lock_path)} (lock {lock_path}); wait "
                         f"for it to finish, or remove the lock file if that process is gone") from None
    os.write(descriptor, f"{os.getpid()}\n".encode("ascii"))
    return _Lock(lock_path, descriptor)


class RunFolder:
    """A claimed run folder: ``path``, ``command``, ``resumed``; ``release()`` drops this claim."""

    def __init__(self, path: Path, command: str, resumed: bool, claim: _Claim):
        self.path, self.command, self.resumed = path, command, resumed
        self._claim: _Claim | None = claim

    def release(self) -> None:
        """Drop this claim; the folder's lock goes with the last claim this process holds on it."""
        if self._claim is not None:
            self._claim.drop()
            self._claim = None

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, *exc) -> bool:
        self.release()
        return False

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r}, command={self.command!r}, resumed={self.resumed})"


class _Claim:
    """This process's hold on one folder, shared by the RunFolder objects of nested claims."""

    def __init__(self, key: Path, command: str, resumed: bool, lock: _Lock):
        self.key, self.command, self.resumed, self.lock = key, command, resumed, lock
        self.holders = 1

    def drop(self) -> None:
        """One holder lets go; the last one releases the lock and forgets the claim."""
        self.holders -= 1
        if self.holders == 0:
            self.lock.release()
            _CLAIMS.pop(self.key, None)

    def drop_all(self) -> None:
        """Every holder lets go at once (a command returning, the process exiting)."""
        self.holders = 1
        self.drop()


_CLAIMS: dict[Path, _Claim] = {}


def _release_all() -> None:
    for claim in list(_CLAIMS.values()):
        claim.drop_all()


atexit.register(_release_all)


def _check_is_folder_path(path: Path) -> None:
    """A dangling symlink or a file is refused with a line saying exactly that."""
    if path.is_symlink() and not path.exists():
        raise InputError(f"{path}: is a symbolic link to {os.readlink(path)}, which does not exist; "
                         f"make that folder or choose another")
    if path.exists() and not path.is_dir():
        raise InputError(f"{path}: exists and is not a directory; choose another folder for the run")


def _read_marker(marker: Path) -> dict:
    try:
        value = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{marker}: not a readable run marker ({error}); choose another folder") from None
    if not isinstance(value, dict) or not isinstance(value.get("command"), str):
        raise InputError(f"{marker}: not a run marker (expected an object naming its 'command'); choose "
                         f"another folder")
    return value


def _judge_contents(path: Path, command: str) -> bool:
    """Whether the folder holds ``command``'s marker (a run to resume); InputError when the folder is
    the user's (not empty, no marker) or another command's.  Reads only."""
    if not path.is_dir():
        return False
    entries = sorted(name for name in os.listdir(path) if name != LOCK_NAME)
    if MARKER_NAME not in entries:
        if entries:
            shown = ", ".join(entries[:SHOWN_ENTRIES]) + (f" and {len(entries) - SHOWN_ENTRIES} more"
                                                          if len(entries) > SHOWN_ENTRIES else "")
            raise InputError(f"{path}: not empty and not a minireason run folder (it holds {shown}); "
                             f"choose an empty or new folder")
        return False
    marked = _read_marker(path / MARKER_NAME)["command"]
    if marked != command:
        raise InputError(f"{path}: is a run folder of `minireason {marked}`, not of `minireason {command}`; "
                         f"choose another folder")
    return True


def claim_run_folder(path, command: str) -> RunFolder:
    """Claim ``path`` as ``command``'s run folder (see the module docstring), before any work.

    InputError (one line) for a dangling symlink, a file, a non-empty folder the project did not
    make, a folder of another command, or a folder another live process holds.
    """
    if not isinstance(command, str) or not command:
        raise InputError(f"command: expected a non-empty string, got {command!r}")
    path = Path(path)
    _check_is_folder_path(path)
    key = path.resolve()
    held = _CLAIMS.get(key)
    if held is not None:  # a nested claim joins the outer one, which decided the folder's command
        held.holders += 1
        return RunFolder(path, held.command, held.resumed, held)
    if _held_by_parent(path / LOCK_NAME):  # a child working in its parent's folder, under its lock
        claim = _Claim(key, _read_marker(path / MARKER_NAME)["command"], True, _Lock(path / LOCK_NAME, None))
        _CLAIMS[key] = claim
        return RunFolder(path, claim.command, True, claim)
    _judge_contents(path, command)  # a user's folder is refused before anything is written into it
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"{path}: cannot make the run folder ({error.strerror})") from None
    lock = _acquire(path / LOCK_NAME, str(path))
    try:
        resumed = _judge_contents(path, command)  # again under the lock: another claim may have been first
        if not resumed:
            atomic_write_text(path / MARKER_NAME, json.dumps({
                "command": command, "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "minireason_version": project_version()}, indent=1) + "\n")
    except BaseException:
        lock.release()
        raise
    claim = _Claim(key, command, resumed, lock)
    _CLAIMS[key] = claim
    return RunFolder(path, command, resumed, claim)


def releasing_run_folders(function):
    """Decorate a command's ``run(args)``: the run folders it claimed and still holds are released when
    it returns (a process running several commands, such as a test, does not keep their locks)."""

    @functools.wraps(function)
    def run(*args, **kwargs):
        before = set(_CLAIMS)
        try:
            return function(*args, **kwargs)
        finally:
            for key in set(_CLAIMS) - before:
                _CLAIMS[key].drop_all()

    return run


class ResultsFileLock:
    """The one-writer lock of a results file, ``FILE.lock`` beside it; ``release()`` drops it."""

    def __init__(self, path: Path, lock: _Lock | None):
        self.path, self._lock = path, lock

    def release(self) -> None:
        """Drop the lock (and remove its file); a second call does nothing."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> ResultsFileLock:
        return self

    def __exit__(self, *exc) -> bool:
        self.release()
        return False


def lock_results_file(path) -> ResultsFileLock:
    """Hold ``path``'s lock (``PATH.lock``, the run folder's pid and stale-lock rules); InputError
    naming the holder's pid when another live process writes it.  A path that is a device or a pipe
    (``/dev/stdout``) is streamed, not kept, and needs no lock."""
    path = Path(path)
    if path.exists() and not path.is_file():
        return ResultsFileLock(path, None)
    lock_path = path.with_name(path.name + LOCK_SUFFIX)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
    return ResultsFileLock(path, _acquire(lock_path, str(path)))


def holding_results_file(parameter: str):
    """Decorate a function that writes the results file named by its argument ``parameter``: the file's
    lock (:func:`lock_results_file`) is held for the whole call."""

    def decorate(function):
        signature = inspect.signature(function)

        @functools.wraps(function)
        def locked(*args, **kwargs):
            path = signature.bind(*args, **kwargs).arguments[parameter]
            with lock_results_file(path):
                return function(*args, **kwargs)

        return locked

    return decorate
