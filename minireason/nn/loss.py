"""Log-softmax, per-token log-probabilities (the loss seam) and masked token cross-entropy.

Every training loss in the project is a function of per-token log-probabilities:

    logits (B, T, V) ─token_logprobs_forward─▶ logp (B, T) [, entropy (B, T)] ─loss fn─▶ loss, dlogp [, dentropy]
    dlogits (B, T, V) ◀─token_logprobs_backward─ dlogp [, dentropy]

so cross-entropy (``masked_mean_nll``), the policy-gradient losses of ``minireason.posttrain`` and the
distillation losses are small functions of (B, T) arrays, and one op pair (with a chunked kernel
in ``minireason.kernels``) is all that touches the (B, T, V) logits.  Derivations: docs/rl.md.
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


def token_logprobs_forward(logits: np.ndarray, targets: np.ndarray, temperature: float = 1.0,
                          with_entropy: bool = False):
    """Log-probability of each target token under softmax(logits / temperature), and optionally the
    entropy of that distribution at each position.

    logits (B, T, V); targets (B, T) ints in [0, V) everywhere (callers put any valid id, e.g. 0, at
    positions they do not use and give them zero upstream gradient); temperature > 0.
    Returns ((logp (B, T), entropy (B, T) or None), cache).
    """
    module = array_module_of(logits)
    if temperature != 1.0:
        logits = logits / logits.dtype.type(temperature)
    log_probs, _ = log_softmax_forward(logits)  # (B, T, V)
    B, T = targets.shape
    batch_index, time_index = module.arange(B)[:, None], module.arange(T)[None, :]  # (B, 1), (1, T)
    target_log_probs = log_probs[batch_index, time_index, targets]  # (B, T)
    entropy = None
    if with_entropy:
        entropy = -np.sum(np.exp(log_probs) * log_probs, axis=-1)  # (B, T)
    return (target_log_probs, entropy), (log_probs, targets, temperature, entropy)


def token_logprobs_backward(dlogp: np.ndarray, dentropy: np.ndarray | None, cache) -> np.ndarray:
    """Forward: u = z / tau, p = softmax(u), logp[b, t] = log p[b, t, target], H[b, t] = -sum_v p log p.
    Cache: (log p (B, T, V), targets, tau, H).

    dz[b, t, v] = (dlogp[b, t] (onehot_v - p_v) - dH[b, t] p_v (log p_v + H[b, t])) / tau.
    dentropy may be None (no entropy term in the loss).
    """
    log_probs, targets, temperature, entropy = cache
    probabilities = np.exp(log_probs)  # (B, T, V)
    dtype = probabilities.dtype
    dlogits = -probabilities * dlogp[..., None].astype(dtype)  # (B, T, V)
    B, T = targets.shape
    module = array_module_of(dlogits)
    dlogits[module.arange(B)[:, None], module.arange(T)[None, :], targets] += dlogp.astype(dtype)
    if dentropy is not None:
        if entropy is None:
            raise ValueError("token_logprobs_backward got dentropy but the forward ran without with_entropy")
        dlogits -= probabilities * (log_probs + entropy[..., None]) * dentropy[..., None].astype(dtype)
    if temperature != 1.0:
        dlogits /= dtype.type(temperature)
    return dlogits


def masked_mean_nll(loss_mask: np.ndarray | None = None):
    """Cross-entropy as a loss over log-probabilities: L = -1/N sum_{masked (b,t)} logp[b, t].

    Returns ``loss_fn(logp, entropy) -> (loss, dlogp, None)`` for ``Qwen3Model.token_loss_and_grads``;
    N is the number of masked positions (an empty mask gives loss 0 and zero gradient).
    """

    def loss_fn(logp, entropy=None):
        module = array_module_of(logp)
        mask = module.ones(logp.shape, dtype=bool) if loss_mask is None else module.asarray(loss_mask).astype(bool)
        n_tokens = max(int(mask.sum()), 1)
        # + 0.0: an empty mask gives 0.0, not -0.0
        loss = -float(np.sum(np.where(mask, logp, 0.0))) / n_tokens + 0.0
        dlogp = -(mask / n_tokens).astype(logp.dtype)  # (B, T)
        return loss, dlogp, None

    return loss_fn


def cross_entropy_forward(logits: np.ndarray, targets: np.ndarray, loss_mask: np.ndarray | None = None):
    """Mean of -log p(target) over the positions where loss_mask is true: ``masked_mean_nll`` over
    ``token_logprobs_forward`` (one implementation of each idea; the model's training goes through
    the same seam with the backend's op).

    logits (B, T, V); targets (B, T) ints, in [0, V) where the mask is true (ignored elsewhere);
    loss_mask (B, T) bool or None for all positions.  An empty mask gives loss 0.
    Returns (loss: float, cache).
    """
    module = array_module_of(logits)  # numpy, or the device module of GPU arrays
    if loss_mask is not None:
        loss_mask = module.asarray(loss_mask).astype(bool)
        targets = np.where(loss_mask, targets, 0)  # ignored positions: any valid id, zero gradient below
    (log_probs, _), logprob_cache = token_logprobs_forward(logits, targets)
    loss, dlogp, _ = masked_mean_nll(loss_mask)(log_probs)
    return loss, (logprob_cache, dlogp)


def cross_entropy_backward(dloss: float, cache) -> np.ndarray:
    """Forward: L = -1/N sum_{masked (b,t)} logp[b, t, target].  Cache: (the token log-prob op's cache,
    dL/dlogp (B, T) = -mask / N).

    dlogits[b, t] = dloss * mask[b, t] / N * (softmax(logits[b, t]) - onehot(target)), through
    ``token_logprobs_backward``.
    """
    logprob_cache, dlogp = cache
    return token_logprobs_backward(dlogp * dlogp.dtype.type(dloss), None, logprob_cache)


def cross_entropy_loss(logits: np.ndarray, targets: np.ndarray, loss_mask: np.ndarray | None = None):
    """Convenience: ``(loss, dlogits)`` for the masked mean token cross-entropy."""
    loss, cache = cross_entropy_forward(logits, targets, loss_mask)
    return loss, cross_entropy_backward(1.0, cache)
