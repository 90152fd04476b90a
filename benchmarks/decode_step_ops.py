"""Where a decoding step's time goes, op by op: each backend op timed inside real cached steps.

    python benchmarks/decode_step_ops.py --preset qwen3-0.6b --backend numba --bfloat16-decoding
    python benchmarks/decode_step_ops.py --preset small --backend numpy --batch 16

Every op of the backend's namespace (``minireason.backend.REFERENCE_OPS``: linear, attention,
RMSNorm, SwiGLU, RoPE) is wrapped in a timer for the measured steps; "between the ops" is the
rest of a step: Python, the residual adds and reshapes, the KV cache's bookkeeping (the next
token is the argmax, outside the step).  The timers add about 1 us per call.  Random weights;
``--context`` tokens in the cache before the first measured step.
"""

from __future__ import annotations

import argparse
import collections
import time

import numpy as np

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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="qwen3-0.6b", choices=sorted(PRESETS))
    parser.add_argument("--backend", default="numba")
    parser.add_argument("--bfloat16-decoding", action="store_true")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--context", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args(argv)
    model = Qwen3Model.from_config(PRESETS[args.preset], seed=0, backend=args.backend)
    if args.bfloat16_decoding:
        model = model.with_bfloat16_decoding()
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
