"""Every script in examples/ runs on the built-in models and prints what it says it does.

The two slowest scripts run when MINIREASON_EXAMPLES=all, which .ci/run sets on its own line; the
others run in every test run. 07_kernels takes about 15 s on 2 cores once Numba's cache holds the
kernels, and minutes on a fresh checkout, where it compiles them; 12_dpo about 30 s. The checks compare what a script
prints with values worked out here, not with the script's own earlier output.
"""

from __future__ import annotations

import ast
import math
import os
import re
import subprocess
import sys

import pytest
from paths import REPOSITORY

from minireason.tasks import FAMILIES

EXAMPLES = REPOSITORY / "examples"
SLOW = {"07_kernels.py", "12_dpo.py"}  # compiles every Numba kernel on a fresh checkout; 30 s: the rest take seconds
RUN_SLOW = os.environ.get("MINIREASON_EXAMPLES") == "all"


def _numbers(pattern: str, text: str) -> list[float]:
    match = re.search(pattern, text)
    assert match, f"no line matching {pattern!r} in:\n{text}"
    return [float(value) for value in match.groups()]


def check_01(out):
    backward, finite = _numbers(r"backward (-?[\d.e-]+), finite difference (-?[\d.e-]+)", out)
    assert math.isclose(backward, finite, rel_tol=1e-3, abs_tol=1e-6)
    first = _numbers(r"step\s+0 loss ([\d.]+)", out)[0]
    assert _numbers(r"final loss ([\d.]+)", out)[0] < first


def check_02(out):
    assert "identical logits: True" in out


def check_03(out):
    # greedy answers to 47+38 and 4x+2=3x+7, worked out by hand; repr() doubles the backslash
    assert re.search(r"\\\\boxed\{85\}' stop \d+ tokens$", out, re.M), out
    assert re.search(r"\\\\boxed\{5\}' stop \d+ tokens$", out, re.M), out
    logprobs = [float(value) for value in re.findall(r"mean log-prob under the model (-?[\d.]+)", out)]
    assert len(logprobs) == 4 and all(value <= 0 for value in logprobs)
    assert out.rstrip().endswith("\\boxed{5}")  # the streamed pieces join into the same greedy text


def check_04(out):
    assert re.search(r"^False False$", out, re.M)  # code is never run; a tower of powers is refused


def check_05(out):
    verdicts = re.findall(r"verifier accepts the gold answer: (\w+)", out)
    assert re.findall(r"^== (\w+) \(difficulty", out, re.M) == list(FAMILIES)  # one problem per family
    assert verdicts == ["True"] * len(FAMILIES)


def check_06(out):
    one, four = _numbers(r"pass@1, pass@4 with 16 samples, 4 correct: ([\d.]+) ([\d.]+)", out)
    assert math.isclose(one, 4 / 16) and math.isclose(four, 1 - math.comb(12, 4) / math.comb(16, 4))
    assert re.search(r"^sc@4\s", out, re.M)


def check_07(out):
    assert "the same greedy tokens from both (the same numbers): True" in out
    assert _numbers(r"largest gradient difference ([\d.e+-]+)", out)[0] < 1e-4


def _paired(out):
    assert re.search(r"'accuracy_before': [\d.]+, 'accuracy_after': [\d.]+, 'gained': \d+, 'lost': \d+", out), out


def check_08(out):
    assert _numbers(r"advantages: \[\s*([-\d.]+)\s+([-\d.]+)", out) == [0.866, -0.866]  # (1 - 1/2) / sample std (0.577)
    # PPO-clip with eps 0.2, token-mean over 8 tokens: where the clip binds (ratio 1.67 and 1.5 with A > 0,
    # 0.5 with A < 0) the gradient is 0; elsewhere d(-r A / 8)/dlogp = -r A / 8 with r = 1
    gradient = ast.literal_eval(re.search(r"dloss/dlogp: (\[.*\]) clipped", out).group(1))
    step = math.sqrt(3) / 2 / 8
    expected = [[0, 0], [step, 0], [-step, -step], [step, 0]]
    assert all(math.isclose(g, e, abs_tol=1e-3) for row, want in zip(gradient, expected) for g, e in zip(row, want))
    assert len(gradient) == 4 and re.search(r"clipped high/low: 2 2$", out, re.M)
    _paired(out)


def _kl(p, q):
    return sum(a * math.log(a / b) for a, b in zip(p, q))


def check_09(out):
    teacher, student = [0.85, 0.05, 0.05, 0.05], [0.40, 0.40, 0.10, 0.10]
    middle = [(a + b) / 2 for a, b in zip(teacher, student)]
    expected = {"fkl": _kl(teacher, student), "rkl": _kl(student, teacher),
                "jsd": (_kl(teacher, middle) + _kl(student, middle)) / 2}  # beta = 0.5: the symmetric JSD
    for loss, value in expected.items():
        assert math.isclose(_numbers(rf"(?m)^{loss}: D = ([\d.]+)", out)[0], value, abs_tol=1e-4), loss
    # the forward KL's gradient in the student's logits is student - teacher
    assert _numbers(r"(?m)^fkl: D = [\d.]+, dD/dz = \[([-\d.]+), ([-\d.]+)", out) == [-0.45, 0.35]
    # DPO at a log-ratio margin of 1 nat, beta 0.5: -log sigmoid(0.5)
    dpo = _numbers(r"DPO loss ([\d.]+)", out)[0]
    assert math.isclose(dpo, math.log1p(math.exp(-0.5)), abs_tol=1e-4)
    _paired(out)


def check_10(out):
    assert "report.json" in out and "run.json" in out


def check_11(out):
    assert _numbers(r"group \(GRPO\): \[([-\d.]+), [-\d.]+, [-\d.]+, ([-\d.]+)\]", out) == [0.5, -1.5]
    assert _numbers(r"dr \(Dr. GRPO\): \[([-\d.]+), [-\d.]+, [-\d.]+, ([-\d.]+)\]", out) == [0.25, -0.75]
    assert _numbers(r"seq-mean-token-sum-norm: \[([\d.]+), ([\d.]+)\]", out) == [1 / 16, 1 / 16]
    _paired(out)


def check_12(out):
    for margin in (1.0, 2.0):
        loss = _numbers(rf"margin \+{margin:.1f} nats: loss ([\d.]+)", out)[0]
        assert math.isclose(loss, -math.log(1 / (1 + math.exp(-0.5 * margin))), abs_tol=1e-4)
    _paired(out)


def check_13(out):
    for budget in (8, 16, 32):
        assert _numbers(rf"budget@{budget}: ([\d.]+) thinking tokens per problem", out)[0] <= budget
    assert re.search(r"^budget@64\s", out, re.M)


SCRIPTS = sorted(path.name for path in EXAMPLES.glob("*.py"))


def test_every_example_has_a_check():
    assert sorted(name[:2] for name in SCRIPTS) == sorted(name.removeprefix("check_") for name in globals()
                                                          if name.startswith("check_"))


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs_and_prints_what_it_says(script, tmp_path):
    if script in SLOW and not RUN_SLOW:
        pytest.skip("one of the two slowest examples: runs with MINIREASON_EXAMPLES=all (.ci/run)")
    env = {**os.environ, "PYTHONPATH": str(REPOSITORY) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run([sys.executable, str(EXAMPLES / script)], cwd=tmp_path, capture_output=True, text=True,
                            timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    globals()[f"check_{script[:2]}"](result.stdout)
