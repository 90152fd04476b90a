"""Optimisation over parameter dicts: AdamW, global-norm gradient clipping, learning-rate schedules.

The optimizer's state is a plain dict of arrays (plus a step counter) so that it can be written
to a safetensors checkpoint and a run can resume exactly.
"""

from __future__ import annotations

import math

import numpy as np

from minireason.device import to_host
from minireason.errors import InputError


def global_grad_norm(grads: dict[str, np.ndarray]) -> float:
    """The L2 norm of all gradients together, accumulated in float64."""
    return float(math.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads.values())))


def clip_grad_norm(grads: dict[str, np.ndarray], max_norm: float) -> tuple[dict[str, np.ndarray], float]:
    """Scale all gradients by min(1, max_norm / ||g||) with ||g|| the global L2 norm.

    Returns (clipped grads, the norm before clipping).
    """
    norm = global_grad_norm(grads)
    if not math.isfinite(norm):
        return grads, norm
    scale = min(1.0, max_norm / (norm + 1e-12))
    if scale < 1.0:
        grads = {name: g * g.dtype.type(scale) for name, g in grads.items()}
    return grads, norm


def constant_schedule(step: int, learning_rate: float) -> float:
    """A flat learning rate: ``learning_rate`` at every step."""
    return learning_rate


def cosine_schedule(step: int, learning_rate: float, warmup_steps: int, total_steps: int, min_ratio: float = 0.1):
    """Linear warmup from 0 to learning_rate over warmup_steps, then cosine decay to min_ratio * learning_rate.

    ``step`` counts from 0; the first update uses step 0 and gets learning_rate / warmup_steps.
    """
    if step < warmup_steps:
        return learning_rate * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return learning_rate * (min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress)))


class AdamW:
    """Adam with decoupled weight decay (Loshchilov & Hutter) and bias correction.

    For each parameter p with gradient g at step t (counting from 1):
        m = beta1 m + (1 - beta1) g
        v = beta2 v + (1 - beta2) g^2
        p = p - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps) - lr * weight_decay * p
    Weight decay applies to matrices only (names in ``no_decay`` and 1-D tensors are skipped).
    """

    def __init__(self, learning_rate=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decay_vectors=False):
        if learning_rate < 0 or not 0 <= betas[0] < 1 or not 0 <= betas[1] < 1 or eps <= 0 or weight_decay < 0:
            raise InputError(f"AdamW got invalid settings lr={learning_rate}, betas={betas}, eps={eps}, "
                             f"weight_decay={weight_decay}")
        self.learning_rate = learning_rate
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.weight_decay = weight_decay
        self.decay_vectors = decay_vectors
        self.step_count = 0
        self.first_moment: dict[str, np.ndarray] = {}
        self.second_moment: dict[str, np.ndarray] = {}

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], learning_rate: float | None = None):
        """Update ``params`` in place from ``grads``."""
        read_only = [name for name in grads if not getattr(getattr(params[name], "flags", None), "writeable", True)]
        if read_only:  # checked before any update, so that a refused step changes nothing
            raise InputError(f"AdamW: parameter {read_only[0]} is read-only: weights memory-mapped from a file "
                             f"(copy them), or a model made by with_bfloat16_decoding, which is for inference "
                             f"(train the float32 model and convert it afterwards)")
        lr = self.learning_rate if learning_rate is None else learning_rate
        self.step_count += 1
        t = self.step_count
        correction1 = 1.0 - self.beta1**t
        correction2 = 1.0 - self.beta2**t
        for name, grad in grads.items():
            param = params[name]
            if name not in self.first_moment:
                self.first_moment[name] = np.zeros_like(param)
                self.second_moment[name] = np.zeros_like(param)
            m, v = self.first_moment[name], self.second_moment[name]
            m *= self.beta1
            m += (1.0 - self.beta1) * grad
            v *= self.beta2
            v += (1.0 - self.beta2) * np.square(grad)
            if self.weight_decay and (param.ndim > 1 or self.decay_vectors):
                param -= param.dtype.type(lr * self.weight_decay) * param
            param -= (lr * (m / correction1) / (np.sqrt(v / correction2) + self.eps)).astype(param.dtype)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Flat dict of arrays: ``m.NAME``, ``v.NAME`` and ``step``."""
        state = {"step": np.array([self.step_count], dtype=np.int64)}
        for name in self.first_moment:
            state["m." + name] = self.first_moment[name]
            state["v." + name] = self.second_moment[name]
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore from ``state_dict()``'s output; the moments are copied and stay in the array
        module they come in (move them to the parameters' device first)."""
        self.step_count = int(to_host(state["step"]).reshape(-1)[0])
        self.first_moment = {k[2:]: v.copy() for k, v in state.items() if k.startswith("m.")}
        self.second_moment = {k[2:]: v.copy() for k, v in state.items() if k.startswith("v.")}
