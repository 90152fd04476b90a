"""Leaderboards from pairwise comparisons: Bradley-Terry by maximum likelihood, online Elo, bootstrap intervals.

A *comparison* is ``(prompt, first, second, outcome)``: model indices and the first model's score,
1 (it won), 0 (it lost) or 0.5 (a tie: half a win each, the way LM Arena counts ties when it fits
Bradley-Terry). Comparisons come from the verifier (:func:`verifier_comparisons`: the right answer
beats the wrong one, two right or two wrong answers tie) or from a judge model
(:mod:`minireason.evaluation.model_judge`).

Bradley-Terry
    P(i beats j) = sigmoid(s_i - s_j). With ``wins[i, j]`` the (fractional) wins of i over j, the
    fit minimises the negative log-likelihood plus a small ridge that pins the scale's free offset
    and keeps an unbeaten model finite::

        L(s) = -sum_ij wins[i, j] * log sigmoid(s_i - s_j) + (ridge / 2) * |s|^2

    by Newton's method on the hand-derived gradient and Hessian (docs/grading.md derives them).
    Strengths are shown on the Elo scale, ``1000 + 400 * s / ln 10``.
Elo
    the online update, in the order the comparisons are given: expected score
    ``E = 1 / (1 + 10^((R_j - R_i) / 400))``, then ``R_i += K (outcome - E)`` and ``R_j -= K (outcome - E)``.
    Its result depends on that order (:func:`elo_order_spread` shows by how much), which is why the
    fit, which depends only on the counts, is the ranking.
Intervals
    the bootstrap over prompts: prompts are drawn with replacement (all comparisons of a drawn prompt
    come along), Bradley-Terry is refitted, and the 2.5 and 97.5 percentiles are the interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from minireason.atomic import atomic_write
from minireason.errors import InputError
from minireason.nn.swiglu import sigmoid
from minireason.plotting import pyplot

ELO_BASE = 1000.0
ELO_SCALE = 400.0 / math.log(10.0)  # rating points per unit of Bradley-Terry strength
DEFAULT_RIDGE = 1e-2


def _logsigmoid(x):
    return -np.logaddexp(0.0, -x)


def check_comparisons(comparisons, models: int) -> np.ndarray:
    """``comparisons`` as an (N, 4) float array (prompt, first, second, outcome); InputError otherwise."""
    if not len(comparisons):
        return np.zeros((0, 4))
    try:
        array = np.asarray(comparisons, dtype=np.float64)  # (N, 4)
    except (TypeError, ValueError):
        raise InputError("comparisons: expected rows of (prompt, first, second, outcome) numbers") from None
    if array.ndim != 2 or array.shape[1] != 4:
        raise InputError(f"comparisons: expected rows of (prompt, first, second, outcome), got shape {array.shape}")
    if (np.any(array[:, 1:3] < 0) or np.any(array[:, 1:3] >= models)
                       or np.any(array[:, 1:3] != np.round(array[:, 1:3]))):
        raise InputError(f"comparisons: model indices must be integers in 0..{models - 1}")
    if np.any(array[:, 1] == array[:, 2]):
        raise InputError("comparisons: a model cannot be compared with itself")
    if not np.all(np.isin(array[:, 3], (0.0, 0.5, 1.0))):
        raise InputError("comparisons: an outcome must be 1 (first wins), 0 (second wins) or 0.5 (tie)")
    return array


def win_matrix(comparisons, models: int) -> np.ndarray:
    """``wins[i, j]``: the wins of model i over model j, a tie counting half to each."""
    array = check_comparisons(comparisons, models)
    wins = np.zeros((models, models))
    first, second, outcome = array[:, 1].astype(int), array[:, 2].astype(int), array[:, 3]
    np.add.at(wins, (first, second), outcome)
    np.add.at(wins, (second, first), 1.0 - outcome)
    return wins


def bradley_terry_loss(strengths: np.ndarray, wins: np.ndarray, ridge: float = DEFAULT_RIDGE) -> float:
    """The negative log-likelihood of ``wins`` under ``strengths``, plus the ridge (module docstring)."""
    differences = strengths[:, None] - strengths[None, :]  # (M, M): s_i - s_j
    return float(-np.sum(wins * _logsigmoid(differences)) + 0.5 * ridge * np.sum(strengths ** 2))


def bradley_terry_gradient(strengths: np.ndarray, wins: np.ndarray, ridge: float = DEFAULT_RIDGE) -> np.ndarray:
    """dL/ds: with p_ij = sigmoid(s_i - s_j), ``-sum_j wins[i,j] (1 - p_ij) + sum_j wins[j,i] (1 - p_ji) + ridge s_i``."""
    probabilities = sigmoid(strengths[:, None] - strengths[None, :])  # (M, M): p_ij
    pressure = wins * (1.0 - probabilities)  # (M, M): how much each win still pulls s_i up
    return -pressure.sum(axis=1) + pressure.sum(axis=0) + ridge * strengths


def bradley_terry_hessian(strengths: np.ndarray, wins: np.ndarray, ridge: float = DEFAULT_RIDGE) -> np.ndarray:
    """d2L/ds2: off the diagonal ``-(wins[i,j] + wins[j,i]) p_ij (1 - p_ij)``; each row sums to ``ridge``."""
    probabilities = sigmoid(strengths[:, None] - strengths[None, :])
    curvature = (wins + wins.T) * probabilities * (1.0 - probabilities)  # (M, M), symmetric
    hessian = -curvature
    np.fill_diagonal(hessian, curvature.sum(axis=1) - np.diag(curvature) + ridge)
    return hessian


def fit_bradley_terry(wins: np.ndarray, ridge: float = DEFAULT_RIDGE, tolerance: float = 1e-10,
                      max_steps: int = 100) -> np.ndarray:
    """Strengths minimising :func:`bradley_terry_loss` (Newton steps, halved while the loss rises)."""
    wins = np.asarray(wins, dtype=np.float64)
    if wins.ndim != 2 or wins.shape[0] != wins.shape[1] or np.any(wins < 0) or not np.all(np.isfinite(wins)):
        raise InputError(f"wins: expected a square matrix of finite counts >= 0, got shape {wins.shape}")
    if not ridge > 0:
        raise InputError(f"ridge: expected > 0 (it pins the scale's offset), got {ridge}")
    strengths = np.zeros(wins.shape[0])
    loss = bradley_terry_loss(strengths, wins, ridge)
    for _ in range(max_steps):
        gradient = bradley_terry_gradient(strengths, wins, ridge)
        if np.max(np.abs(gradient)) < tolerance:
            break
        step = np.linalg.solve(bradley_terry_hessian(strengths, wins, ridge), gradient)
        scale = 1.0
        while True:
            candidate = strengths - scale * step
            candidate_loss = bradley_terry_loss(candidate, wins, ridge)
            if candidate_loss <= loss or scale < 1e-8:
                break
            scale *= 0.5
        strengths, loss = candidate, candidate_loss
    return strengths


def to_rating(strengths) -> np.ndarray:
    """Bradley-Terry strengths on the Elo scale (1000 at strength 0, 400 points per factor 10 in odds)."""
    return ELO_BASE + ELO_SCALE * np.asarray(strengths)


def online_elo(comparisons, models: int, k_factor: float = 4.0, order: Sequence[int] | None = None) -> np.ndarray:
    """Elo ratings after the online update over ``comparisons`` (in ``order``, default as given)."""
    array = check_comparisons(comparisons, models)
    ratings = np.full(models, ELO_BASE)
    for row in (range(len(array)) if order is None else order):
        _, first, second, outcome = array[row]
        first, second = int(first), int(second)
        expected = 1.0 / (1.0 + 10.0 ** ((ratings[second] - ratings[first]) / 400.0))
        ratings[first] += k_factor * (outcome - expected)
        ratings[second] -= k_factor * (outcome - expected)
    return ratings


def elo_order_spread(comparisons, models: int, orders: int = 20, seed: int = 0,
                     k_factor: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """(lowest, highest) Elo rating of each model over ``orders`` random orders of the same comparisons."""
    rng = np.random.default_rng(seed)
    count = len(check_comparisons(comparisons, models))
    runs = np.stack([online_elo(comparisons, models, k_factor, rng.permutation(count)) for _ in range(orders)])
    return runs.min(axis=0), runs.max(axis=0)


def bootstrap_intervals(comparisons, models: int, samples: int = 200, seed: int = 0, ridge: float = DEFAULT_RIDGE,
                        level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) percentile intervals of each Bradley-Terry strength, resampling prompts."""
    array = check_comparisons(comparisons, models)
    prompts, grouped = np.unique(array[:, 0], return_inverse=True)
    if len(prompts) == 0:
        raise InputError("comparisons: expected at least one, got none")
    per_prompt = [win_matrix(array[grouped == index], models) for index in range(len(prompts))]
    stacked = np.stack(per_prompt)  # (P, M, M)
    rng = np.random.default_rng(seed)
    fits = []
    for _ in range(samples):
        counts = np.bincount(rng.integers(0, len(prompts), len(prompts)), minlength=len(prompts))
        fits.append(fit_bradley_terry(np.tensordot(counts, stacked, axes=1), ridge))
    tail = 100 * (1 - level) / 2
    return np.percentile(fits, tail, axis=0), np.percentile(fits, 100 - tail, axis=0)


