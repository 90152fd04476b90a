"""How the layout of bfloat16 weights in memory changes a decoding step's products, against the bandwidth.

    python benchmarks/bf16_layout.py --pairs 30

Qwen3-0.6B's 197 matrices of one batch-1 step (random bits) are multiplied back to back with
``numba_decode.bf16_linear`` in three layouts, in turns, each turn after a one-pass bandwidth
probe (the machine's bandwidth moves with its neighbours' load, so each line compares the three
under the same conditions; the layouts take turns at going first):
- separate: one array per matrix;
- one buffer: views of one buffer in the order a step reads them (what
  ``Qwen3Model.with_bfloat16_decoding`` does);
- fused: also one buffer, with q/k/v and gate/up each multiplied as one stacked matrix (one
  parallel region instead of three or two; not what the model does: its linear layer takes one
  weight at a time).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from memory_bandwidth import bandwidth_probe
from minireason.kernels import numba_decode

D, F, HEAD_DIM, HEADS, KV_HEADS, LAYERS, VOCAB = 1024, 3072, 128, 16, 8, 28, 151936  # Qwen3-0.6B


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=12, help="turns (each: the probe, then the three layouts)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    shapes = [(HEADS * HEAD_DIM, D), (KV_HEADS * HEAD_DIM, D), (KV_HEADS * HEAD_DIM, D), (D, HEADS * HEAD_DIM),
              (F, D), (F, D), (D, F)] * LAYERS + [(VOCAB, D)]  # (out, in), in the order a step reads them
    separate = [rng.integers(0, 1 << 15, shape, dtype=np.uint16) for shape in shapes]
    buffer = np.empty(sum(matrix.size for matrix in separate), dtype=np.uint16)
    one_buffer, start = [], 0
    for matrix in separate:
        view = buffer[start:start + matrix.size].reshape(matrix.shape)  # (out, in)
        view[...] = matrix
        one_buffer.append(view)
        start += matrix.size
    fused = []
    for layer in range(LAYERS):  # q|k|v and gate|up are adjacent in the buffer: each stack is one view
        q, k, v, o, gate, up, down = one_buffer[7 * layer:7 * layer + 7]
        fused += [buffer_view(buffer, q, q.shape[0] + k.shape[0] + v.shape[0]), o,
                  buffer_view(buffer, gate, 2 * gate.shape[0]), down]
    fused.append(one_buffer[-1])
    inputs = {n_in: rng.standard_normal((1, n_in)).astype(np.float32) for n_in in (D, F, HEADS * HEAD_DIM)}
    n_bytes = buffer.nbytes

    def seconds(matrices) -> float:
        start = time.perf_counter()
        for matrix in matrices:
            numba_decode.bf16_linear(inputs[matrix.shape[1]], matrix)
        return time.perf_counter() - start

    layouts = {"separate": separate, "one buffer": one_buffer, "fused": fused}
    for matrices in layouts.values():
        seconds(matrices)  # compile, touch
    probe = bandwidth_probe()
    print(f"{n_bytes / 2**20:.0f} MiB of bfloat16 weights a step; GB/s of each layout, and the probe's, per turn")
    print(f"{'probe':>6} " + " ".join(f"{name:>10}" for name in layouts))
    names = list(layouts)
    for turn in range(args.pairs):
        bandwidth = probe()
        rates = {}
        for name in names[turn % 3:] + names[:turn % 3]:  # each layout first in a third of the turns
            rates[name] = n_bytes / seconds(layouts[name])
        print(f"{bandwidth / 1e9:>6.1f} " + " ".join(f"{rates[name] / 1e9:>10.1f}" for name in names))
    return 0


def buffer_view(buffer: np.ndarray, first: np.ndarray, rows: int) -> np.ndarray:
    """The (rows, in) view of ``buffer`` that starts where the view ``first`` starts."""
    offset = (first.ctypes.data - buffer.ctypes.data) // buffer.itemsize
    return buffer[offset:offset + rows * first.shape[1]].reshape(rows, first.shape[1])


if __name__ == "__main__":
    raise SystemExit(main())
