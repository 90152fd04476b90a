"""Best-of-N: sample N chains of thought, keep the one a *scorer* likes best.

Where self-consistency asks the samples to agree, best-of-N asks a judge to pick. The method is
only as good as its scorer, so scorers are pluggable: a function
``scorer(sample, answer, is_correct) -> float`` (higher is better; the first best sample wins).

``heuristic``
    needs nothing but the text: a boxed answer scores 1, some other extractable answer 0.5,
    none 0; plus up to 0.25 for brevity, ``0.25 / (1 + tokens / 100)`` (a long, rambling or
    truncated chain is more often wrong).
``logprob``
    the mean per-token log-probability the model gave its own completion: the model's
    confidence, free since generation already computed it.
``oracle``
    1 if the answer is correct, else 0, looking at the gold answer. Not a method one can deploy:
    it is the *upper bound* of best-of-N with a perfect verifier, i.e. pass@N.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from minireason.errors import InputError
from minireason.scaling.compute import ComputeMeter, MeteredSampler
from minireason.scaling.outcome import Judge, MethodOutcome, ScalingSettings
from minireason.scaling.prompts import PromptSpec
from minireason.scaling.sampler import Sample, derive_seed

Scorer = Callable[[Sample, "str | None", Judge], float]


def heuristic_score(sample: Sample, answer: str | None, is_correct: Judge) -> float:
    """A score without a verifier: a boxed answer beats an unboxed one beats none, and shorter breaks ties."""
    if answer is None:
        has_answer = 0.0
    else:
        has_answer = 1.0 if "\\boxed" in sample.text or "\\fbox" in sample.text else 0.5
    return has_answer + 0.25 / (1.0 + sample.num_tokens / 100.0)


def logprob_score(sample: Sample, answer: str | None, is_correct: Judge) -> float:
    """The sample's mean token log-probability under the model (its confidence)."""
    return sample.mean_logprob


def oracle_score(sample: Sample, answer: str | None, is_correct: Judge) -> float:
    """1 when the judge says the sample's answer is right, else 0: the ceiling a perfect verifier gives."""
    return 1.0 if answer is not None and is_correct(answer) else 0.0


SCORERS: dict[str, Scorer] = {"heuristic": heuristic_score, "logprob": logprob_score, "oracle": oracle_score}
DEFAULT_SCORER = "logprob"


def get_scorer(name: str) -> Scorer:
    """The best-of-N scorer called ``name``; an unknown name raises ``InputError`` listing the known ones."""
    if name not in SCORERS:
        raise InputError(f"best-of-N scorer: expected one of {sorted(SCORERS)}, got {name!r}")
    return SCORERS[name]


def best_of_n(sampler, problem: str, is_correct: Judge, settings: ScalingSettings, num_samples: int,
              seed: int | None = 0, scorer: str | Scorer = DEFAULT_SCORER) -> MethodOutcome:
    """Sample ``num_samples`` chains of thought in one batch and answer with the best-scored one."""
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise InputError(f"best_of_n: argument 'num_samples': expected an int >= 1, got {num_samples!r}")
    scorer_name = scorer if isinstance(scorer, str) else getattr(scorer, "__name__", "custom")
    score = get_scorer(scorer) if isinstance(scorer, str) else scorer
    meter = ComputeMeter()
    metered = MeteredSampler(sampler, meter)
    prompt = PromptSpec("cot", settings.prompt_format).text(problem)
    samples = metered.sample([prompt] * num_samples, settings.max_new_tokens, settings.temperature,
                             derive_seed(seed, 0))
    answers = [settings.extract(sample.text) for sample in samples]
    scores = [float(score(sample, answer, is_correct)) for sample, answer in zip(samples, answers)]
    # the first of the best; nan scores never win
    chosen = max(range(num_samples), key=lambda i: (scores[i] if not math.isnan(scores[i]) else -math.inf, -i))
    meter.stop()
    sample_correct = [answer is not None and bool(is_correct(answer)) for answer in answers]
    return MethodOutcome(
        answer=answers[chosen],
        correct=sample_correct[chosen],
        completion=samples[chosen].text,
        compute=meter.as_dict(),
        details={
            "num_samples": num_samples,
            "scorer": scorer_name,
            "chosen": chosen,
            "answers": answers,
            "scores": [s if math.isfinite(s) else None for s in scores],
            "sample_correct": sample_correct,
        },
    )
