"""Grouped-query causal self-attention with QK-norm and RoPE, as in Qwen3.

Two levels, each a forward/backward pair:
- ``attention_forward``: the core softmax(q k^T * scale + mask) v for grouped heads
  (the op an accelerated backend may replace);
- ``self_attention_forward``: the whole sub-layer: q/k/v projections, per-head RMSNorm on
  queries and keys, RoPE, the core, and the output projection.
Derivation of the softmax backward: docs/attention.md.
"""

from __future__ import annotations

import numpy as np

from minireason.device import array_module_of
from minireason.nn.linear import linear_backward, linear_forward
from minireason.nn.rmsnorm import rmsnorm_backward, rmsnorm_forward
from minireason.nn.rope import rope_backward, rope_forward


def allowed_keys(query_length: int, key_mask: np.ndarray | None, key_length: int, module=np):
    """Which keys each query may see: causal (key slot <= query slot) and, if given, not padding.

    Queries occupy the last T of the S key slots (earlier slots come from a KV cache), so query t
    sits at slot (S - T + t).  Returns a bool array broadcastable to (B, 1, 1, T, S), made by
    the array ``module`` of the scores it will mask.
    """
    offset = key_length - query_length
    query_slots = module.arange(query_length)[:, None] + offset  # (T, 1)
    key_slots = module.arange(key_length)[None, :]  # (1, S)
    allowed = (key_slots <= query_slots)[None, None, None]  # (1, 1, 1, T, S)
    if key_mask is not None:
        allowed = allowed & key_mask.astype(bool)[:, None, None, None, :]  # (B, 1, 1, T, S)
    return allowed


def attention_forward(q: np.ndarray, k: np.ndarray, v: np.ndarray, key_mask: np.ndarray | None, scale: float):
    """Causal grouped-query attention.

    q (B, H, T, Dh); k, v (B, Hkv, S, Dh) with H a multiple of Hkv: query head h uses kv head
    h // (H / Hkv). key_mask (B, S) bool marks real (non-padding) keys, or None for all real.
    Returns out (B, H, T, Dh) and the cache.  A query that may see no key at all (a padding
    query before the first real token) gets a uniform average instead of NaN; its output is
    never used by a real position.
    """
    B, H, T, Dh = q.shape
    Hkv, S = k.shape[1], k.shape[2]
    group = H // Hkv
    q_grouped = q.reshape(B, Hkv, group, T, Dh)  # (B, Hkv, G, T, Dh)
    scores = (q_grouped @ k[:, :, None].swapaxes(-1, -2)) * scale  # (B, Hkv, G, T, S)
    allowed = allowed_keys(T, key_mask, S, array_module_of(scores))
    scores = np.where(allowed, scores, np.finfo(scores.dtype).min)
    scores -= scores.max(axis=-1, keepdims=True)
    probs = np.exp(scores)
    probs /= probs.sum(axis=-1, keepdims=True)  # (B, Hkv, G, T, S)
    out = probs @ v[:, :, None]  # (B, Hkv, G, T, Dh)
    cache = (q_grouped, k, v, probs, scale)
    return out.reshape(B, H, T, Dh), cache


def attention_backward(dout: np.ndarray, cache):
    """Forward: P = softmax(q k^T * scale + mask) over keys, out = P v.  Cache: (q grouped, k, v, P, scale).

    dP = dout v^T;  dscores = P * (dP - sum_keys(dP * P));  dq = dscores k * scale;
    dk = dscores^T q * scale and dv = P^T dout, each summed over the query heads of its group.
    Returns (dq (B, H, T, Dh), dk (B, Hkv, S, Dh), dv (B, Hkv, S, Dh)).
    """
    q_grouped, k, v, probs, scale = cache
    B, Hkv, group, T, Dh = q_grouped.shape
    dout = dout.reshape(B, Hkv, group, T, Dh)
    dprobs = dout @ v[:, :, None].swapaxes(-1, -2)  # (B, Hkv, G, T, S)
    dv = (probs.swapaxes(-1, -2) @ dout).sum(axis=2)  # (B, Hkv, S, Dh)
    dscores = probs * (dprobs - np.sum(dprobs * probs, axis=-1, keepdims=True))  # (B, Hkv, G, T, S)
    dscores *= scale
    dq = dscores @ k[:, :, None]  # (B, Hkv, G, T, Dh)
    dk = (dscores.swapaxes(-1, -2) @ q_grouped).sum(axis=2)  # (B, Hkv, S, Dh)
    return dq.reshape(B, Hkv * group, T, Dh), dk, dv


# ----------------------------------------------------------------------------- the sub-layer

ATTENTION_PARAMETERS = (
    "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
    "self_attn.o_proj.weight", "self_attn.q_norm.weight", "self_attn.k_norm.weight",
)


