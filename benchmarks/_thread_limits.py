"""Thread counts of a benchmark, fixed before NumPy loads its BLAS: import this module first.

``--threads N`` on the command line goes to OpenBLAS, OpenMP and Numba through their environment
variables, which they read once, when they load; PyTorch is told the same count by
``transformers_reference``.  Without it every side runs with the threads the user has (the
libraries' defaults, or what is exported): what users run.  ``machine_line`` records what else
was running.
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
if _asked is not None:
    for _variable in VARIABLES:
        os.environ[_variable] = str(_asked)
THREADS = int(os.environ.get("OPENBLAS_NUM_THREADS") or os.cpu_count() or 1)


def machine_line() -> str:
    """CPU count, the threads used, and the load averages (1, 5, 15 minutes) now."""
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"{os.cpu_count()} CPU(s), {THREADS} thread(s) per side, load average {load}"


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]
