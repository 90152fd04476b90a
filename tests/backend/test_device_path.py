"""The device (GPU) path without a GPU: the whole model on arrays that refuse to leave the device.

``fake_device`` provides arrays that behave like CuPy's where it matters (NumPy calls dispatch
to them; implicit conversion to NumPy and mixing with host arrays raise).  A backend whose
``array_module`` is that fake runs the NumPy reference ops on them, so these tests fail if any
reference layer, the KV cache, the loss, the optimizer or the training loop creates a host
array where a device one is needed, or pulls a device array to the host without saying so.
The values must equal the host run's: the arithmetic underneath is the same NumPy.
"""

from __future__ import annotations

import numpy as np
import pytest
from byte_tokenizer import ByteTokenizer
from fake_device import FakeDeviceArray, HostArrayError, fake_module

from minireason import backend
from minireason.config import PRESETS
from minireason.device import array_module_of, to_host, to_module
from minireason.errors import InputError
from minireason.generation.generate import generate
from minireason.model import Qwen3Model
from minireason.optim import AdamW, clip_grad_norm
from minireason.training.loop import TrainConfig, train

CONFIG = PRESETS["test-tiny"].replace(vocab_size=260, max_position_embeddings=64)
GQA_UNTIED = CONFIG.replace(num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)


@pytest.fixture
def fake_backend(monkeypatch):
    monkeypatch.setitem(backend.BACKENDS, "fake-device", ("fake_device", None))
    backend._ops_cache.pop("fake-device", None)
    yield "fake-device"
    backend._ops_cache.pop("fake-device", None)


def on_device(model: Qwen3Model) -> Qwen3Model:
    return Qwen3Model(model.config, model.params, backend="fake-device")


def assert_on_device_and_equal(got, want, rtol=0.0, atol=0.0):
    assert isinstance(got, FakeDeviceArray), f"expected a device array, got {type(got).__name__}"
    np.testing.assert_allclose(got.get(), want, rtol=rtol, atol=atol)


# ---------------------------------------------------------------------- the fake itself
def test_the_fake_device_array_refuses_what_cupy_refuses():
    device = fake_module.ones(3)
    with pytest.raises(HostArrayError):
        device + np.ones(3)  # a host array in a device operation
    with pytest.raises(TypeError):
        np.asarray(device)  # an implicit copy to the host
    with pytest.raises(HostArrayError):
        device[np.array([0, 1])]  # a host index array
    assert isinstance(np.exp(device), FakeDeviceArray)  # ufuncs dispatch
    assert isinstance(np.concatenate([device, device]), FakeDeviceArray)  # array functions dispatch
    assert isinstance(device.sum(), FakeDeviceArray)  # reductions stay on the device
    assert array_module_of(device) is fake_module and array_module_of(np.ones(2), None, 3.0) is np
    np.testing.assert_array_equal(to_host(to_module(np.arange(4.0), fake_module)), np.arange(4.0))


