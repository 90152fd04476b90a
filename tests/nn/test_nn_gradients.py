"""Every nn op's hand-written backward against central finite differences (float64, random upstream)."""

import math

import numpy as np
from gradcheck import assert_gradients_close, numerical_gradient, random_upstream
from hypothesis import given
from hypothesis import strategies as st

from minireason.config import ModelConfig
from minireason.nn.attention import (
    ATTENTION_PARAMETERS,
    attention_backward,
    attention_forward,
    self_attention_backward,
    self_attention_forward,
)
from minireason.nn.block import BLOCK_PARAMETERS, block_backward, block_forward
from minireason.nn.embedding import embedding_backward, embedding_forward
from minireason.nn.linear import linear_backward, linear_forward
from minireason.nn.loss import (
    cross_entropy_backward,
    cross_entropy_forward,
    log_softmax_backward,
    log_softmax_forward,
    token_logprobs_backward,
    token_logprobs_forward,
)
from minireason.nn.rmsnorm import rmsnorm_backward, rmsnorm_forward
from minireason.nn.rope import rope_backward, rope_forward, rope_tables
from minireason.nn.swiglu import mlp_backward, mlp_forward, swiglu_backward, swiglu_forward

seeds = st.integers(0, 2**31 - 1)
small = st.integers(1, 3)


def check_input_gradient(forward, backward_to_input, array, rng, name):
    out, cache = forward()
    upstream = random_upstream(rng, out.shape)
    analytic = backward_to_input(upstream, cache)
    numeric = numerical_gradient(lambda: float(np.sum(forward()[0] * upstream)), array)
    assert_gradients_close(analytic, numeric, name)


@given(seeds, small, small, st.integers(1, 5), st.integers(1, 5))
def test_linear(seed, B, T, n_in, n_out):
    rng = np.random.default_rng(seed)
    x, weight = rng.standard_normal((B, T, n_in)), rng.standard_normal((n_out, n_in))
    upstream = random_upstream(rng, (B, T, n_out))
    dx, dweight = linear_backward(upstream, linear_forward(x, weight)[1])
    loss = lambda: float(np.sum(linear_forward(x, weight)[0] * upstream))  # noqa: E731
    assert_gradients_close(dx, numerical_gradient(loss, x), "dx")
    assert_gradients_close(dweight, numerical_gradient(loss, weight), "dweight")


@given(seeds, small, st.integers(1, 6), st.integers(2, 6), st.integers(1, 4))
def test_embedding(seed, B, T, V, D):
    rng = np.random.default_rng(seed)
    ids, weight = rng.integers(0, V, (B, T)), rng.standard_normal((V, D))  # repeated ids are likely
    upstream = random_upstream(rng, (B, T, D))
    dweight = embedding_backward(upstream, embedding_forward(ids, weight)[1])
    numeric = numerical_gradient(lambda: float(np.sum(embedding_forward(ids, weight)[0] * upstream)), weight)
    assert_gradients_close(dweight, numeric, "dweight")


