"""minireason/runtime.py: the process settings, their profiles, the backend's switches, restoring."""

from __future__ import annotations

import copy
import os
import platform

import numpy as np
import pytest

from minireason import backend, runtime
from minireason.config import PRESETS
from minireason.model import Qwen3Model


@pytest.fixture(autouse=True)
def runtime_state():
    """Each test starts from the state the earlier ones left and gives it back, OpenBLAS included."""
    saved = copy.copy(runtime._state)
    saved.overrides = dict(runtime._state.overrides)
    yield runtime._state
    runtime._state.overrides = saved.overrides
    if runtime.enabled():
        runtime._set_blas_threads_sleep(bool(saved.blas_threads_sleep))
        runtime._set_keep_freed_memory(bool(saved.keep_freed_memory))
    runtime._state.__dict__.update(saved.__dict__)


def openblas_timeouts() -> set[int]:
    return {library.openblas_thread_timeout() for library in runtime._loaded_openblas_libraries()}


def has_openblas() -> bool:
    return bool(runtime._loaded_openblas_libraries())


def tiny_model(backend_name: str = "numpy") -> Qwen3Model:
    return Qwen3Model.from_config(PRESETS["test-tiny"], seed=0, backend=backend_name)


def one_token_steps(model: Qwen3Model, steps: int) -> None:
    from minireason.generation.kv_cache import KVCache

    cache = KVCache(model.config, 2, steps + 4, dtype=model.dtype)
    tokens = np.array([[1], [2]])
    for _ in range(steps):
        logits, _ = model.forward(tokens, kv_cache=cache, last_only=True)
        tokens = logits[:, -1].argmax(-1)[:, None]


def a_backward(model: Qwen3Model) -> float:
    ids = np.random.default_rng(0).integers(0, model.config.vocab_size, (2, 9))
    return model.loss_and_grads(ids[:, :-1], ids[:, 1:])[0]


def test_the_profiles_say_what_each_kind_of_work_runs_with():
    assert set(runtime.PROFILES) == {"decode", "train"}
    decode, train = runtime.PROFILES["decode"], runtime.PROFILES["train"]
    assert not decode.blas_threads_sleep and train.blas_threads_sleep  # decoding's many small products keep them polling
    assert decode.keep_freed_memory and train.keep_freed_memory


def test_a_cpu_backend_applies_the_process_settings_and_starts_in_decode():
    tiny_model("numpy")
    state = runtime.settings()
    assert state["enabled"] and state["profile"] in {"decode", "train"}
    assert state["keep_freed_memory"] is True
    if "OMP_WAIT_POLICY" not in os.environ:
        assert os.environ.get("GOMP_SPINCOUNT")  # numba's OpenMP threads: a short spin, then sleep
    runtime.apply_process_settings()  # once: a second call changes nothing
    assert runtime.settings() == state


@pytest.mark.parametrize("backend_name", ["numpy", "numba"])
def test_a_backward_switches_to_train_and_decoding_back_to_decode(backend_name):
    if backend_name == "numba":
        pytest.importorskip("numba")
    model = tiny_model(backend_name)
    runtime.activate("decode")
    a_backward(model)
    assert runtime.current_profile() == "train"
    if has_openblas():
        assert openblas_timeouts() == {runtime.SHORTEST_TIMEOUT}
    # a few one-token calls (a stray short decode) do not switch; a run of them does
    layers = model.config.num_hidden_layers
    one_token_steps(model, runtime.DECODE_SWITCH_CALLS // layers - 1)
    assert runtime.current_profile() == "train"
    one_token_steps(model, 2)
    assert runtime.current_profile() == "decode"
    if has_openblas():
        assert openblas_timeouts() == {runtime.DEFAULT_TIMEOUT}


def test_the_switches_do_not_change_any_number():
    model = tiny_model("numpy")
    ops = backend.get_ops("numpy")
    assert runtime.implementation(ops.attention_forward) is not ops.attention_forward  # wrapped
    with_switches = a_backward(model)
    saved = ops.attention_forward, ops.rmsnorm_backward
    try:
        ops.attention_forward = runtime.implementation(saved[0])
        ops.rmsnorm_backward = runtime.implementation(saved[1])
        assert a_backward(model) == with_switches
    finally:
        ops.attention_forward, ops.rmsnorm_backward = saved


def test_use_profile_forces_settings_for_every_switch_inside_and_restores_after():
    model = tiny_model("numpy")
    runtime.activate("decode")
    with runtime.use_profile("train", blas_threads_sleep=False) as profile:
        assert profile.name == "train" and not profile.blas_threads_sleep
        assert runtime.current_profile() == "train" and runtime.settings()["blas_threads_sleep"] is False
        one_token_steps(model, runtime.DECODE_SWITCH_CALLS)  # rollouts inside a training run
        assert runtime.current_profile() == "decode"
        a_backward(model)
        assert runtime.current_profile() == "train" and runtime.settings()["blas_threads_sleep"] is False
        if has_openblas():
            assert openblas_timeouts() != {runtime.SHORTEST_TIMEOUT}
    assert runtime.current_profile() == "decode" and runtime.settings()["overrides"] == {}


def test_training_profile_is_restored_when_the_block_raises():
    runtime.activate("decode")
    with pytest.raises(RuntimeError), runtime.training_profile() as sleeping:
        assert sleeping and runtime.current_profile() == "train"
        if has_openblas():
            assert openblas_timeouts() == {runtime.SHORTEST_TIMEOUT}
        raise RuntimeError("a failed training run")
    assert runtime.current_profile() == "decode"
    if has_openblas():
        assert openblas_timeouts() == {runtime.DEFAULT_TIMEOUT}


def test_keep_freed_memory_off_holds_in_every_profile_until_turned_on(runtime_state):
    runtime.activate("train")
    runtime.restore_default_memory_settings()
    for name in ("decode", "train"):
        runtime.activate(name)
        assert runtime.settings()["keep_freed_memory"] is False
    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert runtime.keep_freed_memory_for_reuse() is glibc
    runtime.activate("decode")
    assert runtime.settings()["keep_freed_memory"] is True


def test_an_unknown_profile_or_setting_is_refused():
    with pytest.raises(ValueError, match="unknown runtime profile 'serve'"):
        runtime.activate("serve")
    with pytest.raises(ValueError, match="unknown runtime settings"), runtime.use_profile("train", threads=3):
        pass


def test_turned_off_the_runtime_leaves_everything_to_the_libraries(monkeypatch):
    monkeypatch.setenv("MINIREASON_RUNTIME", "off")
    assert not runtime.enabled()
    ops = {name: object() for name in ("attention_forward", "rmsnorm_backward")}
    assert runtime.switching_ops(ops) is ops
    before = runtime.settings()
    runtime.activate("train")
    with runtime.use_profile("train"):
        pass
    after = runtime.settings()
    assert {key: after[key] for key in ("profile", "blas_threads_sleep")} == \
        {key: before[key] for key in ("profile", "blas_threads_sleep")}


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
    import numpy  # noqa: F401

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
