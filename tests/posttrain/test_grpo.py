"""The GRPO trainer end to end on the built-in student model: rollout/learner agreement, packing,
micro-batch accumulation, resume exactness, the NaN guard, bad input, every variant, the CLI."""

import json

import numpy as np
import pytest

from minireason.errors import CheckpointError, InputError
from minireason.generation.rollout import pack_rows, sample_rollouts
from minireason.io.pretrained import load_pretrained
from minireason.posttrain.grpo import GRPOConfig, GRPOTrainer, shortest_first, train_grpo
from minireason.posttrain.rewards import RewardError
from minireason.tasks.export import resolve_data
from minireason.training.loop import TrainingDiverged
from minireason.training.metrics import read_metrics

TRAIN = "task:addition?n=40&split=train&difficulty=1"
HELD_OUT = "task:addition?n=12&split=test&difficulty=1"


def test_a_non_finite_policy_loss_with_a_finite_gradient_stops_the_run(student, records, tmp_path, monkeypatch):
    """GRPO's updates go through the one training step, so its non-finite guard covers them too."""
    import minireason.posttrain.grpo as grpo

    train, _ = records
    model, tokenizer = fresh(student)
    finite_loss = grpo.policy_loss

    def nan_loss(logp, entropy, batch, settings):
        loss, dlogp, dentropy, figures = finite_loss(logp, entropy, batch, settings)
        assert np.isfinite(dlogp).all()
        return float("nan"), dlogp, dentropy, figures

    monkeypatch.setattr(grpo, "policy_loss", nan_loss)
    before = {name: value.copy() for name, value in model.params.items()}
    with pytest.raises(TrainingDiverged, match="not finite"):
        train_grpo(model, tokenizer, train, tiny_config(steps=2), tmp_path, progress=False)
    assert all(np.array_equal(value, before[name]) for name, value in model.params.items())  # no update applied


@pytest.fixture(scope="module")
def student():
    return load_pretrained("builtin:student")


@pytest.fixture(scope="module")
def records():
    return resolve_data(TRAIN), resolve_data(HELD_OUT)


def tiny_config(**changes) -> GRPOConfig:
    settings = dict(steps=2, prompts_per_step=3, group_size=4, max_new_tokens=24, temperature=1.0,
                    learning_rate=1e-3, eval_every=0, checkpoint_every=1, micro_batch_size=8,
                    drop_zero_variance=False)
    settings.update(changes)
    return GRPOConfig(**settings)


def fresh(student):
    from minireason.model import Qwen3Model

    model, tokenizer = student
    return Qwen3Model(model.config, {k: v.copy() for k, v in model.params.items()}), tokenizer


def test_packed_old_logprobs_equal_the_learners_before_an_update(student, records):
    model, tokenizer = fresh(student)
    model = model.astype("float64")  # the learner in float64: only the sampler's rounding is left
    train, _ = records
    rng = np.random.default_rng(0)
    rollouts = sample_rollouts(model, tokenizer, train[:3], [f"{r['problem']} Think step by step.\n" for r in train[:3]],
                               group_size=3, max_new_tokens=20, temperature=0.7, rng=rng)
    packed = pack_rows(rollouts, range(len(rollouts)), tokenizer.pad_token_id)
    logp, _ = model.token_logprobs(packed.input_ids, packed.targets, packed.attention_mask, temperature=0.7)
    # every completion token's sampler log-prob sits at the position whose target it is
    assert packed.loss_mask.sum() == sum(len(ids) for ids in rollouts.completion_ids)
    for row in range(len(rollouts)):
        targets = packed.targets[row][packed.loss_mask[row]]
        assert targets.tolist() == rollouts.completion_ids[row]
    difference = np.abs(logp - packed.old_logp)[packed.loss_mask]
    assert difference.max() < 1e-9, difference.max()


def test_micro_batches_accumulate_to_the_whole_batch(student, records, tmp_path):
    train, _ = records
    results = []
    for micro in (3, 64):
        model, tokenizer = fresh(student)
        model = model.astype("float64")
        config = tiny_config(steps=1, micro_batch_size=micro, loss="ppo", aggregation="token-mean",
                             entropy_coef=0.01, kl_beta=0.05)
        train_grpo(model, tokenizer, train, config, tmp_path / f"m{micro}", progress=False)
        results.append(model.params)
    for name in results[0]:
        np.testing.assert_allclose(results[0][name], results[1][name], rtol=1e-9, atol=1e-12, err_msg=name)


def test_an_update_s_rows_go_into_micro_batches_shortest_first():
    lengths = np.array([9, 4, 7, 4, 12, 3, 8, 5])
    parts = shortest_first(lengths, 2, 8, 4)  # rows 2..7 in micro-batches of at most 4
    assert parts == [[5, 3, 7, 2], [6, 4]]
    rows = [row for part in parts for row in part]
    assert np.all(np.diff(lengths[rows]) >= 0) and sorted(rows) == list(range(2, 8))
    assert shortest_first(np.full(5, 6), 0, 5, 2) == [[0, 1], [2, 3], [4]]  # equal lengths keep their order


