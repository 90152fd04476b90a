"""The one seed rule, and how a run derives each item's own generator from its seed.

A seed is an int in [0, 2**63): what ``numpy.random.default_rng`` accepts as one number, bounded so
that it fits an int64 field of a results record.  Work that samples per item (a problem, a prompt
of a GRPO step, a teacher trace) draws from ``numpy.random.default_rng([seed, item, sample])``, so
what an item gets does not depend on the batch it fell in, the worker that ran it, or where a run
was resumed.
"""

from __future__ import annotations

import numpy as np

from minireason.errors import InputError

MAX_SEED = 2**63 - 1  # the command line's bound too (cli.arguments.seed)


def check_seed(seed, name: str = "seed", allow_none: bool = True) -> int | None:
    """``seed`` as an int in [0, 2**63), or None where ``allow_none`` (fresh entropy); InputError
    naming the argument otherwise (NumPy's own errors for -1 or 1.5 name neither it nor the rule)."""
    if seed is None and allow_none:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        allowed = "None or an int" if allow_none else "an int"
        raise InputError(f"{name} must be {allowed} >= 0 and < 2**63, got {seed!r}")
    return int(seed)


def item_generator(seed: int, item: int, sample: int = 0) -> np.random.Generator:
    """The generator of one item's ``sample``-th draw under ``seed``."""
    return np.random.default_rng([seed, item, sample])
