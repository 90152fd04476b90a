"""Where a decoding step's time goes, op by op: each backend op timed inside real cached steps.

    python benchmarks/decode_step_ops.py --preset qwen3-0.6b --backend numba --bfloat16-decoding
    python benchmarks/decode_step_ops.py --preset small --backend numpy --batch 16
    python benchmarks/decode_step_ops.py --preset small --backend numba --generate --batch 16,64,128 --sample

Every op of the backend's namespace (``minireason.backend.REFERENCE_OPS``: linear, attention,
RMSNorm, SwiGLU, RoPE) is wrapped in a timer for the measured steps; "between the ops" is the
rest of a step: Python, the residual adds and reshapes, the KV cache's bookkeeping (the next
token is the argmax, outside the step).  The timers add about 1 us per call.  Random weights;
``--context`` tokens in the cache before the first measured step.

``--generate``: a whole ``generate`` call instead (prompt ``--context``, ``--steps`` new tokens,
greedy or ``--sample``, rows never stopping early), split into the model's forwards (each op, and
the rest of the forward) and what ``generate`` does around them: sampling over the vocabulary and
each row's bookkeeping.  ``--profile`` adds cProfile's top functions by own time.
"""

from __future__ import annotations

import _thread_limits  # first: thread counts before NumPy loads its BLAS

# isort: split
import argparse
import collections
import cProfile
import pstats
import time

import numpy as np

from minireason import runtime
from minireason.backend import REFERENCE_OPS, get_ops
from minireason.config import PRESETS
from minireason.generation.kv_cache import KVCache
from minireason.model import Qwen3Model


def timed_ops(ops, totals: dict[str, float]) -> dict:
    """Wrap every op of ``ops`` in place; return the originals, for restoring them."""
    originals = {name: getattr(ops, name) for name in REFERENCE_OPS}
    for name, function in originals.items():
        def timed(*args, _function=function, _name=name):
            start = time.perf_counter()
            result = _function(*args)
            totals[_name] += time.perf_counter() - start
            return result
        setattr(ops, name, timed)
    return originals


class IdsOnly:
    """A stand-in tokenizer for token-id prompts: no special tokens, empty text."""

    eos_token_id = pad_token_id = None

    def decode(self, token_ids, skip_special_tokens=False) -> str:
        return ""


def generate_split(model, backend: str, batch: int, context: int, new_tokens: int, sample: bool,
                   profile: bool) -> None:
    """Where one ``generate`` call's time goes: the ops, the rest of the forwards, the rest of generate."""
    from minireason.generation.generate import generate

    prompts = np.random.default_rng(batch).integers(0, model.config.vocab_size, (batch, context)).tolist()
    options = dict(temperature=1.0, seed=0) if sample else {}

    def call():
        return generate(model, IdsOnly(), prompts, new_tokens, stop_token_ids=[], **options)

    call()  # warm-up
    totals = collections.defaultdict(float)
    ops = get_ops(backend)
    originals = timed_ops(ops, totals)
    forward = model.forward

    def timed_forward(*args, **kwargs):
        start = time.perf_counter()
        result = forward(*args, **kwargs)
        totals["forward"] += time.perf_counter() - start
        return result

    model.forward = timed_forward
    try:
        start = time.perf_counter()
        call()
        total = time.perf_counter() - start
    finally:
        del model.forward
        for name, function in originals.items():
            setattr(ops, name, function)
    in_forward = totals.pop("forward")
    print(f"{model.config.num_hidden_layers} layers, backend {backend}, batch {batch}, prompt {context}, "
          f"{new_tokens} new, {'sampling' if sample else 'greedy'}: {total:.3f} s "
          f"({batch * new_tokens / total:.0f} tok/s), load {_thread_limits.load_average()[0]:.2f}")
    in_ops = 0.0
    for name, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        in_ops += seconds
        print(f"  {name:<26} {seconds * 1e3:9.1f} ms  {seconds / total:6.1%}")
    print(f"  {'forward, between the ops':<26} {(in_forward - in_ops) * 1e3:9.1f} ms  {(in_forward - in_ops) / total:6.1%}")
    print(f"  {'generate, outside forward':<26} {(total - in_forward) * 1e3:9.1f} ms  {(total - in_forward) / total:6.1%}")
    if profile:
        profiler = cProfile.Profile()
        profiler.runcall(call)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(14)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="qwen3-0.6b", choices=sorted(PRESETS))
    parser.add_argument("--backend", default="numba")
    parser.add_argument("--bfloat16-decoding", action="store_true")
    parser.add_argument("--batch", default="1", help="batch size, or several: 16,64,128")
    parser.add_argument("--context", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--generate", action="store_true", help="split a whole generate call instead")
    parser.add_argument("--sample", action="store_true", help="with --generate: temperature 1 sampling")
    parser.add_argument("--profile", action="store_true", help="with --generate: cProfile's top functions")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads, set before NumPy loads (default: the user's, _thread_limits.py)")
    args = parser.parse_args(argv)
    runtime.activate(runtime.DECODE)  # the settings generate decodes with
    model = Qwen3Model.from_config(PRESETS[args.preset], seed=0, backend=args.backend)
    if args.bfloat16_decoding:
        model = model.with_bfloat16_decoding()
    batches = [int(batch) for batch in args.batch.split(",")]
    if args.generate:
        for batch in batches:
            generate_split(model, args.backend, batch, args.context, args.steps, args.sample, args.profile)
        return 0
    for batch in batches:
        one_step_split(model, args, batch)
    return 0


def one_step_split(model, args, batch: int) -> None:
    args.batch = batch
    rng = np.random.default_rng(1)
    cache = KVCache(model.config, args.batch, args.context + args.steps + 4, dtype=model.dtype)
    logits, _ = model.forward(rng.integers(0, model.config.vocab_size, (args.batch, args.context)),
                              kv_cache=cache, last_only=True)
    tokens = logits[:, -1].argmax(-1)[:, None]
    for _ in range(2):  # warm-up steps (compile or load the one-token kernels)
        logits, _ = model.forward(tokens, kv_cache=cache, last_only=True)
    totals = collections.defaultdict(float)
    ops = get_ops(args.backend)
    originals = timed_ops(ops, totals)
    try:
        start = time.perf_counter()
        for _ in range(args.steps):
            logits, _ = model.forward(tokens, kv_cache=cache, last_only=True)
            tokens = logits[:, -1].argmax(-1)[:, None]
        step = (time.perf_counter() - start) / args.steps
    finally:
        for name, function in originals.items():
            setattr(ops, name, function)
    print(f"{args.preset}, backend {args.backend}{', bfloat16 decoding' if args.bfloat16_decoding else ''}, "
          f"batch {args.batch}, {args.context}+ tokens in the cache: {step * 1e3:.2f} ms a step "
          f"(mean of {args.steps})")
    in_ops = 0.0
    for name, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        in_ops += seconds / args.steps
        print(f"  {name:<22} {seconds / args.steps * 1e3:8.2f} ms  {seconds / args.steps / step:6.1%}")
    print(f"  {'between the ops':<22} {(step - in_ops) * 1e3:8.2f} ms  {(step - in_ops) / step:6.1%}")


if __name__ == "__main__":
    raise SystemExit(main())
