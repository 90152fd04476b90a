"""KVCache.join and make_room: rows that join a running batch at different times, and rows that
leave, get the logits of the full forward of their own sequence (no cache, no other rows)."""

import numpy as np
import pytest

from minireason.config import PRESETS
from minireason.errors import InputError
from minireason.generation.kv_cache import KVCache
from minireason.model import Qwen3Model

CONFIG = PRESETS["test-tiny"].replace(vocab_size=260, max_position_embeddings=64)


@pytest.fixture(scope="module")
def model():
    return Qwen3Model.from_config(CONFIG, seed=5, dtype="float64")


def prefill(model, prompt, max_len=None):
    """A one-row cache holding ``prompt``, and the logits after its last token.  (V,)"""
    cache = KVCache(model.config, 1, max_len or len(prompt), dtype=model.dtype)
    logits, _ = model.forward(np.array([prompt]), kv_cache=cache, last_only=True)
    return cache, logits[0, -1]


def full_forward_last(model, sequence):
    logits, _ = model.forward(np.array([sequence]), last_only=True)
    return logits[0, -1]


@pytest.mark.parametrize("join_after", [0, 3, 9])
def test_rows_joining_later_and_leaving_match_their_own_forward(model, join_after):
    rng = np.random.default_rng(join_after)
    sequences = {"a": rng.integers(0, 260, 6).tolist(), "b": rng.integers(0, 260, 11).tolist(),
                 "c": rng.integers(0, 260, 2).tolist()}
    cache, _ = prefill(model, sequences["a"])
    rows = ["a"]
    for step in range(14):
        if step == join_after:  # b is longer than what a has written so far when join_after is 0
            joining, _ = prefill(model, sequences["b"])
            cache.join(joining)
            rows.append("b")
        if step == join_after + 2:
            joining, _ = prefill(model, sequences["c"])
            cache.join(joining)
            rows.append("c")
        if step == join_after + 4:  # a leaves; its slots become unused once compaction runs
            keep = [i for i, name in enumerate(rows) if name != "a"]
            cache.select_rows(keep)
            rows = [rows[i] for i in keep]
        new_tokens = rng.integers(0, 260, len(rows))
        cache.make_room(1)
        logits, _ = model.forward(new_tokens[:, None], kv_cache=cache, last_only=True)  # (B, 1, V)
        for i, name in enumerate(rows):
            sequences[name].append(int(new_tokens[i]))
            np.testing.assert_allclose(logits[i, -1], full_forward_last(model, sequences[name]), atol=1e-10)


def test_make_room_drops_unused_leading_slots_before_growing(model):
    cache, _ = prefill(model, [1, 2, 3, 4, 5, 6, 7, 8], max_len=10)
    joining, _ = prefill(model, [9, 10])
    cache.join(joining)
    cache.select_rows([1])  # the long row leaves: 6 leading slots are unused
    assert cache.unused_leading_slots() == 6
    cache.make_room(5)
    assert cache.length == 2 and cache.max_len == 10
    sequence = [9, 10, 11]
    logits, _ = model.forward(np.array([[11]]), kv_cache=cache, last_only=True)
    np.testing.assert_allclose(logits[0, -1], full_forward_last(model, sequence), atol=1e-10)
    cache.make_room(20)  # nothing to drop: the buffers grow
    assert cache.max_len >= cache.length + 20
    logits, _ = model.forward(np.array([[12]]), kv_cache=cache, last_only=True)
    np.testing.assert_allclose(logits[0, -1], full_forward_last(model, sequence + [12]), atol=1e-10)


def test_join_refuses_a_cache_of_another_model(model):
    cache, _ = prefill(model, [1, 2, 3])
    other = KVCache(CONFIG.replace(num_hidden_layers=CONFIG.num_hidden_layers + 1), 1, 4)
    with pytest.raises(InputError, match="different shapes"):
        cache.join(other)
    with pytest.raises(InputError, match="takes a KVCache"):
        cache.join("not a cache")
