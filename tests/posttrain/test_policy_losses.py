"""minireason.posttrain.policy_losses: every policy loss's gradient against central finite differences (float64), PPO's
clip region (and a wrong-side variant that the check must catch), aggregation weights by hand, micro-batch
additivity, values and metrics by hand, what each KL estimator's gradient targets in expectation, dtypes,
garbage outside the mask, the device path, and the errors."""

from dataclasses import replace

import numpy as np
import pytest
from fake_device import FakeDeviceArray
from gradcheck import assert_gradients_close, numerical_gradient
from hypothesis import given
from hypothesis import strategies as st

from minireason.errors import InputError
from minireason.posttrain.policy_losses import (
    AGGREGATIONS,
    KL_ESTIMATORS,
    POLICY_LOSSES,
    PolicyBatch,
    PolicyLossSettings,
    aggregation_weights,
    kl_reward_penalty,
    policy_loss,
)

seeds = st.integers(0, 2**31 - 1)
CLIP_RANGES = [(0.2, 0.2), (0.2, 0.28), (0.1, 0.3)]
GARBAGE = np.array([np.nan, np.inf, -np.inf, 1e30])  # what old_logp / ref_logp may hold outside the mask


def ratios_away_from(rng, shape, boundaries, lowest=0.25, highest=8.0):
    """Ratios in (lowest, highest), each inside one of the intervals the boundaries cut and never within
    10% of that interval's width from its ends: finite differences are not defined on a boundary."""
    edges = np.array(sorted({lowest, highest, *boundaries}))
    interval = rng.integers(0, len(edges) - 1, shape)
    left, right = edges[interval], edges[interval + 1]
    margin = 0.1 * (right - left)
    return rng.uniform(left + margin, right - margin)


def boundaries_of(settings: PolicyLossSettings):
    """The ratio values where the loss has a kink (where its gradient jumps)."""
    if settings.loss in ("ppo", "gspo"):
        clip_edges = [1 - settings.clip_low, 1 + settings.clip_high]
        return clip_edges + ([] if settings.dual_clip is None else [settings.dual_clip])
    return [settings.cispo_max] if settings.loss == "cispo" else []


def random_case(rng, N, T, settings, aggregation, with_entropy=True):
    """logp, entropy and a PolicyBatch with ratios explicitly on both sides of every kink, an empty row
    when N > 1, advantages of both signs and zero, and garbage outside the mask."""
    mask = rng.random((N, T)) < 0.75
    if N > 1:
        mask[rng.integers(N)] = False
    logp = -rng.exponential(1.5, (N, T))  # (N, T) log-probabilities
    advantages = rng.choice([-1.0, 0.0, 1.0], N) * rng.uniform(0.3, 2.0, N)  # (N,)
    if settings.loss == "gspo":  # place each row's sequence ratio s_n = exp(mean log ratio) explicitly
        token_log_ratio = rng.normal(0.0, 0.3, (N, T))
        row_mean = np.where(mask, token_log_ratio, 0.0).sum(axis=1) / np.maximum(mask.sum(axis=1), 1)
        target = np.log(ratios_away_from(rng, N, boundaries_of(settings)))
        log_ratio = token_log_ratio + (target - row_mean)[:, None]
    else:
        log_ratio = np.log(ratios_away_from(rng, (N, T), boundaries_of(settings)))
    old_logp = np.where(mask, logp - log_ratio, rng.choice(GARBAGE, (N, T)))
    ref_logp = np.where(mask, logp + rng.normal(0.0, 0.7, (N, T)), rng.choice(GARBAGE, (N, T)))
    entropy = rng.uniform(0.0, 3.0, (N, T)) if with_entropy else None
    weights = aggregation_weights(mask, aggregation, max_length=T + 3)
    return logp, entropy, PolicyBatch(mask, weights, advantages, old_logp, ref_logp)


def settings_for(rng, loss_name, kl_estimator, with_entropy, option):
    clip_low, clip_high = CLIP_RANGES[rng.integers(len(CLIP_RANGES))]
    if loss_name == "gspo" and option:
        clip_low, clip_high = 3e-4, 4e-4  # the GSPO paper's range
    return PolicyLossSettings(
        loss=loss_name, clip_low=clip_low, clip_high=clip_high,
        dual_clip=3.0 if (loss_name == "ppo" and option) else None,
        cispo_max=2.0 if option else 5.0,
        kl_beta=0.3 if kl_estimator else 0.0, kl_estimator=kl_estimator or "k3",
        entropy_coef=0.05 if with_entropy else 0.0,
    )


