"""Decoding with bfloat16 weights: the numba kernel against the reference, and the model that uses it."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from byte_tokenizer import ByteTokenizer
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("numba")

from minireason.kernels import numba_decode  # noqa: E402

from minireason.backend import get_ops  # noqa: E402
from minireason.bfloat16 import bfloat16_bits_to_float32, float32_to_bfloat16_bits  # noqa: E402
from minireason.config import PRESETS  # noqa: E402
from minireason.errors import ConfigError, InputError  # noqa: E402
from minireason.generation.generate import generate  # noqa: E402
from minireason.generation.kv_cache import KVCache  # noqa: E402
from minireason.model import Qwen3Model  # noqa: E402
from minireason.nn.linear import BFloat16Matrix, linear_backward, linear_forward  # noqa: E402
from minireason.optim import AdamW  # noqa: E402

CONFIG = PRESETS["test-small"]


def test_the_reference_linear_widens_a_bfloat16_matrix_exactly():
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((7, 5)).astype(np.float32)
    bits = float32_to_bfloat16_bits(weight)
    x = rng.standard_normal((2, 3, 5)).astype(np.float32)
    out, _ = linear_forward(x, BFloat16Matrix(bits))
    np.testing.assert_array_equal(out, linear_forward(x, bfloat16_bits_to_float32(bits))[0])
    with pytest.raises(TypeError, match="uint16"):
        BFloat16Matrix(weight)
    # the backward of a forward on bfloat16 weights (the numba kernel's cache holds the bits)
    dout = rng.standard_normal((2, 3, 7)).astype(np.float32)
    _, kernel_cache = get_ops("numba").linear_forward(x, BFloat16Matrix(bits))
    _, widened_cache = linear_forward(x, bfloat16_bits_to_float32(bits))
    for got, want in zip(linear_backward(dout, kernel_cache), linear_backward(dout, widened_cache)):
        np.testing.assert_array_equal(got, want)


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 20), n_in=st.integers(1, 300), n_out=st.integers(1, 70),
       rows_per_pass=st.sampled_from(sorted(numba_decode.INPUT_ROWS_PER_PASS.values())), seed=st.integers(0, 2**16))
def test_numba_linear_on_bfloat16_weights_equals_the_reference(rows, n_in, n_out, rows_per_pass, seed):
    # one weight row at a time up to ONE_WEIGHT_ROW_ROWS rows, four weight rows against three or
    # four input rows above (either CPU's pass), each bfloat16 weight widened in a register
    rng = np.random.default_rng(seed)
    weight = BFloat16Matrix(float32_to_bfloat16_bits(rng.standard_normal((n_out, n_in)).astype(np.float32)))
    x = rng.standard_normal((rows, 1, n_in)).astype(np.float32)
    with mock.patch.object(numba_decode, "BLOCK_INPUT_ROWS", rows_per_pass):
        got, _ = get_ops("numba").linear_forward(x, weight)
    want, _ = linear_forward(x, weight)
    assert got.shape == want.shape == (rows, 1, n_out) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.sqrt(n_in))


@pytest.fixture(scope="module")
def models():
    original = Qwen3Model.from_config(CONFIG, seed=2, backend="numba")
    decoding = original.with_bfloat16_decoding()
    # the same rounded numbers, multiplied by BLAS in float32 everywhere
    rounded = Qwen3Model(CONFIG, decoding.params, backend="numba")
    return original, decoding, rounded


def test_with_bfloat16_decoding_keeps_one_set_of_numbers_twice(models):
    original, decoding, _ = models
    assert set(decoding.decode_matrices) == {name for name, v in original.params.items() if v.ndim == 2}
    for name, matrix in decoding.decode_matrices.items():
        np.testing.assert_array_equal(matrix.to_float32(), decoding.params[name])  # the same numbers
        assert np.abs(decoding.params[name] - original.params[name]).max() <= np.abs(original.params[name]).max() * 2**-8
    assert not original.decode_matrices  # the original is untouched, and shares no array with the copy
    assert not any(np.shares_memory(decoding.params[name], original.params[name]) for name in original.params)


def test_bfloat16_matrices_lie_in_one_read_only_buffer_in_the_order_a_step_reads_them(models):
    original, decoding, _ = models
    matrices = decoding.decode_matrices
    step_order = [f"model.layers.{layer}.{name}" for layer in range(CONFIG.num_hidden_layers)
                  for name in ("self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
                               "self_attn.o_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
                               "mlp.down_proj.weight")]
    step_order.append("model.embed_tokens.weight" if CONFIG.tie_word_embeddings else "lm_head.weight")
    starts = [matrices[name].bits.ctypes.data for name in step_order]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    first, *rest = (matrices[name].bits for name in matrices)
    assert all(np.shares_memory(first.base, bits) for bits in rest)  # views of one buffer
    assert all(address % 64 == 0 for address in starts)  # each on a cache line
    for name in step_order:
        bits = matrices[name].bits
        assert not bits.flags.writeable and bits.flags.c_contiguous
        np.testing.assert_array_equal(bits, float32_to_bfloat16_bits(original.params[name]))


def test_decoding_steps_read_the_bfloat16_copies_and_agree_with_float32(models, monkeypatch):
    _, decoding, rounded = models
    ids = np.random.default_rng(3).integers(0, CONFIG.vocab_size, size=(3, 9))
    # prefill (T > 1) runs on the float32 copies: identical to the rounded model
    np.testing.assert_array_equal(decoding.logits(ids), rounded.logits(ids))
    calls = []
    kernel = get_ops("numba").linear_forward
    monkeypatch.setattr(get_ops("numba"), "linear_forward",
                        lambda x, w: (calls.append(type(w).__name__), kernel(x, w))[1])
    caches = [KVCache(CONFIG, 3, 16) for _ in range(2)]
    for model, cache in zip((decoding, rounded), caches):
        model.forward(ids, kv_cache=cache, last_only=True)
    calls.clear()
    step = np.array([[5], [6], [7]])
    got, _ = decoding.forward(step, kv_cache=caches[0], last_only=True)
    assert calls and set(calls) == {"BFloat16Matrix"}  # every projection of the step, the head included
    assert len(calls) == 7 * CONFIG.num_hidden_layers + 1
    want, _ = rounded.forward(step, kv_cache=caches[1], last_only=True)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_greedy_generation_with_bfloat16_decoding_equals_the_float32_run(models):
    _, decoding, rounded = models
    prompts = ["12+34=", "a longer prompt", "x"]
    want = generate(rounded, ByteTokenizer(), prompts, max_new_tokens=20, stop_token_ids=[])
    got = generate(decoding, ByteTokenizer(), prompts, max_new_tokens=20, stop_token_ids=[])
    assert [row.token_ids for row in got] == [row.token_ids for row in want]


def test_a_backward_never_sees_bfloat16_weights(models):
    _, decoding, rounded = models
    ids = np.random.default_rng(4).integers(0, CONFIG.vocab_size, size=(2, 1))  # T = 1, with a backward
    loss, grads = decoding.loss_and_grads(ids, ids)
    want_loss, want_grads = rounded.loss_and_grads(ids, ids)
    assert loss == want_loss
    for name, grad in grads.items():
        np.testing.assert_array_equal(grad, want_grads[name])


def test_a_bfloat16_decoding_model_cannot_be_trained_into_stale_copies(models):
    _, decoding, _ = models
    ids = np.random.default_rng(5).integers(0, CONFIG.vocab_size, size=(2, 6))
    _, grads = decoding.loss_and_grads(ids[:, :-1], ids[:, 1:])
    before = decoding.params["lm_head.weight" if "lm_head.weight" in grads else "model.embed_tokens.weight"].copy()
    optimizer = AdamW(1e-2)
    with pytest.raises(InputError, match="read-only.*with_bfloat16_decoding"):
        optimizer.step(decoding.params, grads)
    assert optimizer.step_count == 0 and not optimizer.first_moment  # the refused step changed nothing
    np.testing.assert_array_equal(before, decoding.head_weight())


def test_bfloat16_decoding_refuses_what_it_cannot_speed_up():
    with pytest.raises(ConfigError, match="backend 'numpy' has no bfloat16.*numba"):
        Qwen3Model.from_config(CONFIG, seed=0, backend="numpy").with_bfloat16_decoding()
    with pytest.raises(ConfigError, match="float32 model"):
        Qwen3Model.from_config(CONFIG, seed=0, dtype="float64", backend="numba").with_bfloat16_decoding()
