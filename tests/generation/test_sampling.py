"""Sampling filters against simple sort-based definitions, the sampled distribution (chi-square),
log-probabilities, seeds and bad settings."""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from minireason.errors import InputError
from minireason.generation.sampling import (
    SamplingSettings,
    cdf_block,
    chosen_logprobs,
    filter_logits,
    inverse_cdf_draw,
    log_softmax,
    min_p_mask,
    sample_next_tokens,
    sampling_distribution,
    top_k_mask,
    top_p_mask,
)
from minireason.nn.loss import log_softmax_forward, token_logprobs_forward

# ----------------------------------------------------------------------------- reference definitions
# Written row by row with Python sorting, independently of the vectorised code under test.


def reference_probs(row):
    finite = [x for x in row if x != -math.inf]
    largest = max(finite)
    weights = [math.exp(x - largest) if x != -math.inf else 0.0 for x in row]
    total = math.fsum(weights)
    return [w / total for w in weights]


def reference_top_k(row, k):
    """Indices of the k largest values, plus every index tied with the k-th largest."""
    if k == 0 or k >= len(row):
        return set(range(len(row)))
    kth = sorted(row, reverse=True)[k - 1]
    return {i for i, x in enumerate(row) if x >= kth}


def reference_top_p(row, p):
    """Most likely first, add tokens until their mass reaches p; then add ties of the last one."""
    probs = reference_probs(row)
    order = sorted(range(len(row)), key=lambda i: -probs[i])
    mass, kept = 0.0, []
    for i in order:
        if probs[i] == 0.0 and kept:
            break
        kept.append(i)
        mass += probs[i]
        if mass >= p:
            break
    last = probs[kept[-1]]
    return set(kept) | {i for i, q in enumerate(probs) if q == last and q > 0}


def reference_min_p(row, min_p):
    probs = reference_probs(row)
    top = max(probs)
    return {i for i, q in enumerate(probs) if q >= min_p * top and q > 0}


def reference_filter(row, k, p, min_p):
    """top-k, then top-p on what is left (renormalised), then min-p."""
    kept = reference_top_k(row, k)
    row = [x if i in kept else -math.inf for i, x in enumerate(row)]
    if p < 1:
        kept = reference_top_p(row, p)
        row = [x if i in kept else -math.inf for i, x in enumerate(row)]
    if min_p > 0:
        kept = reference_min_p(row, min_p)
        row = [x if i in kept else -math.inf for i, x in enumerate(row)]
    return {i for i, x in enumerate(row) if x != -math.inf}


def as_set(mask_row):
    return set(np.flatnonzero(mask_row).tolist())


# values drawn from a small grid so that ties happen often
tie_prone_logits = arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 12)),
                          elements=st.sampled_from([-3.0, -1.0, -0.5, 0.0, 0.25, 1.0, 2.0, 4.0]))
any_logits = arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 12)),
                    elements=st.floats(-20, 20, allow_nan=False))


# ----------------------------------------------------------------------------- filter sets


@given(st.one_of(tie_prone_logits, any_logits), st.integers(0, 14))
def test_top_k_keeps_the_k_largest_and_their_ties(logits, k):
    mask = top_k_mask(logits, k)
    for row, mask_row in zip(logits, mask):
        assert as_set(mask_row) == reference_top_k(row.tolist(), k)
        assert len(as_set(mask_row)) >= min(max(k, 1), len(row))


def _prefix_masses(row):
    probs = sorted(reference_probs(row), reverse=True)
    return [math.fsum(probs[: i + 1]) for i in range(len(probs))]


@given(st.one_of(tie_prone_logits, any_logits), st.floats(0.01, 1.0))
def test_top_p_keeps_the_smallest_nucleus_reaching_p(logits, p):
    for row in logits.tolist():  # a prefix mass within rounding of p has no well-defined answer
        assume(all(abs(mass - p) > 1e-9 for mass in _prefix_masses(row)))
    mask = top_p_mask(logits, p)
    for row, mask_row in zip(logits.tolist(), mask):
        kept = as_set(mask_row)
        assert kept == reference_top_p(row, p)
        assert len(kept) >= 1
        probs = reference_probs(row)
        assert math.fsum(probs[i] for i in kept) >= p - 1e-12 or len(kept) == len(row)


