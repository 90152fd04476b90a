"""Forward+backward tokens/s and peak memory of one training step, per backend, and PyTorch eager.

    python benchmarks/bench_model.py                                  # test-small and small, batch 4 x 256
    python benchmarks/bench_model.py --presets small --steps 3 --backends numpy numba torch

Each (preset, backend) runs in a fresh subprocess so that peak memory is that run's own: the
peak resident set size (VmHWM, reset after a warm-up step) minus the resident size before the
timed steps, i.e. what a step adds on top of weights, batch and libraries (activations,
caches, gradients).  A step is
``loss_and_grads`` on random tokens (mean cross-entropy, gradients of every parameter).
PyTorch is timed on the same configuration and the same weights when ``import torch`` works;
it is never a dependency of minireason.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
from timing import best_seconds

from minireason.model import head_parameter_name, parameter_shapes


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def peak_resident_bytes() -> int:
    """VmHWM: the peak resident set size since the process began or since ``reset_peak_resident``."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # reported in KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_peak_resident() -> None:
    """Linux: writing 5 to clear_refs resets VmHWM, so the warm-up (numba compiling) is not counted."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        pass


def torch_step_function(config, params, token_ids, targets):
    """A Qwen3 training step in PyTorch eager (float32), on minireason's weights, for comparison."""
    import torch

    weights = {name: torch.tensor(value, requires_grad=True) for name, value in params.items()}
    H, Hkv, Dh, eps = config.num_attention_heads, config.num_key_value_heads, config.head_dim, config.rms_norm_eps
    tokens = torch.tensor(token_ids)
    target_tensor = torch.tensor(targets)
    B, T = token_ids.shape
    inverse_frequencies = 1.0 / (config.rope_theta ** (torch.arange(0, Dh, 2, dtype=torch.float32) / Dh))
    angles = torch.arange(T, dtype=torch.float32)[:, None] * inverse_frequencies
    angles = torch.cat([angles, angles], dim=-1)
    cos, sin = angles.cos(), angles.sin()  # (T, Dh)

    def rmsnorm(x, weight):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight

    def rope(x):
        half = x.shape[-1] // 2
        return x * cos + torch.cat([-x[..., half:], x[..., :half]], dim=-1) * sin

    def step():
        for weight in weights.values():
            weight.grad = None
        x = weights["model.embed_tokens.weight"][tokens]
        for layer in range(config.num_hidden_layers):
            p = {name[len(f"model.layers.{layer}."):]: w for name, w in weights.items()
                 if name.startswith(f"model.layers.{layer}.")}
            normed = rmsnorm(x, p["input_layernorm.weight"])
            q = rmsnorm((normed @ p["self_attn.q_proj.weight"].T).view(B, T, H, Dh), p["self_attn.q_norm.weight"])
            k = rmsnorm((normed @ p["self_attn.k_proj.weight"].T).view(B, T, Hkv, Dh), p["self_attn.k_norm.weight"])
            v = (normed @ p["self_attn.v_proj.weight"].T).view(B, T, Hkv, Dh).transpose(1, 2)
            q, k = rope(q.transpose(1, 2)), rope(k.transpose(1, 2))
            attended = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
            x = x + attended.transpose(1, 2).reshape(B, T, H * Dh) @ p["self_attn.o_proj.weight"].T
            normed = rmsnorm(x, p["post_attention_layernorm.weight"])
            hidden = torch.nn.functional.silu(normed @ p["mlp.gate_proj.weight"].T) * (normed @ p["mlp.up_proj.weight"].T)
            x = x + hidden @ p["mlp.down_proj.weight"].T
        head = weights[head_parameter_name(config)]
        logits = rmsnorm(x, weights["model.norm.weight"]) @ head.T
        loss = torch.nn.functional.cross_entropy(logits.view(-1, logits.shape[-1]), target_tensor.view(-1))
        loss.backward()
        return float(loss)

    return step


def measure(preset: str, backend: str, batch: int, length: int, steps: int) -> dict:
    """Run in the child process: best-of-``steps`` time of one training step, after one warm-up."""
    from minireason.config import PRESETS
    from minireason.model import Qwen3Model

    config = PRESETS[preset]
    model = Qwen3Model.from_config(config, seed=0, dtype="float32", backend=None if backend == "torch" else backend)
    rng = np.random.default_rng(0)
    token_ids = rng.integers(0, config.vocab_size, size=(batch, length))
    targets = rng.integers(0, config.vocab_size, size=(batch, length))
    if backend == "torch":
        import torch

        step = torch_step_function(config, model.params, token_ids, targets)
        threads = torch.get_num_threads()
    elif backend == "cupy":  # GPU work is asynchronous: a step ends when the device has finished it
        import cupy

        def step():
            loss = model.loss_and_grads(token_ids, targets)[0]
            cupy.cuda.Device().synchronize()
            return loss
        threads = None
    else:
        def step():
            return model.loss_and_grads(token_ids, targets)[0]
        threads = None
    loss = step()  # warm-up (compiles the numba kernels on a cold cache); not counted in memory
    reset_peak_resident()
    before = resident_bytes()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    best = min(times)
    return {"preset": preset, "backend": backend, "seconds": best, "tokens_per_second": batch * length / best,
            "peak_mib": (peak_resident_bytes() - before) / 2**20, "loss": float(loss), "torch_threads": threads}


