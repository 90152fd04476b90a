"""The GPU kernels: their logic under Numba's CUDA simulator (no GPU needed), the CuPy backend on a GPU.

The simulator must be switched on before numba is imported, so those checks run in a child
process.  Tests that need a real GPU are skipped, with the reason, where there is none: they
are reported as not run, never as passed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("numba")

SIMULATED_CHECK = textwrap.dedent("""
    import numpy as np
    from minireason import backend
    from minireason.config import PRESETS
    from minireason.kernels import cuda_kernels, cuda_ops
    from minireason.model import Qwen3Model
    from minireason.nn import attention, rmsnorm, swiglu

    def close(got, want, name):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=name)

    # The simulator runs every GPU thread as a Python thread; 8 threads per RMSNorm row instead
    # of 128 keep this check fast.  The kernels are written for any power of two.
    cuda_kernels.ROW_THREADS = 8
    rng = np.random.default_rng(7)
    # attention with GQA, a KV-cache offset (T < S), padding, and rows that see no key
    B, H, Hkv, T, cached, Dh = 2, 4, 2, 5, 3, 4
    S = cached + T
    q = rng.standard_normal((B, H, T, Dh))
    k, v = (rng.standard_normal((B, Hkv, S, Dh)) for _ in range(2))
    key_mask = np.ones((B, S), dtype=bool)
    key_mask[1, :5] = False  # row 1: queries 0 and 1 see no key (the uniform case)
    key_mask[0, 2] = False
    for mask in (key_mask, None):
        out, cache = cuda_ops.attention_forward(q, k, v, mask, 0.5)
        expected, reference_cache = attention.attention_forward(q, k, v, mask, 0.5)
        close(out, expected, "attention out")
        dout = rng.standard_normal(q.shape)
        for name, got, want in zip(("dq", "dk", "dv"), cuda_ops.attention_backward(dout, cache),
                                   attention.attention_backward(dout, reference_cache)):
            close(got, want, name)
    assert np.isinf(cuda_ops.attention_forward(q, k, v, key_mask, 0.5)[1][4][1, :, :2]).all()
    k[0, 1, 4, 2] = np.nan  # every query that sees a NaN key gets NaN, as the reference's (not the no-key average)
    with np.errstate(invalid="ignore"):
        out_with_nan = cuda_ops.attention_forward(q, k, v, None, 0.5)[0]
        expected_with_nan = attention.attention_forward(q, k, v, None, 0.5)[0]
    assert np.isnan(expected_with_nan).any()
    np.testing.assert_array_equal(np.isnan(out_with_nan), np.isnan(expected_with_nan))

    # RMSNorm over rows longer than the block (strided threads) and shorter; SwiGLU, with extreme gates
    for shape in ((3, 2, 21), (6, 5)):
        x = rng.standard_normal(shape) * 3
        weight = rng.standard_normal(shape[-1])
        y, cache = cuda_ops.rmsnorm_forward(x, weight, 1e-6)
        expected_y, reference_cache = rmsnorm.rmsnorm_forward(x, weight, 1e-6)
        close(y, expected_y, "rmsnorm out")
        dout = rng.standard_normal(shape)
        for name, got, want in zip(("dx", "dweight"), cuda_ops.rmsnorm_backward(dout, cache),
                                   rmsnorm.rmsnorm_backward(dout, reference_cache)):
            close(got, want, name)
    gate = rng.standard_normal((3, 7, 9)) * 4
    gate[0, 0, :3] = (-800.0, 800.0, 0.0)
    up = rng.standard_normal(gate.shape)
    h, cache = cuda_ops.swiglu_forward(gate, up)
    expected_h, reference_cache = swiglu.swiglu_forward(gate, up)
    close(h, expected_h, "swiglu out")
    dout = rng.standard_normal(gate.shape)
    for name, got, want in zip(("dgate", "dup"), cuda_ops.swiglu_backward(dout, cache),
                               swiglu.swiglu_backward(dout, reference_cache)):
        close(got, want, name)

    # the whole model on the GPU ops: logits and every gradient, a padded batch
    backend.BACKENDS["cuda-simulated"] = ("minireason.kernels.cuda_ops", None)
    config = PRESETS["test-tiny"].replace(num_hidden_layers=1)
    reference = Qwen3Model.from_config(config, seed=0, dtype="float64", backend="numpy")
    simulated = Qwen3Model(config, reference.params, backend="cuda-simulated")
    assert simulated.ops.attention_backward is cuda_ops.attention_backward  # the kernels, not the reference
    assert simulated.ops.rmsnorm_backward is cuda_ops.rmsnorm_backward
    token_ids = rng.integers(0, config.vocab_size, size=(2, 4))
    attention_mask = np.array([[True] * 4, [False, True, True, True]])
    targets = rng.integers(0, config.vocab_size, size=(2, 4))
    close(simulated.logits(token_ids, attention_mask), reference.logits(token_ids, attention_mask), "logits")
    loss, grads = simulated.loss_and_grads(token_ids, targets, attention_mask, attention_mask)
    reference_loss, reference_grads = reference.loss_and_grads(token_ids, targets, attention_mask, attention_mask)
    assert abs(loss - reference_loss) < 1e-12
    for name in reference_grads:
        close(grads[name], reference_grads[name], name)
    print("simulated kernels match the reference")
