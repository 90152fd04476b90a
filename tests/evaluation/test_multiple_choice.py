"""Multiple choice: records, letter extraction, the KV-cached log-prob path against direct forwards,
the built-in MC tasks and resumable runs."""

import json
from dataclasses import dataclass

import numpy as np
import pytest
from byte_tokenizer import ByteTokenizer

from minireason.config import PRESETS
from minireason.errors import DataError, InputError
from minireason.evaluation.multiple_choice import (
    choice_record,
    extract_letter,
    load_choice_records,
    option_logprobs,
    run_multiple_choice,
    score_options,
)
from minireason.evaluation.runs import EvalSettings, read_records
from minireason.model import Qwen3Model
from minireason.tasks import generate_problems, verify
from minireason.tasks.multiple_choice import choice_problem, choice_problems

CONFIG = PRESETS["test-tiny"].replace(vocab_size=260, max_position_embeddings=96)


def direct_option_logprobs(model, prefix, option):
    """Per-token log-probs of ``option`` after ``prefix`` from one plain forward of the whole sequence."""
    ids = np.asarray([list(prefix) + list(option)], dtype=np.int64)
    logp, _ = model.token_logprobs(ids[:, :-1], ids[:, 1:])
    return np.asarray(logp)[0, len(prefix) - 1:]


@pytest.mark.parametrize("dtype,tolerance", [("float32", 1e-6), ("float64", 1e-12)])
def test_cached_option_logprobs_equal_a_direct_forward_per_option(dtype, tolerance):
    model = Qwen3Model.from_config(CONFIG, seed=5, dtype=dtype)
    rng = np.random.default_rng(0)
    prefix = rng.integers(0, 256, size=13).tolist()
    options = [rng.integers(0, 256, size=length).tolist() for length in (1, 4, 7, 2)]  # unequal: padding is used
    cached = option_logprobs(model, prefix, options)
    for option, values in zip(options, cached):
        direct = direct_option_logprobs(model, prefix, option)
        assert values.shape == (len(option),)
        np.testing.assert_allclose(values, direct, rtol=0, atol=tolerance)


def test_scores_report_sum_and_mean_and_pick_the_best():
    model = Qwen3Model.from_config(CONFIG, seed=5, dtype="float64")
    scores = score_options(model, ByteTokenizer(), "Q: 1+1?\n", ["2", "11", "three"])
    assert scores["option_tokens"] == [len("\\boxed{2}"), len("\\boxed{11}"), len("\\boxed{three}")]
    for total, mean, count in zip(scores["option_logprobs"], scores["option_mean_logprobs"], scores["option_tokens"]):
        assert mean == pytest.approx(total / count)
    assert scores["predicted"] == "ABC"[int(np.argmax(scores["option_logprobs"]))]
    assert scores["predicted_mean"] == "ABC"[int(np.argmax(scores["option_mean_logprobs"]))]


@pytest.mark.parametrize("text,letter", [
    ("B", "B"), ("(B)", "B"), ("The answer is B.", "B"), ("\\boxed{B}", "B"), ("B. 42", "B"),
    ("answer: (c)", "C"), ("\\boxed{\\text{D}}", "D"), ("I pick option C because ...", "C"),
    ("Maybe (A), but on reflection (D).", "D"),
])
def test_letter_is_extracted(text, letter):
    assert extract_letter(text, 4) == letter


@pytest.mark.parametrize("text", ["a cat sat", "The answer is E.", "\\boxed{42}", "", None, "I am not sure"])
def test_no_letter_is_read_where_there_is_none(text):
    assert extract_letter(text, 4) is None


def test_records_from_json_jsonl_and_csv(tmp_path):
    items = [{"question": "2+2?", "choices": ["3", "4"], "answer": 1},
             {"question": "Capital of France?", "A": "Rome", "B": "Paris", "C": "Oslo", "answer": "b"}]
    (tmp_path / "a.json").write_text(json.dumps(items))
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(item) for item in items))
    (tmp_path / "h.csv").write_text("question,A,B,C,answer\n2+2?,3,4,5,B\n")
    (tmp_path / "mmlu.csv").write_text("2+2?,3,4,5,6,B\n")
    for name in ("a.json", "a.jsonl"):
        records = load_choice_records(tmp_path / name)
        assert [r["answer"] for r in records] == ["B", "B"]
        assert records[1]["choices"] == ["Rome", "Paris", "Oslo"]
    assert load_choice_records(tmp_path / "h.csv")[0]["choices"] == ["3", "4", "5"]
    mmlu = load_choice_records(tmp_path / "mmlu.csv")[0]
    assert mmlu["choices"] == ["3", "4", "5", "6"] and mmlu["answer_index"] == 1


