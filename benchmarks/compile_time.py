"""What a first run pays for compiling the numba kernels: a command run with an empty kernel cache
(cold), then again with the cache it wrote (warm), each in its own process, in turns.

    python benchmarks/compile_time.py                       # the first `minireason generate`
    python benchmarks/compile_time.py --rounds 3 -- demo --quick --out-dir /tmp/compile-demo
    python benchmarks/compile_time.py --kernels              # and each kernel's own compile time

Each round makes a new empty cache folder (``NUMBA_CACHE_DIR``, which numba prefers to the
``kernels/__pycache__`` an install writes), runs the command once cold and then ``--warm-runs``
times warm.  The command is ``minireason`` with the arguments after ``--``.  ``--kernels`` runs
the cold command under a hook on numba's dispatcher that times every compiled signature of the
project's kernels (nested compiles inside the outermost one counted with it) and prints the
outermost ones, largest first.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

DEFAULT_COMMAND = ["generate", "--model", "builtin:base", "--prompt", "What is 2+3?", "--max-new-tokens", "64",
                   "--seed", "0", "--no-stream"]

# Run in the child for --kernels: times each outermost compile of a minireason kernel, then runs the CLI.
_HOOK = """
import json, sys, time
from numba.core import dispatcher
compile_signature = dispatcher.Dispatcher.compile
depth, timings = [0], []
def timed(self, signature):
    depth[0] += 1
    start = time.perf_counter()
    try:
        return compile_signature(self, signature)
    finally:
        depth[0] -= 1
        if depth[0] == 0 and self.py_func.__module__.startswith("minireason"):
            timings.append((time.perf_counter() - start, self.py_func.__module__ + "." + self.py_func.__qualname__))
dispatcher.Dispatcher.compile = timed
from minireason.cli.main import main
sys.argv = ["minireason"] + sys.argv[1:]
try:
    main()
except SystemExit:
    pass
finally:
    print("KERNEL-TIMINGS " + json.dumps(timings), file=sys.stderr)
"""


def run_once(arguments: list[str], cache_dir: str, per_kernel: bool) -> tuple[float, list]:
    """Wall seconds of one ``minireason`` run with ``cache_dir`` as numba's cache, and with
    ``per_kernel`` the outermost kernel compiles [(seconds, name)]."""
    environment = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    command = ([sys.executable, "-c", _HOOK, *arguments] if per_kernel
               else [sys.executable, "-m", "minireason", *arguments])
    start = time.perf_counter()
    finished = subprocess.run(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if finished.returncode != 0:
        raise SystemExit(f"minireason {' '.join(arguments)} failed:\n{finished.stderr[-2000:]}")
    if not per_kernel:
        return seconds, []
    for line in finished.stderr.splitlines():
        if line.startswith("KERNEL-TIMINGS "):
            return seconds, json.loads(line[len("KERNEL-TIMINGS "):])
    raise SystemExit(f"minireason {' '.join(arguments)}: the compile hook reported nothing")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2, help="cold runs, each with a new empty cache")
    parser.add_argument("--warm-runs", type=int, default=2, help="warm runs after each cold one")
    parser.add_argument("--kernels", action="store_true", help="time each kernel's compile in the cold runs")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("command", nargs="*", help="minireason's arguments, after --")
    args = parser.parse_args()
    if args.rounds < 1 or args.warm_runs < 1:
        parser.error("--rounds and --warm-runs must be at least 1")
    arguments = args.command or DEFAULT_COMMAND
    print(f"minireason {' '.join(arguments)}; {os.cpu_count()} CPU(s), load average "
          f"{', '.join(f'{load:.2f}' for load in os.getloadavg())}", flush=True)
    cold, warm, kernels = [], [], {}
    for round_index in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="minireason-numba-cache-") as cache_dir:
            seconds, timings = run_once(arguments, cache_dir, args.kernels)
            cold.append(seconds)
            this_round: dict[str, float] = {}
            for kernel_seconds, name in timings:  # a kernel's signatures summed
                this_round[name] = this_round.get(name, 0.0) + kernel_seconds
            for name, kernel_seconds in this_round.items():
                kernels.setdefault(name, []).append(kernel_seconds)
            warm.extend(run_once(arguments, cache_dir, False)[0] for _ in range(args.warm_runs))
        print(f"round {round_index + 1}: cold {seconds:.1f} s, warm {', '.join(f'{s:.1f}' for s in warm[-args.warm_runs:])} s",
              flush=True)
    print(f"cold (empty cache): best {min(cold):.1f} s; warm: best {min(warm):.1f} s; "
          f"compiling: {min(cold) - min(warm):.1f} s")
    if kernels:
        print("each kernel's compile in the cold runs (its outermost signatures summed; best of the rounds):")
        for name, times in sorted(kernels.items(), key=lambda item: -min(item[1])):
            print(f"  {min(times):6.2f} s  {name}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"command": arguments, "cold_seconds": cold, "warm_seconds": warm,
                       "kernel_seconds": kernels}, handle, indent=1)


if __name__ == "__main__":
    main()