def test_resume_continues_exactly(student, records, tmp_path):
    train, held_out = records
    straight, tokenizer = fresh(student)
    config = tiny_config(steps=4, loss="ppo", epochs=2, minibatches=2, kl_beta=0.02)
    train_grpo(straight, tokenizer, train, config, tmp_path / "straight", held_out, progress=False)

    first, _ = fresh(student)
    train_grpo(first, tokenizer, train, tiny_config(steps=2, loss="ppo", epochs=2, minibatches=2, kl_beta=0.02),
               tmp_path / "resumed", held_out, progress=False)
    resumed, _ = fresh(student)  # the initial weights again (as a rerun of the command loads them)
    history = train_grpo(resumed, tokenizer, train, config, tmp_path / "resumed", held_out, progress=False)
    assert history["summary"]["resumed_from"] == 2
    for name in straight.params:
        np.testing.assert_array_equal(resumed.params[name], straight.params[name], err_msg=name)
    assert [row["step"] for row in history["metrics"]] == [1, 2, 3, 4]
    assert [row["step"] for row in history["eval"]] == [0, 2, 4]
    straight_rows = read_metrics(tmp_path / "straight" / "metrics.jsonl")
    assert [row["reward_mean"] for row in straight_rows] == [row["reward_mean"] for row in history["metrics"]]


def test_resume_refuses_another_run(student, records, tmp_path):
    train, _ = records
    model, tokenizer = fresh(student)
    train_grpo(model, tokenizer, train, tiny_config(steps=1), tmp_path, progress=False)
    other, _ = fresh(student)
    with pytest.raises(CheckpointError, match="temperature"):
        train_grpo(other, tokenizer, train, tiny_config(steps=2, temperature=0.5), tmp_path, progress=False)


def test_nan_stops_the_step_and_keeps_the_last_checkpoint(student, records, tmp_path):
    train, _ = records
    model, tokenizer = fresh(student)
    config = tiny_config(steps=3)
    trainer_step = GRPOTrainer.step

    def poisoned(self, model, rng, step, apply_update):
        if step == 2:
            model.params["model.norm.weight"][...] = np.nan
        return trainer_step(self, model, rng, step, apply_update)

    GRPOTrainer.step = poisoned
    try:
        with pytest.raises(TrainingDiverged, match="not finite"):
            train_grpo(model, tokenizer, train, config, tmp_path, progress=False)
    finally:
        GRPOTrainer.step = trainer_step
    state = json.loads((tmp_path / "checkpoint" / "state.json").read_text())
    assert state["step"] == 2
    from minireason.io.safetensors import load_safetensors

    saved = load_safetensors(tmp_path / "checkpoint" / "params.safetensors")
    assert all(np.isfinite(value).all() for value in saved.values())
    assert not (tmp_path / "final").exists()


@pytest.mark.parametrize("changes", [
    dict(loss="grpo"), dict(loss="ppo", clip_high=0.28, epochs=2), dict(loss="ppo", dual_clip=3.0, minibatches=3),
    dict(loss="gspo", clip_low=3e-4, clip_high=4e-4), dict(loss="cispo"), dict(advantage="dr"),
    dict(advantage="rloo", kl_beta=0.1, kl_estimator="k2"), dict(kl_beta=0.1, kl_in_reward=True),
    dict(top_p=0.9), dict(mask_truncated=True, max_new_tokens=8), dict(dynamic_sampling=True, drop_zero_variance=True),
    dict(reward="correctness:1,format:0.2,overlong:1", overlong_buffer=4, reward_combine="gdpo"),
    dict(entropy_coef=0.01, batch_normalize=True),
])
def test_every_variant_runs_a_step_with_finite_figures(student, records, tmp_path, changes):
    train, _ = records
    model, tokenizer = fresh(student)
    history = train_grpo(model, tokenizer, train, tiny_config(steps=1, **changes), tmp_path, progress=False)
    row = history["metrics"][-1]
    for key in ("reward_mean", "accuracy", "zero_std_fraction", "advantage_mean", "response_length_mean",
                "truncated_fraction", "grad_norm", "rollout_seconds", "reward_seconds", "learner_seconds"):
        assert np.isfinite(row[key]), (key, row[key])
    assert 0 <= row["reward_seconds"] <= row["rollout_seconds"]  # the rewards are part of the rollout's time
    if row["groups_trained"]:
        assert row["logprob_mismatch_max"] < (5.0 if changes.get("top_p") else 1e-3)
        assert np.isfinite(row["entropy"]) and np.isfinite(row["ratio_mean"])
    if changes.get("kl_beta") and not changes.get("kl_in_reward"):
        assert np.isfinite(row["kl"])


