"""training/blas_threads.py: OpenBLAS's thread polling changed at run time, and restored."""

from __future__ import annotations

import os

import numpy as np
import pytest

from minireason.training import blas_threads


@pytest.fixture
def openblas():
    library = blas_threads._loaded_openblas()
    if library is None:  # NumPy built on another BLAS (Accelerate, MKL): the call is a no-op there
        assert not blas_threads.set_blas_thread_timeout(blas_threads.SHORTEST_TIMEOUT)
        pytest.skip("this NumPy does not use OpenBLAS")
    return library


def _timeout(library) -> int:
    return library.openblas_thread_timeout()


def test_timeout_is_set_and_restored_and_products_are_unchanged(openblas):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((300, 200)), rng.standard_normal((200, 250))
    expected = a @ b
    environment = os.environ.get("OPENBLAS_THREAD_TIMEOUT")
    with blas_threads.blas_threads_sleeping() as changed:
        assert changed and _timeout(openblas) == blas_threads.SHORTEST_TIMEOUT
        assert os.environ.get("OPENBLAS_THREAD_TIMEOUT") == environment  # the process's environment untouched
        np.testing.assert_array_equal(a @ b, expected)  # the threads restart on the next product
    assert _timeout(openblas) == blas_threads.DEFAULT_TIMEOUT
    np.testing.assert_array_equal(a @ b, expected)


def test_default_is_restored_when_the_block_raises(openblas):
    with pytest.raises(RuntimeError), blas_threads.blas_threads_sleeping():
        assert _timeout(openblas) == blas_threads.SHORTEST_TIMEOUT
        raise RuntimeError("a failed training run")
    assert _timeout(openblas) == blas_threads.DEFAULT_TIMEOUT


def test_disabled_changes_nothing(openblas):
    before = _timeout(openblas)  # 0 (OpenBLAS's built-in default) until a value was read
    with blas_threads.blas_threads_sleeping(enabled=False) as changed:
        assert not changed and _timeout(openblas) == before
