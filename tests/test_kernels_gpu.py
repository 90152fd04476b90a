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
    from minireason.kernels import cuda_kernels
    from minireason.nn import attention, rmsnorm

    rng = np.random.default_rng(7)
    B, H, Hkv, T, cached, Dh = 2, 4, 2, 5, 3, 4
    S = cached + T
    q = rng.standard_normal((B, H, T, Dh))
    k, v = (rng.standard_normal((B, Hkv, S, Dh)) for _ in range(2))
    key_mask = np.ones((B, S), dtype=bool)
    key_mask[1, :5] = False  # row 1: queries 0 and 1 see no key (the uniform case)
    key_mask[0, 2] = False
    out = np.empty_like(q)
    logsumexp = np.empty((B, H, T))
    blocks = cuda_kernels.blocks_for(B * H * T)
    cuda_kernels.attention_forward_kernel[blocks, cuda_kernels.THREADS_PER_BLOCK](
        q, k, v, key_mask, 0.5, out, logsumexp)
    expected, cache = attention.attention_forward(q, k, v, key_mask, 0.5)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
    assert np.isinf(logsumexp[1, :, :2]).all() and np.isfinite(logsumexp[0]).all()
    dout = rng.standard_normal(q.shape)
    dq, dk, dv = np.zeros_like(q), np.zeros_like(k), np.zeros_like(v)
    cuda_kernels.attention_backward_kernel[blocks, cuda_kernels.THREADS_PER_BLOCK](
        q, k, v, out, dout, logsumexp, key_mask, 0.5, dq, dk, dv)
    for name, got, want in zip(("dq", "dk", "dv"), (dq, dk, dv), attention.attention_backward(dout, cache)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=name)

    x = rng.standard_normal((6, 10)) * 3
    weight = rng.standard_normal(10)
    normalized, inverse_rms, y = np.empty_like(x), np.empty(6), np.empty_like(x)
    cuda_kernels.rmsnorm_forward_kernel[1, cuda_kernels.THREADS_PER_BLOCK](x, weight, 1e-6, normalized, inverse_rms, y)
    expected_y, _ = rmsnorm.rmsnorm_forward(x, weight, 1e-6)
    np.testing.assert_allclose(y, expected_y, rtol=1e-12)
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


def test_cupy_backend_attention_on_a_real_gpu_matches_reference():
    cupy = _real_gpu_or_skip()
    from minireason.kernels import gpu

    from minireason.nn import attention

    rng = np.random.default_rng(1)
    q = rng.standard_normal((2, 8, 70, 64)).astype(np.float32)
    k, v = (rng.standard_normal((2, 4, 90, 64)).astype(np.float32) for _ in range(2))
    key_mask = np.arange(90)[None, :] >= np.array([[0], [30]])
    expected, cache = attention.attention_forward(q, k, v, key_mask, 0.125)
    out, gpu_cache = gpu.attention_forward(cupy.asarray(q), cupy.asarray(k), cupy.asarray(v), key_mask, 0.125)
    assert isinstance(out, cupy.ndarray)  # stays on the GPU
    np.testing.assert_allclose(cupy.asnumpy(out), expected, rtol=1e-5, atol=2e-6)
    dout = rng.standard_normal(q.shape).astype(np.float32)
    for got, want in zip(gpu.attention_backward(cupy.asarray(dout), gpu_cache), attention.attention_backward(dout, cache)):
        np.testing.assert_allclose(cupy.asnumpy(got), want, rtol=1e-4, atol=1e-5)


def test_cupy_backend_runs_the_model_on_a_real_gpu():
    _real_gpu_or_skip()
    from minireason.config import PRESETS
    from minireason.model import Qwen3Model

    reference = Qwen3Model.from_config(PRESETS["test-tiny"], seed=0, backend="numpy")
    on_gpu = Qwen3Model(reference.config, reference.params, backend="cupy")
    token_ids = np.random.default_rng(0).integers(0, 64, size=(2, 12))
    np.testing.assert_allclose(on_gpu.logits(token_ids), reference.logits(token_ids), rtol=1e-4, atol=1e-5)
