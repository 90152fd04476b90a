"""Hugging Face checkpoint directories: ``load_pretrained`` and ``save_pretrained``.

A Qwen3 checkpoint as published on the Hugging Face hub is a directory::

    config.json                      hyper-parameters (ModelConfig field names), model_type "qwen3"
    model.safetensors                the weights, or shards model-00001-of-0000N.safetensors ...
    model.safetensors.index.json     ... with this map tensor name -> shard file
    tokenizer.json                   the byte-level BPE tokenizer
    tokenizer_config.json            which tokens are eos / pad / bos (optional)
    generation_config.json           default temperature, top_p, top_k, eos ids (optional)

Loading checks everything a silent mistake could hide behind: the architecture is Qwen3
and uses no feature this implementation lacks (attention bias, RoPE scaling, sliding
window); every expected tensor is present with its expected shape and a float dtype; no
tensor is left over (with tied embeddings ``lm_head.weight`` may be present only if it
equals the embedding). Linear weights are stored as PyTorch stores them, (out, in), under
the same names as ``Qwen3Model.params``, so the directories travel both ways.

``path`` may be ``"builtin:NAME"``, the shipped checkpoint ``minireason/builtin/NAME/``.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

import minireason.builtin as builtin_package
from minireason.atomic import atomic_write
from minireason.config import ModelConfig
from minireason.device import array_module_of
from minireason.errors import CheckpointError, ConfigError, InputError, TokenizerError
from minireason.io.safetensors import (
    FLOAT_DTYPES,
    SafetensorsHeader,
    load_safetensors,
    read_safetensors_header,
    save_safetensors,
)
from minireason.io.tokenizer import Tokenizer
from minireason.model import SUPPORTED_DTYPES, Qwen3Model, parameter_shapes

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
TOKENIZER_NAME = "tokenizer.json"
TOKENIZER_CONFIG_NAME = "tokenizer_config.json"
GENERATION_CONFIG_NAME = "generation_config.json"
SHARD_PATTERN = re.compile(r"model-(\d{5})-of-(\d{5})\.safetensors")

SUPPORTED_MODEL_TYPE = "qwen3"
SUPPORTED_ARCHITECTURES = ("Qwen3ForCausalLM",)
DEFAULT_MAX_SHARD_BYTES = 5_000_000_000  # transformers' default max_shard_size ("5GB")
BUILTIN_PREFIX = "builtin:"
FLOAT_STORAGE = ("F64", "F32", "F16", "BF16")
# torch_dtype names written to config.json for each save dtype
TORCH_DTYPE_NAMES = {"float64": "float64", "float32": "float32", "float16": "float16", "bfloat16": "bfloat16"}
# generation_config.json fields kept on model.generation_config (others are ignored)
GENERATION_FIELDS = ("do_sample", "temperature", "top_p", "top_k", "min_p", "repetition_penalty",
                     "max_new_tokens", "eos_token_id", "bos_token_id", "pad_token_id")


# ---------------------------------------------------------------------- paths
def builtin_directory() -> Path:
    """The folder that holds the shipped checkpoints, one sub-folder each."""
    return Path(builtin_package.__file__).parent


def builtin_names() -> list[str]:
    """Names usable as ``builtin:NAME``: sub-folders of ``minireason/builtin`` with a config.json."""
    root = builtin_directory()
    return sorted(child.name for child in root.iterdir() if (child / CONFIG_NAME).is_file())


def resolve_checkpoint_path(path: str | os.PathLike, must_exist: bool = True) -> Path:
    """A directory path, with ``builtin:NAME`` mapped to ``minireason/builtin/NAME``."""
    text = os.fspath(path)
    if isinstance(text, str) and text.startswith(BUILTIN_PREFIX):
        name = text[len(BUILTIN_PREFIX):]
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise CheckpointError(f"{text!r}: a builtin name is a plain folder name, got {name!r}")
        directory = builtin_directory() / name
        if must_exist and not (directory / CONFIG_NAME).is_file():
            available = ", ".join(builtin_names()) or "none yet"
            raise CheckpointError(f"no built-in checkpoint {name!r}; available: {available}")
        return directory
    directory = Path(text)
    if must_exist and not directory.is_dir():
        what = "is a file, not a directory" if directory.exists() else "does not exist"
        raise CheckpointError(f"checkpoint path {text!r} {what} (expected a directory with {CONFIG_NAME})")
    return directory


def read_json_object(path: Path) -> dict:
    """A JSON file that must hold an object; CheckpointError naming the file otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path}: cannot read: {error}") from error
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise CheckpointError(f"{path}: not valid JSON: {error}") from error
    if not isinstance(value, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


def write_json(path: Path, value: dict) -> None:
    """Writes ``value`` as indented UTF-8 JSON to ``path`` atomically."""
    with atomic_write(path, "w") as handle:
        handle.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------- config
def check_architecture(hf: dict, source: str) -> None:
    """Refuse configs of other architectures, or Qwen3 options this implementation lacks."""
    model_type = hf.get("model_type")
    architectures = hf.get("architectures")
    if model_type is None and architectures is None:
        raise CheckpointError(
            f"{source}: names no model_type or architectures; expected model_type {SUPPORTED_MODEL_TYPE!r}"
        )
    if model_type is not None and model_type != SUPPORTED_MODEL_TYPE:
        raise CheckpointError(
            f"{source}: model_type {model_type!r} is not supported; minireason implements "
            f"model_type {SUPPORTED_MODEL_TYPE!r} (architectures {list(SUPPORTED_ARCHITECTURES)})"
        )
    if architectures is not None:
        if not isinstance(architectures, list) or not all(isinstance(a, str) for a in architectures):
            raise CheckpointError(f"{source}: field architectures must be a list of strings, got {architectures!r}")
        unsupported = [a for a in architectures if a not in SUPPORTED_ARCHITECTURES]
        if unsupported:
            raise CheckpointError(
                f"{source}: architectures {unsupported} are not supported; expected {list(SUPPORTED_ARCHITECTURES)}"
            )
    lacking = []
    if hf.get("attention_bias"):
        lacking.append("attention_bias=true (Qwen3 projections have no bias)")
    if hf.get("rope_scaling") is not None:
        lacking.append(f"rope_scaling={hf['rope_scaling']!r} (only plain RoPE is implemented)")
    rope_parameters = hf.get("rope_parameters")  # the transformers 5 spelling
    if isinstance(rope_parameters, dict) and rope_parameters.get("rope_type", "default") != "default":
        lacking.append(f"rope_parameters.rope_type={rope_parameters['rope_type']!r} (only plain RoPE is implemented)")
    if hf.get("use_sliding_window"):
        lacking.append("use_sliding_window=true (only full attention is implemented)")
    if hf.get("hidden_act", "silu") != "silu":
        lacking.append(f"hidden_act={hf['hidden_act']!r} (the MLP is SwiGLU with silu)")
    layer_types = hf.get("layer_types")
    if isinstance(layer_types, list) and any(kind != "full_attention" for kind in layer_types):
        lacking.append("layer_types other than 'full_attention'")
    if lacking:
        raise CheckpointError(f"{source}: uses features minireason does not implement: {'; '.join(lacking)}")


def read_model_config(directory: Path) -> ModelConfig:
    """config.json -> ModelConfig, after the architecture checks (unknown fields are ignored)."""
    path = directory / CONFIG_NAME
    if not path.is_file():
        raise CheckpointError(f"{directory}: no {CONFIG_NAME} (is this a checkpoint directory?)")
    hf = read_json_object(path)
    check_architecture(hf, str(path))
    try:
        return ModelConfig.from_hf(hf)
    except ConfigError as error:
        raise CheckpointError(f"{path}: {error}") from error


# ---------------------------------------------------------------------- weights
def weight_headers(directory: Path) -> dict[str, tuple[Path, SafetensorsHeader]]:
    """tensor name -> (file, validated header of that file), single-file or sharded.

    Like transformers, ``model.safetensors`` wins when both it and an index exist. With an
    index, every shard it names must be a plain file name in this directory, must hold the
    tensors the index assigns to it, and nothing else.
    """
    single = directory / WEIGHTS_NAME
    index_path = directory / WEIGHTS_INDEX_NAME
    if single.is_file():
        header = read_safetensors_header(single)
        return {name: (single, header) for name in header.tensors}
    if not index_path.is_file():
        present = sorted(child.name for child in directory.iterdir())
        raise CheckpointError(
            f"{directory}: no {WEIGHTS_NAME} and no {WEIGHTS_INDEX_NAME} (files present: {present[:20]})"
        )
    index = read_json_object(index_path)
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, dict) or not all(
        isinstance(name, str) and isinstance(file, str) for name, file in weight_map.items()
    ):
        raise CheckpointError(f"{index_path}: field weight_map must be an object tensor name -> file name")
    names_by_file: dict[str, list[str]] = {}
    for name, file in weight_map.items():
        names_by_file.setdefault(file, []).append(name)
    located: dict[str, tuple[Path, SafetensorsHeader]] = {}
    for file, names in names_by_file.items():
        if Path(file).name != file or file in ("", ".", "..") or not file.endswith(".safetensors"):
            raise CheckpointError(
                f"{index_path}: weight_map file {file!r} must be a .safetensors file name in this directory"
            )
        shard = directory / file
        if not shard.is_file():
            raise CheckpointError(f"{index_path}: shard {file!r} (holding e.g. {names[0]!r}) does not exist")
        header = read_safetensors_header(shard)
        absent = [name for name in names if name not in header.tensors]
        if absent:
            raise CheckpointError(f"{shard}: tensor(s) {absent[:5]} listed in {WEIGHTS_INDEX_NAME} are not in it")
        unlisted = sorted(set(header.tensors) - set(names))
        if unlisted:
            raise CheckpointError(f"{shard}: tensor(s) {unlisted[:5]} are not listed in {WEIGHTS_INDEX_NAME}")
        for name in names:
            located[name] = (shard, header)
    return located


