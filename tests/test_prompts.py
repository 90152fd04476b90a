"""The one prompt builder (minireason.evaluation.prompts) and its thin users: tasks.base.render_prompt,
scaling.prompts and evaluation's render_prompt.

The exact strings below are the specification: they are what the three separate builders
returned before they became one (captured once from that code), so the built-in models keep
being asked in the words they were trained on, and evaluation and scaling results stay comparable.
"""

from __future__ import annotations

import pytest

from minireason.errors import InputError
from minireason.evaluation import prompts
from minireason.scaling import prompts as scaling_prompts
from minireason.tasks.base import Problem, render_prompt

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


# ----------------------------------------------------------------------------- the old entry points, unchanged


@pytest.mark.parametrize("template", sorted(EVALUATION_TEMPLATES))
def test_evaluation_templates_are_unchanged(template):
    assert prompts.render_prompt(PROBLEM, template) == EVALUATION_TEMPLATES[template]


@pytest.mark.parametrize("template, thinking", sorted(EVALUATION_CHAT))
def test_evaluation_chat_prompts_are_unchanged(template, thinking):
    assert prompts.render_prompt(PROBLEM, template, chat=True, enable_thinking=thinking) == \
        EVALUATION_CHAT[template, thinking]


@pytest.mark.parametrize("style, prompt_format", sorted(SCALING))
def test_scaling_prompts_are_unchanged(style, prompt_format):
    assert scaling_prompts.build_prompt(PROBLEM, style, prompt_format) == SCALING[style, prompt_format]


@pytest.mark.parametrize("prompt_format", ["plain", "chat"])
def test_self_refinement_prompts_are_unchanged(prompt_format):
    assert scaling_prompts.critique_prompt(PROBLEM, " 19 \n", prompt_format) == CRITIQUE[prompt_format]
    assert scaling_prompts.revise_prompt(PROBLEM, " 19 \n", " correct \n", prompt_format) == REVISE[prompt_format]


@pytest.mark.parametrize("style", ["direct", "cot"])
def test_task_prompts_are_unchanged(style):
    problem = Problem(family="addition", text=PROBLEM, answer="19", difficulty=1, unique_id="addition/x")
    assert render_prompt(problem, style) == TASK[style]


def test_formats_and_stop_strings_are_unchanged():
    assert scaling_prompts.default_prompt_format("builtin:reasoner-tiny") == "plain"
    assert scaling_prompts.default_prompt_format("/models/Qwen3-0.6B") == "chat"
    assert scaling_prompts.stop_strings_for("plain") == ()
    assert scaling_prompts.stop_strings_for("chat") == ("<|im_end|>",)


# ----------------------------------------------------------------------------- one builder


def test_there_is_one_builder_and_the_users_re_export_it():
    assert scaling_prompts.build_prompt is prompts.build_prompt
    assert scaling_prompts.default_prompt_format is prompts.default_prompt_format
    assert scaling_prompts.stop_strings_for is prompts.stop_strings_for


@pytest.mark.parametrize("style", ["direct", "cot"])
def test_the_plain_format_is_the_task_prompt_and_the_short_template(style):
    from minireason.tasks import generate_problems

    problem = generate_problems("countdown", 1, split="test", seed=3)[0]
    expected = render_prompt(problem, style)
    assert prompts.build_prompt(problem.text, style, "plain") == expected
    assert prompts.build_prompt(problem.text, style) == expected  # plain is the default format
    assert prompts.render_prompt(problem.text, "short-" + style) == expected


def test_cot_is_the_default_style_and_braces_in_a_problem_are_kept():
    assert prompts.build_prompt("Is {1, 2} a set?") == "Is {1, 2} a set? Think step by step.\n"
    assert prompts.render_prompt("Is {1, 2} a set?", "plain") == "Is {1, 2} a set?"


@pytest.mark.parametrize("call, named", [
    (lambda: prompts.build_prompt(PROBLEM, "verbose"), "style"),
    (lambda: prompts.build_prompt(PROBLEM, "cot", "markdown"), "format"),
    (lambda: prompts.build_prompt(42, "cot"), "problem"),
    (lambda: prompts.build_prompt(42, "cot", "chat"), "problem"),
    (lambda: prompts.render_prompt(PROBLEM, "nope"), "template"),
    (lambda: prompts.stop_strings_for("markdown"), "format"),
    (lambda: scaling_prompts.critique_prompt(PROBLEM, "x", "markdown"), "format"),
    (lambda: render_prompt(Problem("addition", PROBLEM, "19", 1, "x"), "verbose"), "style"),
])
def test_bad_arguments_are_named(call, named):
    with pytest.raises(InputError, match=named):
        call()
