"""Training a byte-level BPE tokenizer on a small corpus.

The algorithm (Sennrich et al. 2016, on bytes as in GPT-2):

1. Cut the corpus into pre-tokens with the same pipeline the tokenizer will use (special tokens
   cut out, NFC, the Qwen regular expression) and count how often each distinct pre-token occurs.
   BPE never merges across pre-tokens, so the corpus is just this table of ``word -> count``.
2. Write each word as its UTF-8 bytes: the 256 byte tokens are the starting vocabulary.
3. Repeat until the vocabulary is full: count every adjacent pair of tokens, weighted by word
   frequency; merge the most frequent pair into a new token (ties: the smallest pair of ids, so
   training is deterministic); record the merge. Its position in the list is its rank.

Counting every pair afresh at each step would cost a pass over the corpus per merge. Instead the
pair counts are kept up to date: merging (a, b) only changes the words that contain it, so for
each of those words the pairs of its old form are subtracted and those of its new form added.
An index ``pair -> words containing it`` finds those words, and a heap with lazy deletion finds
the most frequent pair.

The result is a :class:`~minireason.io.tokenizer.Tokenizer` whose tokenizer.json has Qwen's
layout (NFC, Split + ByteLevel, BPE, ByteLevel decoder, special tokens as added tokens), which
Hugging Face ``tokenizers`` also loads and encodes identically.
"""

from __future__ import annotations

import heapq
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

import regex
from tqdm import tqdm

from minireason.errors import InputError
from minireason.io.tokenizer import BYTE_TO_CHAR, QWEN_PATTERN, Tokenizer

DEFAULT_SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
DEFAULT_ADDED_TOKENS = ("<think>", "</think>")


def count_pre_tokens(texts: Iterable[str], pattern: str, skip: Sequence[str] = ()) -> Counter:
    """``pre-token -> count`` over ``texts`` after NFC, with the ``skip`` strings cut out first."""
    cutter = re.compile("|".join(re.escape(s) for s in sorted(skip, key=len, reverse=True))) if skip else None
    splitter = regex.compile(pattern)
    counts: Counter = Counter()
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(f"train_bpe: texts[{index}]: expected str, got {type(text).__name__}")
        for piece in (cutter.split(text) if cutter else [text]):
            counts.update(splitter.findall(unicodedata.normalize("NFC", piece)))
    counts.pop("", None)
    return counts


def learn_merges(word_counts: dict[tuple[int, ...], int], new_tokens: int,
                 min_frequency: int = 2, show_progress: bool = False) -> tuple[list[tuple[int, int]], list[bytes]]:
    """Learn merges until ``new_tokens`` tokens beyond the 256 bytes exist, over words written as tuples of byte values (0..255).

    Returns ``(merges, token_bytes)``: the merges in rank order as pairs of token ids, and the
    bytes of every token id, where ids 0..255 are the single bytes and each merge that makes a
    new string adds the next id. (Two merges can spell the same string, e.g. (a, bc) after (ab, c);
    the string then keeps its one id, as in Hugging Face's trainer.) Stops early when no pair
    occurs ``min_frequency`` times.
    """
    token_bytes = [bytes([byte]) for byte in range(256)]
    id_of_bytes = {data: token_id for token_id, data in enumerate(token_bytes)}
    words = [list(word) for word in word_counts]
    frequencies = list(word_counts.values())
    pair_counts: dict[tuple[int, int], int] = defaultdict(int)
    words_with_pair: dict[tuple[int, int], set[int]] = defaultdict(set)
    for index, word in enumerate(words):
        for pair in zip(word, word[1:]):
            pair_counts[pair] += frequencies[index]
            words_with_pair[pair].add(index)
    # max-heap by count, then smallest pair: entries (-count, pair); stale ones are skipped on pop
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)

    merges: list[tuple[int, int]] = []
    progress = tqdm(total=new_tokens, desc="BPE merges", disable=not show_progress)
    while len(token_bytes) < 256 + new_tokens and heap:
        negative_count, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -negative_count:
            continue  # stale: the count changed after this entry was pushed
        if -negative_count < min_frequency:
            break
        merged_bytes = token_bytes[pair[0]] + token_bytes[pair[1]]
        new_id = id_of_bytes.get(merged_bytes)
        if new_id is None:
            new_id = id_of_bytes[merged_bytes] = len(token_bytes)
            token_bytes.append(merged_bytes)
            progress.update(1)
        merges.append(pair)
        changed: set[tuple[int, int]] = set()
        for index in sorted(words_with_pair.pop(pair, ())):
            old = words[index]
            new = _merge_pair(old, pair, new_id)
            frequency = frequencies[index]
            for old_pair in zip(old, old[1:]):
                pair_counts[old_pair] -= frequency
                changed.add(old_pair)
            for new_pair in zip(new, new[1:]):
                pair_counts[new_pair] += frequency
                words_with_pair[new_pair].add(index)
                changed.add(new_pair)
            words[index] = new
        pair_counts.pop(pair, None)
        for changed_pair in changed:
            count = pair_counts.get(changed_pair, 0)
            if count > 0:
                heapq.heappush(heap, (-count, changed_pair))
            else:
                pair_counts.pop(changed_pair, None)
    progress.close()
    return merges, token_bytes


