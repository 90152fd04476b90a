"""Choosing a backend: names, install hints, which ops a backend replaces, and packaging of the kernels."""

from __future__ import annotations

import itertools
import sys

import pytest
from cli_support import run_cli
from paths import REPOSITORY

from minireason import backend
from minireason.errors import ConfigError
from minireason.nn import attention, linear, loss, rmsnorm, swiglu

ROOT = REPOSITORY


@pytest.fixture(autouse=True)
def restore_backend():
    before = backend._current_backend  # None (the default) stays None
    yield
    backend._current_backend = before


def test_the_default_backend_is_numba_where_it_imports(monkeypatch):
    monkeypatch.delenv(backend.BACKEND_VARIABLE, raising=False)
    backend._current_backend = None
    assert backend.default_backend() == "numba"
    assert backend.get_backend() == "numba"
    assert backend.get_ops().name == "numba"
    backend.set_backend("numpy")  # the reference one call (one flag) away
    assert backend.get_ops().name == "numpy"


def test_the_default_falls_back_to_the_reference_without_numba(monkeypatch):
    monkeypatch.delenv(backend.BACKEND_VARIABLE, raising=False)
    monkeypatch.setitem(backend.BACKENDS, "numba", ("minireason.kernels.no_such_module_for_test", "fast"))
    backend._first_loadable.cache_clear()
    try:
        assert backend.default_backend() == "numpy"
    finally:
        backend._first_loadable.cache_clear()  # numba's module back for the tests after this one


def test_the_environment_names_the_default_and_a_wrong_name_is_refused(monkeypatch):
    backend._current_backend = None
    monkeypatch.setenv(backend.BACKEND_VARIABLE, "numpy")
    assert backend.get_backend() == "numpy"
    monkeypatch.setenv(backend.BACKEND_VARIABLE, "torch")
    with pytest.raises(ConfigError, match="MINIREASON_BACKEND='torch' names no backend"):
        backend.get_backend()
    backend.set_backend("numba")  # an explicit choice wins over the environment
    assert backend.get_backend() == "numba"


def test_numpy_backend_is_the_reference():
    ops = backend.get_ops("numpy")
    assert ops.name == "numpy"
    assert ops.attention_forward is attention.attention_forward
    assert ops.rmsnorm_backward is rmsnorm.rmsnorm_backward
    assert ops.token_logprobs_forward is loss.token_logprobs_forward
    assert not hasattr(ops, "cross_entropy_forward")  # one loss over the seam, not an op of its own


def test_set_backend_changes_the_default_and_rejects_unknown_names():
    backend.set_backend("numpy")
    assert backend.get_backend() == "numpy"
    with pytest.raises(ConfigError, match="unknown backend 'torch'.*numpy, numba, cupy"):
        backend.set_backend("torch")
    assert backend.get_backend() == "numpy"


def test_missing_dependency_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(backend.BACKENDS, "cupy", ("minireason.kernels.no_such_module_for_test", "gpu"))
    backend._ops_cache.pop("cupy", None)
    with pytest.raises(ConfigError, match=r"pip install 'minireason\[gpu\]'"):
        backend.set_backend("cupy")
    backend._ops_cache.pop("cupy", None)
    assert backend.get_backend() != "cupy"


def test_numba_backend_replaces_only_the_ops_that_measured_faster():
    pytest.importorskip("numba")
    from minireason.kernels import numba_fused, numba_loss, numba_rope

    ops = backend.get_ops("numba")
    # a single choice is the kernel itself, no wrapper
    assert ops.rmsnorm_backward is numba_fused.rmsnorm_backward
    assert ops.swiglu_backward is numba_fused.swiglu_backward
    for op in ("rmsnorm", "swiglu", "token_logprobs"):  # the same kernel, on one thread or on all
        assert {choice.forward.__name__ for choice in backend.dispatch_table("numba")[op]} == {
            f"{op}_forward", f"{op}_forward on one thread"}
    assert ops.linear_backward is linear.linear_backward  # BLAS: no kernel beat it, the reference stays
    assert ops.reads_bfloat16_weights and not backend.get_ops("numpy").reads_bfloat16_weights
    assert ops.rope_forward is numba_rope.rope_forward
    # a pair whose cache differs from the reference's: both halves come from the same module
    assert {choice.forward.__module__ for choice in backend.dispatch_table("numba")["token_logprobs"]} == {
        numba_loss.__name__}
    assert ops.token_logprobs_backward is numba_loss.token_logprobs_backward
    assert set(backend.REFERENCE_OPS) <= set(vars(ops))


