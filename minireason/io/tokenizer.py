"""Byte-level BPE tokenizer, as Qwen2/Qwen3 ``tokenizer.json`` files describe it.

A ``tokenizer.json`` (the Hugging Face ``tokenizers`` format) names a pipeline. For Qwen it is::

    text
     │ 1. added tokens      "<|im_start|>", "<|im_end|>", ... are cut out first and map to one id each
     │ 2. normalizer        NFC: canonical composition, so "e" + U+0301 and "é" encode alike
     │ 3. pre-tokenizer     Split with a regular expression (words, single digits, punctuation runs,
     │                      whitespace runs), then ByteLevel: each piece's UTF-8 bytes become
     │                      printable characters (byte 0x20 " " becomes "Ġ", 0x0A "\\n" becomes "Ċ")
     │ 4. model             BPE: start from single bytes, apply merges lowest rank first
     ▼
    token ids ──decoder (ByteLevel: characters back to bytes, bytes to UTF-8)──▶ text

This module reads that description and refuses, with a ``TokenizerError`` naming the component,
anything it does not implement, so that it never encodes differently from ``tokenizers`` in silence.
Every component supported here is checked token for token against ``tokenizers`` in
``tests/io/test_tokenizer.py``. The guide is ``docs/tokenizer.md``.
"""

from __future__ import annotations

import codecs
import copy
import heapq
import json
import operator
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import regex

from minireason.atomic import atomic_write_text
from minireason.errors import InputError, TokenizerError
from minireason.io.chat_template import render_chat

# The Qwen2/Qwen3 pre-tokenizer pattern: contractions, a word with at most one leading
# non-letter (usually a space), one digit at a time, punctuation runs, and whitespace runs.
QWEN_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# The GPT-2 pattern, used by a ByteLevel pre-tokenizer with ``use_regex: true``.
GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"

# Characters for which Rust's ``char::is_whitespace`` is true (the Unicode White_Space property);
# ``tokenizers`` uses it for the lstrip/rstrip of added tokens. Python's ``str.isspace`` differs
# (it also accepts U+001C..U+001F), so the set is spelled out.
WHITE_SPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)

_CACHE_LIMIT = 100_000  # merge-cache entries before the cache is cleared
_CACHE_MAX_WORD = 256  # longer pre-tokens are not cached (rare, and each would hold much memory)


def bytes_to_unicode() -> dict[int, str]:
    """The byte -> character table of byte-level BPE (GPT-2, Qwen).

    BPE vocabularies are stored as JSON strings, and merges as space-separated pairs, so every
    byte needs a visible, non-space character. Bytes that are already printable Latin-1
    (``!``..``~``, ``¡``..``¬``, ``®``..``ÿ``) stand for themselves; the other 68 (controls, space,
    DEL, NBSP, soft hyphen) take the characters U+0100, U+0101, ... in byte order. So space
    (0x20, the 33rd such byte) becomes U+0120 "Ġ" and newline (0x0A) becomes U+010A "Ċ".
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {byte: chr(byte) for byte in printable}
    next_free = 256
    for byte in range(256):
        if byte not in table:
            table[byte] = chr(next_free)
            next_free += 1
    return table


BYTE_TO_CHAR = bytes_to_unicode()
CHAR_TO_BYTE = {char: byte for byte, char in BYTE_TO_CHAR.items()}
# str.translate table: a string decoded as Latin-1 (one char per byte, ord == byte) -> byte-level chars
_LATIN1_TO_BYTE_LEVEL = {byte: char for byte, char in BYTE_TO_CHAR.items()}


def byte_level_encode(text: str) -> str:
    """``text``'s UTF-8 bytes written with the byte-level alphabet: ``" hi\\n"`` -> ``"ĠhiĊ"``."""
    return text.encode("utf-8").decode("latin-1").translate(_LATIN1_TO_BYTE_LEVEL)


def token_bytes(token: str) -> bytes:
    """The bytes a token stands for, as the ByteLevel decoder of ``tokenizers`` computes them.

    A token made only of byte-level characters maps back char by char. A token with any other
    character (an added token such as ``"hello world"``, whose space is not in the alphabet) is
    taken as its own UTF-8 text.
    """
    try:
        return bytes(CHAR_TO_BYTE[char] for char in token)
    except KeyError:
        return token.encode("utf-8")


# ---------------------------------------------------------------------------------------------
# small pieces of the pipeline


@dataclass(frozen=True)
class AddedToken:
    """A token matched in the raw text before anything else (``added_tokens`` in tokenizer.json).

    ``special`` tokens (``<|im_end|>``) can be skipped when decoding; ``normalized`` tokens are
    matched after normalization; ``lstrip``/``rstrip`` let the token swallow the whitespace on its
    left/right; ``single_word`` tokens only match when not inside a word.
    """

    id: int
    content: str
    special: bool = False
    lstrip: bool = False
    rstrip: bool = False
    single_word: bool = False
    normalized: bool = False


