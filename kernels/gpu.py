"""The CuPy backend: arrays on the GPU, matrix products on cuBLAS, attention, RMSNorm and SwiGLU as
``numba.cuda`` kernels (``cuda_ops``, ``cuda_kernels``).

Importing this module needs CuPy (the ``gpu`` extra); ``minireason.backend`` turns the
ImportError into a ConfigError that names the extra.  ``array_module = cupy`` tells the model
to keep its parameters, activations, gradients and KV cache on the GPU; the ops not in
``cuda_ops.DISPATCH`` (RoPE, the linear layers, the token log-probabilities) and the embedding are the
NumPy reference, whose calls CuPy arrays dispatch to CuPy (``minireason.device``).
"""

from __future__ import annotations

import cupy
from minireason.kernels.cuda_ops import DISPATCH

array_module = cupy

__all__ = ["DISPATCH", "array_module"]