""")


def test_gpu_kernel_logic_matches_reference_under_the_cuda_simulator():
    environment = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    result = subprocess.run([sys.executable, "-c", SIMULATED_CHECK], env=environment, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "simulated kernels match the reference" in result.stdout


def _real_gpu_or_skip():
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed: real-GPU test not run")
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no CUDA GPU: real-GPU test not run")
    except Exception as error:  # noqa: BLE001 - any CUDA runtime failure means: no usable GPU here
        pytest.skip(f"no usable CUDA GPU ({error}): real-GPU test not run")
    return cupy


def test_cupy_backend_ops_on_a_real_gpu_match_the_reference():
    cupy = _real_gpu_or_skip()
    from minireason import backend
    from minireason.nn import attention, rmsnorm, swiglu

    gpu = backend.get_ops("cupy")

    rng = np.random.default_rng(1)
    q = rng.standard_normal((2, 8, 70, 64)).astype(np.float32)
    k, v = (rng.standard_normal((2, 4, 90, 64)).astype(np.float32) for _ in range(2))
    key_mask = np.arange(90)[None, :] >= np.array([[0], [30]])
    expected, cache = attention.attention_forward(q, k, v, key_mask, 0.125)
    out, gpu_cache = gpu.attention_forward(*(cupy.asarray(a) for a in (q, k, v, key_mask)), 0.125)
    assert isinstance(out, cupy.ndarray)  # stays on the GPU
    np.testing.assert_allclose(cupy.asnumpy(out), expected, rtol=1e-5, atol=2e-6)
    dout = rng.standard_normal(q.shape).astype(np.float32)
    for got, want in zip(gpu.attention_backward(cupy.asarray(dout), gpu_cache), attention.attention_backward(dout, cache)):
        np.testing.assert_allclose(cupy.asnumpy(got), want, rtol=1e-4, atol=1e-5)
    x = rng.standard_normal((4, 33, 1024)).astype(np.float32)
    weight = rng.standard_normal(1024).astype(np.float32)
    y, gpu_cache = gpu.rmsnorm_forward(cupy.asarray(x), cupy.asarray(weight), 1e-6)
    expected, cache = rmsnorm.rmsnorm_forward(x, weight, 1e-6)
    np.testing.assert_allclose(cupy.asnumpy(y), expected, rtol=1e-5, atol=1e-5)
    dout = rng.standard_normal(x.shape).astype(np.float32)
    for got, want in zip(gpu.rmsnorm_backward(cupy.asarray(dout), gpu_cache), rmsnorm.rmsnorm_backward(dout, cache)):
        np.testing.assert_allclose(cupy.asnumpy(got), want, rtol=1e-4, atol=1e-4)
    gate, up = (rng.standard_normal((4, 33, 3072)).astype(np.float32) * 3 for _ in range(2))
    h, gpu_cache = gpu.swiglu_forward(cupy.asarray(gate), cupy.asarray(up))
    expected, cache = swiglu.swiglu_forward(gate, up)
    np.testing.assert_allclose(cupy.asnumpy(h), expected, rtol=1e-5, atol=1e-6)
    dout = rng.standard_normal(gate.shape).astype(np.float32)
    for got, want in zip(gpu.swiglu_backward(cupy.asarray(dout), gpu_cache), swiglu.swiglu_backward(dout, cache)):
        np.testing.assert_allclose(cupy.asnumpy(got), want, rtol=1e-5, atol=1e-5)


def test_the_whole_model_on_a_real_gpu_matches_the_reference():
    cupy = _real_gpu_or_skip()
    from byte_tokenizer import ByteTokenizer

    from minireason.config import PRESETS
    from minireason.generation.generate import generate
    from minireason.model import Qwen3Model

    config = PRESETS["test-small"]
    reference = Qwen3Model.from_config(config, seed=0, backend="numpy")
    on_gpu = Qwen3Model(config, reference.params, backend="cupy")
    assert all(isinstance(value, cupy.ndarray) for value in on_gpu.params.values())
    rng = np.random.default_rng(0)
    token_ids = rng.integers(0, config.vocab_size, size=(3, 40))
    attention_mask = np.ones(token_ids.shape, dtype=bool)
    attention_mask[1, :11] = False
    logits = on_gpu.logits(token_ids, attention_mask)
    assert isinstance(logits, cupy.ndarray)
    np.testing.assert_allclose(cupy.asnumpy(logits), reference.logits(token_ids, attention_mask), rtol=1e-4, atol=1e-4)
    targets = rng.integers(0, config.vocab_size, size=token_ids.shape)
    loss, grads = on_gpu.loss_and_grads(token_ids, targets, attention_mask, attention_mask)
    want_loss, want_grads = reference.loss_and_grads(token_ids, targets, attention_mask, attention_mask)
    assert abs(loss - want_loss) < 1e-4 * abs(want_loss)
    for name, grad in grads.items():
        assert isinstance(grad, cupy.ndarray)
        scale = float(np.abs(want_grads[name]).max()) + 1e-12
        np.testing.assert_allclose(cupy.asnumpy(grad) / scale, want_grads[name] / scale, atol=1e-4, err_msg=name)

    prompts = ["12+34=", "a longer prompt here"]
    want = generate(reference.astype("float64"), ByteTokenizer(), prompts, max_new_tokens=16, stop_token_ids=[])
    got = generate(on_gpu.astype("float64"), ByteTokenizer(), prompts, max_new_tokens=16, stop_token_ids=[])
    assert [row.token_ids for row in got] == [row.token_ids for row in want]