def _merge_pair(word: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace the non-overlapping occurrences of ``pair`` in ``word``, left to right."""
    merged, index = [], 0
    while index < len(word):
        if index + 1 < len(word) and word[index] == pair[0] and word[index + 1] == pair[1]:
            merged.append(new_id)
            index += 2
        else:
            merged.append(word[index])
            index += 1
    return merged


def qwen_layout(vocab: dict[str, int], merges: list[tuple[str, str]], added: list[dict],
                pattern: str = QWEN_PATTERN) -> dict:
    """A tokenizer.json in the layout of Qwen's files, for the given BPE tables."""
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False},
                dict(byte_level),
            ],
        },
        "post_processor": dict(byte_level),
        "decoder": dict(byte_level),
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "",
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": [f"{left} {right}" for left, right in merges],
        },
    }


def train_bpe(texts: Iterable[str], vocab_size: int, special_tokens: Sequence[str] = DEFAULT_SPECIAL_TOKENS,
              pattern: str = QWEN_PATTERN, show_progress: bool = False, *,
              added_tokens: Sequence[str] = DEFAULT_ADDED_TOKENS, min_frequency: int = 2) -> Tokenizer:
    """Train a byte-level BPE tokenizer with at most ``vocab_size`` tokens in all.

    Ids: 0..255 are the bytes (id = byte value), then one id per merge, then ``special_tokens``
    (skipped by ``decode(skip_special_tokens=True)``) and ``added_tokens`` (kept, e.g. ``<think>``),
    both matched whole before pre-tokenization and never learnt from. Fewer merges are made when
    no pair occurs ``min_frequency`` times.
    """
    special_tokens, added_tokens = list(special_tokens), list(added_tokens)
    extra = special_tokens + added_tokens
    if len(set(extra)) != len(extra) or not all(isinstance(t, str) and t for t in extra):
        raise InputError(f"train_bpe: special/added tokens must be distinct non-empty strings, got {extra!r}")
    if not isinstance(vocab_size, int) or vocab_size < 256 + len(extra):
        raise InputError(f"train_bpe: argument 'vocab_size': expected an int >= 256 bytes + {len(extra)} "
                         f"special/added tokens = {256 + len(extra)}, got {vocab_size!r}")
    if isinstance(texts, str):
        raise InputError("train_bpe: argument 'texts': expected an iterable of strings, got one str")

    counts = count_pre_tokens(texts, pattern, skip=extra)
    word_counts = {tuple(word.encode("utf-8")): count for word, count in counts.items()}
    merges, token_bytes = learn_merges(word_counts, vocab_size - 256 - len(extra), min_frequency, show_progress)

    token_of_id = [byte_level_encode_bytes(data) for data in token_bytes]
    vocab = {token: token_id for token_id, token in enumerate(token_of_id)}
    merge_strings = [(token_of_id[left], token_of_id[right]) for left, right in merges]

    next_id = len(token_of_id)
    added = []
    for content in extra:
        added.append({"id": next_id, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": content in special_tokens})
        next_id += 1
    return Tokenizer.from_dict(qwen_layout(vocab, merge_strings, added, pattern), source="train_bpe")


def byte_level_encode_bytes(data: bytes) -> str:
    """Bytes written with the byte-level alphabet (a merged token may hold part of a character)."""
    return "".join(BYTE_TO_CHAR[byte] for byte in data)


__all__ = ["train_bpe", "learn_merges", "count_pre_tokens", "qwen_layout"]
