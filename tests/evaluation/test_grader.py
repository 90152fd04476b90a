"""Labelled (pred, gold, equivalent?) cases for grade_answer: every normalisation and structure."""

import pytest

from minireason.evaluation.grader import grade_answer, grade_batch
from minireason.evaluation.normalize import normalize_answer

EQUIVALENT = [
    # LaTeX spelling
    (r"\left( 3, \frac{\pi}{2} \right)", r"(3,\frac{\pi}{2})"),
    (r"\dfrac{1}{2}", r"\frac{1}{2}"),
    (r"\tfrac{3}{4}", r"\frac34"),
    (r"\frac12", r"\frac{1}{2}"),
    (r"\frac 59", r"\frac{5}{9}"),
    (r"\frac9{19}", r"\frac{9}{19}"),
    (r"\frac{270}7", r"\frac{270}{7}"),
    (r"\sqrt2", r"\sqrt{2}"),
    (r"11\sqrt2", r"11\sqrt{2}"),
    (r"3\,\sqrt{13}", r"3\sqrt{13}"),
    (r"\displaystyle \frac{3}{56}", r"\frac{3}{56}"),
    (r"\text{Evelyn}", "Evelyn"),
    (r"\textbf{east}", r"\text{east}"),
    (r"\mbox{ellipse}", r"\text{ellipse}"),
    ("EVEN", r"\text{even}"),
    (r"5.4 \text{ cents}", "5.4"),
    (r"864 \mbox{ inches}^2", "864"),
    (r"15\mbox{ cm}^2", "15"),
    (r"90^\circ", "90"),
    (r"90^{\circ}", "90"),
    ("90°", "90"),
    (r"\frac{270}7\text{ degrees}", r"\frac{270}{7}"),
    (r"50\%", "50"),
    (r"\$32,\!348", "32348"),
    (r"\$18.90", "18.9"),
    (r"\$36", "36"),
    ("1,000", "1000"),
    (r"10,\!080", "10080"),
    (r"11,\! 111,\! 111,\! 100", "11111111100"),
    ("58,500", "58500"),
    (r"1\frac{4}{5}", r"\frac{9}{5}"),
    (r"137 \frac{1}{2}", "137.5"),
    ("42.", "42"),
    ("42 ;", "42"),
    ("x²", "x^2"),
    ("x³+3x-6", "x^3+3x-6"),
    ("π", r"\pi"),
    ("7π", r"7\pi"),
    ("√2", r"\sqrt{2}"),
    ("2√3", r"2\sqrt{3}"),
    (r"3 × 4", "12"),
    ("3·4", "12"),
    ("−5", "-5"),
    ("½", "0.5"),
    ("x = 5", "5"),
    ("5", "x=5"),
    ("y = 2x + 3", "2x+3"),
    (r"$\frac{14}{3}$", r"\frac{14}{3}"),
    (r"\(4\)", "4"),
    # numbers
    ("0.5", r"\frac{1}{2}"),
    ("1/2", r"\frac12"),
    ("-1/3", r"-\frac{1}{3}"),
    (".0000672", "6.72\\times10^{-5}"),
    ("0.15", r"\frac{3}{20}"),
    ("0.1+0.2", "0.3"),
    ("3.14159", r"\pi"),
    ("1.25", r"\frac54"),
    ("2.000", "2"),
    ("007", "7"),
    ("+3", "3"),
    ("-0", "0"),
    (r"\frac{-1}{2}", r"-\frac{1}{2}"),
    (r"\frac{1}{-2}", "-0.5"),
    # symbolic
    (r"\frac{\sqrt{3}}{2}", r"\sqrt{3}/2"),
    (r"2\sqrt{2}", r"\sqrt{8}"),
    (r"\frac{1}{\sqrt{3}}", r"\frac{\sqrt{3}}{3}"),
    (r"(1+\sqrt2)^2", r"3+2\sqrt2"),
    (r"\sqrt{12}", r"2\sqrt3"),
    (r"\sqrt[3]{8}", "2"),
    ("2^{10}", "1024"),
    ("5!", "120"),
    (r"\binom{5}{2}", "10"),
    ("(a+5)(b+2)", "ab+2a+5b+10"),
    ("x^2-1", "(x-1)(x+1)"),
    (r"\cot x", r"\frac{\cos x}{\sin x}"),
    (r"\sin^2 x + \cos^2 x", "1"),
    (r"\ln(e^2)", "2"),
    (r"\log_2 8", "3"),
    (r"e^{i\pi}", "-1"),
    ("6 - 5i", "-5i+6"),
    ("(1+2i)(1-2i)", "5"),
    ("2k+2", "2(k+1)"),
    ("6r^2-4r-24", "2(3r^2-2r-12)"),
    (r"\frac{11+9a}{20}", r"\frac{11}{20}+\frac{9a}{20}"),
    ("3R^2", "3R^{2}"),
    (r"|-3|", "3"),
    (r"\lfloor 3.7 \rfloor", "3"),
    (r"-\frac{\pi}{6}", r"\frac{-\pi}{6}"),
    (r"\frac{20000}{\pi}", r"20000/\pi"),
    ("52_8", "52"),
    ("4210_{5}", "4210_5"),
    (r"\theta + 1", r"1+\theta"),
    # tuples, points, intervals, unions
    ("(6,31,-1)", "(6, 31, -1)"),
    (r"\left( \frac{3}{2}, -13 \right)", "(1.5,-13)"),
    ("(3,4]", r"(3, 4]"),
    ("(3,4]", r"3 < x \le 4"),
    (r"(2,\infty)", "x>2"),
    (r"(-\infty, 0]", r"x \le 0"),
    (r"[3,\infty)", r"x\ge 3"),
    (r"x \in [-2,7]", "[-2,7]"),
    (r"[-2,7]", r"-2 \le x \le 7"),
    (r"(0,9) \cup (9,36)", r"(9,36)\cup(0,9)"),
    (r"(-\infty, 2) \cup (3, \infty)", r"(-\infty,2)∪(3,\infty)"),
    (r"\left(\frac{3}{5},\frac{8}{3}\right]", r"(0.6, \frac83]"),
    (r"(-\sqrt{3}, \sqrt{3})", r"(-\sqrt3,\sqrt3)"),
    ("(1,000)", "(1, 0)"),
    # sets and unordered lists
    ("1,-2", "-2, 1"),
    ("3, 5, 7", "7,3,5"),
    ("x=1, x=-2", "1,-2"),
    (r"\{1,2,3\}", r"\{3,2,1\}"),
    (r"\{1\pm\sqrt{5},-2\}", r"-2, 1+\sqrt5, 1-\sqrt5"),
    (r"1 \pm \sqrt{19}", r"1+\sqrt{19}, 1-\sqrt{19}"),
    (r"3 \pm 2 \sqrt{2}", r"3-2\sqrt2,3+2\sqrt2"),
    (r"\pm 2", "2,-2"),
    # equations and inequalities
    ("5x - 7y + 11z + 4 = 0", "-10x+14y-22z-8=0"),
    ("y = -2x", "y=-2x"),
    ("y = 2x + 3", "y=3+2x"),
    ("2x+3=y", "y=2x+3"),
    (r"a \le b", r"b \ge a"),
    # matrices
    (r"\begin{pmatrix} -1/3 \\ 2/3 \\ 5/3 \end{pmatrix}",
     r"\begin{pmatrix} -\frac13 \\ \frac23 \\ \frac53 \end{pmatrix}"),
    (r"\begin{pmatrix} -1 & 0 \\ 0 & -1 \end{pmatrix}", r"\begin{bmatrix} -1 & 0 \\ 0 & -1 \end{bmatrix}"),
    (r"\begin{pmatrix} -2 \\ -14 \\ -7 \end{pmatrix}", "(-2,-14,-7)"),
    # multiple choice and text
    (r"\text{(C)}", "C"),
    (r"\text{(C)}", "(C)"),
    ("(c)", r"\textbf{(C)}"),
    (r"\text{Navin}", "navin"),
    ("no solution", r"\text{No Solution}"),
]

