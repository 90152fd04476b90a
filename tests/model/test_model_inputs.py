"""The model's inputs at the edges: positions past the context window, an empty loss mask."""

import dataclasses
import math

import numpy as np
import pytest

from minireason.config import PRESETS
from minireason.errors import InputError
from minireason.model import Qwen3Model
from minireason.nn.loss import masked_mean_nll


def test_positions_past_the_context_window_are_refused():
    config = dataclasses.replace(PRESETS["test-tiny"], max_position_embeddings=8)
    model = Qwen3Model.from_config(config, seed=0, dtype="float64")
    ids = np.arange(9)[None, :] % config.vocab_size
    loss, _ = model.loss_and_grads(ids[:, :-1], ids[:, 1:])  # 8 positions: the whole window
    assert math.isfinite(loss)
    with pytest.raises(InputError, match="max_position_embeddings 8"):
        model.loss_and_grads(ids, ids)  # 9 positions
    with pytest.raises(InputError, match="max_position_embeddings 8"):
        model.forward(ids[:, :2], position_ids=np.array([[0, 8]]))

    from minireason.generation.kv_cache import KVCache

    cache = KVCache(config, 1, 16, dtype=np.float64)
    model.forward(ids[:, :6], kv_cache=cache, last_only=True)
    with pytest.raises(InputError, match="cached tokens included"):
        model.forward(ids[:, :3], kv_cache=cache, last_only=True)  # positions 6, 7, 8


def test_empty_loss_mask_gives_positive_zero_and_zero_gradient():
    logp = -np.random.default_rng(0).random((2, 3))
    loss, dlogp, _ = masked_mean_nll(np.zeros((2, 3), dtype=bool))(logp)
    assert loss == 0.0 and math.copysign(1.0, loss) == 1.0
    assert not np.any(dlogp)