# ---------------------------------------------------------------------- gradients vs finite differences
@pytest.mark.parametrize("kl_estimator", (None,) + KL_ESTIMATORS)
@pytest.mark.parametrize("loss_name", POLICY_LOSSES)
@given(seed=seeds, N=st.integers(1, 4), T=st.integers(1, 5), aggregation=st.sampled_from(AGGREGATIONS),
       with_entropy=st.booleans(), option=st.booleans())
def test_gradients_match_finite_differences(loss_name, kl_estimator, seed, N, T, aggregation, with_entropy,
                                            option):
    rng = np.random.default_rng(seed)
    settings = settings_for(rng, loss_name, kl_estimator, with_entropy, option)
    logp, entropy, batch = random_case(rng, N, T, settings, aggregation, with_entropy)
    base_logp, base_old_logp = logp.copy(), batch.old_logp.copy()

    def loss():
        if loss_name == "cispo":
            # CISPO's importance weight is a stop-gradient: its gradient is that of the surrogate with the
            # weight frozen at its current value.  Moving old_logp with logp keeps every ratio (so every
            # weight) fixed while logp moves; the KL and entropy terms do not read old_logp.
            return policy_loss(logp, entropy, replace(batch, old_logp=base_old_logp + (logp - base_logp)),
                               settings)[0]
        return policy_loss(logp, entropy, batch, settings)[0]

    _, dlogp, dentropy, _ = policy_loss(logp, entropy, batch, settings)
    assert np.all(dlogp[~batch.mask] == 0.0)
    assert_gradients_close(dlogp, numerical_gradient(loss, logp), "dlogp")
    if with_entropy:
        assert_gradients_close(dentropy, numerical_gradient(loss, entropy), "dentropy")
    else:
        assert dentropy is None


# ---------------------------------------------------------------------- PPO's clip region
def clip_region_violations(dlogp, ratio, advantage, weights, settings):
    """Tokens where dlogp breaks PPO's rule, derived from the objective itself: the gradient is exactly 0
    where the pessimistic (min) term is the clipped one, which is flat in r (and, with dual clip, where
    c A is larger than that min for A < 0), and -w A r everywhere else."""
    unclipped = ratio * advantage
    clipped = np.clip(ratio, 1 - settings.clip_low, 1 + settings.clip_high) * advantage
    flat = clipped < unclipped  # strictly: inside the range both terms are one and the same
    if settings.dual_clip is not None:
        flat |= (advantage < 0) & (settings.dual_clip * advantage > np.minimum(unclipped, clipped))
    wrong_zero = flat & (dlogp != 0.0)
    wrong_slope = ~flat & ~np.isclose(dlogp, -weights * advantage * ratio, rtol=1e-12, atol=0.0)
    return int(np.sum(wrong_zero | wrong_slope))


def wrong_side_ppo_dlogp(ratio, advantage, weights, settings):
    """The wrong-side bug: the min taken over the ratios, -A min(r, clip(r)), whatever A's sign.
    For A < 0 it zeroes the gradient where r > 1 + clip_high (where PPO's pessimistic term is r A, live)
    and keeps it where r < 1 - clip_low (where the clipped term binds)."""
    unclipped_is_min = ratio <= np.clip(ratio, 1 - settings.clip_low, 1 + settings.clip_high)
    return np.where(unclipped_is_min, -weights * advantage * ratio, 0.0)


