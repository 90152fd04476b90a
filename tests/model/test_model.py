"""Whole-model gradients and the invariants of a causal, batched, padded decoder."""

import itertools

import numpy as np
import pytest
from gradcheck import assert_gradients_close, numerical_gradient, random_upstream
from hypothesis import given, settings
from hypothesis import strategies as st

import minireason.model as model_module
from minireason import ConfigError, InputError, ModelConfig, Qwen3Model, runtime
from minireason.config import PRESETS
from minireason.model import parameter_shapes
from minireason.nn.attention import attention_forward
from minireason.nn.rope import rope_forward, rope_tables


def tiny_config(tied=True, heads=(4, 2), layers=2, vocab=13):
    H, Hkv = heads
    return ModelConfig(vocab_size=vocab, hidden_size=8, intermediate_size=12, num_hidden_layers=layers,
                       num_attention_heads=H, num_key_value_heads=Hkv, head_dim=4, rope_theta=100.0,
                       tie_word_embeddings=tied)


def perturbed_model(config, seed):
    """A float64 model with weights large enough that every path matters (not just the residual)."""
    model = Qwen3Model.from_config(config, seed=seed, dtype="float64")
    rng = np.random.default_rng(seed + 1)
    for value in model.params.values():
        value += (0.2 if value.ndim == 1 else 0.3) * rng.standard_normal(value.shape)
    return model


@settings(max_examples=6)
@given(st.integers(0, 10_000), st.booleans(), st.sampled_from([(4, 2), (2, 2), (4, 1)]))
def test_whole_model_gradients(seed, tied, heads):
    config = tiny_config(tied, heads)
    model = perturbed_model(config, seed)
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, config.vocab_size, (2, 5))
    upstream = random_upstream(rng, (2, 5, config.vocab_size))
    logits, cache = model.forward(ids)
    grads = model.backward(upstream, cache)
    assert set(grads) == set(model.params)
    loss = lambda: float(np.sum(model.logits(ids) * upstream))  # noqa: E731
    for name in sorted(model.params):
        # check a sample of entries of the big matrices, every entry of the small ones
        assert_gradients_close(grads[name], numerical_gradient(loss, model.params[name]), name, rtol=1e-5, atol=1e-6)


def test_loss_and_grads_with_mask_matches_finite_differences():
    config = tiny_config(tied=False)
    model = perturbed_model(config, 3)
    rng = np.random.default_rng(0)
    ids, targets = rng.integers(0, 13, (2, 6)), rng.integers(0, 13, (2, 6))
    mask = rng.random((2, 6)) < 0.5
    mask[0, 0] = True
    loss, grads = model.loss_and_grads(ids, targets, mask)
    for name in ["model.embed_tokens.weight", "lm_head.weight", "model.layers.1.self_attn.k_norm.weight"]:
        numeric = numerical_gradient(lambda: model.loss_and_grads(ids, targets, mask)[0], model.params[name])
        assert_gradients_close(grads[name], numeric, name)


@pytest.fixture(scope="module")
def model64():
    return perturbed_model(tiny_config(heads=(4, 2), layers=2), 7)


def test_causality(model64):
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 13, (1, 8))
    changed = ids.copy()
    changed[0, 5:] = (changed[0, 5:] + 1) % 13
    a, b = model64.logits(ids), model64.logits(changed)
    np.testing.assert_allclose(a[:, :5], b[:, :5], rtol=0, atol=1e-12)
    assert not np.allclose(a[:, 5:], b[:, 5:])


def test_rows_are_independent(model64):
    rng = np.random.default_rng(2)
    ids = rng.integers(0, 13, (3, 6))
    alone = model64.logits(ids[1:2])
    other = ids.copy()
    other[0] = (other[0] + 3) % 13
    other[2] = (other[2] + 5) % 13
    np.testing.assert_allclose(model64.logits(other)[1:2], alone, rtol=0, atol=1e-12)


def test_left_padded_batch_equals_rows_alone(model64):
    rng = np.random.default_rng(3)
    lengths = [6, 3, 1]
    rows = [rng.integers(0, 13, n) for n in lengths]
    T = max(lengths)
    ids = np.zeros((3, T), dtype=np.int64)
    mask = np.zeros((3, T), dtype=bool)
    for i, row in enumerate(rows):
        ids[i, T - len(row):] = row
        mask[i, T - len(row):] = True
    batched = model64.logits(ids, attention_mask=mask)
    for i, row in enumerate(rows):
        np.testing.assert_allclose(batched[i, T - len(row):], model64.logits(row[None])[0], rtol=1e-10, atol=1e-10)


