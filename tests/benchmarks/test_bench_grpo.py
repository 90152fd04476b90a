"""bench_grpo's mapping of minireason's GRPO settings onto TRL's GRPOConfig (no TRL needed)."""

import sys
from argparse import Namespace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_grpo  # noqa: E402

from minireason.posttrain.grpo import GRPOConfig  # noqa: E402

BENCHMARK = Namespace(steps=4, prompts=16, group=8, temperature=1.2, max_new_tokens=128, micro_batch_size=64)


def test_the_benchmark_settings_map_to_one_trl_update_of_the_same_batch():
    settings = bench_grpo.trl_settings(bench_grpo.benchmark_config(BENCHMARK))
    # 16 prompts x 8 completions, two micro-batches of 64 rows, one optimizer step
    assert settings["per_device_train_batch_size"] == 64
    assert settings["gradient_accumulation_steps"] == 2
    assert settings["num_generations"] == 8
    assert settings["num_iterations"] == 1
    assert (settings["temperature"], settings["top_p"], settings["top_k"]) == (1.2, 1.0, 0)
    assert settings["max_completion_length"] == 128
    assert settings["beta"] == 0.0 and settings["scale_rewards"] == "group"
    # GRPO's default aggregation is sum / N; TRL's dr_grpo divides by N x 128 more: clip and eps follow
    assert settings["loss_type"] == "dr_grpo"
    assert settings["max_grad_norm"] == pytest.approx(1.0 / 128)
    assert settings["adam_epsilon"] == pytest.approx(1e-8 / 128)
    assert (settings["learning_rate"], settings["adam_beta1"], settings["adam_beta2"]) == (1e-4, 0.9, 0.99)
    assert settings["lr_scheduler_type"] == "constant" and settings["report_to"] == "none"
    assert settings["use_vllm"] is False and settings["bf16"] is False


@pytest.mark.parametrize("aggregation, loss_type", [("token-mean", "dapo"), ("seq-mean-token-mean", "grpo"),
                                                     ("seq-mean-token-sum-norm", "dr_grpo")])
def test_an_aggregation_trl_normalises_the_same_way_keeps_the_clip_and_eps(aggregation, loss_type):
    config = GRPOConfig(aggregation=aggregation, drop_zero_variance=False, max_new_tokens=64)
    settings = bench_grpo.trl_settings(config)
    assert settings["loss_type"] == loss_type
    assert (settings["max_grad_norm"], settings["adam_epsilon"]) == (1.0, 1e-8)


@pytest.mark.parametrize("change", [dict(epochs=2), dict(loss="gspo"), dict(drop_zero_variance=True),
                                    dict(schedule="cosine"), dict(advantage="rloo"), dict(micro_batch_size=48)])
def test_settings_trl_cannot_run_the_same_way_are_refused(change):
    config = GRPOConfig(**{"drop_zero_variance": False, **change})
    with pytest.raises(bench_grpo.UnmappedSetting):
        bench_grpo.trl_settings(config)
