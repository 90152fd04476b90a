"""The CuPy backend: attention and RMSNorm as GPU kernels (``cuda_kernels``), on CuPy arrays.

Importing this module needs CuPy (the ``gpu`` extra); ``minireason.backend`` turns the
ImportError into a ConfigError that names the extra.  The wrappers take the array module of
their inputs (``cupy.get_array_module``): CuPy arrays stay on the GPU; NumPy arrays are copied
to the GPU and the results back, which keeps the NumPy model working unchanged but pays two
transfers per op.  Keeping the whole model's arrays on the GPU needs the model to allocate
through an array module; that is not done yet (see docs/kernels.md).
"""

from __future__ import annotations

import cupy
from minireason.kernels import cuda_kernels


def _on_device(array, dtype):
    return cupy.ascontiguousarray(cupy.asarray(array), dtype=dtype)


def _like_input(result, template):
    return result if isinstance(template, cupy.ndarray) else cupy.asnumpy(result)


def attention_forward(q, k, v, key_mask, scale: float):
    """Causal GQA attention on the GPU; contract of ``minireason.nn.attention.attention_forward``."""
    dtype = q.dtype
    if k.shape[3] > cuda_kernels.MAX_HEAD_DIM:
        raise ValueError(f"head_dim {k.shape[3]} exceeds the GPU kernel's MAX_HEAD_DIM {cuda_kernels.MAX_HEAD_DIM}")
    q_device, k_device, v_device = (_on_device(a, dtype) for a in (q, k, v))
    B, H, T, _ = q.shape
    S = k.shape[2]
    allowed = cupy.ones((B, S), dtype=cupy.bool_) if key_mask is None else _on_device(key_mask, cupy.bool_)
    out = cupy.empty_like(q_device)
    logsumexp = cupy.empty((B, H, T), dtype=dtype)
    n_rows = B * H * T
    cuda_kernels.attention_forward_kernel[cuda_kernels.blocks_for(n_rows), cuda_kernels.THREADS_PER_BLOCK](
        q_device, k_device, v_device, allowed, dtype.type(scale), out, logsumexp)
    cache = (q_device, k_device, v_device, out, logsumexp, allowed, scale, isinstance(q, cupy.ndarray))
    return _like_input(out, q), cache


def attention_backward(dout, cache):
    q, k, v, out, logsumexp, allowed, scale, on_device = cache
    dout_device = _on_device(dout, q.dtype)
    dq = cupy.zeros_like(q)
    dk = cupy.zeros_like(k)
    dv = cupy.zeros_like(v)
    n_rows = q.shape[0] * q.shape[1] * q.shape[2]
    cuda_kernels.attention_backward_kernel[cuda_kernels.blocks_for(n_rows), cuda_kernels.THREADS_PER_BLOCK](
        q, k, v, out, dout_device, logsumexp, allowed, q.dtype.type(scale), dq, dk, dv)
    if on_device:
        return dq, dk, dv
    return cupy.asnumpy(dq), cupy.asnumpy(dk), cupy.asnumpy(dv)
