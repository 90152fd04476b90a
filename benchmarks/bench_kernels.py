"""Per-op speedups of the Numba kernels over the NumPy reference, and attention's time and memory.

    python benchmarks/bench_kernels.py                  # all ops, attention at T = 256, 1024, 4096
    python benchmarks/bench_kernels.py --lengths 256 1024 --repeats 3
    python benchmarks/bench_kernels.py --attention-only --lengths 1024 --heads 16 --kv-heads 8 --head-dim 128
    python benchmarks/bench_kernels.py --token-logprobs-only --repeats 3
    python benchmarks/bench_kernels.py --linear-only        # decoding's products, small preset's weights

Times are the best of ``--repeats`` runs after one warm-up (which also compiles); attention's and
the token log-probabilities' reference and kernel are timed in alternating turns of 5 calls,
``--repeats`` turns each (NumPy's OpenBLAS threads spin for about 0.1 s after the reference's
products and slow the kernel calls that start in that window; see docs/kernels.md).  Peak memory is the largest amount of
NumPy-allocated memory alive during the call (tracemalloc), above what was alive before it;
kernel-internal scratch tiles (a few KiB per thread) are not counted.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
from minireason.kernels import numba_attention, numba_decode, numba_fused, numba_loss, numba_rope
from timing import best_seconds

from minireason.io.safetensors import float32_to_bfloat16_bits
from minireason.nn import attention, loss, rmsnorm, rope, swiglu


def best_times_interleaved(first, second, repeats: int, calls_per_turn: int = 5) -> tuple[float, float]:
    """Best time of each of two functions, timed in turns of ``calls_per_turn`` calls, ``repeats``
    turns each, so that a change in the machine's load hits both alike.  Several calls per turn:
    NumPy's OpenBLAS threads spin for a while after the reference's products and slow the kernel
    calls right after them (docs/kernels.md), which the best of a turn leaves out."""
    best = [float("inf"), float("inf")]
    first()  # warm-up: compiles, touches memory
    second()
    for _ in range(repeats):
        for index, function in enumerate((first, second)):
            for _ in range(calls_per_turn):
                start = time.perf_counter()
                function()
                best[index] = min(best[index], time.perf_counter() - start)
    return best[0], best[1]


def peak_bytes(function) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    baseline = tracemalloc.get_traced_memory()[0]
    function()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - baseline


def forward_backward(module, q, k, v, dout, scale):
    def run():
        out, cache = module.attention_forward(q, k, v, None, scale)
        return module.attention_backward(dout, cache)
    return run


def bench_attention(lengths, repeats, batch, heads, kv_heads, head_dim, reference_limit):
    print(f"attention forward+backward, float32, B={batch} H={heads} Hkv={kv_heads} Dh={head_dim}, causal")
    print(f"{'T':>6} {'reference ms':>13} {'fused ms':>9} {'speedup':>8} {'reference MiB':>14} {'fused MiB':>10}")
    rng = np.random.default_rng(0)
    split = []
    for T in lengths:
        q = rng.standard_normal((batch, heads, T, head_dim)).astype(np.float32)
        k = rng.standard_normal((batch, kv_heads, T, head_dim)).astype(np.float32)
        v = rng.standard_normal((batch, kv_heads, T, head_dim)).astype(np.float32)
        dout = rng.standard_normal(q.shape).astype(np.float32)
        fused = forward_backward(numba_attention, q, k, v, dout, head_dim**-0.5)
        if T <= reference_limit:
            reference = forward_backward(attention, q, k, v, dout, head_dim**-0.5)
            reference_time, fused_time = best_times_interleaved(reference, fused, repeats)
            reference_memory = peak_bytes(reference)
            fused_memory = peak_bytes(fused)
            print(f"{T:>6} {reference_time * 1e3:>13.1f} {fused_time * 1e3:>9.1f} {reference_time / fused_time:>7.1f}x "
                  f"{reference_memory / 2**20:>14.1f} {fused_memory / 2**20:>10.1f}")
        else:
            fused_time, fused_memory = best_seconds(fused, repeats), peak_bytes(fused)
            print(f"{T:>6} {'skipped':>13} {fused_time * 1e3:>9.1f} {'':>8} {'':>14} {fused_memory / 2**20:>10.1f}")
        split.append((T, *fused_forward_and_backward_seconds(q, k, v, dout, head_dim**-0.5, repeats)))
    print("the fused kernel's forward and backward apart, and the rate of the tile products they run "
          "(2 forward, 5 backward; exp, masks and all counted as time)")
    for T, forward_time, backward_time in split:
        flops = tile_product_flops(batch, heads, T, head_dim)
        causal = batch * heads * T * (T + 1) / 2 * head_dim * 2  # one product over exactly the causal half
        print(f"{T:>6} forward {forward_time * 1e3:7.2f} ms {2 * flops / forward_time / 1e9:5.0f} GFLOP/s   "
              f"backward {backward_time * 1e3:7.2f} ms {5 * flops / backward_time / 1e9:5.0f} GFLOP/s   "
              f"({flops / 1e9:.3f} GFLOP a product, {flops / causal - 1:.0%} above the causal half)")


def tile_product_flops(batch, heads, T, head_dim) -> float:
    """Multiply-add flops of one of the kernel's tile products over all heads: a block of query rows
    [t0, t1) meets the keys before t1 (the last tile cut at the diagonal's end)."""
    block = numba_attention.QUERY_BLOCK
    keys_met = sum(min(T, t0 + block) * (min(T, t0 + block) - t0) for t0 in range(0, T, block))
    return 2.0 * batch * heads * keys_met * head_dim


def fused_forward_and_backward_seconds(q, k, v, dout, scale, repeats):
    forward_time = backward_time = float("inf")
    numba_attention.attention_backward(dout, numba_attention.attention_forward(q, k, v, None, scale)[1])
    for _ in range(4 * repeats):
        start = time.perf_counter()
        _, cache = numba_attention.attention_forward(q, k, v, None, scale)
        middle = time.perf_counter()
        numba_attention.attention_backward(dout, cache)
        forward_time, backward_time = min(forward_time, middle - start), min(backward_time, time.perf_counter() - middle)
    return forward_time, backward_time


def bench_decode_attention(repeats, batch, heads, kv_heads, head_dim, context):
    rng = np.random.default_rng(1)
    q = rng.standard_normal((batch, heads, 1, head_dim)).astype(np.float32)
    k = rng.standard_normal((batch, kv_heads, context, head_dim)).astype(np.float32)
    v = rng.standard_normal((batch, kv_heads, context, head_dim)).astype(np.float32)
    reference = best_seconds(lambda: attention.attention_forward(q, k, v, None, 0.125), repeats)
    fused = best_seconds(lambda: numba_attention.decode_attention_forward(q, k, v, None, 0.125), repeats)
    print(f"decode attention (T=1, S={context}, B={batch}): reference {reference * 1e6:.0f} us, "
          f"fused {fused * 1e6:.0f} us, {reference / fused:.1f}x")


def token_logprobs_step(module, logits, targets, dlogp, dentropy):
    """The loss seam's op pair, forward then backward (with the entropy when dentropy is given)."""
    def run():
        _, cache = module.token_logprobs_forward(logits, targets, 1.0, dentropy is not None)
        return module.token_logprobs_backward(dlogp, dentropy, cache)
    return run


def bench_token_logprobs(repeats):
    """The loss seam's op pair, forward + backward, float32, kernel against reference in turns."""
    rng = np.random.default_rng(3)
    print("token log-probabilities forward+backward, float32, temperature 1 (kernel and reference in turns)")
    for rows, vocab in ((1024, 8192), (256, 151936)):  # small preset 4 x 256; Qwen3 vocabulary
        logits = rng.standard_normal((1, rows, vocab)).astype(np.float32)
        targets = rng.integers(0, vocab, size=(1, rows))
        dlogp = rng.standard_normal((1, rows)).astype(np.float32)
        dentropy = rng.standard_normal((1, rows)).astype(np.float32)
        for with_entropy in (False, True):
            reference, kernel = (token_logprobs_step(module, logits, targets, dlogp, dentropy if with_entropy else None)
                                 for module in (loss, numba_loss))
            reference_time, kernel_time = best_times_interleaved(reference, kernel, repeats)
            name = f"({rows}, {vocab}){' + entropy' if with_entropy else ''}"
            print(f"{name:<24} reference {reference_time * 1e3:>7.1f} ms  kernel {kernel_time * 1e3:>6.1f} ms  "
                  f"{reference_time / kernel_time:>5.1f}x   peak memory: reference "
                  f"{peak_bytes(reference) / 2**20:.0f} MiB, kernel {peak_bytes(kernel) / 2**20:.0f} MiB")


def bench_elementwise(repeats):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 256, 512)).astype(np.float32)  # small preset, batch 4 x 256
    weight = rng.standard_normal(512).astype(np.float32)
    dx = rng.standard_normal(x.shape).astype(np.float32)
    gate = rng.standard_normal((4, 256, 1536)).astype(np.float32)
    up = rng.standard_normal(gate.shape).astype(np.float32)
    dh = rng.standard_normal(gate.shape).astype(np.float32)
    _, norm_cache = rmsnorm.rmsnorm_forward(x, weight, 1e-6)
    _, fused_norm_cache = numba_fused.rmsnorm_forward(x, weight, 1e-6)
    _, swiglu_cache = swiglu.swiglu_forward(gate, up)
    _, fused_swiglu_cache = numba_fused.swiglu_forward(gate, up)
    cases = [
        ("rmsnorm forward (4,256,512)", lambda: rmsnorm.rmsnorm_forward(x, weight, 1e-6),
         lambda: numba_fused.rmsnorm_forward(x, weight, 1e-6)),
        ("rmsnorm backward", lambda: rmsnorm.rmsnorm_backward(dx, norm_cache),
         lambda: numba_fused.rmsnorm_backward(dx, fused_norm_cache)),
        ("swiglu forward (4,256,1536)", lambda: swiglu.swiglu_forward(gate, up),
         lambda: numba_fused.swiglu_forward(gate, up)),
        ("swiglu backward", lambda: swiglu.swiglu_backward(dh, swiglu_cache),
         lambda: numba_fused.swiglu_backward(dh, fused_swiglu_cache)),
    ]
    for shape in ((4, 8, 256, 64), (16, 16, 1, 128)):  # small-preset training step; Qwen3-0.6B decode, batch 16
        batch, _, length, head_dim = shape
        queries = rng.standard_normal(shape).astype(np.float32)
        cos, sin = rope.rope_tables(np.broadcast_to(np.arange(length), (batch, length)), head_dim, 1e6)
        _, rope_cache = rope.rope_forward(queries, cos, sin)
        cases.append((f"rope forward {shape}", lambda q=queries, c=cos, s=sin: rope.rope_forward(q, c, s),
                      lambda q=queries, c=cos, s=sin: numba_rope.rope_forward(q, c, s)))
        cases.append((f"rope backward {shape}", lambda q=queries, c=rope_cache: rope.rope_backward(q, c),
                      lambda q=queries, c=rope_cache: numba_rope.rope_backward(q, c)))
    weight_matrix = rng.standard_normal((3072, 1024)).astype(np.float32)  # Qwen3-0.6B MLP gate
    weight_bits = float32_to_bfloat16_bits(weight_matrix)
    vector = rng.standard_normal((1, 1024)).astype(np.float32)
    cases.append(("matvec 3072x1024, batch 1: BLAS f32 vs bf16 kernel", lambda: vector @ weight_matrix.T,
                  lambda: numba_decode.bf16_linear(vector, weight_bits)))
    for name, reference, fused in cases:
        reference_time, fused_time = best_seconds(reference, repeats), best_seconds(fused, repeats)
        print(f"{name:<52} reference {reference_time * 1e6:>8.0f} us  kernel {fused_time * 1e6:>8.0f} us  "
              f"{reference_time / fused_time:>5.1f}x")


