"""Read and write the safetensors format, by its specification, with NumPy only.

A ``.safetensors`` file is three parts laid end to end::

    [ 8 bytes: N, unsigned little-endian ] [ N bytes: JSON header ] [ data buffer ]

The JSON header maps each tensor name to ``{"dtype": "F32", "shape": [2, 3],
"data_offsets": [begin, end]}``, offsets counted in bytes from the start of the data
buffer; an optional ``"__metadata__"`` entry maps strings to strings. Tensor bytes are
raw, C-ordered, little-endian. The tensors tile the buffer exactly: sorted by offset,
each begins where the previous one ended, and the last ends at the end of the file.

Reading validates the whole header before any tensor byte is touched (``read_safetensors_header``),
so a truncated, corrupted or hostile file raises ``CheckpointError`` instead of crashing,
hanging or allocating memory it names. Tensors are then views on a memory map of the
file: a 16 GB checkpoint costs no memory until its pages are used.

bfloat16 has no NumPy dtype: BF16 tensors are read as their uint16 bit patterns and load as
float32, exactly; writing rounds to nearest, ties to even (the conversions: ``minireason.bfloat16``).

Writes are atomic: the file is written to a temporary name in the same directory,
flushed to disk, then renamed over the target, so an interrupted save leaves the
old file (or nothing), never a partial one.
"""

from __future__ import annotations

import json
import mmap
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from minireason.atomic import atomic_write
from minireason.bfloat16 import bfloat16_bits_to_float32, float32_to_bfloat16_bits, round_to_bfloat16
from minireason.device import to_host
from minireason.errors import CheckpointError

# The specification's dtype names -> NumPy little-endian dtypes. BF16 is stored as its raw
# uint16 bit pattern and converted on read.
SAFETENSORS_DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
# NumPy dtype name -> safetensors dtype name, for writing.
_NUMPY_TO_SAFETENSORS = {
    "float64": "F64", "float32": "F32", "float16": "F16",
    "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8",
    "uint64": "U64", "uint32": "U32", "uint16": "U16", "uint8": "U8", "bool": "BOOL",
}
# dtype names save_safetensors(dtype=...) and load_safetensors(dtype=...) accept for float tensors.
FLOAT_DTYPES = ("float64", "float32", "float16", "bfloat16")

HEADER_LENGTH_BYTES = 8
MAX_HEADER_BYTES = 100_000_000  # the reference implementation's limit; real headers are kilobytes
METADATA_KEY = "__metadata__"


# ---------------------------------------------------------------------- header
@dataclass(frozen=True)
class TensorInfo:
    """Where one tensor lives: its dtype name, shape and byte range in the data buffer."""

    name: str
    dtype: str  # safetensors name, e.g. "BF16"
    shape: tuple[int, ...]
    begin: int  # offsets relative to the data buffer
    end: int

    @property
    def num_elements(self) -> int:
        count = 1
        for size in self.shape:
            count *= size
        return count


