"""Pretraining the tiny built-in models on the synthetic task corpus.

Recipe (every choice is a field of :class:`PretrainRecipe`):
1. Draw train-split problems of every task family (``minireason.tasks``), at a mix of difficulties.
2. Each example is a prompt in one of two styles and the matching completion:
   ``direct`` ("... Answer directly.\\n" -> ``\\boxed{5218}``) or
   ``cot`` ("... Think step by step.\\n" -> ``<think> ... </think> \\boxed{5218}``).
   A controlled fraction of the traces carry one deliberate mistake, so the model learns to
   make plausible errors that sampling, voting and RL can later fix.
3. Train a byte-level BPE tokenizer on the corpus (``train_bpe``).
4. Train a Qwen3-architecture model with the loss on completion tokens only, with the shared
   training loop (AdamW, warmup + cosine, clipping, metrics, checkpoints, exact resume).
5. Save a Hugging Face-style directory: config.json, model.safetensors, tokenizer.json, ...

The run directory records its recipe (``run/recipe.json``, every field but ``steps``) and the
training loop's checkpoints carry it too: a resume with another recipe (another seed draws other
problems and another tokenizer) is refused naming the fields that differ, before the run's
tokenizer is touched; a resume may ask for more steps, not fewer (the loop refuses those).
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from minireason.atomic import atomic_write_text
from minireason.config import ModelConfig
from minireason.errors import CheckpointError
from minireason.evaluation.prompts import PromptSpec
from minireason.generation.sequences import pack_completions
from minireason.identity import describe_differences
from minireason.io.bpe_trainer import train_bpe
from minireason.io.pretrained import save_pretrained
from minireason.io.tokenizer import Tokenizer
from minireason.model import Qwen3Model
from minireason.run_folder import claim_run_folder
from minireason.scaling.prompts import critique_prompt, revise_prompt
from minireason.tasks import get_family
from minireason.tasks.base import make_flawed, review, split_of
from minireason.training.checkpoint import OLD_PREFIX, checkpoint_step
from minireason.training.loop import TrainConfig, train

END_OF_TEXT = "<|endoftext|>"


@dataclass
class PretrainRecipe:
    """How one built-in model is pretrained from a seed: its shape, its tokenizer's vocabulary, its data and schedule."""
    name: str
    hidden_size: int = 128
    intermediate_size: int = 384
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: int = 32
    vocab_size: int = 384
    max_position_embeddings: int = 512
    steps: int = 8000
    batch_size: int = 32
    learning_rate: float = 3e-3
    warmup_steps: int = 100
    weight_decay: float = 0.01
    families: tuple[str, ...] = ("addition", "arithmetic", "linear_equation", "countdown")
    problems_per_family: int = 4000
    cot_fraction: float = 0.6  # share of examples in chain-of-thought style
    flawed_fraction: float = 0.15  # share of traces with one deliberate mistake
    max_tokens: int = 256
    seed: int = 0
    # each chain of thought worked in a way drawn at random from those its family knows
    # (``strategies_for``), not only the family's default: several paths per problem, whose
    # slips differ, so sampled chains disagree where they err
    mixed_strategies: bool = False
    # family -> the strategies the mix draws from (those of them that work the problem, in the
    # family's order); a family not named draws from all its ``strategies_for``
    strategies: dict = field(default_factory=dict)
    # share of chains of thought that also become the two self-refinement requests
    # (``scaling.prompts``): the chain under review -> a review naming its first wrong step (or
    # saying it is correct), and the chain with its review -> the right chain worked the same way
    refine_fraction: float = 0.0
    # the difficulty of each family's held-out measurement (inside the training range)
    eval_difficulties: dict = field(default_factory=lambda: {
        "addition": 3, "arithmetic": 2, "linear_equation": 2, "countdown": 2})
    # family -> the difficulties to draw from: easy enough that a model this small learns the
    # traces in minutes, so the measured accuracies sit between 0% and 100%
    difficulties: dict = field(default_factory=lambda: {
        "addition": [1, 2, 3], "arithmetic": [1, 2, 3], "linear_equation": [1, 2], "countdown": [1, 2]})


# The shipped models' ways: addition's chains each take one of five column ways at random (every
# line one digit sum, the digits reached by different routes, so sampled chains misread the problem
# differently and a vote can fix what one chain gets wrong: docs/builtin_models.md); the other
# families keep their default way, whose alternatives were never measured on the full recipe.
SHIPPED_WAYS = {"addition": ["columns", "commuted", "carry first", "reversed", "places"],
                "arithmetic": ["precedence"], "linear_equation": ["x left"]}

