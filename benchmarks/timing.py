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


def best_alternating(functions: dict, repeats: int = 3, warm_up: bool = True) -> dict:
    """The best of ``repeats`` runs of each function, taken in turns (a, b, c, a, b, c, ...), so that
    a change in the machine's load touches every side alike.  name -> seconds."""
    if warm_up:
        for function in functions.values():
            function()
    best = dict.fromkeys(functions, float("inf"))
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            best[name] = min(best[name], time.perf_counter() - start)
    return best
