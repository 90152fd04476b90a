"""The Python generate API refuses seeds that are not ints in [0, 2**63)."""

import pytest

from minireason.config import PRESETS
from minireason.errors import InputError
from minireason.generation.generate import generate
from minireason.model import Qwen3Model


def test_api_generate_refuses_bad_seeds():
    model = Qwen3Model.from_config(PRESETS["test-tiny"], seed=0)
    for seed in (-1, 1.5, "3", True):
        with pytest.raises(InputError, match="seed must be None or an int >= 0"):
            generate(model, None, [[1, 2, 3]], 2, temperature=1.0, seed=seed)
    assert len(generate(model, None, [[1, 2, 3]], 2, temperature=1.0, seed=0)[0].token_ids) == 2
