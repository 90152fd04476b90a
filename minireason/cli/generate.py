"""``minireason generate``: complete one prompt, printing the text as it is generated, then tokens/s.

    minireason generate --model builtin:NAME --prompt "12+34=" --max-new-tokens 40
    minireason generate --model ./Qwen3-0.6B --prompt "Hello" --temperature 0.7 --top-p 0.8 --seed 0
    minireason generate --model builtin:base --prompt "Compute 482+397. Think step by step." \
        --max-thinking-tokens 16        # force </think> after 16 thinking tokens

Sampling settings left out fall back to the checkpoint's generation_config.json, and to greedy
decoding when it has none. Ctrl-C stops generation and keeps what was printed.
"""

from __future__ import annotations

import sys
import time

from minireason.cli import arguments
from minireason.errors import InputError
from minireason.generation.generate import ThinkingBudget, generate, stream_generate
from minireason.io.pretrained import load_pretrained


def add_sampling_arguments(parser) -> None:
    """The flags ``generate`` and ``chat`` share."""
    parser.add_argument("--model", required=True, help="checkpoint directory or builtin:NAME")
    parser.add_argument("--temperature", type=float, default=None, help="0 = greedy (default: the checkpoint's)")
    parser.add_argument("--top-k", type=arguments.non_negative_int, default=None, help="keep the k most likely tokens (0 = off)")
    parser.add_argument("--top-p", type=float, default=None, help="nucleus mass in (0, 1] (1 = off)")
    parser.add_argument("--min-p", type=float, default=None, help="drop tokens below min_p x the top probability")
    parser.add_argument("--max-new-tokens", type=arguments.positive_int, default=256, help="completion limit")
    parser.add_argument("--seed", type=arguments.seed, default=None,
                        help="fix the sampling randomness (an int >= 0)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"],
                        help="precision of the weights and the computation")
    parser.add_argument("--bfloat16-decoding", action="store_true",
                        help="round the weights to bfloat16 and decode from 2-byte copies: about twice the "
                             "tokens/s on a bandwidth-bound CPU (needs the numba backend, the default, and float32)")
    add_thinking_budget_arguments(parser)


def add_thinking_budget_arguments(parser) -> None:
    """The thinking-budget flags ``generate``, ``chat`` and ``eval`` share (see ``ThinkingBudget``)."""
    parser.add_argument("--max-thinking-tokens", type=arguments.non_negative_int, default=None, metavar="N",
                        help="at most N tokens inside <think>: then </think> is forced and the model answers")
    parser.add_argument("--min-thinking-tokens", type=arguments.non_negative_int, default=None, metavar="N",
                        help="a </think> before N thinking tokens is replaced by 'Wait' (s1's budget forcing)")
    parser.add_argument("--max-wait", type=arguments.positive_int, default=None, metavar="K",
                        help="with --min-thinking-tokens: replace a </think> at most K times (default 1)")


def thinking_budget_from(args, answer_prefix: str = "\n"):
    """The ``ThinkingBudget`` the flags ask for, or None; InputError (one line) for flags that do not fit.

    ``answer_prefix``: what is forced after ``</think>`` at the cap: ``"\n"`` as in the built-in
    models' ``\n</think>\n\boxed{..}``, ``"\n\n"`` in Qwen3's chat format (``chat``)."""

    cap, least, waits = args.max_thinking_tokens, args.min_thinking_tokens, args.max_wait
    if waits is not None and not least:
        raise InputError("--max-wait needs --min-thinking-tokens N (N >= 1): it counts how many times a "
                         "too-early </think> is replaced by 'Wait'")
    if cap is None and not least:
        return None
    return ThinkingBudget(max_thinking_tokens=cap, min_thinking_tokens=least or 0,
                          max_wait=waits if waits is not None else 1, answer_prefix=answer_prefix)


def add_arguments(parser) -> None:
    """Adds the options of ``minireason generate`` to its parser."""
    add_sampling_arguments(parser)
    parser.add_argument("--prompt", required=True, type=arguments.text, help="the text to continue")
    parser.add_argument("--no-stream", action="store_true", help="print the text once, at the end")


def sampling_settings(args, model) -> dict:
    """The sampling keyword arguments: flags first, then the checkpoint's generation_config, then greedy."""
    defaults = {"temperature": 0.0, "top_k": 0, "top_p": 1.0, "min_p": 0.0}
    config = getattr(model, "generation_config", {}) or {}
    if config.get("do_sample") is False:
        config = {}
    settings = {}
    for name, default in defaults.items():
        flag = getattr(args, name)
        settings[name] = flag if flag is not None else config.get(name, default)
    return settings


def load_model(args):
    """The model and tokenizer ``--model`` names, in ``--dtype``; a checkpoint without a tokenizer raises ``InputError``."""
    model, tokenizer = load_pretrained(args.model, dtype=args.dtype)
    if tokenizer is None:
        raise InputError(f"--model {args.model}: the checkpoint has no tokenizer.json; generation needs one")
    if getattr(args, "bfloat16_decoding", False):
        model = model.with_bfloat16_decoding()
    return model, tokenizer


def print_speed(n_tokens: int, seconds: float) -> None:
    """Prints the tokens generated, the seconds and the rate to stderr."""
    rate = n_tokens / seconds if seconds > 0 else float("inf")
    print(f"[{n_tokens} tokens in {seconds:.2f} s, {rate:.1f} tokens/s]", file=sys.stderr)


def run(args) -> int:
    """Runs ``minireason generate`` on the parsed arguments; returns the exit status (0 on success)."""
    budget = thinking_budget_from(args)  # bad flags fail before the model loads
    model, tokenizer = load_model(args)
    settings = sampling_settings(args, model)
    start = time.perf_counter()
    if args.no_stream:
        try:
            (result,) = generate(model, tokenizer, [args.prompt], args.max_new_tokens, seed=args.seed,
                                 thinking_budget=budget, **settings)
        except KeyboardInterrupt:  # nothing printed yet, nothing to keep
            print_speed(0, time.perf_counter() - start)
            return 130
        print(args.prompt + result.text)
        print_speed(len(result.token_ids), time.perf_counter() - start)
        return 0
    stream = stream_generate(model, tokenizer, args.prompt, args.max_new_tokens, seed=args.seed,
                             thinking_budget=budget, **settings)
    print(args.prompt, end="", flush=True)
    try:
        for piece in stream:
            print(piece, end="", flush=True)
    except KeyboardInterrupt:
        print()
        print_speed(len(stream.token_ids), time.perf_counter() - start)
        return 130
    print()
    print_speed(len(stream.token_ids), time.perf_counter() - start)
    return 0
