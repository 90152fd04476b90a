"""Prompt templates for evaluation: direct answer, chain of thought, and the Qwen3 chat template.

``TEMPLATES`` maps a name to a format string with one field, ``{problem}``:

* ``direct``: ask for the answer only, written as ``\\boxed{ANSWER}``;
* ``cot``: ask for step-by-step reasoning, then the boxed answer;
* ``plain``: the problem text alone (for base models that continue text);
* ``short-direct`` / ``short-cot``: the one-line prompts of the built-in synthetic tasks
  (``"Compute 4821+397. Think step by step.\\n"``), which the built-in models were trained on.

:func:`render_prompt` fills a template and, with ``chat=True``, wraps it as one user message in
the Qwen3 chat template with thinking on or off (``minireason.io.chat_template`` is imported
only then, so the evaluation package does not need it otherwise).
"""

from __future__ import annotations

from minireason.errors import InputError

DIRECT_TEMPLATE = (
    "You are a helpful math assistant.\n"
    "Answer the question and write the final result on a new line as:\n"
    "\\boxed{{ANSWER}}\n\n"
    "Question:\n{problem}\n\nAnswer:"
)
CHAIN_OF_THOUGHT_TEMPLATE = (
    "Solve the following problem. Think step by step, then write the final result on a new line as:\n"
    "\\boxed{{ANSWER}}\n\n"
    "Problem:\n{problem}\n\nSolution:"
)
SHORT_INSTRUCTIONS = {"direct": "Answer directly.", "cot": "Think step by step."}
TEMPLATES = {
    "direct": DIRECT_TEMPLATE,
    "cot": CHAIN_OF_THOUGHT_TEMPLATE,
    "plain": "{problem}",
    "short-direct": "{problem} " + SHORT_INSTRUCTIONS["direct"] + "\n",
    "short-cot": "{problem} " + SHORT_INSTRUCTIONS["cot"] + "\n",
}


def render_prompt(problem: str, template: str = "direct", chat: bool = False,
                  enable_thinking: bool = False) -> str:
    """The prompt text for one problem.

    ``template`` is a name in ``TEMPLATES``. With ``chat=True`` the filled template becomes a
    user message in the Qwen3 chat template, followed by the assistant's generation prompt;
    ``enable_thinking`` turns the ``<think>`` block on or off.
    """
    if template not in TEMPLATES:
        raise InputError(f"prompt template: expected one of {sorted(TEMPLATES)}, got {template!r}")
    if not isinstance(problem, str):
        raise InputError(f"prompt problem: expected str, got {type(problem).__name__}")
    text = TEMPLATES[template].format(problem=problem)
    if not chat:
        return text
    from minireason.io import chat_template

    # the agreed name is apply_chat_template; the module currently calls it render_chat
    apply_chat_template = getattr(chat_template, "apply_chat_template", None) or chat_template.render_chat
    return apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                               enable_thinking=enable_thinking)
