"""The one prompt spec (minireason.evaluation.prompts.PromptSpec) and its users: minireason eval's
templates, the tasks' prompts, scaling (and self-refinement's two requests), the trainers' rollouts.

The exact strings below are the specification: they are what the three separate builders
(build_prompt, render_prompt, tasks.base.render_prompt) returned before they became one spec
(captured once from that code), so the built-in models keep being asked in the words they were
trained on, and evaluation and scaling results stay comparable.
"""

from __future__ import annotations

import pytest

from minireason.errors import InputError
from minireason.evaluation import prompts
from minireason.evaluation.prompts import PromptSpec
from minireason.scaling import prompts as scaling_prompts

PROBLEM = "Compute 12+7."
CHAT_USER = "<|im_start|>user\n"
CHAT_ANSWER_THINKING = "<|im_end|>\n<|im_start|>assistant\n"
CHAT_ANSWER_NOT_THINKING = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"

DIRECT_TEXT = ("You are a helpful math assistant.\nAnswer the question and write the final result on a new line as:\n"
               "\\boxed{ANSWER}\n\nQuestion:\nCompute 12+7.\n\nAnswer:")
COT_TEXT = ("Solve the following problem. Think step by step, then write the final result on a new line as:\n"
            "\\boxed{ANSWER}\n\nProblem:\nCompute 12+7.\n\nSolution:")

EVALUATION_TEMPLATES = {
    "direct": DIRECT_TEXT,
    "cot": COT_TEXT,
    "plain": "Compute 12+7.",
    "short-direct": "Compute 12+7. Answer directly.\n",
    "short-cot": "Compute 12+7. Think step by step.\n",
}
EVALUATION_CHAT = {
    ("direct", False): CHAT_USER + DIRECT_TEXT + CHAT_ANSWER_NOT_THINKING,
    ("direct", True): CHAT_USER + DIRECT_TEXT + CHAT_ANSWER_THINKING,
    ("cot", False): CHAT_USER + COT_TEXT + CHAT_ANSWER_NOT_THINKING,
    ("cot", True): CHAT_USER + COT_TEXT + CHAT_ANSWER_THINKING,
    ("short-cot", False): CHAT_USER + "Compute 12+7. Think step by step.\n" + CHAT_ANSWER_NOT_THINKING,
    ("short-cot", True): CHAT_USER + "Compute 12+7. Think step by step.\n" + CHAT_ANSWER_THINKING,
}
SCALING = {
    ("direct", "plain"): "Compute 12+7. Answer directly.\n",
    ("cot", "plain"): "Compute 12+7. Think step by step.\n",
    ("direct", "chat"): CHAT_USER + "Compute 12+7.\nPut your final answer within \\boxed{}." + CHAT_ANSWER_NOT_THINKING,
    ("cot", "chat"): (CHAT_USER + "Compute 12+7.\nPlease reason step by step, and put your final answer within "
                      "\\boxed{}." + CHAT_ANSWER_THINKING),
}
CRITIQUE_REQUEST = ("Compute 12+7.\nProposed solution:\n19\nCheck the solution step by step. Name the first wrong step, "
                    "or say that it is correct.")
CRITIQUE = {"plain": CRITIQUE_REQUEST + "\n", "chat": CHAT_USER + CRITIQUE_REQUEST + CHAT_ANSWER_THINKING}
REVISE = {
    "plain": "Previous solution:\n19\nReview:\ncorrect\nCompute 12+7. Think step by step.\n",
    "chat": (CHAT_USER + "Previous solution:\n19\nReview:\ncorrect\nWrite a corrected solution.\nCompute 12+7.\n"
             "Please reason step by step, and put your final answer within \\boxed{}." + CHAT_ANSWER_THINKING),
}
TASK = {"direct": "Compute 12+7. Answer directly.\n", "cot": "Compute 12+7. Think step by step.\n"}


# ----------------------------------------------------------------------------- the texts, unchanged


@pytest.mark.parametrize("template", sorted(EVALUATION_TEMPLATES))
def test_evaluation_templates_are_unchanged(template):
    assert PromptSpec(template=template).text(PROBLEM) == EVALUATION_TEMPLATES[template]


