"""Where a BLAS product starts to gain from OpenBLAS's own threads: each shape on one thread
(``runtime.serial_blas``) and on all, with OpenBLAS's workers polling between products (the
``decode`` profile) and asleep as soon as a product ends (``train``), in turns in one process,
best of ``--repeats`` x 30 calls.  The numba backend runs products of at most
``numba_cpu.SERIAL_BLAS_MAX_WORK`` multiply-adds on one thread while the workers sleep, on all
while they poll (docs/kernels.md, "Threads"); run this on an idle machine to see where that limit
belongs.

    python benchmarks/blas_crossover.py
    python benchmarks/blas_crossover.py --shapes 128x128x384 64x512x1536
"""

from __future__ import annotations

import _thread_limits  # first: thread counts before NumPy loads its BLAS

# isort: split
import argparse
import math
import time

import numpy as np

from minireason import runtime

# (rows, inputs, outputs): a GRPO rollout's 128 rows and a decoding batch's 64 through the built-in
# models' widths (128 wide, 384 in the MLP), then the small preset's (512, 1536) and a prefill
DEFAULT_SHAPES = ("64x128x128", "128x128x128", "64x128x384", "128x128x384", "128x384x128", "128x128x1024",
                  "64x512x1536", "256x1024x1024")


def best_seconds(product, calls: int = 30) -> float:
    best = math.inf
    for _ in range(calls):
        started = time.perf_counter()
        product()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", default=DEFAULT_SHAPES, help="ROWSxINPUTSxOUTPUTS")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="(read by _thread_limits before NumPy loads)")
    args = parser.parse_args()
    print(_thread_limits.machine_line())
    rng = np.random.default_rng(0)
    for shape in args.shapes:
        rows, n_in, n_out = (int(part) for part in shape.split("x"))
        x = rng.standard_normal((rows, n_in)).astype(np.float32)  # (N, in)
        weight = rng.standard_normal((n_out, n_in)).astype(np.float32)  # (out, in)

        def one_thread(x=x, weight=weight):
            with runtime.serial_blas():
                return x @ weight.T

        def all_threads(x=x, weight=weight):
            return x @ weight.T

        one, polling, asleep = math.inf, math.inf, math.inf
        for _ in range(args.repeats):  # in turns, so that a drift of the machine reaches every side
            runtime.activate(runtime.DECODE)
            one = min(one, best_seconds(one_thread))
            polling = min(polling, best_seconds(all_threads))
            runtime.activate(runtime.TRAIN)
            asleep = min(asleep, best_seconds(all_threads))
        print(f"{shape:>14}  2^{math.log2(rows * n_in * n_out):4.1f} multiply-adds  one thread {one * 1e3:7.3f} ms"
              f"  all threads, polling {polling * 1e3:7.3f} ms {one / polling:4.2f}x,"
              f"  asleep {asleep * 1e3:7.3f} ms {one / asleep:4.2f}x")


if __name__ == "__main__":
    main()
