"""The Numba kernels against the NumPy reference: forward and backward, op by op, then the whole model."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("numba")

from minireason.kernels import numba_attention, numba_decode, numba_fused, numba_loss, numba_rope  # noqa: E402

from minireason.backend import dispatch_table  # noqa: E402
from minireason.config import PRESETS  # noqa: E402
from minireason.model import Qwen3Model  # noqa: E402
from minireason.nn import attention, linear, loss, rmsnorm, rope, swiglu  # noqa: E402

TOLERANCES = {np.float64: {"rtol": 1e-10, "atol": 1e-12}, np.float32: {"rtol": 1e-5, "atol": 2e-6}}
dtypes = st.sampled_from([np.float32, np.float64])


def assert_close(got, expected, dtype, name):
    assert got.shape == expected.shape, f"{name}: shape {got.shape} != {expected.shape}"
    assert got.dtype == expected.dtype, f"{name}: dtype {got.dtype} != {expected.dtype}"
    tolerance = TOLERANCES[dtype]
    # absolute floor scaled by the array's magnitude: sums that cancel keep only absolute accuracy
    atol = tolerance["atol"] * max(1.0, float(np.abs(expected).max(initial=0.0)))
    np.testing.assert_allclose(got, expected, rtol=tolerance["rtol"], atol=atol, err_msg=name)


@st.composite
def attention_inputs(draw):
    dtype = draw(dtypes)
    B = draw(st.integers(1, 2))
    Hkv = draw(st.integers(1, 2))
    group = draw(st.integers(1, 3))
    T = draw(st.integers(1, 80))  # crosses the 32-row query tiles (and, with the cached keys, the 64-key tiles)
    cached = draw(st.integers(0, 70))  # keys from an earlier forward (KV cache): S = cached + T
    Dh = draw(st.sampled_from([2, 4, 8]))
    S = cached + T
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    q = rng.standard_normal((B, Hkv * group, T, Dh)).astype(dtype)
    k = rng.standard_normal((B, Hkv, S, Dh)).astype(dtype)
    v = rng.standard_normal((B, Hkv, S, Dh)).astype(dtype)
    mask_kind = draw(st.sampled_from(["none", "left_padding", "random"]))
    if mask_kind == "none":
        key_mask = None
    elif mask_kind == "left_padding":  # rows that see no key at all exist when padding exceeds the cache
        padding = rng.integers(0, S + 1, size=B)
        key_mask = np.arange(S)[None, :] >= padding[:, None]
    else:
        key_mask = rng.random((B, S)) < 0.7
    dout = rng.standard_normal((B, Hkv * group, T, Dh)).astype(dtype)
    scale = float(draw(st.sampled_from([Dh**-0.5, 1.3])))
    return dtype, q, k, v, key_mask, dout, scale


@given(attention_inputs())
def test_fused_attention_matches_reference_forward_and_backward(inputs):
    dtype, q, k, v, key_mask, dout, scale = inputs
    expected_out, expected_cache = attention.attention_forward(q, k, v, key_mask, scale)
    out, cache = numba_attention.attention_forward(q, k, v, key_mask, scale)
    assert_close(out, expected_out, dtype, "out")
    expected_grads = attention.attention_backward(dout, expected_cache)
    grads = numba_attention.attention_backward(dout, cache)
    for name, got, expected in zip(("dq", "dk", "dv"), grads, expected_grads):
        assert_close(got, expected, dtype, name)


def assert_decode_attention_matches_reference(q, k, v, key_mask, scale, dout):
    """The decode kernel's output, and the backward of its cache, against the reference's."""
    dtype = q.dtype.type
    expected, expected_cache = attention.attention_forward(q, k, v, key_mask, scale)
    got, cache = numba_attention.decode_attention_forward(q, k, v, key_mask, scale)
    assert_close(got, expected, dtype, "decode out")
    for name, a, b in zip(("dq", "dk", "dv"), numba_attention.attention_backward(dout, cache),
                          attention.attention_backward(dout, expected_cache)):
        assert_close(a, b, dtype, name)


@given(dtypes, st.integers(1, 3), st.integers(1, 2), st.integers(1, 3), st.integers(1, 90), st.integers(0, 5),
       st.integers(0, 2**32 - 1))
def test_decode_attention_kernel_matches_reference(dtype, B, Hkv, group, S, spare_slots, seed):
    # keys and values as a KV cache hands them over: the first S slots of a longer buffer
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((B, Hkv * group, 1, 8)).astype(dtype)
    k, v = (rng.standard_normal((B, Hkv, S + spare_slots, 8)).astype(dtype)[:, :, :S] for _ in range(2))
    key_mask = rng.random((B, S)) < 0.6  # may leave a row with no key: the uniform case
    assert_decode_attention_matches_reference(q, k, v, key_mask, 0.35, rng.standard_normal(q.shape).astype(dtype))


def test_decode_attention_reads_a_kv_cache_buffer_in_place_and_copies_other_views():
    buffer = np.arange(2 * 3 * 10 * 4, dtype=np.float32).reshape(2, 3, 10, 4).copy()  # (B, Hkv, max_len, Dh)
    assert numba_attention._whole_buffer(buffer[:, :, :6]) is buffer  # the slots filled so far
    assert numba_attention._whole_buffer(buffer) is buffer
    for view in (buffer[:, :, 2:8], buffer[:, :, ::2], buffer[..., :2], buffer[:1, :2, :6], buffer.transpose(0, 2, 1, 3)):
        whole = numba_attention._whole_buffer(view)  # anything else: a contiguous copy of exactly the view
        assert whole is not buffer and whole.flags.c_contiguous
        np.testing.assert_array_equal(whole, view)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parallel_decode_attention_forward_and_backward_match_the_reference(dtype):
    # enough work for the parallel path; padding, and one row that sees no key
    rng = np.random.default_rng(4)
    B, H, Hkv, S, Dh = 3, 8, 4, 700, 64
    assert B * H * S * Dh >= numba_attention.PARALLEL_DECODE_WORK
    q = rng.standard_normal((B, H, 1, Dh)).astype(dtype)
    k, v = (rng.standard_normal((B, Hkv, S, Dh)).astype(dtype) for _ in range(2))
    key_mask = np.ones((B, S), dtype=bool)
    key_mask[1, :120] = False
    key_mask[2] = False
    assert_decode_attention_matches_reference(q, k, v, key_mask, 0.125, rng.standard_normal(q.shape).astype(dtype))
    # the parallel driver whatever the thread count (one thread runs the serial one): items split into 5 chunks
    outputs = []
    for run_items in (lambda *a: numba_attention._decode_serial(*a),
                      lambda *a: numba_attention._decode_parallel(*a, 5)):
        out, logsumexp = np.empty((B, H, Dh), dtype=dtype), np.empty((B, H), dtype=dtype)
        run_items(q[:, :, 0], k, v, S, key_mask, dtype(0.125), out, logsumexp)
        outputs.append((out, logsumexp))
    np.testing.assert_array_equal(outputs[0][0], outputs[1][0])
    np.testing.assert_array_equal(outputs[0][1], outputs[1][1])


def test_fused_attention_rows_that_see_no_key_match_the_reference():
    # left padding of 6 slots and no KV cache: queries 0..5 see no key (the reference averages all values)
    rng = np.random.default_rng(3)
    q, k, v = (rng.standard_normal((1, 2, 9, 4)) for _ in range(3))
    key_mask = np.arange(9)[None, :] >= 6
    out, cache = numba_attention.attention_forward(q, k, v, key_mask, 0.5)
    np.testing.assert_allclose(out[0, 0, 0], v[0, 0].mean(axis=0), rtol=1e-12)
    assert np.isinf(cache[4][0, :, :6]).all() and np.isfinite(cache[4][0, :, 6:]).all()
    expected_out, expected_cache = attention.attention_forward(q, k, v, key_mask, 0.5)
    np.testing.assert_allclose(out, expected_out, rtol=1e-12)
    dout = rng.standard_normal(out.shape)
    for got, expected in zip(numba_attention.attention_backward(dout, cache),
                             attention.attention_backward(dout, expected_cache)):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mask_kind", ["none", "left_padding", "padding_inside_a_visible_tile"])
@pytest.mark.parametrize("cached", [0, 37])  # 37: the query tiles straddle the key tiles
@pytest.mark.parametrize("key_block", sorted(set(numba_attention.KEY_BLOCKS.values())))  # every CPU's tiles
def test_fused_attention_tiles_below_the_diagonal_match_the_reference(dtype, mask_kind, cached, key_block, monkeypatch):
    # T = 200 makes whole 64-key tiles that every row sees (the unmasked fast path) next to diagonal
    # tiles, and several key tiles per query block (the online softmax's rescaling); 256-key tiles
    # hold all of a row's keys at once.  Padding inside a visible tile must send it to the masked path
    monkeypatch.setattr(numba_attention, "KEY_BLOCK", key_block)
    rng = np.random.default_rng(7)
    B, Hkv, group, T, Dh = 2, 2, 3, 200, 8
    S = cached + T
    q = rng.standard_normal((B, Hkv * group, T, Dh)).astype(dtype)
    k, v = (rng.standard_normal((B, Hkv, S, Dh)).astype(dtype) for _ in range(2))
    key_mask = None
    if mask_kind == "left_padding":
        key_mask = np.arange(S)[None, :] >= np.array([[0], [90]])  # batch 1: 90 padding slots
    elif mask_kind == "padding_inside_a_visible_tile":
        key_mask = np.ones((B, S), dtype=bool)
        key_mask[1, [3, 70, 100]] = False
    out, cache = numba_attention.attention_forward(q, k, v, key_mask, Dh**-0.5)
    expected_out, expected_cache = attention.attention_forward(q, k, v, key_mask, Dh**-0.5)
    assert_close(out, expected_out, dtype, "out")
    dout = rng.standard_normal(out.shape).astype(dtype)
    expected_grads = attention.attention_backward(dout, expected_cache)
    for heads_per_item in (1, 3):  # per query head, and a whole group stacked in each work item
        grads = numba_attention.backward_in_work_items(dout, cache, heads_per_item)
        for name, got, expected in zip(("dq", "dk", "dv"), grads, expected_grads):
            assert_close(got, expected, dtype, f"{name}, {heads_per_item} heads per item")


def test_fused_attention_float32_exp_is_exact_at_the_ends():
    # the float32 polynomial exp: exp(0) = 1, and -inf (a masked score, or a row whose logsumexp
    # is +inf) gives exactly 0, as does anything at or below -88
    row = np.array([0.0, -np.inf, -88.0, -1e30, 2.0, -1.0, -20.0, 3.0], dtype=np.float32)
    shifts = np.array([0.0, 0.0, 0.0, 0.0, np.inf, 0.0, 0.0, 1.5], dtype=np.float32)
    expected = np.exp(row.astype(np.float64) - shifts)
    numba_attention._exp_minus(row, shifts)
    assert row[0] == 1.0 and (row[1:5] == 0.0).all()
    np.testing.assert_allclose(row[5:], expected[5:], rtol=5e-7)


def test_float32_exp_of_nan_is_nan():
    row = np.array([np.nan, 0.0, np.nan], dtype=np.float32)
    numba_attention._exp_minus(row, np.array([0.0, 0.0, -np.inf], dtype=np.float32))
    assert np.isnan(row[0]) and row[1] == 1.0 and np.isnan(row[2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_attention_kernels_put_nan_where_the_reference_does(dtype):
    # a NaN in one key: every query that sees it gets NaN (the reference's softmax over a NaN score);
    # a kernel must not take the row for one that saw no key, nor give the NaN score probability 0
    rng = np.random.default_rng(5)
    B, H, Hkv, T, Dh = 2, 4, 2, 150, 16
    q = rng.standard_normal((B, H, T, Dh)).astype(dtype)
    k = rng.standard_normal((B, Hkv, T, Dh)).astype(dtype)
    v = rng.standard_normal((B, Hkv, T, Dh)).astype(dtype)
    k[0, 1, 70, 3] = np.nan
    dout = rng.standard_normal((B, H, T, Dh)).astype(dtype)
    with np.errstate(invalid="ignore"):
        expected, expected_cache = attention.attention_forward(q, k, v, None, Dh**-0.5)
        expected_grads = attention.attention_backward(dout, expected_cache)
        got, cache = numba_attention.attention_forward(q, k, v, None, Dh**-0.5)
        got_grads = numba_attention.attention_backward(dout, cache)
        decoded, _ = numba_attention.decode_attention_forward(q[:, :, -1:], k, v, None, Dh**-0.5)
    assert np.isnan(expected).any()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(np.isnan(decoded), np.isnan(expected[:, :, -1:]))
    # the backward: NaN in every gradient row of a query that sees the key; the reference's dense
    # products also spread 0 x NaN to queries before it (masked), which the kernel never multiplies
    assert np.isnan(got_grads[0][0, 2:, 70:]).all()
    for name, a, b in zip(("dq", "dk", "dv"), got_grads, expected_grads):
        assert not (np.isnan(a) & ~np.isnan(b)).any(), name
        assert np.isnan(a).any(), name


def test_fused_attention_keeps_no_quadratic_array_in_its_cache():
    rng = np.random.default_rng(0)
    T = 200
    q, k, v = (rng.standard_normal((1, 2, T, 8)).astype(np.float32) for _ in range(3))
    _, cache = numba_attention.attention_forward(q, k, v, None, 0.3)
    largest = max(a.size for a in cache if isinstance(a, np.ndarray))
    assert largest <= 2 * T * 8  # O(T Dh) per head, never (T, S)


@given(dtypes, st.sampled_from([(), (1,), (2,), (3,), (1, 4), (5,), (2, 4), (9,), (3, 1, 5), (17,), (70,), (3, 43)]),
       st.integers(1, 70), st.integers(1, 40), st.booleans(), st.sampled_from(sorted(numba_decode.INPUT_ROWS_PER_PASS.values())),
       st.integers(0, 2**32 - 1))
def test_small_batch_linear_kernel_matches_reference(dtype, leading, n_in, n_out, parallel, rows_per_pass, seed):
    # rows from 1 to 129: one weight row at a time (up to ONE_WEIGHT_ROW_ROWS) and four weight rows
    # against three or four input rows above (either CPU's pass, whatever this one is), whole passes
    # and every remainder of input rows and of weight rows (n_out % 4), with the prefetch of the
    # next weights and without it (the last rows);
    # parallel: a weight large enough for the parallel loop (PARALLEL_MIN_WORK), else the serial one
    rng = np.random.default_rng(seed)
    if parallel:
        n_out = -(-numba_decode.PARALLEL_MIN_WORK // n_in) + n_out % 4  # enough with a single row
    x = rng.standard_normal((*leading, n_in)).astype(dtype)
    weight = rng.standard_normal((n_out, n_in)).astype(dtype)
    expected, _ = linear.linear_forward(x, weight)
    with mock.patch.object(numba_decode, "BLOCK_INPUT_ROWS", rows_per_pass):
        got = numba_decode.small_batch_linear(x, weight)
        strided = numba_decode.small_batch_linear(x[..., ::-1], weight[::2, ::-1])  # views are copied, not misread
    assert_close(got, expected, dtype, "y")
    assert_close(strided, linear.linear_forward(x[..., ::-1], weight[::2, ::-1])[0], dtype, "y of views")


def test_small_batch_linear_refuses_mismatched_shapes_instead_of_reading_past_the_weight():
    x = np.ones((2, 8), dtype=np.float32)
    with pytest.raises(ValueError, match="8 features against a weight of shape \\(5, 6\\)"):
        numba_decode.small_batch_linear(x, np.ones((5, 6), dtype=np.float32))
    with pytest.raises(ValueError, match="8 features"):
        numba_decode.bf16_linear(x, np.ones((5, 6), dtype=np.uint16))


@pytest.mark.parametrize("rows", [1, 5, 12])
def test_small_batch_linear_keeps_inf_and_nan_where_the_reference_has_them(rows):
    rng = np.random.default_rng(rows)
    x = rng.standard_normal((rows, 16)).astype(np.float32)
    weight = rng.standard_normal((10, 16)).astype(np.float32)
    x[0, 3] = np.inf  # row 0: +-inf in every output
    x[-1, 5] = np.nan  # the last row: nan everywhere
    weight[2, 7] = np.inf
    weight[4, 7] = -np.inf  # with row 0's inf: inf - inf = nan in outputs 2 and 4 where x[:, 7] has both signs
    with np.errstate(invalid="ignore"):  # inf - inf in the reference's product
        expected, _ = linear.linear_forward(x, weight)
    got = numba_decode.small_batch_linear(x, weight)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(expected))
    np.testing.assert_array_equal(np.signbit(got[np.isinf(got)]), np.signbit(expected[np.isinf(expected)]))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-5, atol=1e-5)


@given(dtypes, st.lists(st.integers(1, 5), min_size=0, max_size=2), st.integers(1, 70), st.booleans(),
       st.integers(0, 2**32 - 1))
def test_rmsnorm_kernel_matches_reference(dtype, leading, features, parallel, seed):
    # parallel: enough rows for the parallel loop (PARALLEL_MIN_ELEMENTS), else the serial one
    rng = np.random.default_rng(seed)
    if parallel:
        leading = [-(-numba_fused.PARALLEL_MIN_ELEMENTS // features)]
    x = rng.standard_normal((*leading, features)).astype(dtype) * 3
    weight = rng.standard_normal(features).astype(dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)
    expected, expected_cache = rmsnorm.rmsnorm_forward(x, weight, 1e-6)
    got, cache = numba_fused.rmsnorm_forward(x, weight, 1e-6)
    assert_close(got, expected, dtype, "y")
    for name, a, b in zip(("normalized", "inverse_rms"), cache[:2], expected_cache[:2]):
        assert_close(a, b, dtype, name)
    expected_dx, expected_dweight = rmsnorm.rmsnorm_backward(dout, expected_cache)
    dx, dweight = numba_fused.rmsnorm_backward(dout, cache)
    assert_close(dx, expected_dx, dtype, "dx")
    np.testing.assert_allclose(dweight, expected_dweight, rtol=TOLERANCES[dtype]["rtol"] * 10,
                               atol=TOLERANCES[dtype]["atol"] * 10 * max(1, x.size // features))


@given(dtypes, st.integers(1, 300), st.integers(0, 2**32 - 1))
def test_swiglu_kernel_matches_reference(dtype, size, seed):
    rng = np.random.default_rng(seed)
    gate = (rng.standard_normal((2, size)) * 30).astype(dtype)  # large |gate|: both sigmoid branches
    up = rng.standard_normal((2, size)).astype(dtype)
    dout = rng.standard_normal((2, size)).astype(dtype)
    expected, expected_cache = swiglu.swiglu_forward(gate, up)
    got, cache = numba_fused.swiglu_forward(gate, up)
    assert_close(got, expected, dtype, "h")
    for name, a, b in zip(("dgate", "dup"), numba_fused.swiglu_backward(dout, cache),
                          swiglu.swiglu_backward(dout, expected_cache)):
        assert_close(a, b, dtype, name)


def assert_token_logprobs_match_reference(logits, targets, temperature, with_entropy, rng):
    """Kernel and reference: logp, entropy, and dlogits for a random upstream with some zero rows."""
    dtype = logits.dtype.type
    B, T = targets.shape
    (expected_logp, expected_entropy), expected_cache = loss.token_logprobs_forward(logits, targets, temperature,
                                                                                    with_entropy)
    (got_logp, got_entropy), cache = numba_loss.token_logprobs_forward(logits, targets, temperature, with_entropy)
    assert_close(got_logp, expected_logp, dtype, "logp")
    if with_entropy:
        assert_close(got_entropy, expected_entropy, dtype, "entropy")
    else:
        assert got_entropy is None
    dlogp = rng.standard_normal((B, T))
    dentropy = rng.standard_normal((B, T)) if with_entropy else None
    padding = rng.random((B, T)) < 0.3  # rows the loss does not use: zero upstream gradients
    dlogp[padding] = 0
    if with_entropy:
        dentropy[padding] = 0
    got = numba_loss.token_logprobs_backward(dlogp, dentropy, cache)
    assert_close(got, loss.token_logprobs_backward(dlogp, dentropy, expected_cache), dtype, "dlogits")
    assert np.all(got[padding] == 0)


@given(dtypes, st.integers(1, 2), st.integers(1, 4),
       st.sampled_from([1, 7, numba_loss.CHUNK - 1, numba_loss.CHUNK, numba_loss.CHUNK + 1, 2 * numba_loss.CHUNK + 404]),
       st.sampled_from([1.0, 0.6, 1.7]), st.sampled_from([2.0, 30.0]), st.booleans(), st.integers(0, 2**32 - 1))
def test_chunked_token_logprobs_match_reference(dtype, B, T, V, temperature, spread, with_entropy, seed):
    # V around the chunk (below, at, just above, more than two chunks); spread 30: logits far below
    # the maximum (the clamped exp)
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((B, T, V)) * spread).astype(dtype)
    assert_token_logprobs_match_reference(logits, rng.integers(0, V, size=(B, T)), temperature, with_entropy, rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("temperature", [1.0, 0.6])
@pytest.mark.parametrize("with_entropy", [False, True])
def test_chunked_token_logprobs_match_reference_on_extreme_logits(dtype, temperature, with_entropy):
    # logits near +1e4 and -1e4 in the same row: the probabilities that matter sit where float32's
    # spacing is 1e-3 (exp's argument must be (u - m) - log l, not u - (m + log l)), and the row's
    # maximum jumps by 2e4 between chunks
    rng = np.random.default_rng(7)
    shape = (2, 3, 2 * numba_loss.CHUNK + 404)
    logits = (rng.choice([-1e4, 1e4], size=shape) + 3 * rng.standard_normal(shape)).astype(dtype)
    logits[0, 0, : numba_loss.CHUNK] -= 2e4  # a first chunk far below the rest: the rescale sends l to 0
    assert_token_logprobs_match_reference(logits, rng.integers(0, shape[-1], size=shape[:2]), temperature,
                                          with_entropy, rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nan_at", [0, numba_loss.CHUNK + 3, 2 * numba_loss.CHUNK + 403])  # a chunk's first entry, inside one, the last
def test_chunked_token_logprobs_of_a_row_with_a_nan_logit_are_nan_as_the_reference(dtype, nan_at):
    # the chunk maximum passes over a NaN (LLVM's maxnum); the row's sum of exponentials must still be NaN
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((1, 2, 2 * numba_loss.CHUNK + 404)).astype(dtype)
    logits[0, 0, nan_at] = np.nan
    targets = np.array([[5, 6]])
    with np.errstate(invalid="ignore"):
        (expected, _), _ = loss.token_logprobs_forward(logits, targets)
        (got, _), _ = numba_loss.token_logprobs_forward(logits, targets)
    assert np.isnan(expected[0, 0]) and np.isnan(got[0, 0])
    assert_close(got[0, 1:], expected[0, 1:], dtype, "logp of the row without a NaN")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_chunk_maximum_is_numpys_maximum(dtype):
    rng = np.random.default_rng(4)
    for size in (1, 2, 7, 8, 9, 33, numba_loss.CHUNK, numba_loss.CHUNK + 1):
        chunk = rng.standard_normal(size).astype(dtype)
        assert numba_loss._chunk_max(chunk) == chunk.max()
        chunk[rng.integers(size)] = -np.inf
        assert numba_loss._chunk_max(chunk) == chunk.max()
        chunk[rng.integers(size)] = np.inf
        assert numba_loss._chunk_max(chunk) == np.inf
    assert numba_loss._chunk_max(np.full(5, -np.inf, dtype=dtype)) == -np.inf


@pytest.mark.parametrize("with_entropy", [False, True])
def test_chunked_token_logprobs_on_one_thread_match_the_split_pass(with_entropy):
    # each pass runs its rows on the calling thread (one numba thread: a training part) or in
    # contiguous runs, one a thread; 7 rows over the threads' runs, both against the reference
    import numba
    from minireason.kernels.numba_threads import on_one_thread

    if numba.get_num_threads() < 2:
        pytest.skip("numba has one thread here")
    rng = np.random.default_rng(11)
    logits = rng.standard_normal((1, 7, numba_loss.CHUNK + 5)).astype(np.float32)
    targets = rng.integers(0, logits.shape[-1], (1, 7))
    dlogp = rng.standard_normal((1, 7))
    dentropy = rng.standard_normal((1, 7)) if with_entropy else None
    results = []
    for run in (lambda f, *a: f(*a), on_one_thread):
        (logp, entropy), cache = run(numba_loss.token_logprobs_forward, logits, targets, 1.3, with_entropy)
        results.append((logp, entropy, run(numba_loss.token_logprobs_backward, dlogp, dentropy, cache)))
    for split, one_thread in zip(*results):
        np.testing.assert_array_equal(split, one_thread)
    (expected_logp, _), expected_cache = loss.token_logprobs_forward(logits, targets, 1.3, with_entropy)
    assert_close(results[1][0], expected_logp, np.float32, "logp on one thread")
    assert_close(results[1][2], loss.token_logprobs_backward(dlogp, dentropy, expected_cache), np.float32,
                 "dlogits on one thread")


def test_chunked_token_logprobs_refuse_dentropy_without_the_forward_entropy():
    logits = np.zeros((1, 2, 5))
    _, cache = numba_loss.token_logprobs_forward(logits, np.zeros((1, 2), dtype=int))
    with pytest.raises(ValueError, match="with_entropy"):
        numba_loss.token_logprobs_backward(np.ones((1, 2)), np.ones((1, 2)), cache)


def test_chunked_token_logprobs_keep_no_vocabulary_sized_array():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((2, 8, 3000)).astype(np.float32)
    targets = rng.integers(0, 3000, size=(2, 8))
    _, cache = numba_loss.token_logprobs_forward(logits, targets, 0.8, with_entropy=True)
    own = [a for a in cache if isinstance(a, np.ndarray) and not np.shares_memory(a, logits)]
    assert own and max(a.size for a in own) == 16  # per-row numbers only; the logits are the caller's
    _, expected_cache = loss.token_logprobs_forward(logits, targets, 0.8, with_entropy=True)
    assert expected_cache[0].size == logits.size  # the reference keeps (B, T, V) log-probabilities


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("peak", [0, 4321, 4999])  # first entry; inside the last chunk; in its ragged tail
def test_chunked_token_logprobs_of_extreme_logits_are_finite_and_exact_where_known(dtype, peak):
    # row 0: one logit 1000 above the rest (a maximum missed by the chunk's max would overflow exp):
    # p = onehot up to exp(-500), H = 0; row 1: uniform: logp = -log V, H = log V, dlogits in closed form
    V = 5000
    logits = np.zeros((1, 2, V), dtype=dtype)
    logits[0, 0, peak] = 1000.0
    (logp, entropy), cache = numba_loss.token_logprobs_forward(logits, np.array([[peak, 17]]), 2.0, with_entropy=True)
    np.testing.assert_allclose(logp, [[0.0, -np.log(V)]], rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(entropy, [[0.0, np.log(V)]], rtol=1e-6, atol=1e-30)
    dlogp, dentropy = np.array([[1.0, 1.0]]), np.array([[1.0, 3.0]])
    dlogits = numba_loss.token_logprobs_backward(dlogp, dentropy, cache)
    assert np.isfinite(dlogits).all()
    assert np.abs(dlogits[0, 0]).max() < 1e-30  # onehot - p = 0 and p log p = 0 on the certain row
    # uniform row: log p + H = 0, so dz = dlogp (onehot - 1/V) / tau
    np.testing.assert_allclose(dlogits[0, 1, :3], -1 / V / 2.0, rtol=1e-5)
    assert dlogits[0, 1, 17] == pytest.approx((1 - 1 / V) / 2.0, rel=1e-6)


@given(dtypes, st.integers(1, 2), st.integers(1, 3), st.integers(1, 9), st.sampled_from([2, 8, 64]),
       st.integers(0, 2**32 - 1))
def test_rope_kernel_matches_reference_on_strided_input(dtype, B, heads, T, Dh, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, heads, Dh)).astype(dtype).transpose(0, 2, 1, 3)  # as the model passes it
    cos, sin = rope.rope_tables(rng.integers(0, 5000, size=(B, T)), Dh, 1e6, dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)
    expected, expected_cache = rope.rope_forward(x, cos, sin)
    got, cache = numba_rope.rope_forward(x, cos, sin)
    assert_close(got, expected, dtype, "y")
    # the caches are interchangeable: each backward reads the other forward's cache
    assert_close(numba_rope.rope_backward(dout, expected_cache), rope.rope_backward(dout, cache), dtype, "dx")


# ----------------------------------------------------------------------------- whole model


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_model_logits_and_gradients_with_numba_backend_equal_the_reference(dtype, monkeypatch):
    from minireason.kernels import numba_cpu

    monkeypatch.setattr(numba_cpu, "FUSED_ATTENTION_MIN_KEYS", 0)  # the fused kernel even for short inputs
    config = PRESETS["test-tiny"].replace(tie_word_embeddings=False)
    reference = Qwen3Model.from_config(config, seed=1, dtype=dtype, backend="numpy")
    fast = Qwen3Model(config, reference.params, backend="numba")
    rng = np.random.default_rng(0)
    token_ids = rng.integers(0, config.vocab_size, size=(3, 70))
    targets = rng.integers(0, config.vocab_size, size=(3, 70))
    attention_mask = np.ones((3, 70), dtype=bool)
    attention_mask[1, :5] = False  # left padding
    tolerance = {"rtol": 1e-10, "atol": 1e-12} if dtype == "float64" else {"rtol": 1e-4, "atol": 1e-6}
    np.testing.assert_allclose(fast.logits(token_ids, attention_mask), reference.logits(token_ids, attention_mask),
                               **tolerance)
    loss_fast, grads_fast = fast.loss_and_grads(token_ids, targets, loss_mask=attention_mask,
                                                attention_mask=attention_mask)
    loss_reference, grads_reference = reference.loss_and_grads(token_ids, targets, loss_mask=attention_mask,
                                                               attention_mask=attention_mask)
    assert abs(loss_fast - loss_reference) <= 1e-5 * abs(loss_reference)
    assert grads_fast.keys() == grads_reference.keys()
    for name in grads_reference:
        scale = np.abs(grads_reference[name]).max()
        np.testing.assert_allclose(grads_fast[name], grads_reference[name], rtol=tolerance["rtol"] * 10,
                                   atol=tolerance["atol"] + tolerance["rtol"] * scale, err_msg=name)


def test_cached_decoding_with_numba_backend_equals_the_reference():
    from minireason.generation.kv_cache import KVCache

    config = PRESETS["test-tiny"]
    reference = Qwen3Model.from_config(config, seed=2, dtype="float64", backend="numpy")
    fast = Qwen3Model(config, reference.params, backend="numba")
    rng = np.random.default_rng(1)
    prompt = rng.integers(0, config.vocab_size, size=(2, 7))
    mask = np.ones((2, 7), dtype=bool)
    mask[0, :3] = False
    caches = {name: KVCache(config, 2, 16, dtype=np.float64) for name in ("reference", "fast")}
    for model, name in ((reference, "reference"), (fast, "fast")):
        model.forward(prompt, mask, kv_cache=caches[name], last_only=True)
    for step in range(4):  # one token per step against the cache (T = 1)
        token = rng.integers(0, config.vocab_size, size=(2, 1))
        expected, _ = reference.forward(token, kv_cache=caches["reference"], last_only=True)
        got, _ = fast.forward(token, kv_cache=caches["fast"], last_only=True)
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12, err_msg=f"step {step}")


class _CharacterTokenizer:
    eos_token_id = None

    def decode(self, ids):
        return "".join(chr(65 + i % 26) for i in ids)


def test_greedy_generation_with_numba_backend_gives_the_same_tokens(monkeypatch):
    from minireason.kernels import numba_cpu

    monkeypatch.setattr(numba_cpu, "FUSED_ATTENTION_MIN_KEYS", 0)
    generate_module = pytest.importorskip("minireason.generation.generate")
    config = PRESETS["test-small"]
    reference = Qwen3Model.from_config(config, seed=5, dtype="float32", backend="numpy")
    fast = Qwen3Model(config, reference.params, backend="numba")
    prompts = [[1, 2, 3, 4, 5], [7, 8]]
    results = {}
    for name, model in (("reference", reference), ("fast", fast)):
        results[name] = generate_module.generate(model, _CharacterTokenizer(), prompts, max_new_tokens=12,
                                                 temperature=0.0, stop_token_ids=[])
    for expected, got in zip(results["reference"], results["fast"]):
        assert len(expected.token_ids) == 12
        assert got.token_ids == expected.token_ids


def test_decode_attention_reads_the_kv_cache_in_place_before_and_after_selecting_rows():
    from minireason.generation.kv_cache import KVCache

    config = PRESETS["test-tiny"]
    cache = KVCache(config, batch_size=3, max_len=12)
    rng = np.random.default_rng(0)
    shape = (3, config.num_key_value_heads, 2, config.head_dim)  # (B, Hkv, T, Dh)
    cache.begin(np.ones((3, 2), dtype=bool))
    keys, values = cache.write(0, rng.standard_normal(shape), rng.standard_normal(shape))
    assert numba_attention._whole_buffer(keys) is cache.keys[0]
    assert numba_attention._whole_buffer(values) is cache.values[0]
    cache.commit(2)
    cache.select_rows(np.array([2, 0]))  # rows dropped (finished sequences): a new buffer, still read in place
    cache.begin(np.ones((2, 1), dtype=bool))
    one_token = (2, config.num_key_value_heads, 1, config.head_dim)
    keys, _ = cache.write(0, rng.standard_normal(one_token), rng.standard_normal(one_token))
    assert keys.shape[2] == 3 and numba_attention._whole_buffer(keys) is cache.keys[0]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_model_token_loss_and_grads_with_numba_backend_equal_the_reference(dtype):
    """The loss seam with temperature and an entropy term (an RL-style loss) on both backends."""
    config = PRESETS["test-tiny"].replace(tie_word_embeddings=False)
    reference = Qwen3Model.from_config(config, seed=3, dtype=dtype, backend="numpy")
    fast = Qwen3Model(config, reference.params, backend="numba")
    assert {choice.forward.__module__ for choice in dispatch_table("numba")["token_logprobs"]} == {numba_loss.__name__}
    rng = np.random.default_rng(4)
    token_ids = rng.integers(0, config.vocab_size, size=(2, 40))
    targets = rng.integers(0, config.vocab_size, size=(2, 40))
    loss_mask = np.ones((2, 40), dtype=bool)
    loss_mask[0, :6] = False  # a prompt
    loss_mask[1, 30:] = False  # padding after the completion
    targets[~loss_mask] = -1  # invalid ids where the mask is false: the model puts a valid one there
    advantages = rng.standard_normal((2, 1))

    def loss_fn(logp, entropy):
        weights = (loss_mask * advantages / loss_mask.sum()).astype(logp.dtype)  # (B, T)
        entropy_weights = (-0.01 * loss_mask / loss_mask.sum()).astype(logp.dtype)
        return -float(np.sum(weights * logp)) + float(np.sum(entropy_weights * entropy)), -weights, entropy_weights

    results = {}
    for name, model in (("reference", reference), ("fast", fast)):
        results[name] = model.token_loss_and_grads(token_ids, targets, loss_fn, loss_mask=loss_mask,
                                                   temperature=0.7, with_entropy=True)
    tolerance = {"rtol": 1e-10, "atol": 1e-12} if dtype == "float64" else {"rtol": 1e-4, "atol": 1e-6}
    (loss_reference, grads_reference), (loss_fast, grads_fast) = results["reference"], results["fast"]
    assert abs(loss_fast - loss_reference) <= tolerance["rtol"] * abs(loss_reference)
    assert grads_fast.keys() == grads_reference.keys()
    for name in grads_reference:
        scale = np.abs(grads_reference[name]).max()
        np.testing.assert_allclose(grads_fast[name], grads_reference[name], rtol=tolerance["rtol"] * 10,
                                   atol=tolerance["atol"] + tolerance["rtol"] * scale, err_msg=name)
    logp_fast, entropy_fast = fast.token_logprobs(token_ids, np.where(loss_mask, targets, 0), temperature=0.7,
                                                  with_entropy=True)
    logp_reference, entropy_reference = reference.token_logprobs(token_ids, np.where(loss_mask, targets, 0),
                                                                 temperature=0.7, with_entropy=True)
    np.testing.assert_allclose(logp_fast, logp_reference, **tolerance)
    np.testing.assert_allclose(entropy_fast, entropy_reference, **tolerance)