NOT_EQUIVALENT = [
    ("1/2", "2"),
    ("(1,2)", "(2,1)"),
    (r"x>3", r"x\ge 3"),
    ("[1,2)", "[1,2]"),
    ("(1,2)", "[1,2]"),
    ("0.33", r"\frac13"),
    ("0.3333", r"\frac13"),
    ("3.14", r"\pi"),
    ("1,000", "1"),
    ("(1,000)", "1000"),
    ("2", "3"),
    ("-2", "2"),
    ("12", "120"),
    (r"\frac{1}{2}", r"\frac{2}{1}"),
    (r"\sqrt{2}", "2"),
    (r"2\sqrt{2}", r"\sqrt{2}"),
    (r"\sqrt{x^2}", "x"),
    ("x^2+1", "(x+1)^2"),
    ("2k+2", "2k+1"),
    ("6 - 5i", "6+5i"),
    (r"\cos x", r"\sin x"),
    (r"\pi", r"2\pi"),
    ("52_8", "42"),
    ("(6,31,-1)", "(6,31,1)"),
    ("(6,31,-1)", "(6,31)"),
    ("3, 5, 7", "3, 5"),
    ("3, 5, 7", "3, 5, 8"),
    (r"\{1,2\}", r"\{1,3\}"),
    (r"1 \pm \sqrt{19}", r"1+\sqrt{19}"),
    (r"(0,9) \cup (9,36)", "(0,36)"),
    (r"(0,9) \cup (9,36)", r"(0,9) \cup [9,36)"),
    (r"(2,\infty)", r"[2,\infty)"),
    (r"(-\infty, 0]", r"x < 0"),
    ("x<3", "x>3"),
    ("y=2x+3", "y=2x-3"),
    ("y=2x+3", "x=2y+3"),
    ("5x - 7y + 11z + 4 = 0", "5x-7y+11z-4=0"),
    (r"\begin{pmatrix} 1 & 0 \\ 0 & 1 \end{pmatrix}", r"\begin{pmatrix} 1 & 0 \\ 0 & -1 \end{pmatrix}"),
    (r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", r"\begin{pmatrix} 1 & 2 \end{pmatrix}"),
    (r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", "(2,1)"),
    (r"\text{(C)}", "D"),
    (r"\text{(C)}", "(B)"),
    (r"\text{east}", "west"),
    (r"\text{even}", r"\text{neve}"),
    (r"\text{Evelyn}", "Navin"),
    ("90^\\circ", "91"),
    (r"50\%", "51"),
    (r"\$18.90", "18.91"),
    (r"1\frac{4}{5}", r"\frac{4}{5}"),
    (r"137 \frac{1}{2}", "68.5"),
    ("x = 5", "6"),
    ("x = 5", "x = -5"),
    ("10080", "1008"),
    ("1,-2", "1,2"),
    ("1,-2", "(1,-2)"),
    (r"\frac{\sqrt{3}}{2}", r"\frac{\sqrt{2}}{2}"),
    ("e", r"\pi"),
    ("2^{10}", "1000"),
    ("5!", "100"),
    (r"\log_2 8", "4"),
    ("", "0"),
    ("0", ""),
    ("abc", "0"),
    (r"\frac{1}{0}", "0"),
    (r"\infty", r"-\infty"),
    (r"\infty", "1000000"),
    ("1.0001", "1"),
    ("a+b", "a-b"),
    ("3R^2", "3R"),
    (r"\theta", r"2\theta"),
    ("x", "y"),
    ("1+274i", "1+275i"),
]


def test_case_counts():
    total = len(EQUIVALENT) + len(NOT_EQUIVALENT)
    assert total >= 150
    assert len(NOT_EQUIVALENT) >= total / 3


@pytest.mark.parametrize(("pred", "gold"), EQUIVALENT)
def test_equivalent(pred, gold):
    assert grade_answer(pred, gold) is True


@pytest.mark.parametrize(("pred", "gold"), NOT_EQUIVALENT)
def test_not_equivalent(pred, gold):
    assert grade_answer(pred, gold) is False


def test_symmetric_on_a_sample():
    for pred, gold in EQUIVALENT[::7] + NOT_EQUIVALENT[::7]:
        assert grade_answer(pred, gold) == grade_answer(gold, pred), (pred, gold)


def test_none_and_non_strings_grade_false():
    assert grade_answer(None, "1") is False
    assert grade_answer("1", None) is False
    assert grade_answer(1, "1") is False


def test_grade_batch_matches_labels_in_order():
    pairs = EQUIVALENT[:20] + NOT_EQUIVALENT[:20]
    labels = [True] * 20 + [False] * 20
    assert grade_batch(pairs, processes=2) == labels


def test_normalize_examples():
    assert normalize_answer(r"\$1,\!000.") == "1000"
    assert normalize_answer(r"\left( 3, \dfrac{\pi}{2} \right)") == r"(3,\frac{\pi}{2})"
    assert normalize_answer(r"\text{(C)}") == "(C)"
    assert normalize_answer("(1,000)") == "(1,000)"
