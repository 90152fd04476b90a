"""Stage ``generation``: greedy chains of thought with the KV cache (``generate``) and without it
(:func:`decode_without_cache`): the same tokens, graded, and the tokens/s of each."""

from __future__ import annotations

import time

import numpy as np

from minireason.demo.context import DemoContext
from minireason.demo.report import StageRow
from minireason.demo.settings import ANSWER_FALLBACK, PROMPT_FORMAT
from minireason.device import to_host
from minireason.evaluation.judge import judge_completion
from minireason.evaluation.prompts import PromptSpec
from minireason.generation.generate import eos_token_ids, generate

TITLE = "tokens/s with and without the KV cache"


def decode_without_cache(model, prompt_rows: list[list[int]], max_new_tokens: int, stop_ids) -> list[list[int]]:
    """Greedy decoding that re-runs each row's whole context for every new token (no KV cache).

    The reference the KV cache is measured against: generating N tokens after L costs O(N L) token
    positions through the projections and O(N L^2) attention, where the cache costs O(N) and O(N L).
    Rows are left-padded (the mask gives every row the positions it would have alone) and leave
    the batch when they emit a stop id or reach ``max_new_tokens``.
    """
    stop_ids = frozenset(stop_ids)
    generated: list[list[int]] = [[] for _ in prompt_rows]
    active = list(range(len(prompt_rows)))
    while active:
        sequences = [prompt_rows[row] + generated[row] for row in active]
        T = max(len(sequence) for sequence in sequences)
        token_ids = np.zeros((len(active), T), dtype=np.int64)  # (B, T), left-padded
        attention_mask = np.zeros((len(active), T), dtype=bool)  # (B, T)
        for b, sequence in enumerate(sequences):
            token_ids[b, T - len(sequence):] = sequence
            attention_mask[b, T - len(sequence):] = True
        logits, _ = model.forward(token_ids, attention_mask, last_only=True)  # (B, 1, V)
        next_ids = np.argmax(to_host(logits[:, -1]), axis=-1).tolist()  # (B,)
        still = []
        for row, token_id in zip(active, next_ids):
            generated[row].append(int(token_id))
            if token_id not in stop_ids and len(generated[row]) < max_new_tokens:
                still.append(row)
        active = still
    return generated


def run(context: DemoContext) -> list[StageRow]:
    """The generation stage: the same greedy chains with and without the KV cache, their accuracy and speed."""
    settings, log = context.settings, context.stage_log("generation")
    model, tokenizer = context.shipped(settings.model)
    records = context.held_out[:settings.generation_prompts]
    prompts = [PromptSpec("cot", PROMPT_FORMAT).text(record["problem"]) for record in records]
    generate(model, tokenizer, prompts[:1], 2)  # warm-up: first calls pay for imports and allocations

    started = time.perf_counter()
    cached = generate(model, tokenizer, prompts, settings.generation_tokens)
    cached_seconds = time.perf_counter() - started
    cached_ids = [list(result.token_ids) for result in cached]

    stop_ids = frozenset(eos_token_ids(tokenizer, model))
    started = time.perf_counter()
    uncached_ids = decode_without_cache(model, [list(result.prompt_tokens) for result in cached],
                                        settings.generation_tokens, stop_ids)
    uncached_seconds = time.perf_counter() - started

    identical = sum(a == b for a, b in zip(cached_ids, uncached_ids))
    context_tokens = float(np.mean([len(result.prompt_tokens) + len(ids) for result, ids in zip(cached, cached_ids)]))
    rows = []
    for method, token_lists, seconds in (("kv-cache", cached_ids, cached_seconds),
                                         ("no-cache", uncached_ids, uncached_seconds)):
        texts = [tokenizer.decode([i for i in ids if i not in stop_ids]) for ids in token_lists]
        correct = [judge_completion(record, text, fallback=ANSWER_FALLBACK)[1] for record, text in zip(records, texts)]
        tokens = sum(len(ids) for ids in token_lists)
        rows.append(StageRow("generation", method, len(records), sum(correct) / len(correct), tokens / len(records),
                             seconds, {"tokens_per_second": tokens / max(seconds, 1e-9),
                                       "context_tokens": context_tokens,
                                       "identical_completions": identical}))
    speedup = rows[0].extra["tokens_per_second"] / max(rows[1].extra["tokens_per_second"], 1e-9)
    log(f"KV cache {rows[0].extra['tokens_per_second']:,.0f} tokens/s, without it "
        f"{rows[1].extra['tokens_per_second']:,.0f} tokens/s ({speedup:.1f}x) at a mean context of "
        f"{context_tokens:.0f} tokens; {identical}/{len(records)} completions token for token the same")
    return rows
