"""The Numba CPU backend: the op names ``minireason.backend`` looks up, each bound to the kernel
that replaced the NumPy reference on a measurement (benchmarks/bench_kernels.py, docs/kernels.md).

Ops not exported here fall back to the reference.  Importing this module fails with ImportError
when numba (or scipy, which numba needs for np.dot) is missing; the backend turns that into a ConfigError naming the ``fast`` extra.
"""

from __future__ import annotations

import scipy.linalg  # noqa: F401  (numba compiles np.dot to BLAS through scipy; fail here, with the install hint)
from minireason.kernels import numba_attention, numba_fused
from minireason.kernels.numba_attention import attention_backward
from minireason.kernels.numba_decode import bf16_linear
from minireason.kernels.numba_loss import cross_entropy_backward, cross_entropy_forward
from minireason.kernels.numba_rope import rope_backward, rope_forward

from minireason.nn import attention as reference_attention
from minireason.nn import linear as reference_linear
from minireason.nn import rmsnorm as reference_rmsnorm
from minireason.nn import swiglu as reference_swiglu

# The fused attention wins from about 128 keys on (fwd+bwd, float32, H=8, Hkv=4, Dh=64, each call
# right after a NumPy matrix product as in the model, best of 15, load 0.7: B=1 T=32 0.9x, T=64
# 1.0x, T=128 1.1x, T=256 2.1x; B=4 T=64 1.0x, T=128 2.3x; docs/kernels.md); below that the
# reference's batched BLAS products are as fast, so short sequences go to the reference.
# attention_backward recognises either cache.
FUSED_ATTENTION_MIN_KEYS = 128


# Below this many elements the parallel RMSNorm and SwiGLU kernels lose to the reference: waking
# the thread pool costs about 45 us, the whole of a decoding step's op (rmsnorm (1, 1, 512): numpy
# 8.7 us, numba 52.5 us; swiglu (1, 1, 1536): 4.6 against 49.8 us; (16, 1, 1536): 23 against 54 us),
# while training shapes gain 3.5x to 5.6x (rmsnorm (4, 256, 512) 405 against 115 us, swiglu
# (4, 256, 1536) 2041 against 366 us).  Kernel and reference keep the same cache, so either
# backward reads either forward's.
FUSED_MIN_ELEMENTS = 1 << 16


def rmsnorm_forward(x, weight, eps):
    if x.size < FUSED_MIN_ELEMENTS:
        return reference_rmsnorm.rmsnorm_forward(x, weight, eps)
    return numba_fused.rmsnorm_forward(x, weight, eps)


def rmsnorm_backward(dout, cache):
    if dout.size < FUSED_MIN_ELEMENTS:
        return reference_rmsnorm.rmsnorm_backward(dout, cache)
    return numba_fused.rmsnorm_backward(dout, cache)


def swiglu_forward(gate, up):
    if gate.size < FUSED_MIN_ELEMENTS:
        return reference_swiglu.swiglu_forward(gate, up)
    return numba_fused.swiglu_forward(gate, up)


def swiglu_backward(dout, cache):
    if dout.size < FUSED_MIN_ELEMENTS:
        return reference_swiglu.swiglu_backward(dout, cache)
    return numba_fused.swiglu_backward(dout, cache)


reads_bfloat16_weights = True  # linear_forward below multiplies BFloat16Matrix weights as they are


def linear_forward(x, weight):
    """The reference linear, except for BFloat16Matrix weights (decoding with
    ``Qwen3Model.with_bfloat16_decoding``): those go to the bfloat16 kernel, which reads 2 bytes
    per weight instead of the 4 of a widened float32 copy.  Same contract and cache."""
    if isinstance(weight, reference_linear.BFloat16Matrix):
        return bf16_linear(x, weight.bits), (x, weight)
    return reference_linear.linear_forward(x, weight)


def attention_forward(q, k, v, key_mask, scale):
    """The backend's attention: the reference below FUSED_ATTENTION_MIN_KEYS keys, the fused kernel above."""
    if k.shape[2] < FUSED_ATTENTION_MIN_KEYS:
        return reference_attention.attention_forward(q, k, v, key_mask, scale)
    return numba_attention.attention_forward(q, k, v, key_mask, scale)


# The cross-entropy pair is exported together: its cache (logsumexp per row) is not the reference's.

__all__ = [
    "reads_bfloat16_weights", "linear_forward",
    "attention_forward", "attention_backward",
    "rmsnorm_forward", "rmsnorm_backward",
    "swiglu_forward", "swiglu_backward",
    "rope_forward", "rope_backward",
    "cross_entropy_forward", "cross_entropy_backward",
    "bf16_linear",
]
