"""Decoding speed against what users would run instead, per backend, and the fraction of this
machine's limit.

    python benchmarks/bench_generation.py                     # tiny and small, B = 1, 16, 64; GRPO rollout batch
    python benchmarks/bench_generation.py --presets small --batch-sizes 1 --repeats 5 --json out.json
    python benchmarks/bench_generation.py --cache-table       # cached vs uncached decoding and peak memory
    python benchmarks/bench_generation.py --threads 2         # default: the user's threads (_thread_limits.py)

Decode rows: greedy generation of ``--new-tokens`` (64) tokens after a ``--prompt`` (32) token
random prompt for each of B rows, never stopping early, timed whole (prompt and steps):
- minireason ``generate`` with each backend (numpy, numba), token-id prompts;
- transformers' ``Qwen3ForCausalLM`` on the same weights, float32, PyTorch eager
  (transformers_reference.py): the loop a user writes with its KV cache ("hf loop"), and its
  ``generate()`` ("hf generate").  Without torch and transformers those rows are skipped.
All sides of a row run in turns, best of ``--repeats``, in one process.  "x hf loop" is the hf
loop's time over minireason's.  "of limit": batch 1 against the memory-bandwidth bound (every
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
import time
import tracemalloc

import numpy as np
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


class IdsOnly:
    """A stand-in tokenizer for token-id prompts: no special tokens, empty text."""

    eos_token_id = pad_token_id = None

    def decode(self, token_ids, skip_special_tokens=False) -> str:
        return ""


# ----------------------------------------------------------------------------- decode rows
def decode_row(models: dict, hf, batch: int, prompt_length: int, new_tokens: int, repeats: int,
               bandwidth: float) -> dict:
    reference = next(iter(models.values()))
    config = reference.config
    prompts = np.random.default_rng(batch).integers(0, config.vocab_size, (batch, prompt_length))
    prompt_lists = prompts.tolist()
    sides = {name: (lambda model=model: generate(model, IdsOnly(), prompt_lists, new_tokens, stop_token_ids=[]))
             for name, model in models.items()}
    if hf is not None:
        sides["hf loop"] = lambda: hf_reference.greedy_decode_loop(hf, prompts, new_tokens)
        sides["hf generate"] = lambda: hf_reference.generate(hf, prompts, new_tokens)
    load_before = _thread_limits.load_average()
    seconds = best_alternating(sides, repeats)
    if batch == 1:  # every one of the new_tokens forwards reads every weight once
        limit_seconds, limit_kind = new_tokens * weight_read_bytes(reference) / bandwidth, "bandwidth"
    else:
        limit_seconds, limit_kind = generation_products_seconds(config, batch, prompt_length, new_tokens), "products"
    row = {"batch": batch, "prompt": prompt_length, "new_tokens": new_tokens, "seconds": seconds,
           "tokens_per_second": {name: batch * new_tokens / value for name, value in seconds.items()},
           "limit": limit_kind, "limit_seconds": limit_seconds,
           "fraction_of_limit": {name: limit_seconds / value for name, value in seconds.items()},
           "load_average": [load_before, _thread_limits.load_average()]}
    if hf is not None:
        ours = np.array([result.token_ids for result in generate(reference, IdsOnly(), prompt_lists, new_tokens,
                                                                   stop_token_ids=[])])
        theirs = hf_reference.greedy_decode_loop(hf, prompts, new_tokens)
        row["rows_equal_to_hf"] = float(np.mean(np.all(ours == theirs, axis=1)))
        for name in models:
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
    print(f"{'':6} {'':3}  load {load[0][0]:.2f} -> {load[1][0]:.2f}{agreement}")


# ----------------------------------------------------------------------------- GRPO rollout row
def rollout_row(backends: list[str], hf_available: bool, threads: int, repeats: int, prompts: int = 16,
                group: int = 8, new_tokens: int = 64) -> dict:
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
    row = {"rows": len(texts), "max_new_tokens": new_tokens, "tokens_per_second": best, "seconds": seconds,
           "generated_tokens": tokens, "load_average": [load_before, _thread_limits.load_average()]}
    if hf_available:
        row["ratio_to_hf_generate"] = {name: best[name] / best["hf generate"] for name in models}
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
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="test-small,small")
    parser.add_argument("--backends", default="numpy,numba")
    parser.add_argument("--batch-sizes", default="1,16,64")
    parser.add_argument("--prompt", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each side, in turns; the best counts")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads of every side, set before NumPy loads (default: the user's, _thread_limits.py)")
    parser.add_argument("--no-transformers", action="store_true")
    parser.add_argument("--no-rollout", action="store_true", help="skip the GRPO rollout row")
    parser.add_argument("--no-decode", action="store_true", help="skip the decode rows")
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--cache-table", action="store_true", help="cached vs uncached decoding, peak memory")
    parser.add_argument("--contexts", default="64,256,1024", help="for --cache-table")
    args = parser.parse_args()
    backends = args.backends.split(",")
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    if args.cache_table:
        for name in args.presets.split(","):
            cache_table(name, [int(c) for c in args.contexts.split(",")], batch_sizes, 8, backends[0])
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
        print(f"\nGRPO rollout batch: builtin:base, {row['rows']} rows, up to {row['max_new_tokens']} tokens, "
              f"temperature 1, best of {args.repeats} in turns")
        for name, rate in row["tokens_per_second"].items():
            ratio = f"{row['ratio_to_hf_generate'][name]:.2f}x hf generate" if name in row.get("ratio_to_hf_generate", {}) else ""
            print(f"  {name:<12} {row['seconds'][name]:7.3f} s  {row['generated_tokens'][name]:>6} tokens  "
                  f"{rate:8.0f} tok/s  {ratio}")
        print(f"  load {row['load_average'][0][0]:.2f} -> {row['load_average'][1][0]:.2f}")
    report["load_average_end"] = _thread_limits.load_average()
    report["runtime"] = runtime.settings()
    if args.json:
        with open(args.json, "w") as file:
            json.dump(report, file, indent=1)


if __name__ == "__main__":
    main()
