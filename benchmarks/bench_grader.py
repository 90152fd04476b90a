"""Grader speed and MATH-500 self-consistency.

    python benchmarks/bench_grader.py [--processes N]

Prints the time to grade 1,000 typical pairs with ``grade_batch`` (the 500 MATH-500 reference
boxes against their answers, and 500 answers against another problem's answer, so about half
the pairs are unequal and many need sympy), the same pairs one by one with ``grade_answer``,
and the rate at which each solution's last box grades equal to the dataset answer.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from minireason.evaluation.extract import extract_answer
from minireason.evaluation.grader import grade_answer, grade_batch, grade_exact
from minireason.evaluation.timeouts import warm_up

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "math500_test.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--processes", type=int, default=None)
    args = parser.parse_args()
    problems = json.loads(Path(args.data).read_text())
    answers = [p["answer"] for p in problems]
    boxed = [extract_answer(p["solution"], fallback=None) for p in problems]
    pairs = list(zip(boxed, answers)) + [(answers[i], answers[(i + 7) % len(answers)]) for i in range(len(answers))]
    pairs = pairs[:1000]
    needs_sympy = sum(grade_exact(p, g) is None for p, g in pairs)
    warm_up(args.processes or 2, wait_seconds=30)

    started = time.perf_counter()
    verdicts = grade_batch(pairs, processes=args.processes)
    batch_seconds = time.perf_counter() - started
    started = time.perf_counter()
    one_by_one = [grade_answer(p, g) for p, g in pairs]
    serial_seconds = time.perf_counter() - started
    assert verdicts == one_by_one

    consistent = sum(verdicts[: len(problems)])
    print(f"pairs: {len(pairs)} ({needs_sympy} needed sympy, {sum(verdicts)} graded equal)")
    print(f"grade_batch: {batch_seconds:.2f} s   grade_answer one by one: {serial_seconds:.2f} s")
    print(f"MATH-500 self-consistency: {consistent}/{len(problems)} = {consistent / len(problems):.1%}")


if __name__ == "__main__":
    main()
