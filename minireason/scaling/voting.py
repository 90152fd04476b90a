"""Majority voting over *equivalence classes* of answers (the vote of self-consistency).

Counting answer strings would split one answer's votes: ``0.5``, ``1/2`` and ``\\frac{1}{2}`` are
three strings but one number. So the extracted answers are first grouped into classes, with the
grader deciding when two answers are the same (``grade_answer(answer, representative)``, the
first answer seen of each class being its representative); then each class gets one vote per
member, and the biggest class wins.

- A sample with no extractable answer (``None``) does not vote.
- A tie between classes goes to the class whose members have the higher mean per-token
  log-probability: the answer the model was, on average, more sure about while writing it.
- The whole vote distribution is returned, so a reader can see how split the samples were.

Grouping costs one grader call per (answer, existing class) pair; identical strings are merged
without calling the grader.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from minireason.errors import InputError
from minireason.scaling.outcome import default_equivalence

Equivalence = Callable[[str, str], bool]


@dataclass
class AnswerClass:
    """Answers the grader counts as one: the first one seen, and which samples gave any of them."""

    representative: str
    members: list[int] = field(default_factory=list)
    mean_logprob: float = -math.inf  # mean over members of their mean per-token log-probability

    @property
    def votes(self) -> int:
        return len(self.members)


@dataclass
class VoteResult:
    """The outcome of one vote.

    answer: the winning class's representative (None when no sample had an answer);
    classes: every class, biggest first (ties in the order the tie-break ranks them);
    labels: each sample's class index into ``classes`` (-1 for samples without an answer);
    abstained: how many samples had no answer.
    """

    answer: str | None
    classes: list[AnswerClass]
    labels: list[int]
    abstained: int

    @property
    def distribution(self) -> dict[str, int]:
        """Representative -> votes, biggest first."""
        return {answer_class.representative: answer_class.votes for answer_class in self.classes}

    @property
    def leader_votes(self) -> int:
        return self.classes[0].votes if self.classes else 0

    @property
    def runner_up_votes(self) -> int:
        return self.classes[1].votes if len(self.classes) > 1 else 0


def group_answers(answers: Sequence[str | None], equivalent: Equivalence | None = None) -> tuple[list[AnswerClass], list[int]]:
    """Group answers into equivalence classes, in order of first appearance.

    Returns (classes, labels): ``labels[i]`` is the index of sample i's class, -1 for ``None``.
    """
    equivalent = equivalent or default_equivalence()
    classes: list[AnswerClass] = []
    labels: list[int] = []
    for index, answer in enumerate(answers):
        if answer is None:
            labels.append(-1)
            continue
        if not isinstance(answer, str):
            raise InputError(f"group_answers: answers[{index}]: expected a string or None, got {type(answer).__name__}")
        label = next((i for i, known in enumerate(classes)
                      if answer == known.representative or equivalent(answer, known.representative)), -1)
        if label < 0:
            classes.append(AnswerClass(representative=answer))
            label = len(classes) - 1
        classes[label].members.append(index)
        labels.append(label)
    return classes, labels


def majority_vote(answers: Sequence[str | None], mean_logprobs: Sequence[float] | None = None,
                  equivalent: Equivalence | None = None) -> VoteResult:
    """Vote over ``answers`` (one per sample; None = no answer), ties broken by mean log-probability.

    mean_logprobs: each sample's mean per-token log-probability (None: all equal, so a tie goes to
    the class seen first). equivalent: decides when two answers are one (default ``grade_answer``).
    """
    if mean_logprobs is None:
        mean_logprobs = [0.0] * len(answers)
    if len(mean_logprobs) != len(answers):
        raise InputError(f"majority_vote: expected one mean log-probability per answer, "
                         f"got {len(mean_logprobs)} for {len(answers)} answers")
    classes, labels = group_answers(answers, equivalent)
    for answer_class in classes:
        values = [float(mean_logprobs[i]) for i in answer_class.members]
        finite = [value for value in values if math.isfinite(value)]
        answer_class.mean_logprob = sum(finite) / len(finite) if finite else -math.inf
    # biggest class first; among equals the more confident one; then first seen
    order = sorted(range(len(classes)), key=lambda i: (-classes[i].votes, -classes[i].mean_logprob, i))
    new_index = {old: new for new, old in enumerate(order)}
    ranked = [classes[i] for i in order]
    labels = [new_index[label] if label >= 0 else -1 for label in labels]
    return VoteResult(answer=ranked[0].representative if ranked else None, classes=ranked, labels=labels,
                      abstained=sum(1 for label in labels if label < 0))


def can_be_overtaken(result: VoteResult, remaining: int) -> bool:
    """Could ``remaining`` more votes still change the winner?

    Yes unless the leader's lead over the runner-up is bigger than ``remaining``: even if every
    remaining sample joined the runner-up (or a class not seen yet, which has 0 votes now),
    it would end strictly behind. An exact tie would go to the log-probability tie-break, which
    the new samples could move, so a tie counts as "could be overtaken".
    """
    if not result.classes:
        return remaining > 0
    return result.leader_votes - result.runner_up_votes <= remaining