def matmul_floor_seconds(preset: str, batch: int, length: int) -> float:
    """The step's matrix products alone: every projection's forward (x W^T) and backward (dout W,
    dout^T x) and the head's, each shape timed on its own (best of 5) and counted as often as the
    step runs it.  No step can take less on the same BLAS."""
    from minireason.config import PRESETS

    config = PRESETS[preset]
    shapes = parameter_shapes(config)
    rows = batch * length
    head = head_parameter_name(config)
    counts: dict[tuple[int, int], int] = {}
    for name, shape in shapes.items():
        if len(shape) == 2 and (name.startswith("model.layers.") or name == head):
            counts[shape] = counts.get(shape, 0) + 1
    rng = np.random.default_rng(0)
    total = 0.0
    for (n_out, n_in), count in counts.items():
        x = rng.standard_normal((rows, n_in)).astype(np.float32)  # (N, in)
        weight = rng.standard_normal((n_out, n_in)).astype(np.float32)  # (out, in)
        dout = rng.standard_normal((rows, n_out)).astype(np.float32)  # (N, out)
        for a, b in ((x, weight.T), (dout, weight), (dout.T, x)):  # forward, dx, dW
            total += count * best_seconds(lambda a=a, b=b: a @ b, repeats=5)
    return total


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["test-small", "small"])
    parser.add_argument("--backends", nargs="+", default=["numpy", "numba", "torch"])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--steps", type=int, default=3, help="timed steps; the best is reported")
    parser.add_argument("--keep-freed-memory", action="store_true",
                        help="as the training loop does: glibc keeps freed memory for reuse (every backend, "
                             "PyTorch included; minireason/training/memory.py)")
    parser.add_argument("--blas-threads-sleep", action="store_true",
                        help="as the training loop does: NumPy's OpenBLAS threads sleep as soon as a product ends "
                             "(minireason/training/blas_threads.py; PyTorch does not use that OpenBLAS)")
    parser.add_argument("--matmul-floor", action="store_true",
                        help="also time the step's matrix products alone, shape by shape (the floor of any step)")
    parser.add_argument("--child", nargs=2, metavar=("PRESET", "BACKEND"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if args.keep_freed_memory:
            from minireason.training.memory import keep_freed_memory_for_reuse

            keep_freed_memory_for_reuse()
        if args.blas_threads_sleep:
            from minireason.training.blas_threads import SHORTEST_TIMEOUT, set_blas_thread_timeout

            if not set_blas_thread_timeout(SHORTEST_TIMEOUT):
                raise SystemExit("--blas-threads-sleep: this NumPy's OpenBLAS does not export what it needs")
        print(json.dumps(measure(args.child[0], args.child[1], args.batch, args.length, args.steps)))
        return 0
    print(f"training step (forward + backward), float32, batch {args.batch} x {args.length} tokens, best of "
          f"{args.steps}{', freed memory kept for reuse' if args.keep_freed_memory else ''}"
          f"{', BLAS threads sleep at once' if args.blas_threads_sleep else ''}")
    print(f"{'preset':<11} {'backend':<7} {'step s':>8} {'tokens/s':>9} {'peak MiB':>9} {'vs numpy':>9} {'loss':>7}")
    for preset in args.presets:
        numpy_seconds = None
        for backend in args.backends:
            if backend == "torch" and not torch_available():
                print(f"{preset:<11} torch   not installed: skipped")
                continue
            command = [sys.executable, __file__, "--child", preset, backend, "--batch", str(args.batch),
                       "--length", str(args.length), "--steps", str(args.steps)]
            command += ["--keep-freed-memory"] if args.keep_freed_memory else []
            command += ["--blas-threads-sleep"] if args.blas_threads_sleep else []
            result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
            if backend == "numpy":
                numpy_seconds = result["seconds"]
            relative = f"{numpy_seconds / result['seconds']:.2f}x" if numpy_seconds else ""
            print(f"{preset:<11} {backend:<7} {result['seconds']:>8.3f} {result['tokens_per_second']:>9.0f} "
                  f"{result['peak_mib']:>9.0f} {relative:>9} {result['loss']:>7.4f}")
        if args.matmul_floor:
            floor = matmul_floor_seconds(preset, args.batch, args.length)
            print(f"{preset:<11} {'products alone':<16} {floor:>8.3f} s, {args.batch * args.length / floor:.0f} tokens/s "
                  f"if nothing else took time")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