def test_gqa_with_kv_heads_equal_to_heads_is_multi_head_attention():
    rng = np.random.default_rng(4)
    B, H, T, Dh = 2, 4, 5, 3
    q, k, v = (rng.standard_normal((B, H, T, Dh)) for _ in range(3))
    out, _ = attention_forward(q, k, v, None, Dh**-0.5)
    scores = np.einsum("bhtd,bhsd->bhts", q, k) * Dh**-0.5
    scores = np.where(np.tril(np.ones((T, T), dtype=bool)), scores, -np.inf)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    np.testing.assert_allclose(out, probs @ v, rtol=1e-12, atol=1e-12)


def test_gqa_shares_kv_heads_between_query_groups():
    """With Hkv = 1, every query head attends with the same keys: equal queries give equal outputs."""
    rng = np.random.default_rng(5)
    q = np.repeat(rng.standard_normal((1, 1, 4, 3)), 4, axis=1)
    k, v = rng.standard_normal((1, 1, 4, 3)), rng.standard_normal((1, 1, 4, 3))
    out, _ = attention_forward(q, k, v, None, 0.5)
    for head in range(1, 4):
        np.testing.assert_array_equal(out[:, head], out[:, 0])


def test_rope_scores_depend_only_on_relative_position():
    rng = np.random.default_rng(6)
    q, k = rng.standard_normal((1, 1, 1, 8)), rng.standard_normal((1, 1, 1, 8))

    def score(query_position, key_position):
        cos_q, sin_q = rope_tables(np.array([[query_position]]), 8, 10000.0, np.float64)
        cos_k, sin_k = rope_tables(np.array([[key_position]]), 8, 10000.0, np.float64)
        return float(np.sum(rope_forward(q, cos_q, sin_q)[0] * rope_forward(k, cos_k, sin_k)[0]))

    assert score(7, 3) == pytest.approx(score(104, 100), rel=1e-9)
    assert score(7, 3) != pytest.approx(score(8, 3), rel=1e-3)


def test_rope_matches_the_rotate_half_definition():
    """Pair i = (x[i], x[i + Dh/2]) rotated by position * theta^(-2i/Dh)."""
    x = np.arange(1.0, 9.0).reshape(1, 1, 1, 8)
    position, theta = 3, 10000.0
    cos, sin = rope_tables(np.array([[position]]), 8, theta, np.float64)
    out, _ = rope_forward(x, cos, sin)
    for i in range(4):
        angle = position * theta ** (-2 * i / 8)
        a, b = x[0, 0, 0, i], x[0, 0, 0, i + 4]
        assert out[0, 0, 0, i] == pytest.approx(a * np.cos(angle) - b * np.sin(angle), rel=1e-12)
        assert out[0, 0, 0, i + 4] == pytest.approx(b * np.cos(angle) + a * np.sin(angle), rel=1e-12)


def test_float32_and_float64_agree():
    config = PRESETS["test-tiny"]
    model32 = Qwen3Model.from_config(config, seed=0, dtype="float32")
    model64 = model32.astype("float64")
    ids = np.random.default_rng(0).integers(0, config.vocab_size, (2, 16))
    logits32, logits64 = model32.logits(ids), model64.logits(ids)
    assert logits32.dtype == np.float32 and logits64.dtype == np.float64
    np.testing.assert_allclose(logits32, logits64, rtol=1e-4, atol=1e-5)
    loss32, grads32 = model32.loss_and_grads(ids[:, :-1], ids[:, 1:])
    loss64, grads64 = model64.loss_and_grads(ids[:, :-1], ids[:, 1:])
    assert loss32 == pytest.approx(loss64, rel=1e-5)
    for name in grads64:
        assert grads32[name].dtype == np.float32
        np.testing.assert_allclose(grads32[name], grads64[name], rtol=1e-3, atol=1e-6)


def test_parameter_names_are_the_hugging_face_names():
    shapes = parameter_shapes(tiny_config(tied=False))
    assert shapes["model.embed_tokens.weight"] == (13, 8)
    assert shapes["model.layers.1.self_attn.q_proj.weight"] == (16, 8)
    assert shapes["model.layers.1.self_attn.k_proj.weight"] == (8, 8)
    assert shapes["model.layers.0.mlp.down_proj.weight"] == (8, 12)
    assert shapes["lm_head.weight"] == (13, 8)
    assert "lm_head.weight" not in parameter_shapes(tiny_config(tied=True))
    assert len(shapes) == 1 + 2 * 11 + 1 + 1


