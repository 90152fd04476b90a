"""Greedy held-out accuracy in memory: what trainers and the demo measure before and after training.

``minireason eval`` (``runs.py``) is the same measurement with a results file that resumes; this is
the in-process form a training loop calls every few steps: chain-of-thought prompts, greedy
decoding in batches, the one judge (``judge.py``) on the boxed answer.  It returns the per-problem
verdicts too, so that two evaluations on the same problems can be compared pairwise
(``paired.py``: problems gained and lost, McNemar's test).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from minireason.errors import InputError


@dataclass
class HeldOutResult:
    accuracy: float
    problems: int
    correct: list[bool]  # (problems,) in the order of the records
    tokens_per_problem: float
    seconds: float

    def figures(self) -> dict:
        """The JSON-ready summary (without the per-problem verdicts)."""
        return {"accuracy": self.accuracy, "problems": self.problems, "tokens_per_problem": self.tokens_per_problem,
                "seconds": self.seconds}


def greedy_accuracy(model, tokenizer, records: list[dict], prompt_format: str = "plain", style: str = "cot",
                    max_new_tokens: int = 128, batch_size: int = 128, fallback: str | None = None) -> HeldOutResult:
    """Accuracy of greedy completions of every record's prompt, judged by ``judge_completion``.

    ``fallback=None`` counts only a boxed answer (as the RL reward does); ``"number"`` also reads a
    final-answer phrase or the last number.
    """
    from minireason.evaluation.judge import judge_completion
    from minireason.evaluation.prompts import build_prompt
    from minireason.generation.generate import generate

    if not records:
        raise InputError("held-out evaluation: expected at least one problem, got none")
    stop_strings = ["<|im_end|>"] if prompt_format == "chat" else None
    prompts = [build_prompt(record["problem"], style, prompt_format) for record in records]
    correct, tokens = [], 0
    started = time.perf_counter()
    for start in range(0, len(prompts), batch_size):
        outputs = generate(model, tokenizer, prompts[start:start + batch_size], max_new_tokens,
                           stop_strings=stop_strings)
        for record, output in zip(records[start:start + batch_size], outputs):
            correct.append(judge_completion(record, output.text, fallback=fallback)[1])
            tokens += len(output.token_ids)
    return HeldOutResult(accuracy=sum(correct) / len(correct), problems=len(correct), correct=correct,
                         tokens_per_problem=tokens / len(correct), seconds=time.perf_counter() - started)
