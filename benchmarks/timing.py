"""The one timer the benchmarks share: the best of several runs (the least disturbed by the rest of
the machine), after an untimed warm-up call unless the caller wants the first call in."""

from __future__ import annotations

import time


def best_seconds(function, repeats: int = 3, warm_up: bool = True) -> float:
    if warm_up:
        function()  # compiles, touches memory
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best