def _fail(source: str, field: str, expected: str, got) -> TokenizerError:
    return TokenizerError(f"{source}: field {field!r}: expected {expected}, got {got!r}")


def _check_keys(obj, source: str, field: str, allowed: set[str]) -> None:
    if not isinstance(obj, dict):
        raise _fail(source, field, "a JSON object", obj)
    unknown = set(obj) - allowed
    if unknown:
        raise TokenizerError(
            f"{source}: field {field!r} has option(s) {sorted(unknown)} this tokenizer does not implement "
            f"(known: {sorted(allowed)})"
        )


def _flag(obj: dict, key: str, source: str, field: str, default: bool = False) -> bool:
    value = obj.get(key, default)
    if not isinstance(value, bool):
        raise _fail(source, f"{field}.{key}", "true or false", value)
    return value


_NORMAL_FORMS = {"NFC", "NFD", "NFKC", "NFKD"}


def _parse_normalizer(spec, source: str, field: str = "normalizer") -> list[str]:
    """A normalizer spec -> the list of Unicode normal forms to apply in order."""
    if spec is None:
        return []
    if not isinstance(spec, dict) or "type" not in spec:
        raise _fail(source, field, "null or an object with a 'type'", spec)
    kind = spec["type"]
    if kind in _NORMAL_FORMS:
        _check_keys(spec, source, field, {"type"})
        return [kind]
    if kind == "Sequence":
        _check_keys(spec, source, field, {"type", "normalizers"})
        parts = spec.get("normalizers")
        if not isinstance(parts, list):
            raise _fail(source, f"{field}.normalizers", "a list", parts)
        forms: list[str] = []
        for index, part in enumerate(parts):
            forms += _parse_normalizer(part, source, f"{field}.normalizers[{index}]")
        return forms
    raise TokenizerError(
        f"{source}: unsupported normalizer type {kind!r} at {field!r} "
        f"(supported: {sorted(_NORMAL_FORMS | {'Sequence'})} or null)"
    )


_SPLIT_BEHAVIORS = {"Isolated", "Removed", "MergedWithPrevious", "MergedWithNext", "Contiguous"}


@dataclass(frozen=True)
class SplitStep:
    """``Split`` pre-tokenizer: cut a piece at the matches of ``pattern``.

    ``behavior`` says what happens to the matches: ``Isolated`` keeps each match as its own
    piece (what Qwen uses), ``Removed`` drops them, ``MergedWithPrevious``/``MergedWithNext``
    glue them to a neighbour, ``Contiguous`` joins runs of adjacent pieces of the same kind.
    ``invert`` swaps the roles of matches and the text between them.
    """

    pattern: regex.Pattern
    behavior: str
    invert: bool

    def __call__(self, text: str) -> list[str]:
        if self.behavior == "Isolated" and not self.invert and self.pattern.groups == 0:
            # fast path: when the matches tile the whole text (true of Qwen's pattern, whose last
            # alternatives catch every whitespace run) the pieces are just the matches
            matches = self.pattern.findall(text)
            if sum(map(len, matches)) == len(text):
                return [match for match in matches if match]
        spans: list[tuple[int, int, bool]] = []  # (start, end, is_delimiter)
        position = 0
        for match in self.pattern.finditer(text):
            start, end = match.span()
            if start == end:
                continue
            if start > position:
                spans.append((position, start, self.invert))
            spans.append((start, end, not self.invert))
            position = end
        if position < len(text):
            spans.append((position, len(text), self.invert))

        merged: list[list] = []  # [start, end, is_delimiter]
        if self.behavior == "Isolated":
            merged = [list(span) for span in spans]
        elif self.behavior == "Removed":
            merged = [list(span) for span in spans if not span[2]]
        elif self.behavior == "Contiguous":  # runs of pieces of the same kind become one
            for start, end, is_delimiter in spans:
                if merged and is_delimiter == merged[-1][2]:
                    merged[-1][1] = end
                else:
                    merged.append([start, end, is_delimiter])
        elif self.behavior == "MergedWithPrevious":
            previous_was_delimiter = False
            for start, end, is_delimiter in spans:
                if is_delimiter and not previous_was_delimiter and merged:
                    merged[-1][1] = end
                else:
                    merged.append([start, end, is_delimiter])
                previous_was_delimiter = is_delimiter
        else:  # MergedWithNext
            previous_was_delimiter = False
            for start, end, is_delimiter in reversed(spans):
                if is_delimiter and not previous_was_delimiter and merged:
                    merged[-1][0] = start
                else:
                    merged.append([start, end, is_delimiter])
                previous_was_delimiter = is_delimiter
            merged.reverse()
        return [text[start:end] for start, end, _ in merged if end > start]