@given(seed=seeds, dual_clip=st.sampled_from([None, 3.0]), clip_range=st.sampled_from(CLIP_RANGES))
def test_ppo_gradient_is_zero_exactly_where_the_clipped_term_is_pessimistic(seed, dual_clip, clip_range):
    rng = np.random.default_rng(seed)
    settings = PolicyLossSettings(loss="ppo", clip_low=clip_range[0], clip_high=clip_range[1],
                                  dual_clip=dual_clip)
    N, T = 6, 7
    advantages = np.array([-1.5, -0.4, 0.0, 0.5, 2.0, -0.9])  # (N,) both signs and zero
    ratio = ratios_away_from(rng, (N, T), boundaries_of(settings))
    # every row holds a token below the range, one inside and one above (and past c with dual clip)
    ratio[:, 0] = rng.uniform(0.3, 0.7, N)
    ratio[:, 1] = rng.uniform(0.95, 1.05, N)
    ratio[:, 2] = rng.uniform(1.45, 2.5, N)
    ratio[:, 3] = rng.uniform(3.5, 6.0, N)
    mask = np.ones((N, T), dtype=bool)
    mask[2, 4:] = False
    logp = -rng.exponential(1.0, (N, T))
    old_logp = np.where(mask, logp - np.log(ratio), np.nan)
    weights = aggregation_weights(mask, "token-mean")
    batch = PolicyBatch(mask, weights, advantages, old_logp)
    dlogp = policy_loss(logp, None, batch, settings)[1]

    advantage = advantages[:, None]
    assert clip_region_violations(dlogp, ratio, advantage, weights, settings) == 0
    assert np.all(dlogp[~mask] == 0.0)
    # both signs actually visit both kinds of token: the check is not vacuous
    assert np.any(dlogp[advantages > 0] == 0.0) and np.any(dlogp[advantages > 0] != 0.0)
    assert np.any(dlogp[advantages < 0] == 0.0) and np.any(dlogp[advantages < 0] != 0.0)
    # the check catches the wrong-side variant
    wrong = wrong_side_ppo_dlogp(ratio, advantage, weights, settings)
    assert clip_region_violations(wrong, ratio, advantage, weights, settings) > 0


# ---------------------------------------------------------------------- aggregation
def test_aggregation_weights_by_hand():
    mask = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=bool)  # lengths 2, 1, 0; N = 3
    expected = {
        "token-mean": [[1 / 3, 1 / 3, 0], [1 / 3, 0, 0], [0, 0, 0]],
        "seq-mean-token-mean": [[1 / 6, 1 / 6, 0], [1 / 3, 0, 0], [0, 0, 0]],
        "seq-mean-token-sum": [[1 / 3, 1 / 3, 0], [1 / 3, 0, 0], [0, 0, 0]],
        "seq-mean-token-sum-norm": [[1 / 12, 1 / 12, 0], [1 / 12, 0, 0], [0, 0, 0]],
    }
    for aggregation, want in expected.items():
        got = aggregation_weights(mask, aggregation, max_length=4)
        assert got.dtype == np.float64 and got.shape == (3, 3)
        np.testing.assert_allclose(got, want, rtol=1e-15, err_msg=aggregation)
    for aggregation in AGGREGATIONS:  # an all-empty batch: zero weights, no division by zero
        assert np.all(aggregation_weights(np.zeros((2, 3), dtype=bool), aggregation, max_length=3) == 0.0)


@given(seed=seeds, loss_name=st.sampled_from(POLICY_LOSSES), aggregation=st.sampled_from(AGGREGATIONS),
       kl_estimator=st.sampled_from(KL_ESTIMATORS))
def test_micro_batches_add_up_to_the_whole_batch(seed, loss_name, aggregation, kl_estimator):
    rng = np.random.default_rng(seed)
    settings = settings_for(rng, loss_name, kl_estimator, with_entropy=True, option=bool(rng.integers(2)))
    N, T = 7, 4
    logp, entropy, batch = random_case(rng, N, T, settings, aggregation)
    whole_loss, whole_dlogp, whole_dentropy, whole_metrics = policy_loss(logp, entropy, batch, settings)
    cuts = [0, *sorted(rng.choice(np.arange(1, N), 2, replace=False)), N]
    loss_sum, dlogps, dentropies, metric_sums = 0.0, [], [], dict.fromkeys(whole_metrics, 0.0)
    for start, stop in zip(cuts[:-1], cuts[1:]):
        rows = slice(start, stop)
        part = PolicyBatch(batch.mask[rows], batch.weights[rows], batch.advantages[rows],
                           batch.old_logp[rows], batch.ref_logp[rows])
        loss, dlogp, dentropy, metrics = policy_loss(logp[rows], entropy[rows], part, settings)
        loss_sum += loss
        dlogps.append(dlogp)
        dentropies.append(dentropy)
        for key, value in metrics.items():
            metric_sums[key] += value
    np.testing.assert_allclose(loss_sum, whole_loss, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.concatenate(dlogps), whole_dlogp, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.concatenate(dentropies), whole_dentropy, rtol=1e-12, atol=1e-15)
    for key, value in whole_metrics.items():
        np.testing.assert_allclose(metric_sums[key], value, rtol=1e-12, atol=1e-12, err_msg=key)


