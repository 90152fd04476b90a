"""Where one GRPO step's time goes: the rollout and the learner, each op of the backend timed, and
cProfile's top functions by own time.

    python benchmarks/profile_grpo_step.py --backend numba
    python benchmarks/profile_grpo_step.py --backend numba --threads 1 --profile learner

The step is ``GRPOTrainer.step`` of ``benchmarks/bench_grpo.py``'s settings (builtin:base, 16 prompts
x 8, 3-digit additions, micro-batches of 64 rows) with a plain AdamW update; ``--repeats`` steps after
a warm-up step, the best of each phase printed.  The op timers (about 1 us a call) wrap every op of
the backend's namespace (``minireason.backend.REFERENCE_OPS``) during the timed steps; "optimizer"
is clipping and AdamW.  ``--no-split`` runs every batch in one part (each op with its own threads),
as before rows were split over the cores: run both in turns to see what the split is worth.
"""

from __future__ import annotations

import _thread_limits  # first: thread counts before NumPy loads its BLAS

# isort: split
import argparse
import collections
import cProfile
import pstats
import tempfile
import time

import numpy as np

import minireason.generation.generate as generate_module
import minireason.model as model_module
from minireason.backend import REFERENCE_OPS, get_ops, set_backend
from minireason.io.pretrained import load_pretrained
from minireason.optim import AdamW, clip_grad_norm
from minireason.posttrain.grpo import GRPOConfig, GRPOTrainer
from minireason.tasks.export import resolve_data


def timed_ops(ops, totals: dict[str, float], counts: dict[str, int]) -> dict:
    """Wrap every op of ``ops`` in place; return the originals, for restoring them."""
    originals = {name: getattr(ops, name) for name in REFERENCE_OPS}
    for name, function in originals.items():
        def timed(*args, _function=function, _name=name):
            start = time.perf_counter()
            result = _function(*args)
            totals[_name] += time.perf_counter() - start
            counts[_name] += 1
            return result
        setattr(ops, name, timed)
    return originals


def profiled(function, profiler: cProfile.Profile):
    """``function`` with ``profiler`` on while it runs."""
    def wrapped(*arguments, **keywords):
        profiler.enable()
        try:
            return function(*arguments, **keywords)
        finally:
            profiler.disable()
    return wrapped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="numba")
    parser.add_argument("--model", default="builtin:base")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--micro-batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="(read by _thread_limits before NumPy loads)")
    parser.add_argument("--profile", choices=("none", "rollout", "learner", "step"), default="none")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--no-split", action="store_true",
                        help="never split rows over the cores (model.SHARD_MIN_WORK, generate.DECODE_PART_MIN_WORK)")
    parser.add_argument("--decode-parts-from", type=float, default=None, metavar="WORK",
                        help="split a decoding step's rows from this many multiply-adds a part "
                             "(generate.DECODE_PART_MIN_WORK; 1 splits every step)")
    args = parser.parse_args()
    if args.no_split:
        model_module.SHARD_MIN_WORK = generate_module.DECODE_PART_MIN_WORK = 1 << 62
    if args.decode_parts_from is not None:
        generate_module.DECODE_PART_MIN_WORK = max(1, int(args.decode_parts_from))
    set_backend(args.backend)
    model, tokenizer = load_pretrained(args.model)
    records = resolve_data("task:addition?n=2000&split=train&difficulty=3")
    config = GRPOConfig(steps=10, prompts_per_step=args.prompts, group_size=args.group,
                        max_new_tokens=args.max_new_tokens, eval_every=0, drop_zero_variance=False,
                        micro_batch_size=args.micro_batch_size)
    optimizer = AdamW(config.learning_rate, betas=config.betas, weight_decay=config.weight_decay)
    optimizer_seconds = [0.0]

    def apply_update(grads):
        started = time.perf_counter()
        grads, norm = clip_grad_norm(grads, config.max_grad_norm)
        optimizer.step(model.params, grads, config.learning_rate)
        optimizer_seconds[0] += time.perf_counter() - started
        return norm

    print(_thread_limits.machine_line(), f"backend {args.backend}")
    with tempfile.TemporaryDirectory() as directory:
        trainer = GRPOTrainer(model, tokenizer, records, config, directory)
        rng = np.random.default_rng(0)
        trainer.step(model, rng, 0, apply_update)  # warm-up: numba compiles here
        ops = get_ops(args.backend)
        best: dict[str, float] = {}
        best_ops: dict[str, float] | None = None
        for repeat in range(args.repeats):
            totals, counts = collections.defaultdict(float), collections.defaultdict(int)
            originals = timed_ops(ops, totals, counts)
            optimizer_seconds[0] = 0.0
            profiler = cProfile.Profile() if args.profile != "none" and repeat == args.repeats - 1 else None
            if profiler is not None and args.profile == "step":
                profiler.enable()
            if profiler is not None and args.profile in ("rollout", "learner"):
                original_collect, original_learn = trainer._collect, trainer._learn
                phase_method = "_collect" if args.profile == "rollout" else "_learn"
                setattr(trainer, phase_method, profiled(getattr(trainer, phase_method), profiler))
            started = time.perf_counter()
            _, metrics = trainer.step(model, rng, repeat + 1, apply_update)
            total = time.perf_counter() - started
            if profiler is not None:
                profiler.disable()
                if args.profile in ("rollout", "learner"):
                    trainer._collect, trainer._learn = original_collect, original_learn
            for name, function in originals.items():
                setattr(ops, name, function)
            figures = {"step": total, "rollout": metrics["rollout_seconds"], "learner": metrics["learner_seconds"],
                       "optimizer": optimizer_seconds[0]}
            print("  ".join(f"{name} {value:.3f} s" for name, value in figures.items()),
                  f" response length {metrics['response_length_mean']:.1f}")
            if not best or figures["learner"] < best.get("learner", 1e9):
                best_ops = {name: (totals[name], counts[name]) for name in totals}
            for name, value in figures.items():
                best[name] = min(best.get(name, 1e9), value)
            if profiler is not None:
                pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)
        print("best: " + "  ".join(f"{name} {value:.3f} s" for name, value in best.items()))
        print("ops (all phases) in the step with the best learner:")
        for name, (seconds, count) in sorted(best_ops.items(), key=lambda item: -item[1][0]):
            print(f"  {name:26} {seconds * 1e3:8.1f} ms  {count:6d} calls")


if __name__ == "__main__":
    main()
