"""The one judge: is an answer to a problem record right?

Evaluation runs, inference-time scaling, RL rewards and the demo all ask this one function, so
a completion graded right in one place is graded right in every other.

A *record* is a MATH-style dict with ``problem`` and ``answer`` (the gold).  Records of the
built-in synthetic tasks also carry ``family`` and ``data``; those are checked by their family's
own verifier (a countdown answer is an expression that must reach the target with the numbers
given, which no comparison with one gold string can decide).  Every other record is compared
with its gold answer by :func:`minireason.evaluation.grader.grade_answer`.

A missing answer (``None``, nothing extracted) is never right.

Used by ``evaluation.runs.grade_record`` (a results record keeps its gold as ``gold``; it is
judged as ``answer``), ``evaluation.task_accuracy``, ``scaling.runner.judge_for`` and the RL
rewards.  The judge never evaluates the answer as code; both paths parse it with whitelisted,
time-bounded parsers.
"""

from __future__ import annotations

from collections.abc import Callable

from minireason.evaluation.extract import extract_answer
from minireason.evaluation.grader import grade_answer


def is_task_record(record: dict) -> bool:
    """Whether ``record`` comes from a built-in task family (checked by the family's verifier)."""
    return isinstance(record, dict) and "family" in record and "data" in record


def is_correct(record: dict, answer: str | None,
               equivalent: Callable[[str, str], bool] | None = None) -> bool:
    """Whether ``answer`` (an extracted final answer, or None) answers ``record`` correctly.

    ``equivalent(answer, gold)`` replaces ``grade_answer`` for non-task records (scaling's
    settings and tests script it); a task record's verifier is never replaced.
    """
    if answer is None:
        return False
    if is_task_record(record):
        # tasks sit above evaluation in the house: imported here, at call time
        from minireason.tasks.export import verify_record

        return bool(verify_record(record, answer))
    compare = grade_answer if equivalent is None else equivalent
    return bool(compare(answer, record["answer"]))


def judge_completion(record: dict, completion: str, fallback: str | None = "number") -> tuple[str | None, bool]:
    """(extracted answer, correct) for a whole completion text.

    ``fallback=None`` only accepts a boxed answer (what RL rewards use, so that a policy is paid
    for answers it marked as final); ``"number"`` also reads "the answer is ..." and the last number.
    """
    answer = extract_answer(completion or "", fallback=fallback)
    return answer, is_correct(record, answer)
