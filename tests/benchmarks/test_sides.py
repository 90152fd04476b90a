"""sides.runs_to_fill: how many timed runs each side of a benchmark row gets after the first round."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import sides  # noqa: E402


def test_a_short_row_gets_the_runs_that_fill_the_seconds_of_its_fastest_side():
    runs = sides.runs_to_fill({"numba": 0.086, "hf loop": 0.27}, row_seconds=1.0, minimum=2)
    assert runs == 12  # 12 x 0.086 s >= 1 s > 11 x 0.086 s
    assert runs * 0.086 >= 1.0 > (runs - 1) * 0.086


def test_a_long_row_keeps_the_fewest_runs_and_a_very_short_one_the_most():
    assert sides.runs_to_fill({"numba": 4.1, "hf loop": 5.4}, row_seconds=1.0, minimum=2) == 2
    assert sides.runs_to_fill({"numba": 1e-4}, row_seconds=1.0, minimum=2, maximum=40) == 40
    assert sides.runs_to_fill({"numba": 0.0}, row_seconds=1.0, minimum=2, maximum=40) == 40


def test_a_row_no_side_reported_keeps_the_first_rounds_count():
    assert sides.runs_to_fill({}, row_seconds=1.0, minimum=3) == 3
