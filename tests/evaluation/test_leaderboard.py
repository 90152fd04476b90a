"""Bradley-Terry (gradient and Hessian against finite differences, recovery of known strengths),
online Elo and its order dependence, bootstrap intervals, verifier comparisons."""

import numpy as np
import pytest
from gradcheck import assert_gradients_close, numerical_gradient, random_upstream
from hypothesis import given, settings
from hypothesis import strategies as st

from minireason.errors import InputError
from minireason.evaluation.leaderboard import (
    ELO_SCALE,
    bradley_terry_gradient,
    bradley_terry_hessian,
    bradley_terry_loss,
    fit_bradley_terry,
    format_leaderboard,
    leaderboard,
    online_elo,
    verifier_comparisons,
    win_matrix,
)


@settings(max_examples=25, deadline=None)
@given(models=st.integers(2, 6), seed=st.integers(0, 10_000), ridge=st.sampled_from([1e-3, 0.1, 1.0]))
def test_gradient_matches_central_differences(models, seed, ridge):
    rng = np.random.default_rng(seed)
    strengths = rng.standard_normal(models) * 2
    wins = rng.integers(0, 6, size=(models, models)).astype(np.float64) + 0.5 * rng.integers(0, 2, (models, models))
    np.fill_diagonal(wins, 0.0)
    upstream = float(random_upstream(rng, ()))  # the loss is a scalar: its upstream is one number
    numeric = numerical_gradient(lambda: upstream * bradley_terry_loss(strengths, wins, ridge), strengths)
    assert_gradients_close(upstream * bradley_terry_gradient(strengths, wins, ridge), numeric, "dL/ds")


@settings(max_examples=25, deadline=None)
@given(models=st.integers(2, 6), seed=st.integers(0, 10_000))
def test_hessian_matches_central_differences_of_the_gradient(models, seed):
    rng = np.random.default_rng(seed)
    strengths = rng.standard_normal(models)
    wins = rng.integers(0, 6, size=(models, models)).astype(np.float64)
    np.fill_diagonal(wins, 0.0)
    upstream = random_upstream(rng, models)
    numeric = numerical_gradient(lambda: float(upstream @ bradley_terry_gradient(strengths, wins)), strengths)
    assert_gradients_close(bradley_terry_hessian(strengths, wins) @ upstream, numeric, "d2L/ds2")


def synthetic_comparisons(true_strengths, prompts, seed, tie_band=0.0):
    """Every pair meets on every prompt; the first wins with probability sigmoid(s_i - s_j)
    (with ``tie_band``, a draw within that much of even is a tie)."""
    rng = np.random.default_rng(seed)
    comparisons = []
    for prompt in range(prompts):
        for i in range(len(true_strengths)):
            for j in range(i + 1, len(true_strengths)):
                p = 1 / (1 + np.exp(-(true_strengths[i] - true_strengths[j])))
                u = rng.random()
                outcome = 0.5 if abs(u - p) < tie_band else float(u < p)
                comparisons.append((prompt, i, j, outcome))
    return comparisons


def test_known_strengths_are_recovered_within_the_bootstrap_intervals():
    true = np.array([1.2, 0.5, 0.0, -0.4, -1.3])
    true = true - true.mean()
    comparisons = synthetic_comparisons(true, prompts=300, seed=1)
    rows = leaderboard([f"m{i}" for i in range(5)], comparisons, samples=100, seed=0, ridge=1e-4)
    assert [row["model"] for row in rows] == ["m0", "m1", "m2", "m3", "m4"]
    for row in rows:
        truth = 1000 + ELO_SCALE * true[int(row["model"][1:])]
        assert row["rating_low"] <= truth <= row["rating_high"], row
        assert row["rating_high"] - row["rating_low"] < 150  # the intervals say something


def test_ties_count_half_a_win_each():
    wins = win_matrix([(0, 0, 1, 0.5), (1, 0, 1, 1.0)], 2)
    assert wins.tolist() == [[0.0, 1.5], [0.5, 0.0]]
    # two models that only ever tie are equally strong
    strengths = fit_bradley_terry(win_matrix([(p, 0, 1, 0.5) for p in range(10)], 2))
    assert strengths[0] == pytest.approx(strengths[1], abs=1e-12)


def test_fit_reaches_the_closed_form_for_two_models():
    # two models, i beat j a times and lost b times: s_i - s_j = log(a / b) without a ridge
    strengths = fit_bradley_terry(np.array([[0.0, 30.0], [10.0, 0.0]]), ridge=1e-9)
    assert strengths[0] - strengths[1] == pytest.approx(np.log(3.0), rel=1e-5)


def test_online_elo_depends_on_the_order():
    comparisons = [(0, 0, 1, 1.0)] * 20 + [(1, 0, 1, 0.0)] * 20  # the same counts, two orders
    forward = online_elo(comparisons, 2, k_factor=16)
    backward = online_elo(comparisons, 2, k_factor=16, order=list(range(40))[::-1])
    assert forward[0] < 1000 < backward[0]  # whoever won last leads
    fitted = fit_bradley_terry(win_matrix(comparisons, 2))
    assert fitted[0] == pytest.approx(fitted[1], abs=1e-12)  # the fit sees only the counts


def test_verifier_decides_right_over_wrong_and_ties_the_rest():
    comparisons = verifier_comparisons([[True, True, False], [False, True, False]])
    assert comparisons == [(0, 0, 1, 1.0), (1, 0, 1, 0.5), (2, 0, 1, 0.5)]
    with pytest.raises(InputError):
        verifier_comparisons([[True], [True, False]])


@pytest.mark.parametrize("bad", [[(0, 0, 0, 1.0)], [(0, 0, 5, 1.0)], [(0, 0, 1, 0.7)],
                                 [(0, 1), (0, 1)], [(0, 0, 1, 1.0), (1, 0, 1)], [("a", 0, 1, 1.0)]])
def test_bad_comparisons_are_refused(bad):
    with pytest.raises(InputError, match="comparisons"):
        win_matrix(bad, 2)


def test_table_lists_every_model_best_first():
    rows = leaderboard(["weak", "strong"], synthetic_comparisons([-1.0, 1.0], 50, seed=2), samples=20)
    text = format_leaderboard(rows)
    assert text.index("strong") < text.index("weak")
    assert rows[0]["wins"] + rows[0]["ties"] + rows[0]["losses"] == 50


def test_leaderboard_command_ranks_builtin_models_and_resumes(tmp_path, capsys):
    import json

    from minireason.cli.main import main

    argv = ["leaderboard", "--models", "builtin:base", "builtin:student", "--data", "task:arithmetic?n=6&difficulty=1",
            "--out-dir", str(tmp_path), "--template", "short-direct", "--max-new-tokens", "8", "--bootstrap", "10",
            "--no-progress"]
    assert main(argv) == 0
    first = json.loads((tmp_path / "leaderboard.json").read_text())
    assert sorted(row["model"] for row in first["rows"]) == ["base", "student"]
    assert len((tmp_path / "comparisons.jsonl").read_text().splitlines()) == 6
    assert main(argv) == 0  # the answers are read back, not generated again
    assert json.loads((tmp_path / "leaderboard.json").read_text())["rows"] == first["rows"]
    assert "rank" in capsys.readouterr().out
    assert main(argv[:2] + ["builtin:base"] + argv[4:]) == 1  # one model is no leaderboard
