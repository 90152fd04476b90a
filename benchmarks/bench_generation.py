"""Decoding speed against what users would run instead, per backend, and the fraction of this
machine's limit.

    python benchmarks/bench_generation.py                     # tiny and small, B = 1, 16, 64; GRPO rollout batch
    python benchmarks/bench_generation.py --presets small --batch-sizes 1 --repeats 5 --json out.json
    python benchmarks/bench_generation.py --cache-table       # cached vs uncached decoding and peak memory
    python benchmarks/bench_generation.py --threads 2         # default: the user's threads (_thread_limits.py)
    python benchmarks/bench_generation.py --torch-python /path/to/venv/bin/python   # transformers' interpreter
    python benchmarks/bench_generation.py --in-process        # every side in this one process, in turns

Decode rows: greedy generation of ``--new-tokens`` (64) tokens after a ``--prompt`` (32) token
random prompt for each of B rows, never stopping early, timed whole (prompt and steps):
- minireason ``generate`` with each backend (numpy, numba), token-id prompts;
- transformers' ``Qwen3ForCausalLM`` on the same weights, float32, PyTorch eager
  (transformers_reference.py): the loop a user writes with its KV cache ("hf loop"), and its
  ``generate()`` ("hf generate").  Without torch and transformers those rows are skipped.
Every side runs in its own fresh process (sides.py): numpy, numba, hf loop, hf generate, numpy,
... ``--repeats`` rounds, each process timing every row after a warm-up run: ``--runs-per-process``
times in the first round, and in the later rounds as many times as fill ``--row-seconds`` (1 s) of
the row's fastest side in the first round, the same count for every side (sides.runs_to_fill: a
tiny model's rows take 0.06 s, and the best of two runs moved by up to 1.7x between benchmark
runs); a row's figure is its best over all of them.  The transformers sides run on ``--torch-python``
(default: this interpreter if it imports torch and transformers, else ``sides.FALLBACK_PYTHON`` if
that does; else they are skipped), the minireason sides on this interpreter: torch and numba in one
process share libgomp and stall each other (docs/kernels.md).  ``--in-process`` runs every side in
this process instead, in turns, best of ``--repeats`` (timing.best_alternating).  "x hf loop" is
the hf loop's time over minireason's.  "of limit": batch 1 against the memory-bandwidth bound (every
step reads every weight once: bytes / measured read bandwidth, memory_bandwidth.py); larger
batches against the products alone (floors.py).  Greedy agreement with the hf loop is printed:
float32 sums in another order can flip a near tie, after which the rows differ.

GRPO rollout row (``--rollout``, on by default): builtin:base, 16 addition prompts x 8 samples =
128 rows of up to 64 tokens, temperature 1 (no top-k/top-p), stopping at the eos token, so rows
finish at different times; minireason ``generate`` (what GRPO's rollouts call) against
transformers' ``generate(do_sample=True)``, compared in generated tokens per second (random
lengths differ between calls).
"""

from __future__ import annotations

import _thread_limits  # first: thread counts before NumPy loads its BLAS

# isort: split
import argparse
import json
import sys
import time
import tracemalloc

import numpy as np
import sides as side_processes
import transformers_reference as hf_reference
from floors import generation_products_seconds, weight_read_bytes
from memory_bandwidth import read_bandwidth
from timing import best_alternating

from minireason import runtime
from minireason.config import PRESETS
from minireason.generation.generate import generate
from minireason.generation.kv_cache import KVCache
from minireason.model import Qwen3Model

PRESET_LABELS = {"test-small": "tiny", "small": "small"}
HF_SIDES = ("hf loop", "hf generate")


class IdsOnly:
    """A stand-in tokenizer for token-id prompts: no special tokens, empty text."""

    eos_token_id = pad_token_id = None

    def decode(self, token_ids, skip_special_tokens=False) -> str:
        return ""


# ----------------------------------------------------------------------------- decode rows
def decode_prompts(vocab_size: int, batch: int, prompt_length: int) -> np.ndarray:
    """The random token-id prompts of a decode row, the same in every process.  -> (B, prompt)"""
    return np.random.default_rng(batch).integers(0, vocab_size, (batch, prompt_length))


