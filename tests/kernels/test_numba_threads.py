"""numba_threads: the calling thread's numba thread count, read and set without numba's Python checks."""

import threading
import types

import pytest

numba = pytest.importorskip("numba")
from minireason.kernels import numba_threads  # noqa: E402


def test_threads_here_is_numbas_count_for_the_calling_thread():
    assert numba_threads.threads_here() == numba.get_num_threads()
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has one thread here")
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        assert numba_threads.threads_here() == 1
        seen = []
        other = threading.Thread(target=lambda: seen.append(numba_threads.threads_here()))
        other.start()
        other.join()
        assert seen == [numba.config.NUMBA_NUM_THREADS]  # per thread: another thread keeps its own
    finally:
        numba.set_num_threads(previous)


def test_on_one_thread_runs_with_one_and_gives_the_count_back_also_after_an_error():
    before = numba.get_num_threads()
    assert numba_threads.on_one_thread(lambda a, b: (numba.get_num_threads(), a + b), 2, 3) == (1, 5)
    assert numba.get_num_threads() == numba_threads.threads_here() == before
    with pytest.raises(ZeroDivisionError):
        numba_threads.on_one_thread(lambda: 1 / 0)
    assert numba.get_num_threads() == before


def test_without_the_threading_layers_own_functions_numbas_public_ones_are_used(monkeypatch):
    monkeypatch.setattr(numba_threads, "_count_functions", None)
    monkeypatch.setattr(numba_threads, "numba_parallel", types.SimpleNamespace())  # a numba without them
    assert numba_threads._thread_count_functions() == (numba.get_num_threads, numba.set_num_threads)
    before = numba.get_num_threads()
    assert numba_threads.on_one_thread(numba.get_num_threads) == 1
    assert numba_threads.threads_here() == numba.get_num_threads() == before
