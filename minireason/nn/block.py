"""A Qwen3 decoder block: pre-norm residual attention, then pre-norm residual SwiGLU MLP.

    h   = x + attention(rmsnorm(x))
    out = h + mlp(rmsnorm(h))
"""

from __future__ import annotations

from minireason.nn.attention import self_attention_backward, self_attention_forward
from minireason.nn.rmsnorm import rmsnorm_backward, rmsnorm_forward
from minireason.nn.swiglu import mlp_backward, mlp_forward

BLOCK_PARAMETERS = (
    "input_layernorm.weight",
    "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
    "self_attn.q_norm.weight", "self_attn.k_norm.weight",
    "post_attention_layernorm.weight",
    "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight",
)


def block_forward(x, params, config, cos, sin, key_mask=None, kv_cache=None, layer_index=0, ops=None):
    """x (B, T, D) -> (B, T, D). params: this layer's weights keyed without the ``model.layers.{i}.`` prefix."""
    rmsnorm = ops.rmsnorm_forward if ops is not None else rmsnorm_forward
    eps = config.rms_norm_eps
    normed, norm1_cache = rmsnorm(x, params["input_layernorm.weight"], eps)
    attended, attention_cache = self_attention_forward(
        normed, params, config, cos, sin, key_mask, kv_cache, layer_index, ops
    )
    hidden = x + attended  # (B, T, D)
    normed, norm2_cache = rmsnorm(hidden, params["post_attention_layernorm.weight"], eps)
    mlp_out, mlp_cache = mlp_forward(
        normed, params["mlp.gate_proj.weight"], params["mlp.up_proj.weight"], params["mlp.down_proj.weight"], ops
    )
    out = hidden + mlp_out  # (B, T, D)
    return out, (norm1_cache, attention_cache, norm2_cache, mlp_cache)


def block_backward(dout, cache, ops=None):
    """Mirror image of block_forward. Returns (dx, grads keyed like the params)."""
    rmsnorm_back = ops.rmsnorm_backward if ops is not None else rmsnorm_backward
    norm1_cache, attention_cache, norm2_cache, mlp_cache = cache
    grads = {}
    dnormed, grads["mlp.gate_proj.weight"], grads["mlp.up_proj.weight"], grads["mlp.down_proj.weight"] = (
        mlp_backward(dout, mlp_cache, ops)
    )
    dhidden_from_mlp, grads["post_attention_layernorm.weight"] = rmsnorm_back(dnormed, norm2_cache)
    dhidden = dout + dhidden_from_mlp
    dnormed, attention_grads = self_attention_backward(dhidden, attention_cache, ops)
    grads.update(attention_grads)
    dx_from_attention, grads["input_layernorm.weight"] = rmsnorm_back(dnormed, norm1_cache)
    return dhidden + dx_from_attention, grads
