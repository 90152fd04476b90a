"""Thread counts of a benchmark, fixed before NumPy loads its BLAS: import this module first.

``--threads N`` on the command line (default 1) goes to OpenBLAS, OpenMP and Numba through their
environment variables, which they read once, when they load; PyTorch is told the same count by
``transformers_reference``.  One thread on both sides is the default because the measuring
machine is shared with single-threaded work; a value already exported wins over the default, and
``--threads`` wins over both.  ``machine_line`` records what else was running.
"""

from __future__ import annotations

import os
import sys

VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "MKL_NUM_THREADS")


def _threads_from_argv(argv: list[str]) -> int | None:
    for index, argument in enumerate(argv):
        if argument == "--threads" and index + 1 < len(argv):
            return int(argv[index + 1])
        if argument.startswith("--threads="):
            return int(argument.split("=", 1)[1])
    return None


_asked = _threads_from_argv(sys.argv)
for _variable in VARIABLES:
    if _asked is not None:
        os.environ[_variable] = str(_asked)
    else:
        os.environ.setdefault(_variable, "1")
THREADS = int(os.environ["OPENBLAS_NUM_THREADS"])


def machine_line() -> str:
    """CPU count, the threads used, and the load averages (1, 5, 15 minutes) now."""
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"{os.cpu_count()} CPU(s), {THREADS} thread(s) per side, load average {load}"


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]
