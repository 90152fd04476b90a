"""Tests for minireason.posttrain.rewards: crafted completions, the overlong ramp, specs, sum and GDPO combination."""

from __future__ import annotations

import math

import numpy as np
import pytest

from minireason.errors import InputError
from minireason.io.chat_template import EMPTY_THINKING
from minireason.posttrain.rewards import (
    BUILTIN_REWARDS,
    RewardError,
    RewardSpec,
    Rollout,
    compute_rewards,
    correctness_reward,
    format_reward,
    overlong_penalty,
    parse_reward_spec,
)
from minireason.tasks.export import resolve_data

MATH_RECORD = {"problem": "What is one half as a fraction?", "answer": "\\frac{1}{2}"}


@pytest.fixture(scope="module")
def addition_record():
    return resolve_data("task:addition?n=1&split=train")[0]


@pytest.fixture(scope="module")
def countdown_record():
    return resolve_data("task:countdown?n=1&split=train&seed=0")[0]


def rollout(completion, record=None, prompt="Compute it.\n", num_tokens=10, truncated=False):
    return Rollout(record=MATH_RECORD if record is None else record, prompt=prompt, completion=completion,
                   num_tokens=num_tokens, truncated=truncated)


def wrong_number(answer: str) -> str:
    return str(int(answer) + 1)


# ---------------------------------------------------------------- correctness

def test_correctness_on_a_task_record(addition_record):
    gold = addition_record["answer"]
    think = "<think>\n" + addition_record["solution"].split("\\boxed")[0] + "</think>\n"
    assert correctness_reward(rollout(addition_record["trace_completion"], addition_record)) == 1.0
    assert correctness_reward(rollout(think + "\\boxed{" + gold + "}", addition_record)) == 1.0
    assert correctness_reward(rollout(think + "\\boxed{" + wrong_number(gold) + "}", addition_record)) == 0.0
    # missing answer, an unboxed answer (fallback=None: only a box counts), a box cut off by the limit
    assert correctness_reward(rollout(think, addition_record)) == 0.0
    assert correctness_reward(rollout(think + "The answer is " + gold + ".", addition_record)) == 0.0
    assert correctness_reward(rollout(think + "\\boxed{" + gold, addition_record)) == 0.0
    assert correctness_reward(rollout("", addition_record)) == 0.0


def test_correctness_uses_the_family_verifier(countdown_record):
    # countdown: any expression reaching the target with the given numbers is right; the bare target is not
    numbers, target = countdown_record["data"]["numbers"], countdown_record["data"]["target"]
    assert correctness_reward(rollout("\\boxed{" + countdown_record["answer"] + "}", countdown_record)) == 1.0
    assert correctness_reward(rollout("\\boxed{" + str(target) + "}", countdown_record)) == 0.0
    assert correctness_reward(rollout("\\boxed{" + "+".join(map(str, numbers)) + "}", countdown_record)) == float(
        sum(numbers) == target)


def test_correctness_on_a_math_record():
    assert correctness_reward(rollout("half is \\boxed{0.5}")) == 1.0
    assert correctness_reward(rollout("\\boxed{\\frac{1}{2}}")) == 1.0
    assert correctness_reward(rollout("\\boxed{0.25}")) == 0.0
    assert correctness_reward(rollout("the answer is 0.5")) == 0.0
    assert correctness_reward(rollout("\\boxed{}")) == 0.0


# ---------------------------------------------------------------- format

@pytest.mark.parametrize("completion, expected", [
    ("<think>\nsteps\n</think>\n\\boxed{5}", 1.0),
    ("<think>steps</think>The answer: \\boxed{5}.", 1.0),
    ("\\boxed{5}", 0.0),                                          # no think block
    ("steps\n</think>\n\\boxed{5}", 0.0),                          # closing without an opening
    ("<think>\nsteps\n\\boxed{5}", 0.0),                           # never closed
    ("</think> steps <think> \\boxed{5}", 0.0),                    # closing before opening
    ("<think><think>steps</think>\\boxed{5}", 0.0),                # two openings
    ("<think>steps</think> more </think>\\boxed{5}", 0.0),         # two closings
    ("<think>so \\boxed{5}</think>\nthat is all", 0.0),            # boxed only inside the reasoning
    ("<think>steps</think>\n\\boxed{}", 0.0),                      # empty box
    ("<think>steps</think>\n\\boxed{5", 0.0),                      # box cut off
    ("<think>steps</think>\nthe answer is 5", 0.0),                # unboxed answer
])
def test_format_reward(completion, expected):
    assert format_reward(rollout(completion)) == expected


