"""The project's error types.

Every error raised on bad input is one of these (or a plain ``ValueError``/``TypeError``
subclass of them), with a message that names the thing at fault: the file, the field or
argument, what was expected and what was found.
"""


class MinireasonError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(MinireasonError, ValueError):
    """A model configuration is inconsistent or has a field of the wrong type."""


class InputError(MinireasonError, ValueError):
    """An argument (token ids, masks, sampling settings, ...) is outside what is allowed."""


class CheckpointError(MinireasonError, ValueError):
    """A checkpoint file or directory is malformed, truncated, hostile or incomplete."""


class TokenizerError(MinireasonError, ValueError):
    """A tokenizer.json uses a component this tokenizer does not implement, or is malformed."""


class DataError(MinireasonError, ValueError):
    """A data file (problems, traces, results) has a missing field or a malformed line."""
