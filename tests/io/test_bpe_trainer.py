"""Tests of minireason.io.bpe_trainer: a merge sequence worked out by hand, the incremental pair
counts against a from-scratch recount, and the trained file in Hugging Face tokenizers."""

from __future__ import annotations

import json
import unicodedata
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minireason.errors import InputError
from minireason.io.bpe_trainer import learn_merges, train_bpe
from minireason.io.tokenizer import Tokenizer

CORPUS = [
    "the cat sat on the mat; the cat ate the rat.",
    "Let x = 12 and y = 30, so x + y = 42.\n",
    "Thinking step by step: 7 * 6 = 42. Ünïcödé café 你好 😀.",
    "<|im_start|>user\nhi<|im_end|>\n<think>\nok\n</think>\n\nhello there<|im_end|>",
]


def naive_merges(word_counts: dict[tuple[int, ...], int], new_tokens: int, min_frequency: int) -> list[tuple[int, int]]:
    """Reference BPE: recount every pair from scratch before each merge."""
    words = {tuple(word): count for word, count in word_counts.items()}
    token_bytes = [bytes([b]) for b in range(256)]
    merges = []
    while len(token_bytes) < 256 + new_tokens:
        pairs: Counter = Counter()
        for word, count in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += count
        if not pairs:
            break
        best = min(pairs, key=lambda pair: (-pairs[pair], pair))
        if pairs[best] < min_frequency:
            break
        merged = token_bytes[best[0]] + token_bytes[best[1]]
        new_id = token_bytes.index(merged) if merged in token_bytes else len(token_bytes)
        if new_id == len(token_bytes):
            token_bytes.append(merged)
        merges.append(best)
        rewritten: Counter = Counter()
        for word, count in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(new_id)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            rewritten[tuple(out)] += count
        words = dict(rewritten)
    return merges


def test_merges_worked_out_by_hand():
    # "aaab" is one pre-token. Pairs: (a,a) x2, (a,b) x1 -> merge a a: [aa, a, b].
    # Pairs now (aa,a) and (a,b), one each: the tie goes to the smaller ids, (97, 98) -> [aa, ab].
    # Then (aa, ab) -> [aaab].
    tokenizer = train_bpe(["aaab"], vocab_size=259, special_tokens=(), added_tokens=(), min_frequency=1)
    spec = tokenizer.to_dict()
    assert spec["model"]["merges"] == ["a a", "a b", "aa ab"]
    assert tokenizer.vocab_size == 259
    assert [tokenizer.id_to_token(i) for i in (97, 256, 257, 258)] == ["a", "aa", "ab", "aaab"]
    assert tokenizer.encode("aaab") == [258]
    assert tokenizer.encode("aab") == [256, 98]


def test_byte_ids_and_special_tokens_layout():
    tokenizer = train_bpe(CORPUS * 2, vocab_size=300)
    assert tokenizer.vocab_size == 300
    assert tokenizer.id_to_token(32) == "Ġ" and tokenizer.id_to_token(10) == "Ċ"
    assert [tokenizer.id_to_token(i) for i in range(295, 300)] == [
        "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
    assert tokenizer.special_token_ids == frozenset({295, 296, 297})
    assert tokenizer.eos_token == "<|im_end|>"
    # special tokens are cut out before counting, so no learnt token spans one
    assert not any("<|" in token and len(token) > 2 for token in tokenizer.get_vocab() if token not in
                   ("<|endoftext|>", "<|im_start|>", "<|im_end|>"))
    assert tokenizer.encode("<|im_start|>user") == [296] + tokenizer.encode("user")


def test_min_frequency_stops_training_early():
    tokenizer = train_bpe(["ab cd"], vocab_size=1000, special_tokens=(), added_tokens=())
    assert tokenizer.to_dict()["model"]["merges"] == [] and tokenizer.vocab_size == 256


word_tables = st.dictionaries(st.lists(st.integers(97, 100), min_size=1, max_size=7).map(tuple),
                              st.integers(1, 5), min_size=1, max_size=12)


@settings(max_examples=60)
@given(word_counts=word_tables, new_tokens=st.integers(0, 12), min_frequency=st.integers(1, 3))
def test_incremental_counts_agree_with_a_full_recount(word_counts, new_tokens, min_frequency):
    merges, token_bytes = learn_merges(word_counts, new_tokens, min_frequency)
    assert merges == naive_merges(word_counts, new_tokens, min_frequency)
    assert len(token_bytes) <= 256 + new_tokens


def test_training_is_deterministic():
    assert train_bpe(CORPUS, 320).to_dict() == train_bpe(list(CORPUS), 320).to_dict()


@settings(max_examples=40)
@given(text=st.text(max_size=40))
def test_trained_saved_reloaded_encodes_identically(tmp_path_factory, text):
    tokenizer = _trained()
    path = tmp_path_factory.mktemp("bpe") / "tokenizer.json"
    tokenizer.save(path)
    reloaded = Tokenizer.from_file(path)
    assert reloaded.encode(text) == tokenizer.encode(text)
    assert reloaded.decode(reloaded.encode(text)) == unicodedata.normalize("NFC", text)


def test_trained_file_loads_in_hf_tokenizers(tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    path = tmp_path / "tokenizer.json"
    _trained().save(path)
    reference = tokenizers.Tokenizer.from_file(str(path))
    ours = Tokenizer.from_file(path)
    for text in CORPUS + ["unseen words, 3.14159; ÆØÅ\n\n\tend"]:
        assert ours.encode(text) == reference.encode(text).ids
        assert reference.decode(reference.encode(text).ids, skip_special_tokens=False) == unicodedata.normalize("NFC", text)
    assert json.loads(path.read_text(encoding="utf-8"))["pre_tokenizer"]["pretokenizers"][0]["behavior"] == "Isolated"


def test_bad_arguments():
    with pytest.raises(InputError, match="vocab_size"):
        train_bpe(CORPUS, vocab_size=100)
    with pytest.raises(InputError, match="texts"):
        train_bpe("one string", vocab_size=300)
    with pytest.raises(InputError, match="distinct"):
        train_bpe(CORPUS, vocab_size=300, special_tokens=("<a>", "<a>"))
    with pytest.raises(InputError, match=r"texts\[1\]"):
        train_bpe(["ok", 3], vocab_size=300)


_cache: dict[str, Tokenizer] = {}


def _trained() -> Tokenizer:
    if "t" not in _cache:
        _cache["t"] = train_bpe(CORPUS * 2, vocab_size=330)
    return _cache["t"]
