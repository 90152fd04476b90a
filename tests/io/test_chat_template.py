"""Tests of the Qwen3 chat format; expected strings are written out by hand from Qwen3's template."""

from __future__ import annotations

import pytest

from minireason.errors import InputError
from minireason.io.chat_template import render_chat, split_reasoning


def test_single_user_turn_with_and_without_thinking():
    messages = [{"role": "user", "content": "What is 2+3?"}]
    assert render_chat(messages) == "<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n"
    assert render_chat(messages, enable_thinking=False) == (
        "<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    )
    assert render_chat(messages, add_generation_prompt=False) == "<|im_start|>user\nWhat is 2+3?<|im_end|>\n"


def test_system_message_goes_first():
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert render_chat(messages) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )


def test_earlier_assistant_turns_lose_their_reasoning():
    messages = [
        {"role": "user", "content": "2+3?"},
        {"role": "assistant", "content": "<think>\nadd them\n</think>\n\n5"},
        {"role": "user", "content": "times 2?"},
    ]
    assert render_chat(messages) == (
        "<|im_start|>user\n2+3?<|im_end|>\n"
        "<|im_start|>assistant\n5<|im_end|>\n"
        "<|im_start|>user\ntimes 2?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_final_assistant_turn_keeps_its_reasoning():
    # a training example: the answer after the last question keeps its <think> block
    messages = [
        {"role": "user", "content": "2+3?"},
        {"role": "assistant", "content": "<think>\nadd them\n</think>\n\n5"},
    ]
    assert render_chat(messages, add_generation_prompt=False) == (
        "<|im_start|>user\n2+3?<|im_end|>\n<|im_start|>assistant\n<think>\nadd them\n</think>\n\n5<|im_end|>\n"
    )
    # reasoning given separately, and an answer with no reasoning at all
    separate = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "reasoning_content": "r"}]
    assert render_chat(separate, add_generation_prompt=False).endswith(
        "<|im_start|>assistant\n<think>\nr\n</think>\n\na<|im_end|>\n")
    plain = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    assert render_chat(plain, add_generation_prompt=False).endswith(
        "<|im_start|>assistant\n<think>\n\n</think>\n\na<|im_end|>\n")


def test_tool_results_share_one_user_turn():
    messages = [{"role": "user", "content": "q"}, {"role": "tool", "content": "r1"}, {"role": "tool", "content": "r2"}]
    assert render_chat(messages, add_generation_prompt=False) == (
        "<|im_start|>user\nq<|im_end|>\n"
        "<|im_start|>user\n<tool_response>\nr1\n</tool_response>\n<tool_response>\nr2\n</tool_response><|im_end|>\n"
    )


def test_split_reasoning():
    assert split_reasoning("<think>\nwhy\n</think>\n\nanswer") == ("why", "answer")
    assert split_reasoning("no tags") == ("", "no tags")
    assert split_reasoning("why</think>answer") == ("why", "answer")


@pytest.mark.parametrize("messages, named", [
    ([{"role": "robot", "content": "x"}], "role"),
    ([{"role": "user"}], "content"),
    ([{"role": "user", "content": 3}], "content"),
    (["hello"], "messages\\[0\\]"),
    ("hello", "messages"),
    ([{"role": "assistant", "content": "x", "tool_calls": [{"name": "f"}]}], "tool_calls"),
])
def test_bad_messages_raise_naming_the_field(messages, named):
    with pytest.raises(InputError, match=named):
        render_chat(messages)
