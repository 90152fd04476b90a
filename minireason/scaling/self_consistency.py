"""Self-consistency (Wang et al., 2022): sample N chains of thought, answer with the majority.

One greedy chain of thought commits to its first mistake. N chains sampled at temperature > 0
make *different* mistakes, while correct chains tend to agree on one answer, so the most common
answer is right more often than any single chain. The cost is N times the tokens.

    prompt ──sample ×N (one batch)──▶ N completions ──extract──▶ N answers ──vote──▶ answer

**Early stop.** The N samples may be drawn in rounds. After each round the vote so far is
checked: if the leader is ahead of the runner-up by more than the samples still to come, no
outcome of those samples can change the winner (see :func:`voting.can_be_overtaken`), so they are
never drawn. The answer is exactly what the full N samples *could* have given at most; the
samples and (estimated) tokens saved are reported.
"""

from __future__ import annotations

from minireason.errors import InputError
from minireason.scaling.compute import ComputeMeter, MeteredSampler
from minireason.scaling.outcome import Judge, MethodOutcome, ScalingSettings, finite_or_none
from minireason.scaling.prompts import PromptSpec
from minireason.scaling.sampler import derive_seed
from minireason.scaling.voting import can_be_overtaken, majority_vote


def _check_count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"self_consistency: argument {name!r}: expected an int >= 1, got {value!r}")
    return value


def self_consistency(sampler, problem: str, is_correct: Judge, settings: ScalingSettings, num_samples: int,
                     seed: int | None = 0, early_stop: bool = False, round_size: int | None = None) -> MethodOutcome:
    """Majority vote over ``num_samples`` sampled chains of thought for one problem.

    early_stop: draw in rounds of ``round_size`` (default: a quarter of N, at least 1) and stop
    once the leader cannot be overtaken. Without it, all N are drawn in one batch.
    details: per-sample answers, log-probs and correctness, the vote distribution, and
    ``samples_saved`` / ``tokens_saved_estimate`` (0 without early stop).
    """
    num_samples = _check_count(num_samples, "num_samples")
    if round_size is None:
        round_size = max(1, num_samples // 4) if early_stop else num_samples
    round_size = _check_count(round_size, "round_size")
    meter = ComputeMeter()
    metered = MeteredSampler(sampler, meter)
    prompt = PromptSpec("cot", settings.prompt_format).text(problem)

    samples, answers = [], []
    vote = majority_vote([], [], settings.equivalent)
    round_index = 0
    while len(samples) < num_samples:
        this_round = min(round_size, num_samples - len(samples))
        new = metered.sample([prompt] * this_round, settings.max_new_tokens, settings.temperature,
                             derive_seed(seed, round_index))
        round_index += 1
        samples.extend(new)
        answers.extend(settings.extract(sample.text) for sample in new)
        vote = majority_vote(answers, [sample.mean_logprob for sample in samples], settings.equivalent)
        if early_stop and not can_be_overtaken(vote, num_samples - len(samples)):
            break
    meter.stop()

    class_correct = [bool(is_correct(answer_class.representative)) for answer_class in vote.classes]
    sample_correct = [label >= 0 and class_correct[label] for label in vote.labels]
    saved = num_samples - len(samples)
    tokens_per_sample = meter.generated_tokens / len(samples)
    chosen = _best_member(vote, samples)
    return MethodOutcome(
        answer=vote.answer,
        correct=bool(class_correct[0]) if vote.classes else False,
        completion=samples[chosen].text if chosen is not None else samples[0].text,
        compute=meter.as_dict(),
        details={
            "num_samples": num_samples,
            "samples_drawn": len(samples),
            "samples_saved": saved,
            "tokens_saved_estimate": round(saved * tokens_per_sample),
            "rounds": round_index,
            "answers": answers,
            "mean_logprobs": [finite_or_none(sample.mean_logprob) for sample in samples],
            "sample_correct": sample_correct,
            "labels": vote.labels,
            "class_correct": class_correct,
            "class_mean_logprobs": [finite_or_none(c.mean_logprob) for c in vote.classes],
            "vote_distribution": vote.distribution,
            "abstained": vote.abstained,
        },
    )


def _best_member(vote, samples) -> int | None:
    """The winning class's most confident sample (its completion is shown as the method's output)."""
    if not vote.classes:
        return None
    return max(vote.classes[0].members, key=lambda index: samples[index].mean_logprob)

