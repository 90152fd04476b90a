"""Grading: is a predicted answer string equivalent to the gold answer string?

``grade_answer(pred, gold)`` runs three stages (docs/grading.md walks through them):

1. **normalise** both strings (:func:`minireason.evaluation.normalize.normalize_answer`);
2. **read the structure** of each (:func:`minireason.evaluation.structure.read_structure`):
   tuples, intervals, sets, lists, unions, relations, matrices, ``\\pm``;
3. **compare** the structures, deciding leaves with the cheap exact comparator in this process;
   when it cannot decide a leaf, the whole pair goes to a sympy worker process, which repeats
   stages 1-3 with the symbolic comparator under a wall-time limit
   (:mod:`minireason.evaluation.timeouts`).

The grader never raises on any input and never returns later than ``timeout`` seconds (2 by
default) after the call, apart from the start of a worker process on the very first call
that needs one (see :func:`minireason.evaluation.timeouts.warm_up`). Any refusal (text over
``MAX_ANSWER_CHARS``, a parse outside the whitelist, a timeout) grades as not equivalent.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

from minireason.errors import InputError
from minireason.evaluation.equivalence import (
    NeedsSymbolic,
    exact_leaf_equal,
    exact_proportional,
    symbolic_leaf_equal,
    symbolic_proportional,
)
from minireason.evaluation.extract import last_boxed
from minireason.evaluation.normalize import normalize_answer
from minireason.evaluation.structure import compare, read_structure
from minireason.evaluation.timeouts import shared_pool

MAX_ANSWER_CHARS = 2000
DEFAULT_TIMEOUT_SECONDS = 2.0


def _usable(pred, gold) -> bool:
    return (isinstance(pred, str) and isinstance(gold, str) and 0 < len(pred) <= MAX_ANSWER_CHARS
            and 0 < len(gold) <= MAX_ANSWER_CHARS)


def unbox(answer: str) -> str:
    r"""Rule "boxed answer string": ``$\boxed{1}\boxed{2}$`` or ``x \in \boxed{[0,7)}.`` is what the boxes hold.

    A dataset's gold (or an answer passed without extraction) may still carry its box; the boxes
    are read as :func:`minireason.evaluation.extract.last_boxed` reads a response. A cut-off box
    leaves the text as it is.
    """
    if "\\boxed" not in answer and "\\fbox" not in answer:
        return answer
    found, content = last_boxed(answer)
    return content if found and content else answer


def _normalized(pred: str, gold: str) -> tuple[str, str]:
    return normalize_answer(unbox(pred)), normalize_answer(unbox(gold))


def grade_exact(pred: str, gold: str) -> bool | None:
    """Stages 1-3 with the cheap comparator: True/False when it decides, None when sympy must.

    Bounded-cost work only (linear string scans, capped sizes), so it is safe in-process.
    """
    if not _usable(pred, gold):
        return False
    try:
        normalized_pred, normalized_gold = _normalized(pred, gold)
        if normalized_pred == normalized_gold and normalized_gold:
            return True
        structure_pred, structure_gold = read_structure(normalized_pred), read_structure(normalized_gold)
        return compare(structure_pred, structure_gold, exact_leaf_equal, exact_proportional)
    except NeedsSymbolic:
        return None
    except (InputError, ValueError, RecursionError, ArithmeticError):
        return False


def grade_symbolic(pred: str, gold: str) -> bool:
    """Stages 1-3 with the sympy comparator. Unbounded in time: call it only in a worker process."""
    if not _usable(pred, gold):
        return False
    try:
        normalized_pred, normalized_gold = _normalized(pred, gold)
        structure_pred, structure_gold = read_structure(normalized_pred), read_structure(normalized_gold)
        return compare(structure_pred, structure_gold, symbolic_leaf_equal, symbolic_proportional)
    except (InputError, ValueError, RecursionError, ArithmeticError, TypeError, AttributeError):
        return False


def _grade_in_worker(pred: str, gold: str, timeout: float) -> bool:
    reply = shared_pool().call({"pred": pred, "gold": gold}, timeout)
    return bool(reply and reply.get("equal") is True)


def grade_answer(pred: str | None, gold: str | None, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> bool:
    """Whether answer ``pred`` is equivalent to ``gold`` (both answer strings, e.g. from extract_answer).

    >>> grade_answer(r"\\dfrac{1}{2}", "0.5"), grade_answer("(1,2)", "(2,1)")
    (True, False)

    ``None`` or a non-string grades False. Never raises; returns within ``timeout`` seconds.
    """
    started = time.monotonic()
    try:
        verdict = grade_exact(pred, gold)
    except Exception:  # noqa: BLE001 - the grader's promise is to never raise on model output
        return False
    if verdict is not None:
        return verdict
    remaining = timeout - (time.monotonic() - started)
    if remaining <= 0:
        return False
    try:
        return _grade_in_worker(pred, gold, remaining)
    except Exception:  # noqa: BLE001
        return False


def grade_batch(pairs: Iterable[Sequence[str | None]], processes: int | None = None,
                timeout: float = DEFAULT_TIMEOUT_SECONDS) -> list[bool]:
    """Grade many (pred, gold) pairs; pairs that need sympy go to ``processes`` worker processes.

    The cheap exact paths run here first; the rest are spread over parallel sympy workers
    (default: the number of CPUs, at most 8). Each pair keeps its own ``timeout``.
    """
    pairs = [tuple(pair) for pair in pairs]
    for index, pair in enumerate(pairs):
        if len(pair) != 2:
            raise InputError(f"grade_batch pairs[{index}]: expected (pred, gold), got {len(pair)} items")
    if processes is None:
        processes = min(8, os.cpu_count() or 1)
    if processes < 1:
        raise InputError(f"grade_batch processes: expected at least 1, got {processes}")
    results: list[bool | None] = []
    for pred, gold in pairs:
        try:
            results.append(grade_exact(pred, gold))
        except Exception:  # noqa: BLE001
            results.append(False)
    pending = [i for i, verdict in enumerate(results) if verdict is None]
    if pending:
        shared_pool().warm_up(min(processes, len(pending)), wait_seconds=10.0)

        def grade_one(index: int) -> bool:
            try:
                return _grade_in_worker(pairs[index][0], pairs[index][1], timeout)
            except Exception:  # noqa: BLE001
                return False

        with ThreadPoolExecutor(max_workers=min(processes, len(pending))) as executor:
            for index, verdict in zip(pending, executor.map(grade_one, pending)):
                results[index] = verdict
    return [bool(v) for v in results]