def check_weights(located: dict[str, tuple[Path, SafetensorsHeader]], config: ModelConfig, directory: Path) -> None:
    """Every expected tensor present, with its shape and a float dtype; nothing unexpected."""
    expected = parameter_shapes(config)
    allowed = set(expected)
    if config.tie_word_embeddings:
        allowed.add("lm_head.weight")  # tolerated if equal to the embedding (checked on load)
    missing = [name for name in expected if name not in located]
    if missing:
        raise CheckpointError(f"{directory}: {len(missing)} expected tensor(s) missing, e.g. {missing[:5]}")
    unexpected = sorted(set(located) - allowed)
    if unexpected:
        raise CheckpointError(
            f"{directory}: {len(unexpected)} tensor(s) a Qwen3 model with this config does not have, "
            f"e.g. {unexpected[:5]}"
        )
    for name, (file, header) in located.items():
        info = header.tensors[name]
        want = expected.get(name, expected["model.embed_tokens.weight"])
        if info.shape != tuple(want):
            raise CheckpointError(f"{file}, tensor {name!r}: shape {list(info.shape)}, expected {list(want)}")
        if info.dtype not in FLOAT_STORAGE:
            raise CheckpointError(f"{file}, tensor {name!r}: dtype {info.dtype}, expected one of {FLOAT_STORAGE}")


