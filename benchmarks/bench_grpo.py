"""Where a GRPO step spends its time: rollout (batched sampling, then grading) against learner (forward,
backward, optimizer), tokens/s of each, and peak memory, per backend.

    python benchmarks/bench_grpo.py                                   # builtin:base, numpy and numba
    python benchmarks/bench_grpo.py --model builtin:base --backends numpy numba --steps 4 --prompts 16 --group 8
    python benchmarks/bench_grpo.py --threads 1 --rounds 2           # one thread a side, two rounds in turns

Threads are the user's (the libraries' defaults, or what is exported) unless ``--threads N``, which
every child gets before NumPy loads.  With ``--rounds R`` the backends run in turns R times and each
figure is the best over the rounds.  "reward s" is the rewards alone (part of "rollout s").
Each backend runs in a fresh subprocess (its own peak memory, its own numba compilation) doing
``--steps`` real GRPO steps of ``minireason.posttrain.grpo.train_grpo`` on 3-digit additions; the first
step is a warm-up (numba compiles there) and the figures are the best of the rest, per phase:
rollout tokens/s counts generated tokens, learner tokens/s counts every token of the packed
prompt + completion rows that went through forward and backward (once per optimizer update).
Peak memory is the peak resident set size of the whole process (weights, caches, libraries).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "MKL_NUM_THREADS")


def child(args) -> None:
    from minireason.backend import set_backend
    from minireason.io.pretrained import load_pretrained
    from minireason.posttrain.grpo import GRPOConfig, train_grpo
    from minireason.tasks.export import resolve_data

    set_backend(args.backend)
    model, tokenizer = load_pretrained(args.model)
    records = resolve_data(f"task:addition?n=2000&split=train&difficulty={args.difficulty}")
    config = GRPOConfig(steps=args.steps, prompts_per_step=args.prompts, group_size=args.group,
                        max_new_tokens=args.max_new_tokens, eval_every=0, checkpoint_every=args.steps,
                        micro_batch_size=args.micro_batch_size, drop_zero_variance=False)
    with tempfile.TemporaryDirectory() as directory:
        rows = train_grpo(model, tokenizer, records, config, directory, progress=False)["metrics"]
    timed = rows[1:] or rows
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
    best = lambda key: min(row[key] for row in timed)  # noqa: E731
    fastest = lambda key: max(row[key] for row in timed)  # noqa: E731
    print(json.dumps({"backend": args.backend, "rollout_seconds": best("rollout_seconds"),
                      "reward_seconds": best("reward_seconds"), "learner_seconds": best("learner_seconds"),
                      "rollout_tokens_per_second": fastest("rollout_tokens_per_second"),
                      "learner_tokens_per_second": fastest("learner_tokens_per_second"),
                      "response_length_mean": timed[-1]["response_length_mean"], "peak_memory_bytes": peak}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="builtin:base")
    parser.add_argument("--backends", nargs="+", default=["numpy", "numba"])
    parser.add_argument("--steps", type=int, default=4, help="GRPO steps per backend (the first is a warm-up)")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--micro-batch-size", type=int, default=64)
    parser.add_argument("--difficulty", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="threads of every child (default: the user's)")
    parser.add_argument("--rounds", type=int, default=1, help="the backends in turns this many times; best figures")
    parser.add_argument("--backend", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.backend:
        child(args)
        return
    environment = dict(os.environ)
    if args.threads is not None:
        environment.update(dict.fromkeys(THREAD_VARIABLES, str(args.threads)))
    threads = environment.get("OPENBLAS_NUM_THREADS") or f"{os.cpu_count()} (default)"
    print(f"{args.model}: P={args.prompts} x G={args.group}, best of {max(args.steps - 1, 1)} steps after a warm-up, "
          f"{args.rounds} round(s) in turns; threads {threads}; load {os.getloadavg()[0]:.2f}")
    results: dict[str, dict] = {}
    for _ in range(args.rounds):
        for backend in args.backends:
            command = [sys.executable, __file__, "--backend", backend, "--model", args.model, "--steps", str(args.steps),
                       "--prompts", str(args.prompts), "--group", str(args.group), "--max-new-tokens",
                       str(args.max_new_tokens), "--micro-batch-size", str(args.micro_batch_size),
                       "--difficulty", str(args.difficulty)]
            done = subprocess.run(command, capture_output=True, text=True, env=environment)
            if done.returncode != 0:
                print(f"{backend:8} failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
                continue
            result = json.loads(done.stdout.strip().splitlines()[-1])
            kept = results.setdefault(backend, result)
            for key, value in result.items():
                if key.endswith("_seconds"):
                    kept[key] = min(kept[key], value)
                elif key.endswith("_per_second"):
                    kept[key] = max(kept[key], value)
    print(f"{'backend':8} {'rollout s':>9} {'reward s':>9} {'learner s':>9} {'rollout share':>13} {'rollout tok/s':>13} "
          f"{'learner tok/s':>13} {'peak MiB':>9}")
    for backend, result in results.items():
        share = result["rollout_seconds"] / (result["rollout_seconds"] + result["learner_seconds"])
        print(f"{backend:8} {result['rollout_seconds']:9.2f} {result['reward_seconds']:9.2f} "
              f"{result['learner_seconds']:9.2f} {share:13.0%} "
              f"{result['rollout_tokens_per_second']:13.0f} {result['learner_tokens_per_second']:13.0f} "
              f"{result['peak_memory_bytes'] / 2**20:9.0f}")
    print(f"load {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