# ---------------------------------------------------------------------- values and metrics by hand
def one_row_batch(log_ratio, advantage, weights, logp=None, ref_logp=None):
    log_ratio = np.asarray(log_ratio, dtype=np.float64)[None, :]
    logp = np.full_like(log_ratio, -1.0) if logp is None else np.asarray(logp, dtype=np.float64)[None, :]
    ref = None if ref_logp is None else np.asarray(ref_logp, dtype=np.float64)[None, :]
    mask = np.ones_like(log_ratio, dtype=bool)
    weights = np.asarray(weights, dtype=np.float64)[None, :]
    return logp, PolicyBatch(mask, weights, np.array([advantage], dtype=np.float64), logp - log_ratio, ref)


def test_ppo_values_and_metrics_by_hand():
    log_ratio = np.log([0.5, 1.1, 1.5])  # below, inside and above [0.8, 1.2]
    third = [1 / 3] * 3
    settings = PolicyLossSettings(loss="ppo")
    # A = +2: min(rA, clip(r)A) = min(1.0, 1.6), 2.2, min(3.0, 2.4)
    logp, batch = one_row_batch(log_ratio, 2.0, third)
    loss, dlogp, _, metrics = policy_loss(logp, None, batch, settings)
    assert loss == pytest.approx(-(1.0 + 2.2 + 2.4) / 3, rel=1e-12)
    np.testing.assert_allclose(dlogp, [[-2 * 0.5 / 3, -2 * 1.1 / 3, 0.0]], rtol=1e-12)
    assert metrics == {"tokens": 3, "ratio_sum": pytest.approx(3.1, rel=1e-12), "clipped_low": 0,
                       "clipped_high": 1, "clipped_dual": 0}
    # A = -2: min(-1.0, -1.6), -2.2, min(-3.0, -2.4)
    logp, batch = one_row_batch(log_ratio, -2.0, third)
    loss, dlogp, _, metrics = policy_loss(logp, None, batch, settings)
    assert loss == pytest.approx((1.6 + 2.2 + 3.0) / 3, rel=1e-12)
    np.testing.assert_allclose(dlogp, [[0.0, 2 * 1.1 / 3, 2 * 1.5 / 3]], rtol=1e-12)
    assert (metrics["clipped_low"], metrics["clipped_high"]) == (1, 0)
    # dual clip c = 1.4, A = -2: max(-3.0, c A = -2.8) = -2.8, flat
    loss, dlogp, _, metrics = policy_loss(logp, None, batch, replace(settings, dual_clip=1.4))
    assert loss == pytest.approx((1.6 + 2.2 + 2.8) / 3, rel=1e-12)
    np.testing.assert_allclose(dlogp, [[0.0, 2 * 1.1 / 3, 0.0]], rtol=1e-12)
    assert (metrics["clipped_low"], metrics["clipped_dual"]) == (1, 1)


def test_gspo_values_by_hand():
    # log ratios 0.1 and 0.3: s = exp(0.2) = 1.2214 > 1.2; one row, seq-mean-token-sum weights 1, W = 2
    s = np.exp(0.2)
    settings = PolicyLossSettings(loss="gspo")
    logp, batch = one_row_batch([0.1, 0.3], 1.0, [1.0, 1.0])
    loss, dlogp, _, metrics = policy_loss(logp, None, batch, settings)
    assert loss == pytest.approx(-2 * 1.2, rel=1e-12)  # A > 0 and s above the range: clipped, flat
    assert np.all(dlogp == 0.0) and metrics["clipped_high"] == 2
    assert metrics["ratio_sum"] == pytest.approx(2 * s, rel=1e-12)  # each token counts its sequence's s
    logp, batch = one_row_batch([0.1, 0.3], -1.0, [1.0, 1.0])
    loss, dlogp, _, metrics = policy_loss(logp, None, batch, settings)
    assert loss == pytest.approx(2 * s, rel=1e-12)  # A < 0: min(-s, -1.2) = -s, live
    np.testing.assert_allclose(dlogp, [[s, s]], rtol=1e-12)  # -W A s / len = 2 s / 2
    assert metrics["clipped_high"] == 0 and metrics["clipped_low"] == 0


