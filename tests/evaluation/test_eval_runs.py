"""Evaluation runs with a fake generate function: records, resume, summary, CLI, datasets, prompts."""

import json
from dataclasses import dataclass

import numpy as np
import pytest

from minireason.errors import DataError, InputError
from minireason.evaluation.datasets import load_problems
from minireason.evaluation.prompts import PromptSpec
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
        self.generators = []  # per call: the rng argument (one generator per prompt, or None)
        self.stop_strings = []  # per call: the stop_strings argument
        self.calls = 0
        self.stop_after_calls = stop_after_calls

    def __call__(self, model, tokenizer, prompts, max_new_tokens, temperature=0.0, top_k=0, top_p=1.0, rng=None,
                 stop_strings=None):
        if self.stop_after_calls is not None and self.calls >= self.stop_after_calls:
            raise KeyboardInterrupt
        self.calls += 1
        self.prompts.extend(prompts)
        self.generators.append(rng)
        self.stop_strings.append(stop_strings)
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
    # seeded: one generator per problem, numpy.random.default_rng([seed, problem index, sample 0])
    assert [len(call) for call in fake.generators] == [4, 4, 2]
    first_draws = [generator.random() for call in fake.generators for generator in call]
    assert first_draws == [np.random.default_rng([5, i, 0]).random() for i in range(10)]
    assert len(set(first_draws)) == 10
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
    direct = EvalSettings().prompt_spec().text("What is 2+2?")
    assert "What is 2+2?" in direct and "\\boxed{ANSWER}" in direct
    assert "step by step" in EvalSettings(template="cot").prompt_spec().text("x")
    with pytest.raises(InputError, match="template"):
        PromptSpec(template="nope")


def test_chat_prompt_thinking_on_and_off():
    on = EvalSettings(chat=True, enable_thinking=True).prompt_spec().text("What is 2+2?")
    off = EvalSettings(chat=True, enable_thinking=False).prompt_spec().text("What is 2+2?")
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


# ----------------------------------------------------------------------------- one run per results file


def run_fake(out, settings=None, problems=PROBLEMS, **keywords):
    fake = FakeGenerate(keywords.pop("stop_after_calls", None))
    summary = run_evaluation(None, None, problems, out, settings or EvalSettings(), generate_function=fake,
                             progress=False,
                             **keywords)
    return fake, summary


def test_a_manifest_beside_the_records_says_what_made_them(tmp_path):
    out = tmp_path / "r.jsonl"
    run_fake(out, EvalSettings(temperature=0.5, seed=3), run_info={"arguments": {"model": "builtin:base"}})
    manifest = json.loads((tmp_path / "r.jsonl.manifest.json").read_text())
    assert manifest["command"] == "eval" and manifest["run"] == {"arguments": {"model": "builtin:base"}}
    assert manifest["identity"]["temperature"] == 0.5 and manifest["identity"]["seed"] == 3
    assert "batch_size" not in manifest["identity"]  # samples do not depend on it
    assert len(manifest["identity"]["data_sha256"]) == 64 and manifest["minireason_version"]
    assert all("index" in record for record in read_records(out))  # the JSONL holds records only


@pytest.mark.parametrize("change, named", [
    ({"settings": EvalSettings(template="cot")}, "template: 'direct' -> 'cot'"),
    ({"settings": EvalSettings(temperature=0.7, seed=1)}, "temperature: 0.0 -> 0.7"),
    ({"settings": EvalSettings(seed=2)}, "seed: None -> 2"),
    ({"problems": PROBLEMS[::-1]}, "data_sha256"),
    ({"problems": PROBLEMS[:5]}, "problems: 10 -> 5"),
    ({"verify_function": lambda problem, answer: True}, "grader"),
])
def test_resume_onto_another_runs_records_is_refused_naming_the_settings(tmp_path, change, named):
    out = tmp_path / "r.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_fake(out, EvalSettings(batch_size=4), stop_after_calls=1)
    before = out.read_bytes()
    with pytest.raises(InputError, match="holds 4 records of another run") as error:
        run_fake(out, **{"settings": EvalSettings(batch_size=4), **change})
    assert named in str(error.value) and "--force-new" in str(error.value)
    assert out.read_bytes() == before  # nothing appended, nothing removed


def test_another_batch_size_and_a_longer_limit_resume(tmp_path):
    out = tmp_path / "r.jsonl"
    run_fake(out, EvalSettings(batch_size=4, seed=1), limit=5)
    fake, summary = run_fake(out, EvalSettings(batch_size=3, seed=1))
    assert len(fake.prompts) == 5 and summary["total"] == 10
    assert [r["index"] for r in read_records(out)] == list(range(10))


def test_force_new_starts_over(tmp_path):
    out = tmp_path / "r.jsonl"
    run_fake(out)
    fake, summary = run_fake(out, EvalSettings(template="cot"), force_new=True, limit=2)
    assert len(fake.prompts) == 2 and summary["total"] == 2 and len(read_records(out)) == 2
    assert json.loads((tmp_path / "r.jsonl.manifest.json").read_text())["identity"]["template"] == "cot"


