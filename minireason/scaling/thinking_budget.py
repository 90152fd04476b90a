"""Thinking budget: one greedy chain of thought whose ``<think>`` block may hold at most N tokens.

Where self-consistency and best-of-N buy accuracy with more samples, a thinking budget trades it
within one sample: the longer the model may think, the more of its reasoning it finishes.

    prompt ──generate, thinking_budget=ThinkingBudget(max_thinking_tokens=N)──▶ completion ──extract──▶ answer

When the row has spent N tokens inside ``<think>``, ``generate`` forces ``</think>`` and the answer
prefix (``"\\n"`` for the built-in models' ``...\\n</think>\\n\\boxed{..}``, ``"\\n\\n"`` for Qwen3's
chat format, which writes a blank line after ``</think>``), and the model answers from what it has
thought so far (Qwen3's thinking budget). A list of budgets, ``budget@8,budget@16,...``, gives
accuracy against thinking tokens on the runner's accuracy-vs-tokens plot.

``budget@N:wait`` adds s1's budget forcing: a ``</think>`` before N thinking tokens is replaced by
"Wait" (at most :data:`WAIT_ROUNDS` times), so the model thinks about N tokens, neither fewer nor more.

Compute: every token the row decoded, forced ones included (they cost a forward pass each), plus
those a "Wait" took back, is counted as generated (``MeteredSampler``); ``details`` holds the
thinking tokens, forced tokens and "Wait" insertions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from minireason.errors import InputError
from minireason.generation.generate import GenerationResult, ThinkingBudget, generate
from minireason.scaling.compute import ComputeMeter, MeteredSampler
from minireason.scaling.outcome import Judge, MethodOutcome, ScalingSettings
from minireason.scaling.prompts import PromptSpec
from minireason.scaling.sampler import Sample, derive_seed, mean_logprob

WAIT_ROUNDS = 2  # budget@N:wait: how many times a too-early </think> becomes "Wait"
ANSWER_PREFIXES = {"plain": "\n", "chat": "\n\n"}  # what each format writes right after </think>


def budget_for(max_thinking_tokens: int, prompt_format: str = "plain", wait: bool = False) -> ThinkingBudget:
    """The budget of ``budget@N`` (``wait``: ``budget@N:wait``, minimum = cap = N) in a prompt format."""
    return ThinkingBudget(max_thinking_tokens=max_thinking_tokens,
                          min_thinking_tokens=max_thinking_tokens if wait else 0,
                          max_wait=WAIT_ROUNDS, answer_prefix=ANSWER_PREFIXES.get(prompt_format, "\n"))


class BudgetedSampler:
    """A model sampler whose completions think within ``budget``.

    Takes a :class:`~minireason.scaling.sampler.ModelSampler` (its model, tokenizer, filters, stop
    strings and batch size) and samples as it does, one Generator per prompt seeded by its index,
    with the budget added. ``results`` keeps the last call's ``GenerationResult`` objects (thinking
    tokens, forced tokens, "Wait" insertions).
    """

    def __init__(self, sampler, budget: ThinkingBudget):
        if getattr(sampler, "model", None) is None or getattr(sampler, "tokenizer", None) is None:
            raise InputError(f"thinking budget: needs a sampler with a model and a tokenizer (a ModelSampler), "
                             f"got {type(sampler).__name__}")
        self.sampler, self.budget = sampler, budget
        self.tokenizer = sampler.tokenizer
        self.results: list[GenerationResult] = []

    def sample(self, prompts: Sequence[str], max_new_tokens: int, temperature: float,
               seed: int | None) -> list[Sample]:
        sampler = self.sampler
        batch_size = getattr(sampler, "batch_size", len(prompts))
        self.results = []
        for start in range(0, len(prompts), batch_size):
            chunk = list(prompts[start:start + batch_size])
            generators = [np.random.default_rng(derive_seed(seed, start + offset)) for offset in range(len(chunk))]
            self.results.extend(generate(
                sampler.model, sampler.tokenizer, chunk, max_new_tokens, temperature=temperature,
                top_k=getattr(sampler, "top_k", 0), top_p=getattr(sampler, "top_p", 1.0),
                min_p=getattr(sampler, "min_p", 0.0), rng=generators,
                stop_strings=getattr(sampler, "stop_strings", None), thinking_budget=self.budget))
        # the compute of a sample: every decode step, the tokens a "Wait" took back included
        return [Sample(text=result.text, num_tokens=len(result.token_ids) + result.discarded_tokens,
                       mean_logprob=mean_logprob(result.logprobs[~result.forced]),
                       finish_reason=result.finish_reason) for result in self.results]


def thinking_budget(sampler, problem: str, is_correct: Judge, settings: ScalingSettings, max_thinking_tokens: int,
                    seed: int | None = 0, wait: bool = False) -> MethodOutcome:
    """One greedy chain of thought with at most ``max_thinking_tokens`` thinking tokens (``wait``:
    and at least as many, by budget forcing)."""
    budget = budget_for(max_thinking_tokens, settings.prompt_format, wait)
    meter = ComputeMeter()
    budgeted = BudgetedSampler(sampler, budget)
    sample = MeteredSampler(budgeted, meter).sample([PromptSpec("cot", settings.prompt_format).text(problem)],
                                                    settings.max_new_tokens, 0.0, seed)[0]
    meter.stop()
    (result,) = budgeted.results
    answer = settings.extract(sample.text)
    return MethodOutcome(
        answer=answer, correct=answer is not None and bool(is_correct(answer)), completion=sample.text,
        compute=meter.as_dict(),
        details={"finish_reason": sample.finish_reason, "max_thinking_tokens": budget.max_thinking_tokens,
                 "min_thinking_tokens": budget.min_thinking_tokens, "thinking_tokens": result.thinking_tokens,
                 "forced_tokens": int(result.forced.sum()), "waits": result.waits,
                 "discarded_tokens": result.discarded_tokens})
