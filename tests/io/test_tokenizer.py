"""Tests of minireason.io.tokenizer: hand-worked encodings, exact round trips, and token-for-token
agreement with Hugging Face ``tokenizers`` (the test-only reference) on generated text."""

from __future__ import annotations

import json
import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minireason.errors import InputError, TokenizerError
from minireason.io.bpe_trainer import train_bpe
from minireason.io.tokenizer import (
    BYTE_TO_CHAR,
    QWEN_PATTERN,
    IncrementalDecoder,
    Tokenizer,
    bytes_to_unicode,
)

# ----------------------------------------------------------------------------------------------
# helpers

CORPUS = [
    "The quick brown fox jumps over the lazy dog. It's 12 o'clock; we'll see what they've done.",
    "Let $x^2 + 3x - 4 = 0$. Then $(x+4)(x-1) = 0$, so $x = -4$ or $x = 1$.\n\nTherefore $\\boxed{1}$.",
    "Café, naïve, façade, résumé: ÉCOLE, Ünïcödé. 你好，世界！ 数学很有趣。 Привет, мир! 😀🎉👍🏽",
    "def add(a, b):\n    return a + b\n\n\tindented\r\nwindows line\n   \n",
    "<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n<think>\n2+3=5\n</think>\n\n5<|im_end|>",
]


def byte_vocab() -> dict[str, int]:
    """The 256 byte tokens, id = byte value."""
    return {BYTE_TO_CHAR[byte]: byte for byte in range(256)}


def qwen_style_spec(vocab: dict[str, int], merges: list, added_tokens: list | None = None, **model_options) -> dict:
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added_tokens or [],
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": QWEN_PATTERN}, "behavior": "Isolated", "invert": False},
                byte_level,
            ],
        },
        "post_processor": byte_level,
        "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": merges, **model_options},
    }


def with_merges(merges: list[str], **model_options) -> dict:
    """Byte vocabulary plus one token per merge, ids 256, 257, ... in merge order."""
    vocab = byte_vocab()
    for merge in merges:
        left, right = merge.split(" ") if isinstance(merge, str) else merge
        vocab.setdefault(left + right, len(vocab))
    return qwen_style_spec(vocab, merges, **model_options)


def added(token_id: int, content: str, special=True, lstrip=False, rstrip=False, single_word=False, normalized=False):
    return {"id": token_id, "content": content, "single_word": single_word, "lstrip": lstrip, "rstrip": rstrip,
            "normalized": normalized, "special": special}


def hf_from_spec(spec: dict):
    tokenizers = pytest.importorskip("tokenizers")
    return tokenizers.Tokenizer.from_str(json.dumps(spec))


@pytest.fixture(scope="module")
def trained_json(tmp_path_factory) -> str:
    """A tokenizer.json written by our train_bpe."""
    path = tmp_path_factory.mktemp("ours") / "tokenizer.json"
    train_bpe(CORPUS * 3, vocab_size=450, min_frequency=2).save(path)
    return str(path)


