"""minireason: a from-scratch reasoning-LLM codebase in NumPy.

The public API is re-exported here. Names are resolved lazily (PEP 562), so that
``import minireason`` stays fast and a reader can see in one table where each name lives.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_PUBLIC = {
    # model
    "ModelConfig": "minireason.config",
    "PRESETS": "minireason.config",
    "Qwen3Model": "minireason.model",
    # optimisation
    "AdamW": "minireason.optim",
    "clip_grad_norm": "minireason.optim",
    "cosine_schedule": "minireason.optim",
    # checkpoints and tokenizer
    "load_pretrained": "minireason.io.pretrained",
    "save_pretrained": "minireason.io.pretrained",
    "load_safetensors": "minireason.io.safetensors",
    "save_safetensors": "minireason.io.safetensors",
    "Tokenizer": "minireason.io.tokenizer",
    "train_bpe": "minireason.io.bpe_trainer",
    # generation
    "generate": "minireason.generation.generate",
    "stream_generate": "minireason.generation.generate",
    "KVCache": "minireason.generation.kv_cache",
    # evaluation
    "PromptSpec": "minireason.evaluation.prompts",
    "extract_answer": "minireason.evaluation.extract",
    "grade_answer": "minireason.evaluation.grader",
    "grade_batch": "minireason.evaluation.grader",
    "load_problems": "minireason.evaluation.datasets",
    "load_choice_records": "minireason.evaluation.multiple_choice",
    "run_multiple_choice": "minireason.evaluation.multiple_choice",
    "score_options": "minireason.evaluation.multiple_choice",
    "extract_letter": "minireason.evaluation.multiple_choice",
    "fit_bradley_terry": "minireason.evaluation.leaderboard",
    "leaderboard": "minireason.evaluation.leaderboard",
    "ModelJudge": "minireason.evaluation.model_judge",
    "choice_problems": "minireason.tasks.multiple_choice",
    # inference-time scaling
    "majority_vote": "minireason.scaling.voting",
    "self_consistency": "minireason.scaling.self_consistency",
    "best_of_n": "minireason.scaling.best_of_n",
    "self_refine": "minireason.scaling.self_refine",
    "pass_at_k": "minireason.scaling.metrics",
    "ModelSampler": "minireason.scaling.sampler",
    # judging, reinforcement learning, distillation and preference tuning
    "judge_completion": "minireason.tasks",  # the judge with the task families' verifiers registered
    "GRPOConfig": "minireason.posttrain.grpo",
    "train_grpo": "minireason.posttrain.grpo",
    "SFTConfig": "minireason.posttrain.sft",
    "DistillConfig": "minireason.posttrain.distill",
    "DPOConfig": "minireason.posttrain.dpo",
    "train_sft": "minireason.posttrain.sft",
    "train_distill": "minireason.posttrain.distill",
    "train_dpo": "minireason.posttrain.dpo",
    # the demo of every stage
    "DemoSettings": "minireason.demo",
    "run_demo": "minireason.demo",
    # synthetic tasks
    "generate_problems": "minireason.tasks",
    "resolve_data": "minireason.tasks.export",
    # backends
    "set_backend": "minireason.backend",
    "get_backend": "minireason.backend",
    "to_host": "minireason.device",
    # errors
    "MinireasonError": "minireason.errors",
    "ConfigError": "minireason.errors",
    "InputError": "minireason.errors",
    "CheckpointError": "minireason.errors",
    "TokenizerError": "minireason.errors",
    "DataError": "minireason.errors",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    module_name = _PUBLIC.get(name)
    if module_name is None:
        raise AttributeError(f"module 'minireason' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
