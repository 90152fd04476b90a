"""A model as judge: a rubric prompt, a local judge model, verdicts read by parsing, both orders of a pair.

Where no verifier can say which answer is right (open questions, style), a model is asked instead.
This module puts a problem and two answers (or one answer) to a judge model in a rubric prompt and
reads the verdict from its reply:

* a **preference** is the last ``[[A]]``, ``[[B]]`` or ``[[TIE]]`` in the reply (:func:`parse_preference`);
* a **score** is the last ``[[N]]`` with N an integer on the rubric's scale (:func:`parse_score`).

Both are read with regular expressions; the reply is never evaluated. A reply without a verdict
is no verdict (None), never a guess.

Judges favour a position (often the first answer shown). Every pair is therefore judged in both
orders (:func:`judge_pairs`): the verdict stands when both orders name the same answer; when they
disagree (each order picked its first answer, say) the pair is a tie, and how often that happens is
the judge's position bias. Where a ground truth exists, :func:`agreement_with_verifier` says how
often the judge preferred the verified answer.

The judge model is any model the evaluation core can run: a Hugging Face Qwen3 directory (chat
format) or a built-in model (plain format); generation is injectable (``generate_function``, the
signature of :func:`minireason.generation.generate.generate`), so tests script a judge.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from minireason.errors import InputError
from minireason.evaluation.prompts import PromptSpec
from minireason.generation.generate import generate

PAIR_RUBRIC = (
    "You are judging two answers to the same math problem. A good answer reaches the correct final "
    "result; its reasoning, if shown, is valid. Decide which answer is better.\n\n"
    "Problem:\n{problem}\n\n[Answer A]\n{first}\n[End of answer A]\n\n[Answer B]\n{second}\n[End of answer B]\n\n"
    "Reply with your verdict as [[A]], [[B]] or [[TIE]] at the end."
)
SCORE_RUBRIC = (
    "You are grading an answer to a math problem on a scale of {low} to {high}: {high} means the final "
    "result is correct and the reasoning valid, {low} means it is wrong.\n\n"
    "Problem:\n{problem}\n\n[Answer]\n{answer}\n[End of answer]\n\n"
    "Reply with your score as [[N]] at the end."
)
_PREFERENCE = re.compile(r"\[\[\s*(A|B|TIE)\s*\]\]", re.IGNORECASE)
_SCORE = re.compile(r"\[\[\s*(-?\d{1,3})\s*(?:/\s*\d{1,3})?\s*\]\]")


def parse_preference(reply: str | None) -> str | None:
    """``"A"``, ``"B"`` or ``"tie"`` from the reply's last ``[[...]]`` verdict, or None."""
    if not isinstance(reply, str):
        return None
    found = _PREFERENCE.findall(reply)
    if not found:
        return None
    verdict = found[-1].upper()
    return "tie" if verdict == "TIE" else verdict


def parse_score(reply: str | None, low: int = 1, high: int = 10) -> int | None:
    """The integer in the reply's last ``[[N]]`` (or ``[[N/10]]``) when it lies in ``low..high``, else None."""
    if not isinstance(reply, str):
        return None
    found = _SCORE.findall(reply)
    if not found:
        return None
    score = int(found[-1])
    return score if low <= score <= high else None


def combine_orders(shown_first: str | None, shown_second: str | None) -> str | None:
    """One verdict from both orders: ``shown_first`` judged (x, y) as (A, B), ``shown_second`` judged (y, x).

    Returns ``"first"`` (x is better), ``"second"`` (y is), ``"tie"``, or None when neither order gave a
    verdict. Orders that disagree make a tie; one missing verdict leaves the other's.
    """
    as_x = {"A": "first", "B": "second", "tie": "tie", None: None}[shown_first]
    as_y = {"A": "second", "B": "first", "tie": "tie", None: None}[shown_second]
    if as_x is None or as_y is None:
        return as_x or as_y
    return as_x if as_x == as_y else "tie"


