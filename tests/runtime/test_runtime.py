"""minireason/runtime.py: the process settings, their profiles, where decoding and training switch them."""

from __future__ import annotations

import copy
import json
import os
import platform
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from byte_tokenizer import ByteTokenizer

from minireason import backend, runtime
from minireason.config import PRESETS
from minireason.errors import InputError
from minireason.generation.generate import generate, stream_generate
from minireason.model import Qwen3Model
from minireason.nn import attention, rmsnorm
from minireason.training.loop import TrainConfig, train


@pytest.fixture(autouse=True)
def runtime_state():
    """Each test starts from the state the earlier ones left and gives it back, OpenBLAS included."""
    saved = copy.copy(runtime._state)
    yield runtime._state
    if runtime.enabled():
        runtime._set_blas_polling(saved.blas_thread_timeout or runtime.DEFAULT_TIMEOUT)
    runtime._state.__dict__.update(saved.__dict__)


def openblas_timeouts() -> set[int]:
    return {library.openblas_thread_timeout() for library in runtime._loaded_openblas_libraries()}


def has_openblas() -> bool:
    return bool(runtime._loaded_openblas_libraries())


def tiny_model(backend_name: str = "numpy") -> Qwen3Model:
    return Qwen3Model.from_config(PRESETS["test-tiny"], seed=0, backend=backend_name)


def a_backward(model: Qwen3Model) -> float:
    ids = np.random.default_rng(0).integers(0, model.config.vocab_size, (2, 9))
    return model.loss_and_grads(ids[:, :-1], ids[:, 1:])[0]


def recording_forwards(model: Qwen3Model, monkeypatch) -> list[tuple[str | None, frozenset]]:
    """(profile, OpenBLAS timeouts) at every forward of ``model`` from now on."""
    seen = []
    forward = model.forward

    def recorded(*args, **kwargs):
        seen.append((runtime.current_profile(), frozenset(openblas_timeouts())))
        return forward(*args, **kwargs)

    monkeypatch.setattr(model, "forward", recorded)
    return seen


@pytest.mark.parametrize(("name", "timeout"), [("decode", runtime.PROCESS_TIMEOUT),
                                               ("train", runtime.SHORTEST_TIMEOUT)])
def test_each_profile_sets_openblas_polling_for_its_kind_of_work(name, timeout):
    """Decoding's many small products keep OpenBLAS's threads polling for a few milliseconds, shorter
    than OpenBLAS's own 0.1 s; training lets them sleep at once (read back from OpenBLAS itself, not
    from the table)."""
    assert runtime.SHORTEST_TIMEOUT < runtime.PROCESS_TIMEOUT < runtime.DEFAULT_TIMEOUT
    if not has_openblas():
        pytest.skip("this NumPy does not use OpenBLAS")
    other = "train" if name == "decode" else "decode"
    runtime.activate(other)
    runtime.activate(name)
    assert openblas_timeouts() == {timeout} and runtime.current_profile() == name


@pytest.mark.parametrize(("exported", "polls"), [("12", True), ("4", False), ("2", False), ("40", True)])
def test_an_exported_openblas_thread_timeout_wins(exported, polls, monkeypatch):
    """The user's OPENBLAS_THREAD_TIMEOUT (clamped to 4..30, as OpenBLAS does) is left in force by
    every profile, and the numba backend's thread rules read it; a value OpenBLAS ignores is ignored."""
    if not has_openblas():
        pytest.skip("this NumPy does not use OpenBLAS")
    runtime.activate("decode")
    before = openblas_timeouts()
    monkeypatch.setenv("OPENBLAS_THREAD_TIMEOUT", exported)
    for name in ("train", "decode", "train"):
        runtime.activate(name)
        assert openblas_timeouts() == before  # not restarted with the profile's value
        assert runtime.blas_workers_poll() is polls
        assert runtime.settings()["blas_thread_timeout"] == min(max(int(exported), 4), 30)
    monkeypatch.setenv("OPENBLAS_THREAD_TIMEOUT", "soon")
    assert runtime.exported_blas_thread_timeout() is None
    runtime.activate("train")
    assert openblas_timeouts() == {runtime.SHORTEST_TIMEOUT} and not runtime.blas_workers_poll()


