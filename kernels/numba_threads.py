"""Threading set-up shared by the Numba kernels; imported before the first parallel kernel runs.

How numba's OpenMP threads wait between parallel regions is a process setting that has to be in
the environment before the threads start; it is set here, at the kernels' import, by
``minireason.runtime.set_openmp_wait_policy`` (a short spin, then sleep; the reasons and their
measurements are in docs/kernels.md, "Process settings").  A value the user exported wins.
"""

from __future__ import annotations

import numba

from minireason.runtime import set_openmp_wait_policy

set_openmp_wait_policy()


def on_one_thread(function, *arguments):
    """``function(*arguments)`` with numba's parallel kernels on the calling thread only (numba's
    thread count is per thread): no hand-off, and a parallel-compiled loop keeps its SIMD."""
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        return function(*arguments)
    finally:
        numba.set_num_threads(threads)
