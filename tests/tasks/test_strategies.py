"""The ways a family can work one problem (``strategies_for`` / ``write_trace(strategy=...)``) and the
pretraining recipe's random mix of them."""

from __future__ import annotations

import random
import re
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minireason.errors import InputError
from minireason.tasks import get_family, verify
from minireason.tasks.addition import COLUMN_WAYS, operation_steps, strategy_operations
from minireason.tasks.arithmetic import evaluate_steps, parse_tokens, ready_operations
from minireason.tasks.base import last_boxed, make_problem, review, split_of
from minireason.training.pretrain import RECIPES, SHIPPED_WAYS, build_examples, recipe_identity

ADDITION = get_family("addition")
PROBLEM_TEXT = re.compile(r"Compute (\d+)([+-])(\d+)\.")
LINE = re.compile(r"(\d+)([+-])(\d+)=(\d+)")


def _problem(top: int, bottom: int, operator: str):
    value = top + bottom if operator == "+" else top - bottom
    data = {"top": top, "bottom": bottom, "operator": operator}
    return make_problem(ADDITION, f"Compute {top}{operator}{bottom}.", str(value), len(str(top)), data,
                        random.Random(0))


@settings(max_examples=60, deadline=None)
@given(top=st.integers(0, 99999), bottom=st.integers(0, 99999), operator=st.sampled_from("+-"),
       seed=st.integers(0, 2**32 - 1))
def test_every_strategy_reaches_the_answer_and_every_line_is_true(top, bottom, operator, seed):
    if len(str(bottom)) > len(str(top)) or (operator == "-" and bottom > top):
        top, bottom = bottom, top  # as the family writes them: the first number has the most digits
    problem = _problem(top, bottom, operator)
    for strategy in ADDITION.strategies_for(problem):
        trace = ADDITION.write_trace(problem, random.Random(seed), strategy=strategy)
        assert verify(problem, last_boxed(trace)), (strategy, trace)
        if strategy in COLUMN_WAYS:
            _check_column_lines(top, bottom, operator, strategy, trace)
        else:
            lines = trace.split("\n")[1:-2]
            assert lines and all(LINE.fullmatch(line) for line in lines), trace
            for line in lines:  # each line's arithmetic is right
                left, op, right, result = LINE.fullmatch(line).groups()
                assert int(result) == (int(left) + int(right) if op == "+" else int(left) - int(right)), line
        flawed = ADDITION.write_trace(problem, random.Random(seed), mistake=True, strategy=strategy)
        assert last_boxed(flawed) is not None and not verify(problem, last_boxed(flawed)), (strategy, flawed)


def test_strategies_differ_and_fit_the_problem():
    addition, subtraction = _problem(478, 356, "+"), _problem(653, 587, "-")
    assert ADDITION.strategies_for(addition) == ("columns", "split", "rounding", "place values", "commuted",
                                                 "carry first", "reversed", "places")
    assert ADDITION.strategies_for(subtraction) == ("columns", "split", "rounding", "carry first", "reversed",
                                                    "places")
    assert "rounding" not in ADDITION.strategies_for(_problem(57, 55, "-"))  # 57-60 would go below zero
    assert "rounding" not in ADDITION.strategies_for(_problem(478, 350, "+"))  # already in tens
    traces = {s: ADDITION.write_trace(addition, random.Random(0), strategy=s) for s in ADDITION.strategies_for(addition)}
    assert len(set(traces.values())) == 8
    assert traces["split"] == "<think>\n478+300=778\n778+50=828\n828+6=834\n</think>\n\\boxed{834}"
    assert traces["rounding"] == "<think>\n478+360=838\n838-4=834\n</think>\n\\boxed{834}"
    assert traces["columns"] == addition.trace_completion  # the default way, as before
    with pytest.raises(InputError, match="strategy: expected one of"):
        ADDITION.write_trace(subtraction, random.Random(0), strategy="place values")


COLUMN_LINE = {"+": re.compile(r"(\d)\+(\d)\+(\d)=(\d+), (\d+)"),
               "-": re.compile(r"(\d+)-(\d)-(\d)=(\d), (\d+)")}