# ---------------------------------------------------------------------- the model
@pytest.mark.parametrize("config", [CONFIG, GQA_UNTIED], ids=["tied", "gqa-untied"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_model_forward_backward_stay_on_the_device_and_equal_the_host(fake_backend, config, dtype):
    host = Qwen3Model.from_config(config, seed=1, dtype=dtype, backend="numpy")
    device = on_device(host)
    assert all(isinstance(value, FakeDeviceArray) for value in device.params.values())
    assert device.array_module is fake_module and device.dtype == np.dtype(dtype)
    rng = np.random.default_rng(2)
    token_ids = rng.integers(0, config.vocab_size, size=(3, 9))
    attention_mask = np.ones((3, 9), dtype=bool)
    attention_mask[1, :4] = False  # a left-padded row
    targets = rng.integers(0, config.vocab_size, size=(3, 9))
    loss_mask = attention_mask & (rng.random((3, 9)) < 0.8)

    assert_on_device_and_equal(device.logits(token_ids, attention_mask), host.logits(token_ids, attention_mask))
    # inputs already on the device are accepted too
    assert_on_device_and_equal(device.logits(to_module(token_ids, fake_module)), host.logits(token_ids))
    loss_host, grads_host = host.loss_and_grads(token_ids, targets, loss_mask, attention_mask)
    loss_device, grads_device = device.loss_and_grads(token_ids, targets, loss_mask, attention_mask)
    assert loss_device == loss_host
    assert set(grads_device) == set(grads_host)
    for name, grad in grads_device.items():
        assert_on_device_and_equal(grad, grads_host[name])
    # a random upstream gradient through backward alone
    dlogits = rng.standard_normal((3, 9, config.vocab_size)).astype(dtype)
    _, cache_host = host.forward(token_ids)
    _, cache_device = device.forward(token_ids)
    grads_host = host.backward(dlogits, cache_host)
    grads_device = device.backward(to_module(dlogits, fake_module), cache_device)
    for name, grad in grads_device.items():
        assert_on_device_and_equal(grad, grads_host[name])


def test_moving_a_model_back_to_the_host_and_saving_it(fake_backend, tmp_path):
    from minireason.io.pretrained import load_pretrained, save_pretrained

    host = Qwen3Model.from_config(CONFIG, seed=4, backend="numpy")
    device = on_device(host)
    back = Qwen3Model(device.config, device.params, backend="numpy")
    assert all(isinstance(value, np.ndarray) for value in back.params.values())
    save_pretrained(tmp_path / "saved", device)  # safetensors copies device arrays to the host
    loaded, _ = load_pretrained(tmp_path / "saved")
    for name, value in host.params.items():
        np.testing.assert_array_equal(loaded.params[name], value)
    with pytest.raises(InputError, match="model must be a Qwen3Model"):
        save_pretrained(device, tmp_path / "swapped")


# ---------------------------------------------------------------------- generation
def test_generation_with_the_kv_cache_on_the_device_equals_the_host(fake_backend):
    host = Qwen3Model.from_config(CONFIG, seed=5, backend="numpy")
    device = on_device(host)
    prompts = ["12+3=", "a much longer prompt", "x"]  # left-padded batch, rows finish at different times
    for settings in (dict(temperature=0.0), dict(temperature=0.9, top_k=20, top_p=0.9, seed=11)):
        want = generate(host, ByteTokenizer(), prompts, max_new_tokens=12, stop_token_ids=[10], **settings)
        got = generate(device, ByteTokenizer(), prompts, max_new_tokens=12, stop_token_ids=[10], **settings)
        for row_got, row_want in zip(got, want):
            assert row_got.token_ids == row_want.token_ids
            np.testing.assert_array_equal(row_got.logprobs, row_want.logprobs)


def test_kv_cache_buffers_live_on_the_device(fake_backend):
    from minireason.generation.kv_cache import KVCache

    device = on_device(Qwen3Model.from_config(CONFIG, seed=6, backend="numpy"))
    cache = KVCache(device.config, 2, 16, dtype=device.dtype, array_module=device.array_module)
    device.forward(np.array([[1, 2, 3], [4, 5, 6]]), kv_cache=cache, last_only=True)
    cache.select_rows([1])
    assert all(isinstance(k, FakeDeviceArray) for k in cache.keys + cache.values)
    assert cache.keys[0].shape[0] == 1 and cache.length == 3


# ---------------------------------------------------------------------- optimizer and training
def test_adamw_and_clipping_on_device_params_equal_the_host(fake_backend):
    host = Qwen3Model.from_config(CONFIG, seed=7, backend="numpy")
    device = on_device(host)
    token_ids = np.random.default_rng(0).integers(0, 256, size=(2, 8))
    optimizers = AdamW(1e-2, weight_decay=0.1), AdamW(1e-2, weight_decay=0.1)
    for model, optimizer in zip((host, device), optimizers):
        for _ in range(3):
            _, grads = model.loss_and_grads(token_ids[:, :-1], token_ids[:, 1:])
            grads, _ = clip_grad_norm(grads, 0.5)
            optimizer.step(model.params, grads)
    for name, value in device.params.items():
        assert_on_device_and_equal(value, host.params[name])


def _language_model_step(model, rng, step):
    token_ids = rng.integers(0, 256, size=(2, 10))
    loss, grads = model.loss_and_grads(token_ids[:, :-1], token_ids[:, 1:])
    return loss, grads, {}


def test_training_and_resuming_on_the_device_equal_the_host(fake_backend, tmp_path):
    config = TrainConfig(steps=6, learning_rate=1e-2, warmup_steps=2, log_every=2, checkpoint_every=3)
    host = Qwen3Model.from_config(CONFIG, seed=8, backend="numpy")
    device = on_device(host)
    train(host, _language_model_step, config, tmp_path / "host", progress=False)
    # the device run stops after 3 steps (its checkpoint is on the host disk), then resumes to 6
    train(device, _language_model_step, TrainConfig(**{**config.__dict__, "steps": 3}), tmp_path / "device",
          progress=False)
    resumed = on_device(Qwen3Model.from_config(CONFIG, seed=8, backend="numpy"))
    train(resumed, _language_model_step, config, tmp_path / "device", progress=False)
    for name, value in resumed.params.items():
        assert_on_device_and_equal(value, host.params[name], rtol=1e-6, atol=1e-7)


def test_a_model_whose_arrays_are_not_where_its_backend_keeps_them_is_refused(fake_backend):
    from minireason.errors import ConfigError

    host = Qwen3Model.from_config(CONFIG, seed=9, backend="numpy")
    host.backend = "fake-device"  # as if the backend had been switched after the model was made
    with pytest.raises(ConfigError, match="move the model with Qwen3Model"):
        host.logits(np.array([[1, 2, 3]]))


def test_the_command_line_runs_a_checkpoint_on_the_backend_it_is_given(fake_backend, tmp_path, capsys):
    from minireason.cli.main import main
    from minireason.io.bpe_trainer import train_bpe
    from minireason.io.pretrained import save_pretrained

    tokenizer = train_bpe(["hello world 12+34=46 " * 30], vocab_size=280)
    save_pretrained(tmp_path / "ckpt", Qwen3Model.from_config(CONFIG.replace(vocab_size=280), seed=0), tokenizer)
    command = ["generate", "--model", str(tmp_path / "ckpt"), "--prompt", "hello", "--max-new-tokens", "6"]
    try:
        assert main(command + ["--backend", "numpy"]) == 0
        on_host = capsys.readouterr().out
        assert main(command + ["--backend", "fake-device"]) == 0  # loads the weights onto the "device"
        assert capsys.readouterr().out == on_host
        backend.BACKENDS["broken"] = ("minireason.kernels.no_such_module", "gpu")
        assert main(command + ["--backend", "broken"]) == 1
        assert "pip install 'minireason[gpu]'" in capsys.readouterr().err
    finally:
        backend.BACKENDS.pop("broken", None)
        backend.set_backend("numpy")
