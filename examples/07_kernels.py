# %% [markdown]
# # Stage 7: accelerated backends, always checked against the NumPy reference
# The model calls its hot ops (attention, RMSNorm, RoPE, SwiGLU, cross-entropy) through one
# namespace chosen by `minireason.backend`; the Numba kernels implement the same contracts.
# Needs the `fast` extra: `pip install -e ".[fast]"`.

# %%
import time

import numpy as np

from minireason import Qwen3Model
from minireason.backend import get_ops
from minireason.config import PRESETS

numba_ops = get_ops("numba")  # compiles (or loads from cache) the kernels on first use
print("ops replaced by the numba backend:",
      [name for name, fn in vars(numba_ops).items() if callable(fn) and fn is not getattr(get_ops("numpy"), name)])

# %%
config = PRESETS["test-small"]
reference = Qwen3Model.from_config(config, seed=0, dtype="float64")
accelerated = Qwen3Model(config, reference.params, backend="numba")
ids = np.random.default_rng(0).integers(0, config.vocab_size, (2, 128))
loss_reference, grads_reference = reference.loss_and_grads(ids[:, :-1], ids[:, 1:])
loss_numba, grads_numba = accelerated.loss_and_grads(ids[:, :-1], ids[:, 1:])
worst = max(float(np.abs(grads_reference[k] - grads_numba[k]).max()) for k in grads_reference)
print(f"loss reference {loss_reference:.12f}, numba {loss_numba:.12f}; largest gradient difference {worst:.2e}")

# %% [markdown]
# Attention at longer contexts: the reference materialises the (T, T) scores, the kernel never does.

# %%
rng = np.random.default_rng(0)
for T in (256, 1024):
    q = rng.standard_normal((1, 8, T, 64)).astype(np.float32)
    k, v = (rng.standard_normal((1, 4, T, 64)).astype(np.float32) for _ in range(2))
    for name in ("numpy", "numba"):
        ops = get_ops(name)
        ops.attention_forward(q, k, v, None, 0.125)  # warm up
        start = time.perf_counter()
        out, cache = ops.attention_forward(q, k, v, None, 0.125)
        ops.attention_backward(out, cache)
        print(f"T={T:5d} {name:6s} forward+backward {1000 * (time.perf_counter() - start):8.1f} ms")
