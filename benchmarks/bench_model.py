"""Forward+backward of one training step against what users would run instead, per backend; the
fraction of this machine's limit (the step's matrix products alone); peak memory on request.

    python benchmarks/bench_model.py                                  # tiny and small, batch 4 x 256
    python benchmarks/bench_model.py --presets small --repeats 5 --json out.json
    python benchmarks/bench_model.py --peak-memory                    # per-backend peak memory, one process each
    python benchmarks/bench_model.py --runtime-off                    # without minireason/runtime.py's settings
    python benchmarks/bench_model.py --in-process                     # every side in this one process, in turns

A step is ``model.loss_and_grads`` on random tokens (mean cross-entropy, gradients of every
parameter), against transformers' ``Qwen3ForCausalLM`` on the same weights (float32, PyTorch
eager, ``loss.backward()``; transformers_reference.py) when torch and transformers are installed.
Every side runs in its own fresh process (sides.py): numpy, numba, transformers, numpy, ...
``--repeats`` rounds, each process timing steps after a warm-up step: ``--steps-per-process`` in
the first round, and in the later rounds as many as fill ``--row-seconds`` (1 s) of the fastest
side's step, the same count for every side (sides.runs_to_fill: the tiny preset's step takes
0.07 s); a side's figure is its best step.  transformers runs on ``--torch-python`` (default: this interpreter
if it imports torch and transformers, else ``sides.FALLBACK_PYTHON`` if that does; else skipped),
minireason on this interpreter: torch and numba in one process share libgomp and stall each other
(docs/kernels.md).  ``--in-process``: every side in this process, in turns, best of ``--repeats``
(timing.best_alternating).  Threads: ``--threads`` each (default: the user's, _thread_limits.py).
"x hf" is transformers' step time over minireason's; "of floor" is the step's products alone
(floors.py, timed in this process) over the step; "peak MiB" what a step adds to the process's
resident memory (as ``--peak-memory``).

``--peak-memory``: each (preset, backend) in a fresh subprocess, so that peak memory is that run's
own: the peak resident set size (VmHWM, reset after a warm-up step) minus the resident size
before the timed steps, i.e. what a step adds on top of weights, batch and libraries.
"""

from __future__ import annotations

import _thread_limits  # first: thread counts before NumPy loads its BLAS

# isort: split
import argparse
import json
import os
import resource
import sys
import time

import numpy as np
import sides as side_processes
import transformers_reference as hf_reference
from floors import products_seconds
from timing import best_alternating

from minireason import runtime
from minireason.config import PRESETS
from minireason.model import Qwen3Model


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


def measure(preset: str, backend: str, batch: int, length: int, steps: int, threads: int | None = None) -> dict:
    """Run in the child process: best-of-``steps`` time of one training step, after one warm-up."""
    config = PRESETS[preset]
    model = Qwen3Model.from_config(config, seed=0, dtype="float32", backend="numpy" if backend == "transformers" else backend)
    rng = np.random.default_rng(0)
    token_ids = rng.integers(0, config.vocab_size, size=(batch, length))
    targets = rng.integers(0, config.vocab_size, size=(batch, length))
    if backend == "transformers":
        import torch

        step = hf_reference.train_step_function(hf_reference.hf_model_from(model, threads=threads), token_ids, targets)
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


def step_functions(base, backends, with_hf, threads, token_ids, targets, losses: dict) -> dict:
    """side name -> one training step on the batch (each writes its loss into ``losses``)."""
    def ours(model, name):
        return lambda: losses.__setitem__(name, model.loss_and_grads(token_ids, targets)[0])

    sides = {name: ours(Qwen3Model(base.config, base.params, backend=name), name) for name in backends}
    if with_hf:
        hf_step = hf_reference.train_step_function(hf_reference.hf_model_from(base, threads=threads),
                                                   token_ids, targets)
        sides["transformers"] = lambda: losses.__setitem__("transformers", hf_step())
    return sides


def preset_row(seconds: dict[str, float], tokens: int, floor: float, losses: dict[str, float], load_before,
               **extra) -> dict:
    """One preset's figures: each side's step seconds, tokens/s, fraction of the products-alone floor,
    loss, and (with a transformers side) each side's ratio to it; ``extra`` is added as it is."""
    row = {"seconds": seconds, "tokens_per_second": {k: tokens / v for k, v in seconds.items()},
           "products_floor_seconds": floor, "fraction_of_floor": {k: floor / v for k, v in seconds.items()},
           "loss": {k: float(v) for k, v in losses.items()}, **extra,
           "load_average": [load_before, _thread_limits.load_average()]}
    if "transformers" in seconds:
        row["ratio_to_transformers"] = {k: seconds["transformers"] / v for k, v in seconds.items() if k != "transformers"}
    return row