def load_weights(directory: Path, config: ModelConfig, dtype: str) -> dict[str, np.ndarray]:
    """Checked weights as writable arrays of ``dtype``, read shard by shard from memory maps."""
    located = weight_headers(directory)
    check_weights(located, config, directory)
    names_by_file: dict[Path, list[str]] = {}
    for name, (file, _) in located.items():
        names_by_file.setdefault(file, []).append(name)
    params: dict[str, np.ndarray] = {}
    for file, names in names_by_file.items():
        for name, array in load_safetensors(file, names=names, mmap=True).items():
            # memory-mapped arrays are read-only views: copy (and cast) into our own memory
            params[name] = np.asarray(array, dtype=dtype) if array.flags.writeable else array.astype(dtype)
    head = params.pop("lm_head.weight", None) if config.tie_word_embeddings else None
    if head is not None and not np.array_equal(head, params["model.embed_tokens.weight"], equal_nan=True):
        raise CheckpointError(
            f"{directory}: tie_word_embeddings is true but lm_head.weight differs from "
            "model.embed_tokens.weight (set tie_word_embeddings to false in config.json if the head is separate)"
        )
    return params


def check_finite_weights(params: dict, source: str) -> None:
    """Weights to train from must be finite: InputError naming the first tensor holding NaN or inf
    (well-formed safetensors can hold them; training would only carry them into every update)."""
    for name in sorted(params):
        value = params[name]
        module = array_module_of(value)
        if bool(module.all(module.isfinite(value))):
            continue
        kind = "NaN" if bool(module.any(module.isnan(value))) else "inf"
        raise InputError(f"{source}: {name} holds {kind}; a model with non-finite weights cannot be trained")


