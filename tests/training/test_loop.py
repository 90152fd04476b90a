import json

import numpy as np
import pytest

from minireason import Qwen3Model
from minireason.config import PRESETS
from minireason.generation.sequences import pack_completions
from minireason.training.checkpoint import load_checkpoint
from minireason.training.loop import TrainConfig, TrainingDiverged, train
from minireason.training.metrics import plot_metrics, read_metrics


def test_pack_completions_masks_only_completion_targets():
    inputs, targets, loss_mask, attention = pack_completions([[1, 2, 3], [4]], [[5, 6], [7, 8, 9]], pad_id=0)
    # row 0: sequence 1 2 3 5 6 -> inputs 1 2 3 5, targets 2 3 5 6; completion targets are 5, 6
    assert inputs[0].tolist() == [1, 2, 3, 5] and targets[0].tolist() == [2, 3, 5, 6]
    assert loss_mask[0].tolist() == [False, False, True, True]
    # row 1: sequence 4 7 8 9 -> targets 7 8 9 (all completion)
    assert targets[1].tolist() == [7, 8, 9, 0] and loss_mask[1].tolist() == [True, True, True, False]
    assert attention[1].tolist() == [True, True, True, False]


def _step_fn(sequence_count=4):
    def step_fn(model, rng, step):
        ids = rng.integers(0, 16, (sequence_count, 9))  # a learnable pattern: the next id is id + 1
        ids = (ids[:, :1] + np.arange(9)) % 16
        loss, grads = model.loss_and_grads(ids[:, :-1], ids[:, 1:])
        return loss, grads, {}
    return step_fn


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    config = TrainConfig(steps=6, learning_rate=1e-2, warmup_steps=2, log_every=1, checkpoint_every=3, seed=1)
    straight = Qwen3Model.from_config(PRESETS["test-tiny"], seed=0)
    train(straight, _step_fn(), config, tmp_path / "a", progress=False)

    interrupted = Qwen3Model.from_config(PRESETS["test-tiny"], seed=0)
    original_step_fn = _step_fn()
    calls = {"n": 0}

    def stop_after_three(model, rng, step):
        if calls["n"] == 3:
            raise KeyboardInterrupt
        calls["n"] += 1
        return original_step_fn(model, rng, step)

    with pytest.raises(KeyboardInterrupt):
        train(interrupted, stop_after_three, config, tmp_path / "c", progress=False)
    resumed = Qwen3Model.from_config(PRESETS["test-tiny"], seed=5)  # different weights: all must come from disk
    summary = train(resumed, _step_fn(), config, tmp_path / "c", progress=False)
    assert summary["resumed_from"] == 3
    for name in straight.params:
        np.testing.assert_array_equal(resumed.params[name], straight.params[name])
    steps = [row["step"] for row in read_metrics(tmp_path / "c" / "metrics.jsonl")]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_checkpoint_files_and_plot(tmp_path):
    model = Qwen3Model.from_config(PRESETS["test-tiny"], seed=0)
    train(model, _step_fn(), TrainConfig(steps=4, log_every=2, checkpoint_every=2), tmp_path, progress=False)
    params, optimizer_state, state = load_checkpoint(tmp_path)
    assert state["step"] == 4 and int(optimizer_state["step"][0]) == 4
    assert set(params) == set(model.params)
    csv_lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert csv_lines[0].split(",")[0] == "step" and len(csv_lines) == 3
    assert json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 4
    png = plot_metrics(tmp_path / "metrics.jsonl", tmp_path / "metrics.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_nan_guard_skips_then_stops(tmp_path):
    model = Qwen3Model.from_config(PRESETS["test-tiny"], seed=0)
    before = {k: v.copy() for k, v in model.params.items()}

    def nan_step(model, rng, step):
        grads = {name: np.full_like(value, np.nan) for name, value in model.params.items()}
        return float("nan"), grads, {}

    with pytest.raises(TrainingDiverged, match="not finite"):
        train(model, nan_step, TrainConfig(steps=10, max_bad_steps=3), tmp_path, progress=False)
    assert all(np.array_equal(before[k], model.params[k]) for k in before)


def test_resuming_a_different_model_is_refused_with_a_clear_error(tmp_path):
    from minireason.errors import CheckpointError

    model = Qwen3Model.from_config(PRESETS["test-tiny"], seed=0)
    train(model, _step_fn(), TrainConfig(steps=2, checkpoint_every=1), tmp_path, progress=False)
    wider = Qwen3Model.from_config(PRESETS["test-tiny"].replace(intermediate_size=96), seed=0)
    with pytest.raises(CheckpointError, match="mlp.*shape"):
        train(wider, _step_fn(), TrainConfig(steps=4), tmp_path, progress=False)


class _TwoUpdateTrainer:
    """A trainer making two optimizer updates per step and carrying a counter through checkpoints."""

    def __init__(self, tag="a"):
        from minireason.training.loop import Trainer

        outer = self

        class Inner(Trainer):
            updates_per_step = 2

            def step(self, model, rng, step, apply_update):
                for _ in range(2):
                    ids = (rng.integers(0, 16, (3, 1)) + np.arange(7)) % 16
                    loss, grads = model.loss_and_grads(ids[:, :-1], ids[:, 1:])
                    apply_update(grads)
                outer.updates += 2
                return loss, {"updates_so_far": outer.updates}

            def state_dict(self):
                return {"updates": outer.updates, "tag": outer.tag}

            def load_state_dict(self, state):
                outer.updates = state["updates"]
                assert state["tag"] == outer.tag

        self.updates, self.tag, self.trainer = 0, tag, Inner()


def test_a_trainer_with_several_updates_per_step_resumes_exactly_with_its_state(tmp_path):
    from minireason.training.checkpoint import load_checkpoint as load

    # a constant schedule: a run asked for 2 steps then resumed for 4 follows the 4-step run exactly
    config = TrainConfig(steps=4, learning_rate=1e-2, warmup_steps=2, schedule="constant", log_every=1,
                         checkpoint_every=2, seed=3)
    straight = Qwen3Model.from_config(PRESETS["test-tiny"], seed=0)
    train(straight, _TwoUpdateTrainer().trainer, config, tmp_path / "a", progress=False)
    _, optimizer_state, state = load(tmp_path / "a")
    assert int(optimizer_state["step"][0]) == 8 and state["trainer"]["updates"] == 8

    half = Qwen3Model.from_config(PRESETS["test-tiny"], seed=0)
    train(half, _TwoUpdateTrainer().trainer, TrainConfig(**{**config.__dict__, "steps": 2}), tmp_path / "b",
          progress=False)
    resumed_trainer = _TwoUpdateTrainer()
    resumed = Qwen3Model.from_config(PRESETS["test-tiny"], seed=9)
    train(resumed, resumed_trainer.trainer, config, tmp_path / "b", progress=False)
    assert resumed_trainer.updates == 8  # 4 restored from the checkpoint + 4 made after it
    for name in straight.params:
        np.testing.assert_array_equal(resumed.params[name], straight.params[name])


def test_resume_refuses_other_settings_fewer_steps_and_another_identity(tmp_path):
    from minireason.errors import CheckpointError, InputError

    model = Qwen3Model.from_config(PRESETS["test-tiny"], seed=0)
    config = TrainConfig(steps=3, checkpoint_every=1, seed=1)
    train(model, _step_fn(), config, tmp_path, progress=False, run_identity={"data": "a"})
    with pytest.raises(CheckpointError, match="seed"):
        train(model, _step_fn(), TrainConfig(steps=5, seed=2), tmp_path, progress=False, run_identity={"data": "a"})
    with pytest.raises(CheckpointError, match="data"):
        train(model, _step_fn(), TrainConfig(steps=5, seed=1), tmp_path, progress=False, run_identity={"data": "b"})
    with pytest.raises(CheckpointError, match="past the 2 steps"):
        train(model, _step_fn(), TrainConfig(steps=2, seed=1), tmp_path, progress=False, run_identity={"data": "a"})
    with pytest.raises(InputError, match="steps"):
        TrainConfig(steps=-5)


def test_ctrl_c_finishes_the_step_and_checkpoints_it(tmp_path):
    import os
    import signal

    model = Qwen3Model.from_config(PRESETS["test-tiny"], seed=0)
    inner = _step_fn()
    before = signal.getsignal(signal.SIGINT)  # Python's default, or SIG_IGN in a background job

    def interrupting(model, rng, step):
        if step == 1:
            os.kill(os.getpid(), signal.SIGINT)  # the handler only sets a flag: this step still completes
        return inner(model, rng, step)

    summary = train(model, interrupting, TrainConfig(steps=6, checkpoint_every=100, log_every=1), tmp_path,
                    progress=False)
    assert summary["interrupted"] and summary["last_step"] == 2
    _, _, state = load_checkpoint(tmp_path)
    assert state["step"] == 2
    assert signal.getsignal(signal.SIGINT) is before  # restored after the run


def test_ctrl_c_during_the_first_evaluation_ends_it_and_takes_no_step(tmp_path):
    """The first Ctrl-C reaches a running evaluation through should_stop (it ends between its batches),
    and a run interrupted in its step-0 evaluation stops before any step: no update, no checkpoint."""
    import os
    import signal

    model = Qwen3Model.from_config(PRESETS["test-tiny"], seed=0)
    start = {name: value.copy() for name, value in model.params.items()}
    batches_done = []

    def evaluate(model, step, should_stop=None):
        for batch in range(5):  # an evaluation of five batches, checking between them as the core does
            if should_stop():
                break
            if batch == 1:
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the second batch runs
            batches_done.append(batch)
        return {"batches": len(batches_done)}

    summary = train(model, _step_fn(), TrainConfig(steps=3, log_every=1), tmp_path, progress=False,
                    eval_fn=evaluate)
    assert batches_done == [0, 1]  # the batch in flight finished, the next three never started
    assert summary["interrupted"] and summary["last_step"] == 0
    assert load_checkpoint(tmp_path) is None
    assert all(np.array_equal(model.params[name], start[name]) for name in start)


def test_evaluations_at_step_zero_every_n_and_the_last(tmp_path):
    model = Qwen3Model.from_config(PRESETS["test-tiny"], seed=0)
    seen = []

    def evaluate(model, step, should_stop=None):
        seen.append(step)
        return {"score": float(step)}

    train(model, _step_fn(), TrainConfig(steps=5, log_every=1), tmp_path, progress=False, eval_fn=evaluate,
          eval_every=2)
    assert seen == [0, 2, 4, 5]
    assert [row["step"] for row in read_metrics(tmp_path / "eval.jsonl")] == [0, 2, 4, 5]


def test_gradient_accumulation_equals_one_larger_batch(tmp_path):
    """Two micro-batches of 2 rows accumulated give the update of one batch of 4 (equal-length rows)."""
    rows = (np.arange(8)[:, None] + np.arange(7)) % 16  # (8, 7) fixed sequences

    def step_of(batch_rows):
        def step_fn(model, rng, step):
            chosen = rows[batch_rows(rng)]
            loss, grads = model.loss_and_grads(chosen[:, :-1], chosen[:, 1:])
            return loss, grads, {}
        return step_fn

    order = iter([[0, 1], [2, 3], [4, 5], [6, 7]])
    accumulated = Qwen3Model.from_config(PRESETS["test-tiny"], seed=0, dtype="float64")
    train(accumulated, step_of(lambda rng: next(order)), TrainConfig(steps=2, accumulation_steps=2, warmup_steps=1),
          tmp_path / "a", progress=False)
    whole_order = iter([[0, 1, 2, 3], [4, 5, 6, 7]])
    whole = Qwen3Model.from_config(PRESETS["test-tiny"], seed=0, dtype="float64")
    train(whole, step_of(lambda rng: next(whole_order)), TrainConfig(steps=2, warmup_steps=1), tmp_path / "b",
          progress=False)
    for name in whole.params:
        np.testing.assert_allclose(accumulated.params[name], whole.params[name], rtol=1e-10, atol=1e-13)
