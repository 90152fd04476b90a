"""The one training step every trainer uses: micro-batches, accumulation, the non-finite guard.

    parts ─part_loss─▶ (loss, grads, metrics) each, already weighted by its share of the update
        ─sum─▶ loss, grads, metrics ─non-finite guard─▶ apply_update (the loop: clipping, optimizer)

A micro-batch's weight is its share of the update: the share of the update's loss tokens (SFT,
distillation), the pair count of the whole update (DPO) or the aggregation weights computed over
the whole update (GRPO).  Weighted so, the micro-batches' losses and gradients add up to the whole
batch's, and the accumulation is a plain sum.  Metrics add up too, except those named ``*_max``,
which keep the largest value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np


def add_metrics(total: dict, metrics: dict) -> dict:
    """``total`` plus ``metrics``: numbers add up (``*_max`` keep the larger); anything else is replaced."""
    for key, value in metrics.items():
        if key not in total or not isinstance(value, (int, float, np.integer, np.floating)):
            total[key] = value
        elif key.endswith("_max"):
            total[key] = max(total[key], value)
        else:
            total[key] = total[key] + value
    return total


def accumulate(parts: Iterable, part_loss: Callable) -> tuple[float, dict | None, dict]:
    """The sum over ``parts`` of ``part_loss(part) -> (loss, grads, metrics)``: (loss, grads, metrics)."""
    loss_total, grads_total, metrics_total = 0.0, None, {}
    for part in parts:
        loss, grads, metrics = part_loss(part)
        loss_total += loss
        if grads_total is None:
            grads_total = grads
        else:
            for name, value in grads.items():
                grads_total[name] += value
        add_metrics(metrics_total, metrics)
    return loss_total, grads_total, metrics_total


def guarded(loss: float, grads: dict) -> dict:
    """The gradient to apply: a non-finite loss is a bad update even when its gradient is finite, so
    the loop's guard (a non-finite gradient norm) sees one."""
    if not math.isfinite(loss):
        return {name: np.full((), np.nan) for name in list(grads)[:1]}
    return grads


def training_step(parts: Iterable, part_loss: Callable, apply_update: Callable, *, mean_of: int = 1,
                  dtype=None) -> tuple[float, dict]:
    """One optimizer update from micro-batches: accumulate, guard, ``apply_update(grads)``.

    part_loss(part) -> (loss, grads, metrics), weighted by the part's share of the update; or, with
    ``mean_of`` k > 1, unweighted losses of k equal micro-batches whose mean is the update's.
    dtype: the gradients are cast to it before the update (the model's dtype).
    Returns (the update's loss, the summed metrics).
    """
    loss, grads, metrics = accumulate(parts, part_loss)
    if mean_of > 1:
        loss /= mean_of
        grads = {name: value / value.dtype.type(mean_of) for name, value in grads.items()}
    if dtype is not None:
        grads = {name: value.astype(dtype, copy=False) for name, value in grads.items()}
    apply_update(guarded(loss, grads))
    return loss, metrics
