"""Synthetic verifiable task families: problems with checkable answers and worked traces.

Importing this package hands every family's verifier to the one judge
(:func:`minireason.evaluation.judge.register_verifier`); ``judge_completion`` is re-exported here so
that ``minireason.judge_completion`` always judges task records with them.

Four families, each a module with a ``FAMILY`` object following
:class:`~minireason.tasks.base.TaskFamily`:

- ``addition``: multi-digit addition and subtraction, column by column;
- ``arithmetic``: expressions with ``+ - * /`` and parentheses, one operation per line;
- ``linear_equation``: ``a*x+b=c*x+d`` solved for x (fractions allowed);
- ``countdown``: reach a target with given numbers; the answer is an expression.

``generate_problems("addition", 100, split="test", seed=0)`` draws problems until it has
100 distinct ones whose text hashes into the test split (see :func:`base.split_of`).
The same arguments always give the same problems.
"""

from __future__ import annotations

from minireason.evaluation.judge import judge_completion, register_verifier
from minireason.tasks.base import Problem, TaskFamily, render_completion, split_of
from minireason.tasks.export import problem_from_record, resolve_data, to_record, verify_record, write_jsonl
from minireason.tasks.families import FAMILIES, flawed_copy, generate_problems, get_family, verify

# each family's verifier judges its records wherever the one judge is asked
for _name in FAMILIES:
    register_verifier(_name, verify_record)

__all__ = [
    "FAMILIES",
    "Problem",
    "TaskFamily",
    "flawed_copy",
    "generate_problems",
    "get_family",
    "judge_completion",
    "problem_from_record",
    "resolve_data",
    "render_completion",
    "split_of",
    "to_record",
    "verify",
    "verify_record",
    "write_jsonl",
]
