"""Where a GRPO step spends its time, per minireason backend and against TRL's ``GRPOTrainer`` on the
same model, prompts, reward, objective and sampling: rollout (sampling, then grading) against learner
(forward, backward, optimizer), tokens/s of each, and peak memory.

    python benchmarks/bench_grpo.py                                  # numpy, numba, trl; 16 x 8, T 1.2, 128 tokens
    python benchmarks/bench_grpo.py --rounds 2 --threads 1           # one thread a side, two rounds in turns
    python benchmarks/bench_grpo.py --sides numba trl --steps 5 --trl-python /path/to/venv/bin/python

Sides: ``numpy`` and ``numba`` are ``minireason.posttrain.grpo.train_grpo`` with that backend; ``trl``
is TRL's ``GRPOTrainer`` (PyTorch eager, float32, on the CPU), run by ``--trl-python`` (default: this
interpreter if it imports trl, else ``sides.FALLBACK_PYTHON`` if that does; otherwise the side is
skipped with a one-line message: TRL is never a minireason dependency).  Every side runs in its own
fresh process, the sides in turns (numpy, numba, trl, numpy, ...) ``--rounds`` times, each doing
``--steps`` GRPO steps; the first step of a process is a warm-up (numba compiles, torch allocates)
and the figures are those of the fastest later step over all rounds (its rollout / reward / learner
split).  Threads are the user's (the libraries' defaults, or what is exported) unless ``--threads N``,
which every child gets through the thread variables before anything loads, and which the TRL child
also gives ``torch.set_num_threads``.

What is the same on both sides:
- model: builtin:base (a Hugging Face Qwen3 folder, loaded by transformers in float32 for TRL);
- data and prompts: ``task:addition?n=2000&split=train&difficulty=3``, each prompt the text
  minireason's GRPO builds (``PromptSpec("cot", prompt_format).text(problem)``), P prompts a step,
  G completions each, stopping at eos (the plain format has no stop strings) or at the token limit;
- reward: minireason's ``correctness_reward`` (the one judge), wrapped as a TRL reward function;
- objective and optimizer: ``trl_settings`` maps the GRPOConfig the minireason sides run onto TRL's
  GRPOConfig, setting by setting (its docstring lists the mapping), and refuses settings TRL cannot
  express.
How each side's step is split:
- minireason: its own metrics (``rollout_seconds`` = sampling + rewards; ``reward_seconds`` = the
  rewards alone; ``learner_seconds`` = packing, advantages, forward/backward of every micro-batch and
  the optimizer update).
- TRL: a subclass times ``_generate_and_score_completions`` (tokenising, ``generate``, decoding,
  rewards, advantages: the rollout) and ``_calculate_rewards`` inside it (the reward); a callback
  times the optimizer step from ``on_step_begin`` to ``on_step_end`` (both micro-batches' training
  steps, the rollout inside the first, clipping, ``optimizer.step``, the schedule, ``zero_grad``);
  learner = step - rollout.
"step s" = rollout + learner.  "gen tokens" = completion tokens sampled in the step (random: the
sides draw different completions; the mean length is printed), "rollout tok/s" = gen tokens / rollout
s, "learner tok/s" = prompt + completion tokens through forward and backward / learner s.  "peak MiB"
= the process's peak resident set size (weights, caches, libraries).  "TRL / this" = TRL's step time
over the side's: > 1 is faster than TRL.
"""

from __future__ import annotations

import _thread_limits  # first: thread counts before NumPy loads its BLAS

# isort: split
import argparse
import dataclasses
import json
import sys
import tempfile
import time

import sides as side_processes

MINIREASON_SIDES = ("numpy", "numba")
DATA = "task:addition?n=2000&split=train&difficulty={difficulty}"


def benchmark_config(args):
    """The GRPOConfig the minireason sides run: GRPO's defaults but for the benchmark's sizes, no
    evaluation, every group kept (TRL has no zero-variance dropping)."""
    from minireason.posttrain.grpo import GRPOConfig

    return GRPOConfig(steps=args.steps, prompts_per_step=args.prompts, group_size=args.group,
                      temperature=args.temperature, max_new_tokens=args.max_new_tokens, eval_every=0,
                      checkpoint_every=args.steps, micro_batch_size=args.micro_batch_size,
                      drop_zero_variance=False, seed=0)