@dataclass(frozen=True)
class ByteLevelStep:
    """``ByteLevel`` pre-tokenizer: optionally prefix a space, optionally split with the GPT-2
    pattern, then write each piece's bytes with the byte-level alphabet."""

    add_prefix_space: bool
    use_regex: bool

    def __call__(self, text: str) -> list[str]:
        if self.add_prefix_space and not text.startswith(" "):
            text = " " + text
        pieces = _GPT2_REGEX.findall(text) if self.use_regex else [text]
        return [byte_level_encode(piece) for piece in pieces if piece]


_GPT2_REGEX = regex.compile(GPT2_PATTERN)


def _compile_pattern(spec, source: str, field: str) -> regex.Pattern:
    if not isinstance(spec, dict) or len(spec) != 1:
        raise _fail(source, field, "{'Regex': ...} or {'String': ...}", spec)
    (kind, value), = spec.items()
    if not isinstance(value, str) or kind not in ("Regex", "String"):
        raise _fail(source, field, "{'Regex': str} or {'String': str}", spec)
    if kind == "String":
        return regex.compile(regex.escape(value))
    try:
        return regex.compile(value)
    except regex.error as error:
        raise TokenizerError(f"{source}: field {field!r}: cannot compile regular expression: {error}") from error


def _parse_pre_tokenizer(spec, source: str) -> list[Callable[[str], list[str]]]:
    """A pre_tokenizer spec -> steps, each mapping a piece to pieces; the last one is ByteLevel."""
    if not isinstance(spec, dict) or "type" not in spec:
        raise _fail(source, "pre_tokenizer", "an object with a 'type' (byte-level BPE needs ByteLevel)", spec)
    if spec["type"] == "Sequence":
        _check_keys(spec, source, "pre_tokenizer", {"type", "pretokenizers"})
        parts = spec.get("pretokenizers")
        if not isinstance(parts, list):
            raise _fail(source, "pre_tokenizer.pretokenizers", "a list", parts)
        fields = [f"pre_tokenizer.pretokenizers[{index}]" for index in range(len(parts))]
    else:
        parts, fields = [spec], ["pre_tokenizer"]

    steps: list[Callable[[str], list[str]]] = []
    for part, field in zip(parts, fields):
        kind = part.get("type") if isinstance(part, dict) else None
        if steps and isinstance(steps[-1], ByteLevelStep):
            raise TokenizerError(f"{source}: {field!r}: nothing may follow the ByteLevel pre-tokenizer, got {kind!r}")
        if kind == "Split":
            _check_keys(part, source, field, {"type", "pattern", "behavior", "invert"})
            behavior = part.get("behavior")
            if behavior not in _SPLIT_BEHAVIORS:
                raise _fail(source, f"{field}.behavior", f"one of {sorted(_SPLIT_BEHAVIORS)}", behavior)
            pattern = _compile_pattern(part.get("pattern"), source, f"{field}.pattern")
            steps.append(SplitStep(pattern, behavior, _flag(part, "invert", source, field)))
        elif kind == "ByteLevel":
            _check_keys(part, source, field, {"type", "add_prefix_space", "trim_offsets", "use_regex"})
            steps.append(
                ByteLevelStep(
                    add_prefix_space=_flag(part, "add_prefix_space", source, field, default=True),
                    use_regex=_flag(part, "use_regex", source, field, default=True),
                )
            )
        else:
            raise TokenizerError(
                f"{source}: unsupported pre-tokenizer type {kind!r} at {field!r} "
                "(supported: Split, ByteLevel, and a Sequence of them ending with ByteLevel)"
            )
    if not steps or not isinstance(steps[-1], ByteLevelStep):
        raise TokenizerError(f"{source}: field 'pre_tokenizer': a byte-level BPE pipeline must end with ByteLevel")
    return steps


def _parse_post_processor(spec, source: str, field: str = "post_processor") -> list[tuple[str, int]]:
    """A post_processor spec -> the (position, id) list of tokens ``add_special_tokens`` wraps
    around a single sequence: position "before" or "after". ByteLevel only fixes offsets: no tokens."""
    if spec is None:
        return []
    kind = spec.get("type") if isinstance(spec, dict) else None
    if kind == "ByteLevel":
        return []
    if kind == "Sequence":
        wrapped: list[tuple[str, int]] = []
        for index, part in enumerate(spec.get("processors") or []):
            wrapped += _parse_post_processor(part, source, f"{field}.processors[{index}]")
        return wrapped
    if kind == "TemplateProcessing":
        special = spec.get("special_tokens") or {}
        wrapped = []
        seen_sequence = False
        for item in spec.get("single") or []:
            if isinstance(item, dict) and "Sequence" in item:
                seen_sequence = True
            elif isinstance(item, dict) and "SpecialToken" in item:
                name = item["SpecialToken"].get("id")
                if name not in special or not isinstance(special[name].get("ids"), list):
                    raise _fail(source, f"{field}.special_tokens", f"an entry for {name!r}", special)
                for token_id in special[name]["ids"]:
                    wrapped.append(("after" if seen_sequence else "before", int(token_id)))
            else:
                raise _fail(source, f"{field}.single", "Sequence or SpecialToken items", item)
        return wrapped
    raise TokenizerError(
        f"{source}: unsupported post-processor type {kind!r} at {field!r} "
        "(supported: ByteLevel, TemplateProcessing, Sequence, null)"
    )


