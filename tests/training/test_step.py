"""minireason.training.step: accumulation by token share equals one big batch (float64), metrics add
up, and the non-finite guard turns a non-finite loss into an update the loop refuses."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minireason.config import ModelConfig
from minireason.device import to_module
from minireason.model import Qwen3Model
from minireason.nn.loss import masked_mean_nll
from minireason.training.step import accumulate, add_metrics, training_step


def tiny_model(seed=0):
    config = ModelConfig(vocab_size=13, hidden_size=8, intermediate_size=12, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=4, rope_theta=100.0)
    return Qwen3Model.from_config(config, seed=seed, dtype="float64")


def token_share_loss(model, token_ids, targets, loss_mask, total_tokens):
    """A micro-batch's masked mean NLL times its share of the update's tokens."""

    def part_loss(rows):
        mask = loss_mask[rows]
        weight = float(mask.sum()) / total_tokens
        mean_nll = masked_mean_nll(to_module(mask, model.array_module))

        def loss_fn(logp, entropy=None):
            loss, dlogp, dentropy = mean_nll(logp, entropy)
            return loss * weight, dlogp * weight, dentropy, {"tokens": int(mask.sum()), "loss_max": loss}

        return model.token_loss_and_grads(token_ids[rows], targets[rows], loss_fn, mask)

    return part_loss


@given(seed=st.integers(0, 2**31 - 1), split=st.integers(1, 5))
def test_accumulation_by_token_share_equals_one_big_batch(seed, split):
    rng = np.random.default_rng(seed)
    model = tiny_model(seed % 7)
    B, T = 6, 7
    token_ids, targets = rng.integers(0, 13, (B, T)), rng.integers(0, 13, (B, T))
    loss_mask = rng.random((B, T)) < 0.6
    loss_mask[:, -1] = True  # every row has a token in the loss, rows of different lengths
    whole_loss, whole_grads = model.loss_and_grads(token_ids, targets, loss_mask)
    applied = {}

    def apply_update(grads):
        applied.update(grads)
        return 0.0

    parts = [slice(0, split), slice(split, B)]
    loss, metrics = training_step(parts, token_share_loss(model, token_ids, targets, loss_mask,
                                                          int(loss_mask.sum())), apply_update)
    assert loss == pytest.approx(whole_loss, rel=1e-12)
    assert metrics["tokens"] == int(loss_mask.sum())  # numbers add up
    for name, value in whole_grads.items():
        np.testing.assert_allclose(applied[name], value, rtol=1e-10, atol=1e-13, err_msg=name)


def test_an_unweighted_mean_of_equal_micro_batches_is_the_mean():
    calls = iter([(1.0, {"w": np.array([2.0, 4.0])}, {"n": 1}), (3.0, {"w": np.array([4.0, 0.0])}, {"n": 2})])
    applied = {}
    loss, metrics = training_step(range(2), lambda _: next(calls), lambda grads: applied.update(grads), mean_of=2)
    assert loss == 2.0 and metrics == {"n": 3}
    np.testing.assert_array_equal(applied["w"], [3.0, 2.0])


def test_metrics_add_up_and_maxima_stay_maxima():
    total = add_metrics({}, {"tokens": 3, "mismatch_max": 0.5, "name": "a"})
    add_metrics(total, {"tokens": 4, "mismatch_max": 0.25, "name": "b"})
    assert total == {"tokens": 7, "mismatch_max": 0.5, "name": "b"}
    loss, grads, metrics = accumulate([], lambda part: None)
    assert (loss, grads, metrics) == (0.0, None, {})


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_loss_is_a_bad_update_even_with_a_finite_gradient(bad):
    applied = {}
    parts = [(1.0, {"w": np.ones(3)}, {}), (bad, {"w": np.ones(3)}, {})]
    loss, _ = training_step(parts, lambda part: part, lambda grads: applied.update(grads))
    assert not math.isfinite(loss)
    assert not all(np.isfinite(value).all() for value in applied.values())  # the loop's norm check sees it
