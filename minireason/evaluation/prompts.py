"""The one prompt spec: every prompt a model of this project is sent, and the text that ends its answer.

``minireason eval``, the trainers' held-out evaluation, the synthetic tasks (and the data the
built-in models were trained on), inference-time scaling, the rollouts of GRPO, on-policy
distillation and teacher data all take their prompt text and stop strings from one
:class:`PromptSpec`, so a model is asked the same question in the same words wherever it is asked,
and its answer ends at the same marker.

Two *prompt formats*, because two kinds of model read them:

``"plain"``
    the one-line form the built-in models were trained on: the problem, then one short
    instruction, ``"Compute 4821+397. Think step by step.\\n"`` (chain of thought: the model
    writes a ``<think>`` trace, then the boxed answer) or ``"... Answer directly.\\n"``;
``"chat"``
    the Qwen3 chat template (:func:`minireason.io.chat_template.render_chat`) for Hugging Face
    checkpoints. Chain of thought is Qwen3's *thinking mode* (the model opens its own
    ``<think>`` block); a direct answer turns thinking off, which pre-fills an empty
    ``<think></think>`` block so the model answers at once. A chat answer ends at the turn's end
    marker (:data:`CHAT_STOP_STRINGS`), besides eos.

A spec names either a *style* (``"direct"`` or ``"cot"``: the short instruction above, or its
chat wording) or one of the longer evaluation ``TEMPLATES`` (``minireason eval --template``),
each a format string with one field, ``{problem}``:

* ``direct``: ask for the answer only, written as ``\\boxed{ANSWER}``;
* ``cot``: ask for step-by-step reasoning, then the boxed answer;
* ``plain``: the problem text alone (for base models that continue text);
* ``short-direct`` / ``short-cot``: the plain one-line prompts above.
"""

from __future__ import annotations

from dataclasses import dataclass

from minireason.errors import InputError
from minireason.io.chat_template import IM_END, render_chat

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
# the one place the chat turn's end marker becomes a stop string
CHAT_STOP_STRINGS = (IM_END,)


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
    return render_chat([{"role": "user", "content": user_text}], add_generation_prompt=True,
                       enable_thinking=thinking)


@dataclass(frozen=True)
class PromptSpec:
    """How a problem is put to a model: ``.text(problem)`` is the prompt, ``.stop_strings`` what ends the answer.

    style: ``"cot"`` or ``"direct"`` (see the module docstring); ignored when ``template`` is given.
    prompt_format: ``"plain"`` (the built-in models) or ``"chat"`` (Hugging Face checkpoints).
    template: None, or a name in ``TEMPLATES`` (the evaluation templates of ``minireason eval``).
    thinking: the chat format's thinking mode; None means on for ``style="cot"``, and off for a
    template (the evaluation templates' default). Has no effect in the plain format.
    """

    style: str = "cot"
    prompt_format: str = "plain"
    template: str | None = None
    thinking: bool | None = None

    def __post_init__(self):
        check_style(self.style)
        check_prompt_format(self.prompt_format)
        if self.template is not None and self.template not in TEMPLATES:
            raise InputError(f"prompt template: expected one of {sorted(TEMPLATES)}, got {self.template!r}")
        if self.thinking is not None and not isinstance(self.thinking, bool):
            raise InputError(f"prompt thinking: expected None or a bool, got {self.thinking!r}")

    @property
    def chat_thinking(self) -> bool:
        """Whether a chat prompt opens in thinking mode."""
        if self.thinking is not None:
            return self.thinking
        return self.template is None and self.style == "cot"

    def text(self, problem: str) -> str:
        """The prompt text asking for ``problem``'s answer."""
        _check_problem(problem)
        if self.template is not None:
            filled = TEMPLATES[self.template].format(problem=problem)
            return chat_prompt(filled, self.chat_thinking) if self.prompt_format == "chat" else filled
        if self.prompt_format == "plain":
            return TEMPLATES["short-" + self.style].format(problem=problem)
        return chat_prompt(f"{problem}\n{CHAT_INSTRUCTIONS[self.style]}", self.chat_thinking)

    def texts(self, problems) -> list[str]:
        """:meth:`text` of every problem."""
        return [self.text(problem) for problem in problems]

    @property
    def stop_strings(self) -> tuple[str, ...]:
        """Text that ends a completion in this format (the chat turn's end marker), besides eos."""
        return CHAT_STOP_STRINGS if self.prompt_format == "chat" else ()


def default_prompt_format(model_path: str) -> str:
    """``"plain"`` for the built-in models (trained on that format), ``"chat"`` for any other checkpoint."""
    return "plain" if str(model_path).startswith("builtin:") else "chat"