# ---------------------------------------------------------------------- generation config
def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _token_id_list(value: Any, source: str, field: str) -> list[int]:
    ids = [value] if not isinstance(value, list) else value
    if not all(isinstance(token_id, int) and not isinstance(token_id, bool) and token_id >= 0 for token_id in ids):
        raise CheckpointError(f"{source}: field {field} must be a token id or a list of them, got {value!r}")
    return list(ids)


def read_generation_config(path: Path) -> dict:
    """The sampling defaults of generation_config.json that minireason uses, type-checked.

    ``eos_token_id`` is always returned as a list (HF allows one id or a list).
    """
    raw = read_json_object(path)
    source = str(path)
    kept = {key: raw[key] for key in GENERATION_FIELDS if raw.get(key) is not None}
    checks = {
        "temperature": lambda v: _is_number(v) and v >= 0,
        "top_p": lambda v: _is_number(v) and 0 < v <= 1,
        "min_p": lambda v: _is_number(v) and 0 <= v <= 1,
        "top_k": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "max_new_tokens": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "repetition_penalty": lambda v: _is_number(v) and v > 0,
        "do_sample": lambda v: isinstance(v, bool),
    }
    for key, check in checks.items():
        if key in kept and not check(kept[key]):
            raise CheckpointError(f"{source}: field {key} has an invalid value {kept[key]!r}")
    if "eos_token_id" in kept:
        kept["eos_token_id"] = _token_id_list(kept["eos_token_id"], source, "eos_token_id")
    for key in ("bos_token_id", "pad_token_id"):
        value = kept.get(key)
        if value is not None and not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            raise CheckpointError(f"{source}: field {key} must be a token id (int >= 0), got {value!r}")
    return kept


# ---------------------------------------------------------------------- tokenizer
def load_tokenizer(directory: Path):
    """tokenizer.json (None if absent), with eos/pad/bos from tokenizer_config.json when present."""
    path = directory / TOKENIZER_NAME
    if not path.is_file():
        return None
    tokenizer = Tokenizer.from_file(path)
    config_path = directory / TOKENIZER_CONFIG_NAME
    if config_path.is_file():
        settings = read_json_object(config_path)
        chosen = {key: settings.get(key) for key in ("eos_token", "pad_token", "bos_token")}
        try:
            tokenizer.set_special_tokens(**chosen)
        except TokenizerError as error:
            raise CheckpointError(f"{config_path}: {error}") from error
    return tokenizer


# ---------------------------------------------------------------------- load
def load_pretrained(path: str | os.PathLike, dtype: str = "float32"):
    """Load a Hugging Face Qwen3 directory (or ``builtin:NAME``) -> ``(model, tokenizer)``.

    ``dtype`` ("float32" or "float64") is the model's compute dtype; BF16/F16 weights are
    widened exactly. ``tokenizer`` is None when the directory has no tokenizer.json.
    ``model.generation_config`` holds the sampling defaults of generation_config.json
    (``eos_token_id`` as a list, falling back to config.json's eos ids).
    """
    if dtype not in SUPPORTED_DTYPES:
        raise InputError(f"load_pretrained: argument dtype must be one of {SUPPORTED_DTYPES}, got {dtype!r}")
    directory = resolve_checkpoint_path(path)
    config = read_model_config(directory)
    tokenizer = load_tokenizer(directory)
    if tokenizer is not None and tokenizer.vocab_size > config.vocab_size:
        raise CheckpointError(
            f"{directory / TOKENIZER_NAME}: the tokenizer has {tokenizer.vocab_size} ids but config.json "
            f"vocab_size is {config.vocab_size} (ids past the embedding table)"
        )
    params = load_weights(directory, config, dtype)
    model = Qwen3Model(config, params)
    generation_path = directory / GENERATION_CONFIG_NAME
    generation = read_generation_config(generation_path) if generation_path.is_file() else {}
    if "eos_token_id" not in generation and config.eos_token_id is not None:
        generation["eos_token_id"] = _token_id_list(config.eos_token_id, str(directory / CONFIG_NAME), "eos_token_id")
    model.generation_config = generation
    return model, tokenizer


