"""``minireason smoke``: build a tiny random model, run one forward/backward, print loss and gradient norm."""

from __future__ import annotations

import time

import numpy as np

from minireason.cli import arguments
from minireason.config import PRESETS
from minireason.errors import ConfigError
from minireason.model import Qwen3Model
from minireason.optim import global_grad_norm


def add_arguments(parser) -> None:
    """Adds the options of ``minireason smoke`` to its parser."""
    parser.add_argument("--preset", default="test-small", help="model preset (see minireason.config.PRESETS)")
    parser.add_argument("--batch-size", type=arguments.positive_int, default=4, help="rows of random tokens")
    parser.add_argument("--seq-len", type=arguments.positive_int, default=64,
                        help="tokens per row, at most the preset's max_position_embeddings")
    parser.add_argument("--seed", type=arguments.seed, default=0, help="seed of the weights and the tokens")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"],
                        help="precision of the weights and the computation")


def run(args) -> int:
    """Runs ``minireason smoke`` on the parsed arguments; returns the exit status (0 on success)."""
    if args.preset not in PRESETS:
        raise ConfigError(f"unknown preset {args.preset!r}; choose from {', '.join(PRESETS)}")
    config = PRESETS[args.preset]
    if args.seq_len > config.max_position_embeddings:
        raise ConfigError(f"--seq-len {args.seq_len}: the {args.preset} preset holds at most "
                          f"{config.max_position_embeddings} positions (max_position_embeddings)")
    model = Qwen3Model.from_config(config, seed=args.seed, dtype=args.dtype)
    rng = np.random.default_rng(args.seed)
    ids = rng.integers(0, config.vocab_size, (args.batch_size, args.seq_len + 1))
    start = time.perf_counter()
    loss, grads = model.loss_and_grads(ids[:, :-1], ids[:, 1:])
    seconds = time.perf_counter() - start
    print(f"model: {args.preset}, {model.num_parameters():,} parameters, {args.dtype}")
    print(f"loss: {loss:.4f} (uniform guess: ln V = {np.log(config.vocab_size):.4f})")
    print(f"gradient norm: {global_grad_norm(grads):.4f} over {len(grads)} tensors")
    print(f"forward+backward: {seconds * 1000:.1f} ms for {args.batch_size}x{args.seq_len} tokens")
    return 0