@given(seeds, small, st.integers(0, 6), st.integers(2, 6), st.integers(1, 4), st.sampled_from(["float32", "float64"]))
def test_embedding_backward_into_a_tied_heads_gradient_is_adding_the_tables(seed, B, T, V, D, dtype):
    """A tied head's gradient takes the lookup's in place: the same numbers, bit for bit, as the
    two tables added (no second (V, D) table)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, V, (B, T))
    upstream = rng.standard_normal((B, T, D)).astype(dtype)
    dhead = rng.standard_normal((V, D)).astype(dtype)
    cache = embedding_forward(ids, np.zeros((V, D), dtype=dtype))[1]
    expected = embedding_backward(upstream, cache) + dhead
    got = embedding_backward(upstream, cache, into=dhead)
    assert got is dhead and got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


@given(seeds, small, small, st.integers(1, 8), st.sampled_from([1e-6, 1e-2]))
def test_rmsnorm(seed, B, T, N, eps):
    rng = np.random.default_rng(seed)
    x, weight = rng.standard_normal((B, T, N)), rng.standard_normal(N)
    upstream = random_upstream(rng, (B, T, N))
    dx, dweight = rmsnorm_backward(upstream, rmsnorm_forward(x, weight, eps)[1])
    loss = lambda: float(np.sum(rmsnorm_forward(x, weight, eps)[0] * upstream))  # noqa: E731
    assert_gradients_close(dx, numerical_gradient(loss, x), "dx")
    assert_gradients_close(dweight, numerical_gradient(loss, weight), "dweight")


@given(seeds, small, small, st.integers(1, 5), st.sampled_from([2, 4, 8]))
def test_rope(seed, B, heads, T, Dh):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, heads, T, Dh))
    positions = rng.integers(0, 50, (B, T))
    cos, sin = rope_tables(positions, Dh, 10000.0, np.float64)
    check_input_gradient(lambda: rope_forward(x, cos, sin), rope_backward, x, rng, "dx")


@given(seeds, small, small, st.integers(1, 6))
def test_swiglu(seed, B, T, F):
    rng = np.random.default_rng(seed)
    gate, up = rng.standard_normal((B, T, F)) * 3, rng.standard_normal((B, T, F))
    upstream = random_upstream(rng, (B, T, F))
    dgate, dup = swiglu_backward(upstream, swiglu_forward(gate, up)[1])
    loss = lambda: float(np.sum(swiglu_forward(gate, up)[0] * upstream))  # noqa: E731
    assert_gradients_close(dgate, numerical_gradient(loss, gate), "dgate")
    assert_gradients_close(dup, numerical_gradient(loss, up), "dup")


@given(seeds, small, small, st.integers(1, 4), st.integers(1, 5))
def test_mlp(seed, B, T, D, F):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, D))
    weights = [rng.standard_normal((F, D)), rng.standard_normal((F, D)), rng.standard_normal((D, F))]
    upstream = random_upstream(rng, (B, T, D))
    grads = mlp_backward(upstream, mlp_forward(x, *weights)[1])
    loss = lambda: float(np.sum(mlp_forward(x, *weights)[0] * upstream))  # noqa: E731
    for name, array, analytic in zip(["dx", "dgate", "dup", "ddown"], [x, *weights], grads):
        assert_gradients_close(analytic, numerical_gradient(loss, array), name)


@given(seeds, small, st.sampled_from([(1, 1), (2, 1), (4, 2), (2, 2)]), st.integers(1, 4), st.integers(0, 3),
       st.booleans())
def test_attention_core(seed, B, heads, T, cached, with_padding):
    """Grouped heads, a causal offset from earlier (cached) key slots, and padded keys."""
    H, Hkv = heads
    S, Dh = T + cached, 4
    rng = np.random.default_rng(seed)
    q, k, v = rng.standard_normal((B, H, T, Dh)), rng.standard_normal((B, Hkv, S, Dh)), rng.standard_normal((B, Hkv, S, Dh))
    key_mask = None
    if with_padding:
        n_pad = rng.integers(0, S, B)  # left padding; at least one real key per row
        key_mask = np.arange(S)[None, :] >= n_pad[:, None]
    upstream = random_upstream(rng, (B, H, T, Dh))
    if key_mask is not None:  # padding queries' outputs are never used: give them no upstream gradient
        upstream *= key_mask[:, None, S - T:, None]
    dq, dk, dv = attention_backward(upstream, attention_forward(q, k, v, key_mask, 0.5)[1])
    loss = lambda: float(np.sum(attention_forward(q, k, v, key_mask, 0.5)[0] * upstream))  # noqa: E731
    assert_gradients_close(dq, numerical_gradient(loss, q), "dq")
    assert_gradients_close(dk, numerical_gradient(loss, k), "dk")
    assert_gradients_close(dv, numerical_gradient(loss, v), "dv")


def _tiny_config(H=4, Hkv=2, Dh=4, D=6, F=5):
    return ModelConfig(vocab_size=11, hidden_size=D, intermediate_size=F, num_hidden_layers=1,
                       num_attention_heads=H, num_key_value_heads=Hkv, head_dim=Dh, rope_theta=100.0)


def _layer_params(config, rng, names):
    shapes = {
        "input_layernorm.weight": (config.hidden_size,),
        "post_attention_layernorm.weight": (config.hidden_size,),
        "self_attn.q_proj.weight": (config.num_attention_heads * config.head_dim, config.hidden_size),
        "self_attn.k_proj.weight": (config.num_key_value_heads * config.head_dim, config.hidden_size),
        "self_attn.v_proj.weight": (config.num_key_value_heads * config.head_dim, config.hidden_size),
        "self_attn.o_proj.weight": (config.hidden_size, config.num_attention_heads * config.head_dim),
        "self_attn.q_norm.weight": (config.head_dim,),
        "self_attn.k_norm.weight": (config.head_dim,),
        "mlp.gate_proj.weight": (config.intermediate_size, config.hidden_size),
        "mlp.up_proj.weight": (config.intermediate_size, config.hidden_size),
        "mlp.down_proj.weight": (config.hidden_size, config.intermediate_size),
    }
    return {name: 1.0 + 0.3 * rng.standard_normal(shapes[name]) if len(shapes[name]) == 1
            else 0.5 * rng.standard_normal(shapes[name]) for name in names}


def check_layer_gradients(forward, backward, x, params, names, rng):
    """A layer taking (x, params): dx and every parameter gradient against finite differences."""
    upstream = random_upstream(rng, x.shape)
    dx, grads = backward(upstream, forward(x, params)[1])
    loss = lambda: float(np.sum(forward(x, params)[0] * upstream))  # noqa: E731
    assert_gradients_close(dx, numerical_gradient(loss, x), "dx")
    assert set(grads) == set(names)
    for name in names:
        assert_gradients_close(grads[name], numerical_gradient(loss, params[name]), name)


@given(seeds, st.sampled_from([(4, 2), (2, 2), (2, 1)]), st.integers(1, 4))
def test_self_attention_sublayer(seed, heads, T):
    rng = np.random.default_rng(seed)
    config = _tiny_config(*heads)
    params = _layer_params(config, rng, ATTENTION_PARAMETERS)
    x = rng.standard_normal((2, T, config.hidden_size))
    cos, sin = rope_tables(rng.integers(0, 20, (2, T)), config.head_dim, config.rope_theta, np.float64)
    check_layer_gradients(lambda x, p: self_attention_forward(x, p, config, cos, sin), self_attention_backward,
                          x, params, ATTENTION_PARAMETERS, rng)


@given(seeds, st.integers(1, 4))
def test_block(seed, T):
    rng = np.random.default_rng(seed)
    config = _tiny_config()
    params = _layer_params(config, rng, BLOCK_PARAMETERS)
    x = rng.standard_normal((2, T, config.hidden_size))
    cos, sin = rope_tables(np.tile(np.arange(T), (2, 1)), config.head_dim, config.rope_theta, np.float64)
    check_layer_gradients(lambda x, p: block_forward(x, p, config, cos, sin), block_backward,
                          x, params, BLOCK_PARAMETERS, rng)


@given(seeds, small, small, st.integers(2, 7))
def test_log_softmax(seed, B, T, V):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((B, T, V)) * 3
    check_input_gradient(lambda: log_softmax_forward(logits), log_softmax_backward, logits, rng, "dlogits")


@given(seeds, small, st.integers(1, 5), st.integers(2, 7), st.floats(0.1, 3.0))
def test_masked_cross_entropy(seed, B, T, V, upstream_scale):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((B, T, V)) * 2
    targets = rng.integers(0, V, (B, T))
    mask = rng.random((B, T)) < 0.6
    targets = np.where(mask, targets, -100)  # ignored positions may hold any value
    dlogits = cross_entropy_backward(upstream_scale, cross_entropy_forward(logits, targets, mask)[1])
    numeric = numerical_gradient(lambda: upstream_scale * cross_entropy_forward(logits, targets, mask)[0], logits)
    assert_gradients_close(dlogits, numeric, "dlogits")
    assert np.all(dlogits[~mask] == 0)


def test_cross_entropy_value_matches_definition():
    logits = np.array([[[1.0, 2.0, 0.5], [0.0, 0.0, 0.0]]])
    targets = np.array([[1, 2]])
    expected = -(np.log(np.exp(2.0) / np.exp([1.0, 2.0, 0.5]).sum()) + np.log(1 / 3)) / 2
    loss, _ = cross_entropy_forward(logits, targets)
    assert abs(loss - expected) < 1e-12
    loss_first_only, _ = cross_entropy_forward(logits, targets, np.array([[True, False]]))
    assert abs(loss_first_only - (-np.log(np.exp(2.0) / np.exp([1.0, 2.0, 0.5]).sum()))) < 1e-12


@given(seeds, small, st.integers(1, 4), st.integers(1, 7), st.floats(0.5, 2.0), st.booleans())
def test_token_logprobs(seed, B, T, V, temperature, with_entropy):
    # the loss seam: d/dlogits of sum(dlogp * logp + dentropy * entropy), logp = log softmax(z / tau)[target]
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((B, T, V)) * 2
    targets = rng.integers(0, V, (B, T))
    dlogp = random_upstream(rng, (B, T))
    dentropy = random_upstream(rng, (B, T)) if with_entropy else None

    def objective():
        (logp, entropy), _ = token_logprobs_forward(logits, targets, temperature, with_entropy)
        return float(np.sum(logp * dlogp) + (np.sum(entropy * dentropy) if with_entropy else 0.0))

    (logp, entropy), cache = token_logprobs_forward(logits, targets, temperature, with_entropy)
    assert logp.shape == (B, T) and (entropy is None) is not with_entropy
    dlogits = token_logprobs_backward(dlogp, dentropy, cache)
    assert_gradients_close(dlogits, numerical_gradient(objective, logits), "dlogits")


def test_token_logprobs_values_match_the_definition():
    logits = np.array([[[1.0, 2.0, 0.5], [0.0, 0.0, 0.0]]])
    temperature = 0.5
    (logp, entropy), _ = token_logprobs_forward(logits, np.array([[1, 2]]), temperature, with_entropy=True)
    first = np.exp(logits[0, 0] / temperature) / np.exp(logits[0, 0] / temperature).sum()
    np.testing.assert_allclose(logp, [[np.log(first[1]), np.log(1 / 3)]], rtol=1e-12)
    np.testing.assert_allclose(entropy, [[-np.sum(first * np.log(first)), np.log(3)]], rtol=1e-12)


@given(seeds, small, st.integers(1, 5), st.integers(2, 7), st.floats(0.1, 3.0), st.floats(0.0, 1.0))
def test_cross_entropy_against_a_log_sum_exp_written_here(seed, B, T, V, upstream_scale, kept):
    """Loss and gradient against plain float64 arithmetic, position by position: the mean over the
    masked positions of log(sum_v exp z_v) - z_target, and (softmax - onehot) * mask / N."""
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((B, T, V)) * 3
    mask = rng.random((B, T)) < kept  # an empty mask too
    targets = np.where(mask, rng.integers(0, V, (B, T)), -100)
    losses, expected_grad = [], np.zeros_like(logits)
    count = max(int(mask.sum()), 1)
    for b in range(B):
        for t in range(T):
            if not mask[b, t]:
                continue
            row = logits[b, t].tolist()
            largest = max(row)
            total = math.fsum(math.exp(z - largest) for z in row)
            losses.append(largest + math.log(total) - row[targets[b, t]])
            for v, z in enumerate(row):
                softmax = math.exp(z - largest) / total
                expected_grad[b, t, v] = upstream_scale * (softmax - (v == targets[b, t])) / count
    loss, cache = cross_entropy_forward(logits, targets, mask)
    assert abs(loss - math.fsum(losses) / count) < 1e-12
    np.testing.assert_allclose(cross_entropy_backward(upstream_scale, cache), expected_grad, rtol=1e-12, atol=1e-15)
