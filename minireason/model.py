"""Qwen3Model: the decoder composed from ``minireason.nn``, forward and its mirror-image backward.

    token ids ─embedding─▶ x ─block 0─▶ ... ─block L-1─▶ rmsnorm ─head─▶ logits

Parameters are a plain dict keyed by the Hugging Face names; gradients come back in a dict
with exactly the same keys.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minireason import runtime
from minireason.backend import get_ops
from minireason.bfloat16 import bfloat16_bits_to_float32, float32_to_bfloat16_bits
from minireason.config import ModelConfig
from minireason.device import array_module_of, to_host, to_module
from minireason.errors import ConfigError, InputError
from minireason.nn.block import BLOCK_PARAMETERS, block_backward, block_forward
from minireason.nn.embedding import embedding_backward, embedding_forward
from minireason.nn.linear import BFloat16Matrix
from minireason.nn.loss import masked_mean_nll
from minireason.nn.rope import rope_tables

SUPPORTED_DTYPES = ("float32", "float64")

# A forward (and its backward) without a KV cache splits its rows over the cores, one part per
# thread (``runtime.run_on_cores``), when each part still has at least this many multiply-adds
# (rows x tokens x parameters): the libraries' own threads meet at every op, and a second thread
# that waits for its core at each of those meetings made a test-small step of 2 x 32 tokens cost
# 461 ms of CPU against 26 ms split (benchmarks/shard_crossover.py; docs/kernels.md, "Threads").
SHARD_MIN_WORK = 1 << 24


@dataclass(frozen=True)
class ShardedCache:
    """What the backward of a forward split by rows needs: each part's rows, how many columns it
    computed (the rest of its positions were not needed) and its cache."""

    rows: tuple[slice, ...]
    widths: tuple[int, ...]
    caches: tuple
    head_counts: tuple[int, ...] | None = None  # positions each part ran the head on (packed logits), or None: all


def row_widths(needed: np.ndarray) -> np.ndarray:
    """(B,) the columns each row needs: its last needed position + 1 (0 for a row that needs none)."""
    T = needed.shape[1]
    return np.where(needed.any(axis=1), T - np.argmax(needed[:, ::-1], axis=1), 0)  # (B,)


def balanced_row_parts(widths: np.ndarray, count: int, cost) -> list[slice]:
    """At most ``count`` runs of consecutive rows, cut where the costliest run costs least.

    widths (B,) the columns each row needs; a run costs ``cost(rows, widest)``, which must grow with
    both.  Rows sorted by width so get runs of similar widths, the short ones more rows each; rows of
    one width get equal runs.  The least largest cost is bisected to within 0.1%; each try is one
    greedy pass (a run grows while it stays within the limit), which is exact for such costs.
    """
    B = len(widths)

    def bounds_within(limit: float) -> list[int] | None:
        bounds, start, widest = [0], 0, 0
        for row, width in enumerate(widths):
            if cost(row + 1 - start, max(widest, width)) <= limit:
                widest = max(widest, width)
                continue
            if len(bounds) == count or cost(1, width) > limit:
                return None
            bounds.append(row)
            start, widest = row, width
        return bounds + [B]

    low, high = max(cost(1, width) for width in widths), cost(B, max(widths))
    best = bounds_within(high)
    while high > low * 1.001:
        middle = (low + high) / 2
        bounds = bounds_within(middle)
        if bounds is None:
            low = middle
        else:
            best, high = bounds, middle
    return [slice(first, last) for first, last in zip(best[:-1], best[1:])]


def layer_prefix(layer_index: int) -> str:
    """The Hugging Face name prefix of block ``layer_index``'s parameters (``model.layers.3.``)."""
    return f"model.layers.{layer_index}."


def head_parameter_name(config: ModelConfig) -> str:
    """The output projection's parameter: the embedding when tied, else its own lm_head."""
    return "model.embed_tokens.weight" if config.tie_word_embeddings else "lm_head.weight"


