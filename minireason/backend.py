"""The one place that picks which implementation of each hot op the model calls.

Every backend provides the same functions with the reference's exact contracts (shapes,
dtypes, cache contents as far as the matching backward needs them). The NumPy reference in
``minireason.nn`` is always complete; an accelerated backend may replace any subset, and the
rest falls back to the reference. Kernels live in ``minireason.kernels`` and are imported
lazily, only when their backend is chosen.

A backend also says where arrays live: ``get_ops(name).array_module`` is ``numpy`` for the CPU
backends and ``cupy`` for the GPU one (see ``minireason.device``).  A model keeps its
parameters in its backend's array module.

A CPU backend also applies the process settings that make it fast (``minireason.runtime``) the
first time it is used, and switches the runtime's profile (decode, train) as the work changes:
two of its ops are wrapped for that (``runtime.switching_ops``; ``runtime.implementation(op)``
is the op underneath).
"""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import numpy as np

from minireason import runtime
from minireason.errors import ConfigError
from minireason.nn import attention, linear, loss, rmsnorm, rope, swiglu

# op name -> reference implementation
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

# backend name -> (kernel module, the extra that installs its dependency)
BACKENDS = {
    "numpy": (None, None),
    "numba": ("minireason.kernels.numba_cpu", "fast"),
    "cupy": ("minireason.kernels.gpu", "gpu"),
}

_current_backend = "numpy"
_ops_cache: dict[str, SimpleNamespace] = {}


def _check_name(name: str) -> None:
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}; expected one of {', '.join(BACKENDS)}")


def get_ops(name: str | None = None) -> SimpleNamespace:
    """The op namespace of backend ``name`` (default: the current backend)."""
    name = _current_backend if name is None else name
    _check_name(name)
    if name not in _ops_cache:
        ops = dict(REFERENCE_OPS, **BACKEND_PROPERTIES)
        module_name, extra = BACKENDS[name]
        if module_name is not None:
            try:
                module = importlib.import_module(module_name)
            except ImportError as error:
                raise ConfigError(
                    f"backend {name!r} needs an optional dependency that is not installed ({error}); "
                    f"install it with: pip install 'minireason[{extra}]'"
                ) from error
            for op_name in (*REFERENCE_OPS, *BACKEND_PROPERTIES):
                if hasattr(module, op_name):
                    ops[op_name] = getattr(module, op_name)
        if ops["array_module"] is np:  # a CPU backend: the process settings, and the profile switches
            runtime.apply_process_settings()
            ops = runtime.switching_ops(ops)
        _ops_cache[name] = SimpleNamespace(name=name, **ops)
    return _ops_cache[name]


def set_backend(name: str) -> None:
    """Choose the backend used by models that were not given one explicitly."""
    _check_name(name)
    get_ops(name)  # fail now, with the install hint, rather than at the first forward
    global _current_backend
    _current_backend = name


def get_backend() -> str:
    return _current_backend