# ----------------------------------------------------------------------------- the mapping to TRL
AGGREGATION_TO_TRL = {
    # minireason aggregation: (TRL loss_type, TRL's loss / ours); TRL's normalisers, grpo_trainer._compute_loss
    "seq-mean-token-sum-norm": ("dr_grpo", 1.0),  # sum / (N * max_completion_length)
    "seq-mean-token-sum": ("dr_grpo", None),  # ours is sum / N: TRL's is ours / max_completion_length
    "token-mean": ("dapo", 1.0),  # sum / (masked tokens of the whole accumulated batch)
    "seq-mean-token-mean": ("grpo", 1.0),  # mean over rows of (sum / len); exact for equal micro-batches
}


class UnmappedSetting(ValueError):
    """A minireason GRPO setting that TRL's GRPOTrainer cannot run the same way."""


def trl_settings(config) -> dict:
    """Keyword arguments of ``trl.GRPOConfig`` that run minireason's ``config`` (a GRPOConfig) the same
    way; pure (no TRL import), so that the mapping can be checked without TRL.

    minireason GRPOConfig                   TRL GRPOConfig
    prompts_per_step x group_size rows      generation_batch_size = per_device_train_batch_size x
                                            gradient_accumulation_steps (= steps_per_generation)
    micro_batch_size (rows a fwd/bwd)       per_device_train_batch_size; the rest is accumulation
    group_size                              num_generations
    epochs 1, minibatches 1                 num_iterations 1 (one optimizer update per batch: the
                                            sampler's log-probs are the learner's, ratio 1)
    loss grpo (-A logp) / ppo, clip_low,    TRL's clipped objective, epsilon / epsilon_high (at ratio 1
    clip_high                               its gradient is -A grad logp, as ours)
    aggregation (LOSS_DEFAULT_AGGREGATION)  loss_type (AGGREGATION_TO_TRL); the default, seq-mean-token-
                                            sum (sum / N), is Dr. GRPO's sum / (N x max_length) times
                                            max_length: TRL's gradient is ours / L, so max_grad_norm / L
                                            and adam_epsilon / L make every update the same (Adam's
                                            step is invariant to a gradient scale but for eps)
    advantage group, scale_by_std           scale_rewards "group" ("none" without the std); both the
                                            sample std (ours adds eps 1e-6, TRL 1e-4)
    kl_beta (k3 estimator)                  beta (TRL's KL is k3); 0: no reference model either side
    entropy_coef 0, mask_truncated          entropy_coef 0, mask_truncated_completions
    temperature, top_p, top_k, max_new_tokens   temperature, top_p, top_k, max_completion_length
    learning_rate, betas, weight_decay      learning_rate, adam_beta1/2, weight_decay (AdamW eps 1e-8)
    max_grad_norm                           max_grad_norm
    schedule constant, warmup_steps         lr_scheduler_type constant[_with_warmup], warmup_steps
    seed                                    seed
    eval_every 0, no hub                    eval_strategy no, report_to none, save_strategy no,
                                            use_vllm False, float32 (bf16 False), no gradient
                                            checkpointing (TRL's default is on), use_cpu
    """
    rows = config.prompts_per_step * config.group_size
    micro = min(config.micro_batch_size, rows)
    refusals = []
    if config.epochs != 1 or config.minibatches != 1:
        refusals.append(f"epochs {config.epochs} x minibatches {config.minibatches} (TRL: one update per batch "
                        f"here; num_iterations would re-sample the batch split)")
    if config.loss not in ("grpo", "ppo"):
        refusals.append(f"loss {config.loss!r}")
    if config.advantage != "group" or config.batch_normalize:
        refusals.append(f"advantage {config.advantage!r}, batch_normalize {config.batch_normalize}")
    if config.drop_zero_variance or config.dynamic_sampling:
        refusals.append("drop_zero_variance / dynamic_sampling (TRL keeps every group)")
    if config.kl_beta > 0 and (config.kl_estimator != "k3" or config.kl_in_reward):
        refusals.append(f"KL {config.kl_estimator} {'in the reward' if config.kl_in_reward else ''}")
    if config.entropy_coef != 0 or config.dual_clip is not None or config.overlong_buffer:
        refusals.append("entropy_coef, dual_clip, overlong_buffer")
    if config.reward != "correctness:1" or config.reward_combine != "sum":
        refusals.append(f"reward {config.reward!r}")
    if config.schedule != "constant":
        refusals.append(f"schedule {config.schedule!r}")
    if rows % micro:
        refusals.append(f"{rows} rows in micro-batches of {micro} (TRL's are all the same size)")
    if refusals:
        raise UnmappedSetting("TRL cannot run these settings the same way: " + "; ".join(refusals))
    loss_type, scale = AGGREGATION_TO_TRL[config.aggregation_mode]
    if scale is None:
        scale = 1.0 / config.max_new_tokens
    return {
        "per_device_train_batch_size": micro, "gradient_accumulation_steps": rows // micro,
        "num_generations": config.group_size, "num_iterations": 1,
        "loss_type": loss_type, "epsilon": config.clip_low, "epsilon_high": config.clip_high,
        "scale_rewards": "group" if config.scale_by_std else "none",
        "beta": config.kl_beta, "entropy_coef": 0.0, "mask_truncated_completions": config.mask_truncated,
        "temperature": config.temperature, "top_p": config.top_p, "top_k": config.top_k,
        "max_completion_length": config.max_new_tokens,
        "learning_rate": config.learning_rate, "adam_beta1": config.betas[0], "adam_beta2": config.betas[1],
        "adam_epsilon": 1e-8 * scale, "weight_decay": config.weight_decay,
        "max_grad_norm": config.max_grad_norm * scale,
        "lr_scheduler_type": "constant_with_warmup" if config.warmup_steps else "constant",
        "warmup_steps": config.warmup_steps, "max_steps": config.steps, "seed": config.seed,
        "use_vllm": False, "bf16": False, "fp16": False, "gradient_checkpointing": False, "use_cpu": True,
        "eval_strategy": "no", "save_strategy": "no", "report_to": "none", "logging_strategy": "no",
        "log_completions": False, "disable_tqdm": True, "dataloader_num_workers": 0,
    }


