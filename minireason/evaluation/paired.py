"""Paired comparison of two evaluations on the same problems: problems gained and lost, exact McNemar test.

When a model is evaluated before and after training on the same held-out problems, the problems
that were right both times or wrong both times say nothing about the change; only the discordant
ones do: ``gained`` (wrong before, right after) and ``lost`` (right before, wrong after).  Under the
null hypothesis that training changed nothing, each discordant problem is equally likely to fall
either way, so ``gained ~ Binomial(gained + lost, 1/2)``.  The exact two-sided McNemar p-value is

    p = min(1, 2 * P[X <= min(gained, lost)]),   X ~ Binomial(gained + lost, 1/2)

(1.0 when there is no discordant problem).  This is sharper than comparing two accuracies as if
they came from independent samples, because the problems are the same.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from minireason.errors import InputError


def mcnemar_exact_p(gained: int, lost: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (see the module docstring)."""
    if gained < 0 or lost < 0:
        raise InputError(f"discordant counts must be >= 0, got gained={gained}, lost={lost}")
    n = gained + lost
    if n == 0:
        return 1.0
    k = min(gained, lost)
    # sum in log space: the binomials of a few thousand problems overflow floats
    log_terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2)
                 for i in range(k + 1)]
    largest = max(log_terms)
    tail = math.exp(largest) * sum(math.exp(term - largest) for term in log_terms)
    return min(1.0, 2.0 * tail)


def paired_comparison(before: Sequence[bool], after: Sequence[bool]) -> dict:
    """Accuracies, problems gained and lost, and the exact McNemar p-value of two aligned evaluations."""
    if len(before) != len(after) or not before:
        raise InputError(f"paired comparison needs two equally long, non-empty lists, got {len(before)} and {len(after)}")
    gained = sum(1 for b, a in zip(before, after) if a and not b)
    lost = sum(1 for b, a in zip(before, after) if b and not a)
    n = len(before)
    return {"problems": n, "accuracy_before": sum(map(bool, before)) / n, "accuracy_after": sum(map(bool, after)) / n,
            "gained": gained, "lost": lost, "p_value": mcnemar_exact_p(gained, lost)}


def format_paired(comparison: dict) -> str:
    """One line: ``62.1% -> 70.4% (+8.3 points) on 1000 problems: 112 gained, 29 lost, McNemar p = 2.1e-12``."""
    change = 100 * (comparison["accuracy_after"] - comparison["accuracy_before"])
    return (f"{comparison['accuracy_before']:.1%} -> {comparison['accuracy_after']:.1%} ({change:+.1f} points) on "
            f"{comparison['problems']} problems: {comparison['gained']} gained, {comparison['lost']} lost, "
            f"McNemar p = {comparison['p_value']:.2g}")
