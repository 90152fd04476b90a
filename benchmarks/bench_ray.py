"""What scaling out on Ray costs and gives on this machine: evaluation throughput, the overhead per
task and per weight sync, and a GRPO step split into rollout, weight sync and learner time.

    python benchmarks/bench_ray.py                       # everything, 1 and 2 workers
    python benchmarks/bench_ray.py --parts eval sync     # some of it

- eval: ``run_evaluation`` of builtin:base on ``--problems`` additions (greedy, ``--max-new-tokens``),
  in this process and on 1 and 2 workers (one BLAS thread each): problems/s and generated tokens/s
  (the actors' start is timed apart, as "start").
- sync: for builtin:base and a random Qwen3 model of the ``small`` preset, the overhead of one task
  (a function that does nothing, mapped over ``--tasks`` jobs on 2 workers: seconds per job) and of
  one weight sync (``RayExecutor.publish``: ``ray.put`` of the parameters and every actor rebuilding
  its replica from them; the median of ``--syncs``).
- grpo: ``--steps`` GRPO steps of ``--grpo-model`` (builtin:base; P = ``--prompts``, G = ``--group``) with 1 and 2
  rollout workers; per step (the first, a warm-up, left out): rollout seconds (sampling and rewards, as
  the driver waited), weight-sync seconds and learner seconds, medians.

The machine's cores bound what workers can give: on 2 cores, 2 workers cannot beat one process by
much, since the single process's BLAS already uses both; the figures show the overheads.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from minireason.config import PRESETS
from minireason.evaluation.runs import EvalSettings, read_records, run_evaluation
from minireason.io.pretrained import load_pretrained
from minireason.model import Qwen3Model
from minireason.posttrain.grpo import GRPOConfig, train_grpo
from minireason.scaleout import RayExecutor, import_ray
from minireason.tasks.export import resolve_data


def nothing(model, tokenizer, job):
    return job


def bench_eval(args, ray) -> None:
    model, tokenizer = load_pretrained("builtin:base")
    problems = resolve_data(f"task:addition?n={args.problems}&split=test&difficulty=3")
    settings = EvalSettings(batch_size=args.batch_size, max_new_tokens=args.max_new_tokens)
    print(f"eval: builtin:base, {args.problems} problems, batch {args.batch_size}, greedy, "
          f"max {args.max_new_tokens} new tokens")
    print(f"  {'where':<16} {'start s':>8} {'run s':>7} {'problems/s':>10} {'tokens/s':>9}")
    for workers in (0, *args.workers):
        with tempfile.TemporaryDirectory() as directory:
            started = time.perf_counter()
            executor = RayExecutor(model, tokenizer, workers=workers) if workers else None
            start_seconds = time.perf_counter() - started
            try:
                started = time.perf_counter()
                run_evaluation(model, tokenizer, problems, os.path.join(directory, "r.jsonl"), settings,
                               progress=False, executor=executor)
                seconds = time.perf_counter() - started
            finally:
                if executor is not None:
                    executor.close()
            tokens = sum(record["generated_tokens"] for record in read_records(os.path.join(directory, "r.jsonl")))
        where = "this process" if not workers else f"{workers} worker" + "s" * (workers > 1)
        print(f"  {where:<16} {start_seconds:8.2f} {seconds:7.2f} {args.problems / seconds:10.2f} "
              f"{tokens / seconds:9.1f}")


def bench_sync(args, ray) -> None:
    _, tokenizer = load_pretrained("builtin:base")
    models = {"builtin:base": load_pretrained("builtin:base")[0],
              "small (random)": Qwen3Model.from_config(PRESETS["small"], seed=0)}
    print(f"overheads on 2 workers: a task that does nothing ({args.tasks} jobs), a weight sync "
          f"(median of {args.syncs})")
    print(f"  {'model':<16} {'parameters':>11} {'MB':>7} {'ms/task':>8} {'ms/sync':>8}")
    for name, model in models.items():
        with RayExecutor(model, tokenizer, workers=2) as executor:
            list(executor.map(nothing, range(4)))  # warm
            started = time.perf_counter()
            list(executor.map(nothing, range(args.tasks)))
            per_task = (time.perf_counter() - started) / args.tasks
            syncs = [executor.publish(model) for _ in range(args.syncs)]
        megabytes = sum(value.nbytes for value in model.params.values()) / 1e6
        print(f"  {name:<16} {model.num_parameters():>11,} {megabytes:7.1f} {1000 * per_task:8.2f} "
              f"{1000 * statistics.median(syncs):8.1f}")


def bench_grpo(args, ray) -> None:
    records = resolve_data("task:addition?n=100&split=train&difficulty=1")
    config = GRPOConfig(steps=args.steps, prompts_per_step=args.prompts, group_size=args.group,
                        max_new_tokens=args.grpo_max_new_tokens, eval_every=1000, checkpoint_every=1000,
                        drop_zero_variance=False, seed=0)
    print(f"grpo: {args.grpo_model}, P={args.prompts} x G={args.group}, max {args.grpo_max_new_tokens} new tokens, "
          f"medians of steps 2..{args.steps}")
    print(f"  {'rollouts':<16} {'rollout s':>9} {'reward s':>8} {'sync s':>7} {'learner s':>9} {'step s':>7}")
    for workers in (0, *args.workers):
        model, tokenizer = load_pretrained(args.grpo_model)
        executor = RayExecutor(model, tokenizer, workers=workers) if workers else None
        try:
            with tempfile.TemporaryDirectory() as directory:
                rows = train_grpo(model, tokenizer, records, config, directory, progress=False,
                                  rollout_executor=executor)["metrics"]
        finally:
            if executor is not None:
                executor.close()
        timed = rows[1:] or rows

        def median(key, timed=timed):
            return statistics.median(row.get(key, 0.0) for row in timed)

        where = "this process" if not workers else f"{workers} worker" + "s" * (workers > 1)
        total = median("rollout_seconds") + median("weight_sync_seconds") + median("learner_seconds")
        print(f"  {where:<16} {median('rollout_seconds'):9.3f} {median('reward_seconds'):8.3f} "
              f"{median('weight_sync_seconds'):7.3f} {median('learner_seconds'):9.3f} {total:7.3f}")


PARTS = {"eval": bench_eval, "sync": bench_sync, "grpo": bench_grpo}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", choices=list(PARTS), default=list(PARTS))
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--problems", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--syncs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--group", type=int, default=4)
    parser.add_argument("--grpo-model", default="builtin:base")
    parser.add_argument("--grpo-max-new-tokens", type=int, default=64)
    args = parser.parse_args()
    ray = import_ray()
    ray.init(num_cpus=max(args.workers), include_dashboard=False, log_to_driver=False)
    try:
        print(f"{os.cpu_count()} cores; workers use one BLAS thread each, this process its default")
        for part in args.parts:
            PARTS[part](args, ray)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