def test_format_reward_with_a_prefilled_opening():
    prefilled = "<|im_start|>assistant\n<think>\n"
    assert format_reward(rollout("steps\n</think>\n\\boxed{5}", prompt=prefilled)) == 1.0
    # the prompt already opened the block: another opening in the completion is one too many
    assert format_reward(rollout("<think>\nsteps\n</think>\n\\boxed{5}", prompt=prefilled)) == 0.0
    assert format_reward(rollout("steps \\boxed{5}", prompt=prefilled)) == 0.0
    # without the prefill the same completion lacks its opening
    assert format_reward(rollout("steps\n</think>\n\\boxed{5}", prompt="<|im_start|>assistant\n")) == 0.0
    # a <think> earlier in the prompt (not at its end) is not an opening of this completion
    assert format_reward(rollout("steps\n</think>\n\\boxed{5}", prompt="<think> is a tag. Solve:\n")) == 0.0


def test_format_reward_with_thinking_turned_off():
    # enable_thinking=False pre-fills a closed empty block: the completion holds no reasoning of its own
    prompt = "<|im_start|>assistant\n" + EMPTY_THINKING
    assert format_reward(rollout("\\boxed{5}", prompt=prompt)) == 0.0


# ---------------------------------------------------------------- overlong

@pytest.mark.parametrize("num_tokens, expected", [
    (0, 0.0), (50, 0.0), (80, 0.0),          # up to max - buffer = 80: no penalty
    (81, -1 / 20), (90, -0.5), (99, -19 / 20),  # ramp -(n - 80) / 20 inside the last 20 tokens
    (100, -1.0), (101, -1.0), (500, -1.0),   # at and beyond the limit: the whole penalty
])
def test_overlong_ramp(num_tokens, expected):
    assert overlong_penalty(num_tokens, max_new_tokens=100, buffer_tokens=20) == pytest.approx(expected, abs=1e-15)


def test_overlong_penalty_factor_and_whole_budget_buffer():
    assert overlong_penalty(90, 100, 20, penalty=2.0) == pytest.approx(-1.0)
    assert overlong_penalty(120, 100, 20, penalty=0.5) == pytest.approx(-0.5)
    assert overlong_penalty(0, 10, 10) == 0.0
    assert overlong_penalty(5, 10, 10) == pytest.approx(-0.5)
    assert overlong_penalty(10, 10, 10) == pytest.approx(-1.0)


@pytest.mark.parametrize("arguments, match", [
    ((10, 100, 0), "buffer_tokens"),
    ((10, 100, 101), "exceeds"),
    ((-1, 100, 20), "num_tokens"),
    ((10, 0, 0), "max_new_tokens"),
    ((10.0, 100, 20), "num_tokens"),
    ((10, 100, 20, float("nan")), "penalty"),
    ((10, 100, 20, -1.0), "penalty"),
])
def test_overlong_bad_arguments(arguments, match):
    with pytest.raises(InputError, match=match):
        overlong_penalty(*arguments)


# ---------------------------------------------------------------- spec

def test_parse_reward_spec():
    spec = parse_reward_spec("correctness:1,format:0.1,overlong:1")
    assert spec == RewardSpec(weights=(("correctness", 1.0), ("format", 0.1), ("overlong", 1.0)))
    assert parse_reward_spec("correctness,format:0.1").weights == (("correctness", 1.0), ("format", 0.1))
    assert parse_reward_spec(" correctness : 2 , format ").weights == (("correctness", 2.0), ("format", 1.0))
    assert parse_reward_spec("format:-0.5,correctness:0").weights == (("format", -0.5), ("correctness", 0.0))
    spec = parse_reward_spec("correctness,brevity:0.2", custom_names=["brevity"])
    assert spec.names == ("correctness", "brevity")


@pytest.mark.parametrize("text, match", [
    ("accuracy", "unknown reward 'accuracy'.*correctness.*format.*overlong"),
    ("correctness,correctness:2", "twice"),
    ("", "empty"),
    ("   ", "empty"),
    ("correctness,", "empty item"),
    (",format", "empty item"),
    ("format:abc", "weight"),
    ("format:", "weight"),
    ("format:nan", "weight"),
    ("format:inf", "weight"),
    ("brevity", "choices"),
])
def test_parse_reward_spec_errors(text, match):
    with pytest.raises(InputError, match=match):
        parse_reward_spec(text)


def test_parse_reward_spec_lists_custom_choices_and_refuses_clashes():
    with pytest.raises(InputError, match="brevity"):
        parse_reward_spec("typo", custom_names=("brevity",))
    with pytest.raises(InputError, match="clash"):
        parse_reward_spec("format", custom_names=("format",))
    assert set(BUILTIN_REWARDS) == {"correctness", "format", "overlong"}


# ---------------------------------------------------------------- compute_rewards

