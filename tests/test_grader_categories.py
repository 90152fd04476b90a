"""Labelled cases by category: the forms real answers take, each rule with its near misses.

``CASES`` holds ``(category, kind, pred, gold, label)``. ``kind`` is ``"answer"`` when ``pred`` is an
answer string (graded with ``grade_answer(pred, gold)``) and ``"response"`` when it is a whole
model response (graded with ``grade_answer(extract_answer(pred), gold)``, the default fallback).
Every rule of docs/grading.md that makes two spellings equal has negatives here: near misses that
must stay unequal, so that no rule buys recall with false positives.

The cases are written from the categories of issue 17, from MATH-500 answers
(``../shared/data/math500_test.json``) and from the forms of the real outputs in
``../shared/data/sample_*_outputs.json``. ``benchmarks/compare_math_verify.py`` reads them
(with the 199 pairs of tests/test_grader.py) and reports each category.
"""

import pytest

from minireason.evaluation.extract import extract_answer
from minireason.evaluation.grader import grade_answer

A, R = "answer", "response"

CASES = [
    # ---- lists and sets of solutions ------------------------------------------------------
    ("lists", A, "2, -3", "-3,2", True),
    ("lists", A, "x = 2, x = -3", "-3, 2", True),
    ("lists", A, "x=2 \\text{ or } x=-3", "-3,2", True),
    ("lists", A, "2 or -3", "-3, 2", True),
    ("lists", A, "2 \\text{ and } -3", "-3, 2", True),
    ("lists", A, "2; -3", "-3, 2", True),
    ("lists", A, "19, 46, and 82", "19,46,82", True),
    ("lists", A, "19, 46, \\text{ and } 82", "82, 46, 19", True),
    ("lists", A, "\\{2, -3\\}", "-3, 2", True),
    ("lists", A, "{2, -3}", "\\{-3,2\\}", True),
    ("lists", A, "\\{-1, 1, 1\\}", "\\{1,-1\\}", True),
    ("lists", A, "(1,2), (3,4)", "(3,4), (1,2)", True),
    ("lists", A, "\\{(1,2), (3,4)\\}", "(3,4),(1,2)", True),
    ("lists", A, "(3,4);(1,2)", "(1,2),(3,4)", True),
    ("lists", A, "x = \\pm 2", "2, -2", True),
    ("lists", A, "n = 1, 2, 3", "1,2,3", True),
    ("lists", A, "\\frac{1}{2}, \\sqrt{2}", "\\sqrt2,0.5", True),
    ("lists", A, "n = 1, 2", "1,2,3", False),
    ("lists", A, "2, 3", "-3, 2", False),
    ("lists", A, "2 or 3", "-3, 2", False),
    ("lists", A, "2", "-3, 2", False),
    ("lists", A, "2, -3, 4", "-3, 2", False),
    ("lists", A, "\\{(1,2), (3,4)\\}", "(2,1),(3,4)", False),  # a pair inside a set keeps its order
    ("lists", A, "(2,1),(4,3)", "(1,2),(3,4)", False),
    ("lists", A, "19, 46, and 83", "19,46,82", False),
    ("lists", A, "2; 3", "-3, 2", False),
    ("lists", R, "The roots are $\\boxed{2}$ and $\\boxed{-3}$.", "-3, 2", True),
    ("lists", R, "So $x = \\boxed{-2}$ or $x = \\boxed{1}$.", "1,-2", True),
    ("lists", R, "$\\boxed{1}\\boxed{2}$", "1,2", True),
    ("lists", R, "The integers are \\[\\boxed{-2} \\quad \\text{and} \\quad \\boxed{1}.\\]", "1,-2", True),
    ("lists", R, "Trying \\boxed{4} fails. After checking every case the answer is \\boxed{2}.", "2", True),
    ("lists", R, "Trying \\boxed{4} fails. After checking every case the answer is \\boxed{2}.", "2, 4", False),
    ("lists", R, "The roots are $\\boxed{2}$ and $\\boxed{3}$.", "-3, 2", False),
    ("lists", R, "The solutions are $x = 2$ and $x = -3$.", "-3,2", True),
    ("lists", R, "The solutions are $x = 2$ and $x = 3$.", "-3,2", False),
    ("lists", A, "1, 1, 2", "\\{1, 2\\}", True),  # equal as sets of values: a double root counts once
    ("lists", A, "1, 1, 2", "1, 2, 3", False),
    ("lists", A, "1, 2, 3, \\ldots", "1,2,3", False),
    ("lists", A, "1, 2, 3, ...", "1, 2, 3", False),
    ("lists", A, "x = 1 \\text{ and } x = 2", "\\{x \\mid x = 1 \\text{ or } x = 2\\}", True),
    # ---- extraction from free text ------------------------------------------------------------
    ("extraction", R, "Adding the two parts gives 17.\n\nThe final answer is 17.", "17", True),
    ("extraction", R, "Final Answer: The final answer is $28\\%$. I hope it is correct.", "28", True),
    ("extraction", R, "Final Answer: the smallest k is 7", "7", True),
    ("extraction", R, "Final Answer: the smallest $k$ is $7$.", "7", True),
    ("extraction", R, "**Final Answer:** The largest possible value is 34.", "34", True),
    ("extraction", R, "Final Answer: Jane planted the tree 3 hours ago.", "3", True),
    ("extraction", R, "We solve the system and obtain the pair \\( (7, 6) \\)", "(7,6)", True),
    ("extraction", R, "Thus the area is\n\\[ 14 \\sqrt{3} \\]", "14\\sqrt3", True),
    ("extraction", R, "So the probability that Alice wins is 2/3.", "\\frac{2}{3}", True),
    ("extraction", R, "Therefore, there are 12 arithmetic sequences that meet the conditions.", "12", True),
    ("extraction", R, "The total comes to $3{,}250$ dollars.", "3250", True),
    ("extraction", R, "The answer is $\\\\frac{3}{4}$.", "\\frac34", True),
    ("extraction", R, "The answer is \\\\(\\\\sqrt{2}\\\\).", "\\sqrt{2}", True),
    ("extraction", R, "So $k \\\\in \\\\boxed{[-36, 104]}$.", "[-36,104]", True),
    ("extraction", R, "The answer is 4 4/9.", "\\frac{40}{9}", True),
    ("extraction", R, "Final Answer: 14/3", "\\frac{14}{3}", True),
    ("extraction", R, "The answer is 4 4/9.", "4", False),
    ("extraction", R, "Let me solve this step by step.\n\nStep 1: read the problem.", "1", False),
    ("extraction", R, "We need more information to answer question 2.", "2", False),
    ("extraction", R, "First compute $2^{10}$.", "2", False),
    ("extraction", R, "The code AZYUK2A is not an answer", "2", False),
    ("extraction", R, "We need the value of $x^2$ here, which we cannot find.", "2", False),
    ("extraction", R, "Final Answer: The final answer is $(0, 1)$. I hope it is correct.", "[0,1)", False),
    ("extraction", R, "The answer is $1/3.$", "1", False),
    ("extraction", R, "The answer is $\\\\frac{3}{4}$.", "\\frac43", False),
    ("extraction", R, "The total comes to $3{,}250$ dollars.", "3", False),
    ("extraction", R, "Natalia sold 48 clips in April and 24 in May.\n#### 72", "72", True),
    ("extraction", R, "Natalia sold 48 clips in April and 24 in May.\n#### 72", "24", False),
    ("extraction", R, "Evelyn", "\\text{Evelyn}", True),
    ("extraction", R, "\\frac{1}{2}", "0.5", True),
    ("extraction", R, "\\frac{1}{2}", "2", False),  # a bare answer is read whole, not as its last number
    ("extraction", R, "d. 7", "7", True),
    ("extraction", R, "Step 2: we factor the quadratic", "2", False),
    ("extraction", R, "1. Expand the square.\n2. Collect terms.", "2", False),
    # ---- equations and labelled answers ---------------------------------------------------------
    ("equations", A, "4", "y = 4", True),
    ("equations", A, "y=4", "4", True),
    ("equations", A, "(5,1)", "(a,b)=(5,1)", True),
    ("equations", A, "(a, b) = (5, 1)", "(5,1)", True),
    ("equations", A, "3:8", "A_1:A_2 = 3:8", True),
    ("equations", A, "\\frac{2}{3}", "\\frac{PQ}{RS} = \\frac{2}{3}", True),
    ("equations", A, "t = 2+3 = 5", "5", True),
    ("equations", A, "x = 5+5+1 = 7 = 11", "x = 11", True),
    ("equations", A, "t \\approx 5", "5", True),
    ("equations", A, "x = \\frac{1}{3} \\approx 0.33", "\\frac13", True),
    ("equations", A, "f(2) = 9", "9", True),
    ("equations", A, "k=\\frac{3}{2}", "\\frac32", True),
    ("equations", A, "2x + 4y - 3 = 0", "y = -\\frac{1}{2}x + \\frac{3}{4}", True),
    ("equations", A, "\\frac{x^2}{16} + \\frac{y^2}{12} = \\frac14", "\\frac{x^2}{4}+\\frac{y^2}{3}=1", True),
    ("equations", A, "11a+c", "7 = 11a+c", False),
    ("equations", A, "1", "2x + z = 1", False),
    ("equations", A, "0", "a^2 + b = 0", False),
    ("equations", A, "(1,5)", "(a,b)=(5,1)", False),
    ("equations", A, "3:7", "A_1:A_2 = 3:8", False),
    ("equations", A, "\\frac{3}{2}", "\\frac{PQ}{RS} = \\frac{2}{3}", False),
    ("equations", A, "t = 2+3 = 6", "5", False),
    ("equations", A, "t \\approx 5", "6", False),
    ("equations", A, "y = 4", "x = 4", False),
    ("equations", A, "2x + 4y - 3 = 0", "y = -\\frac{1}{2}x - \\frac{3}{4}", False),
    ("equations", A, "a = 5, b = 1", "(a,b)=(5,1)", True),
    ("equations", A, "b = 1, a = 5", "(a,b)=(5,1)", True),
    ("equations", A, "a = 5, b = 1", "(5,1)", True),
    ("equations", A, "a = 1, b = 5", "(a,b)=(5,1)", False),
    ("equations", A, "a = 1, b = 5", "(5,1)", False),
    ("equations", A, "\\angle ABC = 30^\\circ", "30", True),
    ("equations", A, "\\angle ABC = 30^\\circ", "60", False),
    ("equations", A, "\\text{Area} = 25", "25", True),
    ("equations", A, "AB = 5", "5", True),
    ("equations", A, "AB = 5", "4", False),
    # ---- tuples, points and ratios --------------------------------------------------------------
    ("tuples", A, "(1, 4.5)", "(1,\\frac{9}{2})", True),
    ("tuples", A, "\\left(\\frac{1}{5}, \\frac{1}{6}\\right)", "(0.2, \\frac16)", True),
    ("tuples", A, "(3, \\frac{\\pi}{2})", "\\left( 3, \\frac{\\pi}{2} \\right)", True),
    ("tuples", A, "(-2, 1)", "(-2,1)", True),
    ("tuples", A, "3:8", "3 : 8", True),
    ("tuples", A, "6:16", "3:8", True),
    ("tuples", A, "1:2", "\\frac{1}{2}", True),
    ("tuples", A, "(1,-16,-4,43)", "(1, -16, -4, 43)", True),
    ("tuples", A, "(1, 2)", "(2, 1)", False),
    ("tuples", A, "(1, 4.5)", "(1, \\frac{9}{4})", False),
    ("tuples", A, "3:8", "8:3", False),
    ("tuples", A, "12:00", "1:00", False),
    ("tuples", A, "(-2, 1)", "(-2, 1, 0)", False),
    ("tuples", A, "1:2", "2", False),
    ("tuples", A, "\\langle 1, -2 \\rangle", "(1,-2)", True),
    ("tuples", A, "\\langle 1, -2 \\rangle", "(-2,1)", False),
    ("tuples", A, "3 to 8", "3:8", True),
    ("tuples", A, "3 to 8", "8:3", False),
    ("tuples", A, "1:2:3", "2:4:6", True),
    ("tuples", A, "1:2:3", "1:2:4", False),
    # ---- matrices ------------------------------------------------------------------------------
    ("matrices", A, "\\left[\\begin{array}{cc}1 & 2 \\\\ 3 & 4\\end{array}\\right]",
     "\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}", True),
    ("matrices", A, "\\begin{array}{c} 1/5 \\\\ -18/5 \\end{array}", "\\begin{pmatrix} 1/5 \\\\ -18/5 \\end{pmatrix}", True),
    ("matrices", A, "\\begin{bmatrix}0 & 0 \\\\ 0 & 0\\end{bmatrix}", "\\begin{pmatrix}0&0\\\\0&0\\end{pmatrix}", True),
    ("matrices", A, "\\begin{pmatrix}0.5 & 0 \\\\ 0 & 1\\end{pmatrix}",
     "\\begin{pmatrix}\\frac12 & 0 \\\\ 0 & 1\\end{pmatrix}", True),
    ("matrices", A, "\\left[\\begin{array}{cc}1 & 2 \\\\ 3 & 5\\end{array}\\right]",
     "\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}", False),
    ("matrices", A, "\\begin{array}{cc} 1 & 3 \\\\ 2 & 4 \\end{array}", "\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}", False),
    ("matrices", A, "[[1, 2], [3, 4]]", "\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}", True),
    ("matrices", A, "[[1, 2], [4, 3]]", "\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}", False),
    ("matrices", A, "\\left(\\begin{matrix}1 \\\\ 2\\end{matrix}\\right)", "\\langle 1, 2\\rangle", True),
    # ---- multiple choice -------------------------------------------------------------------------
    ("choices", A, "d. 7", "7", True),
    ("choices", A, "a: 5", "5", True),
    ("choices", A, "(B) 12", "12", True),
    ("choices", A, "(B) 12", "B", True),
    ("choices", A, "\\text{(C)} \\frac{1}{2}", "\\frac12", True),
    ("choices", A, "D", "\\text{(D)}", True),
    ("choices", A, "d. 7", "8", False),
    ("choices", A, "d. 7", "C", False),
    ("choices", A, "(B) 12", "C", False),
    ("choices", A, "a: 5", "4", False),
    ("choices", A, "\\textbf{(B)} 12", "B", True),
    ("choices", A, "\\textbf{(B)} 12", "\\text{(C)}", False),
    ("choices", A, "Option D: 7", "D", True),
    ("choices", A, "Option D: 7", "7", True),
    ("choices", A, "Option D: 7", "E", False),
    # ---- percent, thousands, scientific notation ---------------------------------------------
    ("numbers", A, "28 percent", "28\\%", True),
    ("numbers", A, "28 pct", "28\\%", True),
    ("numbers", A, "28 per cent", "28", True),
    ("numbers", A, "28\\text{ percent}", "28\\%", True),
    ("numbers", A, "1 000 000", "1000000", True),
    ("numbers", A, "1\\,000", "1000", True),
    ("numbers", A, "3{,}250", "3250", True),
    ("numbers", A, "7,425,000", "7425000", True),
    ("numbers", A, "1.5 \\times 10^{6}", "1500000", True),
    ("numbers", A, "1.5e6", "1500000", True),
    ("numbers", A, "6.02E+23", "6.02 \\times 10^{23}", True),
    ("numbers", A, "2.5 \\cdot 10^{-3}", "0.0025", True),
    ("numbers", A, "28 percent", "0.28", False),
    ("numbers", A, "28 percent", "29", False),
    ("numbers", A, "1 000 000", "1000", False),
    ("numbers", A, "1.5e6", "150000", False),
    ("numbers", A, "1.5e6", "1.5e", False),
    ("numbers", A, "32, 349", "32349", False),
    ("numbers", A, "1.2 x 10^5", "120000", True),
    ("numbers", A, "1.2 x 10^5", "12000", False),
    ("numbers", A, "1,234/2", "617", True),
    ("numbers", A, "1,234/2", "617.5", False),
    # ---- plain-text mathematics ---------------------------------------------------------------
    ("plain", A, "sqrt(3)", "\\sqrt{3}", True),
    ("plain", A, "2*sqrt(2)", "\\sqrt{8}", True),
    ("plain", A, "2*pi*r", "2\\pi r", True),
    ("plain", A, "pi/2", "\\frac{\\pi}{2}", True),
    ("plain", A, "3 sqrt(13)", "3\\sqrt{13}", True),
    ("plain", A, "sqrt(3)", "\\sqrt{2}", False),
    ("plain", A, "2*pi*r", "2\\pi r^2", False),
    ("plain", A, "pi/2", "\\pi", False),
    ("plain", A, "sqrt 3", "\\sqrt3", True),
    ("plain", A, "x**2 + 1", "x^2+1", True),
    ("plain", A, "x**2 + 1", "2x+1", False),
    ("plain", A, "4*pi", "4\\pi", True),
    ("plain", A, "sin(x)^2 + cos(x)^2", "1", True),
    ("plain", A, "sin(2x)", "2\\sin x \\cos x", True),
    ("plain", A, "sin(2x)", "2\\sin x", False),
    # ---- units ------------------------------------------------------------------------------
    ("units", A, "125\\textnormal{ miles}", "125", True),
    ("units", A, "125 miles", "125", True),
    ("units", A, "15 cm^2", "15", True),
    ("units", A, "5.4 \\text{ cents}", "5.4", True),
    ("units", A, "125\\textnormal{ miles}", "12.5", False),
    ("units", A, "125 miles", "126", False),
    # ---- inequalities, intervals, set difference, plus-minus ------------------------------------
    ("inequalities", A, "-x > -1", "x < 1", True),
    ("inequalities", A, "-x \\ge -1", "x \\le 1", True),
    ("inequalities", A, "5 \\geq x", "x \\leq 5", True),
    ("inequalities", A, "-2x < 6", "x > -3", True),
    ("inequalities", A, "-x > -1", "x > 1", False),
    ("inequalities", A, "-x > -1", "x \\le 1", False),
    ("inequalities", A, "-2x < 6", "x < -3", False),
    ("intervals", A, "(-\\infty, 2) \\cup (2, \\infty)", "\\mathbb{R} \\setminus \\{2\\}", True),
    ("intervals", A, "(-\\infty,1)\\cup(1,3)\\cup(3,\\infty)", "\\mathbb{R}\\setminus\\{1,3\\}", True),
    ("intervals", A, "[0, 5) \\cup (5, 10]", "[0,10] \\setminus \\{5\\}", True),
    ("intervals", A, "x \\neq 2", "(-\\infty,2)\\cup(2,\\infty)", True),
    ("intervals", A, "(-\\infty, 2) \\cup (2, \\infty)", "\\mathbb{R} \\setminus \\{3\\}", False),
    ("intervals", A, "(-\\infty, 2] \\cup (2, \\infty)", "\\mathbb{R} \\setminus \\{2\\}", False),
    ("intervals", A, "[0, 5) \\cup (5, 10]", "[0,10)\\setminus\\{5\\}", False),
    ("intervals", A, "\\{x \\mid x \\neq 2\\}", "(-\\infty,2)\\cup(2,\\infty)", True),
    ("intervals", A, "\\mathbb{R}", "(-\\infty, \\infty)", True),
    ("intervals", A, "\\mathbb{R}", "(0, \\infty)", False),
    ("intervals", A, "\\mathbb{R} - \\{0\\}", "(-\\infty,0)\\cup(0,\\infty)", True),
    ("plusminus", A, "\\pm 2021", "\\{-2021, 2021\\}", True),
    ("plusminus", A, "\\pm 2021", "{-2021, 2021}", True),
    ("plusminus", A, "\\pm\\sqrt{3}", "\\sqrt3, -\\sqrt3", True),
    ("plusminus", A, "\\pm 2021", "2021", False),
    ("plusminus", A, "\\pm 2021", "\\{-2021, 2020\\}", False),
]


def _grade(kind: str, pred: str, gold: str) -> bool:
    if kind == R:
        return grade_answer(extract_answer(pred), gold)
    return grade_answer(pred, gold)


def test_every_category_has_negatives():
    categories = {c for c, *_ in CASES}
    for category in categories:
        labels = [label for c, _, _, _, label in CASES if c == category]
        assert any(labels) and not all(labels), category


@pytest.mark.parametrize(("category", "kind", "pred", "gold", "label"), CASES,
                         ids=[f"{c}-{i}" for i, (c, *_) in enumerate(CASES)])
def test_labelled_case(category, kind, pred, gold, label):
    assert _grade(kind, pred, gold) is label
