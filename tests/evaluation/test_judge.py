"""The one judge (minireason.evaluation.judge), and the places that must agree with it: evaluation
runs, task accuracy and the scaling runner.

Every expected verdict below is worked out by hand from the problem (the countdown numbers and
target, the equation, the decimal), not taken from the code under test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

import pytest

import minireason.tasks  # noqa: F401 - hands the task families' verifiers to the judge
from minireason.errors import DataError
from minireason.evaluation import judge
from minireason.evaluation.grader import grade_answer
from minireason.evaluation.judge import is_correct, is_task_record, judge_completion

# Make 12 from 3 5 9 10: any expression using each given number at most once that equals 12.
COUNTDOWN = {
    "problem": "Make 12 from 3 5 9 10.", "answer": "9+3", "subject": "countdown", "level": 2,
    "unique_id": "countdown/by-hand", "family": "countdown",
    "data": {"numbers": [3, 5, 9, 10], "target": 12, "solution": "9+3"},
}
# 9x + 3 = x + 91  <=>  8x = 88  <=>  x = 11
LINEAR = {
    "problem": "Solve 9x+3=x+91.", "answer": "11", "subject": "linear_equation", "level": 1,
    "unique_id": "linear_equation/by-hand", "family": "linear_equation",
    "data": {"a": 9, "b": 3, "c": 1, "d": 91},
}
MATH = {"problem": "Write 1/2 as a decimal.", "answer": "0.5", "subject": "Prealgebra", "level": 1,
        "unique_id": "math/by-hand"}


# ----------------------------------------------------------------------------- is_correct


@pytest.mark.parametrize("answer, right", [
    ("9+3", True),
    ("3*(9-5)", True),  # another valid expression than the gold one: still right
    ("10+5-3", True),
    ("(10+5)-3", True),
    ("12", False),  # the target's value, but not an expression over the numbers given
    ("6+6", False),  # 6 is not among the numbers
    ("10+10-9+1", False),  # 10 used twice, 1 not given
    ("9+3+0", False),
    ("", False),
    (None, False),
])
def test_a_countdown_record_is_graded_by_its_family_verifier(answer, right):
    assert is_correct(COUNTDOWN, answer) is right


def test_the_family_verifier_decides_where_a_value_comparison_would_not():
    # grade_answer compares values: "12" equals 9+3, so it would call the bare target right
    assert grade_answer("12", COUNTDOWN["answer"])
    assert not is_correct(COUNTDOWN, "12")
    # and a task record's verifier is never replaced by a scripted equivalence
    assert is_correct(COUNTDOWN, "10+5-3", equivalent=lambda answer, gold: False)
    assert not is_correct(COUNTDOWN, "12", equivalent=lambda answer, gold: True)


@pytest.mark.parametrize("answer, right", [("11", True), ("x=11", True), ("12", False), (None, False)])
def test_a_linear_equation_record_is_graded_by_its_family_verifier(answer, right):
    assert is_correct(LINEAR, answer) is right


@pytest.mark.parametrize("answer, right", [
    ("0.5", True), ("\\frac{1}{2}", True), ("1/2", True), ("0.25", False), ("", False), (None, False),
])
def test_a_plain_record_is_graded_by_grade_answer(answer, right):
    assert is_correct(MATH, answer) is right


def test_equivalent_replaces_grade_answer_for_plain_records_with_answer_then_gold():
    calls = []

    def spelled_the_same(answer, gold):
        calls.append((answer, gold))
        return answer == gold

    assert not is_correct(MATH, "\\frac{1}{2}", equivalent=spelled_the_same)
    assert is_correct(MATH, "0.5", equivalent=spelled_the_same)
    assert calls == [("\\frac{1}{2}", "0.5"), ("0.5", "0.5")]
    assert not is_correct(MATH, None, equivalent=lambda answer, gold: True)  # None is never right


def test_is_task_record():
    assert is_task_record(COUNTDOWN) and is_task_record(LINEAR)
    assert not is_task_record(MATH)
    assert not is_task_record({"problem": "x", "answer": "1", "family": "countdown"})  # no data
    assert not is_task_record("countdown")


# ----------------------------------------------------------------------------- judge_completion


def test_judge_completion_extracts_then_judges():
    trace = "<think>\n10+5=15, 15-3=12, yes\n</think>\n\\boxed{10+5-3}"
    assert judge_completion(COUNTDOWN, trace) == ("10+5-3", True)
    assert judge_completion(MATH, "So it is \\boxed{0.5}, or rather \\boxed{0.25}") == ("0.25", False)  # the last box
    # without a box, fallback "number" reads the last number; fallback None only accepts a box
    assert judge_completion(MATH, "The answer is 0.5.") == ("0.5", True)
    assert judge_completion(MATH, "The answer is 0.5.", fallback=None) == (None, False)
    assert judge_completion(MATH, "") == (None, False)
    assert judge_completion(MATH, None) == (None, False)


# ----------------------------------------------------------------------------- everyone agrees with the judge

# (record, completion): a mix of right and wrong, boxed and unboxed
CASES = [
    (COUNTDOWN, "<think>\nx\n</think>\n\\boxed{3*(9-5)}"),  # right: another valid expression
    (COUNTDOWN, "\\boxed{12}"),  # wrong: a value, not an expression
    (COUNTDOWN, "\\boxed{9+3} hmm, no: \\boxed{9+5}"),  # wrong: the last box counts
    (LINEAR, "8x=88, \\boxed{11}"),  # right
    (LINEAR, "x is 11"),  # right only when unboxed answers count (fallback "number")
    (MATH, "\\boxed{\\frac12}"),  # right
    (MATH, "\\boxed{0.25}"),  # wrong
    (MATH, "The answer is 0.5"),  # right only when unboxed answers count
    (MATH, "I do not know."),  # no answer at all
]
# by hand: the verdicts with fallback "number" (evaluation runs, scaling) and None (task accuracy)
RIGHT_WITH_NUMBER_FALLBACK = [True, False, False, True, True, True, False, True, False]
RIGHT_BOXED_ONLY = [True, False, False, True, False, True, False, False, False]


def test_the_judge_gives_the_verdicts_worked_out_by_hand():
    assert [judge_completion(r, c, fallback="number")[1] for r, c in CASES] == RIGHT_WITH_NUMBER_FALLBACK
    assert [judge_completion(r, c, fallback=None)[1] for r, c in CASES] == RIGHT_BOXED_ONLY


@dataclass
class FakeResult:
    text: str
    token_ids: list
    finish_reason: str = "stop"


def test_evaluation_runs_and_regrading_agree_with_the_judge(tmp_path):
    from minireason.evaluation.runs import (
        EvalSettings,
        grade_record,
        read_records,
        regrade_file,
        run_evaluation,
    )

    problems = [record for record, _ in CASES]
    completions = iter(completion for _, completion in CASES)

    def fake_generate(model, tokenizer, prompts, max_new_tokens, **settings):
        return [FakeResult(next(completions), [1]) for _ in prompts]

    out = tmp_path / "out.jsonl"
    summary = run_evaluation(None, None, problems, out, EvalSettings(template="short-cot", batch_size=4),
                             generate_function=fake_generate, progress=False)  # no verify_function: the judge
    records = read_records(out)
    assert [r["correct"] for r in records] == RIGHT_WITH_NUMBER_FALLBACK
    assert summary["correct"] == sum(RIGHT_WITH_NUMBER_FALLBACK)
    regraded, _ = regrade_file(out)  # from the records alone: gold, family and data were kept
    assert [r["correct"] for r in regraded] == RIGHT_WITH_NUMBER_FALLBACK
    # a verify_function still overrides the judge, and is handed the problem
    seen = []
    overridden = grade_record(records[1], lambda problem, answer: seen.append((problem, answer)) or True, problems[1])
    assert overridden["correct"] is True and seen == [(problems[1], "12")]


def test_the_scaling_runner_agrees_with_the_judge(tmp_path):
    from minireason.scaling.outcome import ScalingSettings
    from minireason.scaling.runner import judge_for, parse_methods, run_comparison
    from minireason.scaling.sampler import Sample

    class ScriptedSampler:
        def __init__(self, texts):
            self.texts = list(texts)

        def sample(self, prompts, max_new_tokens, temperature, seed):
            return [Sample(text=self.texts.pop(0), num_tokens=3, mean_logprob=-1.0) for _ in prompts]

    records = [record for record, _ in CASES]
    sampler = ScriptedSampler(completion for _, completion in CASES)
    run_comparison(sampler, records, parse_methods("cot"), ScalingSettings(max_new_tokens=8),
                   records_path=tmp_path / "records.jsonl")
    lines = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert [line["correct"] for line in lines] == RIGHT_WITH_NUMBER_FALLBACK
    # the settings' equivalence replaces grade_answer for plain records only
    def spelled_the_same(answer, gold):
        return answer == gold

    assert judge_for(MATH, grade_answer)("\\frac{1}{2}") and not judge_for(MATH, spelled_the_same)("\\frac{1}{2}")
    assert judge_for(COUNTDOWN, spelled_the_same)("3*(9-5)") and not judge_for(COUNTDOWN, grade_answer)("12")
    assert not judge_for(MATH, grade_answer)(None)


# ----------------------------------------------------------------------------- the verifier registry


def test_every_built_in_family_gives_the_judge_its_verifier():
    assert set(judge.registered_families()) == set(minireason.tasks.FAMILIES)


def test_a_registered_verifier_judges_its_family(monkeypatch):
    monkeypatch.setattr(judge, "_VERIFIERS", dict(judge._VERIFIERS))
    parity = {"problem": "Is 7 odd?", "answer": "yes", "family": "parity", "data": {"n": 7}}
    with pytest.raises(DataError, match="task family 'parity' has no verifier registered"):
        is_correct(parity, "yes")
    judge.register_verifier("parity", lambda record, answer: answer == ("yes" if record["data"]["n"] % 2 else "no"))
    assert is_correct(parity, "yes") and not is_correct(parity, "no")
    assert judge_completion(parity, "\\boxed{yes}", fallback=None) == ("yes", True)
    assert not is_correct(parity, None)  # a missing answer is never right, verifier or not


def _run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_evaluation_does_not_import_the_tasks_and_says_so_for_a_task_record():
    code = (
        "import sys\n"
        "import minireason.evaluation.core, minireason.evaluation.runs, minireason.evaluation.held_out\n"
        "assert 'minireason.tasks' not in sys.modules, 'evaluation imported the tasks'\n"
        "from minireason.errors import DataError\n"
        "from minireason.evaluation.judge import judge_completion\n"
        f"record = {COUNTDOWN!r}\n"
        "try:\n"
        "    judge_completion(record, '\\\\boxed{9+3}')\n"
        "except DataError as error:\n"
        "    print(error)\n"
    )
    done = _run_python(code)
    assert done.returncode == 0, done.stderr
    assert "task family 'countdown' has no verifier registered" in done.stdout
    assert "import minireason.tasks" in done.stdout


def test_the_public_judge_knows_the_task_families():
    code = ("import minireason\n"
            f"record = {COUNTDOWN!r}\n"
            "print(minireason.judge_completion(record, 'so \\\\boxed{9+3}'),"
            " minireason.judge_completion(record, '\\\\boxed{12}'))\n")
    done = _run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "('9+3', True) ('12', False)"


def test_task_accuracy_agrees_with_the_judge():
    from minireason.evaluation.prompts import PromptSpec
    from minireason.tasks import generate_problems
    from minireason.tasks.accuracy import task_accuracy
    from minireason.tasks.export import to_record

    problems = generate_problems("countdown", 6, split="test", seed=5)
    makers = [
        lambda p: "<think>\nfine\n</think>\n\\boxed{(" + p.answer + ")}",  # right: the gold in parentheses
        lambda p: "\\boxed{" + p.answer + "+0}",  # wrong: 0 is never one of the numbers
        lambda p: "The answer is " + p.answer,  # wrong here: task accuracy reads boxed answers only
    ]
    completion_of = {}
    for index, problem in enumerate(problems):
        for style in ("direct", "cot"):
            completion_of[PromptSpec(style).text(problem.text)] = makers[index % 3](problem)

    def fake_generate(model, tokenizer, prompts, max_new_tokens, **settings):
        return [FakeResult(completion_of[prompt], [1, 2]) for prompt in prompts]

    results = task_accuracy(None, None, ["countdown"], n=6, seed=5, batch_size=4, generate_function=fake_generate)
    verdicts = [judge_completion(to_record(p), makers[i % 3](p), fallback=None)[1] for i, p in enumerate(problems)]
    assert verdicts == [True, False, False] * 2
    assert results["countdown"] == {"direct": pytest.approx(2 / 6), "cot": pytest.approx(2 / 6)}