@pytest.fixture(scope="module")
def hf_trained_json(tmp_path_factory) -> str:
    """A Qwen-style tokenizer.json built and trained by Hugging Face tokenizers itself."""
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers

    hf = tokenizers.Tokenizer(models.BPE())
    hf.normalizer = normalizers.NFC()
    hf.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(tokenizers.Regex(QWEN_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=500, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"], show_progress=False)
    hf.train_from_iterator(CORPUS * 3, trainer)
    hf.add_tokens(["<think>", "</think>"])
    path = tmp_path_factory.mktemp("hf") / "tokenizer.json"
    hf.save(str(path))
    return str(path)


# text that exercises the regex alternatives, merges learnt from CORPUS, and the added tokens
pieces = st.sampled_from(["the", " the", "The", "'s", "'S", "'ll", "x", "2+3", "=", " $x$", "\n", "\r\n", "  ", "\t",
                          "é", "e\u0301", "你好", "😀", "👍🏽", "<|im_end|>", "<|im_start|>", "<think>", "</think>",
                          "<|im_end", "ſ", "\u00a0", "\u3000", "\x1c", "\x00", "ﬁ", "Ⅻ", "٣"])
mixed_text = st.one_of(st.text(), st.lists(pieces, max_size=12).map("".join),
                       st.lists(st.one_of(pieces, st.text(max_size=3)), max_size=8).map("".join))

# Where the Unicode databases differ, so does the reference. Measured over every code point
# (tokenizers 0.23, Python 3.11 / Unicode 14, regex 2026): tokenizers' NFC tables give these 98
# combining marks (Unicode 10-14 additions) class 0, and code points unassigned in Unicode 14 but
# letters in later versions are \p{L} to `regex` and not to Oniguruma. Comparisons with tokenizers
# therefore draw from the assigned characters of Python's Unicode minus these marks.
NFC_TABLE_SKEW = [(0x7FD, 0x7FD), (0x898, 0x89F), (0x8CA, 0x8D3), (0x9FE, 0x9FE), (0xC3C, 0xC3C), (0xD3B, 0xD3C),
                  (0xEBA, 0xEBA), (0x1715, 0x1715), (0x1ABF, 0x1ACE), (0x1DF6, 0x1DFA), (0xA82C, 0xA82C),
                  (0x10D24, 0x10D27), (0x10EAB, 0x10EAC), (0x10F46, 0x10F50), (0x10F82, 0x10F85), (0x11070, 0x11070),
                  (0x1133B, 0x1133B), (0x1145E, 0x1145E), (0x11839, 0x1183A), (0x1193D, 0x1193E), (0x11943, 0x11943),
                  (0x119E0, 0x119E0), (0x11A34, 0x11A34), (0x11A47, 0x11A47), (0x11A99, 0x11A99), (0x11D42, 0x11D42),
                  (0x11D44, 0x11D45), (0x11D97, 0x11D97), (0x16FF0, 0x16FF1), (0x1E130, 0x1E136), (0x1E2AE, 0x1E2AE),
                  (0x1E2EC, 0x1E2EF)]
shared_unicode = st.characters(exclude_categories=("Cs", "Cn")).filter(
    lambda char: not any(low <= ord(char) <= high for low, high in NFC_TABLE_SKEW))
comparable_text = st.one_of(st.text(shared_unicode), st.lists(pieces, max_size=12).map("".join),
                            st.lists(st.one_of(pieces, st.text(shared_unicode, max_size=3)), max_size=8).map("".join))


# ----------------------------------------------------------------------------------------------
# byte-to-unicode


def test_bytes_to_unicode_is_a_printable_bijection_with_the_gpt2_landmarks():
    table = bytes_to_unicode()
    assert sorted(table) == list(range(256))
    assert len(set(table.values())) == 256
    assert all(char.isprintable() and not char.isspace() for char in table.values())
    # landmarks everyone who has read a GPT-2 vocabulary knows
    assert table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ" and table[ord("\t")] == "ĉ"
    assert table[0] == "Ā" and table[ord("a")] == "a" and table[ord("!")] == "!"
    assert table[0xAD] == "Ń"  # soft hyphen, the last non-printable byte below 0xFF


# ----------------------------------------------------------------------------------------------
# hand-built merge tables with encodings worked out by hand


def test_pre_tokenization_follows_the_qwen_pattern():
    tokenizer = Tokenizer.from_dict(with_merges([]))
    assert tokenizer.pre_tokenize("Hello world 123!!\n\n") == ["Hello", "Ġworld", "Ġ", "1", "2", "3", "!!ĊĊ"]
    assert tokenizer.pre_tokenize("it's  x") == ["it", "'s", "Ġ", "Ġx"]
    assert tokenizer.pre_tokenize("IT'LL") == ["IT", "'LL"]
    assert tokenizer.pre_tokenize("a\n\n  b") == ["a", "ĊĊ", "Ġ", "Ġb"]


def test_merges_apply_in_rank_order():
    tokenizer = Tokenizer.from_dict(with_merges(["a b", "ab c"]))  # "ab" = 256, "abc" = 257
    assert tokenizer.encode("abc") == [257]
    assert tokenizer.encode("abd") == [256, ord("d")]
    assert tokenizer.encode("cab") == [ord("c"), 256]
    assert tokenizer.encode("ab abc") == [256, ord(" "), 257]  # no merge with "Ġ": the space stays a byte

    # "b c" outranks "a b", so "abc" becomes a + bc, and nothing merges a with bc
    tokenizer = Tokenizer.from_dict(with_merges(["b c", "a b"]))  # "bc" = 256, "ab" = 257
    assert tokenizer.encode("abc") == [ord("a"), 256]
    assert tokenizer.encode("abab") == [257, 257]


def test_merge_order_is_one_pair_at_a_time_lowest_rank_then_leftmost():
    # ranks: (aa, a) = 0, (a, a) = 1. "aaaa": merge the leftmost (a, a) -> aa a a; now (aa, a) has
    # rank 0 and goes first -> aaa a. (Merging every (a, a) first would give aa aa.)
    tokenizer = Tokenizer.from_dict(with_merges(["aa a", "a a"]))  # "aaa" = 256, "aa" = 257
    assert tokenizer.encode("aaaa") == [256, ord("a")]
    assert tokenizer.encode("aa") == [257]


def test_merges_as_pairs_or_strings_are_the_same_table():
    as_strings = Tokenizer.from_dict(with_merges(["Ġ t", "h e", "Ġt he"]))
    as_pairs = Tokenizer.from_dict(with_merges([["Ġ", "t"], ["h", "e"], ["Ġt", "he"]]))
    assert as_strings.encode(" the") == as_pairs.encode(" the") == [258]
    assert as_strings.id_to_token(258) == "Ġthe"


def test_ignore_merges_emits_a_whole_pre_token_found_in_the_vocabulary():
    spec = with_merges(["a b"])
    spec["model"]["vocab"]["abc"] = 300  # reachable by no merge
    assert Tokenizer.from_dict(spec).encode("abc") == [256, ord("c")]
    spec["model"]["ignore_merges"] = True
    assert Tokenizer.from_dict(spec).encode("abc") == [300]
    assert Tokenizer.from_dict(spec).encode("abd") == [256, ord("d")]


def test_utf8_bytes_are_the_starting_symbols():
    tokenizer = Tokenizer.from_dict(with_merges([]))
    assert tokenizer.encode("é") == [0xC3, 0xA9]
    assert tokenizer.encode("😀") == [0xF0, 0x9F, 0x98, 0x80]
    assert tokenizer.encode("e\u0301") == [0xC3, 0xA9]  # NFC first
    assert tokenizer.decode([0xC3]) == "\ufffd"  # half a character


# ----------------------------------------------------------------------------------------------
# added and special tokens


def test_special_tokens_inside_text_are_single_ids():
    spec = with_merges(["h i"])  # "hi" = 256
    spec["added_tokens"] = [added(257, "<|im_end|>"), added(258, "<|im_end|>x"), added(259, "<think>", special=False)]
    tokenizer = Tokenizer.from_dict(spec)
    assert tokenizer.encode("hi<|im_end|>hi") == [256, 257, 256]
    assert tokenizer.encode("<|im_end|>x") == [258]  # the longest match wins
    assert tokenizer.encode("<|im_end|") == tokenizer.encode("<|") + tokenizer.encode("im") + [ord("_")] + \
        tokenizer.encode("end|")
    assert tokenizer.encode(" <think>hi") == [ord(" "), 259, 256]
    assert tokenizer.decode([256, 257, 259]) == "hi<|im_end|><think>"
    assert tokenizer.decode([256, 257, 259], skip_special_tokens=True) == "hi<think>"
    assert tokenizer.special_token_ids == frozenset({257, 258})
    assert tokenizer.vocab_size == 260
    assert tokenizer.token_to_id("<|im_end|>") == 257 and tokenizer.id_to_token(259) == "<think>"
    assert tokenizer.encode("hi<|im_end|>hi") == hf_from_spec(spec).encode("hi<|im_end|>hi").ids


def test_added_token_options_lstrip_rstrip_single_word_normalized():
    spec = with_merges([])
    spec["added_tokens"] = [added(256, "<L>", lstrip=True), added(257, "<R>", rstrip=True),
                            added(258, "cat", special=False, single_word=True), added(259, "ǘ", normalized=True)]
    tokenizer = Tokenizer.from_dict(spec)
    assert tokenizer.encode("a \t<L>b") == [ord("a"), 256, ord("b")]
    assert tokenizer.encode("a<R> \nb") == [ord("a"), 257, ord("b")]
    assert tokenizer.encode("a cat!") == [ord("a"), ord(" "), 258, ord("!")]
    assert 258 not in tokenizer.encode("concatenate")
    assert tokenizer.encode("u\u0308\u0301") == [259]  # matched after NFC
    hf = hf_from_spec(spec)
    for text in ["a \t<L>b", "a<R> \nb", "a cat!", "concatenate", "cat_x", "u\u0308\u0301", "  <L><R>  cat ǘ", "é cat"]:
        assert tokenizer.encode(text) == hf.encode(text).ids, text


# ----------------------------------------------------------------------------------------------
# exact round trips


@settings(max_examples=150)
@given(text=mixed_text)
def test_decode_of_encode_is_nfc(trained_json, text):
    tokenizer = Tokenizer.from_file(trained_json)
    assert tokenizer.decode(tokenizer.encode(text)) == unicodedata.normalize("NFC", text)


def test_round_trip_on_hard_cases(trained_json):
    tokenizer = Tokenizer.from_file(trained_json)
    for text in ["", " ", "\x00\x01\x7f", "a\u0301\u0302\u0303", "👨‍👩‍👧‍👦", "🇫🇷", "\ufeff\u200b\u200d",
                 "\U0010ffff", "\ud7ff\ue000", "ǅ ſ ß ẞ", "Ａｂｃ１２３", "x" * 3000, " " * 50 + "\n"]:
        assert tokenizer.decode(tokenizer.encode(text)) == unicodedata.normalize("NFC", text)


@settings(max_examples=60)
@given(text=mixed_text)
def test_incremental_decoder_never_emits_half_a_character(trained_json, text):
    tokenizer = Tokenizer.from_file(trained_json)
    ids = tokenizer.encode(text)
    stream = IncrementalDecoder(tokenizer)
    outputs = [stream.push(token_id) for token_id in ids]
    assert all("\ufffd" not in output for output in outputs)
    assert "".join(outputs) + stream.flush() == unicodedata.normalize("NFC", text)


def test_incremental_decoder_holds_bytes_until_the_character_is_complete():
    tokenizer = Tokenizer.from_dict(with_merges([]))
    stream = IncrementalDecoder(tokenizer)
    assert [stream.push(byte) for byte in "a😀".encode()] == ["a", "", "", "", "😀"]
    assert stream.push(0xC3) == "" and stream.flush() == "\ufffd"


# ----------------------------------------------------------------------------------------------
# agreement with Hugging Face tokenizers


@settings(max_examples=200)
@given(text=comparable_text)
def test_encode_matches_hf_on_our_trained_file(trained_json, text):
    tokenizers = pytest.importorskip("tokenizers")
    reference = tokenizers.Tokenizer.from_file(trained_json)
    assert Tokenizer.from_file(trained_json).encode(text) == reference.encode(text).ids


@settings(max_examples=200)
@given(text=comparable_text)
def test_encode_matches_hf_on_an_hf_trained_file(hf_trained_json, text):
    tokenizers = pytest.importorskip("tokenizers")
    reference = tokenizers.Tokenizer.from_file(hf_trained_json)
    ours = Tokenizer.from_file(hf_trained_json)
    assert ours.encode(text) == reference.encode(text).ids
    assert ours.pre_tokenize(text) == [piece for piece, _ in reference.pre_tokenizer.pre_tokenize_str(text)]


def test_long_pre_tokens_match_hf(trained_json):
    tokenizers = pytest.importorskip("tokenizers")
    reference = tokenizers.Tokenizer.from_file(trained_json)
    ours = Tokenizer.from_file(trained_json)
    for text in ["the" * 500, "x" * 3000, " " * 700 + "a", "!?" * 400 + "\n" * 300, "9" * 1000, "é" * 600]:
        assert ours.encode(text) == reference.encode(text).ids


@settings(max_examples=100)
@given(data=st.data())
def test_decode_matches_hf_on_any_ids(hf_trained_json, data):
    tokenizers = pytest.importorskip("tokenizers")
    reference = tokenizers.Tokenizer.from_file(hf_trained_json)
    ours = Tokenizer.from_file(hf_trained_json)
    ids = data.draw(st.lists(st.integers(0, ours.vocab_size - 1), max_size=20))
    for skip in (False, True):
        assert ours.decode(ids, skip_special_tokens=skip) == reference.decode(ids, skip_special_tokens=skip)


@pytest.mark.parametrize("behavior", ["isolated", "removed", "merged_with_previous", "merged_with_next", "contiguous"])
@pytest.mark.parametrize("invert", [False, True])
def test_split_behaviors_match_hf(behavior, invert):
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import pre_tokenizers

    reference = tokenizers.Tokenizer(tokenizers.models.BPE())
    reference.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(tokenizers.Regex(r"[,;]|\d+"), behavior=behavior, invert=invert),
        pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True),
    ])
    reference.decoder = tokenizers.decoders.ByteLevel()
    spec = json.loads(reference.to_str())
    spec["model"]["vocab"] = byte_vocab()
    ours = Tokenizer.from_dict(spec)
    for text in ["a,b;;c12,,d", ",,x", "12 34", "no delimiters here", ";", "", "it's a,b"]:
        expected = [piece for piece, _ in reference.pre_tokenizer.pre_tokenize_str(text)]
        assert ours.pre_tokenize(text) == expected, text


