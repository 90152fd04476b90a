"""The Numba CPU backend: the op names ``minireason.backend`` looks up, each bound to the kernel
that replaced the NumPy reference on a measurement (benchmarks/bench_kernels.py, docs/kernels.md).

Ops not exported here fall back to the reference.  Importing this module fails with ImportError
when numba (or scipy, which numba needs for np.dot) is missing; the backend turns that into a ConfigError naming the ``fast`` extra.
"""

from __future__ import annotations

import scipy.linalg  # noqa: F401  (numba compiles np.dot to BLAS through scipy; fail here, with the install hint)
from minireason.kernels import numba_attention
from minireason.kernels.numba_attention import attention_backward
from minireason.kernels.numba_decode import bf16_linear
from minireason.kernels.numba_fused import rmsnorm_backward, rmsnorm_forward, swiglu_backward, swiglu_forward
from minireason.kernels.numba_loss import token_logprobs_backward, token_logprobs_forward
from minireason.kernels.numba_rope import rope_backward, rope_forward

from minireason.nn import attention as reference_attention
from minireason.nn import linear as reference_linear

# The fused attention wins from about 128 keys on (fwd+bwd, float32, H=8, Hkv=4, Dh=64, each call
# right after a NumPy matrix product as in the model, best of 15, load 0.7: B=1 T=32 0.9x, T=64
# 1.0x, T=128 1.1x, T=256 2.1x; B=4 T=64 1.0x, T=128 2.3x; docs/kernels.md); below that the
# reference's batched BLAS products are as fast, so short sequences go to the reference.
# attention_backward recognises either cache.
FUSED_ATTENTION_MIN_KEYS = 128


reads_bfloat16_weights = True  # linear_forward below multiplies BFloat16Matrix weights as they are


def linear_forward(x, weight):
    """The reference linear, except for BFloat16Matrix weights (decoding with
    ``Qwen3Model.with_bfloat16_decoding``): those go to the bfloat16 kernel, which reads 2 bytes
    per weight instead of the 4 of a widened float32 copy.  Same contract and cache."""
    if isinstance(weight, reference_linear.BFloat16Matrix):
        return bf16_linear(x, weight.bits), (x, weight)
    return reference_linear.linear_forward(x, weight)


def attention_forward(q, k, v, key_mask, scale):
    """The backend's attention: one new query per row (decoding) goes to the decode kernel, other
    inputs to the reference below FUSED_ATTENTION_MIN_KEYS keys and to the fused kernel above."""
    if q.shape[2] == 1:
        return numba_attention.decode_attention_forward(q, k, v, key_mask, scale)
    if k.shape[2] < FUSED_ATTENTION_MIN_KEYS:
        return reference_attention.attention_forward(q, k, v, key_mask, scale)
    return numba_attention.attention_forward(q, k, v, key_mask, scale)


# The token log-probability pair (the loss seam; cross-entropy and every other training loss go
# through it) is exported together: its cache (a logsumexp per row) is not the reference's.

__all__ = [
    "reads_bfloat16_weights", "linear_forward",
    "attention_forward", "attention_backward",
    "rmsnorm_forward", "rmsnorm_backward",
    "swiglu_forward", "swiglu_backward",
    "rope_forward", "rope_backward",
    "token_logprobs_forward", "token_logprobs_backward",
    "bf16_linear",
]