@settings(max_examples=200)
@given(st.integers(0, 2**32 - 1), st.integers(1, 3), st.integers(65, 700), st.floats(0.0, 3.0),
       st.sampled_from([0.3, 0.9, 0.999]))
def test_top_p_over_many_tokens_matches_the_reference(seed, B, V, spread, p):
    """Vocabularies larger than the first candidate set (NUCLEUS_FIRST_CANDIDATES): nuclei that
    close within it, and (flat rows, p near 1) nuclei that need the candidates to grow, up to V."""
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((B, V)) * spread
    logits[:, rng.integers(0, V)] += rng.choice([0.0, 5.0])  # now and then one dominant token
    for row in logits.tolist():
        assume(all(abs(mass - p) > 1e-9 for mass in _prefix_masses(row)))
    mask = top_p_mask(logits, p)
    for row, mask_row in zip(logits.tolist(), mask):
        assert as_set(mask_row) == reference_top_p(row, p)


def test_top_p_with_tiny_p_keeps_exactly_the_most_likely_token():
    logits = np.array([[0.0, 3.0, 1.0, 2.0], [5.0, -1.0, 0.0, 4.0]])
    assert top_p_mask(logits, 1e-6).tolist() == [[False, True, False, False], [True, False, False, False]]


def test_top_p_example_by_hand():
    probs = np.array([[0.5, 0.3, 0.15, 0.05]])
    logits = np.log(probs)
    assert as_set(top_p_mask(logits, 0.5)[0]) == {0}
    assert as_set(top_p_mask(logits, 0.79)[0]) == {0, 1}
    assert as_set(top_p_mask(logits, 0.81)[0]) == {0, 1, 2}


@given(st.one_of(tie_prone_logits, any_logits), st.floats(0.0, 1.0))
def test_min_p_keeps_tokens_at_least_min_p_times_the_top(logits, min_p):
    for row in logits.tolist():
        probs = reference_probs(row)
        assume(all(abs(q - min_p * max(probs)) > 1e-9 for q in probs))
    mask = min_p_mask(logits, min_p)
    for row, mask_row in zip(logits.tolist(), mask):
        assert as_set(mask_row) == reference_min_p(row, min_p)


@given(st.one_of(tie_prone_logits, any_logits), st.integers(0, 6), st.floats(0.05, 1.0), st.floats(0.0, 0.5))
def test_filters_combine_in_order_top_k_top_p_min_p(logits, k, p, min_p):
    for row in logits.tolist():
        kept = reference_top_k(row, k)
        after_k = [x if i in kept else -math.inf for i, x in enumerate(row)]
        assume(all(abs(mass - p) > 1e-9 for mass in _prefix_masses(after_k)))
        after_p = [x if i in reference_top_p(after_k, p) else -math.inf for i, x in enumerate(after_k)]
        probs = reference_probs(after_p)
        assume(all(abs(q - min_p * max(probs)) > 1e-9 for q in probs))
    filtered = filter_logits(logits, k, p, min_p)
    for row, filtered_row in zip(logits.tolist(), filtered):
        assert as_set(np.isfinite(filtered_row)) == reference_filter(row, k, p, min_p)
        kept = np.isfinite(filtered_row)
        np.testing.assert_array_equal(filtered_row[kept], np.array(row)[kept])  # kept logits unchanged


# ----------------------------------------------------------------------------- the sampled distribution


def chi_square_critical_value(degrees_of_freedom: int, z: float = 3.719) -> float:
    """Wilson-Hilferty approximation of the chi-square quantile; z = 3.719 is the normal 1 - 1e-4 quantile."""
    d = degrees_of_freedom
    return d * (1 - 2 / (9 * d) + z * math.sqrt(2 / (9 * d))) ** 3


def test_chi_square_critical_value_matches_a_table():
    # table values of the 0.9999 quantile: df 1 -> 15.14, df 5 -> 25.74, df 10 -> 35.56
    for df, table in ((5, 25.74), (10, 35.56)):
        assert abs(chi_square_critical_value(df) - table) / table < 0.03