def print_preset(preset: str, row: dict, tokens: int) -> None:
    """The lines of one preset's table: a line per side (peak memory where measured), then the floor."""
    floor = row["products_floor_seconds"]
    for name, value in row["seconds"].items():
        ratio = f"{row['ratio_to_transformers'][name]:.2f}x" if name in row.get("ratio_to_transformers", {}) else ""
        peak = f"{row['peak_mib'][name]:>9.0f} " if "peak_mib" in row else ""
        print(f"{preset:<11} {name:<13} {value:>8.3f} {tokens / value:>9.0f} {ratio:>7} {floor / value:>9.0%} "
              f"{peak}{row['loss'][name]:>8.4f}")
    print(f"{preset:<11} {'products alone':<13} {floor:>8.3f} {tokens / floor:>9.0f}   "
          f"load {row['load_average'][0][0]:.2f} -> {row['load_average'][1][0]:.2f}")


def alternating_table(presets, backends, with_hf, batch, length, repeats, threads) -> dict:
    """Every side of a preset in this process, in turns: seconds, ratios, fraction of the floor."""
    results = {}
    print(f"{'preset':<11} {'side':<13} {'step s':>8} {'tokens/s':>9} {'x hf':>7} {'of floor':>9} {'loss':>8}")
    for preset in presets:
        config = PRESETS[preset]
        base = Qwen3Model.from_config(config, seed=0, dtype="float32")
        rng = np.random.default_rng(0)
        token_ids = rng.integers(0, config.vocab_size, size=(batch, length))
        targets = rng.integers(0, config.vocab_size, size=(batch, length))
        losses = {}
        sides = step_functions(base, backends, with_hf, threads, token_ids, targets, losses)
        load_before = _thread_limits.load_average()
        seconds = best_alternating(sides, repeats)
        floor = products_seconds(config, batch * length, backward=True)
        results[preset] = preset_row(seconds, batch * length, floor, losses, load_before)
        print_preset(preset, results[preset], batch * length)
    return results


