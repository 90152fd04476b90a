"""Memory bandwidth, the bound on batch-1 decoding: every step reads every weight once.

Shared by the decode benchmarks. Read bandwidth is what a matrix-vector product needs; a copy
(each byte read once and written once) is reported beside it for reference.
"""

from __future__ import annotations

import time

import numpy as np
from timing import best_seconds


def read_bandwidth(n_bytes: int = 1 << 30) -> float:
    """Bytes/s the machine reads from memory, the best of several one-pass readers of a large
    float32 array: NumPy's sum (one thread), BLAS's matrix-vector product (its threads) and, with
    numba installed, a parallel row-by-row dot product on every core.  One thread does not reach
    the machine's bandwidth (this 2-core machine: 25 GB/s from one thread, 32 GB/s from two), and
    a bound taken from one thread would flatter every multi-threaded decoder measured against it."""
    n_bytes, readers = _readers(n_bytes)
    return n_bytes / min(best_seconds(reader) for reader in readers)


def bandwidth_probe(n_bytes: int = 1 << 30):
    """A function that reads ``n_bytes`` once with the fastest of the readers above and returns the
    bytes/s of that one pass: for measuring the bandwidth in alternation with the work it bounds,
    on a machine whose bandwidth moves with its neighbours' load (this one: 33 to 60 GB/s)."""
    n_bytes, readers = _readers(n_bytes)
    fastest = min(readers, key=best_seconds)

    def probe() -> float:
        time.sleep(0.15)  # OpenBLAS's threads poll for about 0.1 s after a product and would slow the reader
        return n_bytes / best_seconds(fastest, repeats=1, warm_up=False)
    return probe


def _readers(n_bytes: int):
    """(bytes each reader reads, the readers): one-pass readers of one float32 array of about n_bytes."""
    matrix = np.ones((n_bytes // 4 // 1024, 1024), dtype=np.float32)  # (rows, 1024)
    vector = np.ones(1024, dtype=np.float32)
    readers = [lambda: matrix.sum(), lambda: matrix @ vector]
    try:
        readers.append(_numba_row_reader(matrix, vector))
    except ImportError:
        pass
    return matrix.nbytes, readers


def _numba_row_reader(matrix, vector):
    import minireason.kernels.numba_threads  # noqa: F401  (the kernels' threading set-up)
    import numba

    @numba.njit(parallel=True, fastmath=True)
    def row_dots(matrix, vector, out):  # pragma: no cover - compiled
        for row in numba.prange(matrix.shape[0]):
            total = np.float32(0.0)
            for i in range(matrix.shape[1]):
                total += matrix[row, i] * vector[i]
            out[row] = total

    out = np.empty(matrix.shape[0], dtype=np.float32)
    return lambda: row_dots(matrix, vector, out)


def copy_bandwidth(n_bytes: int = 1 << 29) -> float:
    """Bytes/s moved by a large array copy (each byte read once and written once)."""
    source = np.ones(n_bytes // 8)
    target = np.empty_like(source)
    return 2 * source.nbytes / best_seconds(lambda: np.copyto(target, source), warm_up=False)