def test_every_op_of_every_backend_is_in_its_dispatch_table_and_described():
    pytest.importorskip("numba")
    for name in ("numpy", "numba"):
        table = backend.dispatch_table(name)
        assert {f"{op}_forward" for op in table} | {f"{op}_backward" for op in table} == set(backend.REFERENCE_OPS)
        for op, choices in table.items():
            assert choices[-1].applies is None, op  # the last choice always applies
        text = backend.describe(name)
        assert len(text.splitlines()) == 1 + sum(len(choices) for choices in table.values())  # a header
    assert "numba_attention.decode_attention_forward" in backend.describe("numba")
    assert "nn.linear.linear_backward" in backend.describe("numpy") and "kernels" not in backend.describe("numpy")


def test_a_dispatch_table_that_cannot_choose_is_refused():
    from types import SimpleNamespace

    def never(*arguments):
        return False

    conditional_only = SimpleNamespace(__name__="m", DISPATCH={"rope": (backend.Choice("sometimes", never, None, never),)})
    with pytest.raises(ConfigError, match="last choice for 'rope' must apply always"):
        backend._ops_of(conditional_only)
    unknown = SimpleNamespace(__name__="m", DISPATCH={"conv": (backend.Choice("always", never, None),)})
    with pytest.raises(ConfigError, match="names 'conv', which is not an op"):
        backend._ops_of(unknown)
    clash = SimpleNamespace(__name__="m", DISPATCH={"rope": (backend.Choice("a", never, never, never),
                                                             backend.Choice("b", never, len))})
    with pytest.raises(ConfigError, match="two backwards of 'rope' take caches of type tuple"):
        backend._ops_of(clash)


def test_numba_attention_uses_the_fused_kernel_only_for_long_inputs():
    """Short inputs go to the reference (its cache holds the (T, S) probabilities), long ones to the
    fused kernel (whose cache holds a logsumexp per row instead), one new query per row (decoding)
    to the decode kernel at any length; the backend's backward gives each cache to its own backward."""
    pytest.importorskip("numba")
    import numpy as np
    from minireason.kernels import numba_attention, numba_cpu

    from minireason.nn import attention as reference_attention

    ops = backend.get_ops("numba")
    attention_forward = ops.attention_forward  # the dispatch
    table = backend.dispatch_table("numba")["attention"]
    rng = np.random.default_rng(0)
    for length, keys, made_by in ((8, 8, reference_attention.attention_forward),
                                  (numba_cpu.FUSED_ATTENTION_MIN_KEYS, numba_cpu.FUSED_ATTENTION_MIN_KEYS,
                                   numba_attention.attention_forward),
                                  (1, 8, numba_attention.decode_attention_forward)):
        q = rng.standard_normal((1, 2, length, 4))
        k, v = rng.standard_normal((1, 1, keys, 4)), rng.standard_normal((1, 1, keys, 4))
        chosen = next(c for c in table if c.applies is None or c.applies(q, k, v, None, 0.5))
        assert chosen.forward is made_by
        out, cache = attention_forward(q, k, v, None, 0.5)
        assert isinstance(cache, numba_attention.FusedAttentionCache) is (made_by is not reference_attention.attention_forward)
        expected, reference_cache = reference_attention.attention_forward(q, k, v, None, 0.5)
        np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
        dout = rng.standard_normal(out.shape)
        for got, want in zip(ops.attention_backward(dout, cache),
                             reference_attention.attention_backward(dout, reference_cache)):
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-11)
    with pytest.raises(TypeError, match="cache of type list"):
        ops.attention_backward(dout, [1, 2])
    with pytest.raises(TypeError, match="takes a FusedAttentionCache, got tuple"):
        numba_attention.attention_backward(dout, reference_cache)