def test_truncated_sampling_recomputes_old_logprobs(student, records, tmp_path):
    """With top-p the sampler's log-probs are renormalised over the nucleus (>= the full softmax's),
    so the learner must not use them as the old policy: the first ratio is still exactly 1."""
    train, _ = records
    model, tokenizer = fresh(student)
    model = model.astype("float64")
    history = train_grpo(model, tokenizer, train, tiny_config(steps=1, top_p=0.5, loss="ppo"), tmp_path,
                         progress=False)
    row = history["metrics"][0]
    assert abs(row["ratio_mean"] - 1.0) < 1e-9


def test_training_raises_the_reward(student, tmp_path):
    # one-operation arithmetic: the student's chains there are short and right about half the time,
    # so the groups carry signal from the first step
    train = resolve_data("task:arithmetic?n=40&split=train&difficulty=1")
    model, tokenizer = fresh(student)
    config = tiny_config(steps=12, prompts_per_step=8, group_size=6, learning_rate=1e-3, max_new_tokens=40,
                         temperature=1.0, checkpoint_every=100)
    rows = train_grpo(model, tokenizer, train[:8], config, tmp_path, progress=False)["metrics"]
    early = np.mean([row["reward_mean"] for row in rows[:3]])
    late = np.mean([row["reward_mean"] for row in rows[-3:]])
    assert late > early + 0.1, (early, late)


def test_bad_input_is_refused_clearly(student, records, tmp_path):
    train, _ = records
    model, tokenizer = fresh(student)
    with pytest.raises(InputError, match="group_size"):
        GRPOConfig(group_size=1)
    with pytest.raises(InputError, match="loss must be one of"):
        GRPOConfig(loss="reinforce")
    with pytest.raises(InputError, match="answer"):
        GRPOTrainer(model, tokenizer, [{"problem": "1+1?", "answer": ""}], tiny_config())
    with pytest.raises(InputError, match="unknown setting"):
        GRPOConfig.from_dict({"stepz": 3})

    def broken(prompt, completion, gold):
        raise ZeroDivisionError("oops")

    with pytest.raises(RewardError, match="broken"):
        train_grpo(model, tokenizer, train, tiny_config(steps=1, reward="correctness:1,broken:1"), tmp_path,
                   progress=False, custom_rewards={"broken": broken})


def test_command_line_with_toml_and_plot(tmp_path, capsys):
    from minireason.cli.main import main

    config = tmp_path / "grpo.toml"
    config.write_text('model = "builtin:student"\ndata = "task:addition?n=20&split=train&difficulty=1"\n'
                      'eval_data = "task:addition?n=6&split=test&difficulty=1"\n'
                      'steps = 5\nprompts_per_step = 2\ngroup_size = 3\nmax_new_tokens = 16\nloss = "ppo"\n')
    code = main(["grpo", "--config", str(config), "--steps", "1", "--out-dir", str(tmp_path / "run"), "--no-progress"])
    assert code == 0
    output = capsys.readouterr().out
    assert "held-out accuracy" in output and "gained" in output
    rows = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert len(rows) == 1  # the flag overrode the file's 5 steps
    assert (tmp_path / "run" / "final" / "model.safetensors").exists()
    assert main(["plot", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["grpo", "--config", str(config), "--loss", "nope", "--out-dir", str(tmp_path / "x")]) == 1
    assert "loss must be one of" in capsys.readouterr().err
    overlapping = ["grpo", "--model", "builtin:student", "--data", "task:addition?n=5&split=test&difficulty=1",
                   "--eval-data", "task:addition?n=5&split=test&difficulty=1", "--out-dir", str(tmp_path / "y")]
    assert main(overlapping) == 1
    assert "held-out problems must not be trained on" in capsys.readouterr().err


def test_numba_backend_runs_rollouts_and_learner_like_the_reference(student, records, tmp_path):
    pytest.importorskip("numba")
    from minireason.model import Qwen3Model

    train, _ = records
    results = {}
    for backend in ("numpy", "numba"):
        model, tokenizer = student
        model = Qwen3Model(model.config, {k: v.copy() for k, v in model.params.items()}, backend=backend)
        history = train_grpo(model, tokenizer, train, tiny_config(steps=1, loss="ppo", entropy_coef=0.01),
                             tmp_path / backend, progress=False)
        results[backend] = (history["metrics"][0], model.params)
    row_numpy, row_numba = results["numpy"][0], results["numba"][0]
    assert row_numba["logprob_mismatch_max"] < 1e-3
    # the same rollouts (sampling is on the host from the same seed), the same update up to float32 rounding
    assert row_numba["reward_mean"] == row_numpy["reward_mean"]
    for name, value in results["numpy"][1].items():
        np.testing.assert_allclose(results["numba"][1][name], value, rtol=1e-3, atol=1e-5, err_msg=name)