# ---------------------------------------------------------------------------------------------
# the BPE model


class BPEModel:
    """Byte-pair encoding of one pre-token.

    ``merges`` maps a pair of ids to ``(rank, merged id)``. A pre-token starts as one symbol per
    character; then, repeatedly, the adjacent pair with the lowest rank (the leftmost one on a
    tie) is merged, until no adjacent pair has a merge. This is the order ``tokenizers`` uses
    (a priority queue of (rank, position)); it differs from "merge every occurrence of the best
    pair" only for unusual merge tables, and the tests hold it to ``tokenizers`` on those too.
    """

    def __init__(self, vocab: dict[str, int], merges: dict[tuple[int, int], tuple[int, int]],
                 ignore_merges: bool = False, unk_token: str | None = None, fuse_unk: bool = False):
        self.vocab = vocab
        self.merges = merges
        self.ignore_merges = ignore_merges
        self.unk_id = vocab[unk_token] if unk_token is not None else None
        self.fuse_unk = fuse_unk

    def encode_word(self, word: str) -> list[int]:
        """Ids of one byte-level pre-token (the Tokenizer memoises the results)."""
        if self.ignore_merges and word in self.vocab:
            return [self.vocab[word]]
        return self._merge(self._initial_symbols(word))

    def _initial_symbols(self, word: str) -> list[int]:
        """One id per character. A character missing from the vocabulary becomes the unknown
        token when there is one (runs fused into one if ``fuse_unk``) and is dropped otherwise,
        as in ``tokenizers``. With the full 256-byte alphabet nothing is ever missing."""
        symbols: list[int] = []
        previous_unknown = False
        for char in word:
            token_id = self.vocab.get(char)
            if token_id is not None:
                symbols.append(token_id)
                previous_unknown = False
            elif self.unk_id is not None:
                if not (self.fuse_unk and previous_unknown):
                    symbols.append(self.unk_id)
                previous_unknown = True
        return symbols

    def _merge(self, symbols: list[int]) -> list[int]:
        count = len(symbols)
        if count < 2:
            return symbols
        merges = self.merges
        # a doubly linked list over the original positions; a merged-away symbol gets None
        ids: list[int | None] = list(symbols)
        next_of = list(range(1, count)) + [-1]
        previous_of = list(range(-1, count - 1))
        queue: list[tuple[int, int, int]] = []  # (rank, position of left symbol, merged id)
        for position in range(count - 1):
            merge = merges.get((symbols[position], symbols[position + 1]))
            if merge is not None:
                queue.append((merge[0], position, merge[1]))
        heapq.heapify(queue)
        while queue:
            rank, position, merged_id = heapq.heappop(queue)
            right = next_of[position]
            if ids[position] is None or right == -1:
                continue
            current = merges.get((ids[position], ids[right]))
            if current is None or current[1] != merged_id:
                continue  # a stale entry: one of the two symbols has changed since it was queued
            ids[position] = merged_id
            ids[right] = None
            after = next_of[right]
            next_of[position] = after
            if after != -1:
                previous_of[after] = position
            before = previous_of[position]
            if before != -1:
                merge = merges.get((ids[before], merged_id))
                if merge is not None:
                    heapq.heappush(queue, (merge[0], before, merge[1]))
            if after != -1:
                merge = merges.get((merged_id, ids[after]))
                if merge is not None:
                    heapq.heappush(queue, (merge[0], position, merge[1]))
        return [token_id for token_id in ids if token_id is not None]