def test_compute_rewards_weighted_sum(addition_record):
    gold = addition_record["answer"]
    completions = [
        "<think>\nadd\n</think>\n\\boxed{" + gold + "}",           # right, formatted      -> 1 + 0.5
        "\\boxed{" + gold + "}",                                    # right, no think        -> 1
        "<think>\nadd\n</think>\n\\boxed{" + wrong_number(gold) + "}",  # wrong, formatted -> 0.5
        "<think>\nadd and add",                                     # cut off                -> 0
    ]
    rollouts = [rollout(text, addition_record) for text in completions]
    rewards, components = compute_rewards(rollouts, parse_reward_spec("correctness,format:0.5"),
                                          group_size=2, max_new_tokens=64)
    np.testing.assert_allclose(rewards, [1.5, 1.0, 0.5, 0.0])
    assert rewards.dtype == np.float64
    assert components["correctness"].tolist() == [1.0, 1.0, 0.0, 0.0]
    assert components["format"].tolist() == [1.0, 0.0, 1.0, 0.0]


def test_compute_rewards_overlong_component():
    # max 100, buffer 20: 50 tokens -> 0; 90 -> -0.5; 100 -> -1; truncated at 95 counts as the whole budget -> -1
    rollouts = [rollout("\\boxed{0.5}", num_tokens=n, truncated=cut)
                for n, cut in ((50, False), (90, False), (100, True), (95, True))]
    rewards, components = compute_rewards(rollouts, parse_reward_spec("correctness,overlong:2"), group_size=2,
                                          max_new_tokens=100, overlong_buffer=20)
    np.testing.assert_allclose(components["overlong"], [0.0, -0.5, -1.0, -1.0])
    np.testing.assert_allclose(rewards, [1.0, 0.0, -1.0, -1.0])
    with pytest.raises(InputError, match="overlong_buffer"):
        compute_rewards(rollouts, parse_reward_spec("overlong"), group_size=2, max_new_tokens=100)
    with pytest.raises(InputError, match="overlong_buffer"):
        compute_rewards(rollouts, parse_reward_spec("overlong"), 2, max_new_tokens=100, overlong_buffer=101)


def first_number(prompt, completion, gold):
    return float(completion.split()[0])


def second_number(prompt, completion, gold):
    return float(completion.split()[1])


def test_compute_rewards_gdpo_by_hand():
    # group 1 (G = 4): a = (1, 0, 0, 0) -> mean 1/4, sample std 1/2 -> (3/2, -1/2, -1/2, -1/2)
    #                  b = (1, 1, 0, 1) -> mean 3/4, sample std 1/2 -> (1/2, 1/2, -3/2, 1/2)
    #   1 * a + 0.5 * b = (7/4, -1/4, -5/4, -1/4)
    # group 2: a = (1, 1, 1, 1) constant -> 0
    #          b = (0, 1, 0, 1) -> mean 1/2, sample std sqrt(1/3) -> -+ sqrt(3)/2; times 0.5 -> -+ sqrt(3)/4
    pairs = [(1, 1), (0, 1), (0, 0), (0, 1), (1, 0), (1, 1), (1, 0), (1, 1)]
    rollouts = [rollout(f"{a} {b}") for a, b in pairs]
    spec = parse_reward_spec("a:1,b:0.5", custom_names=("a", "b"))
    custom = {"a": first_number, "b": second_number}
    rewards, components = compute_rewards(rollouts, spec, group_size=4, max_new_tokens=16, custom=custom,
                                          combine="gdpo", eps=1e-12)
    quarter_root3 = math.sqrt(3) / 4
    expected = [1.75, -0.25, -1.25, -0.25, -quarter_root3, quarter_root3, -quarter_root3, quarter_root3]
    np.testing.assert_allclose(rewards, expected, rtol=1e-9)
    assert components["a"].tolist() == [a for a, _ in pairs]  # raw values, not normalised
    # the plain sum of the same components
    summed, _ = compute_rewards(rollouts, spec, group_size=4, max_new_tokens=16, custom=custom)
    np.testing.assert_allclose(summed, [a + 0.5 * b for a, b in pairs])
    with pytest.raises(InputError, match="group_size"):
        compute_rewards(rollouts, spec, group_size=1, max_new_tokens=16, custom=custom, combine="gdpo")


def test_custom_reward_receives_prompt_completion_and_gold():
    seen = []

    def record_arguments(prompt, completion, gold):
        seen.append((prompt, completion, gold))
        return len(completion)

    rollouts = [rollout("abc", prompt="P1"), rollout("de", prompt="P1")]
    rewards, _ = compute_rewards(rollouts, parse_reward_spec("length", ["length"]), group_size=2,
                                 max_new_tokens=8, custom={"length": record_arguments})
    assert seen == [("P1", "abc", "\\frac{1}{2}"), ("P1", "de", "\\frac{1}{2}")]
    assert rewards.tolist() == [3.0, 2.0]