RECIPES = {
    "base": PretrainRecipe(name="base", problems_per_family=16000, mixed_strategies=True, strategies=SHIPPED_WAYS),
    "student": PretrainRecipe(name="student", hidden_size=64, intermediate_size=192, num_hidden_layers=2,
                              num_attention_heads=4, num_key_value_heads=2, head_dim=16, steps=4000,
                              problems_per_family=16000, mixed_strategies=True, strategies=SHIPPED_WAYS),
}


def build_examples(recipe: PretrainRecipe) -> list[tuple[str, str, dict]]:
    """(prompt, completion, info) triples from train-split problems of every family."""
    rng = random.Random(recipe.seed)
    examples = []
    for family_name in recipe.families:
        family = get_family(family_name)
        difficulties = recipe.difficulties.get(family_name) or list(range(1, family.default_difficulty + 1))
        seen = set()
        attempts = 0
        while len(seen) < recipe.problems_per_family and attempts < 20 * recipe.problems_per_family:
            attempts += 1
            problem = family.generate(rng, rng.choice(difficulties))
            if problem.text in seen or split_of(problem.text) != "train":
                continue
            seen.add(problem.text)
            if rng.random() < recipe.cot_fraction:
                flawed = rng.random() < recipe.flawed_fraction
                strategy = None
                if recipe.mixed_strategies and hasattr(family, "strategies_for"):
                    usable = family.strategies_for(problem)
                    if family_name in recipe.strategies:  # none of the named ones fits: the family's default
                        usable = [way for way in usable if way in recipe.strategies[family_name]] or usable[:1]
                    strategy = rng.choice(usable)
                ways = {} if strategy is None else {"strategy": strategy}
                before_trace = rng.getstate()  # the right trace worked the same way draws the same order
                if strategy is not None:
                    trace = family.write_trace(problem, rng, mistake=flawed, **ways)
                elif flawed:
                    trace = make_flawed(family, problem, rng).trace_completion
                else:
                    trace = problem.trace_completion
                info = {"family": family_name, "style": "cot", "flawed": flawed, "strategy": strategy}
                examples.append((PromptSpec("cot").text(problem.text), trace + END_OF_TEXT, info))
                if recipe.refine_fraction and rng.random() < recipe.refine_fraction:
                    same_way = random.Random()
                    same_way.setstate(before_trace)
                    correct = family.write_trace(problem, same_way, **ways)
                    critique = review(trace, correct)
                    examples.append((critique_prompt(problem.text, trace), critique + END_OF_TEXT,
                                     {**info, "style": "critique"}))
                    examples.append((revise_prompt(problem.text, trace, critique), correct + END_OF_TEXT,
                                     {**info, "style": "revise"}))
            else:
                examples.append((PromptSpec("direct").text(problem.text), problem.direct_completion + END_OF_TEXT,
                                 {"family": family_name, "style": "direct", "flawed": False,
                                  "strategy": None}))
    rng.shuffle(examples)
    return examples


def build_tokenizer(examples, vocab_size: int):
    """A byte-level BPE tokenizer of ``vocab_size`` trained on the examples' text, with ``<|endoftext|>`` as end and padding token."""
    texts = [prompt + completion.replace(END_OF_TEXT, "") for prompt, completion, _ in examples]
    tokenizer = train_bpe(texts, vocab_size)
    tokenizer.set_special_tokens(eos_token=END_OF_TEXT, pad_token=END_OF_TEXT)
    return tokenizer


def model_config(recipe: PretrainRecipe, tokenizer) -> ModelConfig:
    """The ``ModelConfig`` of a recipe's model for ``tokenizer``'s vocabulary."""
    return ModelConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=recipe.hidden_size, intermediate_size=recipe.intermediate_size,
        num_hidden_layers=recipe.num_hidden_layers, num_attention_heads=recipe.num_attention_heads,
        num_key_value_heads=recipe.num_key_value_heads, head_dim=recipe.head_dim, rope_theta=10000.0,
        max_position_embeddings=recipe.max_position_embeddings, tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
    )


# fields added to the recipe later, left out of its identity while they hold these values, so a run
# begun before they existed still resumes
LATER_FIELDS = {"mixed_strategies": False, "refine_fraction": 0.0, "strategies": {}}


def recipe_identity(recipe: PretrainRecipe) -> dict:
    """The recipe's fields that make a run what it is: all but its length (``steps``), as JSON holds them."""
    values = asdict(recipe)
    del values["steps"]  # a resume may extend a run
    for name, default in LATER_FIELDS.items():
        if values[name] == default:
            del values[name]
    return json.loads(json.dumps(values))


def _has_checkpoint(run_dir: Path) -> bool:
    return (run_dir / "checkpoint").exists() or any(run_dir.glob(f"{OLD_PREFIX}*"))


