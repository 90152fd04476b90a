"""Argument types the commands share: checked when the command line is parsed, so a bad value is
argparse's one-line error ("minireason CMD: error: argument --seed: ...", exit 2) before any
model is loaded.

The vocabulary every command uses (``tests/cli/test_cli_vocabulary.py`` walks the parsers for it):
a file a command writes is ``--out``, a folder ``--out-dir``; the input records ``--data``; a subset
or count of problems ``--limit``; the prompt form ``--prompt-format plain|chat``; no progress output
``--no-progress``; integers fail as "expected an integer ...". Old spellings still parse, hidden
from --help (:func:`add_hidden_alias`): ``--quiet`` (demo, scale), ``--problems`` (demo), ``--n``
(tasks), ``--chat`` (eval), ``--pairs`` (dpo), ``--write`` (grade). Every option's help ends with its
default (:func:`show_defaults`)."""

from __future__ import annotations

import argparse

from minireason.errors import InputError

MAX_SEED = 2**63 - 1  # seeds are one non-negative number; larger ones would not fit the records' int64


def integer(text: str) -> int:
    """Any integer; every integer flag words its errors as this module does ("expected an integer ...")."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def seed(text: str) -> int:
    """--seed: an integer in [0, 2**63)."""
    value = integer(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 2**63), got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (counts and sizes: --limit, --batch-size, --seq-len, ...)."""
    value = integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    value = integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def fraction(text: str) -> float:
    """A number in [0, 1] (a share or a probability)."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def add_hidden_alias(parser: argparse.ArgumentParser, flag: str, **settings) -> None:
    """An old spelling of a flag, still accepted (a user's scripts may use it) and left out of --help."""
    parser.add_argument(flag, **settings, help=argparse.SUPPRESS)


def show_defaults(parser: argparse.ArgumentParser, defaults: dict | None = None) -> None:
    """Append each option's default to its help ("(default: 8)", "(default: off)", "(required)"), in this
    parser and its sub-commands' parsers, unless the help already names it.

    ``defaults``: dest -> value, for commands whose flags default to None so that a ``--config`` file
    can set them: the value the run will take (the config dataclass's), not argparse's None."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                show_defaults(sub, defaults)
            continue
        if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS or not action.option_strings:
            continue
        text = action.help or ""
        if "default" in text.lower() or "required" in text.lower():
            continue
        if action.required:
            shown = "required"
        elif action.nargs == 0:  # a switch: given or not
            shown = "default: off"
        else:
            value = action.default
            if defaults and action.dest in defaults and value is None:
                value = defaults[action.dest]
            if isinstance(value, (list, tuple)):
                value = ",".join(str(item) for item in value)
            if value is None:
                shown = "default: all" if action.dest == "limit" else "default: none"
            else:
                shown = f"default: {value}"
        action.help = (text + " " if text else "") + "(" + shown.replace("%", "%%") + ")"


def dataclass_defaults(config_class) -> dict:
    """Field name -> default of a config dataclass (what a training flag left out means)."""
    import dataclasses

    found = {}
    for field in dataclasses.fields(config_class):
        if field.default is not dataclasses.MISSING:
            found[field.name] = field.default
        elif field.default_factory is not dataclasses.MISSING:
            found[field.name] = field.default_factory()
    return found


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
