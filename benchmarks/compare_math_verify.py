"""Compare ``grade_answer`` with the public grader Math-Verify (Hugging Face) on our labelled cases.

    pip install math-verify          # in your own environment; never a minireason dependency
    python benchmarks/compare_math_verify.py [--data PATH] [--all]

1. The labelled suite: the (pred, gold) pairs of ``tests/evaluation/test_grader.py`` (``EQUIVALENT`` and
   ``NOT_EQUIVALENT``, category "core") and the categorised cases of
   ``tests/evaluation/test_grader_categories.py`` (``CASES``), imported from the test files, not copied.
   For each grader and category: accuracy against the labels, false positives (graded equal,
   labelled unequal) and false negatives (the other way round); then a table of every case where
   either grader is wrong (``--all``: every case), and the wall time of each grader.

   Ours: ``grade_answer(pred, gold)``; a case whose ``pred`` is a whole response is graded
   ``grade_answer(extract_answer(pred), gold)``, as a user of the package would.
   Math-Verify, as documented: ``verify(parse(gold), parse(pred))`` (gold first: it is not
   symmetric); a whole response goes to its ``parse`` as it is (its own extraction). Its ``parse``
   extracts an answer from text, so a bare answer may not parse as LaTeX: each answer is tried
   bare, as ``$...$`` and as ``\\boxed{...}``, the accuracy of each wrapping is printed, and the
   tables use the wrapping that scores best, to be fair to it.
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
from collections import defaultdict
from pathlib import Path

from minireason.evaluation.extract import extract_answer
from minireason.evaluation.grader import grade_answer
from minireason.evaluation.timeouts import warm_up

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "math500_test.json"
WRAPPINGS = {"bare": "{}", "$...$": "${}$", "\\boxed{}": "$\\boxed{{{}}}$"}


def _load_test_module(name: str):
    spec = importlib.util.spec_from_file_location(f"_cases_{name}", ROOT / "tests" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_labelled_cases() -> list[tuple[str, str, str, str, bool]]:
    """(category, kind, pred, gold, label) for the whole labelled suite; kind is "answer" or "response"."""
    core = _load_test_module("test_grader")
    categorised = _load_test_module("test_grader_categories")
    cases = [("core", "answer", p, g, True) for p, g in core.EQUIVALENT]
    cases += [("core", "answer", p, g, False) for p, g in core.NOT_EQUIVALENT]
    return cases + [tuple(case) for case in categorised.CASES]


def ours(kind: str, pred: str, gold: str) -> bool:
    return grade_answer(extract_answer(pred) if kind == "response" else pred, gold)


def make_theirs(wrapping: str):
    from math_verify import parse, verify

    template = WRAPPINGS[wrapping]

    def theirs(kind: str, pred: str, gold: str) -> bool:
        try:
            parsed_pred = parse(pred) if kind == "response" else parse(template.format(pred))
            return bool(verify(parse(template.format(gold)), parsed_pred))
        except Exception:  # a crash is a False, as our grader treats it
            return False

    return theirs


def run(grader, cases) -> tuple[list[bool], float]:
    started = time.perf_counter()
    verdicts = [grader(kind, pred, gold) for _, kind, pred, gold, _ in cases]
    return verdicts, time.perf_counter() - started


def short(text: str, width: int = 34) -> str:
    text = str(text).replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def tally(verdicts, cases) -> dict[str, list[int]]:
    """category -> [correct, total, false positives, false negatives]; "all" sums them."""
    table: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for verdict, (category, _, _, _, label) in zip(verdicts, cases):
        for key in (category, "all"):
            row = table[key]
            row[0] += verdict == label
            row[1] += 1
            row[2] += verdict and not label
            row[3] += label and not verdict
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--all", action="store_true", help="list every case, not only the wrong ones")
    args = parser.parse_args()
    if importlib.util.find_spec("math_verify") is None:
        print("math_verify is not installed (pip install math-verify); nothing to compare, skipping.")
        return 0
    from importlib.metadata import version

    cases = load_labelled_cases()
    n_eq = sum(case[4] for case in cases)
    print(f"math-verify {version('math-verify')}; {len(cases)} labelled cases "
          f"({n_eq} equivalent, {len(cases) - n_eq} not equivalent)")

    warm_up(2, wait_seconds=30)
    grade_answer("1", "1")
    our_verdicts, our_seconds = run(ours, cases)

    by_wrapping = {}
    for wrapping in WRAPPINGS:
        theirs_fn = make_theirs(wrapping)
        theirs_fn("answer", "1", "1")
        verdicts, seconds = run(theirs_fn, cases)
        by_wrapping[wrapping] = (verdicts, seconds)
        correct = sum(v == case[4] for v, case in zip(verdicts, cases))
        print(f"  Math-Verify, answers {wrapping:9s}: {correct}/{len(cases)} = {correct / len(cases):.1%}"
              f"   ({seconds:.2f} s)")
    best = max(by_wrapping, key=lambda w: sum(v == c[4] for v, c in zip(by_wrapping[w][0], cases)))
    their_verdicts, their_seconds = by_wrapping[best]

    our_table, their_table = tally(our_verdicts, cases), tally(their_verdicts, cases)
    print(f"\n{'category':13s} {'cases':>5s}   {'minireason':>10s} {'FP':>3s} {'FN':>3s}   "
          f"{'Math-Verify (' + best + ')':>22s} {'FP':>3s} {'FN':>3s}")
    categories = sorted(k for k in our_table if k != "all") + ["all"]
    for category in categories:
        o, t = our_table[category], their_table[category]
        print(f"{category:13s} {o[1]:5d}   {o[0] / o[1]:10.1%} {o[2]:3d} {o[3]:3d}   "
              f"{t[0] / t[1]:22.1%} {t[2]:3d} {t[3]:3d}")
    print(f"wall: minireason {our_seconds:.2f} s, Math-Verify {their_seconds:.2f} s")

    shown = [(c, o, t) for c, o, t in zip(cases, our_verdicts, their_verdicts)
             if args.all or o != c[4] or t != c[4]]
    print(f"\n{'Every case' if args.all else 'Cases where either grader is wrong'} ({len(shown)}; "
          f"ours wrong {sum(o != c[4] for c, o, _ in shown)}, theirs wrong {sum(t != c[4] for c, _, t in shown)}):")
    print(f"{'category':12s} {'pred':34s}  {'gold':28s}  {'label':5s}  {'ours':7s}{'theirs'}")
    for (category, _, pred, gold, label), o, t in shown:
        mark_o = "" if o == label else " *"
        mark_t = "" if t == label else " *"
        print(f"{category:12s} {short(pred):34s}  {short(gold, 28):28s}  {label!s:5s}  "
              f"{(str(o) + mark_o):7s}{(str(t) + mark_t)}")
    print("(* = wrong)")

    data = Path(args.data)
    if not data.exists():
        print(f"\nMATH-500 self-check skipped: {data} not found")
        return 0
    problems = json.loads(data.read_text())
    math_cases = [("math500", "answer", extract_answer(p["solution"], fallback=None), p["answer"], True)
                  for p in problems]
    missing = sum(case[2] is None for case in math_cases)
    valid = [case for case in math_cases if case[2] is not None]
    ours_m, ours_m_seconds = run(ours, valid)
    theirs_m, theirs_m_seconds = run(make_theirs(best), valid)
    print(f"\nMATH-500 self-check (last box of each solution vs answer; {missing} solutions without a box):")
    print(f"  minireason grade_answer : {sum(ours_m)}/{len(problems)}   wall {ours_m_seconds:.2f} s")
    print(f"  Math-Verify ({best}){' ' * max(0, 10 - len(best))}: {sum(theirs_m)}/{len(problems)}"
          f"   wall {theirs_m_seconds:.2f} s")
    rejected = [(case, o, t) for case, o, t in zip(valid, ours_m, theirs_m) if not (o and t)]
    if rejected:
        print(f"  pairs not graded True by both ({len(rejected)}):")
        print(f"  {'boxed':34s}  {'answer':34s}  ours   theirs")
        for (_, _, b, a, _), o, t in rejected:
            print(f"  {short(b):34s}  {short(a):34s}  {o!s:5s}  {t!s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
