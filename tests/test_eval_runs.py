"""Evaluation runs with a fake generate function: records, resume, summary, CLI, datasets, prompts."""

import json
from dataclasses import dataclass

import pytest

from minireason.errors import DataError, InputError
from minireason.evaluation.datasets import load_problems
from minireason.evaluation.prompts import render_prompt
from minireason.evaluation.runs import EvalSettings, read_records, regrade_file, run_evaluation, summarize

PROBLEMS = [
    {"problem": f"What is {i} + {i}?", "answer": str(2 * i), "subject": "Algebra" if i % 2 else "Geometry",
     "level": 1 + i % 3, "unique_id": f"p{i}"}
    for i in range(10)
]


@dataclass
class FakeResult:
    text: str
    token_ids: list
    finish_reason: str = "stop"


class FakeGenerate:
    """Answers correctly except for problems whose number is divisible by 3; counts prompts seen."""

    def __init__(self, stop_after_calls=None):
        self.prompts = []
        self.seeds = []
        self.calls = 0
        self.stop_after_calls = stop_after_calls

    def __call__(self, model, tokenizer, prompts, max_new_tokens, temperature=0.0, top_k=0, top_p=1.0, seed=None):
        if self.stop_after_calls is not None and self.calls >= self.stop_after_calls:
            raise KeyboardInterrupt
        self.calls += 1
        self.prompts.extend(prompts)
        self.seeds.append(seed)
        results = []
        for prompt in prompts:
            number = int(prompt.split("What is ")[1].split(" ")[0])
            answer = 2 * number + (1 if number % 3 == 0 else 0)
            results.append(FakeResult(f"so the sum is \\boxed{{{answer}}}", [7] * (number + 1)))
        return results


def test_run_writes_records_and_summary(tmp_path):
    out = tmp_path / "results.jsonl"
    fake = FakeGenerate()
    summary = run_evaluation(None, None, PROBLEMS, out, EvalSettings(batch_size=4, seed=5),
                             generate_function=fake, progress=False)
    records = read_records(out)
    assert [r["index"] for r in records] == list(range(10))
    assert [r["correct"] for r in records] == [i % 3 != 0 for i in range(10)]
    assert records[4]["extracted"] == "8" and records[4]["gold"] == "8"
    assert records[2]["generated_tokens"] == 3
    assert summary["correct"] == 6 and summary["total"] == 10
    assert summary["by_subject"]["Algebra"] == {"correct": 3, "total": 5, "accuracy": 0.6}  # 1,5,7 of 1,3,5,7,9
    assert summary["by_level"]["1"]["total"] == 4  # i = 0, 3, 6, 9
    assert summary["by_level"]["1"]["correct"] == 0
    assert summary["mean_generated_tokens"] == pytest.approx(5.5)
    assert fake.seeds == [5, 9, 13]
    assert summary["tokens_per_second"] > 0


def test_resume_after_interrupt_generates_only_the_rest(tmp_path):
    out = tmp_path / "results.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_evaluation(None, None, PROBLEMS, out, EvalSettings(batch_size=3), generate_function=FakeGenerate(2),
                       progress=False)
    assert [r["index"] for r in read_records(out)] == list(range(6))  # flushed before the interrupt
    with out.open("a") as handle:  # a line cut off mid-write
        handle.write('{"index": 6, "gene')
    fake = FakeGenerate()
    summary = run_evaluation(None, None, PROBLEMS, out, EvalSettings(batch_size=3), generate_function=fake,
                             progress=False)
    assert len(fake.prompts) == 4 and "What is 6 + 6?" in fake.prompts[0]
    assert [r["index"] for r in read_records(out)] == list(range(10))
    assert summary["total"] == 10


def test_limit_and_completed_run_do_nothing_more(tmp_path):
    out = tmp_path / "r.jsonl"
    run_evaluation(None, None, PROBLEMS, out, EvalSettings(), limit=3, generate_function=FakeGenerate(), progress=False)
    fake = FakeGenerate()
    summary = run_evaluation(None, None, PROBLEMS, out, EvalSettings(), limit=3, generate_function=fake, progress=False)
    assert fake.prompts == [] and summary["total"] == 3


def test_bad_settings_and_corrupt_results(tmp_path):
    with pytest.raises(InputError, match="batch_size"):
        EvalSettings(batch_size=0).check()
    with pytest.raises(InputError, match="template"):
        EvalSettings(template="nope").check()
    out = tmp_path / "bad.jsonl"
    out.write_text('{"index": 0}\nnot json\n{"index": 2}\n')
    with pytest.raises(DataError, match="bad.jsonl:2"):
        read_records(out)


