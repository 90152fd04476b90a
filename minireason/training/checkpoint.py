"""Training checkpoints: parameters, optimizer state and loop state, written atomically.

Layout of ``DIR/checkpoint/``:
    params.safetensors      the model's parameters (Hugging Face names)
    optimizer.safetensors   AdamW moments and step
    state.json              step, config, the RNG state of the data sampler, anything else the loop keeps
A new checkpoint is written into a temporary sibling directory and renamed over the old one, so
an interrupt leaves either the old checkpoint or the new one, never a mix.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from minireason.errors import CheckpointError


def save_checkpoint(directory, params, optimizer_state, state: dict) -> Path:
    from minireason.io.safetensors import save_safetensors

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "checkpoint"
    staging = Path(tempfile.mkdtemp(prefix=".checkpoint.", dir=directory))
    try:
        save_safetensors(staging / "params.safetensors", params)
        save_safetensors(staging / "optimizer.safetensors", optimizer_state)
        with open(staging / "state.json", "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        old = None
        if target.exists():
            old = directory / f".checkpoint.old.{os.getpid()}"
            os.replace(target, old)
        os.replace(staging, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def load_checkpoint(directory):
    """Returns (params, optimizer_state, state) or None when DIR has no checkpoint."""
    from minireason.io.safetensors import load_safetensors

    target = Path(directory) / "checkpoint"
    if not target.exists():
        return None
    try:
        params = load_safetensors(target / "params.safetensors", mmap=False)
        optimizer_state = load_safetensors(target / "optimizer.safetensors", mmap=False)
        with open(target / "state.json", encoding="utf-8") as handle:
            state = json.load(handle)
    except (OSError, json.JSONDecodeError) as error:
        raise CheckpointError(f"checkpoint in {target} is unreadable: {error}") from error
    return params, optimizer_state, state