# ----------------------------------------------------------------------------- the sides' processes
# Each side imports what it runs inside its own function, so that the parent, which only starts and
# reads the sides, loads none of it, and the TRL side loads torch before any minireason module
# (numba and torch sharing one OpenMP runtime: docs/kernels.md, "Torch in the same process").
def minireason_child(args) -> dict:
    from minireason.backend import set_backend
    from minireason.io.pretrained import load_pretrained
    from minireason.posttrain.grpo import train_grpo
    from minireason.tasks.export import resolve_data

    set_backend(args.child)
    model, tokenizer = load_pretrained(args.model)
    records = resolve_data(DATA.format(difficulty=args.difficulty))
    with tempfile.TemporaryDirectory() as directory:
        rows = train_grpo(model, tokenizer, records, benchmark_config(args), directory, progress=False)["metrics"]
    steps = [{"rollout_seconds": row["rollout_seconds"], "reward_seconds": row["reward_seconds"],
              "learner_seconds": row["learner_seconds"],
              "generated_tokens": row["rollout_tokens_per_second"] * row["rollout_seconds"],
              "learner_tokens": row["learner_tokens_per_second"] * row["learner_seconds"],
              "response_length_mean": row["response_length_mean"], "reward_mean": row["reward_mean"]}
             for row in rows]
    return {"steps": steps, "peak_memory_bytes": side_processes.peak_resident_bytes()}