def chi_square_statistic(counts, expected_probs, n_draws):
    support = expected_probs > 0
    expected = expected_probs[support] * n_draws
    return float(np.sum((counts[support] - expected) ** 2 / expected)), int(support.sum()) - 1


LOGITS = np.array([2.0, 1.5, 1.2, 1.0, 0.3, 0.0, -0.5, -1.0, -2.0, -4.0])
N_DRAWS = 40_000


@pytest.mark.parametrize("temperature, top_k, top_p, min_p", [
    (1.0, 0, 1.0, 0.0),
    (0.7, 0, 1.0, 0.0),
    (1.3, 6, 1.0, 0.0),
    (1.0, 0, 0.8, 0.0),
    (1.0, 0, 1.0, 0.2),
    (0.8, 7, 0.9, 0.1),
])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sampled_tokens_follow_the_filtered_distribution(temperature, top_k, top_p, min_p, dtype):
    """In float64, and in float32 (a float32 model's logits are drawn from as they are)."""
    settings = SamplingSettings(temperature, top_k, top_p, min_p)
    scaled = (LOGITS / temperature).tolist()
    kept = reference_filter(scaled, top_k, top_p, min_p)
    expected = np.array(reference_probs([x if i in kept else -math.inf for i, x in enumerate(scaled)]))
    logits = np.tile(LOGITS, (N_DRAWS, 1)).astype(dtype)  # one row per draw: a single vectorised call
    sampled = sample_next_tokens(logits, settings, np.random.default_rng(1234))
    counts = np.bincount(sampled.token_ids, minlength=len(LOGITS))
    assert counts[expected == 0].sum() == 0, "a filtered-out token was sampled"
    statistic, df = chi_square_statistic(counts, expected, N_DRAWS)
    if df > 0:
        assert statistic < chi_square_critical_value(df), (statistic, counts, expected * N_DRAWS)
        # the test has power: the unfiltered, unscaled distribution is rejected
        if (temperature, top_k, top_p, min_p) != (1.0, 0, 1.0, 0.0):
            raw = np.array(reference_probs(LOGITS.tolist()))
            wrong_statistic, wrong_df = chi_square_statistic(counts, raw, N_DRAWS)
            assert wrong_statistic > chi_square_critical_value(wrong_df)
    # the log-probs under the sampling distribution are those of the expected distribution, computed
    # in the logits' dtype (a float32 draw's are float32 numbers)
    assert sampled.sampling_logprobs.dtype == np.float64
    np.testing.assert_allclose(sampled.sampling_logprobs, np.log(expected[sampled.token_ids]),
                               rtol=1e-12 if dtype == "float64" else 1e-5)
    assert (sampled.sampling_logprobs.astype(dtype).astype(np.float64) == sampled.sampling_logprobs).all()


def test_logprobs_under_the_raw_model_ignore_temperature_and_filters():
    settings = SamplingSettings(temperature=0.5, top_k=3)
    sampled = sample_next_tokens(np.tile(LOGITS, (200, 1)), settings, np.random.default_rng(0))
    raw = np.log(reference_probs(LOGITS.tolist()))
    np.testing.assert_allclose(sampled.logprobs, raw[sampled.token_ids], rtol=1e-12)
    assert set(sampled.token_ids.tolist()) <= {0, 1, 2}


def test_greedy_picks_the_arg_max_with_sampling_logprob_zero():
    logits = np.array([[0.1, 3.0, -1.0], [2.0, 1.0, 0.0]], dtype=np.float32)
    sampled = sample_next_tokens(logits, SamplingSettings(0.0, top_k=2, top_p=0.5), np.random.default_rng(0))
    assert sampled.token_ids.tolist() == [1, 0]
    assert sampled.sampling_logprobs.tolist() == [0.0, 0.0]
    expected = [math.log(reference_probs(row)[i]) for row, i in zip(logits.astype(float).tolist(), [1, 0])]
    np.testing.assert_allclose(sampled.logprobs, expected, rtol=1e-6)


def test_same_seed_same_draws_other_seed_other_draws():
    logits = np.tile(LOGITS, (64, 1))
    settings = SamplingSettings(1.0)
    first = sample_next_tokens(logits, settings, np.random.default_rng(7)).token_ids
    again = sample_next_tokens(logits, settings, np.random.default_rng(7)).token_ids
    other = sample_next_tokens(logits, settings, np.random.default_rng(8)).token_ids
    assert first.tolist() == again.tolist()
    assert first.tolist() != other.tolist()


