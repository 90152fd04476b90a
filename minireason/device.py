"""Where arrays live: host memory (NumPy) or a device (a GPU, through CuPy).

The reference code in ``minireason.nn`` is written with NumPy functions.  Called on CuPy arrays,
NumPy's ufuncs and array functions dispatch to CuPy (the ``__array_ufunc__`` and
``__array_function__`` protocols), so the same lines run on the GPU.  Two things do not
dispatch, and this module is where they are handled:

- creating an array (``np.zeros``, ``np.arange``, ...) has no input array to dispatch on: it
  must be asked of the module of the arrays it will meet, ``array_module_of(x).zeros(...)``;
- a device library refuses to mix host and device arrays in one operation, and refuses to turn
  a device array into a NumPy one implicitly: data crosses only through ``to_module``/``to_host``.

Small bookkeeping arrays (token ids while they are checked, masks, position ids, the RoPE
tables) are built on the host and sent to the device once per forward; activations, weights,
gradients, optimizer moments and the KV cache stay on the device.
"""

from __future__ import annotations

import sys

import numpy as np


def array_module_of(*arrays):
    """The array module (``numpy``, ``cupy``, ...) of the first non-NumPy array among ``arrays``.

    Host arrays, Python and NumPy scalars and None are skipped; with no device array, NumPy.
    """
    for array in arrays:
        if array is None or isinstance(array, (np.ndarray, np.generic, int, float, bool)):
            continue
        cupy = sys.modules.get("cupy")
        if cupy is not None and isinstance(array, cupy.ndarray):
            return cupy
        namespace = getattr(array, "__array_namespace__", None)
        if namespace is not None:
            return namespace()
    return np


def to_host(array) -> np.ndarray:
    """A NumPy array with the values of ``array`` (a copy from the device; host arrays pass through)."""
    if isinstance(array, np.ndarray):
        return array
    if array_module_of(array) is not np:
        return array.get()  # cupy.ndarray.get() copies to a numpy.ndarray
    return np.asarray(array)  # lists, scalars


def to_module(array, module, dtype=None):
    """``array`` as an array of ``module`` (NumPy or a device module), converted to ``dtype`` if given."""
    if module is np:
        return np.asarray(to_host(array), dtype=dtype)
    return module.asarray(array, dtype=dtype)

