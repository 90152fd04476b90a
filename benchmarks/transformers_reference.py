"""What users would run instead: Hugging Face transformers' ``Qwen3ForCausalLM`` (PyTorch eager)
on minireason's weights, for the benchmarks' side-by-side rows.

    pip install torch transformers      # in your own environment; never a minireason dependency

Every function imports torch and transformers when called; ``available()`` says whether they can
be, so that a benchmark without them skips its transformers rows.  minireason's parameter names
are transformers' own, so a state dict moves over as it is (a tied head is transformers' tied
``lm_head``).  ``check_against_transformers.py`` checks that the two compute the same numbers.
"""

from __future__ import annotations

import numpy as np


def available() -> bool:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        return False
    return True


def versions() -> str:
    import torch
    import transformers

    return f"transformers {transformers.__version__}, torch {torch.__version__}"


def hf_qwen3_config(config, attn_implementation: str | None = None):
    """transformers' ``Qwen3Config`` for a minireason ``ModelConfig`` (field names are shared)."""
    from transformers import Qwen3Config

    extra = {} if attn_implementation is None else {"attn_implementation": attn_implementation}
    return Qwen3Config(
        vocab_size=config.vocab_size, hidden_size=config.hidden_size, intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_hidden_layers, num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_key_value_heads, head_dim=config.head_dim, rms_norm_eps=config.rms_norm_eps,
        rope_parameters={"rope_type": "default", "rope_theta": config.rope_theta},
        tie_word_embeddings=config.tie_word_embeddings, max_position_embeddings=config.max_position_embeddings,
        **extra,
    )


def hf_model_from(model, threads: int | None = None, attn_implementation: str | None = None):
    """transformers' Qwen3ForCausalLM (float32, eval mode) holding ``model``'s weights; transformers'
    default attention (SDPA) unless told.  ``threads``: torch's intra-op thread count."""
    import torch
    import transformers
    from transformers import Qwen3ForCausalLM

    transformers.logging.set_verbosity_error()
    if threads is not None:
        torch.set_num_threads(threads)
    hf = Qwen3ForCausalLM(hf_qwen3_config(model.config, attn_implementation)).to(torch.float32).eval()
    state = {name: torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
             for name, value in model.params.items()}
    missing, unexpected = hf.load_state_dict(state, strict=False)
    allowed_missing = {"lm_head.weight"} if model.config.tie_word_embeddings else set()
    if set(missing) - allowed_missing or unexpected:
        raise RuntimeError(f"weights do not match transformers' Qwen3: missing {missing}, unexpected {unexpected}")
    if model.config.tie_word_embeddings:
        hf.tie_weights()
    return hf


def greedy_decode_loop(hf, prompt_ids: np.ndarray, new_tokens: int) -> np.ndarray:
    """The loop a user writes around transformers' KV cache: one forward over the prompt, then one
    token per step through the returned cache (``cache``; ``past_key_values`` before transformers
    5.2x renamed it); greedy.  prompt_ids (B, T) -> new ids (B, new_tokens)."""
    import inspect

    import torch

    cache_argument = "cache" if "cache" in inspect.signature(hf.forward).parameters else "past_key_values"
    with torch.inference_mode():
        output = hf(input_ids=torch.from_numpy(prompt_ids.astype(np.int64)), use_cache=True, logits_to_keep=1)
        token = output.logits[:, -1].argmax(-1, keepdim=True)  # (B, 1)
        generated = [token]
        for _ in range(new_tokens - 1):
            cache = getattr(output, cache_argument)
            output = hf(input_ids=token, use_cache=True, logits_to_keep=1, **{cache_argument: cache})
            token = output.logits[:, -1].argmax(-1, keepdim=True)
            generated.append(token)
    return torch.cat(generated, dim=1).numpy()


def generate(hf, prompt_ids: np.ndarray, new_tokens: int, attention_mask: np.ndarray | None = None,
             sample: bool = False, temperature: float = 1.0, eos_token_id=None, pad_token_id: int = 0,
             seed: int = 0) -> np.ndarray:
    """transformers' ``generate``: greedy, or sampling from the plain distribution at ``temperature``
    (no top-k, no top-p).  Without an eos id every row gets exactly ``new_tokens``.  -> (B, <= new_tokens)."""
    import torch

    prompt = torch.from_numpy(prompt_ids.astype(np.int64))
    mask = torch.ones_like(prompt) if attention_mask is None else torch.from_numpy(attention_mask.astype(np.int64))
    options = dict(do_sample=True, temperature=temperature, top_k=0, top_p=1.0) if sample else dict(do_sample=False)
    if eos_token_id is None:
        options["min_new_tokens"] = new_tokens
    torch.manual_seed(seed)
    with torch.inference_mode():
        output = hf.generate(input_ids=prompt, attention_mask=mask, max_new_tokens=new_tokens,
                             eos_token_id=eos_token_id, pad_token_id=pad_token_id, **options)
    return output[:, prompt_ids.shape[1]:].numpy()


def train_step_function(hf, token_ids: np.ndarray, targets: np.ndarray):
    """One training step as a user writes it: mean cross-entropy over every position, ``backward()``
    into every parameter's ``.grad`` (float32, training mode).  Returns step() -> loss."""
    import torch

    hf.train()
    tokens = torch.from_numpy(token_ids.astype(np.int64))
    target = torch.from_numpy(targets.astype(np.int64)).reshape(-1)

    def step() -> float:
        hf.zero_grad(set_to_none=True)
        logits = hf(input_ids=tokens, use_cache=False).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target)
        loss.backward()
        return float(loss.detach())

    return step
