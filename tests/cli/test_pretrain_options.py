"""``minireason pretrain``'s recipe options: a share outside [0, 1] is one line naming the flag."""

from __future__ import annotations

import pytest
from cli_support import assert_one_line_error, run_cli


@pytest.mark.parametrize("value", ["2", "-0.1", "nan", "half"])
def test_refine_fraction_outside_zero_to_one_is_refused(value, tmp_path):
    code, _, err = run_cli(["pretrain", "--refine-fraction", value, "--out-dir", str(tmp_path)])
    assert_one_line_error(code, err, "pretrain", "--refine-fraction: expected a number in [0, 1]")
    assert not any(tmp_path.iterdir())  # refused before any work
