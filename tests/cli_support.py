"""What the command-line tests share: run ``minireason`` in this process, check a one-line error."""

import contextlib
import io
import os

from minireason.cli.main import main


def run_cli(argv):
    """(exit code, stdout, stderr) of ``minireason ARGV`` run in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse's own errors
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


def assert_one_line_error(code, err, command, *fragments):
    assert code not in (0, None)
    assert "Traceback" not in err
    error_lines = [line for line in err.splitlines() if line.startswith(f"minireason {command}: error: ")]
    assert len(error_lines) == 1, err
    for fragment in fragments:
        assert fragment in error_lines[0], err


@contextlib.contextmanager
def umask(mask):
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)
