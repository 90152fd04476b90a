"""Let OpenBLAS's worker threads sleep as soon as a matrix product ends.

After each product OpenBLAS's workers keep polling for new work for about 2^28 cycles (0.1 s)
before they sleep; in a training step the numba backend's parallel kernels between the products
then share the cores with those polling threads.  The mechanism (``set_blas_thread_timeout``)
lives with the other process settings in ``minireason.runtime``, whose ``train`` profile uses it
(docs/kernels.md "Process settings"); ``blas_threads_sleeping`` is the plain block: the short
timeout inside, OpenBLAS's default after, whatever profile was in force.
"""

from __future__ import annotations

import contextlib

from minireason.runtime import (
    DEFAULT_TIMEOUT,
    LONGEST_TIMEOUT,
    SHORTEST_TIMEOUT,
    _loaded_openblas_libraries,
    set_blas_thread_timeout,
)

__all__ = ["DEFAULT_TIMEOUT", "LONGEST_TIMEOUT", "SHORTEST_TIMEOUT", "_loaded_openblas_libraries",
           "blas_threads_sleeping", "set_blas_thread_timeout"]


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