def test_the_kernels_sizes_follow_the_cpus_vector_registers(monkeypatch):
    """AVX-512 gets the small-batch product's wide window and the attention's 64-key tiles, a CPU
    without it (or one whose features LLVM cannot read) the narrow window and 256-key tiles."""
    pytest.importorskip("numba")
    import llvmlite.binding
    from minireason.kernels import numba_attention, numba_decode, numba_math

    def unreadable():
        raise RuntimeError("failed to get host cpu features")

    for features, expected in (({"avx512f": True, "avx2": True}, "avx512"), ({"avx512f": False, "avx2": True}, "avx2 or less"),
                               ({}, "avx2 or less")):
        monkeypatch.setattr(llvmlite.binding, "get_host_cpu_features", lambda features=features: features)
        assert numba_math.host_vectors() == expected
    monkeypatch.setattr(llvmlite.binding, "get_host_cpu_features", unreadable)
    assert numba_math.host_vectors() == "avx2 or less"
    assert numba_decode.ROW_WINDOWS["avx512"][0] > numba_decode.ROW_WINDOWS["avx2 or less"][0]
    assert numba_attention.KEY_BLOCKS["avx512"] < numba_attention.KEY_BLOCKS["avx2 or less"]
    # this CPU's sizes are its entries
    assert numba_attention.KEY_BLOCK == numba_attention.KEY_BLOCKS[numba_math.HOST_VECTORS]
    assert numba_decode.BLOCK_INPUT_ROWS == numba_decode.INPUT_ROWS_PER_PASS[numba_math.HOST_VECTORS]


