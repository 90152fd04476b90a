# %% [markdown]
# # Accelerated backends, always checked against the NumPy reference
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
        best = float("inf")
        for _ in range(3):  # best of 3: single calls on a busy machine are noisy
            start = time.perf_counter()
            out, cache = ops.attention_forward(q, k, v, None, 0.125)
            ops.attention_backward(out, cache)
            best = min(best, time.perf_counter() - start)
        print(f"T={T:5d} {name:6s} forward+backward {1000 * best:8.1f} ms")

# %% [markdown]
# Decoding one token reads every weight once, so its speed is memory bandwidth. With
# `with_bfloat16_decoding()` the weights are rounded to bfloat16 and one-token steps read 2-byte
# copies through a Numba kernel (prefill and training keep float32 copies of the same numbers).
# Each model decodes once untimed first: the first call of a kernel compiles it (or loads it from
# Numba's cache), and that would otherwise be timed as decoding. The "small" preset's 100 MB of
# float32 weights do not fit in the caches, so the 2-byte copies decode faster; on models that do
# fit (the built-in ones) bfloat16 decoding is slower (docs/kernels.md).

# %%
from minireason.generation.kv_cache import KVCache  # noqa: E402

float32_model = Qwen3Model.from_config(PRESETS["small"], seed=0, backend="numba")
bfloat16_model = float32_model.with_bfloat16_decoding()
rounded_model = Qwen3Model(PRESETS["small"], bfloat16_model.params, backend="numba")  # same numbers, float32 path
prompt = rng.integers(0, PRESETS["small"].vocab_size, (1, 32))


def greedy_decode(model, new_tokens: int) -> tuple[list[int], float]:
    """(the greedy tokens after the prompt, seconds of the one-token steps, the prefill not counted)."""
    cache = KVCache(model.config, 1, prompt.shape[1] + new_tokens + 1)
    logits, _ = model.forward(prompt, kv_cache=cache, last_only=True)
    tokens = []
    start = time.perf_counter()
    for _ in range(new_tokens):
        token = logits[:, -1].argmax(-1)[:, None]  # (1, 1) greedy
        tokens.append(int(token[0, 0]))
        logits, _ = model.forward(token, kv_cache=cache, last_only=True)
    return tokens, time.perf_counter() - start


models = {"float32 weights": rounded_model, "bfloat16 weights": bfloat16_model}
for model in models.values():
    greedy_decode(model, 4)  # warm up: compile or load the kernels this path calls
best, greedy_tokens = {name: float("inf") for name in models}, {}
NEW_TOKENS = 32
for _ in range(2):  # in turns, best of 2: a busy machine slows both alike, and single runs are noisy
    for name, model in models.items():
        greedy_tokens[name], seconds = greedy_decode(model, NEW_TOKENS)
        best[name] = min(best[name], seconds)
for name in models:
    print(f"{name}: {NEW_TOKENS / best[name]:6.1f} tokens/s")
print("the same greedy tokens from both (the same numbers):", len(set(map(tuple, greedy_tokens.values()))) == 1)