class ModelJudge:
    """A judge model with its rubric prompts; ``generate_function`` defaults to the real generation."""

    def __init__(self, model, tokenizer, prompt_format: str = "plain", max_new_tokens: int = 256,
                 batch_size: int = 8, generate_function: Callable | None = None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size: expected an int >= 1, got {batch_size!r}")
        self.model, self.tokenizer = model, tokenizer
        self.spec = PromptSpec(template="plain", prompt_format=prompt_format, thinking=False)
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size
        self.generate_function = generate_function or generate

    def replies(self, texts: Sequence[str]) -> list[str]:
        """The judge's greedy replies to rubric texts, batch by batch."""
        replies: list[str] = []
        stop_strings = list(self.spec.stop_strings) or None
        for start in range(0, len(texts), self.batch_size):
            batch = [self.spec.text(text) for text in texts[start:start + self.batch_size]]
            results = self.generate_function(self.model, self.tokenizer, batch, max_new_tokens=self.max_new_tokens,
                                             temperature=0.0, stop_strings=stop_strings)
            replies.extend(result.text for result in results)
        return replies

    def judge_pairs(self, problems: Sequence[str], firsts: Sequence[str], seconds: Sequence[str]) -> list[dict]:
        """Each pair judged in both orders: ``{"verdict": "first"|"second"|"tie"|None, "shown_first",
        "shown_second", "consistent"}`` (the two raw verdicts; whether the orders agreed)."""
        if not len(problems) == len(firsts) == len(seconds):
            raise InputError(f"judge_pairs: expected as many problems as answer pairs, got {len(problems)}, "
                             f"{len(firsts)}, {len(seconds)}")
        texts = [PAIR_RUBRIC.format(problem=p, first=x, second=y) for p, x, y in zip(problems, firsts, seconds)]
        texts += [PAIR_RUBRIC.format(problem=p, first=y, second=x) for p, x, y in zip(problems, firsts, seconds)]
        replies = self.replies(texts)
        count = len(problems)
        judgements = []
        for index in range(count):
            forward, backward = parse_preference(replies[index]), parse_preference(replies[count + index])
            verdict = combine_orders(forward, backward)
            judgements.append({"verdict": verdict, "shown_first": forward, "shown_second": backward,
                               "consistent": forward is not None and combine_orders(forward, backward) ==
                               combine_orders(forward, None)})
        return judgements

    def score_answers(self, problems: Sequence[str], answers: Sequence[str], low: int = 1, high: int = 10
                      ) -> list[int | None]:
        """Each answer's rubric score (None where the reply holds no score on the scale)."""
        if len(problems) != len(answers):
            raise InputError(f"score_answers: expected as many answers as problems, got {len(answers)} for "
                             f"{len(problems)}")
        texts = [SCORE_RUBRIC.format(problem=p, answer=a, low=low, high=high) for p, a in zip(problems, answers)]
        return [parse_score(reply, low, high) for reply in self.replies(texts)]


def agreement_with_verifier(judgements: Sequence[dict], first_correct: Sequence[bool],
                            second_correct: Sequence[bool]) -> dict:
    """How the judge's pair verdicts agree with the verifier, over pairs where exactly one answer is right.

    ``agreement``: the share of those pairs where the judge preferred the right answer (a tie or no
    verdict is not agreement); ``position_bias``: the share of all pairs whose two orders disagreed;
    ``no_verdict``: the share with no verdict at all.
    """
    decided = [(j["verdict"], a) for j, a, b in zip(judgements, first_correct, second_correct) if bool(a) != bool(b)]
    agreed = sum(verdict == ("first" if first_right else "second") for verdict, first_right in decided)
    both = [j for j in judgements if j["shown_first"] is not None and j["shown_second"] is not None]
    return {"pairs": len(judgements), "decidable": len(decided),
            "agreement": agreed / len(decided) if decided else float("nan"),
            "position_bias": sum(not j["consistent"] for j in both) / len(both) if both else float("nan"),
            "no_verdict": sum(j["verdict"] is None for j in judgements) / len(judgements) if judgements else 0.0}
