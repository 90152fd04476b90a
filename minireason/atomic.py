"""Atomic file writes: the one helper every module that saves user data goes through.

A file is written to a temporary name in the same directory, flushed to disk, then renamed
over the target. ``os.replace`` is atomic when both names are on one file system, which the
shared directory guarantees: a reader (or a crash) sees the old file or the new one, never half.

What is at the path decides how it is written:

- nothing yet, or a regular file: atomic replacement. A new file gets the usual mode
  (0666 minus the umask, as ``open`` would give it; ``mkstemp``'s own 0600 is not kept); a
  replaced file keeps its mode. (A replaced file's other hard links keep the old contents,
  as with any rename-based write.)
- a symbolic link: followed; its target is replaced atomically, in the target's directory,
  and the link stays a link. A dangling link creates its target.
- a character device or a FIFO (``/dev/stdout``, ``/dev/null``, a named pipe), and the
  descriptor aliases ``/dev/stdout``, ``/dev/fd/N``, ``/proc/self/fd/N`` whatever they point
  at: written through, streamed, never replaced (there is nothing to make atomic, and a
  rename would put a regular file where the device was). A write error such as ENOSPC from
  ``/dev/full`` is raised as an ``OSError`` naming the path.
- a directory, a block device or a socket: refused with an ``InputError``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from minireason.errors import InputError
from minireason.jsonl import jsonl_line

# paths that name an open descriptor of this process rather than a file of their own
DESCRIPTOR_ALIASES = ("/dev/stdin", "/dev/stdout", "/dev/stderr")
DESCRIPTOR_DIRECTORIES = ("/dev/fd", "/proc/self/fd", "/proc/thread-self/fd")


def current_umask() -> int:
    """The process's umask (read from /proc where it can be, so that it is never changed)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no other way to read it: set and restore at once
    os.umask(mask)
    return mask


def default_file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file: 0666 minus the umask."""
    return 0o666 & ~current_umask()


def _is_descriptor_alias(path: str) -> bool:
    """Whether ``path`` names one of this process's open descriptors (/dev/stdout, /dev/fd/1, ...)."""
    absolute = os.path.abspath(path)
    if absolute in DESCRIPTOR_ALIASES:
        return True
    parent = os.path.dirname(absolute)
    if parent in DESCRIPTOR_DIRECTORIES:
        return True
    parts = absolute.split(os.sep)  # /proc/PID/fd/N and /proc/PID/task/TID/fd/N
    return len(parts) >= 5 and parts[1] == "proc" and parts[-2] == "fd"


def write_target(path: str | os.PathLike) -> tuple[str, Path, int | None]:
    """How ``path`` is written: ``("through", path, None)`` or ``("replace", target, mode)``.

    ``target`` is the file to replace (symbolic links followed) and ``mode`` the permission bits
    it gets. Raises InputError for a directory, a block device or a socket, and
    FileNotFoundError naming the directory when the target's directory does not exist.
    """
    path = Path(path)
    if _is_descriptor_alias(os.fspath(path)):
        return "through", path, None
    try:
        status = os.stat(path)  # follows symbolic links
    except FileNotFoundError:
        status = None
    except NotADirectoryError:
        raise InputError(f"{path}: a part of the path before the file name is not a directory") from None
    if status is not None:
        if stat.S_ISDIR(status.st_mode):
            raise InputError(f"{path}: is a directory; expected a file path")
        if stat.S_ISCHR(status.st_mode) or stat.S_ISFIFO(status.st_mode):
            return "through", path, None
        if not stat.S_ISREG(status.st_mode):
            kind = "a block device" if stat.S_ISBLK(status.st_mode) else "a socket or other special file"
            raise InputError(f"{path}: is {kind}; refusing to write to it")
    target = Path(os.path.realpath(path))  # a symbolic link's target (also a dangling one's)
    if not target.parent.is_dir():
        raise FileNotFoundError(errno.ENOENT, "no such directory to write into", os.fspath(target.parent))
    mode = stat.S_IMODE(status.st_mode) if status is not None else default_file_mode()
    return "replace", target, mode


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None,
                 newline: str | None = None):
    """Open a temporary file next to ``path``; on success, fsync it and rename it over ``path``.

    If the body raises, the temporary file is removed and ``path`` is untouched. Special files
    and symbolic links: see the module docstring (devices and FIFOs are written through).
    """
    if "b" not in mode and encoding is None:
        encoding = "utf-8"
    how, target, file_mode = write_target(path)
    if how == "through":
        with _written_through(target, mode, encoding, newline) as handle:
            yield handle
        return
    descriptor, temporary_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(descriptor, file_mode)  # mkstemp makes 0600; a written file gets the usual mode
        with os.fdopen(descriptor, mode, encoding=encoding, newline=newline) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary_name)
        raise
    fsync_directory(target.parent)


@contextlib.contextmanager
def _written_through(path: Path, mode: str, encoding: str | None, newline: str | None):
    """Stream straight into a device or pipe; an OSError on the way names the path."""
    try:
        handle = open(path, mode, encoding=encoding, newline=newline)  # noqa: SIM115 - closed below
    except OSError as error:
        raise type(error)(error.errno, error.strerror, os.fspath(path)) from None
    try:
        yield handle
        handle.flush()
    except OSError as error:
        with contextlib.suppress(OSError):
            handle.close()
        if error.filename is not None:  # the body's own error about another file: not ours to rename
            raise
        raise type(error)(error.errno, f"writing failed: {error.strerror}", os.fspath(path)) from None
    except BaseException:
        with contextlib.suppress(OSError):
            handle.close()
        raise
    try:
        handle.close()
    except OSError as error:
        raise type(error)(error.errno, f"writing failed: {error.strerror}", os.fspath(path)) from None


def fsync_directory(directory: Path) -> None:
    """Make a rename durable (best effort: not every platform can open a directory)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Writes ``text`` to ``path`` atomically: readers see the old file or the whole new one, never a torn one."""
    with atomic_write(path, "w") as handle:
        handle.write(text)


def atomic_write_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> None:
    """One JSON object per line, written atomically (see :func:`minireason.jsonl.jsonl_line`)."""
    with atomic_write(path, "w") as handle:
        for record in records:
            handle.write(jsonl_line(record))
