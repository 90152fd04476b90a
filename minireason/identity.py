"""What makes a run what it is: a model's identity, a data set's identity, and the manifest a
results file keeps beside it.

A results file that grows over several sessions (``minireason eval`` resumes after its last
record) must never mix two runs.  So the file ``OUT`` gets a sidecar ``OUT.manifest.json``,
written atomically before the first record::

    {"kind": "minireason results manifest", "format": 1, "command": "eval",
     "minireason_version": "0.1.0", "created_at": "2025-01-31T12:00:00",
     "identity": {"model_sha256": "...", "data_sha256": "...", "temperature": 0.7, "seed": 0, ...},
     "run": {"arguments": {"model": "builtin:base", "data": "task:addition", ...}}}

``identity`` holds every setting that changes the records; a resume compares it key by key and
refuses, naming the settings that differ.  ``run`` holds facts for the reader (the command's
arguments, where the model was loaded from) that a resume does not compare: the same weights
loaded from another path are the same model.  The project version is recorded, not compared
(a bug-fix release should not force a rerun; the records name the version that started them).

The sidecar keeps the JSONL file itself plain records, so every reader of it (``grade``, the
demo's vote, ``jq``) works unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path

import numpy as np

from minireason import __version__
from minireason.atomic import atomic_write_text
from minireason.device import to_host
from minireason.errors import DataError, InputError

MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_KIND = "minireason results manifest"
MANIFEST_FORMAT = 1


def weights_sha256(params: dict) -> str:
    """A model's identity: sha256 over its parameter names, shapes, dtypes and bytes (in name order)."""

    digest = hashlib.sha256()
    for name in sorted(params):
        value = np.ascontiguousarray(to_host(params[name]))
        digest.update(f"{name}:{value.shape}:{value.dtype};".encode())
        digest.update(value.data)
    return digest.hexdigest()


def json_sha256(value) -> str:
    """sha256 of ``value`` as canonical JSON (sorted keys, ASCII): a data set's identity."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def project_version() -> str:
    """The version of minireason recorded in run manifests."""
    return __version__


def manifest_path(results_path: str | os.PathLike) -> Path:
    """Where the manifest of ``results_path`` lives: ``results.jsonl`` -> ``results.jsonl.manifest.json``."""
    return Path(os.fspath(results_path) + MANIFEST_SUFFIX)


def make_manifest(command: str, identity: dict, run: dict | None = None) -> dict:
    """A manifest (see the module docstring); ``identity`` and ``run`` must be JSON-able."""
    return {"kind": MANIFEST_KIND, "format": MANIFEST_FORMAT, "command": command,
            "minireason_version": project_version(), "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            # a JSON round trip: tuples become lists, as they will be when read back
            "identity": json.loads(json.dumps(identity, default=str)),
            "run": json.loads(json.dumps(run or {}, default=str))}


def write_manifest(results_path: str | os.PathLike, manifest: dict) -> Path:
    """Write ``manifest`` beside ``results_path`` (atomically); returns its path."""

    path = manifest_path(results_path)
    atomic_write_text(path, json.dumps(manifest, indent=1, ensure_ascii=True) + "\n")
    return path


def read_manifest(results_path: str | os.PathLike) -> dict | None:
    """The manifest beside ``results_path``, or None when there is none; a damaged one is a DataError."""
    path = manifest_path(results_path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory; expected the results file's manifest") from None
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"{path}: not a valid manifest ({error}); move it away with its results file, "
                        "or start over") from None
    if not (isinstance(manifest, dict) and manifest.get("kind") == MANIFEST_KIND
            and isinstance(manifest.get("identity"), dict)):
        raise DataError(f"{path}: not a minireason results manifest (expected kind {MANIFEST_KIND!r} "
                        "and an 'identity' object)")
    return manifest


HEX_DIGEST = re.compile(r"[0-9a-f]{40,}")


def _shown(value) -> str:
    """A setting's value as a refusal shows it: a content hash by its first 12 digits, anything else by
    its repr, cut to 60 characters."""
    if isinstance(value, str) and HEX_DIGEST.fullmatch(value):
        return value[:12] + "..."
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _flattened(settings: dict, prefix: str = "") -> dict:
    """Nested settings as one level of dotted names: {"grpo": {"loss": "ppo"}} -> {"grpo.loss": "ppo"}."""
    flat = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flattened(value, name + "."))
        else:
            flat[name] = value
    return flat


MISSING = "(absent)"


def differing_settings(saved: dict, current: dict) -> list[str]:
    """``"name: old -> new"`` for every setting whose value differs, nested settings by dotted name,
    sorted by name; a setting only one side has shows ``(absent)`` on the other.  The one "settings
    differ" rule of the project: results files, run folders and checkpoints all refuse with it."""
    saved = _flattened(json.loads(json.dumps(saved, default=str)))
    current = _flattened(json.loads(json.dumps(current, default=str)))  # compare as the file holds it
    keys = sorted(set(saved) | set(current))
    return [f"{key}: {_shown(saved[key]) if key in saved else MISSING} -> "
            f"{_shown(current[key]) if key in current else MISSING}"
            for key in keys if saved.get(key, MISSING) != current.get(key, MISSING)]


def describe_differences(saved: dict, current: dict, shown: int = 6) -> str:
    """The first ``shown`` differing settings joined by "; " (and how many more), or "" when none."""
    differing = differing_settings(saved, current)
    text = "; ".join(differing[:shown])
    return text + (f"; and {len(differing) - shown} more" if len(differing) > shown else "")


def check_same_run(results_path: str | os.PathLike, records: int, identity: dict, command: str,
                   way_out: str = "use another output file, or start over (--force-new / force_new=True)") -> None:
    """Refuse to add to ``results_path`` (holding ``records`` records) unless its manifest has ``identity``.

    InputError naming the settings that differ, or saying the manifest is missing; the way out
    is another output file or starting over (``way_out`` says how, in the caller's words).
    """
    manifest = read_manifest(results_path)
    if manifest is None:
        raise InputError(f"{results_path}: holds {records} records but no manifest "
                         f"{manifest_path(results_path).name} saying which run wrote them (an older "
                         f"minireason, or the manifest was removed); {way_out}")
    if manifest.get("command") != command:
        raise InputError(f"{results_path}: holds results of `minireason {manifest.get('command')}`, not of "
                         f"`minireason {command}`; {way_out}")
    differing = describe_differences(manifest["identity"], identity)
    if differing:
        raise InputError(f"{results_path}: holds {records} records of another run ({differing}); {way_out}")
