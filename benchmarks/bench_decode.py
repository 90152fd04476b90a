"""Decode tokens/s per backend against the memory-bandwidth bound, and where a decode step's time goes.

    python benchmarks/bench_decode.py                                   # small and qwen3-0.6b, batch 1 and 16
    python benchmarks/bench_decode.py --presets small --batch-sizes 1

For each preset (random weights), backend and batch size it prints cached decode tokens/s (one
token per step through the KV cache, ``context`` tokens already in it) and splits a step into
- "matmul": the same matrix products alone, back to back in BLAS (every projection of every
  layer and the head, at this batch size): the floor for a float32 step;
- "other": the rest (Python, RoPE, norms, attention over the cache, small NumPy ops).
At batch 1 every weight is read once per token, so tokens/s <= bandwidth / bytes of weights
read (embedding rows are gathered, not read whole, unless tied to the head).  The bandwidth is
measured by a one-pass probe right after each batch-1 step (benchmarks/memory_bandwidth.py; the
machine's bandwidth moves), and "of bound" is the step's bytes/s over the median probe ("GB/s").
"bf16 matmul" is the same products with bfloat16 weights through
``minireason.kernels.numba_decode.bf16_linear`` (half the bytes: the bf16 bound).  The backend
"numba-bf16" is the numba backend on ``model.with_bfloat16_decoding()``: the model decoding
from those bfloat16 weights; its "of bound" column is against the bf16 bound.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from memory_bandwidth import bandwidth_probe, read_bandwidth

from minireason import runtime
from minireason.config import PRESETS
from minireason.generation.kv_cache import KVCache
from minireason.io.safetensors import float32_to_bfloat16_bits
from minireason.model import Qwen3Model, layer_prefix

PROJECTIONS = ("self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
               "self_attn.o_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight")


def decode_seconds_per_step(model, batch_size, context, steps, rng, probe=None):
    """Median seconds of a cached one-token step; with ``probe`` (a bandwidth_probe), also the
    median over steps of (bytes/s of a probe pass right after the step): (seconds, bandwidth)."""
    cache = KVCache(model.config, batch_size, context + steps + 1, dtype=model.dtype, array_module=model.array_module)
    prompt = rng.integers(0, model.config.vocab_size, (batch_size, context))  # (B, L)
    logits, _ = model.forward(prompt, kv_cache=cache, last_only=True)
    tokens = logits[:, -1].argmax(-1)[:, None]  # (B, 1)
    model.forward(tokens, kv_cache=cache, last_only=True)  # warm-up step (compiles T = 1 kernels)
    times, bandwidths = [], []
    for _ in range(steps):
        start = time.perf_counter()
        logits, _ = model.forward(tokens, kv_cache=cache, last_only=True)
        tokens = logits[:, -1].argmax(-1)[:, None]
        times.append(time.perf_counter() - start)
        if probe is not None:
            bandwidths.append(probe())
    return float(np.median(times)), (float(np.median(bandwidths)) if bandwidths else None)


def weight_matrices(model):
    """The matrices one decode step multiplies by, in order, (out, in) each."""
    matrices = [model.params[layer_prefix(layer) + name]
                for layer in range(model.config.num_hidden_layers) for name in PROJECTIONS]
    return matrices + [model.head_weight()]


def bytes_read_per_token(model) -> int:
    """Weights a batch-1 step must read: every matrix above and the norm vectors."""
    norms = sum(value.nbytes for name, value in model.params.items() if value.ndim == 1)
    return sum(matrix.nbytes for matrix in weight_matrices(model)) + norms


def matmul_seconds(matrices, batch_size, product, repeats=3):
    rng = np.random.default_rng(0)
    inputs = {n_in: rng.standard_normal((batch_size, n_in)).astype(np.float32)  # (B, in) per input width
              for n_in in {matrix.shape[1] for matrix in matrices}}
    best = float("inf")
    for _ in range(repeats + 1):  # the first pass warms up (and compiles)
        start = time.perf_counter()
        for matrix in matrices:
            product(inputs[matrix.shape[1]], matrix)
        best = min(best, time.perf_counter() - start)
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["small", "qwen3-0.6b"])
    parser.add_argument("--backends", nargs="+", default=["numpy", "numba", "numba-bf16"],
                        help="numpy, numba, numba-bf16 (numba decoding from bfloat16 weights), cupy (the GPU); "
                             "numba-bf16 and cupy replace the model, so they go last")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 16])
    parser.add_argument("--context", type=int, default=64)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args(argv)
    runtime.activate(runtime.DECODE)  # decoding's process settings, as generate() switches them
    bandwidth = read_bandwidth()
    print(f"numpy {np.__version__}, {os.cpu_count()} CPU(s), OPENBLAS_NUM_THREADS="
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, read bandwidth {bandwidth / 1e9:.1f} GB/s, "
          f"load average {os.getloadavg()[0]:.2f}")
    print("(a shared machine's bandwidth moves with its neighbours' load, so at batch 1 each step is followed by a\n"
          " one-pass bandwidth probe; 'of bound' uses the median probe of those steps, shown as 'GB/s')")
    probe = bandwidth_probe()
    for preset in args.presets:
        model = Qwen3Model.from_config(PRESETS[preset], seed=0)
        matrices = weight_matrices(model)
        weight_bytes = bytes_read_per_token(model)
        bound = bandwidth / weight_bytes
        print(f"\n## {preset}: {weight_bytes / 2**20:.0f} MiB of float32 weights read per step; batch-1 bound "
              f"{bound:.1f} tokens/s (float32), {2 * bound:.1f} tokens/s (bf16)")
        matmul = {batch: matmul_seconds(matrices, batch, lambda x, w: x @ w.T) for batch in args.batch_sizes}
        bf16 = {}
        try:
            from minireason.kernels import numba_decode

            bits = [float32_to_bfloat16_bits(matrix) for matrix in matrices]
            bf16 = {batch: matmul_seconds(bits, batch, numba_decode.bf16_linear) for batch in args.batch_sizes}
        except ImportError:
            pass
        del matrices  # (so that the bf16 model below need not live beside two float32 copies)
        print(f"{'backend':>10} {'batch':>5} {'tokens/s':>9} {'step ms':>8} {'matmul ms':>9} {'other ms':>8} "
              f"{'bf16 matmul ms':>14} {'of bound':>8} {'GB/s':>5}")
        for backend in args.backends:
            bfloat16 = backend == "numba-bf16"
            if bfloat16:
                model.backend = "numba"
                model = model.with_bfloat16_decoding()
            elif backend == "cupy":  # a copy of the weights on the GPU; each step's token ids come back
                model = Qwen3Model(model.config, model.params, backend="cupy")  # to the host, which syncs
            else:
                model.backend = backend
            for batch in args.batch_sizes:
                host = backend != "cupy"  # the probe reads host memory: no bound for a GPU's step
                step, step_bandwidth = decode_seconds_per_step(model, batch, args.context, args.steps,
                                                               np.random.default_rng(1),
                                                               probe if batch == 1 and host else None)
                fraction, shown_bandwidth = f"{'':>8}", f"{'':>5}"
                if batch == 1 and host:
                    bytes_per_token = weight_bytes / 2 if bfloat16 else weight_bytes
                    fraction = f"{(bytes_per_token / step) / step_bandwidth:>8.0%}"
                    shown_bandwidth = f"{step_bandwidth / 1e9:>5.1f}"
                bf16_ms = f"{bf16[batch] * 1e3:>14.2f}" if batch in bf16 else f"{'n/a':>14}"
                print(f"{backend:>10} {batch:>5} {batch / step:>9.1f} {step * 1e3:>8.2f} {matmul[batch] * 1e3:>9.2f} "
                      f"{(step - matmul[batch]) * 1e3:>8.2f} {bf16_ms} {fraction} {shown_bandwidth}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