def parameter_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every parameter name of a Qwen3 checkpoint with its shape (linear weights are (out, in))."""
    D, F, V = config.hidden_size, config.intermediate_size, config.vocab_size
    H, Hkv, Dh = config.num_attention_heads, config.num_key_value_heads, config.head_dim
    per_layer = {
        "input_layernorm.weight": (D,),
        "self_attn.q_proj.weight": (H * Dh, D),
        "self_attn.k_proj.weight": (Hkv * Dh, D),
        "self_attn.v_proj.weight": (Hkv * Dh, D),
        "self_attn.o_proj.weight": (D, H * Dh),
        "self_attn.q_norm.weight": (Dh,),
        "self_attn.k_norm.weight": (Dh,),
        "post_attention_layernorm.weight": (D,),
        "mlp.gate_proj.weight": (F, D),
        "mlp.up_proj.weight": (F, D),
        "mlp.down_proj.weight": (D, F),
    }
    shapes = {"model.embed_tokens.weight": (V, D)}
    for layer_index in range(config.num_hidden_layers):
        for name in BLOCK_PARAMETERS:
            shapes[layer_prefix(layer_index) + name] = per_layer[name]
    shapes["model.norm.weight"] = (D,)
    if not config.tie_word_embeddings:
        shapes["lm_head.weight"] = (V, D)
    return shapes


def _check_dtype(dtype) -> np.dtype:
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in SUPPORTED_DTYPES:
        raise ConfigError(f"dtype must be one of {SUPPORTED_DTYPES}, got {dtype!r}")
    return np.dtype(name)


class Qwen3Model:
    """A Qwen3-architecture decoder with explicit forward and backward passes.

    ``Qwen3Model(config, params)`` wraps existing weights (cast to one float dtype);
    ``Qwen3Model.from_config(config, seed, dtype)`` draws a random initialisation.
    ``backend`` ("numpy", "numba", "cupy" or None for the global choice) selects the
    implementation of the hot ops; the results are the same.  The parameters live where the
    backend keeps arrays (``get_ops(backend).array_module``): on the GPU for "cupy", so
    ``Qwen3Model(model.config, model.params, backend="cupy")`` moves a model there.  Inputs
    may be host or device arrays; logits, gradients and the KV cache come back on the device.
    """

    def __init__(self, config: ModelConfig, params: dict[str, np.ndarray], backend: str | None = None):
        if not isinstance(config, ModelConfig):
            raise ConfigError(f"config must be a ModelConfig, got {type(config).__name__}")
        expected = parameter_shapes(config)
        missing = sorted(set(expected) - set(params))
        unexpected = sorted(set(params) - set(expected))
        if missing:
            raise ConfigError(f"params is missing {len(missing)} tensor(s), e.g. {missing[:3]}")
        if unexpected:
            raise ConfigError(f"params has {len(unexpected)} unexpected tensor(s), e.g. {unexpected[:3]}")
        # one float dtype throughout: the params' own when they agree on one, else float32
        params = {name: value if hasattr(value, "dtype") else np.asarray(value) for name, value in params.items()}
        dtypes = {value.dtype for value in params.values()}
        common = dtypes.pop() if len(dtypes) == 1 else None
        dtype = _check_dtype(common if common is not None and common.kind == "f" else "float32")
        for name, shape in expected.items():
            got = tuple(params[name].shape)
            if got != shape:
                raise ConfigError(f"parameter {name} has shape {got}, expected {shape}")
        self.config = config
        self.backend = backend
        module = get_ops(backend).array_module  # numpy, or the device module of a GPU backend
        self.params = {name: to_module(params[name], module, dtype) for name in expected}
        self.generation_config: dict = {}
        self.decode_matrices: dict[str, BFloat16Matrix] = {}  # see with_bfloat16_decoding

    @classmethod
    def from_config(cls, config: ModelConfig, seed: int = 0, dtype: str = "float32", backend: str | None = None):
        """Random initialisation: normal(0, 0.02) for matrices, ones for norm weights."""
        dtype = _check_dtype(dtype)
        rng = np.random.default_rng(seed)
        params = {}
        for name, shape in parameter_shapes(config).items():
            if len(shape) == 1:
                params[name] = np.ones(shape, dtype=dtype)
            else:
                params[name] = (rng.standard_normal(shape) * 0.02).astype(dtype)
        return cls(config, params, backend=backend)

    @property
    def dtype(self) -> np.dtype:
        return self.params["model.norm.weight"].dtype

    @property
    def ops(self):
        return get_ops(self.backend)

    @property
    def array_module(self):
        """Where this model's arrays live: ``numpy``, or ``cupy`` for a model on the GPU."""
        return array_module_of(self.params["model.norm.weight"])

    def astype(self, dtype: str) -> Qwen3Model:
        """A copy of this model with parameters in another float dtype (without bfloat16 decode copies)."""
        dtype = _check_dtype(dtype)
        model = Qwen3Model(self.config, {k: v.astype(dtype) for k, v in self.params.items()}, self.backend)
        model.generation_config = dict(self.generation_config)
        return model

    def with_bfloat16_decoding(self) -> Qwen3Model:
        """A copy whose weight matrices are rounded to bfloat16 and kept twice, as the same numbers:

        - as float32 values in ``params``, for prefill, training and every forward with more than
          one new token per row, where the matrix products are compute-bound and BLAS is fastest;
        - as bfloat16 bits in ``decode_matrices``, for one-token steps without a backward
          (decoding), which read every weight once per token: half the bytes, so up to twice the
          tokens/s where memory bandwidth is the limit (docs/kernels.md).

        The copy differs from this model only by the rounding (as if loaded from a bf16
        checkpoint).  It is for inference: its matrices are read-only, so that an optimizer
        cannot update the float32 copies and leave the bfloat16 ones stale.  Needs a float32
        model on a backend whose linear layer reads bfloat16 bits without widening the matrix
        (numba); the reference would widen it on every call.
        """
        if self.dtype != np.float32:
            raise ConfigError(f"bfloat16 decoding needs a float32 model, this one is {self.dtype}")
        if not getattr(self.ops, "reads_bfloat16_weights", False):
            raise ConfigError(f"backend {self.ops.name!r} has no bfloat16 matrix-vector kernel; use the numba "
                              f"backend (--backend numba, or backend='numba'; pip install 'minireason[fast]')")
        bits = self._bfloat16_matrices_in_reading_order()
        rounded = {name: bfloat16_bits_to_float32(bits[name]) if name in bits else value.copy()  # shares nothing
                   for name, value in self.params.items()}
        model = Qwen3Model(self.config, rounded, self.backend)
        model.generation_config = dict(self.generation_config)
        model.decode_matrices = {name: BFloat16Matrix(b) for name, b in bits.items()}
        for name in bits:
            model.params[name].flags.writeable = False
        return model

    def _bfloat16_matrices_in_reading_order(self) -> dict[str, np.ndarray]:
        """Every weight matrix rounded to bfloat16 bits, all laid out in one buffer in the order a
        decoding step reads them (layer by layer: q, k, v, o, gate, up, down; then the head), each
        starting on a 64-byte line: a step then streams one region front to back, which the
        hardware prefetchers follow better than 197 separate arrays (benchmarks/bf16_layout.py;
        docs/kernels.md has the measurements)."""
        head = head_parameter_name(self.config)
        order = [layer_prefix(layer) + name for layer in range(self.config.num_hidden_layers)
                 for name in BLOCK_PARAMETERS if self.params[layer_prefix(layer) + name].ndim == 2]
        order.append(head)
        placed = set(order)
        order += [name for name, value in self.params.items() if value.ndim == 2 and name not in placed]
        line = 32  # uint16 entries in a 64-byte cache line
        starts, end = {}, 0
        for name in order:
            starts[name] = end
            end += -(-self.params[name].size // line) * line
        allocation = np.empty(end + line, dtype=np.uint16)  # one region for all matrices (NumPy asks for huge pages)
        skip = (-allocation.ctypes.data % 64) // 2  # to the first 64-byte line
        buffer = allocation[skip:skip + end]
        bits = {}
        for name in order:
            value = self.params[name]
            bits[name] = buffer[starts[name]:starts[name] + value.size].reshape(value.shape)  # (out, in)
            bits[name][...] = float32_to_bfloat16_bits(value)
            bits[name].flags.writeable = False
        return bits

    def num_parameters(self) -> int:
        return sum(int(value.size) for value in self.params.values())

    def _weight(self, name: str, bfloat16: bool):
        return self.decode_matrices[name] if bfloat16 and name in self.decode_matrices else self.params[name]

    def head_weight(self, bfloat16: bool = False) -> np.ndarray:
        """The output projection (the embedding when tied); its bfloat16 copy if asked and kept."""
        return self._weight(head_parameter_name(self.config), bfloat16)

    def layer_params(self, layer_index: int, bfloat16: bool = False) -> dict[str, np.ndarray]:
        prefix = layer_prefix(layer_index)
        return {name: self._weight(prefix + name, bfloat16) for name in BLOCK_PARAMETERS}

    # ------------------------------------------------------------------ input checks
    def _check_token_ids(self, token_ids) -> np.ndarray:
        token_ids = to_host(token_ids)  # checked on the host; a few bytes per token
        if token_ids.ndim != 2:
            raise InputError(f"token_ids must have shape (B, T), got shape {token_ids.shape}")
        if token_ids.size and token_ids.dtype.kind not in "iu":
            raise InputError(f"token_ids must be integers, got dtype {token_ids.dtype}")
        if token_ids.shape[0] == 0:
            raise InputError("token_ids must hold at least one row, got B = 0")
        if token_ids.shape[1] == 0:
            raise InputError("token_ids must hold at least one token per row, got T = 0")
        low, high = int(token_ids.min()), int(token_ids.max())
        if low < 0 or high >= self.config.vocab_size:
            bad = low if low < 0 else high
            raise InputError(f"token id {bad} is outside the vocabulary [0, {self.config.vocab_size})")
        return token_ids.astype(np.int64, copy=False)

    @staticmethod
    def _check_mask(mask, shape, name: str) -> np.ndarray | None:
        if mask is None:
            return None
        mask = to_host(mask)
        if mask.shape != tuple(shape):
            raise InputError(f"{name} must have shape {tuple(shape)} like token_ids, got {mask.shape}")
        if mask.dtype != bool and mask.dtype.kind not in "iu":
            raise InputError(f"{name} must be bool or 0/1 integers, got dtype {mask.dtype}")
        return mask.astype(bool)

    def _check_arrays_match_backend(self, ops) -> None:
        if ops.array_module is not self.array_module:
            raise ConfigError(
                f"backend {ops.name!r} keeps arrays in {ops.array_module.__name__} but this model's parameters "
                f"are in {self.array_module.__name__} (the backend was changed after the model was made); "
                f"move the model with Qwen3Model(model.config, model.params, backend={ops.name!r})")

    # ------------------------------------------------------------------ forward and backward
    def forward(self, token_ids, attention_mask=None, position_ids=None, kv_cache=None, last_only=False,
                keep_cache: bool | None = None):
        """Logits and the cache the backward needs.

        token_ids (B, T) ints; attention_mask (B, T) marks real tokens (False = padding; a
        left-padded row then gets exactly the logits it would get alone); position_ids (B, T)
        default to the count of real tokens before each one; kv_cache: an object holding the
        keys/values of earlier tokens (see ``minireason.generation.kv_cache.KVCache``), which
        the new ones are appended to.  last_only: compute logits for the last position only.
        keep_cache: keep what the backward needs (default: only without a kv_cache, i.e. not
        while generating; each layer's attention probabilities are (B, H, T, S), and keeping
        them for every layer is what makes a long prefill expensive in memory).
        Returns (logits (B, T, V) or (B, 1, V), cache); cache is None when not kept.
        Without a kv_cache, a batch big enough (``SHARD_MIN_WORK``) runs as parts of its rows, one
        per thread (``runtime.parallel_threads``), and its cache is a ``ShardedCache``.
        """
        return self._forward(token_ids, attention_mask, position_ids, kv_cache, last_only, keep_cache)

    def _forward(self, token_ids, attention_mask=None, position_ids=None, kv_cache=None, last_only=False,
                 keep_cache: bool | None = None, needed=None, head=None):
        """``forward``, computing only the positions a loss reads: needed (B, T) bool or None (all).

        On the CPU each part of the rows stops after its last needed column (causal: no position
        depends on a later one), and the logits it did not compute are zeros; the loss seam sets
        what it reads there.  head (B, T) bool or None: the positions whose logits are computed
        (a subset of needed): the final norm and the head run on those alone, and the logits come
        packed, (1, N, V) for the N true positions in row-major order (the backward takes dlogits
        the same way).  Not with a kv_cache or last_only.
        """
        if keep_cache is None:
            keep_cache = kv_cache is None and not last_only
        self._check_arrays_match_backend(self.ops)
        token_ids = self._check_token_ids(token_ids)
        B, T = token_ids.shape
        if head is not None and (kv_cache is not None or last_only):
            raise InputError("packed logits (head positions) are for a forward of every position without a KV cache")
        if kv_cache is not None or self.array_module is not np:
            return self._forward_rows(token_ids, attention_mask, position_ids, kv_cache, last_only, keep_cache, head)
        widths = np.full(B, T) if needed is None else row_widths(needed)  # (B,)
        shards = self._row_shards(widths)
        part_widths = [max(int(widths[rows].max()), 1) for rows in shards]
        if len(shards) == 1 and part_widths[0] == T:
            return self._forward_rows(token_ids, attention_mask, position_ids, None, last_only, keep_cache, head)
        attention_mask = self._check_mask(attention_mask, token_ids.shape, "attention_mask")
        position_ids = None if position_ids is None else to_host(position_ids)
        if position_ids is not None and position_ids.shape != token_ids.shape:
            raise InputError(f"position_ids must have shape {token_ids.shape}, got {position_ids.shape}")

        def part(rows: slice, width: int):
            return self._forward_rows(token_ids[rows, :width],
                                      None if attention_mask is None else attention_mask[rows, :width],
                                      None if position_ids is None else position_ids[rows, :width], None, last_only,
                                      keep_cache, None if head is None else head[rows, :width])

        parts = runtime.run_on_cores([lambda rows=rows, width=width: part(rows, width)
                                      for rows, width in zip(shards, part_widths)])
        head_counts = None
        if head is not None:  # each part's packed positions, in row-major order: the whole batch's order
            logits = np.concatenate([part_logits for part_logits, _ in parts], axis=1)  # (1, N, V)
            head_counts = tuple(int(head[rows, :width].sum()) for rows, width in zip(shards, part_widths))
        elif all(width == T for width in part_widths):
            logits = np.concatenate([part_logits for part_logits, _ in parts])  # (B, T, V)
        else:
            logits = np.zeros((B, T, parts[0][0].shape[-1]), dtype=parts[0][0].dtype)  # (B, T, V)
            for rows, width, (part_logits, _) in zip(shards, part_widths, parts):
                logits[rows, :width] = part_logits
        cache = ShardedCache(tuple(shards), tuple(part_widths), tuple(cache for _, cache in parts), head_counts)
        return logits, (cache if keep_cache else None)

    def _row_shards(self, widths: np.ndarray) -> list[slice]:
        """The rows of a batch in as many parts as there are threads to run them, each of at least
        SHARD_MIN_WORK multiply-adds, the parts' work as even as consecutive rows allow.

        widths (B,) the columns each row needs.  A part's work is its rows x its widest row's
        tokens x (parameters + the attention's keys per query, half its width, x H x Dh x 2 a layer).
        """
        B = len(widths)
        parameters = self.num_parameters()
        count = min(runtime.parallel_threads(), B, B * int(widths.max()) * parameters // SHARD_MIN_WORK)
        if count <= 1:
            return [slice(None)]
        if np.all(widths == widths[0]):  # equal parts, without the search
            bounds = np.linspace(0, B, count + 1).round().astype(int)
            return [slice(int(first), int(last)) for first, last in zip(bounds[:-1], bounds[1:])]
        config = self.config
        per_key = config.num_hidden_layers * config.num_attention_heads * config.head_dim

        def work(rows: int, widest: int) -> float:
            return rows * widest * (parameters + widest * per_key)

        return balanced_row_parts(widths, count, work)

    def _forward_rows(self, token_ids, attention_mask, position_ids, kv_cache, last_only, keep_cache,
                      head_positions=None):
        """``forward`` of token ids already checked, on the calling thread; the head only at
        head_positions (B, T) bool where given (packed logits, ``_forward``)."""
        config, ops = self.config, self.ops
        B, T = token_ids.shape
        attention_mask = self._check_mask(attention_mask, (B, T), "attention_mask")
        if kv_cache is not None:
            positions_default, key_mask = kv_cache.begin(attention_mask if attention_mask is not None
                                                         else np.ones((B, T), dtype=bool))
        else:
            key_mask = attention_mask  # (B, S) with S = T
            if attention_mask is None:
                positions_default = np.broadcast_to(np.arange(T), (B, T))  # (B, T)
            else:
                positions_default = np.maximum(np.cumsum(attention_mask, axis=1) - 1, 0)  # (B, T)
        if position_ids is None:
            position_ids = positions_default
        else:
            position_ids = to_host(position_ids)
            if position_ids.shape != (B, T):
                raise InputError(f"position_ids must have shape {(B, T)}, got {position_ids.shape}")
        last_position = int(np.max(position_ids))  # RoPE would extend, but the model never saw these: refuse
        if last_position >= config.max_position_embeddings:
            raise InputError(f"position {last_position} is past the context window (max_position_embeddings "
                             f"{config.max_position_embeddings}, cached tokens included); use shorter input")
        cos, sin = rope_tables(position_ids, config.head_dim, config.rope_theta, self.dtype)  # (B, T, Dh)
        # the bookkeeping was done on the host; send what the layers read to the parameters' device
        module = self.array_module
        token_ids, cos, sin = (to_module(array, module) for array in (token_ids, cos, sin))
        key_mask = None if key_mask is None else to_module(key_mask, module)

        # a decoding step (one new token per row, no backward) reads the bfloat16 weights if kept
        decoding = T == 1 and not keep_cache and bool(self.decode_matrices)
        x, embedding_cache = embedding_forward(token_ids, self.params["model.embed_tokens.weight"])  # (B, T, D)
        block_caches = []
        for layer_index in range(config.num_hidden_layers):
            x, block_cache = block_forward(
                x, self.layer_params(layer_index, decoding), config, cos, sin, key_mask, kv_cache, layer_index, ops
            )
            if keep_cache:
                block_caches.append(block_cache)
            del block_cache
        if kv_cache is not None:
            kv_cache.commit(T)
        if last_only:
            x = x[:, -1:]
        if head_positions is not None:
            x = x[to_module(head_positions, module)][None]  # (1, N, D): only the positions whose logits are read
        x, final_norm_cache = ops.rmsnorm_forward(x, self.params["model.norm.weight"], config.rms_norm_eps)
        logits, head_cache = ops.linear_forward(x, self.head_weight(decoding))  # (B, T, V) or (1, N, V)
        if not keep_cache:
            return logits, None
        cache = (embedding_cache, block_caches, final_norm_cache, head_cache, last_only, head_positions)
        return logits, cache

    def backward(self, dlogits: np.ndarray, cache) -> dict[str, np.ndarray]:
        """Gradients of every parameter, given dL/dlogits. The mirror image of ``forward``."""
        if cache is None:
            raise InputError("backward needs the cache of a forward run with keep_cache=True")
        if isinstance(cache, ShardedCache):  # each part's backward on its own thread, the gradients summed
            if cache.head_counts is None:
                pieces = [dlogits[rows, :width] for rows, width in zip(cache.rows, cache.widths)]
            else:  # packed: each part's positions, one after another
                bounds = np.cumsum((0, *cache.head_counts))
                pieces = [dlogits[:, first:last] for first, last in zip(bounds[:-1], bounds[1:])]
            parts = runtime.run_on_cores([lambda piece=piece, part=part: self.backward(piece, part)
                                          for piece, part in zip(pieces, cache.caches)])
            grads = parts[0]
            for part in parts[1:]:
                for name, value in part.items():
                    grads[name] += value
            return grads
        embedding_cache, block_caches, final_norm_cache, head_cache, last_only, head_positions = cache
        if last_only:
            raise InputError("backward needs the logits of every position; call forward with last_only=False")
        ops = self.ops
        grads: dict[str, np.ndarray] = {}
        dx, dhead = ops.linear_backward(dlogits, head_cache)
        dx, grads["model.norm.weight"] = ops.rmsnorm_backward(dx, final_norm_cache)
        if head_positions is not None:  # packed (1, N, D) back to every position; 0 where no logit was read
            dx = self._unpacked(dx, head_positions)  # (B, T, D)
        for layer_index in reversed(range(self.config.num_hidden_layers)):
            dx, layer_grads = block_backward(dx, block_caches[layer_index], ops)
            prefix = layer_prefix(layer_index)
            for name, value in layer_grads.items():
                grads[prefix + name] = value
        if self.config.tie_word_embeddings:  # one table: the lookup's gradient added to the head's
            grads["model.embed_tokens.weight"] = embedding_backward(dx, embedding_cache, into=dhead)
        else:
            grads["model.embed_tokens.weight"] = embedding_backward(dx, embedding_cache)
            grads["lm_head.weight"] = dhead
        return {name: grads[name] for name in self.params}

    # ------------------------------------------------------------------ conveniences
    def logits(self, token_ids, attention_mask=None, position_ids=None) -> np.ndarray:
        """(B, T, V) logits of a full forward, without keeping anything for a backward."""
        logits, _ = self.forward(token_ids, attention_mask, position_ids, keep_cache=False)
        return logits

    def _check_targets(self, token_ids, targets, loss_mask):
        targets = to_host(targets)
        if targets.shape != token_ids.shape:
            raise InputError(f"targets must have shape {token_ids.shape} like token_ids, got {targets.shape}")
        if targets.dtype.kind not in "iu":
            raise InputError(f"targets must be integers, got dtype {targets.dtype}")
        loss_mask = self._check_mask(loss_mask, token_ids.shape, "loss_mask")
        counted = targets if loss_mask is None else targets[loss_mask]
        if counted.size and (counted.min() < 0 or counted.max() >= self.config.vocab_size):
            raise InputError(f"targets must lie in [0, {self.config.vocab_size}) where loss_mask is true")
        # positions outside the mask may hold anything (padding); the op reads a valid id there
        safe_targets = targets.astype(np.int64) if loss_mask is None else np.where(loss_mask, targets, 0)
        return safe_targets, loss_mask

    def token_logprobs(self, token_ids, targets, attention_mask=None, temperature: float = 1.0,
                       with_entropy: bool = False, loss_mask=None):
        """Per-token log-probabilities (B, T) of ``targets`` under softmax(logits / temperature), and the
        entropy (B, T) or None; a forward without a backward (a reference model, old log-probabilities).
        Computed where loss_mask (B, T) is true (by default at every real token), 0 elsewhere: the
        head and the op run there alone, and on the CPU no row's layers past its last such position."""
        token_ids = self._check_token_ids(token_ids)
        safe_targets, loss_mask = self._check_targets(token_ids, targets, loss_mask)
        if loss_mask is None:  # every real token; none of a row's trailing padding is computed
            padding = self._padding(token_ids.shape, attention_mask)
            reads = None if padding is None else ~padding
        else:
            reads = None if loss_mask.all() else loss_mask  # (B, T) or None: every position
        logp, entropy, _, _ = self._logprobs_at(token_ids, safe_targets, attention_mask, reads, temperature,
                                                with_entropy, keep_cache=False)
        return logp, entropy

    def _logprobs_at(self, token_ids, safe_targets, attention_mask, reads, temperature, with_entropy, keep_cache):
        """The forward and the log-probability op at ``reads`` (B, T) bool, or at every position (None).

        Where some position is read, the head and the op run on the N read ones alone, packed (1, N, V)
        (``_forward``'s head).  Returns (logp (B, T), entropy (B, T) or None, both 0 where not read; the
        op's cache, which takes its upstream packed (``_packed``) when reads has a true position; the
        model's cache or None)."""
        packed = self._packs(reads)
        logits, cache = self._forward(token_ids, attention_mask, keep_cache=keep_cache, needed=reads,
                                      head=reads if packed else None)
        (logp, entropy), logprob_cache = self.ops.token_logprobs_forward(
            logits, to_module(safe_targets[reads][None] if packed else safe_targets, self.array_module),
            temperature, with_entropy)
        if packed:
            logp, entropy = self._unpacked(logp, reads), self._unpacked(entropy, reads)
        elif reads is not None:  # nothing read: every position 0
            logp, entropy = self._zero_at(logp, ~reads), self._zero_at(entropy, ~reads)
        return logp, entropy, logprob_cache, cache

    @staticmethod
    def _packs(reads) -> bool:
        """Whether the seam packs the read positions: some, not all (None), are read."""
        return reads is not None and bool(reads.any())

    def _padding(self, shape, attention_mask):
        """(B, T) bool, the padding positions (attention_mask False), or None where there are none."""
        attention_mask = self._check_mask(attention_mask, shape, "attention_mask")
        if attention_mask is None or attention_mask.all():
            return None
        return ~attention_mask

    def _zero_at(self, values, positions):
        """``values`` (B, T) with zeros at ``positions`` (B, T) bool or None (then values itself, or None)."""
        if values is None or positions is None:
            return values
        return self.array_module.where(to_module(positions, self.array_module), values.dtype.type(0), values)

    def token_loss_and_grads(self, token_ids, targets, loss_fn, loss_mask=None, attention_mask=None,
                             temperature: float = 1.0, with_entropy: bool = False):
        """The loss seam: any loss that is a function of per-token log-probabilities, and its gradients.

            logits ─token_logprobs_forward─▶ logp (B, T), entropy (B, T) ─loss_fn─▶ loss, dlogp, dentropy
            grads ◀─model backward◀─ dlogits ◀─token_logprobs_backward─┘

        loss_fn(logp, entropy) -> (loss: float, dlogp (B, T), dentropy (B, T) or None[, metrics: dict]);
        entropy is None unless with_entropy.  logp[b, t] = log softmax(logits[b, t] / temperature)[targets[b, t]].
        loss_mask (B, T) bool: the positions the loss reads (targets must be valid ids there; elsewhere
        they may be padding).  Only those are computed: logp and entropy are 0 elsewhere and no
        gradient flows from there; neither the head nor the log-probability op runs there (a
        prompt's positions, padding), and on the CPU no row's layers past its last read position.
        No loss_mask: every position is read, padding included.
        Returns (loss, grads with exactly the parameter keys[, the loss's metrics when it gave them]).
        """
        if not (isinstance(temperature, (int, float)) and temperature > 0):
            raise InputError(f"temperature must be a number > 0, got {temperature!r}")
        token_ids = self._check_token_ids(token_ids)
        runtime.activate_unless_active(runtime.TRAIN)  # a training step's process settings, outside train() too
        safe_targets, loss_mask = self._check_targets(token_ids, targets, loss_mask)
        reads = None if loss_mask is None or loss_mask.all() else loss_mask  # (B, T) or None: every position
        logp, entropy, logprob_cache, cache = self._logprobs_at(token_ids, safe_targets, attention_mask, reads,
                                                                temperature, with_entropy, keep_cache=True)
        loss, dlogp, dentropy, *metrics = loss_fn(logp, entropy)
        if dlogp.shape != logp.shape:
            raise InputError(f"loss_fn returned dlogp of shape {dlogp.shape}, expected {logp.shape}")
        dentropy = dentropy if with_entropy else None
        if self._packs(reads):  # the upstream at the read positions, as the op computed them
            dlogp, dentropy = self._packed(dlogp, reads), self._packed(dentropy, reads)  # (1, N)
        elif reads is not None:  # nothing read: no gradient
            dlogp, dentropy = self._zero_at(dlogp, ~reads), self._zero_at(dentropy, ~reads)
        dlogits = self.ops.token_logprobs_backward(dlogp, dentropy, logprob_cache)
        return (float(loss), self.backward(dlogits, cache), *metrics)

    def _unpacked(self, values, positions):
        """(1, N, ...) values at the N true ``positions`` (B, T) -> (B, T, ...), 0 elsewhere (None stays None)."""
        if values is None:
            return None
        module = self.array_module
        unpacked = module.zeros((*positions.shape, *values.shape[2:]), dtype=values.dtype)  # (B, T, ...)
        unpacked[to_module(positions, module)] = values[0]
        return unpacked

    def _packed(self, values, positions):
        """(B, T) values -> (1, N) at the N true ``positions`` (B, T) (None stays None)."""
        if values is None:
            return None
        module = self.array_module
        return to_module(values, module)[to_module(positions, module)][None]

    def logits_loss_and_grads(self, token_ids, loss_fn, attention_mask=None):
        """The soft-target seam: a loss that reads the whole distribution at each position (logit
        distillation against a teacher), not only the log-probability of one target token.

            logits (B, T, V) ─loss_fn─▶ loss, dlogits (B, T, V) ─model backward─▶ grads

        loss_fn(logits) -> (loss: float, dlogits (B, T, V)[, metrics: dict]); it must give positions it
        does not use (padding) zero gradient.  Returns (loss, grads with exactly the parameter keys[, the
        loss's metrics when it gave them]).
        """
        token_ids = self._check_token_ids(token_ids)
        runtime.activate_unless_active(runtime.TRAIN)
        logits, cache = self.forward(token_ids, attention_mask)
        loss, dlogits, *metrics = loss_fn(logits)
        del logits
        if tuple(dlogits.shape) != (*token_ids.shape, self.config.vocab_size):
            raise InputError(f"loss_fn returned dlogits of shape {tuple(dlogits.shape)}, expected "
                             f"{(*token_ids.shape, self.config.vocab_size)}")
        return (float(loss), self.backward(dlogits.astype(self.dtype, copy=False), cache), *metrics)

    def loss_and_grads(self, token_ids, targets, loss_mask=None, attention_mask=None):
        """Mean token cross-entropy over positions where loss_mask is true, and its gradients.

        token_ids, targets (B, T) ints (targets[b, t] is the token that should follow
        token_ids[b, :t+1]); loss_mask (B, T) bool or None for every position.
        Cross-entropy is one loss of the seam (``token_loss_and_grads``): -mean of masked logp.
        Returns (loss: float, grads: dict with exactly the parameter keys).
        """
        token_ids = self._check_token_ids(token_ids)
        loss_mask = self._check_mask(loss_mask, token_ids.shape, "loss_mask")
        device_mask = None if loss_mask is None else to_module(loss_mask, self.array_module)
        return self.token_loss_and_grads(token_ids, targets, masked_mean_nll(device_mask), loss_mask,
                                         attention_mask)


def frozen_copy(model: Qwen3Model) -> Qwen3Model:
    """A reference model: the same weights, copied and made read-only, never trained (GRPO's KL
    reference, DPO's reference)."""
    reference = Qwen3Model(model.config, {name: value.copy() for name, value in model.params.items()}, model.backend)
    for value in reference.params.values():
        if hasattr(value, "flags"):
            value.flags.writeable = False
    return reference