def _parse_model(spec, source: str) -> BPEModel:
    field = "model"
    if not isinstance(spec, dict):
        raise _fail(source, field, "an object", spec)
    if spec.get("type", "BPE") != "BPE":
        raise TokenizerError(f"{source}: unsupported model type {spec.get('type')!r} at 'model' (supported: BPE)")
    _check_keys(spec, source, field, {"type", "dropout", "unk_token", "continuing_subword_prefix",
                                      "end_of_word_suffix", "fuse_unk", "byte_fallback", "ignore_merges",
                                      "vocab", "merges"})
    if spec.get("dropout") not in (None, 0, 0.0):
        raise _fail(source, "model.dropout", "null (BPE dropout is not implemented)", spec.get("dropout"))
    for key in ("continuing_subword_prefix", "end_of_word_suffix"):
        if spec.get(key) not in (None, ""):
            raise _fail(source, f"model.{key}", "null or '' (byte-level BPE uses none)", spec.get(key))
    if _flag(spec, "byte_fallback", source, field):
        raise _fail(source, "model.byte_fallback", "false (byte fallback is for SentencePiece-style BPE)", True)

    vocab = spec.get("vocab")
    if not isinstance(vocab, dict):
        raise _fail(source, "model.vocab", "an object token -> id", type(vocab).__name__)
    seen_ids: dict[int, str] = {}
    for token, token_id in vocab.items():
        if not isinstance(token_id, int) or isinstance(token_id, bool) or token_id < 0:
            raise _fail(source, f"model.vocab[{token!r}]", "a non-negative integer id", token_id)
        if token_id in seen_ids:
            raise _fail(source, f"model.vocab[{token!r}]", f"a unique id (id {token_id} is also {seen_ids[token_id]!r})",
                        token_id)
        seen_ids[token_id] = token

    unk_token = spec.get("unk_token")
    if unk_token is not None and unk_token not in vocab:
        raise _fail(source, "model.unk_token", "a token of model.vocab", unk_token)

    raw_merges = spec.get("merges", [])
    if not isinstance(raw_merges, list):
        raise _fail(source, "model.merges", "a list", type(raw_merges).__name__)
    merges: dict[tuple[int, int], tuple[int, int]] = {}
    for rank, entry in enumerate(raw_merges):
        if isinstance(entry, str):
            parts = entry.split(" ")
        elif isinstance(entry, list):
            parts = entry
        else:
            parts = None
        if parts is None or len(parts) != 2 or not all(isinstance(part, str) for part in parts):
            raise _fail(source, f"model.merges[{rank}]", "'left right' or ['left', 'right']", entry)
        left, right = parts
        for part in (left, right, left + right):
            if part not in vocab:
                raise _fail(source, f"model.merges[{rank}]", f"tokens of model.vocab ({part!r} is not one)", entry)
        merges[(vocab[left], vocab[right])] = (rank, vocab[left + right])  # a repeated pair keeps its last rank
    return BPEModel(dict(vocab), merges, ignore_merges=_flag(spec, "ignore_merges", source, field),
                    unk_token=unk_token, fuse_unk=_flag(spec, "fuse_unk", source, field))


def _parse_added_tokens(spec, source: str) -> list[AddedToken]:
    if spec is None:
        return []
    if not isinstance(spec, list):
        raise _fail(source, "added_tokens", "a list", type(spec).__name__)
    tokens = []
    for index, entry in enumerate(spec):
        field = f"added_tokens[{index}]"
        _check_keys(entry, source, field, {"id", "content", "special", "lstrip", "rstrip", "single_word", "normalized"})
        token_id, content = entry.get("id"), entry.get("content")
        if not isinstance(token_id, int) or isinstance(token_id, bool) or token_id < 0:
            raise _fail(source, f"{field}.id", "a non-negative integer", token_id)
        if not isinstance(content, str) or not content:
            raise _fail(source, f"{field}.content", "a non-empty string", content)
        special = _flag(entry, "special", source, field)
        tokens.append(AddedToken(
            id=token_id, content=content, special=special,
            lstrip=_flag(entry, "lstrip", source, field), rstrip=_flag(entry, "rstrip", source, field),
            single_word=_flag(entry, "single_word", source, field),
            # tokenizers' default: special tokens are matched on the raw text, others after normalization
            normalized=_flag(entry, "normalized", source, field, default=not special),
        ))
    return tokens


def _check_added_token_ids(tokens: list[AddedToken], vocab: dict[str, int], source: str) -> None:
    """Reject added-token ids that ``tokenizers`` would not give.

    ``tokenizers`` does not take the ids in ``added_tokens`` on trust: a token already in the BPE
    vocabulary keeps its vocabulary id, and every other one gets the next id after the vocabulary
    (``len(vocab)``) and the added tokens before it. Files written by ``tokenizers`` (Qwen's
    included) always agree; a file that does not would encode differently here and there, so
    it is refused.
    """
    assigned: dict[str, int] = {}
    for index, token in enumerate(tokens):
        if token.content in assigned:
            raise _fail(source, f"added_tokens[{index}].content", "a token not listed before", token.content)
        if token.content in vocab:
            expected = vocab[token.content]
        elif not assigned:
            expected = len(vocab)
        else:
            largest = max(assigned.values())
            expected = largest + 1 if largest >= len(vocab) or not vocab else len(vocab)
        if token.id != expected:
            raise _fail(source, f"added_tokens[{index}].id",
                        f"{expected} for {token.content!r} (the id tokenizers assigns: after the "
                        f"{len(vocab)} vocabulary entries and the added tokens before it)", token.id)
        assigned[token.content] = expected


