"""Checkpoints on disk: incomplete state, a kill between the renames, NaN, the wrong kind of path."""

import json
import os

import numpy as np
import pytest

from minireason.errors import CheckpointError
from minireason.training.checkpoint import load_checkpoint, save_checkpoint


def _save(directory, step=3, params=None):
    params = params or {"w": np.arange(4, dtype=np.float32)}
    return save_checkpoint(directory, params, {"m": np.zeros(4, dtype=np.float32)},
                           {"step": step, "rng_state": {"state": 1}})


@pytest.mark.parametrize("key", ["step", "rng_state"])
def test_state_without_a_needed_key_names_it(tmp_path, key):
    target = _save(tmp_path)
    state = json.loads((target / "state.json").read_text())
    del state[key]
    (target / "state.json").write_text(json.dumps(state))
    with pytest.raises(CheckpointError, match=f"missing key '{key}'"):
        load_checkpoint(tmp_path)


def test_state_with_a_string_step_is_refused(tmp_path):
    target = _save(tmp_path)
    (target / "state.json").write_text(json.dumps({"step": "3", "rng_state": {}}))
    with pytest.raises(CheckpointError, match="'step' expected int"):
        load_checkpoint(tmp_path)


def test_kill_between_the_renames_resumes_from_the_previous_checkpoint(tmp_path):
    _save(tmp_path, step=3)
    os.replace(tmp_path / "checkpoint", tmp_path / ".checkpoint.old.12345")  # the first rename, then a kill
    params, _, state = load_checkpoint(tmp_path)
    assert state["step"] == 3 and params["w"].tolist() == [0, 1, 2, 3]
    assert (tmp_path / "checkpoint").is_dir() and not (tmp_path / ".checkpoint.old.12345").exists()
    _save(tmp_path, step=6)  # and saving goes on as usual
    assert load_checkpoint(tmp_path)[2]["step"] == 6


def test_leftover_previous_checkpoint_is_removed_on_save(tmp_path):
    _save(tmp_path, step=3)
    (tmp_path / f".checkpoint.old.{os.getpid()}").mkdir()  # a kill after the second rename, same process id
    (tmp_path / f".checkpoint.old.{os.getpid()}" / "junk").write_text("x")
    _save(tmp_path, step=6)
    assert load_checkpoint(tmp_path)[2]["step"] == 6
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint"]


def test_nan_checkpoint_is_refused(tmp_path):
    _save(tmp_path, params={"w": np.array([0.0, np.nan], dtype=np.float32)})
    with pytest.raises(CheckpointError, match="'w' holds NaN"):
        load_checkpoint(tmp_path)


def test_checkpoint_into_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match="not a directory"):
        _save(tmp_path / "file")