@pytest.mark.parametrize("template, thinking", sorted(EVALUATION_CHAT))
def test_evaluation_chat_prompts_are_unchanged(template, thinking):
    spec = PromptSpec(template=template, prompt_format="chat", thinking=thinking)
    assert spec.text(PROBLEM) == EVALUATION_CHAT[template, thinking]


def test_a_chat_template_thinks_only_when_asked():
    assert PromptSpec(template="cot", prompt_format="chat").text(PROBLEM) == EVALUATION_CHAT["cot", False]


@pytest.mark.parametrize("style, prompt_format", sorted(SCALING))
def test_style_prompts_are_unchanged(style, prompt_format):
    assert PromptSpec(style, prompt_format).text(PROBLEM) == SCALING[style, prompt_format]


@pytest.mark.parametrize("style", ["direct", "cot"])
def test_the_task_prompts_the_built_in_models_were_trained_on(style):
    assert PromptSpec(style).text(PROBLEM) == TASK[style]
    assert PromptSpec(style, "plain").text("Compute 4821+397.") == \
        {"cot": "Compute 4821+397. Think step by step.\n", "direct": "Compute 4821+397. Answer directly.\n"}[style]


@pytest.mark.parametrize("prompt_format", ["plain", "chat"])
def test_self_refinement_prompts_are_unchanged(prompt_format):
    assert scaling_prompts.critique_prompt(PROBLEM, " 19 \n", prompt_format) == CRITIQUE[prompt_format]
    assert scaling_prompts.revise_prompt(PROBLEM, " 19 \n", " correct \n", prompt_format) == REVISE[prompt_format]


def test_formats_and_stop_strings():
    assert scaling_prompts.default_prompt_format("builtin:reasoner-tiny") == "plain"
    assert scaling_prompts.default_prompt_format("/models/Qwen3-0.6B") == "chat"
    for style in ("direct", "cot"):
        assert PromptSpec(style, "plain").stop_strings == ()
        assert PromptSpec(style, "chat").stop_strings == ("<|im_end|>",)
    assert PromptSpec(template="direct", prompt_format="chat").stop_strings == ("<|im_end|>",)
    assert PromptSpec(template="short-cot").stop_strings == ()


# ----------------------------------------------------------------------------- one spec


def test_there_is_one_spec_and_the_users_re_export_it():
    assert scaling_prompts.PromptSpec is prompts.PromptSpec
    assert scaling_prompts.default_prompt_format is prompts.default_prompt_format
    import minireason.tasks.base as task_base

    assert not hasattr(task_base, "render_prompt")  # the tasks use the spec


@pytest.mark.parametrize("style", ["direct", "cot"])
def test_the_plain_style_is_the_short_template(style):
    from minireason.tasks import generate_problems

    problem = generate_problems("countdown", 1, split="test", seed=3)[0]
    assert PromptSpec(style).text(problem.text) == PromptSpec(template="short-" + style).text(problem.text)
    assert PromptSpec(style).text(problem.text) == f"{problem.text} {prompts.SHORT_INSTRUCTIONS[style]}\n"


def test_cot_is_the_default_style_and_braces_in_a_problem_are_kept():
    assert PromptSpec().text("Is {1, 2} a set?") == "Is {1, 2} a set? Think step by step.\n"
    assert PromptSpec(template="plain").text("Is {1, 2} a set?") == "Is {1, 2} a set?"


@pytest.mark.parametrize("call, named", [
    (lambda: PromptSpec("verbose"), "style"),
    (lambda: PromptSpec("cot", "markdown"), "format"),
    (lambda: PromptSpec().text(42), "problem"),
    (lambda: PromptSpec("cot", "chat").text(42), "problem"),
    (lambda: PromptSpec(template="nope"), "template"),
    (lambda: PromptSpec(thinking="yes"), "thinking"),
    (lambda: scaling_prompts.critique_prompt(PROBLEM, "x", "markdown"), "format"),
])
def test_bad_arguments_are_named(call, named):
    with pytest.raises(InputError, match=named):
        call()