def _is_word_character(char: str) -> bool:
    return char.isalnum() or char == "_"


def _split_on_added(text: str, matcher: re.Pattern | None, by_content: dict[str, AddedToken]) -> list[tuple[str, int | None]]:
    """Cut ``text`` at occurrences of added tokens: a list of (piece, id), id None for plain text.

    ``matcher`` is an alternation of the tokens, longest first, so each match is the leftmost,
    and among those the longest, occurrence: the rule of ``tokenizers`` (Aho-Corasick, leftmost
    longest). ``lstrip``/``rstrip`` widen a match over neighbouring whitespace (which is then
    dropped from the text, as in ``tokenizers``); ``single_word`` rejects a match touching a word.
    """
    if matcher is None or not text:
        return [(text, None)] if text else []
    pieces: list[tuple[str, int | None]] = []
    taken = 0  # text before this offset is already in `pieces`
    for match in matcher.finditer(text):
        start, end = match.span()
        token = by_content[match.group()]
        if token.single_word:
            touches_word_before = start > 0 and _is_word_character(text[start - 1])
            touches_word_after = end < len(text) and _is_word_character(text[end])
            if touches_word_before or touches_word_after:
                continue
        if token.lstrip:
            while start > taken and text[start - 1] in WHITE_SPACE:
                start -= 1
        if token.rstrip:
            while end < len(text) and text[end] in WHITE_SPACE:
                end += 1
        if start > taken:
            pieces.append((text[taken:start], None))
        pieces.append((text[start:end], token.id))
        taken = end
    if taken < len(text):
        pieces.append((text[taken:], None))
    return pieces


def _alternation(contents: Iterable[str]) -> re.Pattern | None:
    ordered = sorted(set(contents), key=lambda content: (-len(content), content))
    return re.compile("|".join(re.escape(content) for content in ordered)) if ordered else None


