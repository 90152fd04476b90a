"""minireason.posttrain.teacher_data (distill-data, dpo-data): only verified, finished, distinct completions
become traces; pairs are a verified and a wrong completion; an interrupted run resumes to exactly
what an uninterrupted one writes (whatever the batch size); another run's file (other settings, other
problems, another model), a file without a manifest and an older version's file are refused."""

import json

import pytest

import minireason.posttrain.teacher_data as teacher_data
from minireason.errors import DataError, InputError
from minireason.evaluation.judge import judge_completion
from minireason.identity import read_manifest
from minireason.io.pretrained import load_pretrained
from minireason.posttrain.teacher_data import SamplingSettings, sample_pairs, sample_traces
from minireason.tasks.export import resolve_data


@pytest.fixture(scope="module")
def student():
    return load_pretrained("builtin:student")


@pytest.fixture(scope="module")
def problems():
    return resolve_data("task:arithmetic?n=12&split=train&difficulty=1&seed=3")  # the student is right on about half


def settings(**changes):
    values = dict(model="builtin:student", data="addition", samples=4, temperature=1.0, max_new_tokens=48, seed=5,
                  problems_per_batch=4)
    return SamplingSettings(**{**values, **changes})


def read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_traces_are_verified_finished_and_distinct(student, problems, tmp_path, monkeypatch):
    sampled = []
    real = teacher_data.sample_rollouts

    def recording(*args, **kwargs):
        result = real(*args, **kwargs)
        sampled.append(result)
        return result

    monkeypatch.setattr(teacher_data, "sample_rollouts", recording)
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
    straight_path = tmp_path / "straight.jsonl"
    straight = sample_traces(*student, problems, settings(), straight_path, progress=False)
    lines = straight_path.read_text().splitlines(keepends=True)
    indices = [json.loads(line)["index"] for line in lines]
    assert len(set(indices)) >= 3  # the cut below falls inside the file
    # killed while writing: the records up to the middle of some problem's, then half a line
    cut = indices.index(sorted(set(indices))[len(set(indices)) // 2]) + 1
    resumed_path = tmp_path / "resumed.jsonl"
    (tmp_path / "resumed.jsonl.manifest.json").write_text((tmp_path / "straight.jsonl.manifest.json").read_text())
    resumed_path.write_text("".join(lines[:cut]) + lines[cut][: len(lines[cut]) // 2])
    resumed = sample_traces(*student, problems, settings(problems_per_batch=3), resumed_path, progress=False)
    assert resumed_path.read_text() == straight_path.read_text()  # another batch size, the same samples
    assert resumed["resumed_after"] == indices[cut - 1] and resumed["records"] == straight["written"]
    assert resumed["problems"] == len(problems) - indices[cut - 1]


def test_an_interrupt_keeps_the_batches_written(student, problems, tmp_path, monkeypatch):
    calls = {"count": 0}
    real = teacher_data.sample_rollouts

    def interrupted(*args, **kwargs):
        calls["count"] += 1
        if calls["count"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(teacher_data, "sample_rollouts", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sample_traces(*student, problems, settings(), tmp_path / "resumed.jsonl", progress=False)
    kept = read(tmp_path / "resumed.jsonl")
    assert kept and all(record["index"] < 4 for record in kept)  # the first batch of four problems
    monkeypatch.setattr(teacher_data, "sample_rollouts", real)
    resumed = sample_traces(*student, problems, settings(), tmp_path / "resumed.jsonl", progress=False)
    straight = sample_traces(*student, problems, settings(), tmp_path / "straight.jsonl", progress=False)
    assert (tmp_path / "resumed.jsonl").read_text() == (tmp_path / "straight.jsonl").read_text()
    assert resumed["records"] == straight["written"]
    again = sample_traces(*student, problems, settings(), tmp_path / "resumed.jsonl", progress=False)
    assert again["problems"] == 1 and again["records"] == straight["written"]  # only the last problem again
    manifest = read_manifest(tmp_path / "resumed.jsonl")
    assert manifest["command"] == "distill-data" and manifest["identity"]["kind"] == "traces"
    assert manifest["run"]["model"] == "builtin:student"


def test_resume_refusals_name_only_the_settings_that_differ(student, problems, tmp_path):
    out = tmp_path / "traces.jsonl"
    sample_traces(*student, problems[:4], settings(), out, progress=False)
    assert read(out)  # something to resume
    with pytest.raises(InputError, match=r"\(temperature: 1\.0 -> 0\.5\)"):
        sample_traces(*student, problems[:4], settings(temperature=0.5), out, progress=False)
    with pytest.raises(InputError, match=r"\(max_new_tokens: 48 -> 40; seed: 5 -> 6\)"):
        sample_traces(*student, problems[:4], settings(seed=6, max_new_tokens=40), out, progress=False)
    with pytest.raises(InputError, match=r"\(data_sha256: [0-9a-f]{12}\.\.\. -> [0-9a-f]{12}\.\.\.\)"):
        sample_traces(*student, problems[4:8], settings(), out, progress=False)
    changed = [dict(problems[0], answer="0")] + problems[1:4]  # the same problems but one gold answer
    with pytest.raises(InputError, match="data_sha256"):
        sample_traces(*student, changed, settings(), out, progress=False)
    with pytest.raises(InputError, match="not of `minireason dpo-data`"):
        sample_pairs(*student, problems[:4], settings(), out, progress=False)
    # the batch size and the names given are not the run's identity
    sample_traces(*student, problems[:4], settings(problems_per_batch=2, data="addition again"), out, progress=False)
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text('{"index": 0, "problem": "x"}\n')
    with pytest.raises(InputError, match="no manifest foreign.jsonl.manifest.json"):
        sample_traces(*student, problems[:4], settings(), foreign, progress=False)
    older = tmp_path / "older.jsonl"
    older.write_text('{"index": 0, "problem": "x"}\n')
    (tmp_path / "older.jsonl.state.json").write_text('{"problems_done": 1}\n')
    with pytest.raises(DataError, match="older.jsonl.state.json comes from an older minireason"):
        sample_traces(*student, problems[:4], settings(), older, progress=False)
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