def process_table(args, torch_python: str | None) -> dict:
    """Every side in its own processes, in turns, ``--repeats`` rounds; each side's best step."""
    sides = {name: sys.executable for name in args.backends}
    if torch_python is not None:
        sides["transformers"] = torch_python
    environments = {name: side_processes.child_environment(args.threads, torch=name == "transformers",
                                                           **({"MINIREASON_BACKEND": "numpy"}
                                                              if name == "transformers" else {}))
                    for name in sides}
    options = ["--batch", str(args.batch), "--length", str(args.length)]
    options += ["--threads", str(args.threads)] if args.threads is not None else []
    options += ["--runtime-off"] if args.runtime_off else []
    results = {}
    print(f"{'preset':<11} {'side':<13} {'step s':>8} {'tokens/s':>9} {'x hf':>7} {'of floor':>9} {'peak MiB':>9} "
          f"{'loss':>8}")
    for preset in args.presets:
        best: dict[str, dict] = {}
        load_before = _thread_limits.load_average()

        steps = [args.steps_per_process]  # the first round's; then what fills --row-seconds (sides.runs_to_fill)

        def arguments(name, preset=preset, steps=steps):
            return [__file__, "--child", preset, name, *options, "--repeats", str(steps[0])]

        for round_index in range(args.repeats):
            for name, result in side_processes.in_turns(sides, arguments, environments, 1, label=f"{preset:<11} "):
                if name not in best or result["seconds"] < best[name]["seconds"]:
                    best[name] = result
            if round_index == 0:
                steps[0] = side_processes.runs_to_fill({name: result["seconds"] for name, result in best.items()},
                                                       args.row_seconds, args.steps_per_process)
        seconds = {name: result["seconds"] for name, result in best.items()}
        tokens = args.batch * args.length
        results[preset] = preset_row(seconds, tokens, products_seconds(PRESETS[preset], tokens, backward=True),
                                     {k: result["loss"] for k, result in best.items()}, load_before,
                                     peak_mib={k: result["peak_mib"] for k, result in best.items()})
        results[preset]["steps_per_process"] = {"first round": args.steps_per_process, "later rounds": steps[0]}
        if "transformers" in best:
            results[preset]["torch_threads"] = best["transformers"]["torch_threads"]
        print_preset(preset, results[preset], tokens)
        print(f"{'':<11} {steps[0]} steps a process after the first round")
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["test-small", "small"])
    parser.add_argument("--backends", nargs="+", default=["numpy", "numba"])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--repeats", "--steps", type=int, default=3, help="timed steps per side; the best counts")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads of every side, set before NumPy loads (default: the user's, _thread_limits.py)")
    parser.add_argument("--steps-per-process", type=int, default=2,
                        help="timed steps in each side's process after a warm-up step, in the first round, and the "
                             "fewest after it")
    parser.add_argument("--row-seconds", type=float, default=1.0,
                        help="after the first round, each side's process times as many steps as fill this many "
                             "seconds of the fastest side's step (the same count for every side; sides.runs_to_fill)")
    parser.add_argument("--torch-python", default=None, help="interpreter with torch and transformers for their side")
    parser.add_argument("--in-process", action="store_true",
                        help="every side in this process, in turns (torch and numba then share libgomp)")
    parser.add_argument("--no-transformers", action="store_true")
    parser.add_argument("--runtime-off", action="store_true",
                        help="MINIREASON_RUNTIME=off: none of minireason/runtime.py's process settings")
    parser.add_argument("--peak-memory", action="store_true",
                        help="instead: per-backend step time and peak memory, each in a fresh process")
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--child", nargs=2, metavar=("PRESET", "BACKEND"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.runtime_off:
        os.environ["MINIREASON_RUNTIME"] = "off"  # the runtime's switches then change nothing
    if not (args.child and args.child[1] == "transformers"):  # transformers' process runs as its users run it
        runtime.activate(runtime.TRAIN)  # a training step's process settings, as train() switches them
    if args.child:
        print(json.dumps(measure(args.child[0], args.child[1], args.batch, args.length, args.repeats, args.threads)))
        return 0
    if not args.in_process:
        torch_python = None if args.no_transformers else side_processes.python_for("torch, transformers",
                                                                                    args.torch_python)
        print(f"training step (forward + backward), float32, batch {args.batch} x {args.length} tokens; each side in "
              f"its own processes, {args.repeats} round(s) in turns, the first x {args.steps_per_process} steps, the "
              f"later x the steps that fill {args.row_seconds:g} s of the fastest side's, the best"
              f"{', runtime settings off' if args.runtime_off else ''}")
        print(f"numpy {np.__version__}; "
              f"{'transformers: run by ' + torch_python if torch_python else 'transformers: not importable, skipped'}")
        print(_thread_limits.machine_line())
        if args.peak_memory:
            peak_memory_table(args, torch_python)
            return 0
        results = process_table(args, torch_python)
        write_json(args, results)
        return 0
    with_hf = hf_reference.available() and not args.no_transformers
    print(f"training step (forward + backward), float32, batch {args.batch} x {args.length} tokens, best of "
          f"{args.repeats} in turns{', runtime settings off' if args.runtime_off else ''}")
    print(f"numpy {np.__version__}; {hf_reference.versions() if with_hf else 'transformers: not installed, skipped'}")
    print(_thread_limits.machine_line())
    if args.peak_memory:
        peak_memory_table(args, sys.executable if with_hf else None)
        return 0
    results = alternating_table(args.presets, args.backends, with_hf, args.batch, args.length, args.repeats,
                                args.threads)
    write_json(args, results)
    return 0


def write_json(args, results: dict) -> None:
    print(f"load average {', '.join(f'{value:.2f}' for value in _thread_limits.load_average())} at the end")
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"threads": _thread_limits.THREADS, "batch": args.batch, "length": args.length, "presets": results,
                       "runtime": runtime.settings(), "load_average_end": _thread_limits.load_average()},
                      file, indent=1)


def peak_memory_table(args, torch_python: str | None) -> None:
    print(f"{'preset':<11} {'backend':<12} {'step s':>8} {'tokens/s':>9} {'peak MiB':>9} {'vs numpy':>9} {'loss':>7}")
    for preset in args.presets:
        numpy_seconds = None
        for backend in [*args.backends, *(["transformers"] if torch_python else [])]:
            python = torch_python if backend == "transformers" else sys.executable
            command = [python, __file__, "--child", preset, backend, "--batch", str(args.batch),
                       "--length", str(args.length), "--repeats", str(args.repeats)]
            command += ["--threads", str(args.threads)] if args.threads is not None else []
            command += ["--runtime-off"] if args.runtime_off else []
            result = side_processes.run_side(command, side_processes.child_environment(
                args.threads, torch=backend == "transformers",
                **({"MINIREASON_BACKEND": "numpy"} if backend == "transformers" else {})))
            if "error" in result:
                print(f"{preset:<11} {backend:<12} failed: {result['error']}")
                continue
            if backend == "numpy":
                numpy_seconds = result["seconds"]
            relative = f"{numpy_seconds / result['seconds']:.2f}x" if numpy_seconds else ""
            print(f"{preset:<11} {backend:<12} {result['seconds']:>8.3f} {result['tokens_per_second']:>9.0f} "
                  f"{result['peak_mib']:>9.0f} {relative:>9} {result['loss']:>7.4f}")


if __name__ == "__main__":
    raise SystemExit(main())