def _split_heads(x: np.ndarray, n_heads: int) -> np.ndarray:
    B, T, _ = x.shape
    return x.reshape(B, T, n_heads, -1)  # (B, T, heads, Dh)


def self_attention_forward(x, params, config, cos, sin, key_mask=None, kv_cache=None, layer_index=0, ops=None):
    """Qwen3 self-attention sub-layer.

    x (B, T, D); params: the layer's weights keyed ``self_attn.q_proj.weight`` etc.; cos, sin
    (B, T, Dh) RoPE tables for the query positions; key_mask (B, S) bool for all key slots
    (S = T without a cache); kv_cache: optional object whose ``write(layer_index, k, v)`` stores
    the new keys/values and returns all keys/values so far, (B, Hkv, S, Dh) each.
    """
    attention = ops.attention_forward if ops is not None else attention_forward
    rope = ops.rope_forward if ops is not None else rope_forward
    linear = ops.linear_forward if ops is not None else linear_forward
    rmsnorm = ops.rmsnorm_forward if ops is not None else rmsnorm_forward
    H, Hkv, eps = config.num_attention_heads, config.num_key_value_heads, config.rms_norm_eps
    q, q_proj_cache = linear(x, params["self_attn.q_proj.weight"])  # (B, T, H*Dh)
    k, k_proj_cache = linear(x, params["self_attn.k_proj.weight"])  # (B, T, Hkv*Dh)
    v, v_proj_cache = linear(x, params["self_attn.v_proj.weight"])  # (B, T, Hkv*Dh)
    q, q_norm_cache = rmsnorm(_split_heads(q, H), params["self_attn.q_norm.weight"], eps)  # (B, T, H, Dh)
    k, k_norm_cache = rmsnorm(_split_heads(k, Hkv), params["self_attn.k_norm.weight"], eps)
    q, rope_cache = rope(q.transpose(0, 2, 1, 3), cos, sin)  # (B, H, T, Dh)
    k, _ = rope(k.transpose(0, 2, 1, 3), cos, sin)  # (B, Hkv, T, Dh)
    v = _split_heads(v, Hkv).transpose(0, 2, 1, 3)  # (B, Hkv, T, Dh)
    if kv_cache is not None:
        k, v = kv_cache.write(layer_index, k, v)  # (B, Hkv, S, Dh)
    attended, attention_cache = attention(q, k, v, key_mask, config.head_dim**-0.5)  # (B, H, T, Dh)
    B, _, T, Dh = attended.shape
    merged = attended.transpose(0, 2, 1, 3).reshape(B, T, H * Dh)  # (B, T, H*Dh)
    out, o_proj_cache = linear(merged, params["self_attn.o_proj.weight"])  # (B, T, D)
    cache = (q_proj_cache, k_proj_cache, v_proj_cache, q_norm_cache, k_norm_cache, rope_cache,
             attention_cache, o_proj_cache)
    return out, cache


def self_attention_backward(dout, cache, ops=None):
    """Mirror image of self_attention_forward (without a KV cache). Returns (dx, grads by parameter name)."""
    attention_back = ops.attention_backward if ops is not None else attention_backward
    rope_back = ops.rope_backward if ops is not None else rope_backward
    rmsnorm_back = ops.rmsnorm_backward if ops is not None else rmsnorm_backward
    linear_back = ops.linear_backward if ops is not None else linear_backward
    (q_proj_cache, k_proj_cache, v_proj_cache, q_norm_cache, k_norm_cache, rope_cache,
     attention_cache, o_proj_cache) = cache
    grads = {}
    dmerged, grads["self_attn.o_proj.weight"] = linear_back(dout, o_proj_cache)  # (B, T, H*Dh)
    B, T, _ = dmerged.shape
    Dh = rope_cache[0].shape[-1]
    dattended = dmerged.reshape(B, T, -1, Dh).transpose(0, 2, 1, 3)  # (B, H, T, Dh)
    dq, dk, dv = attention_back(dattended, attention_cache)
    dq = rope_back(dq, rope_cache).transpose(0, 2, 1, 3)  # (B, T, H, Dh)
    dk = rope_back(dk, rope_cache).transpose(0, 2, 1, 3)  # (B, T, Hkv, Dh)
    dv = dv.transpose(0, 2, 1, 3).reshape(B, T, -1)  # (B, T, Hkv*Dh)
    dq, grads["self_attn.q_norm.weight"] = rmsnorm_back(dq, q_norm_cache)
    dk, grads["self_attn.k_norm.weight"] = rmsnorm_back(dk, k_norm_cache)
    dx, grads["self_attn.q_proj.weight"] = linear_back(dq.reshape(B, T, -1), q_proj_cache)
    dx_k, grads["self_attn.k_proj.weight"] = linear_back(dk.reshape(B, T, -1), k_proj_cache)
    dx_v, grads["self_attn.v_proj.weight"] = linear_back(dv, v_proj_cache)
    return dx + dx_k + dx_v, grads
