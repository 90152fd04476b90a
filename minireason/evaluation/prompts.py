"""The one prompt builder: every prompt a model of this project is sent is made here.

Evaluation runs, the synthetic tasks (and the data the built-in models were trained on),
inference-time scaling and the RL trainer all build their prompts with these functions, so a
model is asked the same question in the same words wherever it is asked.

Two *prompt formats*, because two kinds of model read them:

``"plain"``
    the one-line form the built-in models were trained on: the problem, then one short
    instruction, ``"Compute 4821+397. Think step by step.\\n"`` (chain of thought: the model
    writes a ``<think>`` trace, then the boxed answer) or ``"... Answer directly.\\n"``;
``"chat"``
    the Qwen3 chat template (:func:`minireason.io.chat_template.render_chat`) for Hugging Face
    checkpoints. Chain of thought is Qwen3's *thinking mode* (the model opens its own
    ``<think>`` block); a direct answer turns thinking off, which pre-fills an empty
    ``<think></think>`` block so the model answers at once.

:func:`build_prompt` (problem, style, format) is the entry point for generating answers;
:func:`render_prompt` fills one of the longer evaluation ``TEMPLATES`` instead, optionally
wrapped in the chat template. ``TEMPLATES`` maps a name to a format string with one field,
``{problem}``:

* ``direct``: ask for the answer only, written as ``\\boxed{ANSWER}``;
* ``cot``: ask for step-by-step reasoning, then the boxed answer;
* ``plain``: the problem text alone (for base models that continue text);
* ``short-direct`` / ``short-cot``: the plain one-line prompts above.

``minireason.io.chat_template`` is imported only when a chat prompt is built, so the
evaluation package does not need it otherwise.
"""

from __future__ import annotations

from minireason.errors import InputError

STYLES = ("direct", "cot")
PROMPT_FORMATS = ("plain", "chat")

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
# the plain format's instruction per style (the built-in models were trained on exactly these)
SHORT_INSTRUCTIONS = {"direct": "Answer directly.", "cot": "Think step by step."}
TEMPLATES = {
    "direct": DIRECT_TEMPLATE,
    "cot": CHAIN_OF_THOUGHT_TEMPLATE,
    "plain": "{problem}",
    "short-direct": "{problem} " + SHORT_INSTRUCTIONS["direct"] + "\n",
    "short-cot": "{problem} " + SHORT_INSTRUCTIONS["cot"] + "\n",
}
# the chat format's instruction per style (the wording Qwen3 was tuned with for math)
CHAT_INSTRUCTIONS = {
    "direct": "Put your final answer within \\boxed{}.",
    "cot": "Please reason step by step, and put your final answer within \\boxed{}.",
}
CHAT_STOP_STRINGS = ("<|im_end|>",)


def check_style(style: str) -> str:
    """``style`` if it is ``"direct"`` or ``"cot"``; InputError otherwise."""
    if style not in STYLES:
        raise InputError(f"prompt style: expected one of {STYLES}, got {style!r}")
    return style


def check_prompt_format(prompt_format: str) -> str:
    """``prompt_format`` if it is ``"plain"`` or ``"chat"``; InputError otherwise."""
    if prompt_format not in PROMPT_FORMATS:
        raise InputError(f"prompt format: expected one of {PROMPT_FORMATS}, got {prompt_format!r}")
    return prompt_format


def _check_problem(problem: str) -> str:
    if not isinstance(problem, str):
        raise InputError(f"prompt problem: expected str, got {type(problem).__name__}")
    return problem


def chat_prompt(user_text: str, thinking: bool) -> str:
    """``user_text`` as one user message in the Qwen3 chat template, then the assistant's turn.

    ``thinking=False`` pre-fills an empty ``<think></think>`` block (Qwen3's non-thinking mode).
    """
    from minireason.io.chat_template import render_chat

    return render_chat([{"role": "user", "content": user_text}], add_generation_prompt=True,
                       enable_thinking=thinking)


def plain_prompt(problem: str, style: str = "cot") -> str:
    """The one-line plain prompt: ``"Compute 4821+397. Think step by step.\\n"`` (or ``Answer directly.``)."""
    return TEMPLATES["short-" + check_style(style)].format(problem=_check_problem(problem))


def build_prompt(problem: str, style: str = "cot", prompt_format: str = "plain") -> str:
    """The prompt asking for ``problem``'s answer, directly (``style="direct"``) or step by step (``"cot"``).

    ``prompt_format="plain"`` for the built-in models, ``"chat"`` for Hugging Face checkpoints
    (the Qwen3 chat template, thinking on for ``"cot"`` and off for ``"direct"``); see the
    module docstring and :func:`default_prompt_format`.
    """
    check_style(style)
    if check_prompt_format(prompt_format) == "plain":
        return plain_prompt(problem, style)
    return chat_prompt(f"{_check_problem(problem)}\n{CHAT_INSTRUCTIONS[style]}", thinking=style == "cot")


def render_prompt(problem: str, template: str = "direct", chat: bool = False,
                  enable_thinking: bool = False) -> str:
    """The prompt text for one problem from a named evaluation template.

    ``template`` is a name in ``TEMPLATES``. With ``chat=True`` the filled template becomes a
    user message in the Qwen3 chat template, followed by the assistant's generation prompt;
    ``enable_thinking`` turns the ``<think>`` block on or off.
    """
    if template not in TEMPLATES:
        raise InputError(f"prompt template: expected one of {sorted(TEMPLATES)}, got {template!r}")
    text = TEMPLATES[template].format(problem=_check_problem(problem))
    return chat_prompt(text, thinking=enable_thinking) if chat else text


def stop_strings_for(prompt_format: str) -> tuple[str, ...]:
    """Text that ends a completion in this format (the chat turn's end marker), besides eos."""
    return CHAT_STOP_STRINGS if check_prompt_format(prompt_format) == "chat" else ()


def default_prompt_format(model_path: str) -> str:
    """``"plain"`` for the built-in models (trained on that format), ``"chat"`` for any other checkpoint."""
    return "plain" if str(model_path).startswith("builtin:") else "chat"
