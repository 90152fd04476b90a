"""ModelConfig: the hyper-parameters of a Qwen3-architecture decoder.

Field names are exactly those of a Hugging Face Qwen3 ``config.json`` so that a config
travels both ways without a translation table.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from minireason.errors import ConfigError


@dataclass(frozen=True)
class ModelConfig:
    """The shape of a Qwen3 decoder, with Hugging Face's field names (so a ``config.json`` loads as is).

    The dimension letters of the docs: ``hidden_size`` is D, ``intermediate_size`` F, ``num_attention_heads``
    H, ``num_key_value_heads`` Hkv, ``head_dim`` Dh, ``vocab_size`` V. Fields Hugging Face writes that the
    model does not use are kept in ``extra``. A field of the wrong type or out of range raises ``ConfigError``.
    """
    vocab_size: int
    hidden_size: int  # D
    intermediate_size: int  # F
    num_hidden_layers: int
    num_attention_heads: int  # H
    num_key_value_heads: int  # Hkv
    head_dim: int  # Dh
    rope_theta: float = 1_000_000.0
    rms_norm_eps: float = 1e-6
    tie_word_embeddings: bool = True
    max_position_embeddings: int = 40960
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        positive_ints = (
            "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
            "num_attention_heads", "num_key_value_heads", "head_dim", "max_position_embeddings",
        )
        for name in positive_ints:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"ModelConfig.{name} must be an int, got {type(value).__name__} {value!r}")
            if value < 1:
                raise ConfigError(f"ModelConfig.{name} must be >= 1, got {value}")
        if self.num_attention_heads % self.num_key_value_heads != 0:
            raise ConfigError(
                "ModelConfig.num_attention_heads must be divisible by num_key_value_heads, got "
                f"num_attention_heads={self.num_attention_heads}, num_key_value_heads={self.num_key_value_heads}"
            )
        if self.head_dim % 2 != 0:
            raise ConfigError(f"ModelConfig.head_dim must be even (RoPE rotates pairs), got {self.head_dim}")
        for name in ("rope_theta", "rms_norm_eps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigError(f"ModelConfig.{name} must be a positive number, got {value!r}")
        if not isinstance(self.tie_word_embeddings, bool):
            raise ConfigError(f"ModelConfig.tie_word_embeddings must be a bool, got {self.tie_word_embeddings!r}")

    # ------------------------------------------------------------------ derived sizes
    @property
    def num_query_groups(self) -> int:
        """How many query heads share one key/value head (H / Hkv)."""
        return self.num_attention_heads // self.num_key_value_heads

    def num_parameters(self) -> int:
        D, F, V = self.hidden_size, self.intermediate_size, self.vocab_size
        H, Hkv, Dh = self.num_attention_heads, self.num_key_value_heads, self.head_dim
        per_layer = D * H * Dh + 2 * D * Hkv * Dh + H * Dh * D + 2 * Dh + 2 * D + 3 * D * F
        total = V * D + self.num_hidden_layers * per_layer + D
        if not self.tie_word_embeddings:
            total += V * D
        return total

    def replace(self, **changes: Any) -> ModelConfig:
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ Hugging Face
    @classmethod
    def from_hf(cls, hf: dict) -> ModelConfig:
        """Build from a parsed Hugging Face ``config.json``; unknown fields are kept in ``extra``."""
        if not isinstance(hf, dict):
            raise ConfigError(f"config must be a JSON object, got {type(hf).__name__}")
        names = {f.name for f in dataclasses.fields(cls) if f.name != "extra"}
        required = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads")
        missing = [name for name in required if name not in hf]
        if missing:
            raise ConfigError(f"config is missing required field(s): {', '.join(missing)}")
        kwargs = {name: hf[name] for name in names if name in hf and hf[name] is not None}
        rope_parameters = hf.get("rope_parameters")  # transformers 5 writes rope_theta inside this dict
        if "rope_theta" not in kwargs and isinstance(rope_parameters, dict) and "rope_theta" in rope_parameters:
            kwargs["rope_theta"] = rope_parameters["rope_theta"]
        kwargs.setdefault("num_key_value_heads", hf["num_attention_heads"])
        if "head_dim" not in kwargs:
            heads = hf["num_attention_heads"]
            if not isinstance(heads, int) or heads < 1 or hf["hidden_size"] % heads:
                raise ConfigError("config has no head_dim and hidden_size is not divisible by num_attention_heads")
            kwargs["head_dim"] = hf["hidden_size"] // heads
        if isinstance(kwargs.get("rope_theta"), int):
            kwargs["rope_theta"] = float(kwargs["rope_theta"])
        kwargs["extra"] = {key: value for key, value in hf.items() if key not in names}
        return cls(**kwargs)

    def to_hf(self) -> dict:
        """A ``config.json`` dict that Hugging Face transformers loads as ``Qwen3ForCausalLM``."""
        hf = {
            "architectures": ["Qwen3ForCausalLM"],
            "model_type": "qwen3",
            "attention_bias": False,
            "attention_dropout": 0.0,
            "hidden_act": "silu",
            "initializer_range": 0.02,
            "rope_scaling": None,
            "use_cache": True,
            "use_sliding_window": False,
            "sliding_window": None,
            "max_window_layers": self.num_hidden_layers,
        }
        for f in dataclasses.fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if value is not None:
                hf[f.name] = value
        return hf


def _preset(**kwargs: Any) -> ModelConfig:
    return ModelConfig(**kwargs)


# Published Qwen3 configurations (config.json of the Hugging Face releases) and small presets.
PRESETS: dict[str, ModelConfig] = {
    "qwen3-0.6b": _preset(vocab_size=151936, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
                          num_attention_heads=16, num_key_value_heads=8, head_dim=128, tie_word_embeddings=True,
                          bos_token_id=151643, eos_token_id=151645),
    "qwen3-1.7b": _preset(vocab_size=151936, hidden_size=2048, intermediate_size=6144, num_hidden_layers=28,
                          num_attention_heads=16, num_key_value_heads=8, head_dim=128, tie_word_embeddings=True,
                          bos_token_id=151643, eos_token_id=151645),
    "qwen3-4b": _preset(vocab_size=151936, hidden_size=2560, intermediate_size=9728, num_hidden_layers=36,
                        num_attention_heads=32, num_key_value_heads=8, head_dim=128, tie_word_embeddings=True,
                        bos_token_id=151643, eos_token_id=151645),
    "qwen3-8b": _preset(vocab_size=151936, hidden_size=4096, intermediate_size=12288, num_hidden_layers=36,
                        num_attention_heads=32, num_key_value_heads=8, head_dim=128, tie_word_embeddings=False,
                        bos_token_id=151643, eos_token_id=151645),
    # small presets for tests, benchmarks and the built-in models
    "test-tiny": _preset(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=512),
    "test-small": _preset(vocab_size=256, hidden_size=128, intermediate_size=384, num_hidden_layers=4,
                          num_attention_heads=4, num_key_value_heads=2, head_dim=32, max_position_embeddings=1024),
    "small": _preset(vocab_size=8192, hidden_size=512, intermediate_size=1536, num_hidden_layers=8,
                     num_attention_heads=8, num_key_value_heads=4, head_dim=64, max_position_embeddings=4096),
}