def _check_column_lines(top, bottom, operator, way, trace):
    """Each line of a column way, checked against the problem's own digits: the copy line (if any)
    holds them, each column line reads the right digits and carry, and its sum and digits so far are right."""
    width = len(str(top))
    top_text, bottom_text = str(top), str(bottom).zfill(width)
    lines = trace.split("\n")[1:-2]
    if way == "reversed":
        assert lines.pop(0) == f"reversed {top_text[::-1]}{operator}{bottom_text[::-1]}", trace
    if way == "places":
        names = ["1s", "10s", "100s", "1000s", "10000s"]
        assert lines.pop(0) == ", ".join(f"{names[i]} {top_text[-1 - i]} {bottom_text[-1 - i]}"
                                         for i in range(width)), trace
    assert len(lines) == width, trace
    carry, written = 0, ""
    for column, line in enumerate(lines):
        first, second, third, result, so_far = COLUMN_LINE[operator].fullmatch(line).groups()
        x, y = int(top_text[-1 - column]), int(bottom_text[-1 - column])
        if operator == "+":
            terms = {"columns": (x, y, carry), "reversed": (x, y, carry), "places": (x, y, carry),
                     "commuted": (y, x, carry), "carry first": (carry, x, y)}[way]
            assert (int(first), int(second), int(third)) == terms, (line, trace)
            total = x + y + carry
            assert int(result) == total, line
            carry = total // 10
            written = (str(total) if column == width - 1 else str(total % 10)) + written
        else:
            borrow = int(x - y - carry < 0)
            terms = (x + 10 * borrow, carry, y) if way == "carry first" else (x + 10 * borrow, y, carry)
            assert (int(first), int(second), int(third)) == terms, (line, trace)
            assert int(result) == x + 10 * borrow - y - carry, line
            carry, written = borrow, result + written
        assert so_far == written, (line, trace)


def test_column_ways_read_the_digits_by_other_routes():
    problem = _problem(239, 515, "+")
    traces = {way: ADDITION.write_trace(problem, random.Random(0), strategy=way).split("\n")[1:-2]
              for way in COLUMN_WAYS}
    assert traces["columns"] == ["9+5+0=14, 4", "3+1+1=5, 54", "2+5+0=7, 754"]
    assert traces["commuted"] == ["5+9+0=14, 4", "1+3+1=5, 54", "5+2+0=7, 754"]
    assert traces["carry first"] == ["0+9+5=14, 4", "1+3+1=5, 54", "0+2+5=7, 754"]
    assert traces["reversed"] == ["reversed 932+515"] + traces["columns"]
    assert traces["places"] == ["1s 9 5, 10s 3 1, 100s 2 5"] + traces["columns"]
    subtraction = _problem(906, 3, "-")
    assert ADDITION.write_trace(subtraction, random.Random(0), strategy="reversed").split("\n")[1] == \
        "reversed 609-300"
    assert ADDITION.write_trace(subtraction, random.Random(0), strategy="carry first").split("\n")[1] == "6-0-3=3, 3"
    with pytest.raises(InputError, match="strategy: expected one of"):
        ADDITION.write_trace(subtraction, random.Random(0), strategy="commuted")


def test_a_flawed_column_way_slips_in_a_column_line_not_the_copy():
    problem = _problem(239, 515, "+")
    for seed in range(10):
        for way in ("reversed", "places"):
            right = ADDITION.write_trace(problem, random.Random(seed), strategy=way).split("\n")
            flawed = ADDITION.write_trace(problem, random.Random(seed), strategy=way, mistake=True).split("\n")
            assert flawed[1] == right[1] and flawed[-1] != right[-1]


def test_the_recipe_draws_only_the_named_strategies():
    recipe = replace(RECIPES["base"], families=("addition",), problems_per_family=300, mixed_strategies=True,
                     strategies={"addition": ["columns", "commuted", "reversed"]})
    used = {info["strategy"] for _, _, info in build_examples(recipe) if info["style"] == "cot"}
    assert used == {"columns", "commuted", "reversed"}  # a subtraction cannot be commuted: it is worked another way
    only_rounding = replace(recipe, strategies={"addition": ["rounding"]})
    used = {info["strategy"] for _, _, info in build_examples(only_rounding) if info["style"] == "cot"}
    assert used == {"rounding", "columns"}  # where rounding does not fit, the family's default
    assert recipe_identity(recipe)["strategies"] == {"addition": ["columns", "commuted", "reversed"]}
    # the shipped recipes mix addition's five column ways; the other families keep their default way
    assert recipe_identity(RECIPES["base"])["strategies"] == SHIPPED_WAYS == recipe_identity(RECIPES["student"])["strategies"]
    assert RECIPES["base"].mixed_strategies and RECIPES["student"].mixed_strategies


