"""benchmarks/compile_time.py: a command run with a given kernel cache, timed, with its kernels' compiles."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import compile_time  # noqa: E402


def test_the_kernel_hook_reports_also_for_a_run_that_compiles_nothing(tmp_path):
    # `backends` compiles no kernel: the hook still reports, with an empty list
    seconds, timings = compile_time.run_once(["backends"], str(tmp_path), per_kernel=True)
    assert seconds > 0
    assert timings == []


def test_a_failing_command_stops_the_benchmark_naming_it(tmp_path):
    with pytest.raises(SystemExit, match="minireason no-such-command failed"):
        compile_time.run_once(["no-such-command"], str(tmp_path), per_kernel=False)
