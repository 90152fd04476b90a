"""A stand-in for a GPU array library, so that CI can check the device path without a GPU.

``FakeDeviceArray`` holds a NumPy array but behaves like a CuPy array where it matters for
"does everything stay on the device":

- NumPy ufuncs and array functions called on it dispatch to it and return device arrays, as
  they do for CuPy (``__array_ufunc__``, ``__array_function__``);
- turning it into a NumPy array implicitly raises TypeError, as CuPy does; only ``.get()``
  copies to the host;
- mixing it with a host ``numpy.ndarray`` in one operation or as an index raises TypeError (a
  forgotten transfer), as CuPy does;
- reductions return 0-d device arrays, not Python scalars.

Used as a backend module: ``minireason.backend`` reads its ``array_module`` and, finding no op
here, runs the NumPy reference ops on device arrays, so the test checks the reference code
itself for host-only calls.  The arithmetic is NumPy's, so results equal the host run's exactly.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

HOST_ALLOWED = {"asarray", "array", "ascontiguousarray"}  # the transfers a device library accepts


class HostArrayError(TypeError):
    pass


def _unwrap(value):
    if isinstance(value, FakeDeviceArray):
        return value._data
    if isinstance(value, np.ndarray):
        raise HostArrayError(f"a host numpy array of shape {value.shape} met a device array")
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(item) for item in value)
    if isinstance(value, dict):
        return {key: _unwrap(item) for key, item in value.items()}
    return value


def _wrap(value):
    if isinstance(value, (np.ndarray, np.generic)) and not isinstance(value, np.dtype):
        return FakeDeviceArray(np.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(item) for item in value)
    if isinstance(value, list):
        return [_wrap(item) for item in value]
    return value


class FakeDeviceArray(NDArrayOperatorsMixin):
    __slots__ = ("_data",)

    def __init__(self, data: np.ndarray):
        self._data = data

    # -- the device-library behaviour under test
    def __array__(self, dtype=None, copy=None):
        raise TypeError("implicit conversion of a device array to a NumPy array; call .get()")

    def __array_namespace__(self, api_version=None):
        return fake_module

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        result = getattr(ufunc, method)(*_unwrap(inputs), **_unwrap(kwargs))
        if "out" in kwargs:
            outputs = kwargs["out"]
            return outputs[0] if len(outputs) == 1 else outputs
        return None if method == "at" else _wrap(result)

    def __array_function__(self, func, types, args, kwargs):
        return _wrap(func(*_unwrap(args), **_unwrap(kwargs)))

    def get(self) -> np.ndarray:
        return self._data.copy()

    # -- ndarray surface
    shape = property(lambda self: self._data.shape)
    dtype = property(lambda self: self._data.dtype)
    ndim = property(lambda self: self._data.ndim)
    size = property(lambda self: self._data.size)
    nbytes = property(lambda self: self._data.nbytes)
    T = property(lambda self: FakeDeviceArray(self._data.T))

    def __len__(self):
        return len(self._data)

    def __getitem__(self, key):
        return _wrap(self._data[_unwrap(key)])

    def __setitem__(self, key, value):
        self._data[_unwrap(key)] = _unwrap(value)

    def __float__(self):
        return float(self._data)

    def __int__(self):
        return int(self._data)

    def __bool__(self):
        return bool(self._data)

    def __index__(self):
        return int(self._data)

    def __repr__(self):
        return f"FakeDeviceArray({self._data!r})"

    def __iter__(self):
        raise TypeError("iterating over a device array element by element (a host loop); transfer it first")

    def __getattr__(self, name):  # methods: reshape, astype, sum, max, swapaxes, copy, ...
        if name.startswith("__"):  # no __array_interface__ and the like: those would hand out host memory
            raise AttributeError(name)
        attribute = getattr(self._data, name)
        if not callable(attribute):
            return _wrap(attribute)

        def method(*args, **kwargs):
            return _wrap(attribute(*_unwrap(args), **_unwrap(kwargs)))

        return method


class _FakeModule:
    """``numpy`` as seen from the device: creation functions make device arrays."""

    __name__ = "fake_device_module"

    def __getattr__(self, name):
        attribute = getattr(np, name)
        if isinstance(attribute, (type, np.ufunc)) or not callable(attribute):
            return attribute  # dtypes, finfo, ufuncs (they dispatch by themselves), constants

        def function(*args, **kwargs):
            if name in HOST_ALLOWED:
                if args and isinstance(args[0], FakeDeviceArray):  # already on the device: no copy needed
                    return FakeDeviceArray(attribute(args[0]._data, *args[1:], **kwargs))
                return FakeDeviceArray(np.array(attribute(*args, **kwargs), copy=True))  # a transfer copies
            return _wrap(attribute(*_unwrap(args), **_unwrap(kwargs)))

        return function


fake_module = _FakeModule()
array_module = fake_module  # what minireason.backend reads from a backend module