@dataclass(frozen=True)
class SafetensorsHeader:
    """A validated header: every tensor's place, the metadata, and where the data starts."""

    path: Path
    tensors: dict[str, TensorInfo]
    metadata: dict[str, str] | None
    data_start: int  # absolute file offset of the data buffer (8 + header length)
    file_size: int


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        duplicated = sorted({key for key in keys if keys.count(key) > 1})
        raise CheckpointError(f"duplicate key(s) in JSON header: {duplicated[:5]}")
    return dict(pairs)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_safetensors_header(path: str | os.PathLike, max_header_bytes: int = MAX_HEADER_BYTES) -> SafetensorsHeader:
    """Read and fully validate a safetensors header without touching tensor data.

    Checks, each failing with a ``CheckpointError`` naming the file (and tensor):
    the 8-byte length is present, at most ``max_header_bytes`` and inside the file; the
    header is UTF-8 JSON, an object, without duplicate keys; ``__metadata__`` maps strings
    to strings; every tensor entry has exactly a known ``dtype``, a ``shape`` of ints >= 0
    and ``data_offsets`` [begin, end] with 0 <= begin <= end; element count x item size
    equals end - begin; and, sorted by offset, the ranges tile the data buffer with no gap
    and no overlap, ending exactly at the end of the file.
    """
    path = Path(path)
    where = f"safetensors file {str(path)!r}"
    try:
        file_size = path.stat().st_size
        with open(path, "rb") as handle:
            length_bytes = handle.read(HEADER_LENGTH_BYTES)
            if len(length_bytes) < HEADER_LENGTH_BYTES:
                raise CheckpointError(
                    f"{where}: file is {file_size} bytes, too short for the 8-byte header length"
                )
            header_length = int.from_bytes(length_bytes, "little")
            if header_length > max_header_bytes:
                raise CheckpointError(
                    f"{where}: header length {header_length} exceeds the limit of {max_header_bytes} bytes"
                )
            if HEADER_LENGTH_BYTES + header_length > file_size:
                raise CheckpointError(
                    f"{where}: header length {header_length} runs past the end of the file "
                    f"({file_size} bytes; truncated?)"
                )
            header_bytes = handle.read(header_length)
    except OSError as error:
        raise CheckpointError(f"{where}: cannot read: {error}") from error
    if len(header_bytes) != header_length:  # the file shrank while we read it
        raise CheckpointError(f"{where}: header truncated ({len(header_bytes)} of {header_length} bytes)")

    try:
        text = header_bytes.decode("utf-8")
        header = json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except UnicodeDecodeError as error:
        raise CheckpointError(f"{where}: header is not valid UTF-8 ({error})") from error
    except CheckpointError as error:
        raise CheckpointError(f"{where}: {error}") from error
    except (ValueError, RecursionError) as error:
        raise CheckpointError(f"{where}: header is not valid JSON ({error})") from error
    if not isinstance(header, dict):
        raise CheckpointError(f"{where}: header must be a JSON object, got {type(header).__name__}")

    metadata = header.pop(METADATA_KEY, None)
    if metadata is not None and not (
        isinstance(metadata, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    ):
        raise CheckpointError(f"{where}: {METADATA_KEY} must be an object mapping strings to strings")

    data_start = HEADER_LENGTH_BYTES + header_length
    data_size = file_size - data_start
    tensors: dict[str, TensorInfo] = {}
    for name, entry in header.items():
        tensors[name] = _check_tensor_entry(where, name, entry, data_size)
    _check_tiling(where, tensors, data_size)
    return SafetensorsHeader(path, tensors, metadata, data_start, file_size)


def _check_tensor_entry(where: str, name: str, entry: Any, data_size: int) -> TensorInfo:
    what = f"{where}, tensor {name!r}"
    if not isinstance(entry, dict):
        raise CheckpointError(f"{what}: entry must be a JSON object, got {type(entry).__name__}")
    keys = set(entry)
    if keys != {"dtype", "shape", "data_offsets"}:
        raise CheckpointError(
            f"{what}: entry must have exactly the keys dtype, shape, data_offsets; got {sorted(keys)}"
        )
    dtype = entry["dtype"]
    if dtype not in SAFETENSORS_DTYPES:
        raise CheckpointError(
            f"{what}: unsupported dtype {dtype!r}, expected one of {sorted(SAFETENSORS_DTYPES)}"
        )
    shape = entry["shape"]
    if not isinstance(shape, list) or not all(_is_int(size) and size >= 0 for size in shape):
        raise CheckpointError(f"{what}: shape must be a list of ints >= 0, got {shape!r}")
    offsets = entry["data_offsets"]
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(offset) for offset in offsets)):
        raise CheckpointError(f"{what}: data_offsets must be [begin, end] ints, got {offsets!r}")
    begin, end = offsets
    if not 0 <= begin <= end:
        raise CheckpointError(f"{what}: data_offsets must satisfy 0 <= begin <= end, got {offsets}")
    if end > data_size:
        raise CheckpointError(
            f"{what}: data_offsets {offsets} run past the end of the data buffer ({data_size} bytes; truncated?)"
        )
    info = TensorInfo(name, dtype, tuple(shape), begin, end)
    expected_bytes = info.num_elements * SAFETENSORS_DTYPES[dtype].itemsize
    if expected_bytes != end - begin:
        raise CheckpointError(
            f"{what}: shape {list(shape)} of {dtype} needs {expected_bytes} bytes, "
            f"but data_offsets {offsets} hold {end - begin}"
        )
    return info