def test_a_slip_carries_into_later_lines():
    operations = strategy_operations(478, 356, "+", "place values")
    steps, value = operation_steps(operations, slip=(1, 10))  # 70+50 written as 130
    assert steps[1] == "70+50=130" and steps[3] == "700+130=830" and value == 844


def test_the_recipe_mixes_strategies_by_seed_and_keeps_the_split():
    recipe = replace(RECIPES["base"], families=("addition",), problems_per_family=300, mixed_strategies=True,
                     strategies={})  # every way the family knows
    examples = build_examples(recipe)
    assert examples == build_examples(recipe)  # the random choice is seeded
    assert build_examples(replace(recipe, seed=1)) != examples
    used = {info["strategy"] for _, _, info in examples if info["style"] == "cot"}
    assert used == set(ADDITION.strategies_for(_problem(478, 356, "+")))
    texts = [PROBLEM_TEXT.match(prompt).group(0) for prompt, _, _ in examples]
    assert all(split_of(text) == "train" for text in texts)
    for text, (_, completion, info) in zip(texts, examples):  # a correct chain verifies, a flawed one does not
        if info["style"] == "cot":
            top, operator, bottom = PROBLEM_TEXT.match(text).groups()
            problem = _problem(int(top), int(bottom), operator)
            assert verify(problem, last_boxed(completion)) != info["flawed"], completion
    # without the option, every chain is worked the family's default way
    plain = build_examples(replace(recipe, mixed_strategies=False))
    assert {info["strategy"] for _, _, info in plain} == {None}


ARITHMETIC = get_family("arithmetic")


def test_ready_operations_are_those_that_keep_the_value():
    assert [parse_tokens("8-2*3+1")[i] for i in ready_operations(parse_tokens("8-2*3+1"))] == ["*"]
    assert ready_operations(parse_tokens("3*4+6/2")) == [1, 5]
    assert ready_operations(parse_tokens("8/4*2")) == [1]  # not 4*2 first
    assert ready_operations(parse_tokens("9-3+2")) == [1]  # not 3+2 first
    assert ready_operations(parse_tokens("(7-3)*(4+6)")) == [2, 8]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), level=st.integers(1, 5))
def test_any_order_reaches_the_answer_and_a_slip_does_not(seed, level):
    problem = ARITHMETIC.generate(random.Random(seed), level)
    trace = ARITHMETIC.write_trace(problem, random.Random(seed), strategy="any order")
    assert verify(problem, last_boxed(trace)), trace
    assert len(trace.split("\n")) == level + 3  # one line per operation
    flawed = ARITHMETIC.write_trace(problem, random.Random(seed), mistake=True, strategy="any order")
    assert not verify(problem, last_boxed(flawed)), flawed


def test_any_order_takes_several_orders_and_precedence_is_the_default():
    problem = make_problem(ARITHMETIC, "Evaluate 2*2+6*6.", "40", 3, {"expression": "2*2+6*6"}, random.Random(0))
    orders = {ARITHMETIC.write_trace(problem, random.Random(seed), strategy="any order") for seed in range(20)}
    assert orders == {problem.trace_completion,
                      "<think>\n6*6=36, 2*2+36\n2*2=4, 4+36\n4+36=40\n</think>\n\\boxed{40}"}
    assert ARITHMETIC.write_trace(problem, random.Random(5), strategy="precedence") == problem.trace_completion
    with pytest.raises(InputError, match="strategy: expected one of"):
        ARITHMETIC.write_trace(problem, random.Random(0), strategy="columns")