# ---------------------------------------------------------------------- save
def plan_shards(sizes: dict[str, int], max_shard_bytes: int) -> list[list[str]]:
    """Group tensor names, in order, into shards of at most ``max_shard_bytes`` of data each
    (a tensor larger than the limit gets a shard of its own)."""
    shards: list[list[str]] = [[]]
    used = 0
    for name, size in sizes.items():
        if shards[-1] and used + size > max_shard_bytes:
            shards.append([])
            used = 0
        shards[-1].append(name)
        used += size
    return shards


def _itemsize(dtype: str) -> int:
    return 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize


def save_pretrained(
    path: str | os.PathLike,
    model,
    tokenizer=None,
    dtype: str | None = None,
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
) -> Path:
    """Write ``model`` (and ``tokenizer`` unless None) as a directory transformers loads.

    ``dtype`` None keeps the model's dtype; "bfloat16", "float16", "float32" or "float64"
    converts the weights (bfloat16 rounds to nearest even). Weights above ``max_shard_bytes``
    are split into ``model-0000i-of-0000N.safetensors`` with ``model.safetensors.index.json``.
    Each file is written atomically and config.json last; stale weight files of an earlier
    save with another layout are removed. Returns the directory.
    """
    if not hasattr(model, "params") or not hasattr(model, "config"):
        raise InputError(f"save_pretrained(path, model, ...): model must be a Qwen3Model, got {type(model).__name__}")
    dtype = model.dtype.name if dtype is None else dtype
    if dtype not in FLOAT_DTYPES:
        raise InputError(f"save_pretrained: argument dtype must be None or one of {FLOAT_DTYPES}, got {dtype!r}")
    if isinstance(max_shard_bytes, bool) or not isinstance(max_shard_bytes, int) or max_shard_bytes < 1:
        raise InputError(f"save_pretrained: argument max_shard_bytes must be an int >= 1, got {max_shard_bytes!r}")
    directory = resolve_checkpoint_path(path, must_exist=False)
    if directory.exists() and not directory.is_dir():
        raise CheckpointError(f"save_pretrained: {directory} exists and is not a directory")
    directory.mkdir(parents=True, exist_ok=True)

    params = model.params
    sizes = {name: int(np.prod(value.shape)) * _itemsize(dtype) for name, value in params.items()}
    shards = plan_shards(sizes, max_shard_bytes)
    metadata = {"format": "pt"}  # transformers refuses safetensors files without it
    if len(shards) == 1:
        written = {WEIGHTS_NAME}
        save_safetensors(directory / WEIGHTS_NAME, params, metadata=metadata, dtype=dtype)
    else:
        weight_map, written = {}, set()
        for number, names in enumerate(shards, start=1):
            file = f"model-{number:05d}-of-{len(shards):05d}.safetensors"
            save_safetensors(directory / file, {name: params[name] for name in names}, metadata=metadata, dtype=dtype)
            weight_map.update(dict.fromkeys(names, file))
            written.add(file)
        write_json(directory / WEIGHTS_INDEX_NAME,
                   {"metadata": {"total_size": sum(sizes.values())}, "weight_map": weight_map})
        written.add(WEIGHTS_INDEX_NAME)
    _remove_stale_weights(directory, written)

    if tokenizer is not None:
        tokenizer.save(directory / TOKENIZER_NAME)
        write_json(directory / TOKENIZER_CONFIG_NAME, _tokenizer_config(tokenizer, model.config))
    write_json(directory / GENERATION_CONFIG_NAME, _generation_config(model, tokenizer))
    hf = model.config.to_hf()
    hf["torch_dtype"] = TORCH_DTYPE_NAMES[dtype]
    write_json(directory / CONFIG_NAME, hf)
    return directory


