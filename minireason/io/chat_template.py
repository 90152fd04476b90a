"""The Qwen3 chat format, written out in Python instead of a Jinja template.

Each message becomes ``<|im_start|>{role}\\n{content}<|im_end|>\\n``. A prompt for the model's
answer ends with ``<|im_start|>assistant\\n``; the model then writes its reasoning inside
``<think> ... </think>`` and the answer after it. With ``enable_thinking=False`` the prompt
already contains an empty reasoning block, ``<think>\\n\\n</think>\\n\\n``, so the model answers
directly. For example::

    <|im_start|>system
    You are a careful mathematician.<|im_end|>
    <|im_start|>user
    What is 2+3?<|im_end|>
    <|im_start|>assistant
    <think>
    2 plus 3 is 5.
    </think>

    5<|im_end|>

Like Qwen3's own template, the reasoning of assistant turns that come *before* the last user
message is dropped (it served its turn and would only fill the context); an assistant turn after
the last user message (the one being trained on, say) keeps its ``<think>`` block. The reasoning
is the text before ``</think>`` (after ``<think>`` if present); a message may also carry it
separately as ``reasoning_content``. Tool calls and tool schemas are not supported; ``tool``
results are rendered as Qwen3 renders them, inside a user turn.
"""

from __future__ import annotations

from collections.abc import Sequence

from minireason.errors import InputError

ROLES = ("system", "user", "assistant", "tool")
IM_START, IM_END = "<|im_start|>", "<|im_end|>"
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
EMPTY_THINKING = "<think>\n\n</think>\n\n"


def split_reasoning(content: str) -> tuple[str, str]:
    """``"<think>\\nwhy\\n</think>\\n\\nanswer"`` -> ``("why", "answer")``; no ``</think>``: ``("", content)``."""
    if THINK_CLOSE not in content:
        return "", content
    before, after = content.split(THINK_CLOSE, 1)[0], content.split(THINK_CLOSE)[-1]
    reasoning = before.rstrip("\n").split(THINK_OPEN)[-1].lstrip("\n")
    return reasoning, after.lstrip("\n")


def _check_messages(messages: Sequence[dict]) -> None:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise InputError(f"chat template: argument 'messages': expected a list of dicts, got {type(messages).__name__}")
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InputError(f"chat template: messages[{index}]: expected a dict, got {type(message).__name__}")
        role = message.get("role")
        if role not in ROLES:
            raise InputError(f"chat template: messages[{index}]['role']: expected one of {list(ROLES)}, got {role!r}")
        content = message.get("content")
        if not isinstance(content, str):
            raise InputError(
                f"chat template: messages[{index}]['content']: expected a string, got {type(content).__name__}"
            )
        reasoning = message.get("reasoning_content")
        if reasoning is not None and not isinstance(reasoning, str):
            raise InputError(
                f"chat template: messages[{index}]['reasoning_content']: expected a string, "
                f"got {type(reasoning).__name__}"
            )
        if message.get("tool_calls"):
            raise InputError(f"chat template: messages[{index}]: tool_calls are not supported")


def _last_user_index(messages: Sequence[dict]) -> int:
    """Index of the last real user question (tool results wrapped as user turns do not count)."""
    for index in range(len(messages) - 1, -1, -1):
        content = messages[index]["content"]
        is_tool_response = content.startswith("<tool_response>") and content.endswith("</tool_response>")
        if messages[index]["role"] == "user" and not is_tool_response:
            return index
    return len(messages) - 1


def render_chat(messages: Sequence[dict], add_generation_prompt: bool = True, enable_thinking: bool = True) -> str:
    """The Qwen3 prompt text for ``messages`` (dicts with ``role`` and ``content``)."""
    _check_messages(messages)
    last_user = _last_user_index(messages)
    parts: list[str] = []
    for index, message in enumerate(messages):
        role, content = message["role"], message["content"]
        if role in ("system", "user"):
            parts.append(f"{IM_START}{role}\n{content}{IM_END}\n")
        elif role == "assistant":
            reasoning = message.get("reasoning_content")
            if reasoning is None:
                reasoning, content = split_reasoning(content)
            is_last = index == len(messages) - 1
            if index > last_user and (is_last or reasoning):
                body = f"{THINK_OPEN}\n{reasoning.strip(chr(10))}\n{THINK_CLOSE}\n\n{content.lstrip(chr(10))}"
            else:
                body = content  # earlier turns: the reasoning is dropped
            parts.append(f"{IM_START}assistant\n{body}{IM_END}\n")
        else:  # tool: consecutive tool results share one user turn
            if index == 0 or messages[index - 1]["role"] != "tool":
                parts.append(f"{IM_START}user")
            parts.append(f"\n<tool_response>\n{content}\n</tool_response>")
            if index == len(messages) - 1 or messages[index + 1]["role"] != "tool":
                parts.append(f"{IM_END}\n")
    if add_generation_prompt:
        parts.append(f"{IM_START}assistant\n")
        if not enable_thinking:
            parts.append(EMPTY_THINKING)
    return "".join(parts)
