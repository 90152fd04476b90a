"""What the GRPO learner's padding savings are worth: forward and backward of one step's rollouts
through ``model.token_loss_and_grads``, micro-batches in the rollout's order or shortest first
(``posttrain.grpo.shortest_first``), each part of the rows computing every position or stopping
after its rows' last real token (the loss seam's cut, docs/kernels.md "Rows split over the cores");
the four in turns in one process, the fastest of ``--rounds``.

    python benchmarks/learner_padding.py
    python benchmarks/learner_padding.py --steps 3 --rounds 6 --threads 1

The rollouts are ``benchmarks/bench_grpo.py``'s (builtin:base, 16 prompts x 8 at temperature 1.2,
up to 128 tokens), one batch per ``--steps`` from seeds 0, 1, ...; the loss is a weighted sum of the
log-probabilities and entropies on the completion tokens.  "positions" counts what the micro-batches
(or, cut, their parts) compute; with one thread the rows are not split, so there is nothing to cut.
"""

from __future__ import annotations

import _thread_limits  # first: thread counts before NumPy loads its BLAS

# isort: split
import argparse
import time

import numpy as np

from minireason import runtime
from minireason.backend import set_backend
from minireason.evaluation.prompts import PromptSpec
from minireason.generation.generate import pad_token_id
from minireason.generation.rollout import pack_rows, sample_rollouts
from minireason.io.pretrained import load_pretrained
from minireason.model import Qwen3Model, row_widths
from minireason.posttrain.data import micro_batches
from minireason.posttrain.grpo import GRPOConfig, shortest_first
from minireason.tasks.export import resolve_data

VARIANTS = (("in order", False, False), ("shortest first", True, False), ("cut", False, True),
            ("shortest first, cut", True, True))


def packed_micro_batches(rollouts, sort: bool, size: int, pad_id: int) -> list:
    """The rollouts' micro-batches of at most ``size`` rows, packed: shortest first or in their order."""
    rows = len(rollouts)
    parts = (shortest_first(rollouts.sequence_lengths, 0, rows, size) if sort
             else [range(rows)[part] for part in micro_batches(rows, size)])
    return [pack_rows(rollouts, part, pad_id) for part in parts]


def forward_backward(model, packed: list, weights: list) -> None:
    for part, (dlogp, dentropy) in zip(packed, weights):
        def loss_fn(logp, entropy, dlogp=dlogp, dentropy=dentropy):
            return float((dlogp * logp).sum() + (dentropy * entropy).sum()), dlogp, dentropy

        model.token_loss_and_grads(part.input_ids, part.targets, loss_fn, part.loss_mask, part.attention_mask,
                                   1.2, with_entropy=True)


def computed_positions(model, packed: list, cut: bool) -> int:
    """Positions the forwards compute: each micro-batch's rows x width, or each part's when cut."""
    total = 0
    for part in packed:
        B, T = part.input_ids.shape
        if not cut:
            total += B * T
            continue
        widths = row_widths(part.attention_mask)  # (B,) each row's real tokens: its loss ends there
        total += sum(len(widths[rows]) * max(int(widths[rows].max()), 1) for rows in model._row_shards(widths))
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="numba")
    parser.add_argument("--model", default="builtin:base")
    parser.add_argument("--steps", type=int, default=3, help="rollout batches, each timed on its own")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--micro-batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="(read by _thread_limits before NumPy loads)")
    args = parser.parse_args()
    set_backend(args.backend)
    model, tokenizer = load_pretrained(args.model)
    config = GRPOConfig()
    records = resolve_data("task:addition?n=2000&split=train&difficulty=3")
    spec = PromptSpec("cot", config.prompt_format)
    print(_thread_limits.machine_line(), f"backend {args.backend}, micro-batches of {args.micro_batch_size}")
    find_padding = Qwen3Model._padding
    for step in range(args.steps):
        chosen = records[16 * step:16 * (step + 1)]
        rollouts = sample_rollouts(model, tokenizer, chosen, [spec.text(record["problem"]) for record in chosen], 8,
                                   128, 1.2, rng=np.random.default_rng(step))
        lengths = rollouts.sequence_lengths  # (N,)
        print(f"step {step}: {len(rollouts)} rows of {min(lengths)} to {max(lengths)} tokens "
              f"({sum(lengths)} in all)")
        batches = {sort: packed_micro_batches(rollouts, sort, args.micro_batch_size, pad_token_id(tokenizer, model))
                   for sort in (False, True)}
        rng = np.random.default_rng(step)
        weights = {sort: [(rng.standard_normal(part.loss_mask.shape) * part.loss_mask,
                           0.01 * part.loss_mask.astype(np.float64)) for part in packed]
                   for sort, packed in batches.items()}
        seconds = {name: [] for name, _, _ in VARIANTS}
        with runtime.use_profile(runtime.TRAIN):
            for round_index in range(args.rounds + 1):  # the first round warms up
                for name, sort, cut in VARIANTS:
                    Qwen3Model._padding = find_padding if cut else (lambda self, *unused: None)
                    try:
                        started = time.perf_counter()
                        forward_backward(model, batches[sort], weights[sort])
                        elapsed = time.perf_counter() - started
                    finally:
                        Qwen3Model._padding = find_padding
                    if round_index:
                        seconds[name].append(elapsed)
        base = min(seconds["in order"])
        for name, sort, cut in VARIANTS:
            print(f"  {name:22} {min(seconds[name]) * 1e3:7.0f} ms  {base / min(seconds[name]):5.2f}x  "
                  f"positions {computed_positions(model, batches[sort], cut)}")


if __name__ == "__main__":
    main()