def _check_tiling(where: str, tensors: dict[str, TensorInfo], data_size: int) -> None:
    """Sorted by offset, every range starts where the previous ended; the last ends the file."""
    position = 0
    previous = None
    for info in sorted(tensors.values(), key=lambda info: (info.begin, info.end)):
        if info.begin < position:
            raise CheckpointError(
                f"{where}, tensor {info.name!r}: bytes [{info.begin}, {info.end}) overlap "
                f"tensor {previous!r} (which ends at {position})"
            )
        if info.begin > position:
            raise CheckpointError(
                f"{where}, tensor {info.name!r}: gap of {info.begin - position} unused bytes before it "
                f"(data starts at {info.begin}, previous tensor ends at {position})"
            )
        position, previous = info.end, info.name
    if position != data_size:
        raise CheckpointError(
            f"{where}: tensors cover {position} bytes but the data buffer has {data_size} "
            "(trailing bytes not described by the header)"
        )


# ---------------------------------------------------------------------- read
def _check_float_dtype(dtype: str | None, argument: str = "dtype") -> str | None:
    if dtype is None:
        return None
    name = dtype if isinstance(dtype, str) else np.dtype(dtype).name
    if name not in FLOAT_DTYPES:
        raise CheckpointError(f"{argument} must be None or one of {FLOAT_DTYPES}, got {dtype!r}")
    return name


def _convert(array: np.ndarray, stored_dtype: str, dtype: str | None) -> np.ndarray:
    """Decode BF16 bits and cast float tensors to ``dtype`` (integers are left alone)."""
    if stored_dtype == "BF16":
        array = bfloat16_bits_to_float32(array)
        if dtype == "bfloat16":
            return array
    if dtype is None or array.dtype.kind != "f":
        return array
    if dtype == "bfloat16":
        return round_to_bfloat16(array.astype(np.float32))
    return array.astype(dtype, copy=False)


def load_safetensors(
    path: str | os.PathLike,
    dtype: str | None = None,
    mmap: bool = True,
    names: list[str] | None = None,
) -> dict[str, np.ndarray]:
    """Load tensors from a ``.safetensors`` file as a dict name -> array.

    ``dtype`` None keeps each tensor's stored type (BF16 becomes float32, exactly); a float
    dtype name ("float32", "float64", "float16", or "bfloat16" = float32 rounded to bf16)
    casts every floating tensor to it, leaving integer and bool tensors as they are.
    ``mmap=True`` returns read-only views on a memory map of the file for tensors that need
    no conversion (copy with ``np.array`` to modify them); ``mmap=False`` reads each tensor
    into its own writable array. ``names`` restricts the result to those tensors.
    """
    dtype = _check_float_dtype(dtype)
    header = read_safetensors_header(path)
    wanted = list(header.tensors) if names is None else list(names)
    unknown = [name for name in wanted if name not in header.tensors]
    if unknown:
        raise CheckpointError(f"safetensors file {str(header.path)!r} has no tensor(s) {unknown[:5]}")
    if mmap:
        raw = _map_tensors(header, wanted)
    else:
        raw = _read_tensors(header, wanted)
    return {name: _convert(raw[name], header.tensors[name].dtype, dtype) for name in wanted}


def _map_tensors(header: SafetensorsHeader, names: list[str]) -> dict[str, np.ndarray]:
    """Read-only arrays viewing a memory map of the file (no tensor bytes are read yet)."""
    arrays: dict[str, np.ndarray] = {}
    if header.file_size == header.data_start:  # an empty data buffer cannot be mapped
        for name in names:
            info = header.tensors[name]
            arrays[name] = np.zeros(info.shape, dtype=SAFETENSORS_DTYPES[info.dtype])
        return arrays
    try:
        with open(header.path, "rb") as handle:
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError) as error:
        raise CheckpointError(f"safetensors file {str(header.path)!r}: cannot memory-map: {error}") from error
    if len(mapped) != header.file_size:
        raise CheckpointError(f"safetensors file {str(header.path)!r}: file changed size while being opened")
    for name in names:
        info = header.tensors[name]
        numpy_dtype = SAFETENSORS_DTYPES[info.dtype]
        flat = np.frombuffer(mapped, dtype=numpy_dtype, count=info.num_elements, offset=header.data_start + info.begin)
        arrays[name] = flat.reshape(info.shape)  # the array keeps the map alive
    return arrays


