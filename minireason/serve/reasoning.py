"""Splitting a streamed chat answer into its reasoning (``<think> ... </think>``) and its content.

The server returns the two apart, as ``reasoning_content`` and ``content`` (vLLM's reasoning parser
for Qwen3 does the same). Text arrives in pieces and a marker can be split between two of them, so
a tail that could still become a marker is held back until the next piece decides it. The markers
and the newlines around them belong to neither part: ``"<think>\\nwhy\\n</think>\\n\\nanswer"`` gives
``"why"`` and ``"answer"``, as ``chat_template.split_reasoning`` does for a whole message. An answer
that does not open with ``<think>`` is all content; a ``<think>`` never closed is all reasoning.
"""

from __future__ import annotations

from minireason.generation.incremental_text import longest_partial_suffix
from minireason.io.chat_template import THINK_CLOSE, THINK_OPEN

REASONING, CONTENT = "reasoning_content", "content"


class ReasoningSplitter:
    """``feed(piece)`` and ``finish()`` return [(field, text), ...] with field REASONING or CONTENT;
    every piece fed comes out once, in order, less the markers and the newlines around them."""

    def __init__(self, thinking: bool = True):
        self.phase = "start" if thinking else CONTENT  # start: a <think> may still open the answer
        self.buffer = ""
        self.part_started = False  # the current part has shown text (its leading newlines are dropped)

    def feed(self, piece: str) -> list[tuple[str, str]]:
        """The parts of ``piece`` (with what was held back before it) that are certain now."""
        self.buffer += piece
        out: list[tuple[str, str]] = []
        if self.phase == "start":
            opening = self.buffer.lstrip("\n")
            if opening.startswith(THINK_OPEN):
                self.buffer, self.phase = opening[len(THINK_OPEN):], REASONING
            elif THINK_OPEN.startswith(opening):  # empty, or the start of the marker: wait
                return out
            else:
                self.phase = CONTENT
        if self.phase == REASONING:
            at = self.buffer.find(THINK_CLOSE)
            if at >= 0:
                self._emit(out, self.buffer[:at].rstrip("\n"))
                self.buffer, self.phase, self.part_started = self.buffer[at + len(THINK_CLOSE):], CONTENT, False
            else:
                held = longest_partial_suffix(self.buffer, (THINK_CLOSE,))
                shown = self.buffer[:len(self.buffer) - held]
                shown_now = shown.rstrip("\n")  # trailing newlines wait: they may come right before </think>
                self._emit(out, shown_now)
                self.buffer = self.buffer[len(shown_now):]
                return out
        self._emit(out, self.buffer)
        self.buffer = ""
        return out

    def finish(self) -> list[tuple[str, str]]:
        """What is still held back; the answer has ended."""
        out: list[tuple[str, str]] = []
        if self.phase == "start":
            self.phase = CONTENT
        self._emit(out, self.buffer.rstrip("\n") if self.phase == REASONING else self.buffer)
        self.buffer = ""
        return out

    def _emit(self, out: list, text: str) -> None:
        if not self.part_started:
            text = text.lstrip("\n")
        if text:
            self.part_started = True
            out.append((self.phase, text))
