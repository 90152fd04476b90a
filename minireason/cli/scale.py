"""``minireason scale``: compare inference-time scaling methods against the compute they spend.

    minireason scale --model builtin:base --data "task:addition?n=30&split=test" \\
        --methods greedy,cot,sc@4,sc@16,bon@8,refine@2 --seed 0
    minireason scale --model builtin:base --data "task:addition?n=200&split=test&difficulty=3&seed=5" \\
        --methods cot,budget@8,budget@16,budget@32,budget@48     # accuracy against thinking tokens

prints one row per method (accuracy, generated tokens per problem, seconds per problem, samples,
pass@N of the samples), and writes to --out-dir: ``records.jsonl`` (one line per method and
problem) with ``records.jsonl.manifest.json`` (what made them: model weights hash, data hash,
methods, seed, sampling settings, the command's arguments), ``summary.json`` (which holds the same
manifest) and ``accuracy_vs_tokens.png``. Method names and their size limit (MAX_METHOD_SIZE):
see :mod:`minireason.scaling.runner`; --data takes a problem file or a ``task:NAME?...`` name.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from minireason.cli import arguments
from minireason.errors import InputError
from minireason.identity import make_manifest
from minireason.io.pretrained import load_pretrained
from minireason.run_folder import claim_run_folder, releasing_run_folders
from minireason.scaleout import add_ray_arguments, scale_out
from minireason.scaling.outcome import ScalingSettings
from minireason.scaling.prompts import PromptSpec, default_prompt_format
from minireason.scaling.runner import (
    comparison_identity,
    format_table,
    parse_methods,
    run_comparison,
    save_plot,
    write_summary,
)
from minireason.scaling.sampler import ModelSampler
from minireason.tasks.export import resolve_data

DEFAULT_METHODS = "greedy,cot,sc@4,sc@16,bon@8,refine@2"


def add_common_arguments(parser, methods_default: str, limit_default: int | None, max_new_tokens_default: int) -> None:
    """Flags ``scale`` and ``demo`` share."""
    parser.add_argument("--methods", default=methods_default,
                        help=f"comma-separated methods: greedy, cot, sc@N[:early], bon@N[:heuristic|logprob|oracle], "
                             f"refine@K[:logprob|heuristic|oracle], budget@N[:wait] (at most N thinking tokens; "
                             f":wait also forces 'Wait' for a </think> before N) (default {methods_default})")
    parser.add_argument("--limit", type=arguments.positive_int, default=limit_default,
                        help="use only the first N problems")
    parser.add_argument("--seed", type=arguments.seed, default=0,
                        help="seed of every sampled completion (>= 0)")
    parser.add_argument("--max-new-tokens", type=arguments.positive_int, default=max_new_tokens_default,
                        help="per completion")
    parser.add_argument("--temperature", type=float, default=0.8, help="for the sampled methods (sc, bon, refine)")
    parser.add_argument("--top-p", type=float, default=1.0, help="nucleus filter for the sampled methods")
    parser.add_argument("--prompt-format", choices=["auto", "plain", "chat"], default="auto",
                        help="plain: the built-in models' task prompts; chat: the Qwen3 chat template "
                             "(auto: plain for builtin:*, else chat)")
    parser.add_argument("--batch-size", type=arguments.positive_int, default=32,
                        help="most prompts per generate call")
    parser.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    arguments.add_hidden_alias(parser, "--quiet", dest="no_progress", action="store_true")


def add_arguments(parser) -> None:
    """Adds the options of ``minireason scale`` to its parser."""
    parser.add_argument("--model", required=True, help="checkpoint directory or builtin:NAME")
    parser.add_argument("--data", required=True,
                        help="problem file (JSONL/JSON with problem and answer) or task:NAME?n=..&split=test")
    parser.add_argument("--out-dir", default="runs/scale", help="where records.jsonl, summary.json and the plot go")
    add_common_arguments(parser, DEFAULT_METHODS, None, 256)
    add_ray_arguments(parser)


def _progress_printer(quiet: bool):
    if quiet:
        return None

    def show(method: str, done: int, total: int) -> None:
        end = "\n" if done == total else ""
        print(f"\r  {method:<16} {done}/{total}", end=end, file=sys.stderr, flush=True)

    return show


def run_scaling_comparison(model_path: str, data: str, methods: str, out_dir: str, limit: int | None, seed: int,
                           max_new_tokens: int, temperature: float, top_p: float, prompt_format: str,
                           batch_size: int, quiet: bool, title: str | None = None, command: str = "scale",
                           arguments: dict | None = None, ray: bool = False, workers: int | None = None,
                           address: str | None = None):
    """Load, run, save; returns (summary rows, output paths). Shared by ``scale`` and ``demo``
    (``command`` and ``arguments``: what the manifest says made the records; ``ray``, ``workers``,
    ``address``: the samples on Ray actors, :mod:`minireason.scaleout`)."""

    specs = parse_methods(methods)  # a bad method name or size (> MAX_METHOD_SIZE) fails before loading anything
    if limit is not None and limit < 1:
        raise InputError(f"--limit: expected an integer >= 1, got {limit}")
    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise InputError(f"--out-dir {out_dir}: exists and is not a directory")
    if prompt_format == "auto":
        prompt_format = default_prompt_format(model_path)
    records = resolve_data(data)
    if limit is not None:
        records = records[:limit]
    model, tokenizer = load_pretrained(model_path)
    sampler = ModelSampler(model, tokenizer, top_p=top_p, stop_strings=PromptSpec(prompt_format=prompt_format).stop_strings,
                           batch_size=batch_size)
    settings = ScalingSettings(max_new_tokens=max_new_tokens, temperature=temperature, prompt_format=prompt_format)
    out = Path(out_dir)
    manifest = make_manifest(command, comparison_identity(sampler, records, specs, settings, seed), {
        "arguments": arguments if arguments is not None else {
            "model": model_path, "data": data, "methods": methods, "out_dir": out_dir, "limit": limit,
            "seed": seed, "max_new_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p,
            "prompt_format": prompt_format, "batch_size": batch_size}})
    started = time.perf_counter()
    with scale_out(model, tokenizer, ray, workers, address) as executor:
        rows = run_comparison(sampler, records, specs, settings, seed=seed, records_path=out / "records.jsonl",
                              on_progress=_progress_printer(quiet), manifest=manifest, executor=executor)
    elapsed = time.perf_counter() - started
    plot = save_plot(rows, out / "accuracy_vs_tokens.png", title=title or f"{model_path} on {data}")
    summary = write_summary(rows, out / "summary.json", extra={
        "model": model_path, "data": data, "problems": len(records), "seed": seed, "temperature": temperature,
        "top_p": top_p, "max_new_tokens": max_new_tokens, "prompt_format": prompt_format, "total_seconds": elapsed,
        "manifest": manifest})
    return rows, {"records": out / "records.jsonl", "summary": summary, "plot": plot, "seconds": elapsed}


@releasing_run_folders
def run(args) -> int:
    """Runs ``minireason scale`` on the parsed arguments; returns the exit status (0 on success)."""
    parse_methods(args.methods)  # a bad method is refused before anything is made
    claim_run_folder(args.out_dir, "scale")  # a user's folder is refused before anything is loaded
    rows, paths = run_scaling_comparison(args.model, args.data, args.methods, args.out_dir, args.limit, args.seed,
                                         args.max_new_tokens, args.temperature, args.top_p, args.prompt_format,
                                         args.batch_size, args.no_progress,
                                         arguments={key: value for key, value in vars(args).items()
                                                    if isinstance(value, (str, int, float, bool)) or value is None},
                                         ray=args.ray, workers=args.workers, address=args.address)
    print(format_table(rows))
    print(f"\n{rows[0].problems} problems, {paths['seconds']:.1f} s in all")
    print(f"records: {paths['records']}\nsummary: {paths['summary']}\nplot:    {paths['plot']}")
    return 0
