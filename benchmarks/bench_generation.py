"""Decode speed with and without the KV cache, peak memory, PyTorch comparison, bandwidth bound.

    python benchmarks/bench_generation.py                     # test-tiny and small (a few minutes at most)
    python benchmarks/bench_generation.py --qwen3-0.6b        # also the Qwen3-0.6B shape (random weights)

For each preset, batch size and context length L it prints decode tokens/s:
- "cached": one token per step through the KV cache (what ``generate`` does): the per-token cost
  grows only through attention, O(L), so generating N tokens costs O(N L);
- "no cache": the whole context re-run for every new token: O(L) projections plus O(L^2)
  attention per token, so generating N tokens costs O(N L^2);
- "torch": PyTorch eager with its own preallocated KV cache, same weights, same thread count
  (only when ``import torch`` works; torch is never a dependency).
For Qwen3-0.6B it also prints the memory-bandwidth bound: every decode step must read all weights
once, so tokens/s <= read bandwidth / bytes of weights (benchmarks/memory_bandwidth.py).
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc

import numpy as np
from memory_bandwidth import read_bandwidth

from minireason.config import PRESETS
from minireason.generation.generate import generate
from minireason.generation.kv_cache import KVCache
from minireason.model import Qwen3Model, head_parameter_name


def time_cached_decode(model, batch_size, context, steps, rng):
    """Seconds per decode step at ``context`` tokens already in the cache."""
    config = model.config
    cache = KVCache(config, batch_size, context + steps, dtype=model.dtype, array_module=model.array_module)
    prompt = rng.integers(0, config.vocab_size, (batch_size, context))  # (B, L)
    logits, _ = model.forward(prompt, kv_cache=cache, last_only=True)
    tokens = logits[:, -1].argmax(-1)[:, None]  # (B, 1)
    start = time.perf_counter()
    for _ in range(steps):
        logits, _ = model.forward(tokens, kv_cache=cache, last_only=True)
        tokens = logits[:, -1].argmax(-1)[:, None]
    return (time.perf_counter() - start) / steps


def time_uncached_decode(model, batch_size, context, repeats, rng):
    """Seconds per new token when the whole context is recomputed (a forward over L tokens)."""
    sequence = rng.integers(0, model.config.vocab_size, (batch_size, context))
    model.forward(sequence[:, :8], last_only=True)  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        model.forward(sequence, last_only=True)
    return (time.perf_counter() - start) / repeats


def peak_generate_memory(model, batch_size, context, new_tokens, rng):
    """Peak bytes NumPy allocates during one ``generate`` call (weights excluded: they exist before)."""
    prompts = rng.integers(0, model.config.vocab_size, (batch_size, context)).tolist()

    class IdTokenizer:
        eos_token_id, pad_token_id = None, 0

        @staticmethod
        def decode(ids):
            return " ".join(map(str, ids))

    tracemalloc.start()
    generate(model, IdTokenizer(), prompts, new_tokens, stop_token_ids=[])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


# ----------------------------------------------------------------------------- PyTorch eager reference


def torch_decoder(model):
    """A PyTorch eager Qwen3 decode step with a preallocated KV cache, sharing the model's weights."""
    import torch

    config = model.config
    H, Hkv, Dh, eps = config.num_attention_heads, config.num_key_value_heads, config.head_dim, config.rms_norm_eps
    weights = {name: torch.from_numpy(value) for name, value in model.params.items()}
    head = weights[head_parameter_name(config)]
    inverse_frequencies = 1.0 / (config.rope_theta ** (torch.arange(0, Dh, 2, dtype=torch.float32) / Dh))

    def rmsnorm(x, weight):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight

    def rope(x, positions):  # x (B, heads, T, Dh), positions (T,)
        angles = positions[:, None].float() * inverse_frequencies  # (T, Dh/2)
        angles = torch.cat([angles, angles], dim=-1)
        half = Dh // 2
        rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * angles.cos() + rotated * angles.sin()

    class Decoder:
        def __init__(self, batch_size, max_len):
            shape = (batch_size, Hkv, max_len, Dh)
            self.keys = [torch.zeros(shape) for _ in range(config.num_hidden_layers)]
            self.values = [torch.zeros(shape) for _ in range(config.num_hidden_layers)]
            self.length = 0

        @torch.inference_mode()
        def forward(self, token_ids):  # (B, T) -> last logits (B, V)
            B, T = token_ids.shape
            positions = torch.arange(self.length, self.length + T)
            x = weights["model.embed_tokens.weight"][token_ids]
            for layer in range(config.num_hidden_layers):
                p = f"model.layers.{layer}."
                normed = rmsnorm(x, weights[p + "input_layernorm.weight"])
                q = (normed @ weights[p + "self_attn.q_proj.weight"].T).view(B, T, H, Dh)
                k = (normed @ weights[p + "self_attn.k_proj.weight"].T).view(B, T, Hkv, Dh)
                v = (normed @ weights[p + "self_attn.v_proj.weight"].T).view(B, T, Hkv, Dh)
                q = rope(rmsnorm(q, weights[p + "self_attn.q_norm.weight"]).transpose(1, 2), positions)
                k = rope(rmsnorm(k, weights[p + "self_attn.k_norm.weight"]).transpose(1, 2), positions)
                end = self.length + T
                self.keys[layer][:, :, self.length:end] = k
                self.values[layer][:, :, self.length:end] = v.transpose(1, 2)
                attended = torch.nn.functional.scaled_dot_product_attention(
                    q, self.keys[layer][:, :, :end], self.values[layer][:, :, :end],
                    is_causal=T > 1, enable_gqa=True)
                x = x + attended.transpose(1, 2).reshape(B, T, H * Dh) @ weights[p + "self_attn.o_proj.weight"].T
                normed = rmsnorm(x, weights[p + "post_attention_layernorm.weight"])
                gate = normed @ weights[p + "mlp.gate_proj.weight"].T
                up = normed @ weights[p + "mlp.up_proj.weight"].T
                x = x + (torch.nn.functional.silu(gate) * up) @ weights[p + "mlp.down_proj.weight"].T
            self.length += T
            return rmsnorm(x[:, -1], weights["model.norm.weight"]) @ head.T

    return Decoder