def test_numba_linear_chooses_its_product_by_the_number_of_rows(monkeypatch):
    """Decoding's few rows go to the small-batch kernel (each weight read once; the window by the
    CPU's vector registers, ROW_WINDOWS, with more rows for wide inputs, and for every width on
    more than one numba thread), more rows (training, prefill) to the reference's BLAS product, on
    one thread up to SERIAL_BLAS_MAX_WORK multiply-adds while OpenBLAS's workers sleep (train) and
    on its threads while they poll; all give the reference's numbers, and the kernel's cache meets
    the reference's backward."""
    numba = pytest.importorskip("numba")
    import numpy as np
    from minireason.kernels import numba_cpu, numba_decode

    from minireason import runtime
    from minireason.nn import linear as reference_linear

    ops = backend.get_ops("numba")
    table = backend.dispatch_table("numba")["linear"]
    rng = np.random.default_rng(0)
    # this CPU's window, then every window (a CPU with AVX-512 and one without)
    assert (numba_decode.SMALL_BATCH_ROWS, numba_decode.WIDE_INPUT_ROWS) == numba_decode.ROW_WINDOWS[numba_decode.HOST_VECTORS]
    wide, serial_max_work = numba_decode.WIDE_INPUT_FEATURES, numba_cpu.SERIAL_BLAS_MAX_WORK
    all_threads = numba.get_num_threads()
    try:
        for (limit, wide_limit), polls, threads in itertools.product(numba_decode.ROW_WINDOWS.values(), (False, True),
                                                                     sorted({1, all_threads})):
            numba.set_num_threads(threads)  # this thread's count: numba's is per thread
            monkeypatch.setattr(runtime._state, "blas_thread_timeout", runtime.PROCESS_TIMEOUT if polls else runtime.SHORTEST_TIMEOUT)
            monkeypatch.setattr(numba_decode, "SMALL_BATCH_ROWS", limit)
            monkeypatch.setattr(numba_decode, "WIDE_INPUT_ROWS", wide_limit)
            serial_blas, blas = numba_cpu._serial_blas_linear_forward, reference_linear.linear_forward
            # at most 9 * (wide_limit + 1) * wide multiply-adds below: one-thread BLAS unless the limit is lowered
            large_work = 9 * (limit + 1) * 6
            for dtype, serial_limit in ((np.float32, serial_max_work), (np.float64, large_work - 1)):
                monkeypatch.setattr(numba_cpu, "SERIAL_BLAS_MAX_WORK", serial_limit)
                above_serial = blas if serial_limit < large_work or polls else serial_blas
                narrow_above = numba_cpu._small_batch_linear_forward if threads > 1 else above_serial
                for leading, n_in, made_by in (((1, 1), 6, numba_cpu._small_batch_linear_forward),
                                               ((3, 2), 6, numba_cpu._small_batch_linear_forward),
                                               ((limit, 1), 6, numba_cpu._small_batch_linear_forward),
                                               ((limit + 1,), 6, narrow_above if wide_limit > limit else above_serial),
                                               ((limit + 1,), wide - 1, narrow_above if wide_limit > limit else above_serial),
                                               ((wide_limit,), 6, narrow_above if wide_limit > limit
                                                else numba_cpu._small_batch_linear_forward),
                                               ((wide_limit + 1,), 6, above_serial),
                                               ((limit + 1,), wide, numba_cpu._small_batch_linear_forward
                                                if wide_limit > limit else above_serial),
                                               ((2, wide_limit // 2), wide, numba_cpu._small_batch_linear_forward),
                                               ((wide_limit + 1,), wide, above_serial)):
                    weight = rng.standard_normal((9, n_in)).astype(dtype)  # (out, in)
                    x = rng.standard_normal((*leading, n_in)).astype(dtype)
                    chosen = next(c for c in table if c.applies is None or c.applies(x, weight))
                    assert chosen.forward is made_by, (dtype, leading, n_in, threads)
                    out, cache = ops.linear_forward(x, weight)
                    expected, reference_cache = reference_linear.linear_forward(x, weight)
                    assert out.shape == expected.shape and out.dtype == expected.dtype and out.flags.c_contiguous
                    tolerance = {"rtol": 1e-4, "atol": 1e-4} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-11}
                    np.testing.assert_allclose(out, expected, **tolerance)
                    dout = rng.standard_normal(out.shape).astype(dtype)
                    for got, want in zip(ops.linear_backward(dout, cache), reference_linear.linear_backward(dout, reference_cache)):
                        np.testing.assert_allclose(got, want, **tolerance)
    finally:
        numba.set_num_threads(all_threads)  # given back even when an assertion fails
    # mixed dtypes are the reference's promotion (BLAS), not the kernel's
    weight = rng.standard_normal((9, 6))  # float64
    x = rng.standard_normal((1, 6)).astype(np.float32)
    chosen = next(c for c in table if c.applies is None or c.applies(x, weight))
    assert chosen.forward in (serial_blas, blas)


def test_serial_blas_holds_numpys_blas_to_one_thread_and_restores_it():
    """The one-thread BLAS choice: NumPy's OpenBLAS on one thread inside, its count back after (also
    when the block raises)."""
    from minireason import runtime

    control = runtime._numpy_blas_thread_control()
    if control is None:
        pytest.skip("NumPy's BLAS is not an OpenBLAS with thread controls")
    get_threads, set_threads = control
    before = get_threads()
    set_threads(2)
    try:
        if get_threads() != 2:
            pytest.skip("this OpenBLAS runs one thread at most")
        with pytest.raises(RuntimeError), runtime.serial_blas():
            assert get_threads() == 1
            raise RuntimeError("a product failed")
        assert get_threads() == 2
    finally:
        set_threads(before)


def test_numba_rmsnorm_and_swiglu_run_on_one_thread_on_small_inputs(monkeypatch):
    """Decode-sized inputs: RMSNorm's serial loop and SwiGLU's vectorised loop on the calling thread
    alone (a parallel loop's thread wake-up costs more than the work); training-sized inputs: the
    parallel loops on every thread.  Same results as the reference."""
    pytest.importorskip("numba")
    import numba
    import numpy as np
    from minireason.kernels import numba_fused

    calls, threads_seen = [], []
    for name in ("_swiglu_forward_flat", "_swiglu_backward_flat"):  # the thread count each ran with
        kernel = getattr(numba_fused, name)
        monkeypatch.setattr(numba_fused, name,
                            lambda *a, _k=kernel: (threads_seen.append(numba.get_num_threads()), _k(*a))[1])
    for name in ("_rmsnorm_forward_serial", "_rmsnorm_forward_parallel", "_rmsnorm_backward_serial",
                 "_rmsnorm_backward_parallel", "_swiglu_forward_flat", "_swiglu_backward_flat"):
        kernel = getattr(numba_fused, name)
        monkeypatch.setattr(numba_fused, name, lambda *a, _k=kernel, _n=name: (calls.append(_n), _k(*a))[1])
    rng = np.random.default_rng(0)
    for rows, small in ((1, True), (numba_fused.PARALLEL_MIN_ELEMENTS // 64, False)):
        calls.clear()
        threads_seen.clear()
        x, dout = rng.standard_normal((rows, 64)), rng.standard_normal((rows, 64))
        weight = rng.standard_normal(64)
        y, cache = numba_fused.rmsnorm_forward(x, weight, 1e-6)
        expected, reference_cache = rmsnorm.rmsnorm_forward(x, weight, 1e-6)
        np.testing.assert_allclose(y, expected, rtol=1e-12)
        for got, want in zip(numba_fused.rmsnorm_backward(dout, cache), rmsnorm.rmsnorm_backward(dout, reference_cache)):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
        h, cache = numba_fused.swiglu_forward(x, dout)
        expected, reference_cache = swiglu.swiglu_forward(x, dout)
        np.testing.assert_allclose(h, expected, rtol=1e-12, atol=1e-14)
        for got, want in zip(numba_fused.swiglu_backward(x, cache), swiglu.swiglu_backward(x, reference_cache)):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
        if small:
            assert calls == ["_rmsnorm_forward_serial", "_rmsnorm_backward_serial",
                             "_swiglu_forward_flat", "_swiglu_backward_flat"]
            assert threads_seen == [1, 1]
        else:
            assert calls == ["_rmsnorm_forward_parallel", "_rmsnorm_backward_parallel",
                             "_swiglu_forward_flat", "_swiglu_backward_flat"]
            assert threads_seen == [numba.get_num_threads()] * 2


def test_numba_kernels_between_blas_products_run_on_one_thread(monkeypatch):
    """While OpenBLAS's workers poll after a product (every profile but train), RMSNorm, SwiGLU,
    decode attention and the token log-probabilities whose rows are more than the small-batch
    product takes (on more than one thread, as here, its window for every width: the products
    around them are then BLAS's) run with numba on the calling thread; with fewer rows, or with the
    workers asleep (train), on every thread.  The same numbers either way."""
    pytest.importorskip("numba")
    import numba
    import numpy as np
    from minireason.kernels import numba_attention, numba_decode, numba_fused, numba_loss

    from minireason import runtime

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has one thread here")
    threads_seen = []
    for name in ("_rmsnorm_forward_serial", "_rmsnorm_forward_parallel", "_swiglu_forward_flat",
                 "_decode_serial", "_decode_parallel", "_over_rows"):  # _over_rows: the log-probabilities' pass
        module = {"_d": numba_attention, "_o": numba_loss}.get(name[:2], numba_fused)
        kernel = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _k=kernel: (threads_seen.append(numba.get_num_threads()), _k(*a))[1])
    monkeypatch.setattr(numba_fused, "PARALLEL_MIN_ELEMENTS", 1)  # every size parallel unless held to one thread
    monkeypatch.setattr(numba_attention, "PARALLEL_DECODE_WORK", 1)
    monkeypatch.setattr(numba_loss, "PARALLEL_MIN_ELEMENTS", 1)
    ops = backend.get_ops("numba")
    rng = np.random.default_rng(0)
    all_threads = numba.get_num_threads()
    wide = numba_decode.WIDE_INPUT_FEATURES
    for (limit, wide_limit), (timeout, polls) in itertools.product(
            numba_decode.ROW_WINDOWS.values(),
            ((runtime.PROCESS_TIMEOUT, True), (runtime.SHORTEST_TIMEOUT, False), (None, True))):
        monkeypatch.setattr(runtime._state, "blas_thread_timeout", timeout)  # None: OpenBLAS's own polling
        monkeypatch.setattr(numba_decode, "SMALL_BATCH_ROWS", limit)
        monkeypatch.setattr(numba_decode, "WIDE_INPUT_ROWS", wide_limit)
        assert runtime.blas_workers_poll() is polls
        for rows, width in itertools.product((limit, limit + 1, wide_limit, wide_limit + 1), (8, wide)):
            threads_seen.clear()
            x, up = rng.standard_normal((rows, 1, width)), rng.standard_normal((rows, 1, width))
            weight = rng.standard_normal(width)
            q = rng.standard_normal((rows, 2, 1, width // 2))  # the output projection's input: 2 x width / 2
            k, v = rng.standard_normal((rows, 1, 5, width // 2)), rng.standard_normal((rows, 1, 5, width // 2))
            np.testing.assert_allclose(ops.rmsnorm_forward(x, weight, 1e-6)[0], rmsnorm.rmsnorm_forward(x, weight, 1e-6)[0],
                                       rtol=1e-12)
            np.testing.assert_allclose(ops.swiglu_forward(x, up)[0], swiglu.swiglu_forward(x, up)[0], rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(ops.attention_forward(q, k, v, None, 0.5)[0],
                                       attention.attention_forward(q, k, v, None, 0.5)[0], rtol=1e-10, atol=1e-12)
            logits, targets = rng.standard_normal((rows, 1, 9)), rng.integers(0, 9, (rows, 1))
            np.testing.assert_allclose(ops.token_logprobs_forward(logits, targets, 1.0, False)[0][0],
                                       loss.token_logprobs_forward(logits, targets)[0][0], rtol=1e-12)
            # every width is the kernel's up to wide_limit rows on more than one thread, as here
            beside = polls and rows > wide_limit  # the products around them are BLAS's
            expected = [1 if beside else all_threads] * 4
            assert threads_seen == expected, (limit, wide_limit, timeout, rows, width)
    assert numba.get_num_threads() == all_threads  # given back


def test_model_follows_the_global_backend_unless_given_one():
    pytest.importorskip("numba")
    from minireason.config import PRESETS
    from minireason.model import Qwen3Model

    model = Qwen3Model.from_config(PRESETS["test-tiny"], seed=0)
    pinned = Qwen3Model.from_config(PRESETS["test-tiny"], seed=0, backend="numpy")
    backend.set_backend("numba")
    assert model.ops.name == "numba"
    assert pinned.ops.name == "numpy"


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is new in Python 3.11")
def test_every_package_folder_is_listed_in_pyproject():
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {".".join(path.parent.relative_to(ROOT).parts) for path in (ROOT / "minireason").rglob("__init__.py")}
    missing = sorted(on_disk - listed)
    assert not missing, f"add these packages to [tool.setuptools] packages in pyproject.toml: {missing}"
    assert config["package-dir"]["minireason.kernels"] == "kernels"
    assert "minireason.kernels" in listed and (ROOT / "kernels" / "__init__.py").exists()


def test_backends_command_names_the_default(monkeypatch):
    monkeypatch.delenv(backend.BACKEND_VARIABLE, raising=False)
    backend._current_backend = None
    code, out, _ = run_cli(["backends", "numpy"])
    assert code == 0 and out.splitlines()[0].startswith("default: numba ")
    monkeypatch.setenv(backend.BACKEND_VARIABLE, "numpy")
    code, out, _ = run_cli(["backends", "numpy"])
    assert out.splitlines()[0].startswith("default: numpy ")


def test_numba_token_logprobs_run_on_one_thread_for_one_row_or_few_logits(monkeypatch):
    """The token log-probability kernel splits rows over numba's threads only from two rows and
    numba_loss.PARALLEL_MIN_ELEMENTS logits (decoding one row a step would wake the pool for
    nothing), whatever OpenBLAS's workers do; the same numbers either way."""
    pytest.importorskip("numba")
    import numba
    import numpy as np
    from minireason.kernels import numba_loss

    from minireason import runtime

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has one thread here")
    threads_seen = []
    kernel = numba_loss._over_rows  # the forward's pass over the rows, which picks one thread or all
    monkeypatch.setattr(numba_loss, "_over_rows",
                        lambda *a: (threads_seen.append(numba.get_num_threads()), kernel(*a))[1])
    monkeypatch.setattr(runtime._state, "blas_thread_timeout", runtime.SHORTEST_TIMEOUT)  # workers asleep
    assert not runtime.blas_workers_poll()
    ops = backend.get_ops("numba")
    rng = np.random.default_rng(0)
    limit = numba_loss.PARALLEL_MIN_ELEMENTS
    for shape, parallel in (((1, 1, 2 * limit), False), ((1, 2, limit // 2 - 1), False), ((1, 2, limit // 2), True),
                            ((3, 1, 5), False)):
        threads_seen.clear()
        logits = rng.standard_normal(shape).astype(np.float32)
        targets = rng.integers(0, shape[-1], shape[:2])
        np.testing.assert_allclose(ops.token_logprobs_forward(logits, targets, 1.0, False)[0][0],
                                   loss.token_logprobs_forward(logits, targets)[0][0], rtol=1e-5, atol=1e-5)
        assert threads_seen == [numba.get_num_threads() if parallel else 1], shape