def trl_child(args) -> dict:
    import torch
    import transformers
    import trl
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

    from minireason.evaluation.prompts import PromptSpec
    from minireason.io.pretrained import builtin_directory
    from minireason.posttrain.rewards import Rollout, correctness_reward
    from minireason.tasks.export import resolve_data

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    config = benchmark_config(args)
    settings = trl_settings(config)
    folder = builtin_directory() / args.model.split(":", 1)[1] if args.model.startswith("builtin:") else args.model
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(folder)  # the folder's tokenizer_config.json names eos and pad
    records = resolve_data(DATA.format(difficulty=args.difficulty))
    prompt_spec = PromptSpec("cot", config.prompt_format)  # as minireason's GRPOTrainer builds its prompts
    dataset = Dataset.from_dict({"prompt": [prompt_spec.text(record["problem"]) for record in records],
                                 "index": list(range(len(records)))})

    def correctness(prompts, completions, completion_ids, index, **_):
        """minireason's reward (the one judge) of each completion."""
        return [correctness_reward(Rollout(record=records[i], prompt=prompt, completion=completion,
                                           num_tokens=len(ids), truncated=len(ids) >= config.max_new_tokens))
                for prompt, completion, ids, i in zip(prompts, completions, completion_ids, index)]

    timings = {"rollout": 0.0, "reward": 0.0, "generated": 0, "learner_tokens": 0}
    steps = []

    class TimedGRPOTrainer(trl.GRPOTrainer):
        def _generate_and_score_completions(self, inputs):
            started = time.perf_counter()
            output = super()._generate_and_score_completions(inputs)
            timings["rollout"] += time.perf_counter() - started
            timings["generated"] += int(output["completion_mask"].sum())
            # the learner's forward/backward runs over every row's prompt and completion tokens
            timings["learner_tokens"] += int(output["prompt_mask"].sum() + output["completion_mask"].sum())
            timings["length"] = float(output["completion_mask"].sum(dim=1).float().mean())
            return output

        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
            started = time.perf_counter()
            rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
            timings["reward"] += time.perf_counter() - started
            timings["reward_mean"] = float(rewards.mean())
            return rewards

    class StepTimer(TrainerCallback):
        def on_step_begin(self, arguments, state, control, **kwargs):
            timings.update(rollout=0.0, reward=0.0, generated=0, learner_tokens=0, started=time.perf_counter())

        def on_step_end(self, arguments, state, control, **kwargs):
            seconds = time.perf_counter() - timings["started"]
            steps.append({"rollout_seconds": timings["rollout"], "reward_seconds": timings["reward"],
                          "learner_seconds": seconds - timings["rollout"], "generated_tokens": timings["generated"],
                          "learner_tokens": timings["learner_tokens"], "response_length_mean": timings["length"],
                          "reward_mean": timings["reward_mean"]})

    if "activation_checkpointing" in {field.name for field in dataclasses.fields(trl.GRPOConfig)}:
        settings["activation_checkpointing"] = settings.pop("gradient_checkpointing")  # transformers >= 5.25's name
    with tempfile.TemporaryDirectory() as directory:
        trainer = TimedGRPOTrainer(model=model, reward_funcs=[correctness], processing_class=tokenizer,
                                   train_dataset=dataset, callbacks=[StepTimer()],
                                   args=trl.GRPOConfig(output_dir=directory, **settings))
        trainer.train()
    return {"steps": steps, "peak_memory_bytes": side_processes.peak_resident_bytes(),
            "versions": f"trl {trl.__version__}, transformers {transformers.__version__}, torch {torch.__version__}",
            "torch_threads": torch.get_num_threads()}


