"""The one place that picks which implementation of each hot op the model calls.

Every backend provides the same functions with the reference's exact contracts (shapes,
dtypes, cache contents as far as the matching backward needs them). The NumPy reference in
``minireason.nn`` is always complete; an accelerated backend may replace any subset, and the
rest falls back to the reference. Kernels live in ``minireason.kernels`` and are imported
lazily, only when their backend is chosen.  A model given no backend runs ``get_backend()``: the
last ``set_backend``'s, else ``default_backend()``, which is numba (a core dependency) wherever it
imports; the reference is one ``set_backend("numpy")`` (``--backend numpy``) away.

A backend module says what it replaces in one table, ``DISPATCH``: op name -> its choices in
order (``Choice``: the condition in words and as a test of the forward's arguments, the forward,
the backward that takes that forward's cache, and the cache's type).  The first choice whose
condition holds runs the forward; the backward is chosen by the type of the cache it is given,
so a cache always meets the backward of the forward that made it.  ``describe(name)`` prints a
backend's table.

A backend also says where arrays live: ``get_ops(name).array_module`` is ``numpy`` for the CPU
backends and ``cupy`` for the GPU one (see ``minireason.device``).  A model keeps its
parameters in its backend's array module.  The ops are the implementations themselves, unwrapped:
none of them changes process state (the process-level speed settings are ``minireason.runtime``'s,
switched where decoding and training start).
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from minireason.errors import ConfigError
from minireason.nn import attention, linear, loss, rmsnorm, rope, swiglu

# op name -> reference implementation (every op is a forward and a backward: "<op>_forward", "<op>_backward")
REFERENCE_OPS = {
    "linear_forward": linear.linear_forward,
    "linear_backward": linear.linear_backward,
    "attention_forward": attention.attention_forward,
    "attention_backward": attention.attention_backward,
    "rmsnorm_forward": rmsnorm.rmsnorm_forward,
    "rmsnorm_backward": rmsnorm.rmsnorm_backward,
    "swiglu_forward": swiglu.swiglu_forward,
    "swiglu_backward": swiglu.swiglu_backward,
    "rope_forward": rope.rope_forward,
    "rope_backward": rope.rope_backward,
    # the loss seam: every training loss (cross-entropy included) is a function of these (B, T) outputs
    "token_logprobs_forward": loss.token_logprobs_forward,
    "token_logprobs_backward": loss.token_logprobs_backward,
}

# what a backend module may also declare, with the default for those that do not
BACKEND_PROPERTIES = {
    "array_module": np,  # where arrays live: numpy, or a device module such as cupy
    "reads_bfloat16_weights": False,  # linear_forward multiplies BFloat16Matrix weights without widening them
}

# backend name -> (kernel module, the extra that installs its dependency; numba and scipy are core
# dependencies, "fast" stays as the name older install commands used)
BACKENDS = {
    "numpy": (None, None),
    "numba": ("minireason.kernels.numba_cpu", "fast"),
    "cupy": ("minireason.kernels.gpu", "gpu"),
}

# The backend of models given none, before any set_backend: the first of these that loads.
# ``MINIREASON_BACKEND`` in the environment names another (for scripts and subprocesses).
DEFAULT_BACKENDS = ("numba", "numpy")
BACKEND_VARIABLE = "MINIREASON_BACKEND"


@dataclass(frozen=True)
class Choice:
    """One implementation of an op in a backend's ``DISPATCH`` table.

    ``applies`` tests the forward's arguments (None: always; the last choice of an op must be
    unconditional).  ``backward`` takes the caches that ``forward`` makes, which are of type
    ``cache_type`` (None: the forward is never differentiated, as in decoding).
    """

    when: str
    forward: Callable
    backward: Callable | None
    applies: Callable[..., bool] | None = None
    cache_type: type = tuple


def _dispatching_forward(op: str, choices: tuple[Choice, ...]) -> Callable:
    """The forward of ``op``: the first choice whose condition holds (no wrapper for a single choice)."""
    if choices[-1].applies is not None:
        raise ConfigError(f"the last choice for {op!r} must apply always (applies=None)")
    if len(choices) == 1:
        return choices[0].forward
    conditional = tuple((choice.applies, choice.forward) for choice in choices[:-1])  # unpacked once: per-call cost
    fallback = choices[-1].forward

    def forward(*arguments):
        for applies, chosen in conditional:
            if applies(*arguments):
                return chosen(*arguments)
        return fallback(*arguments)

    forward.__name__ = forward.__qualname__ = f"{op}_forward"
    forward.__doc__ = f"{op} forward, dispatched: " + "; ".join(f"{c.when}: {c.forward.__module__}.{c.forward.__name__}"
                                                                 for c in choices)
    return forward


def _dispatching_backward(op: str, choices: tuple[Choice, ...]) -> Callable:
    """The backward of ``op``: the one that takes the cache's type (no wrapper if there is one backward)."""
    by_cache_type: dict[type, Callable] = {}
    for choice in choices:
        if choice.backward is None:
            continue
        if by_cache_type.setdefault(choice.cache_type, choice.backward) is not choice.backward:
            raise ConfigError(f"two backwards of {op!r} take caches of type {choice.cache_type.__name__}")
    if len(set(by_cache_type.values())) == 1:
        return next(iter(by_cache_type.values()))

    def backward(*arguments):
        cache = arguments[-1]  # every backward takes its cache last
        chosen = by_cache_type.get(type(cache))
        if chosen is None:
            raise TypeError(f"{op}_backward was given a cache of type {type(cache).__name__}, "
                            f"which no forward of this backend makes")
        return chosen(*arguments)

    backward.__name__ = backward.__qualname__ = f"{op}_backward"
    return backward