def test_the_first_switch_applies_the_process_settings_once():
    runtime.activate("decode")
    state = runtime.settings()
    assert state["enabled"] and state["profile"] == "decode" and state["blas_thread_timeout"] == runtime.PROCESS_TIMEOUT
    if has_openblas():
        assert openblas_timeouts() == {runtime.PROCESS_TIMEOUT}
    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert state["keep_freed_memory"] is glibc  # mallopt found and all four settings taken
    if "OMP_WAIT_POLICY" not in os.environ:
        assert os.environ.get("GOMP_SPINCOUNT")  # numba's OpenMP threads: a short spin, then sleep
    runtime.apply_process_settings()  # once: a second call changes nothing
    assert runtime.settings() == state


@pytest.mark.parametrize("backend_name", ["numpy", "numba"])
def test_no_op_changes_process_state(backend_name):
    """The backend's ops are the implementations: a backward or a forward leaves the profile alone."""
    if backend_name == "numba":
        pytest.importorskip("numba")
    model = tiny_model(backend_name)
    ops = backend.get_ops(backend_name)
    if backend_name == "numpy":
        assert ops.attention_forward is attention.attention_forward
        assert ops.rmsnorm_backward is rmsnorm.rmsnorm_backward
    runtime.activate("decode")
    before = openblas_timeouts()
    a_backward(model)
    model.logits(np.array([[1, 2, 3]]))
    assert runtime.current_profile() == "decode" and openblas_timeouts() == before


def test_a_gradient_outside_every_profile_switches_to_train_once(monkeypatch):
    """A user's own loop calling the loss seam gets a training step's settings (the process's and
    ``train``'s polling) at its first gradient, and keeps them: no restart of OpenBLAS's threads at
    later steps.  A forward alone switches nothing."""
    model = tiny_model()
    runtime._set_blas_polling(runtime.DEFAULT_TIMEOUT)
    runtime._state.process_settings_applied, runtime._state.active = False, None  # a fresh process's state
    restarts = []
    set_timeout = runtime.set_blas_thread_timeout
    monkeypatch.setattr(runtime, "set_blas_thread_timeout", lambda exponent: restarts.append(exponent) or set_timeout(exponent))
    model.logits(np.array([[1, 2, 3]]))
    assert runtime.current_profile() is None and restarts == []
    a_backward(model)
    assert runtime.current_profile() == "train" and runtime.settings()["keep_freed_memory"] is not None
    assert restarts == [runtime.PROCESS_TIMEOUT, runtime.SHORTEST_TIMEOUT]
    a_backward(model)
    model.logits_loss_and_grads(np.array([[1, 2, 3]]), lambda logits: (0.0, np.zeros_like(logits)))
    assert restarts == [runtime.PROCESS_TIMEOUT, runtime.SHORTEST_TIMEOUT]
    if has_openblas():
        assert openblas_timeouts() == {runtime.SHORTEST_TIMEOUT}


def decode(model: Qwen3Model, streaming: bool) -> None:
    if streaming:
        list(stream_generate(model, ByteTokenizer(), "ab", 6, stop_token_ids=[]))
    else:
        generate(model, None, [[1, 2, 3], [4, 5]], 6, stop_token_ids=[])


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("before", [None, "train"])
def test_decoding_runs_in_the_decode_profile_and_gives_the_previous_one_back(streaming, before, monkeypatch):
    model = Qwen3Model.from_config(PRESETS["test-tiny"].replace(vocab_size=258), seed=0)
    if before is None:  # nothing switched yet in this process
        runtime._set_blas_polling(runtime.DEFAULT_TIMEOUT)
        runtime._state.active = None
    else:
        runtime.activate(before)
    timeouts_before = openblas_timeouts()
    seen = recording_forwards(model, monkeypatch)
    decode(model, streaming)
    steps = seen[1:]  # after the prefill
    assert steps and all(profile == "decode" for profile, _ in steps)
    if has_openblas():
        assert all(timeouts == {runtime.PROCESS_TIMEOUT} for _, timeouts in steps)
        # after a training block its own polling; with none, the process's (no restart after each call)
        assert openblas_timeouts() == (timeouts_before if before else {runtime.PROCESS_TIMEOUT})
    assert runtime.current_profile() == before


