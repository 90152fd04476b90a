"""A resumed pretraining run is the same run or is refused, naming what changed."""

import json
import stat

import numpy as np
import pytest

from minireason.atomic import default_file_mode
from minireason.errors import CheckpointError, InputError


def _tiny_recipe(**changes):
    from minireason.training.pretrain import PretrainRecipe

    values = dict(name="tiny", hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                  num_key_value_heads=1, head_dim=8, vocab_size=270, max_position_embeddings=128, steps=2,
                  batch_size=2, warmup_steps=0, families=("addition",), problems_per_family=6, max_tokens=64,
                  difficulties={"addition": [1]}, eval_difficulties={"addition": 1})
    return PretrainRecipe(**{**values, **changes})


def test_pretrain_resume_refuses_another_seed_or_fewer_steps_and_extends(tmp_path):
    from minireason.training.pretrain import pretrain

    def run(**changes):
        return pretrain(_tiny_recipe(**changes), tmp_path, progress=False, log=lambda *_: None)

    run()
    tokenizer_before = (tmp_path / "run" / "tokenizer.json").read_bytes()
    checkpoint_before = (tmp_path / "run" / "checkpoint" / "params.safetensors").read_bytes()
    with pytest.raises(CheckpointError, match=r"another recipe \(seed: 0 -> 1\).*--no-resume"):
        run(seed=1, steps=3)
    with pytest.raises(CheckpointError, match="problems_per_family: 6 -> 7"):
        run(problems_per_family=7, steps=3)
    with pytest.raises(CheckpointError, match="past the 1 steps asked for"):
        run(steps=1)
    # nothing of the run was touched by the refused resumes
    assert (tmp_path / "run" / "tokenizer.json").read_bytes() == tokenizer_before
    assert (tmp_path / "run" / "checkpoint" / "params.safetensors").read_bytes() == checkpoint_before
    run(steps=3)  # more steps: the same run goes on
    state = json.loads((tmp_path / "run" / "checkpoint" / "state.json").read_text())
    assert state["step"] == 3 and state["identity"]["pretrain_recipe"]["seed"] == 0
    recipe = json.loads((tmp_path / "model" / "recipe.json").read_text())
    assert recipe["steps"] == 3 and recipe["families"] == ["addition"]
    assert stat.S_IMODE((tmp_path / "model" / "recipe.json").stat().st_mode) == default_file_mode()
    # the loop's own check stands behind the recipe file: without it, the checkpoint still refuses
    (tmp_path / "run" / "recipe.json").unlink()
    with pytest.raises(CheckpointError, match="pretrain_recipe"):
        run(seed=1, steps=4)
    # starting over is always possible
    pretrain(_tiny_recipe(seed=1, steps=1), tmp_path, resume=False, progress=False, log=lambda *_: None)
    assert json.loads((tmp_path / "run" / "recipe.json").read_text())["seed"] == 1


@pytest.mark.parametrize("seed", [-1, 2**63, 1.5, "3", True, None])
def test_train_config_seed_is_an_int_in_range(seed):
    from minireason.training.loop import TrainConfig

    with pytest.raises(InputError, match=r"seed must be an int >= 0 and < 2\*\*63"):
        TrainConfig(steps=1, seed=seed)
    assert TrainConfig(steps=1, seed=np.int64(2**63 - 1)).seed == 2**63 - 1
