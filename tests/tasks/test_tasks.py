"""Tests for minireason.tasks: generators, verifiers, traces, splits, export, CLI.

Gold answers are checked against arithmetic done here, independently of the task code:
an ``ast``-walking evaluator over Fractions (the expressions are ones the tests' own
generator produced, but ``eval`` is still never used).
"""

from __future__ import annotations

import ast
import json
import random
import re
from collections import Counter
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minireason.cli.main import main as cli_main
from minireason.errors import DataError, InputError
from minireason.evaluation.prompts import PromptSpec
from minireason.tasks import (
    FAMILIES,
    Problem,
    flawed_copy,
    generate_problems,
    get_family,
    problem_from_record,
    render_completion,
    resolve_data,
    split_of,
    to_record,
    verify,
    verify_record,
    write_jsonl,
)
from minireason.tasks.base import last_boxed
from minireason.tasks.countdown import check_countdown_answer
from minireason.tasks.linear_equation import fraction_answer

LEVELS = [(name, level) for name, family in FAMILIES.items() for level in range(1, family.max_difficulty + 1)]


# ---------------------------------------------------------------------------- independent checks


def reference_value(expression: str) -> Fraction:
    """Exact value of an expression of integers, + - * / and parentheses (no eval)."""

    def walk(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return Fraction(node.value)
        if isinstance(node, ast.BinOp):
            left, right = walk(node.left), walk(node.right)
            operations = {ast.Add: left.__add__, ast.Sub: left.__sub__, ast.Mult: left.__mul__,
                          ast.Div: left.__truediv__}
            return operations[type(node.op)](right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        raise AssertionError(f"unexpected syntax in {expression!r}")

    return walk(ast.parse(expression, mode="eval").body)


def reference_leaves(expression: str) -> Counter:
    return Counter(node.value for node in ast.walk(ast.parse(expression, mode="eval"))
                   if isinstance(node, ast.Constant))


def check_gold_independently(problem: Problem) -> None:
    """The gold answer, recomputed from the problem text alone."""
    text = problem.text
    if problem.family in ("addition", "arithmetic"):
        expression = re.fullmatch(r"(?:Compute|Evaluate) ([0-9+\-*/()]+)\.", text).group(1)
        assert reference_value(expression) == int(problem.answer)
    elif problem.family == "linear_equation":
        left, right = re.fullmatch(r"Solve (.+)=(.+)\.", text).groups()
        x = Fraction(problem.answer)

        def side_value(side: str) -> Fraction:  # "3x+5" -> 3*x+5, "-x" -> -1*x
            side = re.sub(r"(?<![0-9])x", "1x", side).replace("x", f"*({x})")
            return reference_value(side)

        assert side_value(left) == side_value(right)
    elif problem.family == "countdown":
        match = re.fullmatch(r"Make ([0-9]+) from ([0-9 ]+)\.", text)
        target, numbers = int(match.group(1)), Counter(map(int, match.group(2).split()))
        assert reference_value(problem.answer) == target
        assert not reference_leaves(problem.answer) - numbers
        assert target not in numbers
    else:
        raise AssertionError(problem.family)


# ---------------------------------------------------------------------------- generators


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_generation_is_deterministic_per_seed(family):
    first = generate_problems(family, 15, split="train", seed=7)
    again = generate_problems(family, 15, split="train", seed=7)
    other = generate_problems(family, 15, split="train", seed=8)
    assert first == again
    assert [p.text for p in first] != [p.text for p in other]
    assert len({p.text for p in first}) == 15  # deduplicated


@pytest.mark.parametrize("family,level", LEVELS)
def test_gold_answers_are_right_and_pass_their_verifier(family, level):
    for problem in generate_problems(family, 12, split="train", seed=level, difficulty=level):
        assert problem.family == family and problem.difficulty == level and not problem.flawed
        check_gold_independently(problem)
        assert verify(problem, problem.answer)
        assert problem.direct_completion == "\\boxed{" + problem.answer + "}"


@pytest.mark.parametrize("family,level", LEVELS)
def test_correct_traces_end_in_the_right_boxed_answer(family, level):
    for problem in generate_problems(family, 12, split="test", seed=level, difficulty=level):
        trace = problem.trace_completion
        assert trace.startswith("<think>\n")
        assert re.search(r"\n</think>\n\\boxed\{[^\n]*\}$", trace)
        reasoning = trace[len("<think>\n"):trace.index("\n</think>")]
        assert reasoning.strip() and "\\boxed" not in reasoning
        assert last_boxed(trace) == problem.answer


@pytest.mark.parametrize("family,level", LEVELS)
def test_flawed_traces_are_marked_and_end_in_a_wrong_answer(family, level):
    rng = random.Random(level)
    for problem in generate_problems(family, 10, split="train", seed=100 + level, difficulty=level):
        flawed = flawed_copy(problem, rng)
        assert flawed.flawed and not problem.flawed
        assert flawed.answer == problem.answer and flawed.text == problem.text  # the gold stays true
        submitted = last_boxed(flawed.trace_completion)
        assert submitted is not None and flawed.trace_completion.startswith("<think>\n")
        assert not verify(problem, submitted)
        if family == "countdown":  # the misread expression must fail on numbers or on value
            match = re.fullmatch(r"Make ([0-9]+) from ([0-9 ]+)\.", problem.text)
            target, numbers = int(match.group(1)), Counter(map(int, match.group(2).split()))
            assert reference_leaves(submitted) - numbers or reference_value(submitted) != target
        else:
            assert Fraction(submitted) != Fraction(problem.answer)


def test_addition_trace_works_column_by_column():
    problem = next(p for p in generate_problems("addition", 50, seed=1, difficulty=5) if p.data["operator"] == "+")
    lines = problem.trace_completion.split("\n")[1:-2]
    top, bottom = problem.data["top"], problem.data["bottom"]
    assert len(lines) == len(str(top))
    for column, line in enumerate(lines):  # "x+y+carry=sum, digits so far"
        x, y, carry, total, written = map(int, re.fullmatch(r"(\d)\+(\d)\+([01])=(\d+), (\d+)", line).groups())
        assert (x, y) == ((top // 10**column) % 10, (bottom // 10**column) % 10)
        assert x + y + carry == total
        assert written == (top + bottom) % 10 ** (column + 1) or column == len(lines) - 1


def test_arithmetic_trace_applies_one_operation_per_line():
    for problem in generate_problems("arithmetic", 20, seed=3, difficulty=4):
        lines = problem.trace_completion.split("\n")[1:-2]
        assert len(lines) == 4  # one line per operator
        for line in lines:
            operation = line.split(",")[0]
            left, result = operation.split("=")
            assert reference_value(left) == int(result)
            assert len(re.findall(r"[-+*/]", left)) == 1
            if "," in line:  # what is left has the same value as the problem
                assert reference_value(line.split(", ")[1]) == int(problem.answer)


def test_traces_are_short_at_the_default_difficulty():
    for family in FAMILIES:
        traces = [p.trace_completion for p in generate_problems(family, 40, seed=0)]
        mean = sum(map(len, traces)) / len(traces)
        assert 30 <= mean <= 200, (family, mean)


def test_bad_arguments_raise_typed_errors():
    with pytest.raises(InputError, match="task family"):
        get_family("chess")
    with pytest.raises(InputError, match="difficulty"):
        generate_problems("addition", 3, difficulty=99)
    with pytest.raises(InputError, match="difficulty"):
        generate_problems("countdown", 3, difficulty=0)
    with pytest.raises(InputError, match="split"):
        generate_problems("addition", 3, split="validation")
    with pytest.raises(InputError, match="found only"):  # one-digit additions run out
        generate_problems("addition", 500, split="test", difficulty=1)
    with pytest.raises(InputError, match="style"):
        render_completion(generate_problems("addition", 1)[0], style="verbose")


# ---------------------------------------------------------------------------- splits


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), family=st.sampled_from(sorted(FAMILIES)))
def test_splits_never_overlap(seed, family):
    train = generate_problems(family, 20, split="train", seed=seed)
    test = generate_problems(family, 20, split="test", seed=seed)
    assert {p.text for p in train}.isdisjoint(p.text for p in test)
    assert all(p.split == "train" for p in train) and all(p.split == "test" for p in test)


def test_split_depends_on_the_text_alone_and_is_about_80_20():
    texts = [f"Compute {a}+{b}." for a in range(40) for b in range(40)]
    splits = [split_of(text) for text in texts]
    assert splits == [split_of(text) for text in texts]
    assert 0.75 < splits.count("train") / len(splits) < 0.85


# ---------------------------------------------------------------------------- verifiers


def countdown_problem(numbers, target):
    return Problem(family="countdown", text=f"Make {target} from {' '.join(map(str, numbers))}.", answer="",
                   difficulty=2, unique_id="countdown/test", data={"numbers": numbers, "target": target})


def test_countdown_verifier_accepts_valid_expressions():
    problem = countdown_problem([3, 4, 5, 7, 25], 83)
    for answer in ["(25-5)*4+3", "3+4*(25-5)", " (25 - 5) * 4 + 3 ", "(25-5)*4+3=83", "(25-5)\\times 4+3",
                   "$(25-5)*4+3$", "((25-5))*4+3"]:
        assert verify(problem, answer), answer
    assert check_countdown_answer("7*(5+4-3/3)", [3, 3, 4, 5, 7], 56)  # fractions allowed on the way


@pytest.mark.parametrize("answer", [
    "(25-5)*4+3+3-3",  # 3 used three times, given once
    "(25-5)*4+3*1",  # 1 is not given
    "83",  # the target is not a given number
    "(25-5)*4+7",  # wrong value (87)
    "(25-5)*4+3=84",  # claims another value
    "(25-5)*4+3=83=83",
    "(25-5)*4+",
    "((25-5)*4+3",
    "(25-5)*4+3)",
    "()",
    "",
    "25--5",
    "-3+86",  # no unary minus
    "(25-5)**4",
    "25^2",
    "4e1+43",
    "0x19+58",
    "025+58",
    "(25-5)*4+3.0",
    "1/0+83",
    "25/(5-5)",
    "__import__('os').system('touch PWNED')",
    "x",
    "(" * 1000 + "83" + ")" * 1000,
    "1+" * 5000 + "1",
    "\u0663+80",  # an Arabic-Indic digit 3
    "99999999999999999999*4",
])
def test_countdown_verifier_rejects_bad_answers(answer, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert not verify(countdown_problem([3, 4, 5, 7, 25], 83), answer)
    assert not (tmp_path / "PWNED").exists()


def test_linear_equation_answers_in_several_forms():
    problem = Problem(family="linear_equation", text="Solve 2x=7.", answer="7/2", difficulty=1,
                      unique_id="linear_equation/test", data={"a": 2, "b": 0, "c": 0, "d": 7})
    for answer in ["7/2", "x = 7/2", "3.5", "x=3.5", "\\frac{7}{2}", "\\dfrac{7}{2}", "3.50"]:
        assert verify(problem, answer), answer
    for answer in ["7/3", "3", "-7/2", "x", "", "7/0", "2/7"]:
        assert not verify(problem, answer), answer
    assert not verify(problem, None)


def test_fraction_fallback_reader():
    assert fraction_answer("x = -7/2") == Fraction(-7, 2)
    assert fraction_answer("-\\frac{7}{2}") == Fraction(-7, 2)
    assert fraction_answer("0.25") == Fraction(1, 4)
    assert fraction_answer("1e400") is None and fraction_answer("7/0") is None
    assert fraction_answer("__import__('os')") is None


def test_integer_families_accept_light_formatting_only():
    problem = Problem(family="addition", text="Compute 999+2.", answer="1001", difficulty=3,
                      unique_id="addition/test", data={"top": 999, "bottom": 2, "operator": "+"})
    for answer in ["1001", "1,001", " 1001 ", "1001.0", "$1001$"]:
        assert verify(problem, answer), answer
    for answer in ["1000", "1001.5", "10 01x", "1e3", "", "9" * 5000]:
        assert not verify(problem, answer), answer


def test_gold_answers_pass_grade_answer_when_available():
    grader = pytest.importorskip("minireason.evaluation.grader")
    for family in ("addition", "arithmetic", "linear_equation"):
        for problem in generate_problems(family, 10, seed=5):
            assert grader.grade_answer(problem.answer, problem.answer)
            assert grader.grade_answer(last_boxed(problem.trace_completion), problem.answer)
    problem = next(p for p in generate_problems("linear_equation", 50, difficulty=3)
                   if Fraction(p.answer).denominator == 2)
    assert grader.grade_answer(f"x = {float(Fraction(problem.answer))}", problem.answer)


# ---------------------------------------------------------------------------- rendering and export


def test_prompts_are_short_and_say_which_completion_is_wanted():
    problem = generate_problems("addition", 1, seed=2)[0]
    direct, cot = PromptSpec("direct").text(problem.text), PromptSpec("cot").text(problem.text)
    assert direct != cot and direct.startswith(problem.text) and cot.startswith(problem.text)
    assert direct.endswith("\n") and len(cot) < 60
    assert render_completion(problem, "direct") == problem.direct_completion
    assert render_completion(problem, "cot") == problem.trace_completion


def test_records_round_trip_through_jsonl(tmp_path):
    problems = generate_problems("countdown", 5, split="test", seed=4)
    problems.append(flawed_copy(problems[0], seed=1))
    path = write_jsonl([to_record(p) for p in problems], tmp_path / "sub" / "countdown.jsonl")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 6
    assert [p.name for p in path.parent.iterdir()] == ["countdown.jsonl"]  # no temporary file left
    records = [json.loads(line) for line in lines]
    for problem, record in zip(problems, records):
        assert {"problem", "answer", "solution", "subject", "level", "unique_id"} <= set(record)
        assert record["subject"] == "countdown" and record["level"] == problem.difficulty
        assert record["solution"].endswith("\\boxed{" + last_boxed(problem.trace_completion) + "}")
        assert problem_from_record(record) == problem
        assert verify_record(record, problem.answer)
    assert records[-1]["flawed"] is True and records[0]["flawed"] is False
    with pytest.raises(DataError, match="answer"):
        problem_from_record({**records[0], "answer": 5})


def test_resolve_data_generates_task_names():
    records = resolve_data("task:arithmetic?n=7&split=test&seed=3&difficulty=2")
    expected = generate_problems("arithmetic", 7, split="test", seed=3, difficulty=2)
    assert [r["problem"] for r in records] == [p.text for p in expected]
    assert all(r["level"] == 2 and split_of(r["problem"]) == "test" for r in records)
    assert len(resolve_data("task:linear_equation")) == 100
    for bad in ["task:chess", "task:addition?n=abc", "task:addition?size=3", "task:addition?n"]:
        with pytest.raises(InputError):
            resolve_data(bad)


def test_cli_export_list_and_show(tmp_path, capsys):
    out = tmp_path / "addition.jsonl"
    assert cli_main(["tasks", "export", "--family", "addition", "--n", "4", "--split", "test",
                     "--seed", "1", "--difficulty", "3", "--out", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["problem"] for r in records] == [p.text for p in generate_problems("addition", 4, "test", 1, 3)]
    capsys.readouterr()
    assert cli_main(["tasks", "list"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in FAMILIES)
    assert cli_main(["tasks", "show", "--family", "countdown", "--n", "1", "--flawed"]) == 0
    shown = capsys.readouterr().out
    assert "<think>" in shown and "[flawed trace]" in shown
    assert cli_main(["tasks", "export", "--family", "nope", "--n", "1", "--split", "test",
                     "--out", str(tmp_path / "x.jsonl")]) == 1
