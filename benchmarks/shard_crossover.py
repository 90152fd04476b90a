"""Where splitting a batch's rows over the cores starts to pay: ``model.loss_and_grads`` with the rows
in one part (each op choosing its own threads) against split in parts, one per thread
(``minireason.model.SHARD_MIN_WORK``), in turns in one process, best of ``--repeats``.

    python benchmarks/shard_crossover.py --preset test-small --backend numba
    python benchmarks/shard_crossover.py --preset small --backend numpy --shapes 1x256,2x256,4x256

Random weights and tokens; the ``train`` runtime profile, as the training loop runs.  The CPU
columns (every thread's seconds) show the cost of splitting apart from waiting for a core that
other processes hold: on an idle machine the split wall time is about half its CPU time.  The work
column is rows x tokens x parameters, what ``SHARD_MIN_WORK`` is compared with (per part).
"""

from __future__ import annotations

import _thread_limits  # first: thread counts before NumPy loads its BLAS

# isort: split
import argparse
import resource
import time

import numpy as np

import minireason.model as model_module
from minireason import runtime
from minireason.backend import set_backend
from minireason.config import PRESETS
from minireason.model import Qwen3Model


def process_seconds() -> float:
    """CPU seconds of this process so far, every thread (user and system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="test-small")
    parser.add_argument("--backend", default="numba")
    parser.add_argument("--shapes", default="1x32,2x32,2x64,4x32,4x64,8x32,8x64,16x64,64x64")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None, help="(read by _thread_limits before NumPy loads)")
    args = parser.parse_args()
    set_backend(args.backend)
    model = Qwen3Model.from_config(PRESETS[args.preset], seed=0)
    rng = np.random.default_rng(0)
    print(_thread_limits.machine_line(), f"{args.preset} ({model.num_parameters():,} parameters), {args.backend}")
    print(f"{'B x T':>8} {'work':>12} {'one part ms':>12} {'split ms':>9} {'split / one':>11} {'one CPU ms':>12} "
          f"{'split CPU':>10}")
    with runtime.use_profile(runtime.TRAIN):
        for shape in args.shapes.split(","):
            B, T = (int(value) for value in shape.split("x"))
            ids = rng.integers(0, model.config.vocab_size, (B, T))
            targets = rng.integers(0, model.config.vocab_size, (B, T))
            best, cpu = {}, {}
            for _ in range(args.repeats):
                for name, threshold in (("one", 1 << 62), ("split", 1)):
                    model_module.SHARD_MIN_WORK = threshold
                    cpu_started, started = process_seconds(), time.perf_counter()
                    model.loss_and_grads(ids, targets)
                    best[name] = min(best.get(name, float("inf")), time.perf_counter() - started)
                    cpu[name] = min(cpu.get(name, float("inf")), process_seconds() - cpu_started)
            print(f"{shape:>8} {B * T * model.num_parameters():12.3g} {best['one'] * 1e3:12.2f} "
                  f"{best['split'] * 1e3:9.2f} {best['split'] / best['one']:11.2f} {cpu['one'] * 1e3:12.2f} "
                  f"{cpu['split'] * 1e3:10.2f}")
    print(f"load average at the end: {_thread_limits.load_average()}")


if __name__ == "__main__":
    main()