class Tokenizer:
    """A byte-level BPE tokenizer built from a ``tokenizer.json`` description.

    >>> tokenizer = Tokenizer.from_file("Qwen3-0.6B-Base/tokenizer.json")   # doctest: +SKIP
    >>> tokenizer.encode("Hello world")                                       # doctest: +SKIP
    [9707, 1879]
    """

    def __init__(self, spec: dict, source: str = "tokenizer.json"):
        """Use :meth:`from_file` or :meth:`from_dict`; ``spec`` is a parsed tokenizer.json."""
        if not isinstance(spec, dict):
            raise _fail(source, "<top level>", "a JSON object", type(spec).__name__)
        _check_keys(spec, source, "<top level>", {"version", "truncation", "padding", "added_tokens", "normalizer",
                                                  "pre_tokenizer", "post_processor", "decoder", "model"})
        for key in ("truncation", "padding"):
            if spec.get(key) is not None:
                raise _fail(source, key, "null (encode() neither truncates nor pads; do it on the ids)", spec[key])
        decoder = spec.get("decoder")
        if not isinstance(decoder, dict) or decoder.get("type") != "ByteLevel":
            raise TokenizerError(
                f"{source}: unsupported decoder {decoder!r} at 'decoder' (supported: ByteLevel)"
            )
        self._spec = copy.deepcopy(spec)
        self._source = source
        self._normal_forms = _parse_normalizer(spec.get("normalizer"), source)
        self._pre_tokenizer_steps = _parse_pre_tokenizer(spec.get("pre_tokenizer"), source)
        self._model = _parse_model(spec.get("model"), source)
        self._added = _parse_added_tokens(spec.get("added_tokens"), source)
        self._wrap_ids = _parse_post_processor(spec.get("post_processor"), source)

        _check_added_token_ids(self._added, self._model.vocab, source)

        self._id_to_token: dict[int, str] = {token_id: token for token, token_id in self._model.vocab.items()}
        self._token_to_added: dict[str, AddedToken] = {}
        for token in self._added:
            self._id_to_token[token.id] = token.content
            self._token_to_added[token.content] = token
        self._raw_by_content = {t.content: t for t in self._added if not t.normalized}
        self._normalized_by_content = {self._normalize(t.content): t for t in self._added if t.normalized}
        self._raw_matcher = _alternation(self._raw_by_content)
        self._normalized_matcher = _alternation(self._normalized_by_content)
        self._special_ids = frozenset(token.id for token in self._added if token.special)
        self._bytes_of_id: dict[int, bytes] = {}
        self._piece_cache: dict[str, list[int]] = {}  # the merge cache: pre-token -> ids
        for _, token_id in self._wrap_ids:
            if token_id not in self._id_to_token:
                raise _fail(source, "post_processor", "token ids that exist", token_id)

        self._eos_token = next((t for t in ("<|im_end|>", "<|endoftext|>") if self.token_to_id(t) is not None), None)
        self._pad_token = "<|endoftext|>" if self.token_to_id("<|endoftext|>") is not None else None
        self._bos_token: str | None = None

    # ---- construction and saving

    @classmethod
    def from_dict(cls, spec: dict, source: str = "tokenizer.json") -> Tokenizer:
        """Build from a parsed tokenizer.json; ``source`` names it in error messages."""
        return cls(spec, source)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> Tokenizer:
        """Read a tokenizer.json file."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise TokenizerError(f"{path}: cannot read tokenizer file: {error}") from error
        try:
            spec = json.loads(text)
        except json.JSONDecodeError as error:
            raise TokenizerError(f"{path}: not valid JSON: {error}") from error
        return cls(spec, str(path))

    def to_dict(self) -> dict:
        """The tokenizer.json description (a deep copy)."""
        return copy.deepcopy(self._spec)

    def save(self, path: str | os.PathLike) -> None:
        """Write tokenizer.json atomically (temporary file + rename)."""
        atomic_write_text(path, json.dumps(self._spec, ensure_ascii=False, indent=2) + "\n")

    # ---- encoding

    def _normalize(self, text: str) -> str:
        for form in self._normal_forms:
            text = unicodedata.normalize(form, text)
        return text

    def _split(self, text: str) -> list[str]:
        """The pieces of the Split steps, before the final ByteLevel step."""
        pieces = [text]
        for step in self._pre_tokenizer_steps[:-1]:
            pieces = [out for piece in pieces for out in step(piece)]
        return pieces

    def pre_tokenize(self, text: str) -> list[str]:
        """The byte-level pre-tokens of ``text`` (no added-token matching, no normalization)."""
        byte_level = self._pre_tokenizer_steps[-1]
        return [word for piece in self._split(text) for word in byte_level(piece)]

    def _encode_piece(self, piece: str) -> list[int]:
        """Ids of one piece of the Split steps; memoised, since text repeats its words a lot."""
        ids = self._piece_cache.get(piece)
        if ids is None:
            ids = [token_id for word in self._pre_tokenizer_steps[-1](piece) for token_id in self._model.encode_word(word)]
            if len(piece) <= _CACHE_MAX_WORD:
                if len(self._piece_cache) >= _CACHE_LIMIT:
                    self._piece_cache.clear()
                self._piece_cache[piece] = ids
        return ids

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        """Token ids of ``text``. ``add_special_tokens`` adds what the post-processor's template
        wraps around a sequence (nothing for Qwen files)."""
        if not isinstance(text, str):
            raise InputError(f"encode: argument 'text': expected str, got {type(text).__name__}")
        ids: list[int] = []
        for raw_piece, raw_id in _split_on_added(text, self._raw_matcher, self._raw_by_content):
            if raw_id is not None:
                ids.append(raw_id)
                continue
            normalized = self._normalize(raw_piece)
            for piece, token_id in _split_on_added(normalized, self._normalized_matcher, self._normalized_by_content):
                if token_id is not None:
                    ids.append(token_id)
                    continue
                for split_piece in self._split(piece):
                    ids.extend(self._encode_piece(split_piece))
        if add_special_tokens and self._wrap_ids:
            before = [token_id for where, token_id in self._wrap_ids if where == "before"]
            after = [token_id for where, token_id in self._wrap_ids if where == "after"]
            ids = before + ids + after
        return ids

    def encode_batch(self, texts: Sequence[str], add_special_tokens: bool = False) -> list[list[int]]:
        """``encode`` of each text."""
        return [self.encode(text, add_special_tokens) for text in texts]

    # ---- decoding

    def _check_id(self, token_id) -> int:
        try:
            as_int = operator.index(token_id)  # ints and NumPy integers; not floats or strings
        except TypeError:
            raise InputError(f"decode: token id {token_id!r}: expected an integer, "
                             f"got {type(token_id).__name__}") from None
        if as_int not in self._id_to_token:
            raise InputError(f"decode: token id {as_int}: expected an id of this tokenizer "
                             f"(0 <= id < {self.vocab_size}, assigned)")
        return as_int

    def id_bytes(self, token_id: int) -> bytes:
        """The bytes token ``token_id`` decodes to (see :func:`token_bytes`)."""
        token_id = self._check_id(token_id)
        cached = self._bytes_of_id.get(token_id)
        if cached is None:
            cached = self._bytes_of_id[token_id] = token_bytes(self._id_to_token[token_id])
        return cached

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = False) -> str:
        """Text of ``ids``: the tokens' bytes joined and read as UTF-8. Bytes that are not valid
        UTF-8 (a sequence cut in the middle of a character) become U+FFFD, as in ``tokenizers``."""
        kept = []
        for token_id in ids:
            data = self.id_bytes(token_id)
            if not (skip_special_tokens and operator.index(token_id) in self._special_ids):
                kept.append(data)
        return b"".join(kept).decode("utf-8", errors="replace")

    def decode_batch(self, batch: Iterable[Iterable[int]], skip_special_tokens: bool = False) -> list[str]:
        """``decode`` of each id sequence."""
        return [self.decode(ids, skip_special_tokens) for ids in batch]

    # ---- vocabulary

    def token_to_id(self, token: str) -> int | None:
        """Id of ``token`` (added tokens first, then the BPE vocabulary), or None."""
        added = self._token_to_added.get(token)
        if added is not None:
            return added.id
        return self._model.vocab.get(token)

    def id_to_token(self, token_id: int) -> str | None:
        """The token string of ``token_id`` (byte-level characters for BPE tokens), or None."""
        return self._id_to_token.get(token_id)

    @property
    def vocab_size(self) -> int:
        """Largest id + 1, added tokens included: the smallest embedding table that fits."""
        return max(self._id_to_token, default=-1) + 1

    def get_vocab(self) -> dict[str, int]:
        """token -> id for every token, added tokens included."""
        return {token: token_id for token_id, token in self._id_to_token.items()}

    @property
    def added_tokens(self) -> list[AddedToken]:
        return list(self._added)

    @property
    def special_token_ids(self) -> frozenset[int]:
        """Ids of the added tokens marked special (skipped by ``decode(skip_special_tokens=True)``)."""
        return self._special_ids

    # ---- special tokens (set from tokenizer_config.json by the loader)

    def set_special_tokens(self, eos_token=None, pad_token=None, bos_token=None) -> None:
        """Choose the eos/pad/bos tokens. Each may be a token string, or a tokenizer_config.json
        entry ``{"content": ...}``; None leaves that one unchanged."""
        chosen = {}
        for name, value in (("eos_token", eos_token), ("pad_token", pad_token), ("bos_token", bos_token)):
            if value is None:
                continue
            if isinstance(value, dict):
                value = value.get("content")
            if not isinstance(value, str) or self.token_to_id(value) is None:
                raise TokenizerError(f"set_special_tokens: argument {name!r}: expected a token of this "
                                     f"tokenizer, got {value!r}")
            chosen[name] = value
        self._eos_token = chosen.get("eos_token", self._eos_token)
        self._pad_token = chosen.get("pad_token", self._pad_token)
        self._bos_token = chosen.get("bos_token", self._bos_token)

    @property
    def eos_token(self) -> str | None:
        return self._eos_token

    @property
    def pad_token(self) -> str | None:
        return self._pad_token

    @property
    def bos_token(self) -> str | None:
        return self._bos_token

    @property
    def eos_token_id(self) -> int | None:
        return None if self._eos_token is None else self.token_to_id(self._eos_token)

    @property
    def pad_token_id(self) -> int | None:
        return None if self._pad_token is None else self.token_to_id(self._pad_token)

    @property
    def bos_token_id(self) -> int | None:
        return None if self._bos_token is None else self.token_to_id(self._bos_token)

    # ---- chat

    def apply_chat_template(self, messages: Sequence[dict], add_generation_prompt: bool = True,
                            enable_thinking: bool = True) -> str:
        """The Qwen3 chat prompt for ``messages`` (see :mod:`minireason.io.chat_template`)."""
        return render_chat(messages, add_generation_prompt=add_generation_prompt, enable_thinking=enable_thinking)

    def __repr__(self) -> str:
        return (f"Tokenizer(vocab_size={self.vocab_size}, merges={len(self._model.merges)}, "
                f"added_tokens={len(self._added)}, eos={self._eos_token!r})")


class IncrementalDecoder:
    """Decode a token stream piece by piece without ever emitting half a character.

    A multi-byte character (an emoji is 4 bytes) can be split across tokens. ``push`` returns
    only the text that is complete; the bytes of an unfinished character wait for the next
    token. Bytes that can never become valid UTF-8 come out as U+FFFD, exactly as ``decode``
    would, so the concatenation of every ``push`` and the final ``flush`` equals
    ``tokenizer.decode(all_ids, skip_special_tokens)``.
    """

    def __init__(self, tokenizer: Tokenizer, skip_special_tokens: bool = False):
        self.tokenizer = tokenizer
        self.skip_special_tokens = skip_special_tokens
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, token_id: int) -> str:
        """Add one token; return the newly completed text (possibly "")."""
        data = self.tokenizer.id_bytes(token_id)
        if self.skip_special_tokens and operator.index(token_id) in self.tokenizer.special_token_ids:
            return ""
        return self._utf8.decode(data)

    def flush(self) -> str:
        """End of stream: whatever bytes are still waiting, as U+FFFD if incomplete."""
        return self._utf8.decode(b"", final=True)
