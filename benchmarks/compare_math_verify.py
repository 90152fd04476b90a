"""Compare ``grade_answer`` with the public grader Math-Verify (Hugging Face) on our labelled cases.

    pip install math-verify          # in your own environment; never a minireason dependency
    python benchmarks/compare_math_verify.py [--data PATH]

1. The labelled (pred, gold) cases of ``tests/test_grader.py`` (``EQUIVALENT`` and
   ``NOT_EQUIVALENT``, imported from the test file, not copied): accuracy of each grader against
   the labels, a table of every case where either is wrong, and the wall time of each.
   Math-Verify is called as documented, ``verify(parse(gold), parse(pred))`` (gold first: it is not
   symmetric). Its ``parse`` extracts an answer from text, so a bare answer may not parse as LaTeX;
   each answer is tried bare, as ``$...$`` and as ``\\boxed{...}``, the accuracy of each wrapping is
   printed, and the table uses the wrapping that scores best, to be fair to it.
2. MATH-500 self-check: the last ``\\boxed{}`` of each reference ``solution`` (``extract_answer``
   with ``fallback=None``) against the dataset ``answer``; both graders should say True.

Times exclude start-up (our sympy workers are started with ``warm_up``, Math-Verify grades one pair
before the clock starts); Math-Verify's time includes its ``parse`` of both sides. Exits 0 always:
this is a report, not a test. Without math_verify installed it prints a message and exits 0.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

from minireason.evaluation.extract import extract_answer
from minireason.evaluation.grader import grade_answer
from minireason.evaluation.timeouts import warm_up

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "math500_test.json"
WRAPPINGS = {"bare": "{}", "$...$": "${}$", "\\boxed{}": "$\\boxed{{{}}}$"}


def load_labelled_cases() -> list[tuple[str, str, bool]]:
    spec = importlib.util.spec_from_file_location("_test_grader_cases", ROOT / "tests" / "test_grader.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [(p, g, True) for p, g in module.EQUIVALENT] + [(p, g, False) for p, g in module.NOT_EQUIVALENT]


def make_theirs(wrapping: str):
    from math_verify import parse, verify

    template = WRAPPINGS[wrapping]

    def theirs(pred: str, gold: str) -> bool:
        try:
            return bool(verify(parse(template.format(gold)), parse(template.format(pred))))
        except Exception:  # a crash is a False, as our grader treats it
            return False

    return theirs


def run(grader, pairs) -> tuple[list[bool], float]:
    started = time.perf_counter()
    verdicts = [grader(p, g) for p, g in pairs]
    return verdicts, time.perf_counter() - started


def short(text: str, width: int = 34) -> str:
    text = str(text).replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DATA))
    args = parser.parse_args()
    if importlib.util.find_spec("math_verify") is None:
        print("math_verify is not installed (pip install math-verify); nothing to compare, skipping.")
        return 0
    from importlib.metadata import version

    cases = load_labelled_cases()
    pairs = [(p, g) for p, g, _ in cases]
    labels = [label for _, _, label in cases]
    n_eq = sum(labels)
    print(
        f"math-verify {version('math-verify')}; {len(cases)} labelled cases "
        f"({n_eq} equivalent, {len(cases) - n_eq} not equivalent)"
    )

    warm_up(2, wait_seconds=30)
    grade_answer("1", "1")
    ours, ours_seconds = run(grade_answer, pairs)

    by_wrapping = {}
    for wrapping in WRAPPINGS:
        theirs_fn = make_theirs(wrapping)
        theirs_fn("1", "1")
        verdicts, seconds = run(theirs_fn, pairs)
        by_wrapping[wrapping] = (verdicts, seconds)
        correct = sum(v == label for v, label in zip(verdicts, labels))
        print(
            f"  Math-Verify, answers {wrapping:9s}: {correct}/{len(cases)} = {correct / len(cases):.1%}"
            f"   ({seconds:.2f} s)"
        )
    best = max(by_wrapping, key=lambda w: sum(v == lab for v, lab in zip(by_wrapping[w][0], labels)))
    theirs, theirs_seconds = by_wrapping[best]

    def summary(name, verdicts, seconds):
        correct = sum(v == label for v, label in zip(verdicts, labels))
        on_eq = sum(v for v, label in zip(verdicts, labels) if label)
        on_ne = sum(not v for v, label in zip(verdicts, labels) if not label)
        print(
            f"{name:30s} accuracy {correct}/{len(cases)} = {correct / len(cases):6.1%}   "
            f"equivalent {on_eq}/{n_eq}   not equivalent {on_ne}/{len(cases) - n_eq}   "
            f"wall {seconds:.2f} s"
        )

    print()
    summary("minireason grade_answer", ours, ours_seconds)
    summary(f"Math-Verify ({best})", theirs, theirs_seconds)

    wrong = [(c, o, t) for c, o, t in zip(cases, ours, theirs) if o != c[2] or t != c[2]]
    print(
        f"\nCases where either grader is wrong ({len(wrong)}; "
        f"ours wrong {sum(o != c[2] for c, o, _ in wrong)}, theirs wrong {sum(t != c[2] for c, _, t in wrong)}):"
    )
    print(f"{'pred':34s}  {'gold':34s}  {'label':5s}  {'ours':5s}  {'theirs':6s}")
    for (pred, gold, label), o, t in wrong:
        mark_o = "" if o == label else " *"
        mark_t = "" if t == label else " *"
        print(
            f"{short(pred):34s}  {short(gold):34s}  {label!s:5s}  {(str(o) + mark_o):7s}{(str(t) + mark_t)}"
        )
    print("(* = wrong)")

    data = Path(args.data)
    if not data.exists():
        print(f"\nMATH-500 self-check skipped: {data} not found")
        return 0
    problems = json.loads(data.read_text())
    math_pairs = [(extract_answer(p["solution"], fallback=None), p["answer"]) for p in problems]
    missing = sum(b is None for b, _ in math_pairs)
    valid = [(b, a) for b, a in math_pairs if b is not None]
    ours_m, ours_m_seconds = run(grade_answer, valid)
    theirs_fn = make_theirs(best)
    theirs_m, theirs_m_seconds = run(theirs_fn, valid)
    print(f"\nMATH-500 self-check (last box of each solution vs answer; {missing} solutions without a box):")
    print(f"  minireason grade_answer : {sum(ours_m)}/{len(problems)}   wall {ours_m_seconds:.2f} s")
    print(
        f"  Math-Verify ({best}){' ' * max(0, 10 - len(best))}: {sum(theirs_m)}/{len(problems)}"
        f"   wall {theirs_m_seconds:.2f} s"
    )
    rejected = [(b, a, o, t) for (b, a), o, t in zip(valid, ours_m, theirs_m) if not (o and t)]
    if rejected:
        print(f"  pairs not graded True by both ({len(rejected)}):")
        print(f"  {'boxed':34s}  {'answer':34s}  ours   theirs")
        for b, a, o, t in rejected:
            print(f"  {short(b):34s}  {short(a):34s}  {o!s:5s}  {t!s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
