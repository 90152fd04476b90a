"""Turning a stream of token ids into a stream of text that never splits a character.

A byte-level BPE token can end in the middle of a multi-byte UTF-8 character ("é" is two bytes, an
emoji four), and decoding such a prefix gives the replacement character U+FFFD. Streaming must hold
those bytes back until the character is complete.

``TextStreamDecoder`` works with any tokenizer that has ``decode(ids) -> str``: it decodes a short
window of recent ids twice, without and with the newest ones, and emits the difference once it no
longer ends in U+FFFD. The window restarts after every emitted piece, so each push costs O(window),
not O(everything generated). (Hugging Face text-generation-inference streams the same way.)
``make_incremental_decoder`` prefers the tokenizer's own byte-exact ``IncrementalDecoder`` when the
tokenizer is minireason's ``Tokenizer``.
"""

from __future__ import annotations

REPLACEMENT_CHARACTER = "\ufffd"


class TextStreamDecoder:
    """push(token_id) -> the new complete text (maybe ""); flush() -> whatever is held back."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.token_ids: list[int] = []
        self.prefix_offset = 0  # window start: ids before it are already emitted
        self.read_offset = 0  # ids in [prefix_offset, read_offset) are emitted, kept for context

    def push(self, token_id: int) -> str:
        self.token_ids.append(int(token_id))
        emitted = self.tokenizer.decode(self.token_ids[self.prefix_offset:self.read_offset])
        window = self.tokenizer.decode(self.token_ids[self.prefix_offset:])
        if len(window) > len(emitted) and not window.endswith(REPLACEMENT_CHARACTER):
            self.prefix_offset, self.read_offset = self.read_offset, len(self.token_ids)
            return window[len(emitted):]
        return ""

    def flush(self) -> str:
        """The held-back rest (an incomplete character decodes to U+FFFD); the decoder is then empty."""
        emitted = self.tokenizer.decode(self.token_ids[self.prefix_offset:self.read_offset])
        window = self.tokenizer.decode(self.token_ids[self.prefix_offset:])
        self.token_ids, self.prefix_offset, self.read_offset = [], 0, 0
        return window[len(emitted):]


def make_incremental_decoder(tokenizer):
    """The tokenizer's own IncrementalDecoder if it is minireason's Tokenizer, else a TextStreamDecoder."""
    try:
        from minireason.io.tokenizer import IncrementalDecoder, Tokenizer
    except ImportError:
        return TextStreamDecoder(tokenizer)
    if isinstance(tokenizer, Tokenizer):
        return IncrementalDecoder(tokenizer)
    return TextStreamDecoder(tokenizer)