@pytest.mark.parametrize("question,choices,answer", [
    ("q", ["x"], 0), ("q", ["x", "y"], 2), ("q", ["x", "y"], "C"), ("", ["x", "y"], 0), ("q", ["x", ""], 0),
])
def test_bad_records_are_refused_by_name(question, choices, answer):
    with pytest.raises(DataError, match="field"):
        choice_record(question, choices, answer)


@pytest.mark.parametrize("family", ["addition", "arithmetic", "linear_equation", "countdown"])
def test_builtin_choices_hold_one_right_answer_among_wrong_ones(family):
    for problem in generate_problems(family, 10, split="test"):
        record = choice_problem(problem)
        if record is None:
            continue
        right = [verify(problem, choice) for choice in record["choices"]]
        assert right.count(True) == 1 and right.index(True) == record["answer_index"]
        assert len(set(record["choices"])) == len(record["choices"]) == 4


def test_builtin_choices_spread_the_answer_over_the_letters():
    letters = [record["answer"] for record in choice_problems("all", 200)]
    assert len(letters) == 200 and all(25 <= letters.count(letter) <= 75 for letter in "ABCD")


@dataclass
class FakeResult:
    text: str
    token_ids: list
    finish_reason: str = "stop"


def fake_generate(model, tokenizer, prompts, max_new_tokens, temperature=0.0, top_k=0, top_p=1.0, rng=None,
                  stop_strings=None):
    """Answers every question with option B."""
    return [FakeResult("The answer is (B).", [1, 2, 3]) for _ in prompts]


def test_letter_run_records_and_resumes(tmp_path):
    records = [choice_record(f"q{i}", ["x", "y", "z"], i % 3) for i in range(6)]
    out = tmp_path / "mc.jsonl"
    settings = EvalSettings(batch_size=2, max_new_tokens=4)
    run_multiple_choice(None, None, records, out, "mc-letter", settings, limit=3, generate_function=fake_generate,
                        progress=False)
    summary = run_multiple_choice(None, None, records, out, "mc-letter", settings, generate_function=fake_generate,
                                  progress=False)
    written = read_records(out)
    assert [r["index"] for r in written] == list(range(6))
    assert [r["correct"] for r in written] == [i % 3 == 1 for i in range(6)]
    assert summary["accuracy"] == pytest.approx(2 / 6) and summary["chance"] == pytest.approx(1 / 3)
    with pytest.raises(InputError, match="mode"):
        run_multiple_choice(None, None, records, out, "mc-logprob", settings, progress=False)


def test_logprob_run_records_per_option_scores(tmp_path):
    model = Qwen3Model.from_config(CONFIG, seed=5, dtype="float64")
    records = [choice_record("Compute 1+1.", ["2", "3", "4"], 0), choice_record("Compute 2+2.", ["5", "4"], 1)]
    out = tmp_path / "lp.jsonl"
    summary = run_multiple_choice(model, ByteTokenizer(), records, out, "mc-logprob",
                                  EvalSettings(template="plain"), progress=False)
    written = read_records(out)
    assert [len(r["option_logprobs"]) for r in written] == [3, 2]
    assert all(r["correct"] == (r["predicted"] == r["gold"]) for r in written)
    assert {"accuracy", "accuracy_mean_logprob", "chance"} <= set(summary)
    assert summary["chance"] == pytest.approx((1 / 3 + 1 / 2) / 2)


def test_eval_command_scores_builtin_choices_and_resumes(tmp_path, capsys):
    from minireason.cli.main import main

    out = tmp_path / "mc.jsonl"
    argv = ["eval", "--model", "builtin:base", "--data", "task:all?n=4", "--mode", "mc-logprob",
            "--template", "short-direct", "--out", str(out), "--no-progress"]
    assert main(argv + ["--limit", "2"]) == 0
    assert main(argv) == 0
    written = read_records(out)
    assert [r["index"] for r in written] == [0, 1, 2, 3]
    assert all(len(r["option_logprobs"]) == 4 for r in written)
    assert "chance 25.0%" in capsys.readouterr().out
    assert main(argv[:-5] + ["--template", "short-cot", "--out", str(out), "--no-progress"]) == 1  # another run
