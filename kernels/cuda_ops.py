"""The GPU backend's ops: the ``numba.cuda`` kernels of ``cuda_kernels`` behind the reference's contracts.

Each function allocates through the array module of its inputs (``minireason.device``): on a
GPU those are CuPy arrays and the kernels run there; under Numba's CUDA simulator they are
NumPy arrays, which is how CI checks this launch logic, and the whole model on it, without a
GPU (tests/test_kernels_gpu.py).  ``minireason.kernels.gpu`` binds these ops to CuPy.

Caches: attention keeps (q, k, v, out, logsumexp, allowed keys, scale) like the Numba kernel;
RMSNorm and SwiGLU keep exactly the reference's caches, so either backward reads either.
"""

from __future__ import annotations

from minireason.kernels import cuda_kernels

from minireason.backend import Choice
from minireason.device import array_module_of


def _contiguous(module, array, dtype):
    return module.ascontiguousarray(array, dtype=dtype)


def attention_forward(q, k, v, key_mask, scale: float):
    """Causal GQA attention; contract of ``minireason.nn.attention.attention_forward``."""
    module = array_module_of(q, k, v)
    dtype = q.dtype
    B, H, T, Dh = q.shape
    S = k.shape[2]
    if Dh > cuda_kernels.MAX_HEAD_DIM:
        raise ValueError(f"head_dim {Dh} exceeds the GPU kernel's MAX_HEAD_DIM {cuda_kernels.MAX_HEAD_DIM}")
    q, k, v = (_contiguous(module, array, dtype) for array in (q, k, v))
    allowed = module.ones((B, S), dtype=bool) if key_mask is None else _contiguous(module, key_mask, bool)  # (B, S)
    out = module.empty_like(q)  # (B, H, T, Dh)
    logsumexp = module.empty((B, H, T), dtype=dtype)  # (B, H, T), +inf marks a row that sees no key
    blocks = cuda_kernels.blocks_for(B * H * T)  # one thread per query row
    cuda_kernels.attention_forward_kernel[blocks, cuda_kernels.THREADS_PER_BLOCK](
        q, k, v, allowed, dtype.type(scale), out, logsumexp)
    return out, (q, k, v, out, logsumexp, allowed, scale)


def attention_backward(dout, cache):
    """Gradients of ``attention_forward``.  Cache: (q, k, v, out, logsumexp, allowed, scale).
    Returns (dq (B, H, T, Dh), dk (B, Hkv, S, Dh), dv (B, Hkv, S, Dh))."""
    q, k, v, out, logsumexp, allowed, scale = cache
    module = array_module_of(q)
    dout = _contiguous(module, dout, q.dtype)
    dq, dk, dv = module.zeros_like(q), module.zeros_like(k), module.zeros_like(v)  # dk, dv: atomic sums
    B, H, T, _ = q.shape
    blocks = cuda_kernels.blocks_for(B * H * T)  # one thread per query row
    cuda_kernels.attention_backward_kernel[blocks, cuda_kernels.THREADS_PER_BLOCK](
        q, k, v, out, dout, logsumexp, allowed, q.dtype.type(scale), dq, dk, dv)
    return dq, dk, dv


def rmsnorm_forward(x, weight, eps: float):
    """x (..., N), weight (N,) -> out (..., N); cache (normalized, inverse_rms (..., 1), weight) as the reference."""
    module = array_module_of(x, weight)
    n_features = x.shape[-1]
    rows = _contiguous(module, x, x.dtype).reshape(-1, n_features)  # (rows, N)
    normalized = module.empty_like(rows)  # (rows, N)
    out = module.empty_like(rows)  # (rows, N)
    inverse_rms = module.empty(rows.shape[0], dtype=x.dtype)  # (rows,)
    cuda_kernels.rmsnorm_forward_kernel[rows.shape[0], cuda_kernels.ROW_THREADS](
            rows, _contiguous(module, weight, x.dtype), x.dtype.type(eps), normalized, inverse_rms, out)
    shape = x.shape
    return out.reshape(shape), (normalized.reshape(shape), inverse_rms.reshape(*shape[:-1], 1), weight)


def rmsnorm_backward(dout, cache):
    """Forward: n = x r, y = n w.  Cache: (n, r, w).  dx on the GPU, dw = sum over rows of dout * n."""
    normalized, inverse_rms, weight = cache
    module = array_module_of(normalized)
    n_features = normalized.shape[-1]
    dout_rows = _contiguous(module, dout, normalized.dtype).reshape(-1, n_features)  # (rows, N)
    normalized_rows = _contiguous(module, normalized, normalized.dtype).reshape(-1, n_features)
    dx = module.empty_like(dout_rows)  # (rows, N)
    cuda_kernels.rmsnorm_backward_kernel[dout_rows.shape[0], cuda_kernels.ROW_THREADS](
            dout_rows, normalized_rows, _contiguous(module, inverse_rms, normalized.dtype).reshape(-1),
            _contiguous(module, weight, normalized.dtype), dx)
    dweight = (dout_rows * normalized_rows).sum(axis=0)  # (N,)
    return dx.reshape(normalized.shape), dweight


def swiglu_forward(gate, up):
    """h = silu(gate) * up; cache (gate, up, sigmoid(gate)) as the reference."""
    module = array_module_of(gate, up)
    gate_flat = _contiguous(module, gate, gate.dtype).reshape(-1)  # (elements,)
    up_flat = _contiguous(module, up, gate.dtype).reshape(-1)
    sigmoid_gate, out = module.empty_like(gate_flat), module.empty_like(gate_flat)  # (elements,) each
    cuda_kernels.swiglu_forward_kernel[cuda_kernels.blocks_for(gate_flat.size), cuda_kernels.THREADS_PER_BLOCK](
        gate_flat, up_flat, sigmoid_gate, out)
    return out.reshape(gate.shape), (gate, up, sigmoid_gate.reshape(gate.shape))


def swiglu_backward(dout, cache):
    """Forward: h = g s(g) u.  Cache: (g, u, s(g)).  Returns (dgate, dup)."""
    gate, up, sigmoid_gate = cache
    module = array_module_of(gate)
    dout_flat, gate_flat, up_flat, sigmoid_flat = (  # (elements,) each
        _contiguous(module, array, gate.dtype).reshape(-1) for array in (dout, gate, up, sigmoid_gate))
    dgate, dup = module.empty_like(gate_flat), module.empty_like(gate_flat)  # (elements,) each
    cuda_kernels.swiglu_backward_kernel[cuda_kernels.blocks_for(gate_flat.size), cuda_kernels.THREADS_PER_BLOCK](
        dout_flat, gate_flat, up_flat, sigmoid_flat, dgate, dup)
    return dgate.reshape(gate.shape), dup.reshape(gate.shape)


# The GPU backend's table (``minireason.backend``): these three ops on the kernels, the rest the reference.
DISPATCH = {
    "attention": (Choice("always", attention_forward, attention_backward),),
    "rmsnorm": (Choice("always", rmsnorm_forward, rmsnorm_backward),),
    "swiglu": (Choice("always", swiglu_forward, swiglu_backward),),
}