def decode_side(name: str, base, hf, prompts: np.ndarray, new_tokens: int):
    """One side's greedy decode of ``prompts`` as a function -> new ids (B, new_tokens): a minireason
    backend on ``base``'s weights, or transformers' loop / generate on ``hf``."""
    if name == "hf loop":
        return lambda: hf_reference.greedy_decode_loop(hf, prompts, new_tokens)
    if name == "hf generate":
        return lambda: hf_reference.generate(hf, prompts, new_tokens)
    model = Qwen3Model(base.config, base.params, backend=name)
    prompt_lists = prompts.tolist()
    return lambda: np.array([result.token_ids for result in generate(model, IdsOnly(), prompt_lists, new_tokens,
                                                                     stop_token_ids=[])])


def decode_row(models: dict, hf, batch: int, prompt_length: int, new_tokens: int, repeats: int,
               bandwidth: float) -> dict:
    """Every side of a decode row in this process, in turns (``--in-process``)."""
    reference = next(iter(models.values()))
    prompts = decode_prompts(reference.config.vocab_size, batch, prompt_length)
    sides = {name: decode_side(name, model, None, prompts, new_tokens) for name, model in models.items()}
    if hf is not None:
        sides.update({name: decode_side(name, None, hf, prompts, new_tokens) for name in HF_SIDES})
    load_before = _thread_limits.load_average()
    seconds = best_alternating(sides, repeats)
    ids = {name: sides[name]() for name in (next(iter(models)), "hf loop") if name in sides}
    return decode_figures(reference, batch, prompt_length, new_tokens, seconds, bandwidth, ids, load_before)


def decode_figures(reference, batch: int, prompt_length: int, new_tokens: int, seconds: dict, bandwidth: float,
                   ids: dict, load_before: list) -> dict:
    """A decode row's figures from each side's best seconds: tokens/s, the fraction of the limit,
    the ratios to transformers and the greedy agreement of the first backend's ids with the hf loop's."""
    config = reference.config
    if batch == 1:  # every one of the new_tokens forwards reads every weight once
        limit_seconds, limit_kind = new_tokens * weight_read_bytes(reference) / bandwidth, "bandwidth"
    else:
        limit_seconds, limit_kind = generation_products_seconds(config, batch, prompt_length, new_tokens), "products"
    row = {"batch": batch, "prompt": prompt_length, "new_tokens": new_tokens, "seconds": seconds,
           "tokens_per_second": {name: batch * new_tokens / value for name, value in seconds.items()},
           "limit": limit_kind, "limit_seconds": limit_seconds,
           "fraction_of_limit": {name: limit_seconds / value for name, value in seconds.items()},
           "load_average": [load_before, _thread_limits.load_average()]}
    if "hf loop" in seconds and len(ids) == 2:
        ours, theirs = (np.asarray(value) for value in ids.values())
        row["rows_equal_to_hf"] = float(np.mean(np.all(ours == theirs, axis=1)))
    for name in seconds:
        if name not in HF_SIDES and "hf loop" in seconds and "hf generate" in seconds:
            row.setdefault("ratio_to_hf_loop", {})[name] = seconds["hf loop"] / seconds[name]
            row.setdefault("ratio_to_hf_generate", {})[name] = seconds["hf generate"] / seconds[name]
    return row


def print_decode_row(label: str, row: dict, backends: list[str]) -> None:
    tps, fraction = row["tokens_per_second"], row["fraction_of_limit"]
    for name in list(tps):
        ratio = ""
        if name in backends and "ratio_to_hf_loop" in row:
            ratio = f"{row['ratio_to_hf_loop'][name]:>6.2f}x {row['ratio_to_hf_generate'][name]:>6.2f}x"
        print(f"{label:<6} {row['batch']:>3}  {name:<12} {row['seconds'][name]:>8.3f} {tps[name]:>9.0f} {ratio:>15} "
              f"{fraction[name]:>8.0%} {row['limit']}")
    load = row["load_average"]
    agreement = f", greedy rows equal to hf loop: {row['rows_equal_to_hf']:.0%}" if "rows_equal_to_hf" in row else ""
    runs = f", {row['runs_per_process']} runs a process after the first round" if "runs_per_process" in row else ""
    print(f"{'':6} {'':3}  load {load[0][0]:.2f} -> {load[1][0]:.2f}{runs}{agreement}")


