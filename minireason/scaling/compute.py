"""Compute accounting: what a method spent on one problem.

Accuracy alone says nothing about a scaling method; the point is accuracy *per unit of compute*.
Each method therefore runs its samplers through a :class:`ComputeMeter`, which counts

- ``generated_tokens``: every token the model produced (drafts, votes, critiques, revisions),
  the number that dominates the cost of decoding;
- ``scored_tokens``: tokens only read by a teacher-forced scoring pass (a revision re-scored
  under the original prompt), a cheaper forward without sampling;
- ``samples``: how many completions were drawn;
- ``seconds``: wall time from the meter's start to ``stop()``.

:class:`MeteredSampler` wraps any sampler and feeds a meter, so a method cannot forget to count.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from minireason.scaling.sampler import Sample


@dataclass
class ComputeMeter:
    """What a method spent: tokens generated, tokens scored, samples drawn and seconds, added up per call."""
    generated_tokens: int = 0
    scored_tokens: int = 0
    samples: int = 0
    seconds: float = 0.0
    _started: float = field(default_factory=time.perf_counter, repr=False)

    def add_samples(self, samples: Sequence[Sample]) -> None:
        self.samples += len(samples)
        self.generated_tokens += sum(sample.num_tokens for sample in samples)

    def add_scored(self, num_tokens: int) -> None:
        self.scored_tokens += int(num_tokens)

    def stop(self) -> ComputeMeter:
        self.seconds = time.perf_counter() - self._started
        return self

    def as_dict(self) -> dict:
        return {"generated_tokens": self.generated_tokens, "scored_tokens": self.scored_tokens,
                "samples": self.samples, "seconds": round(self.seconds, 6)}


class MeteredSampler:
    """A sampler that records what passes through it in ``meter``."""

    def __init__(self, sampler, meter: ComputeMeter, count_tokens=None):
        self.sampler, self.meter = sampler, meter
        # scored text is counted in characters / 4 when no tokenizer is at hand (only fakes lack one)
        tokenizer = getattr(sampler, "tokenizer", None)
        self._count_tokens = count_tokens or (
            (lambda text: len(tokenizer.encode(text))) if tokenizer is not None else (lambda text: len(text) // 4))

    def sample(self, prompts, max_new_tokens, temperature, seed):
        samples = self.sampler.sample(prompts, max_new_tokens, temperature, seed)
        self.meter.add_samples(samples)
        return samples

    def score(self, prompts, completions):
        self.meter.add_scored(sum(self._count_tokens(completion) for completion in completions))
        return self.sampler.score(prompts, completions)
