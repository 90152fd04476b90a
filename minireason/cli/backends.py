"""``minireason backends``: which implementation of each op every backend runs, and for which inputs.

Prints which backend runs without ``--backend`` (``minireason.backend.get_backend``), then each
backend's dispatch table (``minireason.backend.describe``); a backend whose optional dependency is
missing is listed with the extra that installs it.
"""

from __future__ import annotations

from minireason.backend import BACKEND_VARIABLE, BACKENDS, describe, get_backend
from minireason.errors import ConfigError


def add_arguments(parser) -> None:
    """Adds the options of ``minireason backends`` to its parser."""
    parser.add_argument("names", nargs="*", metavar="BACKEND", help="backends to describe (default: all)")


def run(args) -> int:
    """Runs ``minireason backends`` on the parsed arguments; returns the exit status (0 on success)."""
    names = args.names or list(BACKENDS)
    for name in names:
        if name not in BACKENDS:
            raise ConfigError(f"unknown backend {name!r}; expected one of {', '.join(BACKENDS)}")
    print(f"default: {get_backend()} (without --backend; {BACKEND_VARIABLE} or --backend names another)")
    print()
    for index, name in enumerate(names):
        if index:
            print()
        try:
            table = describe(name)
        except ConfigError as error:
            print(f"{name}: not available ({error})")
            continue
        print(f"{name}:")
        print(table)
    return 0
