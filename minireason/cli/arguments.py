"""Argument types the commands share: checked when the command line is parsed, so a bad value is
argparse's one-line error ("minireason CMD: error: argument --seed: ...", exit 2) before any
model is loaded."""

from __future__ import annotations

import argparse

MAX_SEED = 2**63 - 1  # seeds are one non-negative number; larger ones would not fit the records' int64


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def seed(text: str) -> int:
    """--seed: an integer in [0, 2**63)."""
    value = _integer(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 2**63), got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (counts and sizes: --limit, --batch-size, --seq-len, ...)."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def undecodable_byte(text: str) -> str | None:
    """Why ``text`` is not valid Unicode text (a lone surrogate, which is how Python carries
    bytes of a command line or of standard input that are not UTF-8), or None if it is."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        code = ord(text[error.start])
        if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the byte that was not UTF-8
            return f"not valid UTF-8 (byte {code - 0xDC00:#04x} at character {error.start + 1})"
        return f"not valid Unicode (lone surrogate U+{code:04X} at character {error.start + 1})"
    return None


def text(value: str) -> str:
    """Free text (--prompt, --system): must be valid UTF-8."""
    reason = undecodable_byte(value)
    if reason is not None:
        raise argparse.ArgumentTypeError(reason)
    return value


def read_toml_config(path: str) -> dict:
    """The settings of a ``--config FILE.toml`` (``grpo``, ``sft``, ``distill``, ``dpo``); flags given on the
    command line override them."""
    from minireason.errors import InputError

    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise InputError("--config needs Python 3.11 or the tomli package (pip install tomli)") from None
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as error:
        raise InputError(f"--config {path}: cannot read it ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"--config {path}: not valid TOML ({error})") from None