def bench_decoding_products(repeats: int, preset: str = "small", rows_list=(1, 2, 4, 8, 16, 32, 64, 65, 96, 128, 129)) -> None:
    """One decoding step's products over every weight matrix of ``preset`` (each read from memory,
    as in a real step, when together they are larger than the caches), at several row counts: the
    reference x @ W.T against the numba backend's linear op (its dispatch: the small-batch kernel
    or the reference; kernels/numba_cpu.py), and the same kernel on the weights' bfloat16 bits
    (``numba_decode.bf16_linear``, what bfloat16 decoding runs).  In the ``decode`` profile, as
    decoding runs them: OpenBLAS's workers poll a few ms after a product, not 0.1 s, so that in
    each turn of three calls the kernel's later calls run with the cores to themselves."""
    from minireason import runtime
    from minireason.backend import get_ops
    from minireason.config import PRESETS
    from minireason.model import head_parameter_name, parameter_shapes
    from minireason.nn import linear

    config = PRESETS[preset]
    rng = np.random.default_rng(0)
    shapes = parameter_shapes(config)
    names = [name for name, shape in shapes.items() if len(shape) == 2 and name.startswith("model.layers.")]
    weights = [rng.standard_normal(shapes[name]).astype(np.float32) for name in names]
    weights.append(rng.standard_normal(shapes[head_parameter_name(config)]).astype(np.float32))
    weight_bits = [float32_to_bfloat16_bits(weight) for weight in weights]
    n_weights = sum(w.size for w in weights)
    numba_linear = get_ops("numba").linear_forward
    print(f"\ndecoding products, {preset} preset: {len(weights)} matrices, {n_weights * 4 / 1e6:.0f} MB of float32 weights")
    for rows in rows_list:
        inputs = {n_in: rng.standard_normal((rows, n_in)).astype(np.float32) for n_in in {w.shape[1] for w in weights}}

        def reference(inputs=inputs):
            for weight in weights:
                linear.linear_forward(inputs[weight.shape[1]], weight)

        def kernel(inputs=inputs):
            for weight in weights:
                numba_linear(inputs[weight.shape[1]], weight)

        def bfloat16(inputs=inputs):
            for bits in weight_bits:
                numba_decode.bf16_linear(inputs[bits.shape[1]], bits)
        with runtime.use_profile("decode"):
            reference_time, kernel_time = best_times_interleaved(reference, kernel, repeats, calls_per_turn=3)
            bfloat16_time = best_seconds(bfloat16, repeats)
        flops = 2 * rows * n_weights
        print(f"rows {rows:>4}  reference {reference_time * 1e3:7.2f} ms ({n_weights * 4 / reference_time / 1e9:5.1f} GB/s, "
              f"{flops / reference_time / 1e9:5.1f} GFLOP/s)  numba {kernel_time * 1e3:7.2f} ms "
              f"({n_weights * 4 / kernel_time / 1e9:5.1f} GB/s, {flops / kernel_time / 1e9:5.1f} GFLOP/s)  "
              f"{reference_time / kernel_time:4.2f}x  bf16 {bfloat16_time * 1e3:7.2f} ms "
              f"({n_weights * 2 / bfloat16_time / 1e9:5.1f} GB/s)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--kv-heads", type=int, default=4)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--reference-limit", type=int, default=4096,
                        help="skip the reference above this T (its memory grows as T^2)")
    parser.add_argument("--attention-only", action="store_true", help="only the attention table")
    parser.add_argument("--token-logprobs-only", action="store_true", help="only the token log-probability rows")
    parser.add_argument("--linear-only", action="store_true", help="only decoding's products (the linear op)")
    parser.add_argument("--linear-preset", default="small", help="the preset whose weights --linear-only multiplies")
    args = parser.parse_args(argv)
    if args.linear_only:
        bench_decoding_products(args.repeats, args.linear_preset)
        return 0
    if args.token_logprobs_only:
        bench_token_logprobs(args.repeats)
        return 0
    if not args.attention_only:
        bench_token_logprobs(args.repeats)
        bench_elementwise(args.repeats)
        bench_decode_attention(args.repeats, 1, args.heads, args.kv_heads, args.head_dim, 1024)
        bench_decode_attention(args.repeats, 16, args.heads, args.kv_heads, args.head_dim, 1024)
        bench_decoding_products(args.repeats)
    bench_attention(args.lengths, args.repeats, args.batch, args.heads, args.kv_heads, args.head_dim,
                    args.reference_limit)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
