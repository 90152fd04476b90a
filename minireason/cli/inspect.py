"""``minireason inspect PATH``: describe a checkpoint without loading its weights.

PATH is a Hugging Face Qwen3 directory, ``builtin:NAME``, or a single ``.safetensors`` file.
Only the JSON files and the safetensors headers are read, so inspecting a large model is instant.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from minireason.io.pretrained import describe_checkpoint
from minireason.io.safetensors import read_safetensors_header


def add_arguments(parser) -> None:
    """Adds the options of ``minireason inspect`` to its parser."""
    parser.add_argument("path", metavar="PATH", help="checkpoint directory, builtin:NAME, or a .safetensors file")
    parser.add_argument("--json", action="store_true", help="print the description as JSON")


def human_bytes(size: int) -> str:
    """1234567 -> '1.2 MB' (powers of 1000, as disk sizes are sold)."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def describe_safetensors_file(path: Path) -> dict:
    """A summary of a safetensors file from its header alone: tensors, parameters, values per dtype, size on disk, metadata."""
    header = read_safetensors_header(path)
    values = Counter()
    for info in header.tensors.values():
        values[info.dtype] += info.num_elements
    return {
        "path": str(path),
        "tensors": len(header.tensors),
        "parameters": sum(values.values()),
        "dtype": ", ".join(f"{name} ({count:,} values)" for name, count in values.most_common()),
        "size_on_disk": header.file_size,
        "metadata": header.metadata,
    }


def run(args) -> int:
    """Runs ``minireason inspect`` on the parsed arguments; returns the exit status (0 on success)."""
    path = Path(args.path)
    if path.suffix == ".safetensors" and path.is_file():
        description = describe_safetensors_file(path)
    else:
        description = describe_checkpoint(args.path)
    if args.json:
        print(json.dumps(description, indent=2))
        return 0
    rows = [("path", description["path"])]
    if "architecture" in description:
        rows += [
            ("architecture", description["architecture"]),
            ("parameters", f"{description['parameters']:,}"),
            ("layers", description["layers"]),
            ("hidden size", description["hidden_size"]),
            ("heads", description["heads"]),
            ("tied embeddings", description["tie_word_embeddings"]),
        ]
        if description["parameters"] != description["parameters_expected"]:
            rows.append(("(config expects)", f"{description['parameters_expected']:,}"))
        rows += [
            ("dtype", description["dtype"]),
            ("weight files", description["weight_files"]),
            ("size on disk", human_bytes(description["size_on_disk"])),
            ("vocab size", description["vocab_size"]),
        ]
        tokenizer = description["tokenizer"]
        if tokenizer is None:
            rows.append(("tokenizer", "none (no tokenizer.json)"))
        else:
            rows += [
                ("tokenizer vocab", tokenizer["vocab_size"]),
                ("eos token", tokenizer["eos_token"]),
                ("pad token", tokenizer["pad_token"]),
                ("bos token", tokenizer["bos_token"]),
                ("special tokens", " ".join(tokenizer["special_tokens"]) or "none"),
            ]
        if description["generation_config"]:
            settings = ", ".join(f"{key}={value}" for key, value in description["generation_config"].items())
            rows.append(("generation", settings))
    else:
        rows += [
            ("tensors", description["tensors"]),
            ("parameters", f"{description['parameters']:,}"),
            ("dtype", description["dtype"]),
            ("size on disk", human_bytes(description["size_on_disk"])),
            ("metadata", description["metadata"]),
        ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    return 0
