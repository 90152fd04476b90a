"""Training checkpoints: parameters, optimizer state and loop state, written atomically.

Layout of ``DIR/checkpoint/``:
    params.safetensors      the model's parameters (Hugging Face names)
    optimizer.safetensors   AdamW moments and step
    state.json              step, config, the RNG state of the data sampler, anything else the loop keeps
A new checkpoint is written into a temporary sibling directory and renamed over the old one, so
an interrupt leaves either the old checkpoint or the new one, never a mix. The rename is two
steps (``checkpoint`` -> ``.checkpoint.old.PID``, then the new one -> ``checkpoint``); a kill
between them leaves only the old one, which :func:`load_checkpoint` puts back and resumes from.
The directory and its files get the usual modes (0777 / 0666 minus the umask), like any
directory and file the user makes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from minireason.atomic import current_umask
from minireason.errors import CheckpointError
from minireason.io.safetensors import load_safetensors, save_safetensors

OLD_PREFIX = ".checkpoint.old."
STAGING_PREFIX = ".checkpoint."
REQUIRED_STATE = {"step": int, "rng_state": dict}  # what every resume reads; the rest is read with defaults


def save_checkpoint(directory, params, optimizer_state, state: dict) -> Path:
    """Writes parameters, optimizer state and the trainer's ``state`` into ``directory`` atomically
    (staged beside it, then renamed); returns the checkpoint's folder. Raises ``CheckpointError`` when
    ``directory`` is not a directory or ``state`` lacks what a resume reads."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise CheckpointError(f"{directory}: exists and is not a directory; checkpoints need a directory")
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "checkpoint"
    if target.is_dir():  # left by a kill after the second rename: obsolete
        for leftover in directory.glob(f"{OLD_PREFIX}*"):
            shutil.rmtree(leftover, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=directory))
    try:
        os.chmod(staging, 0o777 & ~current_umask())  # mkdtemp makes 0700
        save_safetensors(staging / "params.safetensors", params)
        save_safetensors(staging / "optimizer.safetensors", optimizer_state)
        with open(staging / "state.json", "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        old = None
        if target.exists():
            old = directory / f"{OLD_PREFIX}{os.getpid()}"
            shutil.rmtree(old, ignore_errors=True)  # a leftover of an earlier process with this id
            os.replace(target, old)
        os.replace(staging, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def load_checkpoint(directory):
    """Returns (params, optimizer_state, state) or None when DIR has no checkpoint.

    When ``checkpoint`` is missing but a previous one is left (a kill between the two renames
    of a save), the newest previous one is renamed back and loaded. Raises CheckpointError for
    an unreadable checkpoint, a state.json without a key every resume needs (named), or
    parameters / optimizer moments that are not finite (a diverged run: resuming it would
    only train NaN further).
    """
    directory = Path(directory)
    target = directory / "checkpoint"
    if not target.exists():
        if not _recover_previous(directory, target):
            return None
    try:
        params = load_safetensors(target / "params.safetensors", mmap=False)
        optimizer_state = load_safetensors(target / "optimizer.safetensors", mmap=False)
        with open(target / "state.json", encoding="utf-8") as handle:
            state = json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"checkpoint in {target} is unreadable: {error}") from error
    check_state(state, target / "state.json")
    for kind, tensors in (("parameter", params), ("optimizer state", optimizer_state)):
        for name, value in tensors.items():
            if np.issubdtype(value.dtype, np.floating) and not np.all(np.isfinite(value)):
                raise CheckpointError(f"checkpoint in {target}: {kind} {name!r} holds NaN or infinite values "
                                      f"(the run diverged before this checkpoint); start over with another "
                                      f"output directory or without resuming")
    return params, optimizer_state, state


def checkpoint_step(directory) -> int | None:
    """The step of DIR's checkpoint (read from its state.json alone), or None without a readable one."""
    try:
        with open(Path(directory) / "checkpoint" / "state.json", encoding="utf-8") as handle:
            step = json.load(handle).get("step")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return None
    return step if isinstance(step, int) and not isinstance(step, bool) else None


def check_state(state, path) -> None:
    """state.json holds an object with every key a resume reads (``REQUIRED_STATE``), of the right type."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(state).__name__}")
    for key, kind in REQUIRED_STATE.items():
        if key not in state:
            raise CheckpointError(f"{path}: missing key {key!r}; the checkpoint is incomplete")
        value = state[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise CheckpointError(f"{path}: key {key!r} expected {kind.__name__}, got {value!r}")
    if state["step"] < 0:
        raise CheckpointError(f"{path}: key 'step' expected an int >= 0, got {state['step']}")


def _recover_previous(directory: Path, target: Path) -> bool:
    """Rename the newest complete ``.checkpoint.old.*`` back to ``checkpoint``; False if there is none."""
    candidates = []
    for old in directory.glob(f"{OLD_PREFIX}*"):
        try:
            with open(old / "state.json", encoding="utf-8") as handle:
                step = json.load(handle).get("step")
        except (OSError, UnicodeDecodeError, ValueError, AttributeError):
            continue
        if isinstance(step, int) and (old / "params.safetensors").is_file() \
                and (old / "optimizer.safetensors").is_file():
            candidates.append((step, old.stat().st_mtime, old))
    if not candidates:
        return False
    _, _, newest = max(candidates, key=lambda item: item[:2])  # the latest step, then the latest written
    os.replace(newest, target)
    return True
