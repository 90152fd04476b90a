"""The child process that does the sympy part of grading (see :mod:`minireason.evaluation.timeouts`).

Protocol, one JSON object per line: it prints ``ready`` once sympy is imported, then for each
request ``{"pred": str, "gold": str}`` on stdin it prints ``{"equal": bool}``. It never
evaluates the strings as code: they go through :func:`minireason.evaluation.grader.grade_symbolic`,
which uses the whitelist parser. It exits when stdin closes (its parent is gone).
"""

from __future__ import annotations

import json
import sys

from minireason.evaluation.grader import grade_symbolic

MEMORY_LIMIT_BYTES = 2 * 1024**3


def _limit_memory() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    except (ImportError, ValueError, OSError):  # not on every platform
        pass


def main() -> int:
    """The worker's loop (see the module's protocol); returns 0 when stdin closes."""
    _limit_memory()

    grade_symbolic("x+1", "1+x")  # import sympy and the parser now, before saying ready

    output = sys.stdout.buffer
    output.write(b"ready\n")
    output.flush()
    for line in sys.stdin.buffer:
        try:
            request = json.loads(line)
            equal = bool(grade_symbolic(str(request["pred"]), str(request["gold"])))
        except Exception:  # noqa: BLE001 - any failure on hostile input is "not equivalent"
            equal = False
        output.write(json.dumps({"equal": equal}).encode() + b"\n")
        output.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