def test_one_generator_per_row_draws_each_row_from_its_own():
    """With a list of Generators, row b's token depends only on its logits and its generator:
    the same as sampling that row alone, whatever rows share the batch."""
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(5, 40)) * 3  # (B, V)
    settings = SamplingSettings(1.0, top_p=0.95)
    batched = sample_next_tokens(logits, settings, [np.random.default_rng([9, b]) for b in range(5)])
    for b in range(5):
        alone = sample_next_tokens(logits[b:b + 1], settings, [np.random.default_rng([9, b])])
        assert alone.token_ids[0] == batched.token_ids[b]
        assert alone.sampling_logprobs[0] == batched.sampling_logprobs[b]
    # reversed order of rows and generators: each row keeps its token
    reversed_ = sample_next_tokens(logits[::-1], settings, [np.random.default_rng([9, b]) for b in range(4, -1, -1)])
    assert reversed_.token_ids[::-1].tolist() == batched.token_ids.tolist()
    # a row draws one uniform from its own generator, nothing from the others
    own = np.random.default_rng([9, 2])
    target = own.random() * np.exp(filter_logits(logits[2:3], top_p=0.95) - logits[2].max()).sum()
    cumulative = np.cumsum(np.exp(filter_logits(logits[2:3], top_p=0.95) - logits[2].max()))
    assert batched.token_ids[2] == int(np.argmax(cumulative > target))


def test_a_list_of_generators_must_have_one_per_row():
    with pytest.raises(InputError, match="one per row"):
        sample_next_tokens(np.zeros((3, 4)), SamplingSettings(1.0), [np.random.default_rng(0)] * 2)
    with pytest.raises(InputError, match="one per row"):
        sample_next_tokens(np.zeros((2, 4)), SamplingSettings(1.0), [np.random.default_rng(0), 5])


@given(any_logits, st.data())
def test_log_softmax_against_a_plain_python_reference(logits, data):
    """Sampling's log-softmax on filtered rows: the log of the reference probabilities, -inf where a
    filter dropped the token, no NaN, no warning."""
    dropped = data.draw(arrays(np.bool_, logits.shape))
    dropped[np.arange(len(logits)), np.argmax(~dropped, axis=1)] = False  # every row keeps a token
    logits = np.where(dropped, -np.inf, logits)
    with np.errstate(all="raise"):
        got = log_softmax(logits)
    for row, got_row in zip(logits.tolist(), got.tolist()):
        for probability, value in zip(reference_probs(row), got_row):
            if probability == 0.0:
                assert value == -math.inf
            else:
                assert math.isclose(value, math.log(probability), rel_tol=1e-12, abs_tol=1e-12)


def test_the_one_log_softmax_keeps_dropped_tokens_at_minus_infinity():
    """Sampling uses nn.loss's log-softmax on filtered rows: -inf in, -inf out, no NaN, no warning."""
    logits = np.array([[0.0, -np.inf, math.log(3.0)], [-np.inf, 5.0, -np.inf]])  # (B=2, V=3)
    with np.errstate(all="raise"):
        log_probs, _ = log_softmax_forward(logits)
    assert log_probs[0, 1] == -np.inf and log_probs[1, 0] == -np.inf and log_probs[1, 2] == -np.inf
    np.testing.assert_allclose(log_probs[0, [0, 2]], [math.log(0.25), math.log(0.75)], rtol=1e-15)
    assert log_probs[1, 1] == 0.0
    # top-k 1 drops two of three tokens: they get probability exactly 0, the arg-max gets 1
    probs = sampling_distribution(np.array([[1.0, 2.0, 0.5]]), SamplingSettings(1.0, top_k=1))
    assert probs.tolist() == [[0.0, 1.0, 0.0]]


@given(any_logits)
def test_chosen_logprobs_are_the_log_softmax_at_the_chosen_tokens(logits):
    token_ids = np.arange(len(logits)) % logits.shape[1]  # (B,)
    expected = [math.log(reference_probs(row)[i]) for row, i in zip(logits.tolist(), token_ids)]
    np.testing.assert_allclose(chosen_logprobs(logits, token_ids), expected, rtol=1e-9, atol=1e-12)


