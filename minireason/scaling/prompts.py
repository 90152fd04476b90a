"""The prompts scaling methods send: direct answer, chain-of-thought, and self-refinement's critique / revise.

Two prompt formats, because two kinds of model read them:

``"plain"``
    the format the built-in models were trained on (:func:`minireason.tasks.base.render_prompt`):
    the problem, then one short instruction, ``"Think step by step."`` (chain of thought: the
    model writes a ``<think>`` trace, then the boxed answer) or ``"Answer directly."``;
``"chat"``
    the Qwen3 chat template (:func:`minireason.io.chat_template.render_chat`). Chain of thought
    is Qwen3's *thinking mode* (the model opens its own ``<think>`` block); a direct answer turns
    thinking off, which pre-fills an empty ``<think></think>`` block so the model answers at once.

Chain-of-thought prompting spends tokens on reasoning before the answer: the cheapest scaling
method, and the baseline every sampling method starts from.
"""

from __future__ import annotations

from minireason.errors import InputError

PROMPT_FORMATS = ("plain", "chat")
STYLES = ("direct", "cot")

CHAT_INSTRUCTIONS = {
    "direct": "Put your final answer within \\boxed{}.",
    "cot": "Please reason step by step, and put your final answer within \\boxed{}.",
}
CHAT_STOP_STRINGS = ("<|im_end|>",)


def _plain_instructions() -> dict[str, str]:
    from minireason.tasks.base import PROMPT_INSTRUCTIONS

    return PROMPT_INSTRUCTIONS


def check_prompt_format(prompt_format: str) -> str:
    if prompt_format not in PROMPT_FORMATS:
        raise InputError(f"prompt format: expected one of {PROMPT_FORMATS}, got {prompt_format!r}")
    return prompt_format


def _check_style(style: str) -> str:
    if style not in STYLES:
        raise InputError(f"prompt style: expected one of {STYLES}, got {style!r}")
    return style


def _chat(user_text: str, thinking: bool) -> str:
    from minireason.io.chat_template import render_chat

    return render_chat([{"role": "user", "content": user_text}], add_generation_prompt=True,
                       enable_thinking=thinking)


def build_prompt(problem: str, style: str = "cot", prompt_format: str = "plain") -> str:
    """The prompt asking for ``problem``'s answer, directly (``style="direct"``) or step by step (``"cot"``)."""
    _check_style(style)
    if check_prompt_format(prompt_format) == "plain":
        return f"{problem} {_plain_instructions()[style]}\n"
    return _chat(f"{problem}\n{CHAT_INSTRUCTIONS[style]}", thinking=style == "cot")


def critique_prompt(problem: str, solution: str, prompt_format: str = "plain") -> str:
    """Ask the model to check a proposed solution and name its first mistake (self-refinement, step 2)."""
    request = (f"{problem}\nProposed solution:\n{solution.strip()}\n"
               "Check the solution step by step. Name the first wrong step, or say that it is correct.")
    if check_prompt_format(prompt_format) == "plain":
        return request + "\n"
    return _chat(request, thinking=True)


def revise_prompt(problem: str, solution: str, critique: str, prompt_format: str = "plain") -> str:
    """Ask for a corrected solution given the previous one and its critique (self-refinement, step 3).

    It ends like a chain-of-thought prompt, so the revision is written in the same form as a draft.
    """
    context = f"Previous solution:\n{solution.strip()}\nReview:\n{critique.strip()}\n"
    if check_prompt_format(prompt_format) == "plain":
        return f"{context}{problem} {_plain_instructions()['cot']}\n"
    return _chat(f"{context}Write a corrected solution.\n{problem}\n{CHAT_INSTRUCTIONS['cot']}", thinking=True)


def stop_strings_for(prompt_format: str) -> tuple[str, ...]:
    """Text that ends a completion in this format (the chat turn's end marker), besides eos."""
    return CHAT_STOP_STRINGS if check_prompt_format(prompt_format) == "chat" else ()


def default_prompt_format(model_path: str) -> str:
    """``"plain"`` for the built-in models (trained on that format), ``"chat"`` for any other checkpoint."""
    return "plain" if str(model_path).startswith("builtin:") else "chat"