def _remove_stale_weights(directory: Path, written: set[str]) -> None:
    """Delete weight files of another layout, so that the directory describes one model."""
    for child in directory.iterdir():
        name = child.name
        is_weights = name in (WEIGHTS_NAME, WEIGHTS_INDEX_NAME) or SHARD_PATTERN.fullmatch(name)
        if is_weights and name not in written and child.is_file():
            child.unlink()


def _tokenizer_config(tokenizer, config: ModelConfig) -> dict:
    special = {token.content: token for token in tokenizer.added_tokens}
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "eos_token": tokenizer.eos_token,
        "pad_token": tokenizer.pad_token,
        "bos_token": tokenizer.bos_token,
        "model_max_length": config.max_position_embeddings,
        "clean_up_tokenization_spaces": False,
        "added_tokens_decoder": {
            str(token.id): {"content": content, "lstrip": token.lstrip, "rstrip": token.rstrip,
                            "normalized": token.normalized, "single_word": token.single_word,
                            "special": token.special}
            for content, token in special.items()
        },
    }


def _generation_config(model, tokenizer) -> dict:
    generation = {key: value for key, value in model.generation_config.items() if key in GENERATION_FIELDS}
    if "eos_token_id" not in generation:
        if model.config.eos_token_id is not None:
            generation["eos_token_id"] = model.config.eos_token_id
        elif tokenizer is not None and tokenizer.eos_token_id is not None:
            generation["eos_token_id"] = tokenizer.eos_token_id
    if "bos_token_id" not in generation and model.config.bos_token_id is not None:
        generation["bos_token_id"] = model.config.bos_token_id
    if "pad_token_id" not in generation and tokenizer is not None and tokenizer.pad_token_id is not None:
        generation["pad_token_id"] = tokenizer.pad_token_id
    return generation


# ---------------------------------------------------------------------- inspect
def describe_checkpoint(path: str | os.PathLike) -> dict:
    """What ``minireason inspect`` prints, read from the headers only (no weights are loaded)."""
    directory = resolve_checkpoint_path(path)
    hf = read_json_object(directory / CONFIG_NAME) if (directory / CONFIG_NAME).is_file() else {}
    config = read_model_config(directory)
    located = weight_headers(directory)
    files = {file for file, _ in located.values()}
    stored_dtypes = Counter()
    parameter_count = 0
    for name, (_, header) in located.items():
        info = header.tensors[name]
        stored_dtypes[info.dtype] += info.num_elements
        if not (config.tie_word_embeddings and name == "lm_head.weight"):
            parameter_count += info.num_elements
    size_on_disk = sum(child.stat().st_size for child in directory.rglob("*") if child.is_file())
    description = {
        "path": str(directory),
        "architecture": (hf.get("architectures") or [hf.get("model_type")])[0],
        "model_type": hf.get("model_type"),
        "parameters": parameter_count,
        "parameters_expected": config.num_parameters(),
        "dtype": ", ".join(f"{name} ({count:,} values)" for name, count in stored_dtypes.most_common()),
        "weight_files": len(files),
        "size_on_disk": size_on_disk,
        "vocab_size": config.vocab_size,
        "layers": config.num_hidden_layers,
        "hidden_size": config.hidden_size,
        "heads": f"{config.num_attention_heads} query / {config.num_key_value_heads} key-value, head_dim {config.head_dim}",
        "tie_word_embeddings": config.tie_word_embeddings,
        "tokenizer": None,
    }
    tokenizer = load_tokenizer(directory)
    if tokenizer is not None:
        description["tokenizer"] = {
            "vocab_size": tokenizer.vocab_size,
            "eos_token": tokenizer.eos_token,
            "pad_token": tokenizer.pad_token,
            "bos_token": tokenizer.bos_token,
            "special_tokens": [token.content for token in tokenizer.added_tokens if token.special],
        }
    generation_path = directory / GENERATION_CONFIG_NAME
    description["generation_config"] = read_generation_config(generation_path) if generation_path.is_file() else {}
    return description
