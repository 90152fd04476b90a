"""Tests for minireason.posttrain.advantages: GRPO / RLOO / Dr. GRPO advantages against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minireason.errors import InputError
from minireason.posttrain.advantages import (
    ADVANTAGE_MODES,
    group_advantages,
    group_statistics,
    zero_variance_groups,
)

TINY_EPS = 1e-12  # lets hand-computed values be compared tightly


# ---------------------------------------------------------------- hand-computed cases

def test_group_mode_two_samples_uses_sample_std():
    # group (0, 1): mean 1/2, deviations -1/2, +1/2; sample variance (1/4 + 1/4) / (2 - 1) = 1/2
    # -> A = -+ (1/2) / sqrt(1/2) = -+ 1/sqrt(2)  (a population std would give -+ 1)
    # group (1, 1): all equal -> exactly 0
    advantages = group_advantages([0.0, 1.0, 1.0, 1.0], group_size=2, eps=TINY_EPS)
    np.testing.assert_allclose(advantages[:2], [-1 / np.sqrt(2), 1 / np.sqrt(2)], rtol=1e-10)
    assert advantages[2] == 0.0 and advantages[3] == 0.0


def test_group_mode_four_samples_one_success():
    # (1, 0, 0, 0): mean 1/4, deviations (3/4, -1/4, -1/4, -1/4),
    # sample variance (9/16 + 3/16) / 3 = 1/4, std 1/2 -> (3/2, -1/2, -1/2, -1/2)
    advantages = group_advantages([1, 0, 0, 0], group_size=4, eps=TINY_EPS)
    np.testing.assert_allclose(advantages, [1.5, -0.5, -0.5, -0.5], rtol=1e-10)
    assert advantages.dtype == np.float64


def test_group_mode_distinguishes_sample_from_population_std():
    # (2, 4, 6, 8): mean 5, deviations (-3, -1, 1, 3); sample variance 20/3 (population would be 5)
    advantages = group_advantages([2, 4, 6, 8], group_size=4, eps=TINY_EPS)
    np.testing.assert_allclose(advantages, np.array([-3, -1, 1, 3]) / np.sqrt(20 / 3), rtol=1e-10)


def test_default_eps_is_added_to_the_std():
    # (0, 1): std 1/sqrt(2); with eps = 1e-6 the divisor is 1/sqrt(2) + 1e-6
    advantages = group_advantages([0.0, 1.0], group_size=2)
    np.testing.assert_allclose(advantages, [-0.5, 0.5] / (1 / np.sqrt(2) + 1e-6), rtol=1e-12)


def test_group_mode_without_std_scaling_only_centres():
    advantages = group_advantages([1, 0, 0, 0, 3, 1, 1, 3], group_size=4, scale_by_std=False)
    np.testing.assert_allclose(advantages, [0.75, -0.25, -0.25, -0.25, 1, -1, -1, 1], rtol=1e-12)


def test_dr_mode_never_divides_by_the_std():
    # (0, 10, 2): mean 4 -> (-4, 6, -2), though its std is large; (1, 0, 0): mean 1/3 -> (2/3, -1/3, -1/3)
    advantages = group_advantages([0, 10, 2, 1, 0, 0], group_size=3, mode="dr")
    np.testing.assert_allclose(advantages, [-4, 6, -2, 2 / 3, -1 / 3, -1 / 3], rtol=1e-12)
    assert np.array_equal(advantages, group_advantages([0, 10, 2, 1, 0, 0], 3, mode="dr", scale_by_std=True))


def test_rloo_leave_one_out_by_hand():
    # (1, 0, 0, 0): A_0 = 1 - mean(0, 0, 0) = 1; A_j = 0 - mean(1, 0, 0) = -1/3
    advantages = group_advantages([1, 0, 0, 0], group_size=4, mode="rloo")
    np.testing.assert_allclose(advantages, [1, -1 / 3, -1 / 3, -1 / 3], rtol=1e-12)
    # G = 2, (3, 5): A_0 = 3 - 5 = -2, A_1 = 5 - 3 = 2; scale_by_std is ignored
    np.testing.assert_allclose(group_advantages([3, 5], 2, mode="rloo", scale_by_std=True), [-2, 2], rtol=1e-12)


@given(st.integers(2, 6), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_rloo_identity_against_explicit_leave_one_out(group_size, prompts, seed):
    rewards = np.random.default_rng(seed).normal(size=prompts * group_size)
    advantages = group_advantages(rewards, group_size, mode="rloo")
    for start in range(0, len(rewards), group_size):
        group = rewards[start:start + group_size]
        for offset in range(group_size):
            others = np.delete(group, offset)
            assert advantages[start + offset] == pytest.approx(group[offset] - others.mean(), rel=1e-9, abs=1e-12)
        # A_rloo = G / (G - 1) * (R - mean_g)
        np.testing.assert_allclose(advantages[start:start + group_size],
                                   group_size / (group_size - 1) * (group - group.mean()), rtol=1e-9, atol=1e-12)


@given(st.integers(2, 6), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_group_mode_centres_and_scales_each_group(group_size, prompts, seed):
    rewards = np.random.default_rng(seed).normal(size=prompts * group_size)
    advantages = group_advantages(rewards, group_size, eps=TINY_EPS).reshape(prompts, group_size)
    np.testing.assert_allclose(advantages.mean(axis=1), 0.0, atol=1e-9)
    np.testing.assert_allclose(advantages.std(axis=1, ddof=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("mode", ADVANTAGE_MODES)
@pytest.mark.parametrize("value", [0.1, 1 / 3, -7.3, 0.0])
def test_zero_variance_groups_give_exactly_zero(mode, value):
    # mean(0.1, 0.1, 0.1) is 0.10000000000000002 in floating point: without the explicit zero the
    # group mode would return about 1e-11 (a residue divided by eps)
    rewards = np.array([value, value, value, 1.0, 0.0, 0.0])
    advantages = group_advantages(rewards, group_size=3, mode=mode)
    assert np.array_equal(advantages[:3], np.zeros(3))
    assert np.all(advantages[3:] != 0.0)


def test_batch_normalize_by_hand():
    # dr advantages (3/4, -1/4, -1/4, -1/4, 0, 0, 0, 0): mean 0, sum of squares 3/4,
    # sample std sqrt((3/4) / 7)
    rewards = [1, 0, 0, 0, 1, 1, 1, 1]
    advantages = group_advantages(rewards, 4, mode="dr", batch_normalize=True, eps=TINY_EPS)
    expected = np.array([0.75, -0.25, -0.25, -0.25, 0, 0, 0, 0]) / np.sqrt(0.75 / 7)
    np.testing.assert_allclose(advantages, expected, rtol=1e-9)
    # groups of different spreads: after normalisation the batch has mean 0 and sample std 1
    rewards = [0, 1, 0, 0, 5, 0, 2, 2]
    normalized = group_advantages(rewards, 4, mode="group", scale_by_std=False, batch_normalize=True,
                                  eps=TINY_EPS)
    assert normalized.mean() == pytest.approx(0.0, abs=1e-12)
    assert normalized.std(ddof=1) == pytest.approx(1.0, rel=1e-9)


def test_batch_normalize_of_a_batch_without_signal_is_zero():
    advantages = group_advantages([0.1, 0.1, 0.7, 0.7], 2, batch_normalize=True)
    assert np.array_equal(advantages, np.zeros(4))


def test_float32_input_gives_float64():
    advantages = group_advantages(np.array([0, 1, 1, 0], dtype=np.float32), 2)
    assert advantages.dtype == np.float64 and advantages.shape == (4,)


# ---------------------------------------------------------------- statistics

def test_zero_variance_groups_and_statistics():
    rewards = [1, 1, 0, 1, 2, 2]
    assert zero_variance_groups(rewards, 2).tolist() == [True, False, True]
    statistics = group_statistics(rewards, 2)
    assert statistics["reward_mean"] == pytest.approx(7 / 6)
    # population std: mean of squared deviations from 7/6
    squared = [(r - 7 / 6) ** 2 for r in rewards]
    assert statistics["reward_std"] == pytest.approx(np.sqrt(sum(squared) / 6))
    assert statistics["zero_std_fraction"] == pytest.approx(2 / 3)
    assert zero_variance_groups([3.0], 1).tolist() == [True]


# ---------------------------------------------------------------- errors

def test_group_size_one_is_refused_with_the_reason():
    with pytest.raises(InputError, match="baseline"):
        group_advantages([1.0, 0.0], group_size=1)


@pytest.mark.parametrize("rewards, group_size, match", [
    ([1, 0, 1, 0, 1], 2, "multiple"),
    ([], 2, "empty"),
    ([[1, 0], [1, 0]], 2, "1-D"),
    ([1, float("nan")], 2, "finite"),
    ([1, float("inf")], 2, "finite"),
    (["a", "b"], 2, "numbers"),
    ([1, 0], 0, "group_size"),
    ([1, 0], True, "group_size"),
    ([1, 0], 2.0, "group_size"),
])
def test_bad_arguments(rewards, group_size, match):
    with pytest.raises(InputError, match=match):
        group_advantages(rewards, group_size)


def test_bad_mode_and_eps():
    with pytest.raises(InputError, match="mode"):
        group_advantages([1, 0], 2, mode="ppo")
    with pytest.raises(InputError, match="eps"):
        group_advantages([1, 0], 2, eps=0.0)
    with pytest.raises(InputError, match="multiple"):
        zero_variance_groups([1, 0, 1], 2)
    with pytest.raises(InputError, match="group_size"):
        group_statistics([1, 0], 0)