def test_regrade_and_cli(tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    run_evaluation(None, None, PROBLEMS, out, EvalSettings(), generate_function=FakeGenerate(), progress=False)
    lines = out.read_text().splitlines()
    record = json.loads(lines[0])
    record["correct"], record["generated"] = False, "it is \\boxed{0}"
    out.write_text("\n".join([json.dumps(record)] + lines[1:]) + "\n")
    records, summary = regrade_file(out)
    assert records[0]["correct"] is True and summary["correct"] == 7
    from minireason.cli.main import main

    assert main(["grade", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "accuracy 70.0% (7/10)" in printed and "Algebra" in printed and "tokens/s" in printed


def test_summarize_empty():
    assert summarize([])["total"] == 0


def test_load_problems_json_and_jsonl(tmp_path):
    as_list = tmp_path / "p.json"
    as_list.write_text(json.dumps(PROBLEMS[:3], indent=1))
    assert [p["answer"] for p in load_problems(as_list)] == ["0", "2", "4"]
    as_lines = tmp_path / "p.jsonl"
    as_lines.write_text("\n".join(json.dumps(p) for p in PROBLEMS[:3]) + "\n")
    assert load_problems(as_lines) == load_problems(as_list)
    as_lines.write_text(json.dumps(PROBLEMS[0]) + "\n{broken\n")
    with pytest.raises(DataError, match="p.jsonl:2"):
        load_problems(as_lines)
    as_lines.write_text(json.dumps(PROBLEMS[0]) + "\n" + json.dumps({"problem": "x"}) + "\n")
    with pytest.raises(DataError, match=r"p.jsonl:2: missing field 'answer'"):
        load_problems(as_lines)
    as_list.write_text('[\n {"problem": "a", "answer": "1"},\n {"problem": "b"}\n]')
    with pytest.raises(DataError, match=r"p.json:3: missing field 'answer'"):
        load_problems(as_list)


def test_prompts():
    direct = render_prompt("What is 2+2?")
    assert "What is 2+2?" in direct and "\\boxed{ANSWER}" in direct
    assert "step by step" in render_prompt("x", template="cot")
    with pytest.raises(InputError, match="template"):
        render_prompt("x", template="nope")


def test_chat_prompt_thinking_on_and_off():
    pytest.importorskip("minireason.io.chat_template")
    on = render_prompt("What is 2+2?", chat=True, enable_thinking=True)
    off = render_prompt("What is 2+2?", chat=True, enable_thinking=False)
    assert "What is 2+2?" in on and "<|im_start|>assistant" in on
    assert on != off and "<think>" in off


def test_task_problems_use_their_family_verifier(tmp_path):
    """A countdown answer must be an expression over the given numbers: a bare value is wrong
    even though it equals the target, so the family's verifier, not the value grader, decides."""
    from minireason.tasks.export import resolve_data, verify_record

    problems = resolve_data("task:countdown?n=2&split=test&seed=0")
    target = problems[0]["data"]["target"]
    answers = [f"\\boxed{{{target}}}", "\\boxed{" + problems[1]["answer"] + "}"]

    def fake_generate(model, tokenizer, prompts, max_new_tokens, **settings):
        assert prompts[0] == problems[0]["problem"] + " Think step by step.\n"
        return [FakeResult(answer, [1, 2]) for answer in answers[: len(prompts)]]

    summary = run_evaluation(None, None, problems, tmp_path / "out.jsonl",
                             EvalSettings(template="short-cot", batch_size=2), generate_function=fake_generate,
                             progress=False, verify_function=verify_record)
    records = read_records(tmp_path / "out.jsonl")
    assert [r["correct"] for r in records] == [False, True]
    assert summary["correct"] == 1


def test_grade_command_re_checks_task_records_with_the_family_verifier(tmp_path, capsys):
    """`minireason grade` on task records must not fall back to value comparison for countdown."""
    from minireason.cli.main import main as cli_main
    from minireason.tasks.export import resolve_data

    problems = resolve_data("task:countdown?n=2&split=test&seed=0")
    target = problems[0]["data"]["target"]

    def fake_generate(model, tokenizer, prompts, max_new_tokens, **settings):
        return [FakeResult(f"\\boxed{{{target}}}", [1]), FakeResult("\\boxed{" + problems[1]["answer"] + "}", [1])]

    out = tmp_path / "out.jsonl"
    run_evaluation(None, None, problems, out, EvalSettings(template="short-cot", batch_size=2),
                   generate_function=fake_generate, progress=False)
    assert cli_main(["grade", str(out)]) == 0
    assert "accuracy 50.0% (1/2)" in capsys.readouterr().out