def _ops_of(module) -> dict:
    """Op name -> function for a backend module: its DISPATCH table over the reference ops."""
    ops = dict(REFERENCE_OPS)
    for op, choices in getattr(module, "DISPATCH", {}).items():
        if f"{op}_forward" not in REFERENCE_OPS:
            raise ConfigError(f"{module.__name__}.DISPATCH names {op!r}, which is not an op")
        ops[f"{op}_forward"] = _dispatching_forward(op, choices)
        if any(choice.backward is not None for choice in choices):
            ops[f"{op}_backward"] = _dispatching_backward(op, choices)
    for name in BACKEND_PROPERTIES:
        if hasattr(module, name):
            ops[name] = getattr(module, name)
    return ops


def _reference_choice(op: str) -> Choice:
    return Choice("always", REFERENCE_OPS[f"{op}_forward"], REFERENCE_OPS[f"{op}_backward"])


def dispatch_table(name: str | None = None) -> dict[str, tuple[Choice, ...]]:
    """Backend ``name``'s choices for every op (the reference's single choice where it keeps it)."""
    name = get_backend() if name is None else name
    _check_name(name)
    module = _backend_module(name)
    table = getattr(module, "DISPATCH", {}) if module is not None else {}
    ops = dict.fromkeys(op[: -len("_forward")] for op in REFERENCE_OPS if op.endswith("_forward"))
    return {op: tuple(table.get(op, (_reference_choice(op),))) for op in ops}


def _qualified_name(function: Callable) -> str:
    return f"{function.__module__}.{function.__name__}".removeprefix("minireason.")


def describe(name: str | None = None) -> str:
    """Backend ``name``'s dispatch table as text: op, condition, forward, and the backward of its cache."""
    rows = [("op", "when (first match wins)", "forward", "backward")]
    for op, choices in dispatch_table(name).items():
        for choice in choices:
            backward = "-" if choice.backward is None else _qualified_name(choice.backward)
            rows.append((op, choice.when, _qualified_name(choice.forward), backward))
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3]
                      for row in rows)


_current_backend: str | None = None  # None: default_backend(), resolved at first use
_ops_cache: dict[str, SimpleNamespace] = {}


def _check_name(name: str) -> None:
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}; expected one of {', '.join(BACKENDS)}")


def default_backend() -> str:
    """The backend used when none was chosen: ``MINIREASON_BACKEND`` if set, else the first of
    ``DEFAULT_BACKENDS`` whose dependencies import (numba, with the NumPy reference where numba is
    missing)."""
    chosen = os.environ.get(BACKEND_VARIABLE, "").strip()
    if chosen:
        if chosen not in BACKENDS:
            raise ConfigError(f"{BACKEND_VARIABLE}={chosen!r} names no backend; expected one of {', '.join(BACKENDS)}")
        return chosen
    return _first_loadable(DEFAULT_BACKENDS)


@functools.cache
def _first_loadable(names: tuple[str, ...]) -> str:
    for name in names[:-1]:
        try:
            _backend_module(name)
        except ConfigError:
            continue
        return name
    return names[-1]


def get_ops(name: str | None = None) -> SimpleNamespace:
    """The op namespace of backend ``name`` (default: the current backend)."""
    name = get_backend() if name is None else name
    _check_name(name)
    if name not in _ops_cache:
        module = _backend_module(name)
        ops = dict(BACKEND_PROPERTIES, **(_ops_of(module) if module is not None else REFERENCE_OPS))
        _ops_cache[name] = SimpleNamespace(name=name, **ops)
    return _ops_cache[name]


def _backend_module(name: str):
    """The kernel module of backend ``name`` (None for the reference), with the install hint if it cannot load."""
    module_name, extra = BACKENDS[name]
    if module_name is None:
        return None
    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(
            f"backend {name!r} needs an optional dependency that is not installed ({error}); "
            f"install it with: pip install 'minireason[{extra}]'"
        ) from error


def set_backend(name: str) -> None:
    """Choose the backend used by models that were not given one explicitly."""
    _check_name(name)
    get_ops(name)  # fail now, with the install hint, rather than at the first forward
    global _current_backend
    _current_backend = name


def get_backend() -> str:
    """The name of the backend models given none use (``numpy``, ``numba`` or ``cupy``): the last
    :func:`set_backend`'s, else :func:`default_backend`."""
    return default_backend() if _current_backend is None else _current_backend