def test_review_names_the_first_wrong_line_or_says_correct():
    problem = make_problem(ADDITION, "Compute 478+356.", "834", 3, {"top": 478, "bottom": 356, "operator": "+"},
                           random.Random(0))
    flawed = ADDITION.write_trace(problem, random.Random(3), mistake=True, strategy="split")
    right = ADDITION.write_trace(problem, random.Random(3), strategy="split")
    first_wrong = next(a for a, b in zip(flawed.split("\n"), right.split("\n")) if a != b)
    correct_line = right.split("\n")[flawed.split("\n").index(first_wrong)]
    assert review(flawed, right) == f"The first wrong step is {first_wrong}; it should be {correct_line}."
    assert review(right, right) == "The solution is correct."


def test_the_recipe_adds_refinement_requests_for_some_chains():
    recipe = replace(RECIPES["base"], families=("addition", "arithmetic"), problems_per_family=200,
                     mixed_strategies=True, refine_fraction=0.5, flawed_fraction=0.5)
    examples = build_examples(recipe)
    critiques = [e for e in examples if e[2]["style"] == "critique"]
    revisions = [e for e in examples if e[2]["style"] == "revise"]
    assert len(critiques) == len(revisions) > 0
    assert {info["flawed"] for _, _, info in critiques} == {True, False}
    for prompt, completion, info in critiques:
        assert prompt.endswith("Name the first wrong step, or say that it is correct.\n")
        assert completion.startswith("The first wrong step is" if info["flawed"] else "The solution is correct.")
    for prompt, completion, info in revisions:  # the revision is the right chain, whatever the draft
        text = prompt.split("Review:\n")[1].split("\n")[1].removesuffix(" Think step by step.")
        if match := PROBLEM_TEXT.fullmatch(text):
            top, operator, bottom = match.groups()
            value = int(top) + int(bottom) if operator == "+" else int(top) - int(bottom)
        else:
            _, value = evaluate_steps(parse_tokens(text.removeprefix("Evaluate ").removesuffix(".")))
        assert last_boxed(completion) == str(value), (prompt, completion)
        assert (last_boxed(prompt.split("Review:")[0]) != str(value)) == info["flawed"]


LINEAR = get_family("linear_equation")


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), level=st.integers(1, 4))
def test_linear_strategies_reach_x_and_a_slip_does_not(seed, level):
    problem = LINEAR.generate(random.Random(seed), level)
    assert LINEAR.strategies_for(problem) == (("x left", "x right") if problem.data["c"] else ("x left",))
    for strategy in LINEAR.strategies_for(problem):
        trace = LINEAR.write_trace(problem, random.Random(seed), strategy=strategy)
        assert verify(problem, last_boxed(trace)), trace
        flawed = LINEAR.write_trace(problem, random.Random(seed), mistake=True, strategy=strategy)
        assert not verify(problem, last_boxed(flawed)), flawed


def test_x_right_gathers_x_on_the_right():
    problem = make_problem(LINEAR, "Solve 4x+5=9x-20.", "5", 2, {"a": 4, "b": 5, "c": 9, "d": -20}, random.Random(0))
    assert LINEAR.write_trace(problem, random.Random(0), strategy="x right") == (
        "<think>\n5+20=9x-4x\n25=5x\nx=25/5\nx=5\n</think>\n\\boxed{5}")
    assert LINEAR.write_trace(problem, random.Random(0)) == problem.trace_completion
    one_side = make_problem(LINEAR, "Solve 3x+5=20.", "5", 1, {"a": 3, "b": 5, "c": 0, "d": 20}, random.Random(0))
    with pytest.raises(InputError, match="strategy: expected one of"):
        LINEAR.write_trace(one_side, random.Random(0), strategy="x right")


def test_the_new_options_stay_out_of_a_default_recipes_identity():
    one_way = replace(RECIPES["base"], mixed_strategies=False, strategies={})
    identity = recipe_identity(one_way)  # runs begun before the options existed still resume
    assert "mixed_strategies" not in identity and "strategies" not in identity and "refine_fraction" not in identity
    identity = recipe_identity(replace(one_way, mixed_strategies=True, refine_fraction=0.25))
    assert identity["mixed_strategies"] is True and identity["refine_fraction"] == 0.25
