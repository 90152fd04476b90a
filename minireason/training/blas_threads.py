"""Let OpenBLAS's worker threads sleep as soon as a matrix product ends, for a training run.

After each product OpenBLAS's workers keep polling for new work for about 2^28 cycles (0.1 s)
before they sleep.  A training step alternates BLAS products with the numba backend's parallel
kernels (attention, RMSNorm, SwiGLU, the loss), which then share the cores with those polling
threads: on 2 cores the fused attention's forward+backward at (4, 8, 256, 64) took 10.8 ms right
after a product against 7.6 ms with the workers asleep (docs/kernels.md).  OpenBLAS reads the
polling time from ``OPENBLAS_THREAD_TIMEOUT`` (as a power of two of cycles, at least 2^4) when it
starts its threads, so this sets the variable for a moment, has every loaded OpenBLAS (NumPy's,
and SciPy's, which the kernels' tile products call) read its environment again and stops their
threads; the next product starts them with the short timeout.

The cost: each product that uses several threads wakes them (tens of microseconds), which a
float32 decoding of a small model, with hundreds of small products per token, notices.  So, like
``training/memory.py``, this is something the training loop does for the length of the run
(``TrainConfig.blas_threads_sleep``; OpenBLAS's default is restored after it), not something
importing minireason does.  It needs an OpenBLAS that exports the two functions it
calls (NumPy's wheels do); elsewhere nothing changes.
"""

from __future__ import annotations

import contextlib
import ctypes
import os

SHORTEST_TIMEOUT = 4  # OpenBLAS clamps OPENBLAS_THREAD_TIMEOUT to 4..30 (2^4 to 2^30 cycles)
DEFAULT_TIMEOUT = 28  # OpenBLAS's own: about 0.1 s at 3 GHz
LONGEST_TIMEOUT = 30


def _loaded_openblas_libraries() -> list[ctypes.CDLL]:
    """Every OpenBLAS this process has loaded, found in /proc/self/maps (NumPy's, and SciPy's, whose
    copy the Numba kernels' tile products call); empty if none or not Linux."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and ".so" in line}
    except OSError:
        return []
    libraries = []
    for path in sorted(paths):
        try:
            library = ctypes.CDLL(path)  # already loaded: this returns a handle to the same copy
        except OSError:
            continue
        if all(hasattr(library, name) for name in ("openblas_read_env", "blas_thread_shutdown_",
                                                    "openblas_thread_timeout")):
            library.openblas_thread_timeout.restype = ctypes.c_int
            libraries.append(library)
    return libraries


def set_blas_thread_timeout(exponent: int) -> bool:
    """Restart the worker threads of every loaded OpenBLAS polling for 2^exponent cycles after a
    product (4 to 30; OpenBLAS's default is 28).  Returns True when it did.  Call it between
    products, not while another thread may be inside BLAS."""
    if not SHORTEST_TIMEOUT <= exponent <= LONGEST_TIMEOUT:
        raise ValueError(f"OpenBLAS's thread timeout exponent must be {SHORTEST_TIMEOUT} to {LONGEST_TIMEOUT}, "
                         f"got {exponent}")
    import numpy  # noqa: F401  (loads NumPy's OpenBLAS)

    libraries = _loaded_openblas_libraries()
    if not libraries:
        return False
    previous = os.environ.get("OPENBLAS_THREAD_TIMEOUT")
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = str(exponent)
    try:
        for library in libraries:
            library.openblas_read_env()
    finally:  # the process's environment as it was; OpenBLAS has read the value
        if previous is None:
            del os.environ["OPENBLAS_THREAD_TIMEOUT"]
        else:
            os.environ["OPENBLAS_THREAD_TIMEOUT"] = previous
    for library in libraries:
        library.blas_thread_shutdown_()  # the next product starts the threads with the new timeout
    return all(library.openblas_thread_timeout() == exponent for library in libraries)


@contextlib.contextmanager
def blas_threads_sleeping(enabled: bool = True):
    """Within the block, OpenBLAS's workers sleep as soon as a product ends; OpenBLAS's default
    polling (2^28 cycles) is restored after it.  Yields whether the setting was taken."""
    changed = enabled and set_blas_thread_timeout(SHORTEST_TIMEOUT)
    try:
        yield changed
    finally:
        if changed:
            set_blas_thread_timeout(DEFAULT_TIMEOUT)
