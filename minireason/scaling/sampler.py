"""The one door every scaling method goes through to reach a language model.

Inference-time scaling methods differ only in *how many* completions they ask for, with which
prompts, and how they pick among them. So they never call the model directly; they call a
*sampler*, an object with two methods:

``sample(prompts, max_new_tokens, temperature, seed) -> list[Sample]``
    one completion per prompt (repeat a prompt N times to get N samples of it, in one batch);
``score(prompts, completions) -> list[float]``
    the mean per-token log-probability the model gives each completion after its prompt
    (teacher forcing: one forward pass, nothing is generated).

:class:`ModelSampler` implements both with :func:`minireason.generation.generate.generate` and a
forward pass of the model. Tests hand the methods a scripted fake instead, so that voting,
early stopping and acceptance rules can be checked on answers chosen by hand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from minireason.device import to_host
from minireason.errors import InputError
from minireason.generation.generate import generate
from minireason.generation.sampling import chosen_logprobs, logprob_op_of


@dataclass(frozen=True)
class Sample:
    """One completion of one prompt.

    text: the decoded completion (stop token and stop string removed); num_tokens: how many tokens
    were generated (the compute it cost); mean_logprob: mean log-probability per generated token
    under the raw model (temperature 1, no filters), ``-inf`` for an empty completion;
    finish_reason: ``"stop"`` or ``"length"``.
    """

    text: str
    num_tokens: int
    mean_logprob: float
    finish_reason: str = "stop"


class Sampler(Protocol):
    """What the scaling methods need from a model: completions for prompts, and scores of given completions."""
    def sample(self, prompts: Sequence[str], max_new_tokens: int, temperature: float,
               seed: int | None) -> list[Sample]:
        """One completion per prompt; the same seed gives the same completions."""

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        """Mean per-token log-probability of each completion after its prompt."""


def mean_logprob(logprobs) -> float:
    """Mean of per-token log-probabilities; ``-inf`` when there are none (an empty answer is never preferred)."""
    values = np.asarray(logprobs, dtype=np.float64)
    return float(values.mean()) if values.size else -math.inf


def derive_seed(seed: int | None, *path: int) -> int | None:
    """A fresh seed for one call, from the run's seed and where the call sits (problem, round, ...).

    Different paths give independent streams (``numpy.random.SeedSequence``), and the same path
    always gives the same seed, so one problem's samples do not depend on which problems ran
    before it. ``None`` stays ``None`` (fresh OS entropy).
    """
    if seed is None:
        return None
    return int(np.random.SeedSequence([int(seed), *map(int, path)]).generate_state(1)[0])


class ModelSampler:
    """A :class:`Sampler` backed by a ``Qwen3Model`` and its tokenizer.

    top_k / top_p / min_p: the sampling filters used whenever temperature > 0.
    stop_strings: text that ends a completion (e.g. ``"<|im_end|>"``); the tokenizer's eos always does.
    batch_size: the most prompts given to one ``generate`` call (bounds memory).
    """

    def __init__(self, model, tokenizer, top_k: int = 0, top_p: float = 1.0, min_p: float = 0.0,
                 stop_strings: Sequence[str] | None = None, batch_size: int = 32):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"ModelSampler: argument 'batch_size': expected an int >= 1, got {batch_size!r}")
        self.model, self.tokenizer = model, tokenizer
        self.top_k, self.top_p, self.min_p = top_k, top_p, min_p
        self.stop_strings = list(stop_strings) if stop_strings else None
        self.batch_size = batch_size

    def sample(self, prompts: Sequence[str], max_new_tokens: int, temperature: float,
               seed: int | None) -> list[Sample]:
        samples: list[Sample] = []
        for start in range(0, len(prompts), self.batch_size):
            chunk = list(prompts[start:start + self.batch_size])
            # one Generator per prompt, seeded by its index: a sample does not depend on the batch size
            generators = [np.random.default_rng(derive_seed(seed, start + offset)) for offset in range(len(chunk))]
            results = generate(self.model, self.tokenizer, chunk, max_new_tokens, temperature=temperature,
                               top_k=self.top_k, top_p=self.top_p, min_p=self.min_p,
                               rng=generators, stop_strings=self.stop_strings)
            samples.extend(Sample(text=result.text, num_tokens=len(result.token_ids),
                                  mean_logprob=mean_logprob(result.logprobs),
                                  finish_reason=result.finish_reason) for result in results)
        return samples

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        if len(prompts) != len(completions):
            raise InputError(f"ModelSampler.score: expected as many completions as prompts, "
                             f"got {len(completions)} completions for {len(prompts)} prompts")
        limit = self.model.config.max_position_embeddings
        logprob_op = logprob_op_of(self.model)
        scores = []
        for prompt, completion in zip(prompts, completions):
            prompt_ids = list(self.tokenizer.encode(prompt))
            completion_ids = list(self.tokenizer.encode(completion))[: max(0, limit - len(prompt_ids))]
            if not completion_ids:
                scores.append(-math.inf)
                continue
            ids = np.array([prompt_ids + completion_ids], dtype=np.int64)  # (1, T)
            logits, _ = self.model.forward(ids)  # (1, T, V)
            # the token at position t is predicted by the logits at position t - 1
            predicting = to_host(logits[0, len(prompt_ids) - 1:-1])  # (len(completion_ids), V)
            scores.append(mean_logprob(chosen_logprobs(predicting, np.array(completion_ids), logprob_op)))
        return scores