# ----------------------------------------------------------------------------- GRPO rollout row
def rollout_sides(backends: list[str], hf_available: bool, threads: int | None, prompts: int = 16, group: int = 8,
                  new_tokens: int = 64) -> dict:
    """name -> a function sampling the GRPO rollout batch once and returning its generated tokens."""
    from minireason.evaluation.prompts import PromptSpec
    from minireason.io.pretrained import load_pretrained
    from minireason.tasks.export import resolve_data

    base, tokenizer = load_pretrained("builtin:base")
    models = {name: Qwen3Model(base.config, base.params, backend=name) for name in backends}
    records = resolve_data(f"task:addition?n={prompts}&split=train&difficulty=3")
    texts = [PromptSpec("cot", "plain").text(record["problem"]) for record in records for _ in range(group)]
    eos = tokenizer.eos_token_id
    sides = {}
    for name, model in models.items():
        def ours(model=model, seed=[0]):  # noqa: B006  (a counter: another sample each call)
            seed[0] += 1
            results = generate(model, tokenizer, texts, new_tokens, temperature=1.0, seed=seed[0])
            return sum(len(result.token_ids) for result in results)
        sides[name] = ours
    if hf_available:
        hf = hf_reference.hf_model_from(base, threads=threads)
        encoded = [tokenizer.encode(text) for text in texts]
        width = max(map(len, encoded))
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
        ids = np.full((len(encoded), width), pad, dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, tokens in enumerate(encoded):  # left padding, as transformers' generate expects
            ids[row, width - len(tokens):] = tokens
            mask[row, width - len(tokens):] = 1

        def theirs(seed=[0]):  # noqa: B006
            seed[0] += 1
            out = hf_reference.generate(hf, ids, new_tokens, attention_mask=mask, sample=True, eos_token_id=eos,
                                        pad_token_id=pad, seed=seed[0])
            ended = out == eos
            lengths = np.where(ended.any(axis=1), ended.argmax(axis=1) + 1, out.shape[1])  # up to and with eos
            return int(lengths.sum())
        sides["hf generate"] = theirs
    return sides


def best_rate(function, runs: int) -> tuple[float, float, int]:
    """(tokens/s, seconds, tokens) of the fastest of ``runs`` calls, in generated tokens per second."""
    best = (0.0, 0.0, 0)
    for _ in range(runs):
        start = time.perf_counter()
        count = function()
        elapsed = time.perf_counter() - start
        best = max(best, (count / elapsed, elapsed, count))
    return best


def rollout_row(backends: list[str], hf_available: bool, threads: int, repeats: int, prompts: int = 16,
                group: int = 8, new_tokens: int = 64) -> dict:
    """The GRPO rollout batch on every side in this process, in turns (``--in-process``)."""
    sides = rollout_sides(backends, hf_available, threads, prompts, group, new_tokens)
    load_before = _thread_limits.load_average()
    for function in sides.values():
        function()  # warm-up
    best = dict.fromkeys(sides, 0.0)
    seconds = dict.fromkeys(sides, 0.0)
    tokens = dict.fromkeys(sides, 0)
    for _ in range(repeats):
        for name, function in sides.items():
            start = time.perf_counter()
            count = function()
            elapsed = time.perf_counter() - start
            if count / elapsed > best[name]:
                best[name], seconds[name], tokens[name] = count / elapsed, elapsed, count
    return rollout_figures(prompts * group, new_tokens, best, seconds, tokens, load_before)


def rollout_figures(rows: int, new_tokens: int, best: dict, seconds: dict, tokens: dict, load_before: list) -> dict:
    row = {"rows": rows, "max_new_tokens": new_tokens, "tokens_per_second": best, "seconds": seconds,
           "generated_tokens": tokens, "load_average": [load_before, _thread_limits.load_average()]}
    if "hf generate" in best:
        row["ratio_to_hf_generate"] = {name: best[name] / best["hf generate"] for name in best if name not in HF_SIDES}
    return row


# ----------------------------------------------------------------------------- the cache table
def time_cached_decode(model, batch_size, context, steps, rng):
    """Seconds per decode step at ``context`` tokens already in the cache."""
    config = model.config
    cache = KVCache(config, batch_size, context + steps, dtype=model.dtype, array_module=model.array_module)
    prompt = rng.integers(0, config.vocab_size, (batch_size, context))  # (B, L)
    logits, _ = model.forward(prompt, kv_cache=cache, last_only=True)
    tokens = logits[:, -1].argmax(-1)[:, None]  # (B, 1)
    start = time.perf_counter()
    for _ in range(steps):
        logits, _ = model.forward(tokens, kv_cache=cache, last_only=True)
        tokens = logits[:, -1].argmax(-1)[:, None]
    return (time.perf_counter() - start) / steps


def time_uncached_decode(model, batch_size, context, repeats, rng):
    """Seconds per new token when the whole context is recomputed (a forward over L tokens)."""
    sequence = rng.integers(0, model.config.vocab_size, (batch_size, context))
    model.forward(sequence[:, :8], last_only=True)  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        model.forward(sequence, last_only=True)
    return (time.perf_counter() - start) / repeats


def peak_generate_memory(model, batch_size, context, new_tokens, rng):
    """Peak bytes NumPy allocates during one ``generate`` call (weights excluded: they exist before)."""
    prompts = rng.integers(0, model.config.vocab_size, (batch_size, context)).tolist()
    tracemalloc.start()
    generate(model, IdsOnly(), prompts, new_tokens, stop_token_ids=[])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def cache_table(name, contexts, batch_sizes, steps, backend):
    """Cached against uncached decoding tokens/s at several contexts, and generate's peak memory."""
    config = PRESETS[name]
    rng = np.random.default_rng(0)
    model = Qwen3Model.from_config(config, seed=0, backend=backend)
    print(f"\n## {name} ({backend}): {model.num_parameters() / 1e6:.1f}M parameters")
    print(f"{'batch':>5} {'context':>7} {'cached tok/s':>13} {'no-cache tok/s':>15}")
    for batch_size in batch_sizes:
        for context in contexts:
            if context + steps > config.max_position_embeddings:
                continue
            cached = batch_size / time_cached_decode(model, batch_size, context, steps, rng)
            uncached = (batch_size / time_uncached_decode(model, batch_size, context, 1, rng)
                        if batch_size * context <= 16 * 256 else float("nan"))
            print(f"{batch_size:>5} {context:>7} {cached:>13.1f} {uncached:>15.1f}")
    for batch_size in batch_sizes:
        context = min(contexts[-1], config.max_position_embeddings - 32)
        peak = peak_generate_memory(model, batch_size, context, 16, rng)
        cache_bytes = KVCache(config, batch_size, context + 16, dtype=model.dtype).nbytes()
        print(f"peak memory of generate(batch {batch_size}, prompt {context}, 16 new): {peak / 2**20:.1f} MiB "
              f"above the weights (KV cache alone: {cache_bytes / 2**20:.1f} MiB)")


# ----------------------------------------------------------------------------- main
# ----------------------------------------------------------------------------- a side's process
def child(args) -> dict:
    """One side's figures in this fresh process: every decode row (best of ``--runs-per-process``
    after a warm-up, with the ids of the warm-up run) and the rollout row."""
    side = args.child
    row_runs = json.loads(args.row_runs) if args.row_runs else {}
    result = {"decode": {}, "rollout": None}
    hf_side = side in HF_SIDES
    if hf_side:
        result["versions"] = hf_reference.versions()
    if not args.no_decode:
        for preset in args.presets.split(","):
            base = Qwen3Model.from_config(PRESETS[preset], seed=0, backend="numpy")
            hf = hf_reference.hf_model_from(base, threads=args.threads) if hf_side else None
            for batch in (int(b) for b in args.batch_sizes.split(",")):
                prompts = decode_prompts(base.config.vocab_size, batch, args.prompt)
                function = decode_side(side, base, hf, prompts, args.new_tokens)
                ids = function()  # warm-up; greedy, so every run's ids
                runs = row_runs.get(f"{preset} B={batch}", args.runs_per_process)
                seconds = min(timed_seconds(function) for _ in range(runs))
                result["decode"][f"{preset} B={batch}"] = {"seconds": seconds, "ids": np.asarray(ids).tolist()}
    if not args.no_rollout and side != "hf loop":
        sides = rollout_sides([] if hf_side else [side], hf_side, args.threads)
        function = sides[side]
        function()  # warm-up
        result["rollout"] = best_rate(function, row_runs.get("rollout", args.runs_per_process))
    return result


def timed_seconds(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def process_report(args, backends: list[str], batch_sizes: list[int], torch_python: str | None, report: dict) -> None:
    """Every side in its own processes, in turns, ``--repeats`` rounds; the best of each row."""
    sides = {name: sys.executable for name in backends}
    if torch_python is not None:
        sides.update(dict.fromkeys(HF_SIDES, torch_python))
    environments = {name: side_processes.child_environment(args.threads, torch=name in HF_SIDES,
                                                           **({"MINIREASON_BACKEND": "numpy"} if name in HF_SIDES else {}))
                    for name in sides}
    options = ["--presets", args.presets, "--batch-sizes", args.batch_sizes, "--prompt", str(args.prompt),
               "--new-tokens", str(args.new_tokens), "--runs-per-process", str(args.runs_per_process)]
    options += ["--threads", str(args.threads)] if args.threads is not None else []
    options += ["--no-decode"] if args.no_decode else []
    options += ["--no-rollout"] if args.no_rollout else []
    decode: dict[str, dict[str, float]] = {}
    ids: dict[str, dict] = {}
    rollout: dict[str, tuple] = {}
    load_before = _thread_limits.load_average()

    def collect(results) -> None:
        for name, result in results:
            report.setdefault("versions", {}).update({name: result["versions"]} if "versions" in result else {})
            for key, cell in result["decode"].items():
                decode.setdefault(key, {})[name] = min(decode.get(key, {}).get(name, float("inf")), cell["seconds"])
                ids.setdefault(key, {}).setdefault(name, cell["ids"])
            if result["rollout"] is not None:
                rollout[name] = max(rollout.get(name, (0.0, 0.0, 0)), tuple(result["rollout"]))

    # the first round times every row --runs-per-process times; the later rounds give each row as
    # many runs as fill --row-seconds of its fastest side, the same for every side
    collect(side_processes.in_turns(sides, lambda name: [__file__, "--child", name, *options], environments, 1))
    row_runs = {key: side_processes.runs_to_fill(cells, args.row_seconds, args.runs_per_process)
                for key, cells in decode.items()}
    if rollout:
        row_runs["rollout"] = side_processes.runs_to_fill({name: value[1] for name, value in rollout.items()},
                                                          args.row_seconds, args.runs_per_process)
    report["runs_per_process"] = {"first round": args.runs_per_process, "later rounds": row_runs}
    later = [*options, "--row-runs", json.dumps(row_runs)]
    collect(side_processes.in_turns(sides, lambda name: [__file__, "--child", name, *later], environments,
                                    args.repeats - 1))
    how = (f"{args.repeats} round(s) in turns, the first x {args.runs_per_process} runs, the later x the runs "
           f"that fill {args.row_seconds:g} s of the row's fastest side")
    if not args.no_decode:
        if torch_python is not None:
            print(f"transformers side: {report.get('versions', {}).get('hf loop', '?')} ({torch_python})")
        bandwidth = read_bandwidth()
        report["read_bandwidth_bytes_per_second"] = bandwidth
        print(f"read bandwidth ({_thread_limits.THREADS} thread(s)): {bandwidth / 1e9:.1f} GB/s")
        print(f"\ndecode: prompt {args.prompt}, {args.new_tokens} new tokens, greedy; each side in its own processes, "
              f"{how}, the best")
        print(f"{'preset':<6} {'B':>3}  {'side':<12} {'seconds':>8} {'tok/s':>9} {'x hf loop/gen':>15} {'of limit':>8}")
        for preset in args.presets.split(","):
            reference = Qwen3Model.from_config(PRESETS[preset], seed=0, backend="numpy")
            for batch in batch_sizes:
                key = f"{preset} B={batch}"
                if key not in decode:
                    continue
                row_ids = {name: ids[key][name] for name in (backends[0], "hf loop") if name in ids[key]}
                row = decode_figures(reference, batch, args.prompt, args.new_tokens, decode[key], bandwidth, row_ids,
                                     load_before)
                report["decode"][key] = row
                row["runs_per_process"] = row_runs.get(key, args.runs_per_process)
                print_decode_row(PRESET_LABELS.get(preset, preset), row, backends)
    if rollout:
        best = {name: value[0] for name, value in rollout.items()}
        row = rollout_figures(16 * 8, 64, best, {name: value[1] for name, value in rollout.items()},
                              {name: value[2] for name, value in rollout.items()}, load_before)
        row["runs_per_process"] = row_runs.get("rollout", args.runs_per_process)
        report["rollout"] = row
        print_rollout_row(row, f"each side in its own processes, {how}")


def print_rollout_row(row: dict, how: str) -> None:
    print(f"\nGRPO rollout batch: builtin:base, {row['rows']} rows, up to {row['max_new_tokens']} tokens, "
          f"temperature 1, {how}, the best")
    for name, rate in row["tokens_per_second"].items():
        ratio = f"{row['ratio_to_hf_generate'][name]:.2f}x hf generate" if name in row.get("ratio_to_hf_generate", {}) else ""
        print(f"  {name:<12} {row['seconds'][name]:7.3f} s  {row['generated_tokens'][name]:>6} tokens  "
              f"{rate:8.0f} tok/s  {ratio}")
    runs = f", {row['runs_per_process']} runs a process after the first round" if "runs_per_process" in row else ""
    print(f"  load {row['load_average'][0][0]:.2f} -> {row['load_average'][1][0]:.2f}{runs}")


# ----------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="test-small,small")
    parser.add_argument("--backends", default="numpy,numba")
    parser.add_argument("--batch-sizes", default="1,16,64")
    parser.add_argument("--prompt", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3,
                        help="rounds of the sides' processes in turns (--in-process: timed runs in turns); the best counts")
    parser.add_argument("--runs-per-process", type=int, default=2,
                        help="timed runs of each row in a side's process in the first round, and the fewest after it")
    parser.add_argument("--row-seconds", type=float, default=1.0,
                        help="after the first round, each row gets as many runs a process as fill this many seconds "
                             "of its fastest side (the same count for every side; sides.runs_to_fill)")
    parser.add_argument("--row-runs", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=None,
                        help="threads of every side, set before NumPy loads (default: the user's, _thread_limits.py)")
    parser.add_argument("--torch-python", default=None, help="interpreter with torch and transformers for their sides")
    parser.add_argument("--in-process", action="store_true",
                        help="every side in this process, in turns (torch and numba then share libgomp)")
    parser.add_argument("--no-transformers", action="store_true")
    parser.add_argument("--no-rollout", action="store_true", help="skip the GRPO rollout row")
    parser.add_argument("--no-decode", action="store_true", help="skip the decode rows")
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--cache-table", action="store_true", help="cached vs uncached decoding, peak memory")
    parser.add_argument("--contexts", default="64,256,1024", help="for --cache-table")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    backends = args.backends.split(",")
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    if args.cache_table:
        for name in args.presets.split(","):
            cache_table(name, [int(c) for c in args.contexts.split(",")], batch_sizes, 8, backends[0])
        return
    if not args.in_process:
        torch_python = None if args.no_transformers else side_processes.python_for("torch, transformers",
                                                                                    args.torch_python)
        print(f"numpy {np.__version__}; "
              f"{'transformers: run by ' + torch_python if torch_python else 'transformers: not importable, skipped'}")
        print(_thread_limits.machine_line())
        report = {"threads": _thread_limits.THREADS, "load_average_start": _thread_limits.load_average(), "decode": {},
                  "numpy": np.__version__, "processes": True}
        process_report(args, backends, batch_sizes, torch_python, report)
        finish(report, args.json)
        return
    with_hf = hf_reference.available() and not args.no_transformers
    print(f"numpy {np.__version__}; {hf_reference.versions() if with_hf else 'transformers: not installed, skipped'}")
    print(_thread_limits.machine_line())
    report = {"threads": _thread_limits.THREADS, "load_average_start": _thread_limits.load_average(), "decode": {},
              "numpy": np.__version__, "transformers": hf_reference.versions() if with_hf else None}
    if not args.no_decode:
        bandwidth = read_bandwidth()
        report["read_bandwidth_bytes_per_second"] = bandwidth
        print(f"read bandwidth ({_thread_limits.THREADS} thread(s)): {bandwidth / 1e9:.1f} GB/s")
        print(f"\ndecode: prompt {args.prompt}, {args.new_tokens} new tokens, greedy, best of {args.repeats} in turns")
        print(f"{'preset':<6} {'B':>3}  {'side':<12} {'seconds':>8} {'tok/s':>9} {'x hf loop/gen':>15} {'of limit':>8}")
        for preset in args.presets.split(","):
            base = Qwen3Model.from_config(PRESETS[preset], seed=0)
            models = {name: Qwen3Model(base.config, base.params, backend=name) for name in backends}
            hf = hf_reference.hf_model_from(base, threads=args.threads) if with_hf else None
            label = PRESET_LABELS.get(preset, preset)
            for batch in batch_sizes:
                row = decode_row(models, hf, batch, args.prompt, args.new_tokens, args.repeats, bandwidth)
                report["decode"][f"{preset} B={batch}"] = row
                print_decode_row(label, row, backends)
    if not args.no_rollout:
        row = rollout_row(backends, with_hf, args.threads, args.repeats)
        report["rollout"] = row
        print_rollout_row(row, f"in this process, {args.repeats} runs in turns")
    finish(report, args.json)


def finish(report: dict, path: str | None) -> None:
    report["load_average_end"] = _thread_limits.load_average()
    report["runtime"] = runtime.settings()
    print(f"load average {', '.join(f'{value:.2f}' for value in report['load_average_end'])} at the end")
    if path:
        with open(path, "w") as file:
            json.dump(report, file, indent=1)


if __name__ == "__main__":
    main()
