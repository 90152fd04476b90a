"""STAND-IN, written by the demo's branch so that its code and tests run: the real module is being
written on the ``runfolder`` branch, with exactly this API, and replaces this file at merge.

A run folder is made by the project or refused:

    folder = claim_run_folder(path, command="grpo")   # or: with claim_run_folder(...) as folder:
    folder.path       # Path
    folder.resumed    # True when the folder already held this command's marker (a run to resume)
    folder.release()  # drops the lock (also on __exit__ and at process exit)

A folder that does not exist is made and the marker (``.minireason-run.json``: command, created_at,
minireason_version) is written into it first; an empty folder is taken the same way; a non-empty
folder without the marker, or with another command's marker, is refused before any work.  One lock
per folder (``.minireason-run.lock``, made with O_EXCL, holding the pid): a second process is refused
at once naming the holder; the lock of a process that is gone is taken over.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import time
from pathlib import Path

from minireason.atomic import atomic_write_text
from minireason.errors import InputError

MARKER_NAME = ".minireason-run.json"
LOCK_NAME = ".minireason-run.lock"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _lock_holder(lock_path: Path) -> int | None:
    try:
        return int(lock_path.read_text(encoding="utf-8").strip() or "0")
    except (OSError, ValueError):
        return None


class RunFolder:
    """A claimed run folder: its path, whether it is resumed, and the lock this process holds."""

    def __init__(self, path: Path, resumed: bool):
        self.path = path
        self.resumed = resumed
        self._owner_pid = os.getpid()
        self._held = True
        atexit.register(self.release)

    def release(self) -> None:
        """Drop the lock (only the process that claimed the folder drops it; a forked child does not)."""
        if not self._held or os.getpid() != self._owner_pid:
            return
        self._held = False
        lock_path = self.path / LOCK_NAME
        if _lock_holder(lock_path) == self._owner_pid:
            with contextlib.suppress(FileNotFoundError):
                lock_path.unlink()

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()


def _take_lock(path: Path) -> None:
    lock_path = path / LOCK_NAME
    for _ in range(3):
        try:
            descriptor = os.open(lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            holder = _lock_holder(lock_path)
            if holder is not None and holder > 0 and _process_alive(holder):
                raise InputError(f"{path}: in use by process {holder} (its lock {LOCK_NAME}); "
                                 "wait for it or choose another folder") from None
            # the lock of a process that is gone: moved aside atomically, then taken as usual
            stale = path / f"{LOCK_NAME}.stale-{os.getpid()}"
            with contextlib.suppress(FileNotFoundError):
                os.replace(lock_path, stale)
                stale.unlink()
            continue
        with os.fdopen(descriptor, "w", encoding="utf-8") as lock_file:
            lock_file.write(f"{os.getpid()}\n")
        return
    raise InputError(f"{path}: could not take its lock {LOCK_NAME}")


def claim_run_folder(path: str | os.PathLike, command: str) -> RunFolder:
    """The run folder at ``path`` for ``command``, made or checked, and locked by this process."""
    from minireason import __version__

    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise InputError(f"{path}: is a dangling symbolic link, not a folder")
    if path.exists() and not path.is_dir():
        raise InputError(f"{path}: is a file, not a folder")
    marker_path = path / MARKER_NAME
    resumed = False
    if path.is_dir():
        entries = sorted(entry.name for entry in path.iterdir() if entry.name != LOCK_NAME)
        if marker_path.exists():
            try:
                marker = json.loads(marker_path.read_text(encoding="utf-8"))
                marked_command = marker["command"]
            except (OSError, ValueError, KeyError, TypeError):
                raise InputError(f"{marker_path}: unreadable run marker") from None
            if marked_command != command:
                raise InputError(f"{path}: is a run folder of '{marked_command}', not of '{command}'; "
                                 "choose another folder")
            resumed = True
        elif entries:
            shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
            raise InputError(f"{path}: is not empty and not a minireason run folder (it holds {shown}); "
                             "choose a new or empty folder")
    else:
        path.mkdir(parents=True)
    if not resumed:
        atomic_write_text(marker_path, json.dumps({"command": command,
                                                   "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                                   "minireason_version": __version__}) + "\n")
    _take_lock(path)
    return RunFolder(path, resumed)
