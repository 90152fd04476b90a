"""The prompts scaling methods send: direct answer, chain-of-thought, and self-refinement's critique / revise.

The direct and chain-of-thought prompts come from the project's one prompt spec,
:class:`minireason.evaluation.prompts.PromptSpec` (re-exported here with the formats, the
style names and :func:`default_prompt_format`). Only
self-refinement's two extra requests live here, and they are built the same way: the plain
format ends with a newline, the chat format goes through the one Qwen3 chat wrapper
(thinking on).

Chain-of-thought prompting spends tokens on reasoning before the answer: the cheapest scaling
method, and the baseline every sampling method starts from.
"""

from __future__ import annotations

from minireason.evaluation.prompts import (
    CHAT_INSTRUCTIONS,
    CHAT_STOP_STRINGS,
    PROMPT_FORMATS,
    STYLES,
    PromptSpec,
    chat_prompt,
    check_prompt_format,
    default_prompt_format,
)

__all__ = [
    "CHAT_INSTRUCTIONS",
    "CHAT_STOP_STRINGS",
    "PROMPT_FORMATS",
    "STYLES",
    "PromptSpec",
    "check_prompt_format",
    "critique_prompt",
    "default_prompt_format",
    "revise_prompt",
]


def critique_prompt(problem: str, solution: str, prompt_format: str = "plain") -> str:
    """Ask the model to check a proposed solution and name its first mistake (self-refinement, step 2)."""
    request = (f"{problem}\nProposed solution:\n{solution.strip()}\n"
               "Check the solution step by step. Name the first wrong step, or say that it is correct.")
    if check_prompt_format(prompt_format) == "plain":
        return request + "\n"
    return chat_prompt(request, thinking=True)


def revise_prompt(problem: str, solution: str, critique: str, prompt_format: str = "plain") -> str:
    """Ask for a corrected solution given the previous one and its critique (self-refinement, step 3).

    It ends like a chain-of-thought prompt, so the revision is written in the same form as a draft.
    """
    context = f"Previous solution:\n{solution.strip()}\nReview:\n{critique.strip()}\n"
    if check_prompt_format(prompt_format) == "plain":
        return context + PromptSpec("cot", "plain").text(problem)
    return chat_prompt(f"{context}Write a corrected solution.\n{problem}\n{CHAT_INSTRUCTIONS['cot']}", thinking=True)
