"""minireason.posttrain.simpo: SimPO's gradient against central finite differences (float64, a random
upstream gradient), through the per-token seam too; a short run raises the preference margin and
accuracy on the built-in model; the ``minireason simpo`` command."""

import numpy as np
import pytest
from gradcheck import assert_gradients_close, numerical_gradient, random_upstream
from hypothesis import given, settings
from hypothesis import strategies as st

from minireason.cli.main import main
from minireason.errors import InputError
from minireason.io.pretrained import load_pretrained
from minireason.posttrain.data import load_pairs
from minireason.posttrain.dpo import sequence_logprob_sums, train_preference
from minireason.posttrain.simpo import SimPOConfig, SimPOTrainer, simpo_loss
from minireason.tasks import flawed_copy, generate_problems
from minireason.training.metrics import read_metrics

seeds = st.integers(0, 2**31 - 1)


@given(seed=seeds, n=st.integers(1, 4), beta=st.floats(0.1, 3.0), gamma=st.floats(0.0, 2.0))
def test_simpo_gradient_matches_finite_differences(seed, n, beta, gamma):
    rng = np.random.default_rng(seed)
    chosen, rejected = -rng.uniform(0.5, 20.0, n), -rng.uniform(0.5, 20.0, n)  # summed log-probabilities
    length_chosen, length_rejected = rng.integers(1, 9, n), rng.integers(1, 9, n)
    upstream = random_upstream(rng, ())  # the loss is a scalar: the upstream gradient is one random number
    normaliser = n + int(rng.integers(0, 3))  # a micro-batch of a larger update

    def objective():
        return upstream * simpo_loss(chosen, rejected, length_chosen, length_rejected, beta, gamma, normaliser)[0]

    _, dchosen, drejected, _ = simpo_loss(chosen, rejected, length_chosen, length_rejected, beta, gamma, normaliser)
    assert_gradients_close(upstream * dchosen, numerical_gradient(objective, chosen), "chosen")
    assert_gradients_close(upstream * drejected, numerical_gradient(objective, rejected), "rejected")


@settings(max_examples=8)
@given(seed=seeds)
def test_simpo_through_the_token_seam_matches_finite_differences(seed):
    rng = np.random.default_rng(seed)
    n, T = 2, 6
    logp = -rng.uniform(0.1, 3.0, (2 * n, T))  # per-token log-probabilities of chosen then rejected rows
    loss_mask = rng.random((2 * n, T)) < 0.7
    loss_mask[:, 0] = True  # every completion has a token
    trainer = SimPOTrainer.__new__(SimPOTrainer)  # only its loss is used here
    trainer.config = SimPOConfig(beta=1.5, gamma=0.4)
    upstream = random_upstream(rng, ())
    loss_fn = trainer.pair_loss(loss_mask, None, normaliser=n)
    value, dlogp, dentropy, figures = loss_fn(logp)
    assert dentropy is None and figures["pairs"] == n
    numeric = numerical_gradient(lambda: upstream * loss_fn(logp)[0], logp)
    assert_gradients_close(upstream * dlogp, numeric, "logp")
    assert np.all(dlogp[~loss_mask] == 0)  # padding gets no gradient
    sums, lengths = sequence_logprob_sums(logp, loss_mask), loss_mask.sum(axis=1)
    margin = 1.5 * (sums[:n] / lengths[:n] - sums[n:] / lengths[n:])
    assert value == pytest.approx(np.mean(np.log1p(np.exp(-(margin - 0.4)))), rel=1e-12)


def test_the_margin_and_the_length_normalisation():
    # equal average log-probabilities: no margin, whatever the lengths; the loss is -log sigmoid(-gamma)
    value, _, _, figures = simpo_loss([-4.0], [-8.0], [2], [4], beta=2.0, gamma=1.0)
    assert figures["reward_margin_sum"] == 0.0 and figures["preference_correct"] == 0
    assert value == pytest.approx(np.log1p(np.exp(1.0)))
    with pytest.raises(InputError, match="gamma"):
        SimPOConfig(gamma=-0.5)
    with pytest.raises(InputError, match="beta"):
        SimPOConfig(beta=0)
    with pytest.raises(InputError, match="at least one token"):
        simpo_loss([-1.0], [-1.0], [0], [1], 1.0, 0.5)


@pytest.fixture(scope="module")
def pairs():
    problems = generate_problems("addition", 24, split="train", difficulty=2, seed=1)
    return [{"prompt": problem.text + " Think step by step.\n", "chosen": problem.trace_completion,
             "rejected": flawed_copy(problem, seed=index).trace_completion} for index, problem in enumerate(problems)]


def test_a_short_run_raises_the_preference_margin_and_accuracy(pairs, tmp_path):
    model, tokenizer = load_pretrained("builtin:base")
    pairs = pairs[:16]
    config = SimPOConfig(steps=10, batch_size=8, micro_batch_size=4, learning_rate=3e-4, beta=2.0, gamma=0.5,
                         warmup_steps=0, eval_every=0, validation_fraction=0.0, checkpoint_every=100)
    trained_pairs, _, _ = load_pairs(pairs, tokenizer, validation_fraction=0.0)
    probe = SimPOTrainer(model, tokenizer, trained_pairs, trained_pairs, config)  # its figures on the trained pairs
    before = probe.validation_figures(model)
    history = train_preference(model, tokenizer, pairs, config, tmp_path, progress=False,
                               trainer_class=SimPOTrainer, name="simpo")
    after = probe.validation_figures(model)
    assert after["validation_reward_margin"] > before["validation_reward_margin"] + 0.1
    assert after["validation_loss"] < before["validation_loss"]
    # the base already ranks most of these pairs right (15 of 16): the ranking must not get worse
    assert after["validation_preference_accuracy"] >= before["validation_preference_accuracy"]
    assert len(history["metrics"]) == 10
    assert probe.reference is None  # reference-free: no second model


def test_the_simpo_command(pairs, tmp_path, capsys):
    import json

    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(pair) + "\n" for pair in pairs))
    out = tmp_path / "run"
    code = main(["simpo", "--model", "builtin:student", "--pairs", str(data), "--out-dir", str(out), "--steps", "2",
                 "--batch-size", "4", "--gamma", "0.3", "--beta", "1.5", "--eval-every", "0", "--no-progress",
                 "--backend", "numpy"])
    assert code == 0
    rows = read_metrics(out / "metrics.jsonl")
    assert len(rows) == 2 and all(0 <= row["preference_accuracy"] <= 1 for row in rows)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 2
    assert "gamma=0.3" in capsys.readouterr().err
