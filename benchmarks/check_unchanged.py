"""Do the trainers still compute what they did?  Short runs at a base commit and at the working tree.

    python benchmarks/check_unchanged.py                 # base 1e4dcca
    python benchmarks/check_unchanged.py --base abc1234 --keep /tmp/check

Runs ``minireason distill-data`` and ``dpo-data`` (the data every side trains on, made once by the
base side and given to both), then a few steps of ``minireason sft``, ``distill``, ``dpo`` and
``grpo`` on the built-in models and small built-in task data, and ``minireason demo --quick``: once
at the base commit (checked out with ``git worktree add`` into a temporary directory) and once at the
working tree, each command in its own process with OPENBLAS_NUM_THREADS=1.  Then compares each run's
metrics.jsonl and eval.jsonl rows (timing fields left out: seconds, *_seconds, *per_second) and the
demo's report rows (its accuracies, counts and p-values), and prints a table of identical / different.

Each side gets its own argument list (``arguments(side, ...)``), so a flag renamed between the base
and today can be given its name on each side.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAIN = "task:addition?n=24&split=train&difficulty=1&seed=3"
HELD_OUT = "task:addition?n=6&split=test&difficulty=1&seed=4"
COMMON = ["--no-progress", "--no-resume"]


def arguments(side: str, data: Path, out: Path) -> dict[str, list[str]]:
    """The commands each side runs: name -> argv after ``python -m minireason``.  ``side`` is "base" or
    "tree" (for flags that differ between them)."""
    traces, pairs = str(data / "traces.jsonl"), str(data / "pairs.jsonl")
    short = ["--steps", "3", "--eval-every", "0", "--max-new-tokens", "24", "--checkpoint-every", "2"]
    return {
        "sft": ["sft", "--model", "builtin:student", "--data", traces, "--eval-data", HELD_OUT,
                "--out-dir", str(out / "sft"), "--batch-size", "8", "--micro-batch-size", "3", *short, *COMMON],
        "distill": ["distill", "--student", "builtin:student", "--teacher", "builtin:base", "--data", traces,
                    "--out-dir", str(out / "distill"), "--batch-size", "6", "--micro-batch-size", "4",
                    "--loss", "jsd", "--lambda-on-policy", "0.5", *short, *COMMON],
        "dpo": ["dpo", "--model", "builtin:student", "--pairs", pairs, "--out-dir", str(out / "dpo"),
                "--batch-size", "6", "--micro-batch-size", "4", "--lr", "1e-3", *short, *COMMON],
        "grpo": ["grpo", "--model", "builtin:student", "--data", TRAIN, "--eval-data", HELD_OUT,
                 "--out-dir", str(out / "grpo"), "--prompts-per-step", "4", "--group-size", "4",
                 "--micro-batch-size", "6", "--steps", "3", "--max-new-tokens", "24", "--eval-every", "0",
                 "--checkpoint-every", "2", "--kl-beta", "0.05", "--loss", "ppo", "--clip-high", "0.28",
                 "--minibatches", "2", *COMMON],
        "grpo-gspo": ["grpo", "--model", "builtin:student", "--data", TRAIN, "--out-dir", str(out / "grpo-gspo"),
                      "--prompts-per-step", "3", "--group-size", "4", "--micro-batch-size", "5", "--steps", "2",
                      "--max-new-tokens", "24", "--eval-every", "0", "--loss", "gspo", "--epochs", "2",
                      "--entropy-coef", "0.01", *COMMON],
        "demo": ["demo", "--quick", "--quiet", "--out-dir", str(out / "demo")],
    }


DATA_COMMANDS = {
    "distill-data": lambda data: ["distill-data", "--teacher", "builtin:base", "--data", TRAIN, "--samples", "2",
                                  "--max-new-tokens", "48", "--out", str(data / "traces.jsonl"), "--no-progress"],
    "dpo-data": lambda data: ["dpo-data", "--model", "builtin:student", "--data", TRAIN, "--samples", "4",
                              "--max-new-tokens", "48", "--out", str(data / "pairs.jsonl"), "--no-progress"],
}


def timing(key: str) -> bool:
    return key == "seconds" or key.endswith("_seconds") or key.endswith("per_second")


def run(checkout: Path, argv: list[str], log: Path) -> int:
    # both sides on the NumPy reference (the base commit's only default; numba is today's)
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(checkout),
                   "MINIREASON_BACKEND": "numpy"}
    with open(log, "w") as handle:
        return subprocess.run([sys.executable, "-m", "minireason", *argv], cwd=checkout, env=environment,
                              stdout=handle, stderr=subprocess.STDOUT).returncode


def rows_of(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [{key: value for key, value in row.items() if not timing(key)} for row in rows]


def demo_rows(out: Path) -> list[dict]:
    """The demo's report.json stage rows (accuracies, counts, p-values), timing fields left out."""
    path = out / "demo" / "report.json"
    if not path.exists():
        return []
    stages = json.loads(path.read_text())["stages"]
    return [{key: value for key, value in row.items() if not timing(key)} for row in stages]


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def compare(base: list[dict], tree: list[dict]) -> tuple[str, str]:
    """(verdict, detail) of two runs' rows: identical, different (the first differences) or missing."""
    if not base and not tree:
        return "missing", "no rows on either side"
    if len(base) != len(tree):
        return "different", f"{len(base)} rows at base, {len(tree)} now"
    differing = []
    for index, (old, new) in enumerate(zip(base, tree)):
        for key in sorted(set(old) | set(new)):
            if not same(old.get(key), new.get(key)):
                differing.append(f"row {index} {key}: {old.get(key)!r} -> {new.get(key)!r}")
    if differing:
        return "different", "; ".join(differing[:4]) + (f" (+{len(differing) - 4} more)" if len(differing) > 4 else "")
    return "identical", f"{len(base)} row(s), {sum(len(row) for row in base)} values"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default="1e4dcca", help="the commit to compare against")
    parser.add_argument("--keep", default=None, help="a folder for the runs (default: a temporary one)")
    parser.add_argument("--only", default=None, help="comma-separated names of the runs to do (default: all)")
    parser.add_argument("--reuse-base", action="store_true",
                        help="keep the base side's runs already done in --keep (rerun only the working tree)")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="check_unchanged_"))
    work.mkdir(parents=True, exist_ok=True)
    base_checkout = work / "base_checkout"
    if not base_checkout.exists() and subprocess.run(
            ["git", "worktree", "add", "--detach", str(base_checkout), args.base], cwd=ROOT,
            stdout=subprocess.DEVNULL).returncode != 0:
        print(f"cannot check out the base {args.base!r} (git worktree add failed; see above)")
        return 1
    data = work / "data"
    data.mkdir(exist_ok=True)
    for name, command in DATA_COMMANDS.items():
        target = data / ("traces.jsonl" if name == "distill-data" else "pairs.jsonl")
        if not target.exists() and run(base_checkout, command(data), work / f"{name}.log") != 0:
            print(f"{name} failed at the base: see {work / (name + '.log')}")
            return 1
    chosen = args.only.split(",") if args.only else None
    for side, checkout in (("base", base_checkout), ("tree", ROOT)):
        out = work / side
        out.mkdir(exist_ok=True)
        for name, argv in arguments(side, data, out).items():
            if chosen and name not in chosen:
                continue
            done = work / f"{side}-{name}.done"
            if side == "base" and args.reuse_base and done.exists():
                continue
            done.unlink(missing_ok=True)
            if (out / name).exists():
                shutil.rmtree(out / name)
            code = run(checkout, argv, work / f"{side}-{name}.log")
            if code != 0:
                print(f"{side} {name}: exit {code}, see {work / f'{side}-{name}.log'}")
            else:
                done.touch()
    table = []
    for name in arguments("tree", data, work).keys():
        if chosen and name not in chosen:
            continue
        if name == "demo":
            verdict, detail = compare(demo_rows(work / "base"), demo_rows(work / "tree"))
        else:
            verdict, detail = compare(rows_of(work / "base" / name / "metrics.jsonl"),
                                      rows_of(work / "tree" / name / "metrics.jsonl"))
            evaluation = compare(rows_of(work / "base" / name / "eval.jsonl"),
                                 rows_of(work / "tree" / name / "eval.jsonl"))
            if evaluation[0] == "different":
                verdict, detail = "different", f"{detail}; eval: {evaluation[1]}"
        table.append((name, verdict, detail))
    if not args.keep:  # the temporary checkout of the base goes, and git forgets it
        subprocess.run(["git", "worktree", "remove", "--force", str(base_checkout)], cwd=ROOT, check=False)
    width = max(len(name) for name, _, _ in table)
    print(f"base {args.base} vs working tree ({work})")
    for name, verdict, detail in table:
        print(f"{name:<{width}}  {verdict:<9}  {detail}")
    return 0 if all(verdict == "identical" for _, verdict, _ in table) else 1


if __name__ == "__main__":
    sys.exit(main())
