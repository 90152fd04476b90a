"""SwiGLU: the gated MLP of Qwen3, down(silu(gate(x)) * up(x))."""

from __future__ import annotations

import numpy as np

from minireason.nn.linear import linear_backward, linear_forward


def sigmoid(x: np.ndarray) -> np.ndarray:
    """sigmoid(x) = 1 / (1 + e^-x), written as (1 + tanh(x/2)) / 2: one ufunc, no overflow for large |x|."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def swiglu_forward(gate: np.ndarray, up: np.ndarray):
    """h = silu(gate) * up with silu(g) = g * sigmoid(g).  gate, up (..., F) -> h (..., F)."""
    sigmoid_gate = sigmoid(gate)
    silu_gate = gate * sigmoid_gate
    out = silu_gate * up
    cache = (gate, up, sigmoid_gate)
    return out, cache


def swiglu_backward(dout: np.ndarray, cache):
    """Forward: h = g * s(g) * u, s = sigmoid.  Cache: (g, u, s(g)).

    dsilu/dg = s + g * s * (1 - s)
    dg = dout * u * (s + g s (1 - s)),   du = dout * g * s.   Returns (dgate, dup).
    """
    gate, up, sigmoid_gate = cache
    silu_gate = gate * sigmoid_gate
    dup = dout * silu_gate
    dgate = dout * up * (sigmoid_gate + silu_gate * (1.0 - sigmoid_gate))
    return dgate, dup


def mlp_forward(x: np.ndarray, gate_weight, up_weight, down_weight, ops=None):
    """out = down(silu(gate(x)) * up(x)).  x (B, T, D); gate/up weights (F, D); down weight (D, F)."""
    swiglu = ops.swiglu_forward if ops is not None else swiglu_forward
    linear = ops.linear_forward if ops is not None else linear_forward
    gate, gate_cache = linear(x, gate_weight)  # (B, T, F)
    up, up_cache = linear(x, up_weight)  # (B, T, F)
    hidden, swiglu_cache = swiglu(gate, up)  # (B, T, F)
    out, down_cache = linear(hidden, down_weight)  # (B, T, D)
    return out, (gate_cache, up_cache, swiglu_cache, down_cache)


def mlp_backward(dout: np.ndarray, cache, ops=None):
    """Mirror of mlp_forward. Cache: the four sub-caches. Returns (dx, dgate_w, dup_w, ddown_w)."""
    swiglu_back = ops.swiglu_backward if ops is not None else swiglu_backward
    linear_back = ops.linear_backward if ops is not None else linear_backward
    gate_cache, up_cache, swiglu_cache, down_cache = cache
    dhidden, ddown_weight = linear_back(dout, down_cache)
    dgate, dup = swiglu_back(dhidden, swiglu_cache)
    dx_from_up, dup_weight = linear_back(dup, up_cache)
    dx_from_gate, dgate_weight = linear_back(dgate, gate_cache)
    return dx_from_gate + dx_from_up, dgate_weight, dup_weight, ddown_weight
