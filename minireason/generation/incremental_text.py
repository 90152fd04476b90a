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

from minireason.io.tokenizer import IncrementalDecoder, Tokenizer

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
    if isinstance(tokenizer, Tokenizer):
        return IncrementalDecoder(tokenizer)
    return TextStreamDecoder(tokenizer)


class TrackedText:
    """The text of a growing token sequence, and where each token's text ends in it.

    ``push(token_id)`` returns the newly complete text (as the incremental decoders do) and records
    ``ends[i]``: the length of ``text`` once token i was pushed (a token whose bytes wait for the
    rest of a character ends where the previous one did). ``drop_last(count)`` forgets the last
    ``count`` tokens and their text; it re-decodes the kept tokens once (O(kept)), which is cheap
    next to the model and happens rarely (a thinking budget replacing a ``</think>``).
    """

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self._decoder = make_incremental_decoder(tokenizer)
        self.token_ids: list[int] = []
        self.ends: list[int] = []
        self.text = ""

    def push(self, token_id: int) -> str:
        delta = self._decoder.push(token_id)
        self.token_ids.append(int(token_id))
        if delta:
            self.text += delta
        self.ends.append(len(self.text))
        return delta

    def end_before(self, index: int) -> int:
        """Where the text of tokens before ``index`` ends (0 for the first token)."""
        return self.ends[index - 1] if index > 0 else 0

    def token_at(self, offset: int) -> int:
        """Index of the token whose text holds character ``offset`` (the first with ``ends[i] > offset``)."""
        index = len(self.ends)
        while index > 0 and self.ends[index - 1] > offset:
            index -= 1
        return index

    def drop_last(self, count: int) -> None:
        kept = self.token_ids[:len(self.token_ids) - count]
        self._decoder = make_incremental_decoder(self.tokenizer)
        self.token_ids, self.ends, self.text = [], [], ""
        for token_id in kept:
            self.push(token_id)

    def flush(self) -> str:
        """The held-back bytes of an unfinished character (as U+FFFD); nothing is pushed after this."""
        return self._decoder.flush()


def longest_partial_suffix(text: str, markers, longest: int | None = None) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of one of ``markers``
    (text that could still grow into a stop string or a ``</think>``); 0 when none."""
    if longest is None:
        longest = max((len(marker) for marker in markers), default=0)
    for length in range(min(len(text), longest - 1), 0, -1):
        suffix = text[-length:]
        if any(marker.startswith(suffix) for marker in markers):
            return length
    return 0