def test_decoding_outside_training_restarts_no_openblas_thread(monkeypatch):
    """OpenBLAS's polling is set once per process (``PROCESS_TIMEOUT``, a restart of its threads); a
    ``generate`` call outside training keeps it, so it restarts nothing, before or after."""
    model = Qwen3Model.from_config(PRESETS["test-tiny"].replace(vocab_size=258), seed=0)
    runtime._set_blas_polling(runtime.DEFAULT_TIMEOUT)
    runtime._state.process_settings_applied, runtime._state.active = False, None  # a fresh process's state
    restarts = []
    set_timeout = runtime.set_blas_thread_timeout
    monkeypatch.setattr(runtime, "set_blas_thread_timeout", lambda exponent: restarts.append(exponent) or set_timeout(exponent))
    decode(model, streaming=False)
    assert restarts == [runtime.PROCESS_TIMEOUT]  # the process settings, at the first switch
    decode(model, streaming=False)
    decode(model, streaming=True)
    assert restarts == [runtime.PROCESS_TIMEOUT] and runtime.current_profile() is None
    if has_openblas():
        assert openblas_timeouts() == {runtime.PROCESS_TIMEOUT}


def test_training_runs_in_the_train_profile_and_rollouts_inside_it_decode(tmp_path):
    """GRPO's shape: a training step that decodes (rollouts), then learns."""
    model = Qwen3Model.from_config(PRESETS["test-tiny"].replace(vocab_size=258), seed=0)
    runtime.activate("decode")
    seen = []

    def step(model, rng, step):
        seen.append(("start", runtime.current_profile(), frozenset(openblas_timeouts())))
        generate(model, None, [[1, 2, 3]], 4, stop_token_ids=[])
        seen.append(("learn", runtime.current_profile(), frozenset(openblas_timeouts())))
        ids = rng.integers(0, 64, size=(2, 6))
        loss, grads = model.loss_and_grads(ids[:, :-1], ids[:, 1:])
        return loss, grads, {}

    train(model, step, TrainConfig(steps=2, warmup_steps=1), tmp_path, progress=False)
    assert [(where, profile) for where, profile, _ in seen] == [("start", "train"), ("learn", "train")] * 2
    if has_openblas():
        assert all(timeouts == {runtime.SHORTEST_TIMEOUT} for _, _, timeouts in seen)
        assert openblas_timeouts() == {runtime.PROCESS_TIMEOUT}
    assert runtime.current_profile() == "decode"


def test_use_profile_gives_the_previous_profile_back_when_the_block_raises():
    runtime.activate("decode")
    with pytest.raises(RuntimeError), runtime.use_profile("train") as profile:
        assert profile.name == "train" and runtime.current_profile() == "train"
        if has_openblas():
            assert openblas_timeouts() == {runtime.SHORTEST_TIMEOUT}
        raise RuntimeError("a failed training run")
    assert runtime.current_profile() == "decode"
    if has_openblas():
        assert openblas_timeouts() == {runtime.PROCESS_TIMEOUT}


def test_an_unknown_profile_is_refused():
    with pytest.raises(ValueError, match="unknown runtime profile 'serve'"):
        runtime.activate("serve")
    with pytest.raises(ValueError, match="unknown runtime profile 'serve'"), runtime.use_profile("serve"):
        pass


def test_turned_off_the_runtime_leaves_everything_to_the_libraries(monkeypatch):
    monkeypatch.setenv("MINIREASON_RUNTIME", "off")
    assert not runtime.enabled()
    before, timeouts = runtime.settings(), openblas_timeouts()
    runtime.activate("train")
    with runtime.use_profile("train"):
        pass
    assert runtime.settings() == before and openblas_timeouts() == timeouts


def test_single_threaded_blas_restores_the_thread_count():
    pytest.importorskip("scipy")
    control = runtime._blas_thread_control()
    if control is None:
        pytest.skip("scipy's BLAS is not an OpenBLAS")
    get_threads, _ = control
    before = get_threads()
    with pytest.raises(RuntimeError), runtime.single_threaded_blas():
        assert get_threads() == 1
        raise RuntimeError("a kernel failed")
    assert get_threads() == before


