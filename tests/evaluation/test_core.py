"""The one evaluation core (minireason.evaluation.core): the same records as before it, batch by batch
with per-problem generators, a progress bar that can be turned off, and should_stop between batches
(how a caught Ctrl-C ends an evaluation after the batch in flight)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from minireason.cli.main import main
from minireason.errors import InputError
from minireason.evaluation.core import Sampling, judged_batches
from minireason.evaluation.held_out import HeldOutEvaluation, greedy_accuracy, paired_before_after
from minireason.evaluation.prompts import PromptSpec
from minireason.evaluation.runs import EvalSettings, read_records, run_evaluation

BEFORE = Path(__file__).parent / "data" / "eval_records_before_the_core.json"
PROBLEMS = [{"problem": f"Compute {n}+1.", "answer": str(n + 1)} for n in range(10)]


@dataclass
class FakeResult:
    text: str
    token_ids: list
    finish_reason: str = "stop"


class CountingGenerate:
    """Answers every problem right (the gold read back from the prompt); records each call's prompts and rngs;
    ``on_call(calls)`` runs at the start of each call (a Ctrl-C arriving while a batch is generated)."""

    def __init__(self, on_call=None):
        self.batches, self.generators, self.stop_strings, self.on_call = [], [], [], on_call

    def __call__(self, model, tokenizer, prompts, max_new_tokens, rng=None, stop_strings=None, **settings):
        if self.on_call is not None:
            self.on_call(len(self.batches) + 1)
        self.batches.append(list(prompts))
        self.generators.append(rng)
        self.stop_strings.append(stop_strings)
        answers = [int(prompt.split("Compute ")[1].split("+")[0]) + 1 for prompt in prompts]
        return [FakeResult(f"\\boxed{{{answer}}}", [1, 2, 3]) for answer in answers]


# ----------------------------------------------------------------------------- the same records as before


def _without_seconds(records):
    return [{key: value for key, value in record.items() if key != "seconds"} for record in records]


@pytest.mark.parametrize("run", range(2))
def test_minireason_eval_writes_the_records_it_wrote_before_the_core(run, tmp_path):
    pinned = json.loads(BEFORE.read_text())["runs"][run]
    out = tmp_path / "out.jsonl"
    assert main(pinned["arguments"] + ["--out", str(out)]) == 0
    assert _without_seconds(read_records(out)) == pinned["records"]
    # and with another batch size: every problem has its own generator
    arguments = list(pinned["arguments"])
    arguments[arguments.index("--batch-size") + 1] = "3"
    assert main(arguments + ["--out", str(tmp_path / "other.jsonl")]) == 0
    assert _without_seconds(read_records(tmp_path / "other.jsonl")) == pinned["records"]


# ----------------------------------------------------------------------------- batches, seeds, stop strings


def test_batches_carry_every_problem_once_with_its_own_generator():
    generate = CountingGenerate()
    batches = list(judged_batches(None, None, PROBLEMS, PromptSpec("cot"), Sampling(max_new_tokens=8, seed=11),
                                  batch_size=4, start=2, generate_function=generate))
    assert [[answer["index"] for answer in batch] for batch in batches] == [[2, 3, 4, 5], [6, 7, 8, 9]]
    assert all(answer["correct"] and answer["extracted"] == str(answer["index"] + 1)
               for batch in batches for answer in batch)
    assert generate.batches[0][0] == "Compute 2+1. Think step by step.\n"
    first_draws = [generator.random() for generators in generate.generators for generator in generators]
    assert first_draws == [np.random.default_rng([11, index, 0]).random() for index in range(2, 10)]
    assert generate.stop_strings == [None, None]  # the plain format stops at eos only


def test_a_chat_spec_stops_at_the_end_of_the_turn_and_unseeded_runs_get_no_generators():
    generate = CountingGenerate()
    list(judged_batches(None, None, PROBLEMS[:3], PromptSpec("cot", "chat"), Sampling(max_new_tokens=8),
                        batch_size=8, generate_function=generate))
    assert generate.stop_strings == [["<|im_end|>"]] and generate.generators == [None]
    assert generate.batches[0][0].startswith("<|im_start|>user\nCompute 0+1.\n")


@pytest.mark.parametrize("call, named", [
    (lambda: Sampling(max_new_tokens=0), "max_new_tokens"),
    (lambda: Sampling(max_new_tokens=4, temperature=-1.0), "temperature"),
    (lambda: Sampling(max_new_tokens=4, seed=-3), "seed"),
    (lambda: list(judged_batches(None, None, PROBLEMS, PromptSpec(), Sampling(max_new_tokens=4), batch_size=0,
                                 generate_function=CountingGenerate())), "batch_size"),
])
def test_bad_settings_are_named(call, named):
    with pytest.raises(InputError, match=named):
        call()


# ----------------------------------------------------------------------------- stopping between batches


def test_should_stop_ends_the_evaluation_after_the_batch_in_flight():
    interrupt = {"requested": False}

    def ctrl_c_during_the_first_batch(calls):
        if calls == 1:
            interrupt["requested"] = True

    generate = CountingGenerate(ctrl_c_during_the_first_batch)
    batches = list(judged_batches(None, None, PROBLEMS, PromptSpec(), Sampling(max_new_tokens=8), batch_size=3,
                                  generate_function=generate, should_stop=lambda: interrupt["requested"]))
    assert len(generate.batches) == 1 and [len(batch) for batch in batches] == [3]


def test_a_stopped_evaluation_run_keeps_its_records_and_resumes(tmp_path):
    out = tmp_path / "out.jsonl"
    stop = {"now": False}
    generate = CountingGenerate(lambda calls: stop.update(now=calls == 2))
    summary = run_evaluation(None, None, PROBLEMS, out, EvalSettings(template="short-cot", batch_size=4),
                             generate_function=generate, progress=False, should_stop=lambda: stop["now"])
    assert summary["total"] == 8 and len(read_records(out)) == 8
    summary = run_evaluation(None, None, PROBLEMS, out, EvalSettings(template="short-cot", batch_size=4),
                             generate_function=CountingGenerate(), progress=False)
    assert summary["total"] == 10 and [record["index"] for record in read_records(out)] == list(range(10))


def test_a_stopped_held_out_evaluation_says_so_and_is_not_paired(tmp_path):
    generate = CountingGenerate()
    result = greedy_accuracy(None, None, PROBLEMS, batch_size=4, generate_function=generate,
                             should_stop=lambda: len(generate.batches) >= 1)
    assert result.stopped and result.problems == 4 and result.correct == [True] * 4
    full = greedy_accuracy(None, None, PROBLEMS, batch_size=4, generate_function=CountingGenerate())
    assert not full.stopped and full.problems == 10 and full.accuracy == 1.0
    assert "stopped" not in full.figures() and result.figures()["stopped"] is True
    (tmp_path / "eval").mkdir()
    for step, verdicts in ((0, result.correct), (5, full.correct)):
        (tmp_path / "eval" / f"step_{step:06d}.json").write_text(json.dumps({"step": step, "correct": verdicts}))
    assert paired_before_after(tmp_path) is None  # 4 verdicts against 10: no pairing


def test_a_ctrl_c_inside_a_batch_closes_the_bar_and_propagates(capsys):
    def interrupted(calls):
        if calls == 2:
            raise KeyboardInterrupt

    seen = []
    with pytest.raises(KeyboardInterrupt):
        for batch in judged_batches(None, None, PROBLEMS, PromptSpec(), Sampling(max_new_tokens=8), batch_size=5,
                                    generate_function=CountingGenerate(interrupted), progress=True):
            seen.append(batch)
    assert len(seen) == 1 and "5/10" in capsys.readouterr().err


# ----------------------------------------------------------------------------- progress


@pytest.mark.parametrize("progress", [True, False])
def test_the_held_out_evaluation_shows_progress_only_when_asked(progress, tmp_path, capsys, monkeypatch):
    import minireason.evaluation.core as core

    monkeypatch.setattr(core, "generate", CountingGenerate())
    evaluation = HeldOutEvaluation(None, PROBLEMS, tmp_path, "plain", max_new_tokens=8, batch_size=4,
                                   progress=progress)
    figures = evaluation(None, 0)
    assert figures["eval_accuracy"] == 1.0 and figures["eval_problems"] == 10
    err = capsys.readouterr().err
    assert ("held-out eval" in err and "10/10" in err) is progress
    assert json.loads((tmp_path / "eval" / "step_000000.json").read_text())["correct"] == [True] * 10


def test_the_held_out_evaluation_takes_the_loops_stop_request(tmp_path, monkeypatch):
    import minireason.evaluation.core as core

    generate = CountingGenerate()
    monkeypatch.setattr(core, "generate", generate)
    evaluation = HeldOutEvaluation(None, PROBLEMS, tmp_path, "plain", max_new_tokens=8, batch_size=4, progress=False)
    figures = evaluation(None, 3, should_stop=lambda: len(generate.batches) >= 2)
    assert figures["eval_problems"] == 8 and len(generate.batches) == 2
    assert json.loads((tmp_path / "eval" / "step_000003.json").read_text())["stopped"] is True
