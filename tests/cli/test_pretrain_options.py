"""``minireason pretrain``'s recipe options: a share outside [0, 1] is one line naming the flag."""

from __future__ import annotations

import pytest
from cli_support import assert_one_line_error, run_cli


@pytest.mark.parametrize("value", ["2", "-0.1", "nan", "half"])
def test_refine_fraction_outside_zero_to_one_is_refused(value, tmp_path):
    code, _, err = run_cli(["pretrain", "--refine-fraction", value, "--out-dir", str(tmp_path)])
    assert_one_line_error(code, err, "pretrain", "--refine-fraction: expected a number in [0, 1]")
    assert not any(tmp_path.iterdir())  # refused before any work


@pytest.mark.parametrize("value", ["addition=columns,sideways", "addition=", "nofamily=columns", "countdown=columns"])
def test_unknown_strategies_are_refused(value, tmp_path):
    code, _, err = run_cli(["pretrain", "--mixed-strategies", "--strategies", value, "--out-dir", str(tmp_path)])
    assert code != 0 and len(err.strip().splitlines()) == 1
    assert "--strategies" in err or "task family" in err
    assert not any(tmp_path.iterdir())


def test_strategies_without_the_mix_are_refused(tmp_path):
    code, _, err = run_cli(["pretrain", "--single-way", "--strategies", "addition=columns", "--out-dir",
                            str(tmp_path)])
    assert_one_line_error(code, err, "pretrain", "--strategies: only means something when chains mix their ways")
    assert not any(tmp_path.iterdir())
