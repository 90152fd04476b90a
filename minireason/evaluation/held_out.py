"""Greedy held-out accuracy in memory: what trainers and the demo measure before and after training.

``minireason eval`` (``runs.py``) is the same measurement with a results file that resumes; this is
the in-process form a training loop calls every few steps: chain-of-thought prompts, greedy
decoding in batches, the one judge on the boxed answer, all through the one evaluation core
(``core.py``).  It keeps each problem's verdict, so that two evaluations on the same problems can
be compared pairwise (``paired.py``: problems gained and lost, McNemar's test).

:class:`HeldOutEvaluation` is the trainers' eval hook (``training.loop.train``'s ``eval_fn``): it
writes each evaluation with its verdicts to ``RUN/eval/step_NNNNNN.json``;
:func:`read_eval_details` and :func:`paired_before_after` read them back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from minireason.atomic import atomic_write_text
from minireason.errors import InputError
from minireason.evaluation.core import Sampling, judge_with_fallback, judged_batches
from minireason.evaluation.paired import paired_comparison
from minireason.evaluation.prompts import PromptSpec


@dataclass
class HeldOutResult:
    """A held-out evaluation: accuracy, the problems judged, each one's verdict, tokens and seconds."""
    accuracy: float
    problems: int  # judged; fewer than asked for when the evaluation was stopped
    correct: list[bool]  # (problems,) in the order of the records
    tokens_per_problem: float
    seconds: float
    stopped: bool = False  # should_stop() ended it before every problem was judged

    def figures(self) -> dict:
        """The JSON-ready summary (without the per-problem verdicts)."""
        return {"accuracy": self.accuracy, "problems": self.problems, "tokens_per_problem": self.tokens_per_problem,
                "seconds": self.seconds, **({"stopped": True} if self.stopped else {})}


def greedy_accuracy(model, tokenizer, records: list[dict], prompt_format: str = "plain", style: str = "cot",
                    max_new_tokens: int = 128, batch_size: int = 128, fallback: str | None = None,
                    progress: bool = False, should_stop: Callable[[], bool] | None = None,
                    generate_function: Callable | None = None) -> HeldOutResult:
    """Accuracy of greedy completions of every record's prompt (``PromptSpec(style, prompt_format)``).

    ``fallback=None`` counts only a boxed answer (as the RL reward does); ``"number"`` also reads a
    final-answer phrase or the last number. ``progress`` shows a bar on stderr; ``should_stop()``
    is asked between batches (see :mod:`minireason.evaluation.core`).
    """
    if not records:
        raise InputError("held-out evaluation: expected at least one problem, got none")
    correct, tokens = [], 0
    started = time.perf_counter()
    for answers in judged_batches(model, tokenizer, records, PromptSpec(style, prompt_format),
                                  Sampling(max_new_tokens=max_new_tokens), batch_size=batch_size,
                                  judge=judge_with_fallback(fallback), generate_function=generate_function,
                                  progress=progress, desc="held-out eval", should_stop=should_stop):
        correct += [answer["correct"] for answer in answers]
        tokens += sum(answer["generated_tokens"] for answer in answers)
    judged = max(len(correct), 1)
    return HeldOutResult(accuracy=sum(correct) / judged, problems=len(correct), correct=correct,
                         tokens_per_problem=tokens / judged, seconds=time.perf_counter() - started,
                         stopped=len(correct) < len(records))


class HeldOutEvaluation:
    """The loop's eval hook: greedy held-out accuracy of chains of thought, with each problem's
    verdict kept in ``RUN/eval/step_NNNNNN.json`` for the paired before/after comparison.

    ``progress`` shows each evaluation's bar on stderr (the step-0 evaluation of a big held-out set
    takes a while before the first training step); ``should_stop`` ends an evaluation between batches.
    """

    def __init__(self, tokenizer, records: list[dict], out_dir, prompt_format: str, max_new_tokens: int,
                 batch_size: int = 256, progress: bool = True, should_stop: Callable[[], bool] | None = None):
        self.tokenizer, self.records = tokenizer, records
        self.prompt_format, self.max_new_tokens, self.batch_size = prompt_format, max_new_tokens, batch_size
        self.progress, self.should_stop = progress, should_stop
        self.directory = Path(out_dir) / "eval"

    @classmethod
    def from_config(cls, tokenizer, records: list[dict], out_dir, config, progress: bool = True) -> HeldOutEvaluation:
        """From a trainer config with prompt_format, max_new_tokens, eval_max_new_tokens and eval_batch_size."""
        return cls(tokenizer, records, out_dir, config.prompt_format,
                   config.eval_max_new_tokens or config.max_new_tokens, config.eval_batch_size, progress=progress)

    def __call__(self, model, step: int, should_stop: Callable[[], bool] | None = None) -> dict:
        """Evaluate ``model`` after ``step`` steps; ``should_stop`` (the loop's "Ctrl-C was pressed")
        replaces the one given at construction."""
        result = greedy_accuracy(model, self.tokenizer, self.records, self.prompt_format, "cot",
                                 self.max_new_tokens, self.batch_size, progress=self.progress,
                                 should_stop=should_stop or self.should_stop)
        self.directory.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.directory / f"step_{step:06d}.json",
                          json.dumps({"step": step, **result.figures(), "correct": result.correct}) + "\n")
        return {"eval_accuracy": result.accuracy, "eval_problems": result.problems,
                "eval_tokens_per_problem": result.tokens_per_problem, "eval_seconds": result.seconds}


def read_eval_details(out_dir) -> list[dict]:
    """Every held-out evaluation of a run (``RUN/eval/step_*.json``), in step order."""
    directory = Path(out_dir) / "eval"
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted(directory.glob("step_*.json"))]


def paired_before_after(out_dir) -> dict | None:
    """The paired comparison of the run's first (step 0) and last held-out evaluations, or None
    (also when either was stopped early: a pairing needs every problem's verdict on both sides)."""
    details = read_eval_details(out_dir)
    if len(details) < 2 or details[0]["step"] != 0 or len(details[0]["correct"]) != len(details[-1]["correct"]):
        return None
    return {"step_before": 0, "step_after": details[-1]["step"],
            **paired_comparison(details[0]["correct"], details[-1]["correct"])}