def test_cispo_and_grpo_values_by_hand():
    logp, batch = one_row_batch(np.log([0.5, 7.0]), 1.0, [0.5, 0.5], logp=[-1.0, -2.0])
    loss, dlogp, _, metrics = policy_loss(logp, None, batch, PolicyLossSettings(loss="cispo"))
    assert loss == pytest.approx(-(0.5 * 0.5 * -1.0 + 0.5 * 5.0 * -2.0), rel=1e-12)  # weights 0.5, min(7, 5)
    np.testing.assert_allclose(dlogp, [[-0.25, -2.5]], rtol=1e-12)
    assert (metrics["clipped_high"], metrics["clipped_low"]) == (1, 0)
    loss, dlogp, _, _ = policy_loss(logp, None, batch, PolicyLossSettings(loss="grpo"))
    assert loss == pytest.approx(-(0.5 * -1.0 + 0.5 * -2.0), rel=1e-12)  # old_logp is not read
    np.testing.assert_allclose(dlogp, [[-0.5, -0.5]], rtol=1e-12)


@given(seed=seeds, N=st.integers(1, 5), T=st.integers(1, 6))
def test_grpo_with_seq_mean_token_sum_is_the_sequence_level_objective(seed, N, T):
    rng = np.random.default_rng(seed)
    mask = rng.random((N, T)) < 0.7
    logp, advantages = -rng.exponential(1.0, (N, T)), rng.standard_normal(N)
    batch = PolicyBatch(mask, aggregation_weights(mask, "seq-mean-token-sum"), advantages, np.zeros((N, T)))
    loss = policy_loss(logp, None, batch, PolicyLossSettings(loss="grpo"))[0]
    sequence_logp = [sum(logp[n, t] for t in range(T) if mask[n, t]) for n in range(N)]  # log pi(o_n)
    want = -np.mean([advantages[n] * sequence_logp[n] for n in range(N)])  # -mean_n A_n log pi(o_n)
    assert loss == pytest.approx(want, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("kl_estimator, value, slope", [
    ("k1", 0.5, 1.0),  # d = ref - logp = -0.5: k1 = -d, dk/dlogp = 1
    ("k2", 0.125, 0.5),  # d^2 / 2, -d
    ("k3", np.exp(-0.5) + 0.5 - 1.0, 1.0 - np.exp(-0.5)),  # exp(d) - d - 1, 1 - exp(d)
])
def test_kl_terms_by_hand(kl_estimator, value, slope):
    logp, batch = one_row_batch([0.0], 0.0, [1.0], logp=[-1.0], ref_logp=[-1.5])  # A = 0: only the KL term
    settings = PolicyLossSettings(loss="grpo", kl_beta=0.1, kl_estimator=kl_estimator)
    loss, dlogp, _, metrics = policy_loss(logp, None, batch, settings)
    assert loss == pytest.approx(0.1 * value, rel=1e-12)
    np.testing.assert_allclose(dlogp, [[0.1 * slope]], rtol=1e-12)
    assert metrics["kl_sum"] == pytest.approx(np.exp(-0.5) + 0.5 - 1.0, rel=1e-12)  # always k3


def test_entropy_term_by_hand():
    logp, batch = one_row_batch([0.0, 0.0], 0.0, [0.5, 0.5])
    entropy = np.array([[2.0, 1.0]])
    loss, _, dentropy, metrics = policy_loss(logp, entropy, batch, PolicyLossSettings(entropy_coef=0.01))
    assert loss == pytest.approx(-0.01 * (0.5 * 2.0 + 0.5 * 1.0), rel=1e-12)
    np.testing.assert_allclose(dentropy, [[-0.005, -0.005]], rtol=1e-12)
    assert metrics["entropy_sum"] == pytest.approx(3.0)
    _, _, dentropy, metrics = policy_loss(logp, entropy, batch, PolicyLossSettings())  # coefficient 0
    assert dentropy is None and metrics["entropy_sum"] == pytest.approx(3.0)


def test_kl_reward_penalty_by_hand():
    mask = np.array([[True, True, False], [False, False, False]])
    old_logp = np.array([[-1.0, -2.0, np.nan], [np.inf, 0.0, 0.0]])
    ref_logp = np.array([[-1.5, -1.0, -np.inf], [0.0, np.nan, 0.0]])
    penalty = kl_reward_penalty(old_logp, ref_logp, mask, 0.2)
    np.testing.assert_allclose(penalty, [0.2 * ((-1.0 + 1.5) + (-2.0 + 1.0)), 0.0], rtol=1e-12)
    assert penalty.shape == (2,) and penalty.dtype == np.float64


# ---------------------------------------------------------------------- what KL gradients target
def kl(p, q):
    return float(np.sum(p * (np.log(p) - np.log(q))))


def softmax(logits):
    exps = np.exp(logits - logits.max())
    return exps / exps.sum()


@given(seed=seeds, V=st.integers(2, 6))
def test_expected_kl_gradients_match_the_divergences_docs_name(seed, V):
    """On-policy (samples from pi itself), E_{x ~ pi}[d loss(x) / d theta] for pi = softmax(theta), summed
    exactly over the V outcomes: k1 as a loss -> 0, k2 as a loss -> grad KL(pi || ref), k3 as a loss ->
    grad KL(ref || pi), k1 folded into the reward (kl_reward_penalty + the grpo loss) -> grad KL(pi || ref).
    The divergences' gradients are finite differences, independent of the code under test."""
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal(V)
    ref = softmax(rng.standard_normal(V))
    pi = softmax(theta)
    mask = np.ones((V, 1), dtype=bool)  # one row per outcome x, one token each
    logp, ref_logp = np.log(pi)[:, None], np.log(ref)[:, None]
    weights = np.ones((V, 1))

    def expected_gradient(dlogp):  # sum_x pi_x dloss/dlogp(x) d log pi_x / d theta;  d log pi_x = e_x - pi
        return sum(pi[x] * dlogp[x, 0] * (np.eye(V)[x] - pi) for x in range(V))

    def loss_gradient(estimator, advantages=None, beta=1.0):
        advantages = np.zeros(V) if advantages is None else advantages
        batch = PolicyBatch(mask, weights, advantages, logp, ref_logp)
        settings = PolicyLossSettings(loss="grpo", kl_beta=beta, kl_estimator=estimator)
        return expected_gradient(policy_loss(logp, None, batch, settings)[1])

    reverse = numerical_gradient(lambda: kl(softmax(theta), ref), theta)  # grad KL(pi || ref)
    forward = numerical_gradient(lambda: kl(ref, softmax(theta)), theta)  # grad KL(ref || pi)
    assert_gradients_close(loss_gradient("k1"), np.zeros(V), "k1 as a loss", atol=1e-12)
    assert_gradients_close(loss_gradient("k2"), reverse, "k2 as a loss")
    assert_gradients_close(loss_gradient("k3"), forward, "k3 as a loss")
    penalty = kl_reward_penalty(logp, ref_logp, mask, 1.0)  # reward -= penalty, so advantage = -penalty
    assert_gradients_close(loss_gradient("k3", advantages=-penalty, beta=0.0), reverse, "k1 in the reward")


# ---------------------------------------------------------------------- dtypes, garbage, device
@pytest.mark.parametrize("loss_name", POLICY_LOSSES)
def test_float32_inputs_and_garbage_outside_the_mask(loss_name):
    rng = np.random.default_rng(7)
    settings = PolicyLossSettings(loss=loss_name, kl_beta=0.1, entropy_coef=0.01,
                                  dual_clip=3.0 if loss_name == "ppo" else None)
    logp, entropy, batch = random_case(rng, 5, 6, settings, "token-mean")  # garbage outside the mask
    with np.errstate(all="raise"):  # no overflow, invalid or divide warning anywhere
        want = policy_loss(logp, entropy, batch, settings)
        got = policy_loss(logp.astype(np.float32), entropy.astype(np.float32),
                          PolicyBatch(batch.mask, batch.weights.astype(np.float32),
                                      batch.advantages.astype(np.float32), batch.old_logp.astype(np.float32),
                                      batch.ref_logp.astype(np.float32)), settings)
    assert got[1].dtype == np.float32 and got[2].dtype == np.float32
    assert want[1].dtype == np.float64 and want[2].dtype == np.float64
    for result in (want, got):
        assert np.isfinite(result[0]) and np.all(np.isfinite(result[1])) and np.all(np.isfinite(result[2]))
        assert all(np.isfinite(value) for value in result[3].values())
    assert got[0] == pytest.approx(want[0], rel=1e-5, abs=1e-6)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-4, atol=1e-6)


