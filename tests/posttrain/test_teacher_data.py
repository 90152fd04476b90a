"""minireason.posttrain.teacher_data (distill-data, dpo-data): only verified, finished, distinct completions
become traces; pairs are a verified and a wrong completion; an interrupted run resumes to exactly
what an uninterrupted one writes; other settings, a foreign file or a lost output are refused."""

import json

import pytest

import minireason.generation.rollout as rollout
from minireason.errors import DataError, InputError
from minireason.evaluation.judge import judge_completion
from minireason.io.pretrained import load_pretrained
from minireason.posttrain.teacher_data import SamplingSettings, sample_pairs, sample_traces
from minireason.tasks.export import resolve_data


@pytest.fixture(scope="module")
def student():
    return load_pretrained("builtin:student")


@pytest.fixture(scope="module")
def problems():
    return resolve_data("task:addition?n=12&split=train&difficulty=1&seed=3")


def settings(**changes):
    values = dict(model="builtin:student", data="addition", samples=4, temperature=1.0, max_new_tokens=48, seed=5,
                  problems_per_batch=4)
    return SamplingSettings(**{**values, **changes})


def read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_traces_are_verified_finished_and_distinct(student, problems, tmp_path, monkeypatch):
    sampled = []
    real = rollout.sample_rollouts

    def recording(*args, **kwargs):
        result = real(*args, **kwargs)
        sampled.append(result)
        return result

    monkeypatch.setattr(rollout, "sample_rollouts", recording)
    counts = sample_traces(*student, problems, settings(), tmp_path / "traces.jsonl", progress=False)
    traces = read(tmp_path / "traces.jsonl")
    assert counts["sampled"] == 48 and counts["written"] == len(traces) > 0
    by_problem = {record["problem"]: record for record in problems}
    right = set()
    for batch in sampled:
        for record, text, cut in zip(batch.records, batch.completions, batch.truncated):
            if not cut and judge_completion(record, text, fallback=None)[1]:
                right.add((record["problem"], text))
    assert counts["verified"] >= len(right) > 0
    written = set()
    for item in traces:
        assert item["teacher"] == "builtin:student" and item["sampling"]["temperature"] == 1.0
        assert item["gtruth_answer"] == by_problem[item["problem"]]["answer"]
        text = f"<think>\n{item['message_thinking']}\n</think>\n{item['message_content']}"
        assert (item["problem"], text) in right  # a verified sample, written back in the task format
        written.add((item["problem"], text))
    assert len(written) == len(traces) == len(right)  # every verified text once
    assert counts["duplicates"] == counts["verified"] - len(right)


def test_an_interrupted_run_resumes_to_what_an_uninterrupted_one_writes(student, problems, tmp_path, monkeypatch):
    straight = sample_traces(*student, problems, settings(), tmp_path / "straight.jsonl", progress=False)
    calls = {"count": 0}
    real = rollout.sample_rollouts

    def interrupted(*args, **kwargs):
        calls["count"] += 1
        if calls["count"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(rollout, "sample_rollouts", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sample_traces(*student, problems, settings(), tmp_path / "resumed.jsonl", progress=False)
    with open(tmp_path / "resumed.jsonl", "a") as handle:  # a batch written but not committed to the state
        handle.write(json.dumps({"index": 7, "problem": "torn"}) + "\n{\"index\": 8, \"pro")
    monkeypatch.setattr(rollout, "sample_rollouts", real)
    resumed = sample_traces(*student, problems, settings(), tmp_path / "resumed.jsonl", progress=False)
    assert (tmp_path / "resumed.jsonl").read_text() == (tmp_path / "straight.jsonl").read_text()
    assert resumed == {**straight, "out": str(tmp_path / "resumed.jsonl")}
    again = sample_traces(*student, problems, settings(), tmp_path / "resumed.jsonl", progress=False)
    assert again["written"] == straight["written"]  # a finished run is not sampled again


def test_resume_refusals(student, problems, tmp_path):
    out = tmp_path / "traces.jsonl"
    sample_traces(*student, problems[:4], settings(), out, progress=False)
    with pytest.raises(DataError, match="temperature: 1.0 -> 0.5"):
        sample_traces(*student, problems[:4], settings(temperature=0.5), out, progress=False)
    with pytest.raises(DataError, match="problems_sha256"):
        sample_traces(*student, problems[4:8], settings(), out, progress=False)
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text('{"problem": "x"}\n')
    with pytest.raises(DataError, match="has no foreign.jsonl.state.json"):
        sample_traces(*student, problems[:4], settings(), foreign, progress=False)
    out.unlink()
    with pytest.raises(DataError, match="is missing"):
        sample_traces(*student, problems[:4], settings(), out, progress=False)
    with pytest.raises(InputError, match="temperature must be > 0"):
        settings(temperature=0.0)
    with pytest.raises(InputError, match="at least one problem"):
        sample_traces(*student, [], settings(), tmp_path / "none.jsonl", progress=False)


def test_pairs_are_a_verified_and_a_wrong_completion(student, problems, tmp_path):
    counts = sample_pairs(*student, problems, settings(samples=6, pairs_per_problem=2), tmp_path / "pairs.jsonl",
                          progress=False)
    pairs = read(tmp_path / "pairs.jsonl")
    assert counts["written"] == len(pairs) > 0
    by_problem = {record["problem"]: record for record in problems}
    per_problem = {}
    for pair in pairs:
        record = by_problem[pair["problem"]]
        assert judge_completion(record, pair["chosen"], fallback=None)[1]
        assert not judge_completion(record, pair["rejected"], fallback=None)[1]
        assert pair["prompt"] == record["problem"] + " Think step by step.\n" and pair["model"] == "builtin:student"
        per_problem.setdefault(pair["problem"], []).append((pair["chosen"], pair["rejected"]))
    for made in per_problem.values():
        assert len(made) <= 2 and len(set(made)) == len(made)