def test_a_raising_custom_reward_names_the_function_and_the_sample():
    def exploding_reward(prompt, completion, gold):
        if completion == "bad":
            raise ValueError("cannot score this")
        return 1.0

    long_prompt = "Q" * 59 + "#" + "tail that must not appear" + "\n"
    rollouts = [rollout("ok"), rollout("ok"), rollout("ok", prompt=long_prompt), rollout("bad", prompt=long_prompt)]
    with pytest.raises(RewardError) as caught:
        compute_rewards(rollouts, parse_reward_spec("boom", ["boom"]), group_size=2, max_new_tokens=8,
                        custom={"boom": exploding_reward})
    message = str(caught.value)
    assert "exploding_reward" in message and "'boom'" in message
    assert "sample 3" in message
    assert "Q" * 59 + "#" in message and "tail" not in message
    assert "ValueError" in message and "cannot score this" in message
    assert "\n" not in message
    assert isinstance(caught.value, InputError)
    assert isinstance(caught.value.__cause__, ValueError)


@pytest.mark.parametrize("returned, match", [
    (float("nan"), "nan"),
    (float("inf"), "inf"),
    ("1.0", "str"),
    (None, "NoneType"),
    ([1.0], "list"),
])
def test_custom_reward_returning_a_non_number(returned, match):
    def odd_reward(prompt, completion, gold):
        return returned

    with pytest.raises(RewardError, match=f"odd_reward.*sample 0.*{match}"):
        compute_rewards([rollout("x"), rollout("y")], parse_reward_spec("odd", ["odd"]), group_size=2,
                        max_new_tokens=8, custom={"odd": odd_reward})


def test_custom_reward_numpy_and_bool_returns_are_numbers():
    custom = {"n": lambda prompt, completion, gold: np.float32(0.25), "b": lambda prompt, completion, gold: True}
    rewards, components = compute_rewards([rollout("x"), rollout("y")], parse_reward_spec("n,b", ["n", "b"]),
                                          group_size=2, max_new_tokens=8, custom=custom)
    assert components["n"].tolist() == [0.25, 0.25] and components["b"].tolist() == [1.0, 1.0]
    assert rewards.tolist() == [1.25, 1.25]


def test_a_failing_builtin_reward_is_a_reward_error_too():
    # a record without its gold answer: the judge's KeyError is reported with the sample
    broken = {"problem": "no gold here"}
    with pytest.raises(RewardError, match="correctness.*sample 1.*KeyError"):
        compute_rewards([rollout("a"), rollout("\\boxed{1}", record=broken)], parse_reward_spec("correctness"),
                        group_size=2, max_new_tokens=8)


def test_compute_rewards_bad_arguments():
    spec = parse_reward_spec("correctness")
    two = [rollout("a"), rollout("b")]
    with pytest.raises(InputError, match="multiple"):
        compute_rewards(two + [rollout("c")], spec, group_size=2, max_new_tokens=8)
    with pytest.raises(InputError, match="multiple"):
        compute_rewards([], spec, group_size=2, max_new_tokens=8)
    with pytest.raises(InputError, match="combine"):
        compute_rewards(two, spec, group_size=2, max_new_tokens=8, combine="mean")
    with pytest.raises(InputError, match="max_new_tokens"):
        compute_rewards(two, spec, group_size=2, max_new_tokens=0)
    with pytest.raises(InputError, match="RewardSpec"):
        compute_rewards(two, "correctness", group_size=2, max_new_tokens=8)
    with pytest.raises(InputError, match="neither built in"):
        compute_rewards(two, parse_reward_spec("brevity", ["brevity"]), group_size=2, max_new_tokens=8)
    with pytest.raises(InputError, match="callable"):
        compute_rewards(two, parse_reward_spec("brevity", ["brevity"]), 2, 8, custom={"brevity": 3})
    with pytest.raises(InputError, match="clash"):
        compute_rewards(two, spec, 2, 8, custom={"correctness": first_number})
    with pytest.raises(InputError, match="rollouts\\[1\\]"):
        compute_rewards([two[0], "text"], spec, group_size=2, max_new_tokens=8)


def test_rollout_validation():
    with pytest.raises(InputError, match="num_tokens"):
        rollout("x", num_tokens=-1)
    with pytest.raises(InputError, match="completion"):
        rollout(None)
    with pytest.raises(InputError, match="record"):
        Rollout(record="gold", prompt="p", completion="c", num_tokens=1, truncated=False)
    with pytest.raises(InputError, match="truncated"):
        rollout("x", truncated="no")
