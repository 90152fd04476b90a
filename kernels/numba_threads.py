"""Threading set-up shared by the Numba kernels; imported before the first parallel kernel runs.

How numba's OpenMP threads wait between parallel regions is a process setting that has to be in
the environment before the threads start; it is set here, at the kernels' import, by
``minireason.runtime.set_openmp_wait_policy`` (a short spin, then sleep; the reasons and their
measurements are in docs/kernels.md, "Process settings").  A value the user exported wins.
"""

from __future__ import annotations

import numba
from numba.np.ufunc import parallel as numba_parallel

from minireason.runtime import set_openmp_wait_policy

set_openmp_wait_policy()


# numba.get_num_threads and numba.set_num_threads make sure the threading layer is up and check
# the count on every call, several times the cost of the call itself, and decoding asks at every
# op; so this module calls the threading layer's own functions behind them, which numba loads when
# it starts that layer (docs/kernels.md, "Threads", has the timings).
_count_functions: tuple | None = None  # (get, set) of the calling thread's count, found at first use


def _thread_count_functions() -> tuple:
    global _count_functions
    if _count_functions is None:
        numba.get_num_threads()  # starts the threading layer, which loads its functions
        get = getattr(numba_parallel, "_get_num_threads", None)
        set_ = getattr(numba_parallel, "_set_num_threads", None)
        _count_functions = (get, set_) if callable(get) and callable(set_) else (numba.get_num_threads,
                                                                                 numba.set_num_threads)
    return _count_functions


def threads_here() -> int:
    """numba's thread count for the calling thread (numba.get_num_threads, without its checks)."""
    return _thread_count_functions()[0]()


def _swap_threads(count: int) -> int:
    """Set numba's thread count for the calling thread to ``count`` (1 to its count at start);
    returns the count it had."""
    get, set_ = _thread_count_functions()
    previous = get()
    set_(count)
    return previous


def on_one_thread(function, *arguments):
    """``function(*arguments)`` with numba's parallel kernels on the calling thread only (numba's
    thread count is per thread): no hand-off, and a parallel-compiled loop keeps its SIMD."""
    threads = _swap_threads(1)
    try:
        return function(*arguments)
    finally:
        _swap_threads(threads)