def test_random_init_follows_the_recipe():
    model = Qwen3Model.from_config(PRESETS["test-small"], seed=1)
    embedding = model.params["model.embed_tokens.weight"]
    assert abs(embedding.std() - 0.02) < 0.001 and abs(embedding.mean()) < 0.001
    assert np.all(model.params["model.layers.0.input_layernorm.weight"] == 1)
    assert model.num_parameters() == PRESETS["test-small"].num_parameters()
    same = Qwen3Model.from_config(PRESETS["test-small"], seed=1)
    assert all(np.array_equal(same.params[n], model.params[n]) for n in model.params)


@pytest.mark.parametrize(
    "ids, message",
    [
        (np.zeros((2, 3), dtype=np.float32), "integers"),
        (np.zeros(3, dtype=np.int64), "shape"),
        (np.array([[0, 64]]), "outside the vocabulary"),
        (np.array([[-1, 2]]), "outside the vocabulary"),
        (np.zeros((1, 0), dtype=np.int64), "at least one token"),
        (np.zeros((0, 3), dtype=np.int64), "at least one row"),
    ],
)
def test_bad_token_ids_raise_a_named_error(ids, message):
    model = Qwen3Model.from_config(PRESETS["test-tiny"])
    with pytest.raises(InputError, match=message):
        model.logits(ids)


