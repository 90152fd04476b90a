"""Hugging Face checkpoint directories: round trips, sharding, bf16, tokenizer files,
malformed directories, builtin: paths, atomicity and the inspect command."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import minireason.io.pretrained as pretrained_module
import minireason.io.safetensors as safetensors_module
from minireason.cli.main import main as cli_main
from minireason.config import PRESETS
from minireason.errors import CheckpointError, InputError, TokenizerError
from minireason.io.pretrained import load_pretrained, save_pretrained
from minireason.io.safetensors import load_safetensors, read_safetensors_header, save_safetensors
from minireason.model import Qwen3Model, parameter_shapes

reference_numpy = pytest.importorskip("safetensors.numpy")

TOKEN_IDS = np.array([[1, 5, 9, 2, 33, 60], [7, 7, 0, 63, 12, 3]])


def tiny_model(tied: bool = True, seed: int = 0, dtype: str = "float32", vocab_size: int = 64) -> Qwen3Model:
    config = PRESETS["test-tiny"].replace(tie_word_embeddings=tied, vocab_size=vocab_size)
    model = Qwen3Model.from_config(config, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed + 100)  # norm weights away from 1 so every tensor matters
    for name, value in model.params.items():
        if value.ndim == 1:
            model.params[name] = (1 + 0.1 * rng.standard_normal(value.shape)).astype(dtype)
    return model


def assert_same_params(got: dict, expected: dict) -> None:
    assert set(got) == set(expected)
    for name, value in expected.items():
        assert got[name].dtype == value.dtype, name
        np.testing.assert_array_equal(got[name], value, err_msg=name)


@pytest.fixture(scope="module")
def trained_tokenizer():
    from minireason.io.bpe_trainer import train_bpe

    texts = ["What is 12 + 30? The answer is 42.", "hello world, hello reasoning", "1 + 1 = 2; 2 + 2 = 4"] * 4
    return train_bpe(texts, vocab_size=300)


# ---------------------------------------------------------------------- round trips
@pytest.mark.parametrize("tied", [True, False])
def test_load_save_load_gives_identical_params_and_logits(tmp_path, tied):
    model = tiny_model(tied=tied, seed=3)
    save_pretrained(tmp_path / "first", model, None)
    loaded, tokenizer = load_pretrained(tmp_path / "first")
    assert tokenizer is None
    assert loaded.config == model.config
    assert_same_params(loaded.params, model.params)
    np.testing.assert_array_equal(loaded.logits(TOKEN_IDS), model.logits(TOKEN_IDS))
    save_pretrained(tmp_path / "second", loaded, None)
    again, _ = load_pretrained(tmp_path / "second")
    assert_same_params(again.params, model.params)
    np.testing.assert_array_equal(again.logits(TOKEN_IDS), model.logits(TOKEN_IDS))
    assert (tmp_path / "first" / "model.safetensors").read_bytes() == (tmp_path / "second" / "model.safetensors").read_bytes()
    # loaded weights are the model's own writable arrays, not views on the file
    assert all(value.flags.writeable for value in loaded.params.values())


@pytest.mark.parametrize("tied", [True, False])
def test_saved_files_are_what_transformers_expects(tmp_path, tied):
    model = tiny_model(tied=tied)
    save_pretrained(tmp_path, model, None)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["architectures"] == ["Qwen3ForCausalLM"] and config["model_type"] == "qwen3"
    assert config["torch_dtype"] == "float32" and config["tie_word_embeddings"] is tied
    tensors = reference_numpy.load_file(str(tmp_path / "model.safetensors"))
    D, V = 32, 64
    assert ("lm_head.weight" in tensors) is (not tied)
    assert tensors["model.embed_tokens.weight"].shape == (V, D)
    assert tensors["model.layers.1.mlp.down_proj.weight"].shape == (D, 64)  # (out=D, in=F)
    assert tensors["model.layers.1.mlp.gate_proj.weight"].shape == (64, D)  # (out=F, in=D)
    assert tensors["model.layers.0.self_attn.q_proj.weight"].shape == (4 * 8, D)  # (out=H*Dh, in=D)
    assert tensors["model.layers.0.self_attn.k_norm.weight"].shape == (8,)
    for name, value in model.params.items():
        np.testing.assert_array_equal(tensors[name], value, err_msg=name)
    assert read_safetensors_header(tmp_path / "model.safetensors").metadata == {"format": "pt"}


def test_a_directory_written_by_the_reference_library_loads(tmp_path):
    """As a hub checkpoint with tied embeddings often does, include an lm_head equal to the embedding."""
    model = tiny_model(tied=True, seed=5)
    tensors = {name: np.ascontiguousarray(value) for name, value in model.params.items()}
    tensors["lm_head.weight"] = tensors["model.embed_tokens.weight"].copy()
    reference_numpy.save_file(tensors, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    hf = model.config.to_hf()
    hf.update({"transformers_version": "4.51.0", "some_future_field": {"x": 1}})  # unknown fields are ignored
    (tmp_path / "config.json").write_text(json.dumps(hf))
    loaded, _ = load_pretrained(tmp_path)
    assert "lm_head.weight" not in loaded.params
    assert_same_params(loaded.params, model.params)


def test_float64_round_trip_and_dtype_argument(tmp_path):
    model = tiny_model(dtype="float64")
    save_pretrained(tmp_path, model, None)
    assert read_safetensors_header(tmp_path / "model.safetensors").tensors["model.norm.weight"].dtype == "F64"
    loaded, _ = load_pretrained(tmp_path, dtype="float64")
    assert_same_params(loaded.params, model.params)
    as_float32, _ = load_pretrained(tmp_path)
    assert as_float32.dtype == np.float32
    with pytest.raises(InputError, match="dtype"):
        load_pretrained(tmp_path, dtype="int8")
    with pytest.raises(InputError, match="dtype"):
        save_pretrained(tmp_path, model, None, dtype="int8")


def test_bfloat16_save_rounds_and_loads_exactly(tmp_path):
    model = tiny_model(tied=False, seed=7)
    save_pretrained(tmp_path, model, None, dtype="bfloat16")
    header = read_safetensors_header(tmp_path / "model.safetensors")
    assert {info.dtype for info in header.tensors.values()} == {"BF16"}
    assert json.loads((tmp_path / "config.json").read_text())["torch_dtype"] == "bfloat16"
    assert (tmp_path / "model.safetensors").stat().st_size < sum(v.nbytes for v in model.params.values()) * 0.6
    loaded, _ = load_pretrained(tmp_path)
    for name, value in model.params.items():
        bits = value.view(np.uint32)
        # independent of the writer: bf16 keeps the top 16 bits, so the low 16 of the result are 0
        assert not np.any(loaded.params[name].view(np.uint32) & 0xFFFF), name
        # and the result is one of the two bf16 neighbours, the nearer one
        down = (bits & 0xFFFF0000).view(np.float32)
        up = ((bits & 0xFFFF0000) + 0x10000).view(np.float32)
        chosen = loaded.params[name]
        assert np.all((chosen == down) | (chosen == up)), name
        nearer = np.minimum(np.abs(value - down), np.abs(up - value))
        np.testing.assert_array_equal(np.abs(chosen - value), nearer)
    # bf16 weights change logits only a little
    np.testing.assert_allclose(loaded.logits(TOKEN_IDS), model.logits(TOKEN_IDS), atol=0.05)


# ---------------------------------------------------------------------- sharding
def test_sharded_save_and_load(tmp_path):
    model = tiny_model(tied=False, seed=11)
    limit = 12_000  # bytes of data per shard; the embedding (8 kB) fits, two of them do not
    save_pretrained(tmp_path, model, None, max_shard_bytes=limit)
    assert not (tmp_path / "model.safetensors").exists()
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    count = len(shards)
    assert count > 1
    assert shards == [f"model-{i:05d}-of-{count:05d}.safetensors" for i in range(1, count + 1)]
    assert set(index["weight_map"]) == set(model.params)
    assert index["metadata"]["total_size"] == sum(value.nbytes for value in model.params.values())
    for shard in shards:
        header = read_safetensors_header(tmp_path / shard)
        data_bytes = header.file_size - header.data_start
        assert data_bytes <= limit or len(header.tensors) == 1
        assert set(reference_numpy.load_file(str(tmp_path / shard))) == set(header.tensors)
    loaded, _ = load_pretrained(tmp_path)
    assert_same_params(loaded.params, model.params)
    np.testing.assert_array_equal(loaded.logits(TOKEN_IDS), model.logits(TOKEN_IDS))


def test_resaving_with_another_layout_removes_stale_weight_files(tmp_path):
    model = tiny_model(seed=1)
    save_pretrained(tmp_path, model, None, max_shard_bytes=5_000)
    assert (tmp_path / "model.safetensors.index.json").exists()
    other = tiny_model(seed=2)
    save_pretrained(tmp_path, other, None)
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names == ["config.json", "generation_config.json", "model.safetensors"]
    save_pretrained(tmp_path, model, None, max_shard_bytes=5_000)
    assert not (tmp_path / "model.safetensors").exists()
    loaded, _ = load_pretrained(tmp_path)
    assert_same_params(loaded.params, model.params)


# ---------------------------------------------------------------------- tokenizer and generation config
def test_tokenizer_files_round_trip(tmp_path, trained_tokenizer):
    tokenizer = trained_tokenizer
    model = tiny_model(vocab_size=tokenizer.vocab_size)
    save_pretrained(tmp_path, model, tokenizer)
    settings = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert settings["eos_token"] == tokenizer.eos_token and settings["pad_token"] == tokenizer.pad_token
    generation = json.loads((tmp_path / "generation_config.json").read_text())
    assert generation["eos_token_id"] == tokenizer.eos_token_id
    loaded_model, loaded = load_pretrained(tmp_path)
    text = "What is 17 + 25? <|im_end|> héllo 🙂"
    assert loaded.encode(text) == tokenizer.encode(text)
    assert loaded.eos_token_id == tokenizer.eos_token_id
    assert loaded_model.generation_config["eos_token_id"] == [tokenizer.eos_token_id]


def test_tokenizer_config_chooses_the_special_tokens(tmp_path, trained_tokenizer):
    save_pretrained(tmp_path, tiny_model(vocab_size=trained_tokenizer.vocab_size), trained_tokenizer)
    settings = {"eos_token": {"content": "<|endoftext|>", "special": True}, "pad_token": "<|im_start|>"}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(settings))
    _, tokenizer = load_pretrained(tmp_path)
    assert tokenizer.eos_token == "<|endoftext|>" and tokenizer.pad_token == "<|im_start|>"
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<|not a token|>"}))
    with pytest.raises(CheckpointError, match="tokenizer_config.json"):
        load_pretrained(tmp_path)


def test_tokenizer_larger_than_the_embedding_is_refused(tmp_path, trained_tokenizer):
    save_pretrained(tmp_path, tiny_model(vocab_size=64), trained_tokenizer)
    with pytest.raises(CheckpointError, match="vocab_size"):
        load_pretrained(tmp_path)


def test_generation_config_is_read_and_checked(tmp_path):
    save_pretrained(tmp_path, tiny_model(), None)
    settings = {"temperature": 0.6, "top_p": 0.95, "top_k": 20, "eos_token_id": 5, "bos_token_id": 1,
                "do_sample": True, "transformers_version": "4.51.0"}
    (tmp_path / "generation_config.json").write_text(json.dumps(settings))
    model, _ = load_pretrained(tmp_path)
    assert model.generation_config == {"temperature": 0.6, "top_p": 0.95, "top_k": 20, "eos_token_id": [5],
                                       "bos_token_id": 1, "do_sample": True}
    save_pretrained(tmp_path / "again", model, None)
    again, _ = load_pretrained(tmp_path / "again")
    assert again.generation_config == model.generation_config
    for field, value in (("top_p", 1.5), ("temperature", -1), ("top_k", 2.5), ("eos_token_id", ["x"])):
        (tmp_path / "generation_config.json").write_text(json.dumps({field: value}))
        with pytest.raises(CheckpointError, match=field):
            load_pretrained(tmp_path)


# ---------------------------------------------------------------------- malformed directories
@pytest.fixture()
def saved(tmp_path):
    model = tiny_model(tied=True, seed=2)
    save_pretrained(tmp_path, model, None)
    return tmp_path, model


def rewrite_config(directory, **changes):
    config = json.loads((directory / "config.json").read_text())
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    (directory / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("changes, words", [
    ({"model_type": "llama"}, "model_type 'llama' is not supported"),
    ({"model_type": "qwen3_moe"}, "qwen3_moe"),
    ({"architectures": ["Qwen2ForCausalLM"]}, "Qwen2ForCausalLM"),
    ({"model_type": None, "architectures": None}, "no model_type"),
    ({"rope_scaling": {"rope_type": "yarn", "factor": 4.0}}, "rope_scaling"),
    ({"attention_bias": True}, "attention_bias"),
    ({"use_sliding_window": True}, "use_sliding_window"),
    ({"hidden_act": "gelu"}, "hidden_act"),
    ({"num_attention_heads": 3}, "num_attention_heads"),
    ({"hidden_size": None}, "hidden_size"),
])
def test_configs_that_are_not_supported_qwen3_are_refused(saved, changes, words):
    directory, _ = saved
    rewrite_config(directory, **changes)
    with pytest.raises(CheckpointError, match="config.json") as raised:
        load_pretrained(directory)
    assert words in str(raised.value)


def test_config_json_missing_or_not_json(saved):
    directory, _ = saved
    (directory / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_pretrained(directory)
    (directory / "config.json").unlink()
    with pytest.raises(CheckpointError, match="no config.json"):
        load_pretrained(directory)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_pretrained(directory / "nowhere")


def resave_weights(directory, tensors):
    save_safetensors(directory / "model.safetensors", tensors, metadata={"format": "pt"})


@pytest.mark.parametrize("problem, words", [
    ("missing tensor", "missing"),
    ("extra tensor", "does not have"),
    ("wrong shape", "shape [32, 31]"),
    ("integer dtype", "dtype I32"),
    ("different tied head", "lm_head.weight differs"),
])
def test_weights_that_do_not_match_the_config_are_refused(saved, problem, words):
    directory, model = saved
    tensors = dict(model.params)
    name = "model.layers.1.self_attn.o_proj.weight"
    if problem == "missing tensor":
        del tensors[name]
    elif problem == "extra tensor":
        tensors["model.layers.2.mlp.up_proj.weight"] = np.zeros((64, 32), np.float32)
    elif problem == "wrong shape":
        tensors[name] = np.zeros((32, 31), np.float32)
    elif problem == "integer dtype":
        tensors[name] = np.zeros((32, 32), np.int32)
    elif problem == "different tied head":
        tensors["lm_head.weight"] = tensors["model.embed_tokens.weight"] + 1
    resave_weights(directory, tensors)
    with pytest.raises(CheckpointError) as raised:
        load_pretrained(directory)
    assert words in str(raised.value)


def test_untied_config_without_lm_head_is_refused(saved):
    directory, _ = saved
    rewrite_config(directory, tie_word_embeddings=False)
    with pytest.raises(CheckpointError, match="lm_head.weight"):
        load_pretrained(directory)


def test_corrupted_weight_file_is_refused(saved):
    directory, _ = saved
    path = directory / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_pretrained(directory)
    path.unlink()
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        load_pretrained(directory)


def test_bad_shard_indexes_are_refused(tmp_path):
    model = tiny_model(seed=4)
    save_pretrained(tmp_path, model, None, max_shard_bytes=5_000)
    index_path = tmp_path / "model.safetensors.index.json"
    good = json.loads(index_path.read_text())
    first = sorted(set(good["weight_map"].values()))[0]
    shared = [name for name, file in good["weight_map"].items()
              if list(good["weight_map"].values()).count(file) > 1 and file != first][0]

    def with_map(change):
        index = json.loads(json.dumps(good))
        change(index["weight_map"])
        index_path.write_text(json.dumps(index))

    cases = [
        (lambda m: m.update({"model.norm.weight": "../model-00001-of-00009.safetensors"}), "file name in this directory"),
        (lambda m: m.update({"model.norm.weight": "model-00099-of-00099.safetensors"}), "does not exist"),
        (lambda m: m.update({shared: first}), "are not in it"),
        (lambda m: m.pop(shared), "not listed"),
    ]
    for change, words in cases:
        with_map(change)
        with pytest.raises(CheckpointError) as raised:
            load_pretrained(tmp_path)
        assert words in str(raised.value)
    index_path.write_text(json.dumps({"weight_map": ["a"]}))
    with pytest.raises(CheckpointError, match="weight_map"):
        load_pretrained(tmp_path)


# ---------------------------------------------------------------------- builtin paths
def test_builtin_paths(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained_module, "builtin_directory", lambda: tmp_path)
    with pytest.raises(CheckpointError, match="available: none yet"):
        load_pretrained("builtin:tiny")
    model = tiny_model(seed=9)
    save_pretrained("builtin:tiny", model, None)
    assert (tmp_path / "tiny" / "config.json").is_file()
    loaded, _ = load_pretrained("builtin:tiny")
    assert_same_params(loaded.params, model.params)
    with pytest.raises(CheckpointError, match="available: tiny"):
        load_pretrained("builtin:adder")
    with pytest.raises(CheckpointError, match="plain folder name"):
        load_pretrained("builtin:../tiny")


# ---------------------------------------------------------------------- atomicity
def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    old = tiny_model(seed=1)
    save_pretrained(tmp_path, old, None)
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt("simulated interruption during the weights write")

    monkeypatch.setattr(safetensors_module.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_pretrained(tmp_path, tiny_model(seed=2, tied=False), None)
    monkeypatch.undo()
    after = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    assert after == before  # no temporary files, nothing half-written, nothing replaced
    loaded, _ = load_pretrained(tmp_path)
    assert_same_params(loaded.params, old.params)


def test_interrupted_first_save_leaves_no_loadable_half_checkpoint(tmp_path, monkeypatch):
    calls = {"count": 0}
    real_replace = os.replace

    def replace_then_fail(source, target):
        calls["count"] += 1
        if calls["count"] == 2:  # after the weights, before the other files
            raise KeyboardInterrupt("simulated interruption")
        real_replace(source, target)

    monkeypatch.setattr(safetensors_module.os, "replace", replace_then_fail)
    with pytest.raises(KeyboardInterrupt):
        save_pretrained(tmp_path, tiny_model(), None)
    monkeypatch.undo()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.safetensors"]
    with pytest.raises(CheckpointError, match="no config.json"):  # config.json comes last
        load_pretrained(tmp_path)


# ---------------------------------------------------------------------- inspect
def test_inspect_command(tmp_path, capsys, trained_tokenizer):
    model = tiny_model(tied=False, vocab_size=trained_tokenizer.vocab_size)
    save_pretrained(tmp_path, model, trained_tokenizer, dtype="bfloat16", max_shard_bytes=20_000)
    assert cli_main(["inspect", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    expected_count = sum(value.size for value in model.params.values())
    assert "Qwen3ForCausalLM" in out
    assert f"{expected_count:,}" in out
    assert "BF16" in out and f"{trained_tokenizer.vocab_size}" in out
    assert "<|im_end|>" in out and "<|endoftext|>" in out
    size = sum(path.stat().st_size for path in tmp_path.iterdir())
    assert cli_main(["inspect", "--json", str(tmp_path)]) == 0
    description = json.loads(capsys.readouterr().out)
    assert description["size_on_disk"] == size and description["parameters"] == expected_count
    assert description["weight_files"] > 1
    shard = sorted(tmp_path.glob("model-*.safetensors"))[0]
    assert cli_main(["inspect", str(shard)]) == 0
    assert "BF16" in capsys.readouterr().out
    assert cli_main(["inspect", str(tmp_path / "missing")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_loaded_weights_match_the_parameter_table(saved):
    directory, model = saved
    tensors = load_safetensors(directory / "model.safetensors")
    assert {name: value.shape for name, value in tensors.items()} == parameter_shapes(model.config)


def test_tokenizer_json_errors_surface_as_typed_errors(saved):
    directory, _ = saved
    (directory / "tokenizer.json").write_text("{}")
    with pytest.raises((TokenizerError, CheckpointError)):
        load_pretrained(directory)


def test_transformers_5_rope_parameters_are_read_and_scaled_rope_refused(tmp_path):
    """transformers 5 writes rope_theta inside rope_parameters; a scaled RoPE must be refused."""
    model = tiny_model(seed=3)
    save_pretrained(tmp_path, model, None)
    config = json.loads((tmp_path / "config.json").read_text())
    del config["rope_theta"]
    config["rope_parameters"] = {"rope_theta": 12345.0, "rope_type": "default"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    loaded, _ = load_pretrained(tmp_path)
    assert loaded.config.rope_theta == 12345.0
    config["rope_parameters"] = {"rope_theta": 12345.0, "rope_type": "linear", "factor": 2.0}
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="rope_type"):
        load_pretrained(tmp_path)
