"""runtime.py's OpenBLAS thread timeout: OpenBLAS's thread polling changed at run time, and restored."""

from __future__ import annotations

import os

import numpy as np
import pytest

from minireason import runtime


@pytest.fixture
def openblas():
    libraries = runtime._loaded_openblas_libraries()
    if not libraries:  # NumPy built on another BLAS (Accelerate, MKL): the call is a no-op there
        assert not runtime.set_blas_thread_timeout(runtime.SHORTEST_TIMEOUT)
        pytest.skip("this NumPy does not use OpenBLAS")
    numpy_library = np.__file__.rsplit("/", 2)[0]  # site-packages: NumPy's copy lives beside numpy/
    assert any(numpy_library in library._name for library in libraries)
    return libraries


def _timeout(libraries) -> int:
    timeouts = {library.openblas_thread_timeout() for library in libraries}
    assert len(timeouts) == 1, f"the loaded OpenBLAS copies disagree: {timeouts}"
    return timeouts.pop()


def test_timeout_is_set_and_restored_and_products_are_unchanged(openblas):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((300, 200)), rng.standard_normal((200, 250))
    expected = a @ b
    environment = os.environ.get("OPENBLAS_THREAD_TIMEOUT")
    try:
        assert runtime.set_blas_thread_timeout(runtime.SHORTEST_TIMEOUT)
        assert _timeout(openblas) == runtime.SHORTEST_TIMEOUT
        assert os.environ.get("OPENBLAS_THREAD_TIMEOUT") == environment  # the process's environment untouched
        np.testing.assert_array_equal(a @ b, expected)  # the threads restart on the next product
    finally:
        assert runtime.set_blas_thread_timeout(runtime.DEFAULT_TIMEOUT)
    assert _timeout(openblas) == runtime.DEFAULT_TIMEOUT
    np.testing.assert_array_equal(a @ b, expected)


@pytest.mark.parametrize("exponent", [3, 31])
def test_a_timeout_outside_what_openblas_takes_is_refused(exponent):
    with pytest.raises(ValueError, match="4 to 30"):
        runtime.set_blas_thread_timeout(exponent)