def time_torch_decode(model, batch_size, context, steps, rng):
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    Decoder = torch_decoder(model)
    decoder = Decoder(batch_size, context + steps)
    prompt = rng.integers(0, model.config.vocab_size, (batch_size, context))
    logits = decoder.forward(torch.from_numpy(prompt))
    reference = model.forward(prompt, last_only=True)[0][:, -1]
    assert np.allclose(logits.numpy(), reference, atol=2e-3, rtol=2e-3), "torch and numpy disagree"
    tokens = logits.argmax(-1)[:, None]
    start = time.perf_counter()
    for _ in range(steps):
        tokens = decoder.forward(tokens).argmax(-1)[:, None]
    return (time.perf_counter() - start) / steps


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


# ----------------------------------------------------------------------------- the report


def bench_preset(name, contexts, batch_sizes, steps, with_torch, uncached_limit):
    config = PRESETS[name]
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    model = Qwen3Model.from_config(config, seed=0)
    weight_bytes = model.num_parameters() * model.dtype.itemsize
    print(f"\n## {name}: {model.num_parameters() / 1e6:.1f}M parameters, {weight_bytes / 2**20:.0f} MiB float32 "
          f"(built in {time.perf_counter() - start:.1f} s)")
    print(f"{'batch':>5} {'context':>7} {'cached tok/s':>13} {'no-cache tok/s':>15} {'torch tok/s':>12} "
          f"{'cached/torch':>12}")
    for batch_size in batch_sizes:
        for context in contexts:
            if context + steps > config.max_position_embeddings:
                continue
            cached = batch_size / time_cached_decode(model, batch_size, context, steps, rng)
            uncached = (batch_size / time_uncached_decode(model, batch_size, context, 1, rng)
                        if batch_size * context <= uncached_limit else float("nan"))
            torch_rate = (batch_size / time_torch_decode(model, batch_size, context, steps, rng)
                          if with_torch else float("nan"))
            print(f"{batch_size:>5} {context:>7} {cached:>13.1f} {uncached:>15.1f} {torch_rate:>12.1f} "
                  f"{cached / torch_rate:>12.2f}")
    for batch_size in batch_sizes:
        context = min(contexts[-1], config.max_position_embeddings - 32)
        peak = peak_generate_memory(model, batch_size, context, 16, rng)
        cache_bytes = KVCache(config, batch_size, context + 16, dtype=model.dtype).nbytes()
        print(f"peak memory of generate(batch {batch_size}, prompt {context}, 16 new): {peak / 2**20:.1f} MiB "
              f"above the weights (KV cache alone: {cache_bytes / 2**20:.1f} MiB)")
    return model, weight_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="test-tiny,small")
    parser.add_argument("--contexts", default="64,256,1024")
    parser.add_argument("--batch-sizes", default="1,16")
    parser.add_argument("--steps", type=int, default=8, help="decode steps timed per measurement")
    parser.add_argument("--qwen3-0.6b", dest="qwen", action="store_true", help="also the Qwen3-0.6B shape (slow)")
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args()
    contexts = [int(c) for c in args.contexts.split(",")]
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    with_torch = torch_available() and not args.no_torch
    print(f"numpy {np.__version__}, {os.cpu_count()} CPU(s), torch comparison: {'yes' if with_torch else 'no'}")
    for name in args.presets.split(","):
        bench_preset(name, contexts, batch_sizes, args.steps, with_torch, uncached_limit=16 * 256)
    if args.qwen:
        model, weight_bytes = bench_preset("qwen3-0.6b", [64, 512], batch_sizes, 4, with_torch, uncached_limit=512)
        bandwidth = read_bandwidth()
        bound = bandwidth / weight_bytes
        cached = 1 / time_cached_decode(model, 1, 64, 4, np.random.default_rng(1))
        print(f"memory bandwidth (numpy copy): {bandwidth / 1e9:.1f} GB/s; weights {weight_bytes / 1e9:.2f} GB "
              f"-> bound {bound:.2f} tokens/s at batch 1; measured {cached:.2f} tokens/s = {cached / bound:.0%} of it")


if __name__ == "__main__":
    main()