def test_blas_threads_limits_every_openblas_and_restores_it():
    libraries = [library for library in runtime._loaded_openblas_libraries() if runtime._thread_controls(library)]
    if not libraries:
        pytest.skip("no OpenBLAS with thread controls loaded")
    counts = [runtime._thread_controls(library)[0]() for library in libraries]
    with runtime.blas_threads(1):
        assert [runtime._thread_controls(library)[0]() for library in libraries] == [1] * len(libraries)
    assert [runtime._thread_controls(library)[0]() for library in libraries] == counts
    with pytest.raises(RuntimeError), runtime.blas_threads(1):
        raise RuntimeError("restored on the way out too")
    assert [runtime._thread_controls(library)[0]() for library in libraries] == counts
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="blas_threads"), runtime.blas_threads(bad):
            pass


def test_run_on_cores_runs_each_task_on_its_own_thread_with_every_library_on_one():
    numba = pytest.importorskip("numba")
    import minireason.kernels.numba_cpu  # noqa: F401  (loads SciPy's OpenBLAS too, as the numba backend does)

    libraries = [library for library in runtime._loaded_openblas_libraries() if runtime._thread_controls(library)]
    counts = [runtime._thread_controls(library)[0]() for library in libraries]
    numba_threads = numba.get_num_threads()

    together = threading.Barrier(3, timeout=30)  # passes only when the three tasks run at the same time

    def task(index):
        together.wait()
        blas = [runtime._thread_controls(library)[0]() for library in libraries]
        return index, threading.get_ident(), blas, numba.get_num_threads()

    results = runtime.run_on_cores([lambda index=index: task(index) for index in range(3)])
    assert [index for index, *_ in results] == [0, 1, 2]
    assert results[0][1] == threading.get_ident() and len({ident for _, ident, *_ in results}) == 3
    assert all(blas == [1] * len(libraries) and threads == 1 for _, _, blas, threads in results)
    assert [runtime._thread_controls(library)[0]() for library in libraries] == counts
    assert numba.get_num_threads() == numba_threads


def test_run_on_cores_raises_a_tasks_error_after_every_task_has_ended():
    finished = threading.Event()

    def slow():
        time.sleep(0.05)
        finished.set()
        return 1

    def failing():
        raise InputError("a task failed")

    counts = runtime.parallel_threads()
    with pytest.raises(InputError, match="a task failed"):
        runtime.run_on_cores([failing, slow])
    assert finished.is_set() and runtime.parallel_threads() == counts
    with pytest.raises(InputError, match="a task failed"):
        runtime.run_on_cores([slow, failing])


ARRAYS_FREED_ON_A_SECOND_CORE = """
import json, resource, sys, threading
import numpy as np
from minireason import runtime

def allocate_and_end():  # a thread that ends before the settings: glibc hands its arena to a later thread
    arrays = [np.ones(2**18, dtype=np.float32) for _ in range(8)]

if sys.argv[1] == "thread_before":
    thread = threading.Thread(target=allocate_and_end)
    thread.start()
    thread.join()
runtime.apply_process_settings()

def faults_of_a_step():
    before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
    arrays = [np.ones(2**19, dtype=np.float32) for _ in range(48)]  # 96 MiB, written, then freed
    del arrays
    return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before

print(json.dumps(runtime.run_on_cores([lambda: None, lambda: [faults_of_a_step() for _ in range(3)]])[1]))
"""


@pytest.mark.parametrize("history", ["fresh", "thread_before"])
def test_arrays_a_second_core_frees_are_reused_not_page_faulted_again(history):
    """A part of a batch run on another thread (``run_on_cores``) makes and frees its step's arrays
    every step; with the process settings the next step reuses them (in a thread's own arena glibc
    unmapped each wholly free 64 MiB heap, and every page faulted again: a fault per 4 KiB), also
    when a thread that ended before the settings left its arena for the pool's thread to take.  In
    a fresh process each, as a program starts."""
    if not (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc") or not runtime.enabled():
        pytest.skip("glibc's heap settings")
    environment = {name: value for name, value in os.environ.items() if name != "MALLOC_ARENA_MAX"}
    result = subprocess.run([sys.executable, "-c", ARRAYS_FREED_ON_A_SECOND_CORE, history], env=environment,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    faults = json.loads(result.stdout)
    pages = 96 * 2**20 // 4096
    assert max(faults[1:]) < pages // 10, faults  # the first step may fault its pages in