def test_huge_and_tiny_logits_stay_finite():
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4 + 1, -1e4 + 2]])
    sampled = sample_next_tokens(logits, SamplingSettings(1.0, top_p=0.99), np.random.default_rng(0))
    assert np.all(np.isfinite(sampled.logprobs)) and np.all(np.isfinite(sampled.sampling_logprobs))
    assert sampled.token_ids[0] == 0


@pytest.mark.parametrize("kwargs, name", [
    ({"temperature": -0.1}, "temperature"),
    ({"temperature": float("nan")}, "temperature"),
    ({"top_k": -1}, "top_k"),
    ({"top_k": 2.5}, "top_k"),
    ({"top_p": 0.0}, "top_p"),
    ({"top_p": 1.01}, "top_p"),
    ({"min_p": -0.01}, "min_p"),
    ({"min_p": 1.5}, "min_p"),
])
def test_bad_settings_name_the_argument(kwargs, name):
    with pytest.raises(InputError, match=name):
        SamplingSettings(**kwargs)
    with pytest.raises(ValueError):
        SamplingSettings(**kwargs)


# ----------------------------------------------------------------------------- the inverse-CDF draw


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4), st.one_of(st.integers(1, 300), st.integers(300, 5000)), st.integers(0, 2**32 - 1),
       st.sampled_from(["float64", "float32"]))
def test_blocked_inverse_cdf_draws_the_token_of_the_one_running_sum(B, V, seed, dtype):
    """Small-integer weights sum exactly in any order (float32's too, below 2^24), so the blocked
    draw must pick exactly the token of the definition: the first whose running sum over the whole
    row passes u * total."""
    rng = np.random.default_rng(seed)
    weights = (rng.integers(0, 4, (B, V)) * (rng.random((B, V)) < 0.3)).astype(dtype)  # (B, V), mostly 0
    weights[np.arange(B), rng.integers(0, V, B)] = 1.0  # every row has some weight
    uniforms = rng.random(B)
    uniforms[0] = np.nextafter(1.0, 0.0)  # the largest uniform: the target at the very end
    token_ids, totals = inverse_cdf_draw(weights, uniforms)
    running = np.cumsum(weights, axis=-1)
    np.testing.assert_array_equal(totals, running[:, -1])
    passed = running > (uniforms * running[:, -1])[:, None]
    expected = np.where(passed.any(axis=-1), np.argmax(passed, axis=-1),
                        V - 1 - np.argmax(weights[:, ::-1] > 0, axis=-1))  # no pass: the last positive weight
    np.testing.assert_array_equal(token_ids, expected)
    assert np.all(weights[np.arange(B), token_ids] > 0)


def test_a_draw_whose_target_rounds_to_the_total_takes_the_last_token_with_weight():
    V = 2000
    block = cdf_block(V)  # 64: 31 whole blocks and a last one of 16
    weights = np.zeros((2, V))
    weights[:, [5, block + 1]] = [0.1, 0.2]  # the rest weighs nothing, the last block included
    token_ids, _ = inverse_cdf_draw(weights, np.array([1.0, np.nextafter(1.0, 0.0)]))  # u = 1: past every sum
    assert token_ids.tolist() == [block + 1, block + 1]
    small = weights[:, :16]  # a small vocabulary: one running sum, the same rule
    assert inverse_cdf_draw(small, np.array([1.0, 0.0]))[0].tolist() == [5, 5]


