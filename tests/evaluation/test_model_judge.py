"""A model as judge: verdict parsing, both orders of a pair, agreement with the verifier (scripted judges)."""

import re
from dataclasses import dataclass

import pytest

from minireason.errors import InputError
from minireason.evaluation.model_judge import (
    ModelJudge,
    agreement_with_verifier,
    combine_orders,
    parse_preference,
    parse_score,
)


@pytest.mark.parametrize("reply,verdict", [
    ("Answer B is right. [[B]]", "B"), ("[[a]]", "A"), ("both fine [[TIE]]", "tie"),
    ("first I thought [[A]] but no: [[B]]", "B"), ("no verdict here", None), ("[[C]]", None), (None, None),
    ("__import__('os') [[A]]", "A"),
])
def test_preference_is_parsed(reply, verdict):
    assert parse_preference(reply) == verdict


@pytest.mark.parametrize("reply,score", [
    ("[[7]]", 7), ("Score: [[ 10 ]]", 10), ("[[8/10]]", 8), ("[[11]]", None), ("[[0]]", None), ("7", None),
    ("[[3]] then [[9]]", 9), ("[[2+3]]", None),
])
def test_score_is_parsed_on_the_scale(reply, score):
    assert parse_score(reply, 1, 10) == score


def test_orders_combine_into_one_verdict():
    assert combine_orders("A", "B") == "first"  # both orders prefer x
    assert combine_orders("B", "A") == "second"
    assert combine_orders("A", "A") == "tie"  # each order picked its first answer: position, not content
    assert combine_orders("tie", "tie") == "tie"
    assert combine_orders(None, "A") == "second"
    assert combine_orders(None, None) is None


@dataclass
class Reply:
    text: str
    token_ids: tuple = ()


def scripted(decide):
    """A generate function whose reply to each rubric prompt is ``decide(first answer, second answer)``."""
    def generate_function(model, tokenizer, prompts, max_new_tokens, temperature=0.0, stop_strings=None):
        replies = []
        for prompt in prompts:
            first = re.search(r"\[Answer A\]\n(.*?)\n\[End of answer A\]", prompt, re.S).group(1)
            second = re.search(r"\[Answer B\]\n(.*?)\n\[End of answer B\]", prompt, re.S).group(1)
            replies.append(Reply(decide(first, second)))
        return replies
    return generate_function


PROBLEMS = ["Compute 40+2.", "Compute 5*5.", "Compute 9-3.", "Compute 1+1."]
FIRSTS = ["\\boxed{42}", "\\boxed{24}", "\\boxed{6}", "\\boxed{2}"]
SECONDS = ["\\boxed{41}", "\\boxed{25}", "\\boxed{7}", "\\boxed{2}"]
FIRST_RIGHT = [True, False, True, True]
SECOND_RIGHT = [False, True, False, True]
GOLD = {"\\boxed{42}", "\\boxed{25}", "\\boxed{6}", "\\boxed{2}"}


def test_an_honest_judge_agrees_with_the_verifier():
    def honest(first, second):
        a, b = first in GOLD, second in GOLD
        return "[[TIE]]" if a == b else ("[[A]]" if a else "[[B]]")

    judge = ModelJudge(None, None, batch_size=3, generate_function=scripted(honest))
    judgements = judge.judge_pairs(PROBLEMS, FIRSTS, SECONDS)
    assert [j["verdict"] for j in judgements] == ["first", "second", "first", "tie"]
    report = agreement_with_verifier(judgements, FIRST_RIGHT, SECOND_RIGHT)
    assert report == {"pairs": 4, "decidable": 3, "agreement": 1.0, "position_bias": 0.0, "no_verdict": 0.0}


def test_a_judge_that_always_picks_the_first_shown_is_cancelled_into_ties():
    judge = ModelJudge(None, None, generate_function=scripted(lambda first, second: "[[A]]"))
    judgements = judge.judge_pairs(PROBLEMS, FIRSTS, SECONDS)
    assert all(j["verdict"] == "tie" for j in judgements)
    report = agreement_with_verifier(judgements, FIRST_RIGHT, SECOND_RIGHT)
    assert report["agreement"] == 0.0 and report["position_bias"] == 1.0


def test_a_silent_judge_gives_no_verdict():
    judge = ModelJudge(None, None, generate_function=scripted(lambda first, second: "I cannot decide."))
    report = agreement_with_verifier(judge.judge_pairs(PROBLEMS, FIRSTS, SECONDS), FIRST_RIGHT, SECOND_RIGHT)
    assert report["no_verdict"] == 1.0 and report["agreement"] == 0.0


def test_scores_come_from_the_rubric_reply():
    def generate_function(model, tokenizer, prompts, max_new_tokens, temperature=0.0, stop_strings=None):
        return [Reply("[[9]]" if "\\boxed{42}" in prompt else "[[2]]") for prompt in prompts]

    judge = ModelJudge(None, None, generate_function=generate_function)
    assert judge.score_answers(PROBLEMS[:2], FIRSTS[:2]) == [9, 2]
    with pytest.raises(InputError, match="score_answers"):
        judge.score_answers(PROBLEMS[:2], FIRSTS[:1])


def test_a_tiny_real_model_runs_as_judge():
    from byte_tokenizer import ByteTokenizer

    from minireason.config import PRESETS
    from minireason.model import Qwen3Model

    model = Qwen3Model.from_config(PRESETS["test-tiny"].replace(vocab_size=260, max_position_embeddings=512), seed=0)
    judge = ModelJudge(model, ByteTokenizer(), max_new_tokens=4)
    judgements = judge.judge_pairs(["1+1?"], ["2"], ["3"])
    assert judgements[0]["verdict"] in ("first", "second", "tie", None)
