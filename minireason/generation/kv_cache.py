"""KV cache: preallocated key/value buffers for every layer, filled slot by slot.

Layout per layer: keys and values of shape (B, Hkv, max_len, Dh). Slots are shared by all
rows; a left-padded row simply has its padding slots marked False in ``key_mask``. Each row
keeps its own next position id, so a padded row gets the same RoPE positions as alone.

The model talks to the cache through three calls per forward:
    positions, key_mask = cache.begin(attention_mask)   # reserve T slots for the new tokens
    k_all, v_all = cache.write(layer_index, k, v)       # once per layer
    cache.commit(T)                                     # the T slots are now filled

A server's batch changes while it decodes (continuous batching): ``join(other)`` adds the rows of a
cache their prompts were just prefilled into, aligned at the end of the shared slots, and
``make_room(n)`` keeps n free slots at the end by dropping the leading slots no row uses any more
(the rows that owned them have left), growing the buffers only when that is not enough.

The key/value buffers live where the model's arrays live (``array_module``: numpy, or cupy on
a GPU); the slot bookkeeping (``key_mask``, ``next_positions``) stays on the host, and the
model sends the key mask to the device once per forward.
"""

from __future__ import annotations

import copy

import numpy as np

from minireason.errors import InputError


class KVCache:
    """Keys and values of every layer for the tokens already decoded, so a step runs only the new tokens.

    Per layer, keys and values are (B, Hkv, max_len, Dh) arrays of ``dtype`` (on ``array_module``'s device);
    ``key_mask`` (B, max_len) marks the filled slots that hold real tokens and ``next_positions`` (B,)
    the position id of each row's next token. ``batch_size`` or ``max_len`` below 1 raises ``InputError``.
    """
    def __init__(self, config, batch_size: int, max_len: int, dtype=np.float32, array_module=np):
        if batch_size < 1 or max_len < 1:
            raise InputError(f"KVCache needs batch_size >= 1 and max_len >= 1, got {batch_size}, {max_len}")
        Hkv, Dh = config.num_key_value_heads, config.head_dim
        shape = (batch_size, Hkv, max_len, Dh)  # (B, Hkv, max_len, Dh)
        self.keys = [array_module.zeros(shape, dtype=dtype) for _ in range(config.num_hidden_layers)]
        self.values = [array_module.zeros(shape, dtype=dtype) for _ in range(config.num_hidden_layers)]
        self.array_module = array_module
        self.key_mask = np.zeros((batch_size, max_len), dtype=bool)  # (B, max_len) real tokens
        self.next_positions = np.zeros(batch_size, dtype=np.int64)  # (B,) position id of each row's next token
        self.length = 0  # filled slots
        self.max_len = max_len
        self._pending_counts = np.zeros(batch_size, dtype=np.int64)  # real tokens among the reserved slots

    @property
    def batch_size(self) -> int:
        """The rows the cache holds now (fewer after ``select_rows``, more after ``join``)."""
        return self.key_mask.shape[0]

    def begin(self, attention_mask: np.ndarray):
        """Reserve slots for T new tokens.  attention_mask (B, T) marks real tokens.

        Returns (position_ids (B, T), key_mask (B, S)) with S = filled slots + T.
        """
        B, T = attention_mask.shape
        if B != self.batch_size:
            raise InputError(f"KVCache holds {self.batch_size} rows, got a batch of {B}")
        if self.length + T > self.max_len:
            raise InputError(f"KVCache is full: {self.length} + {T} tokens exceed max_len {self.max_len}")
        attention_mask = attention_mask.astype(bool)
        positions = self.next_positions[:, None] + np.maximum(np.cumsum(attention_mask, axis=1) - 1, 0)  # (B, T)
        self.key_mask[:, self.length:self.length + T] = attention_mask
        self._pending_counts = attention_mask.sum(axis=1)  # (B,)
        return positions, self.key_mask[:, :self.length + T]

    def write(self, layer_index: int, keys: np.ndarray, values: np.ndarray):
        """Store the new (B, Hkv, T, Dh) keys/values; return all so far, (B, Hkv, S, Dh) views."""
        start, end = self.length, self.length + keys.shape[2]
        self.keys[layer_index][:, :, start:end] = keys
        self.values[layer_index][:, :, start:end] = values
        return self.keys[layer_index][:, :, :end], self.values[layer_index][:, :, :end]

    def commit(self, n_tokens: int) -> None:
        """Mark the ``n_tokens`` slots reserved by ``begin`` as filled; each row's next position moves on
        by its real tokens among them."""
        self.length += n_tokens
        self.next_positions += self._pending_counts

    def select_rows(self, rows) -> None:
        """Keep only the given rows (e.g. drop finished sequences from the active batch)."""
        rows = np.asarray(rows, dtype=np.int64)
        rows_on_device = self.array_module.asarray(rows)
        self.keys = [k[rows_on_device] for k in self.keys]
        self.values = [v[rows_on_device] for v in self.values]
        self.key_mask = self.key_mask[rows]
        self.next_positions = self.next_positions[rows]

    def take_rows(self, rows) -> KVCache:
        """A new cache holding copies of the given rows (this one unchanged): a batch split in parts
        that decode side by side."""
        part = copy.copy(self)
        part.select_rows(rows)  # new buffers, mask and positions: nothing shared with this cache
        part._pending_counts = np.zeros(part.batch_size, dtype=np.int64)  # committed: nothing reserved
        return part

    def join(self, other: KVCache) -> None:
        """Add the rows of ``other`` after this cache's rows (a request prefilled alone joins a running batch).

        Slots are shared, so rows are aligned at their ends: with L = max(self.length, other.length),
        other's filled slots go to [L - other.length, L) and this cache's to [L - self.length, L);
        the slots in front of a row are masked out. Each row keeps its own next position, so a joined
        row is fed the positions it would be fed alone. Both caches must be committed (no reserved
        slots) and hold keys of the same shape and dtype.
        """
        if not isinstance(other, KVCache):
            raise InputError(f"KVCache.join takes a KVCache, got {type(other).__name__}")
        if len(other.keys) != len(self.keys) or other.keys[0].shape[1::2] != self.keys[0].shape[1::2]:
            raise InputError("KVCache.join: the caches belong to models of different shapes")
        length = max(self.length, other.length)
        capacity = max(self.max_len, length)
        module = self.array_module
        own_rows, rows = self.batch_size, self.batch_size + other.batch_size
        Hkv, Dh = self.keys[0].shape[1], self.keys[0].shape[3]
        for buffers, others in ((self.keys, other.keys), (self.values, other.values)):
            for layer_index, (own, theirs) in enumerate(zip(buffers, others)):
                joined = module.zeros((rows, Hkv, capacity, Dh), dtype=own.dtype)  # (B, Hkv, max_len, Dh)
                joined[:own_rows, :, length - self.length:length] = own[:, :, :self.length]
                joined[own_rows:, :, length - other.length:length] = theirs[:, :, :other.length]
                buffers[layer_index] = joined
        key_mask = np.zeros((rows, capacity), dtype=bool)  # (B, max_len)
        key_mask[:own_rows, length - self.length:length] = self.key_mask[:, :self.length]
        key_mask[own_rows:, length - other.length:length] = other.key_mask[:, :other.length]
        self.key_mask = key_mask
        self.next_positions = np.concatenate([self.next_positions, other.next_positions])
        self._pending_counts = np.zeros(rows, dtype=np.int64)
        self.length, self.max_len = length, capacity

    def unused_leading_slots(self) -> int:
        """How many filled slots at the front no row uses (their rows have left the batch)."""
        used = self.key_mask[:, :self.length].any(axis=0)  # (length,)
        return int(np.argmax(used)) if used.any() else self.length

    def make_room(self, n_slots: int) -> None:
        """Make sure ``n_slots`` more tokens fit: drop the unused leading slots (every row keeps its
        keys, positions and mask, moved to the front), then grow the buffers if still short."""
        if self.length + n_slots <= self.max_len:
            return
        drop = self.unused_leading_slots()
        if drop:
            kept = self.length - drop
            for buffers in (self.keys, self.values):
                for buffer in buffers:
                    buffer[:, :, :kept] = buffer[:, :, drop:self.length].copy()
            self.key_mask[:, :kept] = self.key_mask[:, drop:self.length].copy()
            self.key_mask[:, kept:] = False
            self.length = kept
        if self.length + n_slots > self.max_len:
            capacity = max(2 * self.max_len, self.length + n_slots)
            module = self.array_module
            for buffers in (self.keys, self.values):
                for layer_index, buffer in enumerate(buffers):
                    grown = module.zeros(buffer.shape[:2] + (capacity,) + buffer.shape[3:], dtype=buffer.dtype)
                    grown[:, :, :self.length] = buffer[:, :, :self.length]
                    buffers[layer_index] = grown
            key_mask = np.zeros((self.batch_size, capacity), dtype=bool)  # (B, max_len)
            key_mask[:, :self.length] = self.key_mask[:, :self.length]
            self.key_mask, self.max_len = key_mask, capacity