def test_template_post_processor_matches_hf():
    spec = with_merges(["h i"])
    spec["added_tokens"] = [added(257, "<s>"), added(258, "</s>")]
    spec["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                   {"SpecialToken": {"id": "</s>", "type_id": 0}}],
        "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {"<s>": {"id": "<s>", "ids": [257], "tokens": ["<s>"]},
                           "</s>": {"id": "</s>", "ids": [258], "tokens": ["</s>"]}},
    }
    ours = Tokenizer.from_dict(spec)
    assert ours.encode("hi", add_special_tokens=True) == [257, 256, 258]
    assert ours.encode("hi") == [256]
    assert ours.encode("hi", add_special_tokens=True) == hf_from_spec(spec).encode("hi", add_special_tokens=True).ids


# ----------------------------------------------------------------------------------------------
# files, special-token settings, errors


def test_save_and_reload_keep_the_file_and_the_encodings(trained_json, tmp_path):
    tokenizer = Tokenizer.from_file(trained_json)
    tokenizer.save(tmp_path / "copy.json")
    reloaded = Tokenizer.from_file(tmp_path / "copy.json")
    assert reloaded.to_dict() == tokenizer.to_dict() == json.loads(open(trained_json, encoding="utf-8").read())
    assert [p.name for p in tmp_path.iterdir()] == ["copy.json"]  # no temporary file left behind
    assert reloaded.encode_batch(CORPUS) == tokenizer.encode_batch(CORPUS)
    assert tokenizer.decode_batch(tokenizer.encode_batch(CORPUS)) == [unicodedata.normalize("NFC", t) for t in CORPUS]


