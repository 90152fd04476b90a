"""Verifiable rewards for RL: what one sampled completion earns, and how components combine.

Three built-in components, each a function of one :class:`Rollout`:

- ``correctness``: 1 when the completion's boxed answer is right, by the one judge
  (:func:`minireason.evaluation.judge.judge_completion` with ``fallback=None``: only an answer the
  policy marked as final with ``\\boxed{}`` is paid), else 0;
- ``format``: 1 when the completion reasons inside one ``<think> ... </think>`` block and then
  gives a boxed answer, else 0;
- ``overlong``: DAPO's soft overlong punishment (0 down to -1 over the last ``overlong_buffer``
  tokens of the length budget), see :func:`overlong_penalty`.

Custom rewards are plain callables ``(prompt, completion_text, gold) -> float`` named in the spec.
A spec such as ``"correctness:1,format:0.1,overlong:1"`` says which components count and how much;
:func:`compute_rewards` combines them by a weighted sum, or GDPO's per-component group
normalisation first (``combine="gdpo"``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from minireason.errors import InputError
from minireason.evaluation.extract import extract_answer
from minireason.evaluation.judge import judge_completion
from minireason.io.chat_template import THINK_CLOSE, THINK_OPEN
from minireason.posttrain.advantages import group_advantages

BUILTIN_REWARDS = ("correctness", "format", "overlong")
COMBINE_MODES = ("sum", "gdpo")
PROMPT_PREVIEW_CHARS = 60


class RewardError(InputError):
    """A reward function raised, or returned something that is not a finite number."""


@dataclass(frozen=True)
class Rollout:
    """What a reward sees of one sampled completion.

    record: the problem record (gold answer in ``record["answer"]``); prompt: the text the model
    continued; completion: the decoded text, without the stop token; num_tokens: generated tokens;
    truncated: generation hit the length limit (``finish_reason == "length"``).
    """

    record: dict
    prompt: str
    completion: str
    num_tokens: int
    truncated: bool

    def __post_init__(self):
        if not isinstance(self.record, dict):
            raise InputError(f"Rollout: field 'record': expected a dict, got {type(self.record).__name__}")
        for name in ("prompt", "completion"):
            if not isinstance(getattr(self, name), str):
                raise InputError(f"Rollout: field {name!r}: expected str, got {type(getattr(self, name)).__name__}")
        if (isinstance(self.num_tokens, bool) or not isinstance(self.num_tokens, numbers.Integral)
                or self.num_tokens < 0):
            raise InputError(f"Rollout: field 'num_tokens': expected an int >= 0, got {self.num_tokens!r}")
        if not isinstance(self.truncated, (bool, np.bool_)):
            raise InputError(f"Rollout: field 'truncated': expected a bool, got {self.truncated!r}")


def correctness_reward(rollout: Rollout) -> float:
    """1.0 when the completion's last ``\\boxed{}`` answer is right (the one judge), else 0.0.

    No box, an empty box or a box cut off by the length limit is a missing answer: 0.
    """
    _, correct = judge_completion(rollout.record, rollout.completion, fallback=None)
    return 1.0 if correct else 0.0


def format_reward(rollout: Rollout) -> float:
    """1.0 for ``<think> reasoning </think> ... \\boxed{answer}``, else 0.0.

    Exactly one ``<think>`` before exactly one ``</think>``, and a complete, non-empty boxed answer
    after the ``</think>``. A ``<think>`` that ends the prompt (Qwen3 thinking templates pre-fill
    ``<think>\\n``) is the opening: the completion must then hold no ``<think>`` of its own.
    """
    completion = rollout.completion
    prefilled = rollout.prompt.rstrip().endswith(THINK_OPEN)
    openings = completion.count(THINK_OPEN) + (1 if prefilled else 0)
    if openings != 1 or completion.count(THINK_CLOSE) != 1:
        return 0.0
    close_at = completion.index(THINK_CLOSE)
    if not prefilled and completion.index(THINK_OPEN) > close_at:
        return 0.0
    after_reasoning = completion[close_at + len(THINK_CLOSE):]
    return 1.0 if extract_answer(after_reasoning, fallback=None) is not None else 0.0


def overlong_penalty(num_tokens: int, max_new_tokens: int, buffer_tokens: int, penalty: float = 1.0) -> float:
    """DAPO's soft overlong punishment (Yu et al. 2025, arXiv:2503.14476, sec. 3.4, eq. 13).

    With ``L_max = max_new_tokens`` and ``L_cache = buffer_tokens`` the paper's length reward is::

        R_length(y) = 0                                   if |y| <= L_max - L_cache
                      ((L_max - L_cache) - |y|) / L_cache if L_max - L_cache < |y| <= L_max
                      -1                                  if L_max < |y|

    scaled here by ``penalty``: 0 up to ``max_new_tokens - buffer_tokens`` tokens, a linear ramp
    down to ``-penalty`` at ``max_new_tokens``, and ``-penalty`` beyond it. Longer answers are
    punished gradually, so a correct answer that merely ran long is not scored like a cut-off one.
    """
    for name, value, minimum in (("num_tokens", num_tokens, 0), ("max_new_tokens", max_new_tokens, 1),
                                 ("buffer_tokens", buffer_tokens, 1)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
            raise InputError(f"overlong_penalty: argument {name!r}: expected an int >= {minimum}, got {value!r}")
    if buffer_tokens > max_new_tokens:
        raise InputError(f"overlong_penalty: buffer_tokens = {buffer_tokens} exceeds max_new_tokens = "
                         f"{max_new_tokens}; the punished zone must lie inside the length budget")
    if isinstance(penalty, bool) or not isinstance(penalty, numbers.Real) or not (math.isfinite(penalty)
                                                                                   and penalty >= 0):
        raise InputError(f"overlong_penalty: argument 'penalty': expected a finite number >= 0, got {penalty!r}")
    expected_length = max_new_tokens - buffer_tokens
    if num_tokens <= expected_length:
        return 0.0
    if num_tokens >= max_new_tokens:
        return -float(penalty)
    return -(num_tokens - expected_length) / buffer_tokens * float(penalty)


@dataclass(frozen=True)
class RewardSpec:
    """Which reward components count, with their weights: ``(("correctness", 1.0), ("format", 0.1))``."""

    weights: tuple[tuple[str, float], ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.weights)


def parse_reward_spec(text: str, custom_names=()) -> RewardSpec:
    """``"correctness:1,format:0.1,overlong:1"`` -> RewardSpec; a weight left out is 1.

    Names are the built-ins (:data:`BUILTIN_REWARDS`) and ``custom_names``. Unknown or repeated
    names, empty items and weights that are not finite numbers raise InputError. A weight may be
    0 (the component is computed and logged but does not count) or negative.
    """
    if not isinstance(text, str):
        raise InputError(f"reward spec: expected a string like 'correctness:1,format:0.1', got {text!r}")
    custom_names = tuple(custom_names)
    clashing = sorted(set(custom_names) & set(BUILTIN_REWARDS))
    if clashing:
        raise InputError(f"reward spec: custom reward names {clashing} clash with built-in rewards; rename them")
    choices = BUILTIN_REWARDS + tuple(name for name in custom_names if name not in BUILTIN_REWARDS)
    if not text.strip():
        raise InputError(f"reward spec: empty; expected e.g. 'correctness:1,format:0.1' (choices: {list(choices)})")
    weights = []
    for item in text.split(","):
        name, colon, weight_text = (part.strip() for part in item.partition(":"))
        if not name:
            raise InputError(f"reward spec {text!r}: empty item {item!r}; expected name or name:weight")
        if name not in choices:
            raise InputError(f"reward spec {text!r}: unknown reward {name!r}; choices: {list(choices)}")
        if name in (known for known, _ in weights):
            raise InputError(f"reward spec {text!r}: reward {name!r} appears twice")
        weight = 1.0
        if colon:
            try:
                weight = float(weight_text)
            except ValueError:
                weight = math.nan
            if not math.isfinite(weight):
                raise InputError(f"reward spec {text!r}: reward {name!r}: expected a finite number as weight, "
                                 f"got {weight_text!r}")
        weights.append((name, weight))
    return RewardSpec(weights=tuple(weights))


def _function_name(function) -> str:
    return getattr(function, "__qualname__", None) or getattr(function, "__name__", None) or type(function).__name__


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _call_reward(name: str, function: Callable, arguments: tuple, index: int, rollout: Rollout) -> float:
    """``function(*arguments)`` as a float; RewardError naming the function and the sample if it raises
    or returns something other than a finite number."""
    where = (f"reward {name!r} ({_function_name(function)}) on sample {index} "
             f"(prompt {rollout.prompt[:PROMPT_PREVIEW_CHARS]!r})")
    try:
        value = function(*arguments)
    except Exception as error:  # a user's reward may raise anything: report which one and where
        raise RewardError(f"{where} raised {type(error).__name__}: {_one_line(error)}") from error
    if not isinstance(value, (numbers.Real, np.bool_)):
        raise RewardError(f"{where} returned {type(value).__name__} {_one_line(repr(value))[:80]}; "
                          "expected a finite number")
    value = float(value)
    if not math.isfinite(value):
        raise RewardError(f"{where} returned {value!r}; expected a finite number")
    return value


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise InputError(f"compute_rewards: argument {name!r}: expected an int >= {minimum}, got {value!r}")
    return int(value)


def compute_rewards(rollouts: list[Rollout], spec: RewardSpec, group_size: int, max_new_tokens: int,
                    overlong_buffer: int = 0, custom: dict[str, Callable] | None = None,
                    combine: str = "sum", eps: float = 1e-6) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Rewards (N,) float64 and each component's raw values ``{name: (N,)}``.

    Rollouts come in groups of ``group_size`` consecutive rows (one prompt's samples).
    ``combine="sum"``: the weighted sum of the raw components. ``combine="gdpo"`` (Liu et al.
    2026, "GDPO: Group reward-Decoupled Normalization Policy Optimization", arXiv:2601.05242):
    each component is first normalised within its group, ``(r - mean_g) / (std_g + eps)`` with
    the same sample std as GRPO's advantage (a group whose component is constant contributes 0),
    then weighted and summed. Normalising the sum instead (plain GRPO) maps different mixes of
    components onto the same advantages; per component, a rare success on a hard reward keeps its
    own weight. GDPO then normalises the summed advantages over the batch: pass these rewards to
    ``group_advantages(mode="dr", batch_normalize=True)`` (they are already group-centred).

    ``overlong`` uses :func:`overlong_penalty` with ``buffer_tokens=overlong_buffer`` (>= 1) and
    penalty 1 (the spec's weight scales it); a truncated rollout counts as having used the whole
    budget. Custom rewards are called ``function(prompt, completion, record["answer"])``; one that
    raises, or returns a non-number or a non-finite number, raises :class:`RewardError`.
    """
    where = "compute_rewards"
    if not isinstance(spec, RewardSpec):
        raise InputError(f"{where}: argument 'spec': expected a RewardSpec (see parse_reward_spec), "
                         f"got {type(spec).__name__}")
    if combine not in COMBINE_MODES:
        raise InputError(f"{where}: argument 'combine': expected one of {COMBINE_MODES}, got {combine!r}")
    group_size = _check_int(group_size, "group_size", 2 if combine == "gdpo" else 1)
    max_new_tokens = _check_int(max_new_tokens, "max_new_tokens", 1)
    rollouts = list(rollouts)
    for index, rollout in enumerate(rollouts):
        if not isinstance(rollout, Rollout):
            raise InputError(f"{where}: rollouts[{index}]: expected a Rollout, got {type(rollout).__name__}")
    if not rollouts or len(rollouts) % group_size != 0:
        raise InputError(f"{where}: {len(rollouts)} rollouts is not a positive multiple of group_size = "
                         f"{group_size}; rows must come as consecutive groups of one prompt's samples")
    custom = dict(custom or {})
    clashing = sorted(set(custom) & set(BUILTIN_REWARDS))
    if clashing:
        raise InputError(f"{where}: custom rewards {clashing} clash with built-in rewards; rename them")
    for name, function in custom.items():
        if not callable(function):
            raise InputError(f"{where}: custom reward {name!r}: expected a callable "
                             f"(prompt, completion, gold) -> float, got {type(function).__name__}")
    for name in spec.names:
        if name not in BUILTIN_REWARDS and name not in custom:
            raise InputError(f"{where}: reward {name!r} is neither built in {BUILTIN_REWARDS} nor among the "
                             f"custom rewards {sorted(custom)}")
    if "overlong" in spec.names:
        overlong_buffer = _check_int(overlong_buffer, "overlong_buffer", 1)
        if overlong_buffer > max_new_tokens:
            raise InputError(f"{where}: overlong_buffer = {overlong_buffer} exceeds max_new_tokens = "
                             f"{max_new_tokens}")

    def overlong_reward(rollout: Rollout) -> float:
        used = max(rollout.num_tokens, max_new_tokens) if rollout.truncated else rollout.num_tokens
        return overlong_penalty(used, max_new_tokens, overlong_buffer)

    builtins = {"correctness": correctness_reward, "format": format_reward, "overlong": overlong_reward}
    components: dict[str, np.ndarray] = {}
    for name, _ in spec.weights:
        values = np.empty(len(rollouts), dtype=np.float64)  # (N,)
        if name in builtins:
            function = builtins[name]
            for index, rollout in enumerate(rollouts):
                values[index] = _call_reward(name, function, (rollout,), index, rollout)
        else:
            function = custom[name]
            for index, rollout in enumerate(rollouts):
                arguments = (rollout.prompt, rollout.completion, rollout.record.get("answer"))
                values[index] = _call_reward(name, function, arguments, index, rollout)
        components[name] = values

    rewards = np.zeros(len(rollouts), dtype=np.float64)  # (N,)
    for name, weight in spec.weights:
        if combine == "gdpo":
            normalised = group_advantages(components[name], group_size, mode="group", scale_by_std=True, eps=eps)
            rewards += weight * normalised
        else:
            rewards += weight * components[name]
    return rewards, components
