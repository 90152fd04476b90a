"""Memory bandwidth, the bound on batch-1 decoding: every step reads every weight once.

Shared by the decode benchmarks. Read bandwidth is what a matrix-vector product needs; a copy
(each byte read once and written once) is reported beside it for reference.
"""

from __future__ import annotations

import time

import numpy as np


def read_bandwidth(n_bytes: int = 1 << 30) -> float:
    """Bytes/s read by summing a large float32 array (one pass, no writes)."""
    data = np.ones(n_bytes // 4, dtype=np.float32)
    data.sum()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        data.sum()
        best = min(best, time.perf_counter() - start)
    return data.nbytes / best


def copy_bandwidth(n_bytes: int = 1 << 29) -> float:
    """Bytes/s moved by a large array copy (each byte read once and written once)."""
    source = np.ones(n_bytes // 8)
    target = np.empty_like(source)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        np.copyto(target, source)
        best = min(best, time.perf_counter() - start)
    return 2 * source.nbytes / best