def _saved_recipe(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path}: unreadable ({error}); start over (--no-resume) or use another "
                              "--out-dir") from None


def pretrain(recipe: PretrainRecipe, out_dir, resume: bool = True, progress: bool = True, log=print) -> dict:
    """Train one built-in model; writes ``out_dir/run`` (metrics, checkpoint) and ``out_dir/model`` (HF dir).

    ``out_dir`` is claimed as a run folder of ``pretrain`` first (minireason/run_folder.py): a folder
    of the user's or of another command, or one another process is writing, is refused before any work.
    """
    with claim_run_folder(out_dir, "pretrain") as folder:
        if folder.resumed and resume and _has_checkpoint(Path(out_dir) / "run"):
            log(f"[{recipe.name}] resuming {out_dir} at step {checkpoint_step(Path(out_dir) / 'run')} "
                f"of {recipe.steps}")
        return _pretrain(recipe, Path(out_dir), resume, progress, log)


def _pretrain(recipe: PretrainRecipe, out_dir: Path, resume: bool, progress: bool, log) -> dict:
    run_dir, model_dir = out_dir / "run", out_dir / "model"
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    examples = build_examples(recipe)
    log(f"[{recipe.name}] {len(examples)} training examples from {', '.join(recipe.families)}")
    tokenizer_path, recipe_path = run_dir / "tokenizer.json", run_dir / "recipe.json"
    identity = recipe_identity(recipe)
    if resume and _has_checkpoint(run_dir):  # the tokenizer belongs to the checkpoint: keep both
        saved = _saved_recipe(recipe_path)
        if saved is not None and saved != identity:
            differing = describe_differences(saved, identity)
            raise CheckpointError(f"{run_dir} holds a checkpoint of another recipe ({differing}); use another "
                                  "--out-dir, or start over (--no-resume / resume=False)")
        if not tokenizer_path.is_file():
            raise CheckpointError(f"{run_dir} holds a checkpoint but no tokenizer.json to go with it; start over "
                                  "(--no-resume / resume=False)")
        tokenizer = Tokenizer.from_file(tokenizer_path)
    else:
        tokenizer = build_tokenizer(examples, recipe.vocab_size)
        tokenizer.save(tokenizer_path)
        atomic_write_text(recipe_path, json.dumps(identity, indent=1) + "\n")
    config = model_config(recipe, tokenizer)
    prompts = tokenizer.encode_batch([prompt for prompt, _, _ in examples])
    completions = tokenizer.encode_batch([completion for _, completion, _ in examples])
    lengths = np.array([len(p) + len(c) for p, c in zip(prompts, completions)])
    log(f"[{recipe.name}] tokenizer: {tokenizer.vocab_size} tokens; example length mean {lengths.mean():.1f}, "
        f"max {lengths.max()} tokens; model: {config.num_parameters():,} parameters")
    model = Qwen3Model.from_config(config, seed=recipe.seed)
    pad_id = tokenizer.pad_token_id

    # Length buckets: a batch is drawn from one bucket (chosen with probability proportional to
    # its size), so every example is still equally likely but rows are padded far less.
    order = np.argsort(lengths, kind="stable")
    buckets = [bucket for bucket in np.array_split(order, 8) if len(bucket)]
    bucket_weights = np.array([len(bucket) for bucket in buckets], dtype=np.float64) / len(order)

    def step_fn(model, rng, step):
        bucket = buckets[rng.choice(len(buckets), p=bucket_weights)]
        rows = bucket[rng.integers(0, len(bucket), recipe.batch_size)]
        input_ids, targets, loss_mask, _ = pack_completions(
            [prompts[i] for i in rows], [completions[i] for i in rows], pad_id, recipe.max_tokens
        )
        loss, grads = model.loss_and_grads(input_ids, targets, loss_mask)
        return loss, grads, {"tokens": int(loss_mask.sum())}

    train_config = TrainConfig(steps=recipe.steps, learning_rate=recipe.learning_rate,
                               warmup_steps=recipe.warmup_steps, weight_decay=recipe.weight_decay,
                               seed=recipe.seed, log_every=25, checkpoint_every=100)
    summary = train(model, step_fn, train_config, run_dir, resume=resume, progress=progress,
                    run_identity={"pretrain_recipe": identity})
    model.generation_config = {"eos_token_id": tokenizer.eos_token_id, "temperature": 0.7, "top_p": 1.0, "top_k": 0}
    save_pretrained(model_dir, model, tokenizer)
    atomic_write_text(model_dir / "recipe.json", json.dumps(asdict(recipe), indent=1) + "\n")
    summary.update(name=recipe.name, parameters=config.num_parameters(), examples=len(examples),
                   total_seconds=time.perf_counter() - started, model_dir=str(model_dir))
    return summary