def test_records_without_a_manifest_are_refused_and_an_empty_file_is_a_new_run(tmp_path):
    out = tmp_path / "old.jsonl"
    out.write_text(json.dumps({"index": 0, "generated": "x", "gold": "0", "correct": True}) + "\n")
    with pytest.raises(InputError, match=r"holds 1 records but no manifest old.jsonl.manifest.json"):
        run_fake(out)
    out.write_text("")
    (tmp_path / "old.jsonl.manifest.json").write_text('{"stale": true}')  # ignored: no records to continue
    _, summary = run_fake(out, limit=2)
    assert summary["total"] == 2


def test_a_damaged_manifest_is_a_data_error(tmp_path):
    out = tmp_path / "r.jsonl"
    run_fake(out, limit=2)
    (tmp_path / "r.jsonl.manifest.json").write_text("{not json")
    with pytest.raises(DataError, match="r.jsonl.manifest.json: not a valid manifest"):
        run_fake(out)


def test_results_reader_drops_a_cut_utf8_tail_and_names_a_string_index(tmp_path):
    out = tmp_path / "r.jsonl"
    whole = json.dumps({"index": 0, "problem": "é"}, ensure_ascii=False).encode() + b"\n"
    cut = json.dumps({"index": 1, "problem": "日本"}, ensure_ascii=False).encode()
    out.write_bytes(whole + cut[: cut.index("日".encode()) + 1])  # inside the 3-byte character
    assert read_records(out) == [{"index": 0, "problem": "é"}]
    out.write_bytes(whole + b'{"index": "1"}\n' + whole)
    with pytest.raises(DataError, match=r"r.jsonl:2: .*'index': '1'"):
        read_records(out)
    out.write_bytes(b'{"index": true}\n')
    with pytest.raises(DataError, match=r"r.jsonl:1: .*int 'index'"):
        read_records(out)


def test_a_lone_surrogate_in_a_problem_is_written_escaped_and_read_back(tmp_path):
    out = tmp_path / "r.jsonl"
    problems = [{"problem": "What is 1 + 1? \udc80", "answer": "2"}]
    run_fake(out, problems=problems)
    assert read_records(out)[0]["problem"] == problems[0]["problem"]


def test_regrade_write_takes_the_manifest_along(tmp_path):
    out = tmp_path / "r.jsonl"
    run_fake(out, limit=3)
    regrade_file(out, tmp_path / "copy.jsonl")
    assert (tmp_path / "copy.jsonl.manifest.json").read_text() == (tmp_path / "r.jsonl.manifest.json").read_text()
    regrade_file(out, out)  # in place: the manifest stays as it is
    assert len(read_records(out)) == 3


# ----------------------------------------------------------------------------- seeds and batch boundaries


def test_seeded_records_do_not_depend_on_batch_size_or_where_a_resume_starts(tmp_path):
    """A real (tiny, random) model sampling at temperature 1: the records of batch sizes 1, 3 and 8
    are identical, and so are those of a run interrupted, cut inside a record and resumed with
    another batch size at a problem that is no batch boundary."""
    from byte_tokenizer import ByteTokenizer

    from minireason.config import PRESETS
    from minireason.generation.generate import generate
    from minireason.model import Qwen3Model

    model = Qwen3Model.from_config(PRESETS["test-tiny"].replace(vocab_size=260, max_position_embeddings=64),
                                   seed=4, dtype="float64")
    tokenizer = ByteTokenizer()

    def settings(batch_size):
        return EvalSettings(template="plain", batch_size=batch_size, max_new_tokens=6, temperature=1.0, seed=11)

    def records_of(path):  # everything but the timing
        return [{k: v for k, v in record.items() if k != "seconds"} for record in read_records(path)]

    runs = {}
    for batch_size in (1, 3, 8):
        out = tmp_path / f"b{batch_size}.jsonl"
        run_evaluation(model, tokenizer, PROBLEMS, out, settings(batch_size), generate_function=generate,
                       progress=False)
        runs[batch_size] = records_of(out)
    assert runs[1] == runs[3] == runs[8]
    assert len({record["generated"] for record in runs[1]}) > 5  # sampled: the texts differ

    calls = []

    def interrupted(*arguments, **keywords):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(1)
        return generate(*arguments, **keywords)

    out = tmp_path / "resumed.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_evaluation(model, tokenizer, PROBLEMS, out, settings(3), generate_function=interrupted, progress=False)
    data = out.read_bytes()
    out.write_bytes(data[: data.rindex(b'{"index": 5') + 30])  # record 5 cut off mid-line
    assert len(read_records(out)) == 5
    run_evaluation(model, tokenizer, PROBLEMS, out, settings(4), generate_function=generate, progress=False)
    assert records_of(out) == runs[1]


def test_a_problem_file_that_is_not_utf8_names_the_file_and_line(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_bytes(b'{"problem": "a", "answer": "1"}\n{"problem": "\xe9t\xe9", "answer": "2"}\n')
    with pytest.raises(DataError, match=r"p.jsonl:2: not UTF-8 text \(invalid continuation byte"):
        load_problems(path)