def _read_tensors(header: SafetensorsHeader, names: list[str]) -> dict[str, np.ndarray]:
    """Writable arrays, each filled by reading exactly its byte range."""
    arrays: dict[str, np.ndarray] = {}
    try:
        with open(header.path, "rb") as handle:
            for name in names:
                info = header.tensors[name]
                array = np.empty(info.shape, dtype=SAFETENSORS_DTYPES[info.dtype])
                handle.seek(header.data_start + info.begin)
                got = handle.readinto(memoryview(array.reshape(-1).view(np.uint8)))
                if got != info.end - info.begin:
                    raise CheckpointError(
                        f"safetensors file {str(header.path)!r}, tensor {name!r}: read {got} of "
                        f"{info.end - info.begin} bytes (file truncated while reading?)"
                    )
                arrays[name] = array
    except OSError as error:
        raise CheckpointError(f"safetensors file {str(header.path)!r}: cannot read: {error}") from error
    return arrays


# ---------------------------------------------------------------------- write
def _prepare_tensor(name: Any, value: Any, dtype: str | None) -> tuple[str, np.ndarray]:
    """(safetensors dtype name, C-contiguous little-endian array of the bytes to write)."""
    if not isinstance(name, str) or not name:
        raise CheckpointError(f"tensor names must be non-empty strings, got {name!r}")
    if name == METADATA_KEY:
        raise CheckpointError(f"tensor name {METADATA_KEY!r} is reserved for metadata")
    array = to_host(value)  # a device (GPU) array is copied to the host; host arrays pass through
    if array.dtype.kind == "f" and dtype is not None:
        if dtype == "bfloat16":
            bits = float32_to_bfloat16_bits(array.astype(np.float32))
            return "BF16", np.ascontiguousarray(bits, dtype="<u2").reshape(array.shape)
        array = array.astype(dtype)
    stored = _NUMPY_TO_SAFETENSORS.get(array.dtype.name)
    if stored is None:
        raise CheckpointError(
            f"tensor {name!r}: dtype {array.dtype} cannot be stored, expected one of {sorted(_NUMPY_TO_SAFETENSORS)}"
        )
    # ascontiguousarray makes 0-d arrays 1-d; the reshape keeps scalars scalars
    return stored, np.ascontiguousarray(array, dtype=SAFETENSORS_DTYPES[stored]).reshape(array.shape)


def save_safetensors(
    path: str | os.PathLike,
    tensors: dict[str, np.ndarray],
    metadata: dict[str, str] | None = None,
    dtype: str | None = None,
) -> int:
    """Write ``tensors`` to a ``.safetensors`` file atomically; returns the file size in bytes.

    ``dtype`` None stores each array as it is; a float dtype name ("float32", "float64",
    "float16", "bfloat16") converts every floating array to it (bfloat16 rounds to nearest
    even). Tensors are laid out in the order given; the header is padded with spaces to a
    multiple of 8 bytes so every tensor starts 8-byte aligned when the dtypes allow it.
    """
    dtype = _check_float_dtype(dtype)
    if not isinstance(tensors, dict):
        raise CheckpointError(f"tensors must be a dict name -> array, got {type(tensors).__name__}")
    if metadata is not None and not (
        isinstance(metadata, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    ):
        raise CheckpointError("metadata must be a dict mapping strings to strings")
    prepared = {name: _prepare_tensor(name, value, dtype) for name, value in tensors.items()}

    header: dict[str, Any] = {}
    if metadata is not None:
        header[METADATA_KEY] = dict(metadata)
    position = 0
    for name, (stored, array) in prepared.items():
        header[name] = {"dtype": stored, "shape": list(array.shape), "data_offsets": [position, position + array.nbytes]}
        position += array.nbytes
    header_bytes = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    header_bytes += b" " * (-(HEADER_LENGTH_BYTES + len(header_bytes)) % 8)

    with atomic_write(path) as handle:
        handle.write(len(header_bytes).to_bytes(HEADER_LENGTH_BYTES, "little"))
        handle.write(header_bytes)
        for _, array in prepared.values():
            if array.nbytes:
                handle.write(memoryview(array.reshape(-1).view(np.uint8)))
    return HEADER_LENGTH_BYTES + len(header_bytes) + position
