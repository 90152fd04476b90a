"""How long OpenBLAS's workers should poll after a product while decoding: ``generate`` with each
polling time in turns in one process, the fastest and the median of ``--rounds``.

    python benchmarks/blas_polling.py --preset small --batch 1
    python benchmarks/blas_polling.py --preset test-small --batch 64 --exponents 28 24 22 4

An exponent e keeps the workers polling 2^e cycles (OpenBLAS's own default is 28, about 0.1 s;
4 sleeps at once); ``runtime.PROCESS_TIMEOUT`` is the one every minireason process uses once its
runtime settings are applied.  Random weights, a 32-token random prompt per row, 64 new tokens,
greedy, every row to the end.
"""

from __future__ import annotations

import _thread_limits  # first: thread counts before NumPy loads its BLAS

# isort: split
import argparse
import time

import numpy as np

from minireason import runtime
from minireason.backend import set_backend
from minireason.config import PRESETS
from minireason.generation.generate import generate
from minireason.model import Qwen3Model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="numba")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--exponents", type=int, nargs="+", default=[runtime.DEFAULT_TIMEOUT, runtime.PROCESS_TIMEOUT])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="(read by _thread_limits before NumPy loads)")
    args = parser.parse_args()
    set_backend(args.backend)
    config = PRESETS[args.preset]
    model = Qwen3Model.from_config(config, seed=0)
    rng = np.random.default_rng(0)
    prompts = [rng.integers(0, config.vocab_size, 32).tolist() for _ in range(args.batch)]
    print(_thread_limits.machine_line(), f"backend {args.backend}, {args.preset}, batch {args.batch}")
    seconds = {exponent: [] for exponent in args.exponents}
    with runtime.use_profile(runtime.DECODE):  # generate's own switch then changes nothing
        generate(model, None, prompts, args.new_tokens, stop_token_ids=[])  # warm-up: numba compiles here
        for _ in range(args.rounds):
            for exponent in args.exponents:
                runtime.set_blas_thread_timeout(exponent)
                started = time.perf_counter()
                generate(model, None, prompts, args.new_tokens, stop_token_ids=[])
                seconds[exponent].append(time.perf_counter() - started)
        runtime.set_blas_thread_timeout(runtime.PROCESS_TIMEOUT)  # what the profile's state says
    for exponent, values in seconds.items():
        print(f"  2^{exponent:<2} cycles  fastest {min(values):.3f} s  median {np.median(values):.3f} s")


if __name__ == "__main__":
    main()