def test_default_and_configured_special_tokens(trained_json):
    tokenizer = Tokenizer.from_file(trained_json)
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.eos_token_id == tokenizer.token_to_id("<|im_end|>")
    assert tokenizer.pad_token == "<|endoftext|>" and tokenizer.bos_token_id is None
    tokenizer.set_special_tokens(eos_token="<|endoftext|>", pad_token={"content": "<|im_start|>"})
    assert tokenizer.eos_token_id == tokenizer.token_to_id("<|endoftext|>")
    assert tokenizer.pad_token_id == tokenizer.token_to_id("<|im_start|>")
    with pytest.raises(TokenizerError, match="bos_token"):
        tokenizer.set_special_tokens(bos_token="<s>")
    no_specials = Tokenizer.from_dict(with_merges([]))
    assert no_specials.eos_token_id is None and no_specials.pad_token_id is None


def test_chat_template_is_reachable_from_the_tokenizer():
    tokenizer = Tokenizer.from_dict(with_merges([]))
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], enable_thinking=False)
    assert prompt == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"


@pytest.mark.parametrize("path, value, named", [
    (("normalizer",), {"type": "Lowercase"}, "Lowercase"),
    (("normalizer",), {"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Strip"}]}, "Strip"),
    (("pre_tokenizer",), {"type": "Whitespace"}, "Whitespace"),
    (("pre_tokenizer", "pretokenizers", 0, "behavior"), "Sideways", "Sideways"),
    (("pre_tokenizer", "pretokenizers", 0, "pattern"), {"Regex": "(unclosed"}, "regular expression"),
    (("pre_tokenizer", "pretokenizers", 1, "type"), "Metaspace", "Metaspace"),
    (("decoder",), {"type": "WordPiece"}, "WordPiece"),
    (("decoder",), None, "decoder"),
    (("post_processor",), {"type": "BertProcessing"}, "BertProcessing"),
    (("model", "type"), "WordPiece", "WordPiece"),
    (("model", "byte_fallback"), True, "byte_fallback"),
    (("model", "dropout"), 0.1, "dropout"),
    (("model", "merges"), ["a q9"], "q9"),
    (("model", "merges"), ["a b c"], "merges"),
    (("padding",), {"strategy": "BatchLongest"}, "padding"),
    (("added_tokens",), [{"id": -1, "content": "x"}], "added_tokens"),
    (("added_tokens",), [added(300, "<|im_end|>")], "256"),  # tokenizers would give it id 256
    (("added_tokens",), [added(97, "<x>")], "256"),
    (("added_tokens",), [added(256, "<x>"), added(257, "<x>")], "listed before"),
])
def test_unknown_or_malformed_components_raise_naming_them(path, value, named):
    spec = with_merges([])
    target = spec
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(TokenizerError, match=named):
        Tokenizer.from_dict(spec)


def test_bad_files_and_bad_arguments(tmp_path):
    with pytest.raises(TokenizerError, match="missing.json"):
        Tokenizer.from_file(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text("{ not json")
    with pytest.raises(TokenizerError, match="broken.json"):
        Tokenizer.from_file(tmp_path / "broken.json")
    tokenizer = Tokenizer.from_dict(with_merges([]))
    with pytest.raises(InputError):
        tokenizer.encode(b"bytes")
    with pytest.raises(InputError, match="999"):
        tokenizer.decode([1, 999])
    with pytest.raises(InputError):
        tokenizer.decode([-1])
    with pytest.raises(InputError, match="float"):
        tokenizer.decode([1.0])
    with pytest.raises(InputError, match="str"):
        tokenizer.decode(["a"], skip_special_tokens=True)
    assert tokenizer.decode(np.array([104, 105])) == "hi"
