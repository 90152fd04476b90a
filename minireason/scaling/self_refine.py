"""Self-refinement (Madaan et al., 2023): draft, critique, revise, for K rounds.

    draft (greedy chain of thought)
      └─ round 1..K: critique = model reviews the current solution          (greedy)
                     revision = model rewrites it, given the critique        (sampled)
                     keep the revision only if it scores higher than the current solution

The acceptance rule matters: a model that cannot check its own work turns right answers into
wrong ones about as often as the reverse, and unconditional revision then *loses* accuracy. So
each revision must beat the current solution under a scorer:

``logprob`` (default)
    both texts are re-scored by teacher forcing under the *original* chain-of-thought prompt
    (mean per-token log-probability), so drafts and revisions are compared on one footing,
    whatever prompt produced them;
``heuristic`` / ``oracle``
    the best-of-N scorers (``oracle`` gives the upper bound a perfect verifier would reach).

Every round costs the critique's and the revision's tokens, plus a scoring pass.
"""

from __future__ import annotations

from minireason.errors import InputError
from minireason.scaling.best_of_n import heuristic_score, oracle_score
from minireason.scaling.compute import ComputeMeter, MeteredSampler
from minireason.scaling.outcome import Judge, MethodOutcome, ScalingSettings, finite_or_none
from minireason.scaling.prompts import PromptSpec, critique_prompt, revise_prompt
from minireason.scaling.sampler import Sample, derive_seed

ACCEPTANCE_SCORERS = ("logprob", "heuristic", "oracle")


def self_refine(sampler, problem: str, is_correct: Judge, settings: ScalingSettings, rounds: int,
                seed: int | None = 0, acceptance: str = "logprob") -> MethodOutcome:
    """Draft once, then critique and revise ``rounds`` times, keeping a revision only when it scores higher."""
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0:
        raise InputError(f"self_refine: argument 'rounds': expected an int >= 0, got {rounds!r}")
    if acceptance not in ACCEPTANCE_SCORERS:
        raise InputError(f"self_refine: argument 'acceptance': expected one of {ACCEPTANCE_SCORERS}, got {acceptance!r}")
    meter = ComputeMeter()
    metered = MeteredSampler(sampler, meter)
    fmt = settings.prompt_format
    original_prompt = PromptSpec("cot", fmt).text(problem)

    def score(sample: Sample, answer: str | None) -> float:
        if acceptance == "logprob":
            return float(metered.score([original_prompt], [sample.text])[0])
        if acceptance == "heuristic":
            return heuristic_score(sample, answer, is_correct)
        return oracle_score(sample, answer, is_correct)

    current = metered.sample([original_prompt], settings.max_new_tokens, 0.0, derive_seed(seed, 0))[0]
    current_answer = settings.extract(current.text)
    current_score = score(current, current_answer)
    draft_answer = current_answer
    history = []
    for round_index in range(1, rounds + 1):
        critique = metered.sample([critique_prompt(problem, current.text, fmt)], settings.max_new_tokens, 0.0,
                                  derive_seed(seed, round_index, 0))[0]
        revision = metered.sample([revise_prompt(problem, current.text, critique.text, fmt)],
                                  settings.max_new_tokens, settings.temperature, derive_seed(seed, round_index, 1))[0]
        revision_answer = settings.extract(revision.text)
        revision_score = score(revision, revision_answer)
        accepted = revision_score > current_score
        history.append({"round": round_index, "critique": critique.text, "revision_answer": revision_answer,
                        "revision_score": finite_or_none(revision_score),
                        "current_score": finite_or_none(current_score), "accepted": accepted})
        if accepted:
            current, current_answer, current_score = revision, revision_answer, revision_score
    meter.stop()
    return MethodOutcome(
        answer=current_answer,
        correct=current_answer is not None and bool(is_correct(current_answer)),
        completion=current.text,
        compute=meter.as_dict(),
        details={"rounds": rounds, "acceptance": acceptance, "draft_answer": draft_answer,
                 "draft_correct": draft_answer is not None and bool(is_correct(draft_answer)),
                 "accepted_revisions": sum(step["accepted"] for step in history), "history": history},
    )