def test_device_arrays_stay_on_the_device():
    rng = np.random.default_rng(3)
    settings = PolicyLossSettings(loss="gspo", kl_beta=0.1, entropy_coef=0.01)
    logp, entropy, batch = random_case(rng, 3, 4, settings, "seq-mean-token-mean")
    want = policy_loss(logp, entropy, batch, settings)
    # a device logp and entropy with a host batch (as the trainer will pass it)
    got = policy_loss(FakeDeviceArray(logp.copy()), FakeDeviceArray(entropy.copy()), batch, settings)
    assert isinstance(got[1], FakeDeviceArray) and isinstance(got[2], FakeDeviceArray)
    assert got[0] == want[0] and got[3] == want[3]
    np.testing.assert_array_equal(got[1].get(), want[1])
    np.testing.assert_array_equal(got[2].get(), want[2])


# ---------------------------------------------------------------------- errors
def test_bad_settings_and_inputs_raise_one_line_input_errors():
    bad_settings = [
        (dict(loss="reinforce"), "loss must be one of grpo, ppo, gspo, cispo, got 'reinforce'"),
        (dict(clip_low=-0.1), "clip_low"), (dict(clip_low=1.0), "clip_low"),
        (dict(clip_high=-1e-3), "clip_high"), (dict(clip_high=True), "clip_high"),
        (dict(loss="ppo", dual_clip=1.0), "dual_clip"), (dict(loss="gspo", dual_clip=3.0), "'ppo' only"),
        (dict(cispo_max=0.0), "cispo_max"), (dict(kl_beta=-0.1), "kl_beta"),
        (dict(kl_beta=float("nan")), "kl_beta"),
        (dict(kl_estimator="k4"), "k4"), (dict(entropy_coef=-0.1), "entropy_coef"),
    ]
    for fields, message in bad_settings:
        with pytest.raises(InputError, match=message) as caught:
            PolicyLossSettings(**fields)
        assert "\n" not in str(caught.value)

    mask = np.ones((2, 3), dtype=bool)
    batch = PolicyBatch(mask, aggregation_weights(mask, "token-mean"), np.zeros(2), np.zeros((2, 3)))
    logp = np.full((2, 3), -1.0)
    with pytest.raises(InputError, match="ref_logp"):
        policy_loss(logp, None, batch, PolicyLossSettings(kl_beta=0.1))
    with pytest.raises(InputError, match="entropy"):
        policy_loss(logp, None, batch, PolicyLossSettings(entropy_coef=0.1))
    with pytest.raises(InputError, match="advantages"):
        policy_loss(logp, None, replace(batch, advantages=np.zeros(3)), PolicyLossSettings())
    with pytest.raises(InputError, match="old_logp"):
        policy_loss(logp, None, replace(batch, old_logp=np.zeros((2, 2))), PolicyLossSettings())
    with pytest.raises(InputError, match="unknown aggregation 'mean'"):
        aggregation_weights(mask, "mean")
    with pytest.raises(InputError, match="max_length"):
        aggregation_weights(mask, "seq-mean-token-sum-norm")
    with pytest.raises(InputError, match="max_length 2 is shorter"):
        aggregation_weights(mask, "seq-mean-token-sum-norm", max_length=2)
    with pytest.raises(InputError, match="2-D"):
        aggregation_weights(np.ones(3, dtype=bool), "token-mean")
    with pytest.raises(InputError, match="beta"):
        kl_reward_penalty(np.zeros((2, 3)), np.zeros((2, 3)), mask, -1.0)
    with pytest.raises(InputError, match="ref_logp"):
        kl_reward_penalty(np.zeros((2, 3)), np.zeros((3, 2)), mask, 0.1)
