"""The sampling step's cost over a vocabulary: ``sample_next_tokens`` per batch size and setting,
and its draw against one running sum over the whole row.

    python benchmarks/bench_sampling.py                       # Qwen3's 151,936 tokens, B = 1, 16, 64
    python benchmarks/bench_sampling.py --vocab 8192 --batch-sizes 16,64,128
    python benchmarks/bench_sampling.py --backend numpy       # the reference's log-probability op

Logits are float32 (as a model hands them over), N(0, 3^2).  Each row prints the whole step at
temperature 1 (no filter), temperature 0.7, and greedy, with the chosen tokens' log-probabilities
from ``--backend``'s token log-probability op (default: the default backend, as ``generate`` takes
its model's); then the draw alone, ``inverse_cdf_draw``
(block sums, a running sum inside one block) against ``np.cumsum`` over the row and the first
index past the target (the definition), in turns, best of ``--repeats``.  The ``decode`` profile of
``minireason.runtime`` is switched on first (freed memory kept for reuse), as ``generate`` does.
"""

from __future__ import annotations

import argparse

import numpy as np
from timing import best_alternating

import minireason.runtime as runtime
from minireason.backend import default_backend, get_ops
from minireason.generation.sampling import SamplingSettings, inverse_cdf_draw, sample_next_tokens


def one_running_sum_draw(weights: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    running = np.cumsum(weights, axis=-1)  # (B, V)
    return np.argmax(running > (uniforms * running[:, -1])[:, None], axis=-1)


def time_one_batch(batch: int, vocab: int, repeats: int, rng, logprob_op) -> list[float]:
    """Seconds: the step at temperature 1, 0.7 and greedy; the draw by blocks and by one running sum."""
    logits = (rng.standard_normal((batch, vocab)) * 3).astype(np.float32)  # (B, V)
    steps = {t: (lambda t=t: sample_next_tokens(logits, SamplingSettings(t), np.random.default_rng(1), logprob_op))
             for t in (1.0, 0.7, 0.0)}
    weights = np.exp(logits - logits.max(axis=-1, keepdims=True))  # (B, V) float32, as sample_next_tokens draws
    uniforms = rng.random(batch)  # (B,)
    draws = {"blocks": lambda: inverse_cdf_draw(weights, uniforms),
             "one sum": lambda: one_running_sum_draw(weights, uniforms)}
    return [*best_alternating(steps, repeats).values(), *best_alternating(draws, repeats).values()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=151936)
    parser.add_argument("--batch-sizes", default="1,16,64")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--backend", default=None, help="whose token log-probability op (default: the default backend)")
    args = parser.parse_args(argv)
    backend = args.backend or default_backend()
    logprob_op = get_ops(backend).token_logprobs_forward
    runtime.activate(runtime.DECODE)  # decoding's process settings, as generate() switches them
    rng = np.random.default_rng(0)
    print(f"vocabulary {args.vocab}, log-probabilities by the {backend} backend's op, best of {args.repeats}")
    print(f"milliseconds a step: {'B':>4} {'T = 1':>9} {'T = 0.7':>9} {'greedy':>9}   draw alone: {'blocks':>8} {'one sum':>8}")
    for batch in (int(b) for b in args.batch_sizes.split(",")):
        ms = [f"{seconds * 1e3:9.2f}" for seconds in time_one_batch(batch, args.vocab, args.repeats, rng, logprob_op)]
        print(f"{'':20} {batch:4d} {ms[0]} {ms[1]} {ms[2]}   {'':11} {ms[3][1:]} {ms[4][1:]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
