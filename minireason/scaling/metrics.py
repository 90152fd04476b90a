"""pass@k and maj@k: what k samples per problem would score, estimated from n >= k samples.

**pass@k** is the probability that at least one of k samples is correct. Drawing k of the n
samples without replacement, all k are wrong with probability C(n-c, k) / C(n, k) when c of the n
are correct, so the unbiased estimator (Chen et al., 2021) is

    pass@k = 1 - C(n-c, k) / C(n, k).

The binomials overflow floats long before n gets large, so the ratio is computed as a product:

    C(n-c, k) / C(n, k) = prod_{i = n-c+1}^{n} (1 - k / i),

c factors each in [0, 1], which never overflows. When n - c < k every k-subset holds a correct
sample and pass@k is exactly 1.

**maj@k** is the probability that a majority vote over k samples is correct. There is no closed
form (it depends on how the wrong answers split), so it is the mean over k-subsets of the n
samples: all of them when there are few, otherwise a seeded random selection.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from minireason.errors import InputError

EXACT_SUBSET_LIMIT = 5000  # maj@k enumerates every subset up to this many, else samples this many


def _check_counts(n, c, k) -> None:
    for name, value in (("n", n), ("c", c), ("k", k)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise InputError(f"pass_at_k: argument {name!r}: expected an int, got {value!r}")
    if n < 1 or not 0 <= c <= n or not 1 <= k <= n:
        raise InputError(f"pass_at_k: expected n >= 1, 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate of pass@k from n samples of which c are correct."""
    _check_counts(n, c, k)
    if n - c < k:
        return 1.0
    all_wrong = 1.0
    for i in range(n - c + 1, n + 1):
        all_wrong *= 1.0 - k / i
    return 1.0 - all_wrong


def mean_pass_at_k(counts: Sequence[tuple[int, int]], k: int) -> float:
    """pass@k averaged over problems, each given as (n, c); problems with n < k are an error."""
    if not counts:
        raise InputError("mean_pass_at_k: argument 'counts': expected at least one (n, c) pair, got none")
    return float(np.mean([pass_at_k(n, c, k) for n, c in counts]))


def vote_winner(labels: Sequence[int], class_scores: Sequence[float]) -> int:
    """The majority label among ``labels`` (-1 = no answer, never wins); ties go to the higher class score.

    Returns -1 when no label is >= 0.
    """
    counts: dict[int, int] = {}
    for label in labels:
        if label >= 0:
            counts[label] = counts.get(label, 0) + 1
    if not counts:
        return -1
    return max(counts, key=lambda label: (counts[label], class_scores[label], -label))


def majority_at_k(labels: Sequence[int], correct_labels: set[int] | Sequence[int], k: int,
                  class_scores: Sequence[float] | None = None, seed: int | None = 0) -> float:
    """Estimated maj@k for one problem from its n samples.

    labels: each sample's answer class (0, 1, ...; -1 when no answer was extracted), as found by
    :func:`minireason.scaling.voting.group_answers`; correct_labels: the classes that are right;
    class_scores: the tie-breaker of each class (higher wins), e.g. its mean log-probability.
    Averages over every k-subset when there are at most ``EXACT_SUBSET_LIMIT``, else over that
    many random subsets drawn with ``seed``.
    """
    labels = [int(label) for label in labels]
    n = len(labels)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise InputError(f"majority_at_k: argument 'k': expected an int in 1..{n} (the number of samples), got {k!r}")
    number_of_classes = max(labels, default=-1) + 1
    scores = list(class_scores) if class_scores is not None else [0.0] * number_of_classes
    if len(scores) < number_of_classes:
        raise InputError(f"majority_at_k: argument 'class_scores': expected {number_of_classes} scores, "
                         f"got {len(scores)}")
    correct = set(correct_labels)
    if math.comb(n, k) <= EXACT_SUBSET_LIMIT:
        subsets = itertools.combinations(range(n), k)
    else:
        rng = np.random.default_rng(seed)
        subsets = (rng.choice(n, size=k, replace=False) for _ in range(EXACT_SUBSET_LIMIT))
    wins = [vote_winner([labels[i] for i in subset], scores) in correct for subset in subsets]
    return float(np.mean(wins))