def test_a_row_draws_the_same_token_alone_and_in_any_batch_over_a_large_vocabulary():
    """One weight of 1 and 2,999 of 1e-17: one running sum never grows past 1 (each 1e-17 is lost
    in the rounding), the blocks' sums do (64e-17 a block), so the two ways of summing draw
    different tokens for a target near the total. A row must get the same one in any batch."""
    row = np.full(3000, 1e-17)
    row[0] = 1.0
    others = np.random.default_rng(5).random((5, 3000))
    uniform = np.nextafter(1.0, 0.0)
    alone, _ = inverse_cdf_draw(row[None, :], np.array([uniform]))
    batched, _ = inverse_cdf_draw(np.vstack([row, others]), np.full(6, uniform))
    assert alone[0] == batched[0]
    assert alone[0] > 0  # by blocks: a token past the first, which one running sum could not reach
    assert np.argmax(np.cumsum(row) > uniform * np.cumsum(row)[-1]) == 0
    # and the whole sampling step, with one Generator per row
    logits = np.random.default_rng(6).normal(size=(6, 3000)) * 4  # (B, V)
    settings = SamplingSettings(1.0)
    together = sample_next_tokens(logits, settings, [np.random.default_rng([3, b]) for b in range(6)])
    for b in range(6):
        one = sample_next_tokens(logits[b:b + 1], settings, [np.random.default_rng([3, b])])
        assert one.token_ids[0] == together.token_ids[b]
        assert one.sampling_logprobs[0] == together.sampling_logprobs[b] and one.logprobs[0] == together.logprobs[b]


def test_the_draws_block_is_about_the_square_root_of_the_vocabulary():
    for V in (1, 16, 17, 255, 256, 257, 343, 8192, 151936):
        block = cdf_block(V)
        assert block >= 16 and block & (block - 1) == 0  # a power of two
        assert block * block >= V and (block == 16 or (block // 2) ** 2 < V)
    assert (cdf_block(343), cdf_block(151936)) == (32, 512)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3), st.integers(2, 2000), st.integers(0, 2**32 - 1), st.sampled_from(["float32", "float64"]),
       st.sampled_from([0.0, 1.0, 0.7]))
def test_chosen_logprobs_are_the_training_ops_numbers_to_the_last_bit(B, V, seed, dtype, temperature):
    """The log-probability recorded at sampling is the one nn.loss's token_logprobs_forward gives on
    the same logits, in their own dtype (a float32 row is not widened first), whatever the draw's
    temperature; and a backend's op, when given, is the one that runs."""
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((B, V)) * 4).astype(dtype)  # (B, V)
    token_ids = rng.integers(0, V, B)
    (expected, _), _ = token_logprobs_forward(logits[:, None, :], token_ids[:, None])
    got = chosen_logprobs(logits, token_ids)
    assert got.dtype == np.float64 and got.tolist() == expected[:, 0].astype(np.float64).tolist()
    sampled = sample_next_tokens(logits, SamplingSettings(temperature), np.random.default_rng(seed))
    (again, _), _ = token_logprobs_forward(logits[:, None, :], sampled.token_ids[:, None])
    assert sampled.logprobs.tolist() == again[:, 0].astype(np.float64).tolist()
    calls = []

    def backend_op(logits, targets, temperature, with_entropy):
        calls.append((logits.shape, logits.dtype, temperature, with_entropy))
        return token_logprobs_forward(logits, targets, temperature, with_entropy)

    sample_next_tokens(logits, SamplingSettings(temperature), np.random.default_rng(seed), backend_op)
    assert calls == [((B, 1, V), np.dtype(dtype), 1.0, False)]


def test_logits_of_another_dtype_are_sampled_in_float64():
    """Integer or float16 logits (not a model's) are widened to float64, for the draw and the op."""
    expected = [math.log(reference_probs([1.0, 2.0, 3.0])[2])] * 2
    for logits in (np.array([[1, 2, 3], [1, 2, 3]]), np.array([[1, 2, 3], [1, 2, 3]], dtype=np.float16)):
        np.testing.assert_allclose(chosen_logprobs(logits, np.array([2, 2])), expected, rtol=1e-15)
        sampled = sample_next_tokens(logits, SamplingSettings(0.0), np.random.default_rng(0))
        np.testing.assert_allclose(sampled.logprobs, expected, rtol=1e-15)
        drawn = sample_next_tokens(logits, SamplingSettings(1.0), np.random.default_rng(0))
        np.testing.assert_allclose(drawn.sampling_logprobs, drawn.logprobs, rtol=1e-15)
        assert sampling_distribution(logits, SamplingSettings(0.7)).dtype == np.float64
    # the distribution drawn from is in the draw's dtype: a float32 row's stays float32
    assert sampling_distribution(np.array([[1, 2, 3]], dtype=np.float32), SamplingSettings(0.7)).dtype == np.float32
