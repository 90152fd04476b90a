"""The one judge: is an answer to a problem record right?

Evaluation runs, inference-time scaling, RL rewards and the demo all ask this one function, so
a completion graded right in one place is graded right in every other.

A *record* is a MATH-style dict with ``problem`` and ``answer`` (the gold).  Records of the
built-in synthetic tasks also carry ``family`` and ``data``; those are checked by their family's
own verifier (a countdown answer is an expression that must reach the target with the numbers
given, which no comparison with one gold string can decide).  Every other record is compared
with its gold answer by :func:`minireason.evaluation.grader.grade_answer`.

The task families sit above evaluation in the house, so the judge does not import them: they
hand it their verifiers (:func:`register_verifier`, called when ``minireason.tasks`` is imported).
A task record whose family has no verifier registered is a DataError naming the family.  Every
path that reads task records has imported ``minireason.tasks`` (``resolve_data`` lives there);
``minireason.judge_completion`` is this function re-exported by ``minireason.tasks``.

A missing answer (``None``, nothing extracted) is never right.

Used by ``evaluation.core`` (every evaluation: ``minireason eval``, the trainers' held-out
evaluation, ``tasks.accuracy``), ``evaluation.runs.grade_record`` (a results record keeps its gold as
``gold``; it is judged as ``answer``), ``scaling.runner.judge_for``, teacher data and the RL rewards.
The judge never evaluates the answer as code; both paths parse it with whitelisted, time-bounded
parsers.
"""

from __future__ import annotations

from collections.abc import Callable

from minireason.errors import DataError
from minireason.evaluation.extract import extract_answer
from minireason.evaluation.grader import grade_answer

# family name -> verify(record, answer) -> bool, filled in by the task families
Verifier = Callable[[dict, str], bool]
_VERIFIERS: dict[str, Verifier] = {}


def register_verifier(family: str, verify: Verifier) -> None:
    """Make ``verify(record, answer) -> bool`` the judge of task records of ``family`` (replacing
    any earlier one: a family re-registers itself when its module is reloaded)."""
    if not isinstance(family, str) or not family or not callable(verify):
        raise TypeError(f"register_verifier: expected a family name and a callable, got {family!r}, {verify!r}")
    _VERIFIERS[family] = verify


def registered_families() -> tuple[str, ...]:
    """The task families whose verifiers the judge knows, sorted."""
    return tuple(sorted(_VERIFIERS))


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
        verify = _VERIFIERS.get(record["family"])
        if verify is None:
            known = ", ".join(registered_families()) or "none: import minireason.tasks first"
            raise DataError(f"record: task family {record['family']!r} has no verifier registered with the judge "
                            f"(registered: {known})")
        return bool(verify(record, answer))
    compare = grade_answer if equivalent is None else equivalent
    return bool(compare(answer, record["answer"]))


def judge_completion(record: dict, completion: str, fallback: str | None = "number") -> tuple[str | None, bool]:
    """(extracted answer, correct) for a whole completion text.

    ``fallback=None`` only accepts a boxed answer (what RL rewards use, so that a policy is paid
    for answers it marked as final); ``"number"`` also reads "the answer is ..." and the last number.
    """
    answer = extract_answer(completion or "", fallback=fallback)
    return answer, is_correct(record, answer)