# ----------------------------------------------------------------------------- the parent
def fastest_step(steps: list[dict]) -> dict:
    """The fastest step (rollout + learner) of a side's timed steps, with its split and rates."""
    best = min(steps, key=lambda row: row["rollout_seconds"] + row["learner_seconds"])
    step = best["rollout_seconds"] + best["learner_seconds"]
    return {**best, "step_seconds": step,
            "rollout_tokens_per_second": best["generated_tokens"] / best["rollout_seconds"],
            "learner_tokens_per_second": best["learner_tokens"] / best["learner_seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="builtin:base")
    parser.add_argument("--sides", nargs="+", default=[*MINIREASON_SIDES, "trl"], choices=[*MINIREASON_SIDES, "trl"])
    parser.add_argument("--steps", type=int, default=4, help="GRPO steps per process (the first is a warm-up)")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--temperature", type=float, default=1.2)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--micro-batch-size", type=int, default=64)
    parser.add_argument("--difficulty", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="threads of every side (default: the user's)")
    parser.add_argument("--rounds", type=int, default=1, help="the sides in turns this many times; best step")
    parser.add_argument("--trl-python", default=None, help="interpreter with trl for the trl side")
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = trl_child(args) if args.child == "trl" else minireason_child(args)
        print(json.dumps(result))
        return
    benchmark_config(args)  # a bad setting fails here, once
    pythons = {name: sys.executable for name in args.sides if name != "trl"}
    if "trl" in args.sides:
        trl_python = side_processes.python_for("trl", args.trl_python)
        if trl_python is None:
            print("trl: not importable (pip install trl in another environment, --trl-python PATH): side skipped")
        else:
            pythons["trl"] = trl_python
    environments = {name: side_processes.child_environment(args.threads, torch=name == "trl") for name in pythons}
    options = ["--model", args.model, "--steps", str(args.steps), "--prompts", str(args.prompts), "--group",
               str(args.group), "--temperature", str(args.temperature), "--max-new-tokens", str(args.max_new_tokens),
               "--micro-batch-size", str(args.micro_batch_size), "--difficulty", str(args.difficulty)]
    options += ["--threads", str(args.threads)] if args.threads is not None else []
    print(f"{args.model}: P={args.prompts} x G={args.group}, temperature {args.temperature}, up to "
          f"{args.max_new_tokens} tokens, micro-batches of {args.micro_batch_size}; {args.steps} steps a process "
          f"(the first a warm-up), {args.rounds} round(s) in turns, fastest step; {_thread_limits.machine_line()}")
    timed: dict[str, list[dict]] = {name: [] for name in pythons}
    peaks: dict[str, int] = {}
    versions = {}
    for name, result in side_processes.in_turns(pythons, lambda name: [__file__, "--child", name, *options],
                                                environments, args.rounds):
        timed[name] += result["steps"][1:] or result["steps"]
        peaks[name] = max(peaks.get(name, 0), result["peak_memory_bytes"])
        if "versions" in result:
            versions[name] = f"{result['versions']}, torch threads {result['torch_threads']}"
    results = {name: {**fastest_step(steps), "peak_memory_bytes": peaks[name]} for name, steps in timed.items() if steps}
    for name, line in versions.items():
        print(f"{name}: {line}")
    print(f"{'side':8} {'rollout s':>9} {'reward s':>8} {'learner s':>9} {'step s':>7} {'gen tokens':>10} "
          f"{'mean len':>8} {'rollout tok/s':>13} {'learner tok/s':>13} {'peak MiB':>8} {'TRL / this':>10}")
    trl_step = results.get("trl", {}).get("step_seconds")
    for name, row in results.items():
        ratio = f"{trl_step / row['step_seconds']:.2f}x" if trl_step and name != "trl" else ""
        print(f"{name:8} {row['rollout_seconds']:9.2f} {row['reward_seconds']:8.3f} {row['learner_seconds']:9.2f} "
              f"{row['step_seconds']:7.2f} {row['generated_tokens']:10.0f} {row['response_length_mean']:8.1f} "
              f"{row['rollout_tokens_per_second']:13.0f} {row['learner_tokens_per_second']:13.0f} "
              f"{row['peak_memory_bytes'] / 2**20:8.0f} {ratio:>10}")
    if trl_step:
        for name, row in results.items():
            if name != "trl":
                trl = results["trl"]
                print(f"TRL / {name}: step {trl_step / row['step_seconds']:.2f}x, rollout "
                      f"{trl['rollout_seconds'] / row['rollout_seconds']:.2f}x (per generated token "
                      f"{row['rollout_tokens_per_second'] / trl['rollout_tokens_per_second']:.2f}x), learner "
                      f"{trl['learner_seconds'] / row['learner_seconds']:.2f}x")
    print(f"load average {', '.join(f'{value:.2f}' for value in _thread_limits.load_average())} at the end")
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"sides": results, "versions": versions, "threads": args.threads,
                       "load_average_end": _thread_limits.load_average()}, file, indent=1)


if __name__ == "__main__":
    main()