def verifier_comparisons(correct: Sequence[Sequence[bool]]) -> list[tuple[int, int, int, float]]:
    """Comparisons decided by the verifier: ``correct[m][p]`` says whether model m answered prompt p right.

    For every prompt and pair (i < j): the right answer beats the wrong one; both right or both
    wrong is a tie.
    """
    models = len(correct)
    if models < 2 or len({len(row) for row in correct}) != 1:
        raise InputError("correct: expected two or more models with a verdict on the same prompts")
    comparisons = []
    for prompt in range(len(correct[0])):
        for first in range(models):
            for second in range(first + 1, models):
                a, b = bool(correct[first][prompt]), bool(correct[second][prompt])
                comparisons.append((prompt, first, second, 0.5 if a == b else float(a)))
    return comparisons


def leaderboard(names: Sequence[str], comparisons, samples: int = 200, seed: int = 0,
                ridge: float = DEFAULT_RIDGE, k_factor: float = 4.0) -> list[dict]:
    """One row per model, best first: Bradley-Terry rating and its bootstrap interval, Elo (given order)
    and its range over random orders, wins/ties/losses."""
    models = len(names)
    array = check_comparisons(comparisons, models)
    strengths = fit_bradley_terry(win_matrix(array, models), ridge)
    lower, upper = bootstrap_intervals(array, models, samples, seed, ridge)
    elo = online_elo(array, models, k_factor)
    elo_low, elo_high = elo_order_spread(array, models, seed=seed, k_factor=k_factor)
    rows = []
    for index, name in enumerate(names):
        mine = (array[:, 1] == index) | (array[:, 2] == index)
        score = np.where(array[:, 1] == index, array[:, 3], 1.0 - array[:, 3])[mine]
        rows.append({"model": name, "strength": float(strengths[index]), "rating": float(to_rating(strengths[index])),
                     "rating_low": float(to_rating(lower[index])), "rating_high": float(to_rating(upper[index])),
                     "elo": float(elo[index]), "elo_order_low": float(elo_low[index]),
                     "elo_order_high": float(elo_high[index]),
                     "wins": int(np.sum(score == 1.0)), "ties": int(np.sum(score == 0.5)),
                     "losses": int(np.sum(score == 0.0))})
    rows.sort(key=lambda row: -row["strength"])
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows


def format_leaderboard(rows: Sequence[dict]) -> str:
    """The ranked table as aligned text."""
    width = max([len("model")] + [len(row["model"]) for row in rows])
    lines = [f"{'rank':>4}  {'model':<{width}}  {'BT rating':>9}  {'95% interval':>15}  {'Elo':>7}  "
             f"{'Elo over orders':>15}  {'W/T/L':>12}" + ("  accuracy" if any("accuracy" in r for r in rows) else "")]
    for row in rows:
        line = (f"{row['rank']:>4}  {row['model']:<{width}}  {row['rating']:9.1f}  "
                f"{row['rating_low']:7.1f}-{row['rating_high']:<7.1f}  {row['elo']:7.1f}  "
                f"{row['elo_order_low']:7.1f}-{row['elo_order_high']:<7.1f}  "
                f"{row['wins']:>4}/{row['ties']}/{row['losses']}")
        if "accuracy" in row:
            line += f"  {row['accuracy']:8.1%}"
        lines.append(line)
    return "\n".join(lines)


def plot_leaderboard(rows: Sequence[dict], path) -> None:
    """Ratings with their intervals (Bradley-Terry) and Elo beside them, one row per model, to a PNG."""
    plt = pyplot()

    rows = list(rows)[::-1]  # best at the top
    positions = np.arange(len(rows))
    figure, axes = plt.subplots(figsize=(7, 1 + 0.5 * len(rows)))
    ratings = np.array([row["rating"] for row in rows])
    errors = np.array([[row["rating"] - row["rating_low"] for row in rows],
                       [row["rating_high"] - row["rating"] for row in rows]])
    axes.errorbar(ratings, positions, xerr=errors, fmt="o", capsize=4, label="Bradley-Terry (95% bootstrap)")
    axes.plot([row["elo"] for row in rows], positions + 0.15, "s", alpha=0.7, label="online Elo")
    axes.set_yticks(positions, [row["model"] for row in rows])
    axes.set_xlabel("rating")
    axes.legend(loc="best", fontsize="small")
    figure.tight_layout()
    try:
        with atomic_write(path, "wb") as handle:
            figure.savefig(handle, format="png", dpi=120)
    finally:
        plt.close(figure)