def test_bad_masks_and_targets_raise():
    model = Qwen3Model.from_config(PRESETS["test-tiny"])
    ids = np.zeros((2, 3), dtype=np.int64)
    with pytest.raises(InputError, match="attention_mask"):
        model.logits(ids, attention_mask=np.ones((2, 4), dtype=bool))
    with pytest.raises(InputError, match="targets"):
        model.loss_and_grads(ids, np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(InputError, match="targets"):
        model.loss_and_grads(ids, np.full((2, 3), 99))


@pytest.mark.parametrize(
    "change, field",
    [
        (dict(num_key_value_heads=3), "num_key_value_heads"),
        (dict(head_dim=7), "head_dim"),
        (dict(vocab_size=0), "vocab_size"),
        (dict(hidden_size=32.0), "hidden_size"),
        (dict(rms_norm_eps=-1.0), "rms_norm_eps"),
    ],
)
def test_inconsistent_configs_name_the_field(change, field):
    with pytest.raises(ConfigError, match=field):
        PRESETS["test-tiny"].replace(**change)


def test_config_round_trips_through_hugging_face_json():
    config = PRESETS["qwen3-0.6b"]
    hf = config.to_hf()
    assert hf["architectures"] == ["Qwen3ForCausalLM"] and hf["model_type"] == "qwen3"
    assert ModelConfig.from_hf(hf) == config
    assert ModelConfig.from_hf({**hf, "some_future_field": 1}) == config
    with pytest.raises(ConfigError, match="hidden_size"):
        ModelConfig.from_hf({k: v for k, v in hf.items() if k != "hidden_size"})


def test_published_presets():
    assert PRESETS["qwen3-0.6b"].num_parameters() == pytest.approx(596e6, rel=0.01)  # 0.6B incl. tied embedding
    assert PRESETS["qwen3-8b"].tie_word_embeddings is False
    assert PRESETS["qwen3-4b"].num_attention_heads == 32 and PRESETS["qwen3-4b"].num_key_value_heads == 8


def test_params_are_checked_on_construction():
    config = PRESETS["test-tiny"]
    params = Qwen3Model.from_config(config).params
    with pytest.raises(ConfigError, match="missing"):
        Qwen3Model(config, {k: v for k, v in params.items() if k != "model.norm.weight"})
    with pytest.raises(ConfigError, match="shape"):
        Qwen3Model(config, {**params, "model.norm.weight": np.ones(5, dtype=np.float32)})
    with pytest.raises(ConfigError, match="unexpected"):
        Qwen3Model(config, {**params, "lm_head.weight": params["model.embed_tokens.weight"]})


def test_forward_without_a_backward_keeps_no_cache_and_less_memory():
    """Inference (logits, generation) must not hold every layer's (B, H, T, S) attention probabilities."""
    import tracemalloc

    model = Qwen3Model.from_config(PRESETS["test-small"], seed=0)
    ids = np.random.default_rng(0).integers(0, model.config.vocab_size, (2, 192))
    peaks = {}
    for keep in (True, False):
        tracemalloc.start()
        logits, cache = model.forward(ids, keep_cache=keep)
        peaks[keep] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert (cache is not None) == keep
        del logits, cache
    assert peaks[False] < peaks[True] / 2, peaks
    _, cache = model.forward(ids, keep_cache=False)
    with pytest.raises(InputError, match="keep_cache"):
        model.backward(np.zeros((2, 192, model.config.vocab_size), dtype=np.float32), cache)


@pytest.mark.parametrize("backend_name", ["numpy", "numba"])
def test_a_batch_split_over_threads_gives_the_logits_and_gradients_of_one_batch(backend_name, monkeypatch):
    """Rows in parts, one thread each (``SHARD_MIN_WORK``): the same logits, log-probabilities and
    summed gradients as the whole batch on one thread, padding included."""
    if backend_name == "numba":
        pytest.importorskip("numba")
    config = tiny_config(tied=True)
    model = Qwen3Model(config, perturbed_model(config, 5).params, backend=backend_name)
    rng = np.random.default_rng(0)
    ids, targets = rng.integers(0, config.vocab_size, (5, 7)), rng.integers(0, config.vocab_size, (5, 7))
    attention_mask = np.ones((5, 7), dtype=bool)
    attention_mask[1, 5:] = attention_mask[3, :2] = False  # right- and left-padded rows
    upstream = random_upstream(rng, (5, 7, config.vocab_size))
    monkeypatch.setattr(model_module, "SHARD_MIN_WORK", 1 << 62)
    logits, cache = model.forward(ids, attention_mask)
    grads = model.backward(upstream, cache)
    loss, loss_grads = model.loss_and_grads(ids, targets, attention_mask, attention_mask)
    monkeypatch.setattr(model_module, "SHARD_MIN_WORK", 1)
    monkeypatch.setattr(runtime, "parallel_threads", lambda: 3)
    split_logits, split_cache = model.forward(ids, attention_mask)
    assert isinstance(split_cache, model_module.ShardedCache) and len(split_cache.caches) == 3
    np.testing.assert_allclose(split_logits, logits, rtol=1e-12, atol=1e-12)
    split_grads = model.backward(upstream, split_cache)
    split_loss, split_loss_grads = model.loss_and_grads(ids, targets, attention_mask, attention_mask)
    assert split_loss == pytest.approx(loss, rel=1e-12)
    for name in model.params:
        np.testing.assert_allclose(split_grads[name], grads[name], rtol=1e-10, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(split_loss_grads[name], loss_grads[name], rtol=1e-10, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(model.logits(ids, attention_mask), logits, rtol=1e-12, atol=1e-12)


def padded_rows(rng, config, lengths, T):
    """Right-padded rows of the given lengths: ids, targets, attention mask, and a loss mask on all
    real positions but the first (a one-token prompt)."""
    B = len(lengths)
    ids, targets = rng.integers(0, config.vocab_size, (B, T)), rng.integers(0, config.vocab_size, (B, T))
    attention_mask = np.arange(T) < np.asarray(lengths)[:, None]  # (B, T)
    return ids, targets, attention_mask, attention_mask & (np.arange(T) >= 1)


def split_in_three(monkeypatch):
    """Every forward without a KV cache split over three threads' parts, whatever its size."""
    monkeypatch.setattr(model_module, "SHARD_MIN_WORK", 1)
    monkeypatch.setattr(runtime, "parallel_threads", lambda: 3)


@pytest.mark.parametrize("backend_name", ["numpy", "numba"])
def test_the_loss_seam_skips_trailing_padding_and_reads_the_same_wherever_rows_are_cut(backend_name, monkeypatch):
    """Rows split by their lengths stop after their last needed column: the loss, its gradients and the
    log-probabilities and entropies the loss reads are those of one part computing every position,
    and padding outside the loss mask reads 0 and passes no gradient, even from a loss that gives it one."""
    if backend_name == "numba":
        pytest.importorskip("numba")
    config = tiny_config(tied=True)
    model = Qwen3Model(config, perturbed_model(config, 5).params, backend=backend_name)
    rng = np.random.default_rng(3)
    ids, targets, attention_mask, loss_mask = padded_rows(rng, config, [2, 3, 3, 5, 8, 9], 9)
    dlogp, dentropy = rng.standard_normal(ids.shape), rng.standard_normal(ids.shape)  # nonzero on padding too
    unneeded = ~attention_mask & ~loss_mask

    def run():
        seen = {}

        def loss_fn(logp, entropy):
            seen["logp"], seen["entropy"] = np.array(logp), np.array(entropy)
            return float((dlogp * logp).sum() + (dentropy * entropy).sum()), dlogp, dentropy

        loss, grads = model.token_loss_and_grads(ids, targets, loss_fn, loss_mask, attention_mask, 0.9,
                                                 with_entropy=True)
        logp, entropy = model.token_logprobs(ids, targets, attention_mask, 0.9, with_entropy=True)
        return loss, grads, seen, logp, entropy

    monkeypatch.setattr(model_module, "SHARD_MIN_WORK", 1 << 62)
    loss, grads, seen, logp, entropy = run()
    split_in_three(monkeypatch)
    widths = []
    forward_rows = model._forward_rows
    monkeypatch.setattr(model, "_forward_rows", lambda ids, *rest: widths.append(ids.shape) or forward_rows(ids, *rest))
    split_loss, split_grads, split_seen, split_logp, split_entropy = run()
    # three parts a call (the loss's forward, token_logprobs'), the short rows' parts narrower
    assert len(widths) == 6 and min(shape[1] for shape in widths) < 8 and max(shape[1] for shape in widths) == 9
    assert split_loss == pytest.approx(loss, rel=1e-12)
    for name in model.params:
        np.testing.assert_allclose(split_grads[name], grads[name], rtol=1e-10, atol=1e-12, err_msg=name)
    for values, split_values in [(seen["logp"], split_seen["logp"]), (seen["entropy"], split_seen["entropy"]),
                                 (logp, split_logp), (entropy, split_entropy)]:
        np.testing.assert_allclose(split_values, values, rtol=1e-12, atol=1e-12)
    assert not seen["logp"][unneeded].any() and not seen["entropy"][unneeded].any()
    assert seen["logp"][loss_mask].all() and not logp[~attention_mask].any() and logp[attention_mask].all()
    everything = {}

    def reads_every_position(logp, entropy):
        everything["logp"] = np.array(logp)
        return 0.0, np.zeros_like(logp), None

    model.token_loss_and_grads(ids, targets, reads_every_position, None, attention_mask)
    assert everything["logp"].all()  # no loss mask: the loss reads every position, padding included


@pytest.mark.parametrize("backend_name", ["numpy", "numba"])
@pytest.mark.parametrize("parts", [1, 3])
def test_the_loss_seam_computes_the_head_only_where_the_loss_reads(backend_name, parts, monkeypatch):
    """With a loss mask (prompts of several lengths, right padding) the head and the log-probability
    op run on the loss's positions alone: the loss sees the log-probabilities and entropies of the
    whole forward there and 0 elsewhere, and the gradients are those of the whole forward's logits
    with the loss's upstream outside the mask dropped, whether the rows run whole or in parts."""
    if backend_name == "numba":
        pytest.importorskip("numba")
    config = tiny_config(tied=False)
    model = Qwen3Model(config, perturbed_model(config, 7).params, backend=backend_name)
    rng = np.random.default_rng(4)
    lengths, prompts = np.array([3, 5, 6, 8, 9]), np.array([1, 4, 2, 5, 3])
    T = 9
    ids, targets = rng.integers(0, config.vocab_size, (5, T)), rng.integers(0, config.vocab_size, (5, T))
    attention_mask = np.arange(T) < lengths[:, None]  # (B, T)
    loss_mask = attention_mask & (np.arange(T) >= prompts[:, None])
    loss_mask[1] = False  # a row the loss does not read at all
    dlogp, dentropy = rng.standard_normal(ids.shape), rng.standard_normal(ids.shape)  # nonzero everywhere
    seen, op_shapes = {}, []

    def loss_fn(logp, entropy):
        seen["logp"], seen["entropy"] = np.array(logp), np.array(entropy)
        return float((dlogp * logp).sum() + (dentropy * entropy).sum()), dlogp, dentropy

    if parts == 3:
        split_in_three(monkeypatch)
    else:
        monkeypatch.setattr(model_module, "SHARD_MIN_WORK", 1 << 62)
    op = model.ops.token_logprobs_forward
    monkeypatch.setattr(model.ops, "token_logprobs_forward", lambda logits, *rest: op_shapes.append(logits.shape)
                        or op(logits, *rest))
    loss, grads = model.token_loss_and_grads(ids, targets, loss_fn, loss_mask, attention_mask, 1.1, with_entropy=True)
    assert op_shapes == [(1, int(loss_mask.sum()), config.vocab_size)]  # the loss's positions only
    # the whole forward, every position's logits, and the upstream only where the loss reads
    monkeypatch.setattr(model_module, "SHARD_MIN_WORK", 1 << 62)
    logits, cache = model.forward(ids, attention_mask)
    (logp, entropy), logprob_cache = op(logits, np.where(loss_mask, targets, 0), 1.1, True)
    np.testing.assert_allclose(seen["logp"], np.where(loss_mask, logp, 0.0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(seen["entropy"], np.where(loss_mask, entropy, 0.0), rtol=1e-12, atol=1e-12)
    expected = model.backward(model.ops.token_logprobs_backward(dlogp * loss_mask, dentropy * loss_mask,
                                                                logprob_cache), cache)
    assert loss == pytest.approx(float((dlogp * seen["logp"]).sum() + (dentropy * seen["entropy"]).sum()))
    for name in model.params:
        np.testing.assert_allclose(grads[name], expected[name], rtol=1e-10, atol=1e-12, err_msg=name)
    # token_logprobs given the mask: the same numbers, from the same positions alone
    op_shapes.clear()
    if parts == 3:
        split_in_three(monkeypatch)
    read_logp, read_entropy = model.token_logprobs(ids, targets, attention_mask, 1.1, True, loss_mask=loss_mask)
    assert op_shapes == [(1, int(loss_mask.sum()), config.vocab_size)]
    np.testing.assert_allclose(read_logp, seen["logp"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(read_entropy, seen["entropy"], rtol=1e-12, atol=1e-12)


@settings(max_examples=3, deadline=None)
@given(st.integers(0, 10_000))
def test_the_loss_seam_with_rows_cut_matches_finite_differences(seed):
    """The gradient of the seam whose parts stop at their last needed column, with a random upstream
    (on the log-probabilities and the entropies), against central differences of the same seam."""
    config = tiny_config(tied=False)
    model = perturbed_model(config, seed)
    rng = np.random.default_rng(seed)
    lengths = np.sort(rng.integers(2, 8, 5))
    ids, targets, attention_mask, loss_mask = padded_rows(rng, config, lengths, 8)
    dlogp, dentropy = rng.standard_normal(ids.shape) * loss_mask, rng.standard_normal(ids.shape) * loss_mask

    def loss_fn(logp, entropy):
        return float((dlogp * logp).sum() + (dentropy * entropy).sum()), dlogp, dentropy

    def loss_and_grads():
        return model.token_loss_and_grads(ids, targets, loss_fn, loss_mask, attention_mask, 1.3, with_entropy=True)

    with pytest.MonkeyPatch.context() as monkeypatch:
        split_in_three(monkeypatch)
        _, grads = loss_and_grads()
        for name in ["model.layers.0.input_layernorm.weight", "model.layers.0.self_attn.v_proj.weight",
                     "model.layers.1.self_attn.k_norm.weight", "model.norm.weight"]:
            numeric = numerical_gradient(lambda: loss_and_grads()[0], model.params[name])
            assert_gradients_close(grads[name], numeric, name)


def brute_force_largest_cost(widths, count, cost):
    """The least largest cost over every way of cutting the rows into at most ``count`` runs."""
    B = len(widths)
    best = np.inf
    for parts in range(1, min(count, B) + 1):
        for cuts in itertools.combinations(range(1, B), parts - 1):
            bounds = [0, *cuts, B]
            best = min(best, max(cost(last - first, max(widths[first:last]))
                                 for first, last in zip(bounds[:-1], bounds[1:])))
    return best


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=9), st.integers(1, 4), st.booleans(), st.booleans())
def test_balanced_row_parts_cut_consecutive_rows_where_the_costliest_part_costs_least(widths, count, sort, quadratic):
    widths = np.sort(widths) if sort else np.array(widths)

    def cost(rows, widest):
        return rows * widest * (100 + (widest if quadratic else 0))

    parts = model_module.balanced_row_parts(widths, count, cost)
    assert 1 <= len(parts) <= count
    assert [row for part in parts for row in range(len(widths))[part]] == list(range(len(widths)))
    largest = max(cost(part.stop - part.start, widths[part].max()) for part in parts)
    assert largest <= brute_force_largest_cost(widths, count, cost) * 1.001


def test_rows_of_one_width_are_cut_into_equal_parts():
    parts = model_module.balanced_row_parts(np.full(64, 50), 2, lambda rows, widest: rows * widest)
    assert parts == [slice(0, 32), slice(32, 64)]
