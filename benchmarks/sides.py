"""Each side of a benchmark in its own fresh process: which interpreter runs a side, its environment,
and the JSON line it answers with.

Why a process per side: torch and numba's parallel layer share one libgomp when both are loaded in a
process, and then stall each other (docs/kernels.md, "Against transformers"); users run one or the
other.  A side's child is the benchmark's own file with a hidden option; it prints one JSON object on
its last line of output.  Children import the same ``minireason`` as the parent (its folder leads
their ``PYTHONPATH``), get ``--threads N`` through the thread variables before anything loads (and
torch children call ``torch.set_num_threads``), and otherwise inherit the user's environment.
This module imports nothing heavy: the parent process of a benchmark loads neither torch nor numba.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

from _thread_limits import VARIABLES as THREAD_VARIABLES

# the environment as the user started the benchmark (the benchmarks import this module first, after
# _thread_limits): minireason's runtime later sets OpenMP variables (GOMP_SPINCOUNT, KMP_BLOCKTIME)
# in the parent that a side's process, transformers' above all, must not inherit
USER_ENVIRONMENT = dict(os.environ)

# a virtual environment with torch, transformers and trl beside the project (the benchmark machine's);
# used when the running interpreter has no torch and --torch-python / --trl-python is not given
FALLBACK_PYTHON = "/work/benchvenv/bin/python"


def imports(python: str, modules: str) -> bool:
    """Whether ``python`` can import ``modules`` ("torch, transformers"), without importing them here."""
    if python == sys.executable:
        return all(importlib.util.find_spec(name.strip()) is not None for name in modules.split(","))
    if not Path(python).exists():
        return False
    done = subprocess.run([python, "-c", f"import {modules}"], capture_output=True, text=True)
    return done.returncode == 0


def python_for(modules: str, given: str | None = None) -> str | None:
    """The interpreter for a side that needs ``modules``: ``given`` if it imports them, else this one
    if it does, else FALLBACK_PYTHON if that does; None (skip the side) otherwise."""
    candidates = [given] if given else [sys.executable, FALLBACK_PYTHON]
    return next((python for python in candidates if imports(python, modules)), None)


def child_environment(threads: int | None, torch: bool = False, **extra: str) -> dict[str, str]:
    """The environment of a side's process: the user's (``USER_ENVIRONMENT``), this ``minireason`` first on the path, the
    thread variables when ``threads`` is given, and ``extra``.

    A torch side (``torch=True``) gets the package through a folder holding only a link to it: a
    checkout's root on the path would also expose its ``kernels/`` folder as a top-level ``kernels``
    package, which transformers takes for Hugging Face's ``kernels`` and fails to import.
    """
    import minireason  # the package only (its __init__ is light): where this parent imports it from

    package = Path(minireason.__file__).resolve().parent
    root = package.parent
    environment = dict(USER_ENVIRONMENT)
    entries = [entry for entry in environment.get("PYTHONPATH", "").split(os.pathsep) if entry]
    if torch:
        entries = [entry for entry in entries if Path(entry).resolve() != root]
        linked = Path(tempfile.gettempdir()) / f"minireason-bench-{zlib.crc32(str(root).encode()):08x}"
        linked.mkdir(exist_ok=True)
        if not (linked / "minireason").exists():
            (linked / "minireason").symlink_to(package, target_is_directory=True)
        first = linked
    else:
        first = root
    environment["PYTHONPATH"] = os.pathsep.join([str(first), *entries])
    if threads is not None:
        environment.update(dict.fromkeys(THREAD_VARIABLES, str(threads)))
    environment.update(extra)
    return environment


def run_side(command: list[str], environment: dict[str, str], timeout: float | None = None) -> dict:
    """Run one side's process; its last output line as JSON, or {"error": the last line of stderr}."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        errors = done.stderr.strip().splitlines()
        return {"error": errors[-1] if errors else f"exit status {done.returncode}"}
    return json.loads(lines[-1])


def in_turns(pythons: dict[str, str], arguments, environments: dict[str, dict[str, str]], rounds: int,
             label: str = ""):
    """Every side's process in turns (A, B, C, A, B, C, ...), ``rounds`` rounds, side ``name`` started
    as ``[pythons[name], *arguments(name)]`` in ``environments[name]``: yields (name, result) for each
    run that reported; a failed run is printed, after ``label``, naming the side, and skipped."""
    for _ in range(rounds):
        for name, python in pythons.items():
            result = run_side([python, *arguments(name)], environments[name])
            if "error" in result:
                print(f"{label}{name}: failed: {result['error']}")
                continue
            yield name, result


def runs_to_fill(seconds: dict[str, float], row_seconds: float, minimum: int, maximum: int = 40) -> int:
    """How many timed runs each side of a row gets in its later processes: enough that the row's
    fastest side (``seconds``: each side's best run so far) runs for ``row_seconds`` a process, at
    least ``minimum``, at most ``maximum``.  One count for every side, so that no side's best is the
    least of more draws than another's; a short row (a tiny model's, 0.06 s) gets many, whose best
    moves far less from one benchmark run to the next than the best of two."""
    if not seconds:
        return minimum
    fastest = min(seconds.values())
    wanted = math.ceil(row_seconds / fastest) if fastest > 0 else maximum
    return max(minimum, min(maximum, wanted))


def peak_resident_bytes() -> int:
    """VmHWM: this process's peak resident set size (Linux), 0 where /proc is not there."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return 0
