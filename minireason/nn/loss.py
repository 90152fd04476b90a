"""Log-softmax and masked token cross-entropy, each a forward/backward pair.

A loss returns ``(loss, dlogits)`` to the trainer; the model's backward takes it from there.
"""

from __future__ import annotations

import numpy as np

from minireason.device import array_module_of


def log_softmax_forward(logits: np.ndarray):
    """logp = logits - logsumexp(logits) over the last axis (V).  logits (..., V) -> logp (..., V)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return log_probs, log_probs


def log_softmax_backward(dout: np.ndarray, cache) -> np.ndarray:
    """Forward: logp = z - logsumexp(z).  Cache: logp.   dz = dout - softmax(z) * sum(dout)."""
    log_probs = cache
    return dout - np.exp(log_probs) * dout.sum(axis=-1, keepdims=True)


def cross_entropy_forward(logits: np.ndarray, targets: np.ndarray, loss_mask: np.ndarray | None = None):
    """Mean of -log p(target) over the positions where loss_mask is true.

    logits (B, T, V); targets (B, T) ints, in [0, V) where the mask is true (ignored elsewhere);
    loss_mask (B, T) bool or None for all positions.  An empty mask gives loss 0.
    """
    module = array_module_of(logits)  # numpy, or the device module of GPU arrays
    if loss_mask is None:
        loss_mask = module.ones(targets.shape, dtype=bool)
    loss_mask = loss_mask.astype(bool)
    safe_targets = np.where(loss_mask, targets, 0)
    log_probs, _ = log_softmax_forward(logits)  # (B, T, V)
    B, T = targets.shape
    batch_index, time_index = module.arange(B)[:, None], module.arange(T)[None, :]  # (B, 1), (1, T)
    target_log_probs = log_probs[batch_index, time_index, safe_targets]  # (B, T)
    n_tokens = max(int(loss_mask.sum()), 1)
    loss = -np.sum(np.where(loss_mask, target_log_probs, 0.0)) / n_tokens
    cache = (log_probs, safe_targets, loss_mask, n_tokens)
    return float(loss), cache


def cross_entropy_backward(dloss: float, cache) -> np.ndarray:
    """Forward: L = -1/N sum_{masked (b,t)} logp[b, t, target].  Cache: (logp, targets, mask, N).

    dlogits[b, t] = dloss * mask[b, t] / N * (softmax(logits[b, t]) - onehot(target)).
    """
    log_probs, targets, loss_mask, n_tokens = cache
    dlogits = np.exp(log_probs)  # (B, T, V) softmax
    B, T = targets.shape
    module = array_module_of(dlogits)
    dlogits[module.arange(B)[:, None], module.arange(T)[None, :], targets] -= 1.0  # minus the one-hot target
    dlogits *= (loss_mask * (dloss / n_tokens))[..., None].astype(dlogits.dtype)
    return dlogits


def cross_entropy_loss(logits: np.ndarray, targets: np.ndarray, loss_mask: np.ndarray | None = None):
    """Convenience: ``(loss, dlogits)`` for the masked mean token cross-entropy."""
    loss, cache = cross_entropy_forward(logits, targets, loss_mask)
    return loss, cross_entropy_backward(1.0, cache)
