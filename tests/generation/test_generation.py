"""Generation: KV cache against the full forward, batching, stop conditions, streaming, seeds, bad input."""

import io
import math

import numpy as np
import pytest
from byte_tokenizer import EOS, PAD, ByteTokenizer

import minireason.generation.generate as generate_module
from minireason import runtime
from minireason.cli.chat import ThinkingPrinter
from minireason.cli.main import main
from minireason.config import PRESETS
from minireason.errors import InputError
from minireason.generation.generate import generate, stream_generate
from minireason.generation.incremental_text import TextStreamDecoder
from minireason.generation.kv_cache import KVCache
from minireason.generation.rollout import sample_rollouts
from minireason.io.bpe_trainer import train_bpe
from minireason.io.pretrained import save_pretrained
from minireason.model import Qwen3Model

CONFIG = PRESETS["test-tiny"].replace(vocab_size=260, max_position_embeddings=64)


@pytest.fixture(scope="module")
def model64():
    return Qwen3Model.from_config(CONFIG, seed=3, dtype="float64")


@pytest.fixture(scope="module")
def model32():
    return Qwen3Model.from_config(CONFIG, seed=3, dtype="float32")


class ScriptedModel:
    """Wraps a real model (so the cache is exercised) but forces the next token: table[last input token].

    Logits are +SCRIPT_LOGIT on the forced token and -SCRIPT_LOGIT elsewhere, so the log-prob of the
    forced token is known in closed form.
    """

    SCRIPT_LOGIT = 10.0

    def __init__(self, model, table):
        self.model, self.config, self.dtype, self.table = model, model.config, model.dtype, table
        self.generation_config = {}
        self.batch_sizes = []

    def forward(self, token_ids, attention_mask=None, position_ids=None, kv_cache=None, last_only=False):
        self.model.forward(token_ids, attention_mask, position_ids, kv_cache, last_only)
        token_ids = np.asarray(token_ids)
        self.batch_sizes.append(token_ids.shape[0])
        logits = np.full((token_ids.shape[0], 1, self.config.vocab_size), -self.SCRIPT_LOGIT)
        for b, last in enumerate(token_ids[:, -1]):
            logits[b, 0, self.table.get(int(last), EOS)] = self.SCRIPT_LOGIT
        return logits, None


def chain_table(data: bytes, end=EOS):
    """next-token table that spells out ``data`` (distinct bytes) after its first byte, then ``end``."""
    assert len(set(data)) == len(data)
    table = {a: b for a, b in zip(data, data[1:])}
    table[data[-1]] = end
    return table


def forced_logprob(vocab_size):
    s = ScriptedModel.SCRIPT_LOGIT
    return s - math.log(math.exp(s) + (vocab_size - 1) * math.exp(-s))


# ----------------------------------------------------------------------------- KV cache


def test_cached_logits_equal_the_full_forward_with_left_padding(model64):
    rng = np.random.default_rng(0)
    rows = [rng.integers(0, 256, size=n).tolist() for n in (5, 2, 8)]
    continuations = rng.integers(0, 256, size=(3, 6))  # six decode steps
    B, T = len(rows), max(len(r) for r in rows)
    token_ids = np.full((B, T), PAD)
    mask = np.zeros((B, T), dtype=bool)
    for b, row in enumerate(rows):
        token_ids[b, T - len(row):], mask[b, T - len(row):] = row, True
    cache = KVCache(CONFIG, B, T + 6, dtype=np.float64)
    logits, _ = model64.forward(token_ids, mask, kv_cache=cache, last_only=True)
    for step in range(7):
        for b, row in enumerate(rows):
            alone = model64.logits(np.array([row + continuations[b, :step].tolist()]))[0, -1]  # no cache, no padding
            np.testing.assert_allclose(logits[b, -1], alone, rtol=1e-10, atol=1e-12)
        if step < 6:
            logits, _ = model64.forward(continuations[:, step:step + 1], kv_cache=cache, last_only=True)


def test_dropping_rows_from_the_cache_keeps_the_others_exact(model64):
    rows = [[1, 2, 3], [4, 5, 6, 7], [8]]
    full = generate(model64, ByteTokenizer(), rows, 6, stop_token_ids=[])
    cache = KVCache(CONFIG, 3, 4 + 6, dtype=np.float64)
    token_ids = np.array([[PAD, 1, 2, 3], [4, 5, 6, 7], [PAD, PAD, PAD, 8]])
    model64.forward(token_ids, token_ids != PAD, kv_cache=cache, last_only=True)
    model64.forward(np.array([[full[b].token_ids[0]] for b in range(3)]), kv_cache=cache)
    cache.select_rows([0, 2])
    logits, _ = model64.forward(np.array([[full[0].token_ids[1]], [full[2].token_ids[1]]]), kv_cache=cache)
    for i, b in enumerate([0, 2]):
        alone = model64.logits(np.array([rows[b] + full[b].token_ids[:2]]))[0, -1]
        np.testing.assert_allclose(logits[i, -1], alone, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- batching


def test_batched_greedy_equals_one_by_one(model64):
    prompts = [[10, 20, 30], [7], [1, 2, 3, 4, 5, 6, 7, 8, 9], "héllo"]
    batched = generate(model64, ByteTokenizer(), prompts, 8, stop_token_ids=[])
    for prompt, result in zip(prompts, batched):
        (alone,) = generate(model64, ByteTokenizer(), [prompt], 8, stop_token_ids=[])
        assert result.token_ids == alone.token_ids
        np.testing.assert_allclose(result.logprobs, alone.logprobs, rtol=1e-9)
        assert result.finish_reason == "length" and len(result.token_ids) == 8


def test_repeated_prompts_are_prefilled_once_and_sample_as_if_alone(model64, monkeypatch):
    """A GRPO group (one prompt, several samples): the prompt runs through the model once, every row
    gets its cache, and each row samples exactly as it would alone with its own generator."""
    prompts = [[5, 6, 7], [9], [5, 6, 7], [5, 6, 7], [9]]
    batch_sizes = []
    forward = model64.forward

    def counting_forward(token_ids, *args, **kwargs):
        batch_sizes.append(np.shape(token_ids))
        return forward(token_ids, *args, **kwargs)

    monkeypatch.setattr(model64, "forward", counting_forward)
    results = generate(model64, ByteTokenizer(), prompts, 6, temperature=1.0, stop_token_ids=[],
                       rng=[np.random.default_rng([4, index]) for index in range(5)])
    assert batch_sizes[0] == (2, 3)  # the prefill: the two distinct prompts, left-padded to 3
    assert all(shape == (5, 1) for shape in batch_sizes[1:])  # then every row, one token a step
    assert len({tuple(r.token_ids) for r in results[::2] + results[1::2]}) > 2  # the samples differ
    for index, prompt in enumerate(prompts):
        (alone,) = generate(model64, ByteTokenizer(), [prompt], 6, temperature=1.0, stop_token_ids=[],
                            rng=[np.random.default_rng([4, index])])
        assert alone.token_ids == results[index].token_ids
        np.testing.assert_allclose(alone.logprobs, results[index].logprobs, rtol=1e-9)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_float32_models_logprobs_are_its_backends_op_on_its_own_logits(backend):
    """A float32 model's recorded log-probabilities are the backend's token log-probability op on the
    step's float32 logits (float32 numbers, not a float64 log-softmax of widened logits), greedy and
    sampled, and agree with a full forward's to float32 rounding."""
    if backend == "numba":
        pytest.importorskip("numba")
    model = Qwen3Model.from_config(CONFIG, seed=3, dtype="float32", backend=backend)
    for temperature in (0.0, 1.3):
        (result,) = generate(model, ByteTokenizer(), [[3, 1, 4, 1, 5]], 6, temperature=temperature, seed=0,
                             stop_token_ids=[])
        assert result.logprobs.dtype == np.float64
        assert result.logprobs.astype(np.float32).astype(np.float64).tolist() == result.logprobs.tolist()
        sequence = np.array([[3, 1, 4, 1, 5] + result.token_ids])  # (1, T)
        full, _ = model.token_logprobs(sequence[:, :-1], sequence[:, 1:])  # (1, T - 1)
        np.testing.assert_allclose(result.logprobs, full[0, 4:], rtol=1e-4, atol=1e-5)


def test_logprobs_are_the_full_forward_log_softmax(model64):
    (result,) = generate(model64, ByteTokenizer(), [[3, 1, 4, 1, 5]], 6, temperature=1.3, top_k=20, seed=0,
                         stop_token_ids=[])
    sequence = [3, 1, 4, 1, 5] + result.token_ids
    logits = model64.logits(np.array([sequence]))[0]  # (T, V)
    for i, token in enumerate(result.token_ids):
        row = logits[4 + i]
        expected = row[token] - (row.max() + math.log(np.exp(row - row.max()).sum()))
        assert abs(result.logprobs[i] - expected) < 1e-9
    assert np.all(result.sampling_logprobs <= 0) and np.all(np.isfinite(result.sampling_logprobs))
    # top-k keeps at most 20 of 260 tokens, so the sampling distribution is sharper than the raw one
    assert np.all(result.sampling_logprobs > result.logprobs)


def test_float32_model_generates_the_same_greedy_tokens_as_float64(model32, model64):
    prompts = [[11, 12, 13], [200]]
    a = generate(model32, ByteTokenizer(), prompts, 5, stop_token_ids=[])
    b = generate(model64, ByteTokenizer(), prompts, 5, stop_token_ids=[])
    assert [r.token_ids for r in a] == [r.token_ids for r in b]


def test_finished_rows_leave_the_batch(model64):
    tokenizer = ByteTokenizer()
    scripted = ScriptedModel(model64, chain_table(b"abcdef") | chain_table(b"xy"))
    results = generate(scripted, tokenizer, ["a", "x"], 10)
    assert results[0].token_ids == list(b"bcdef") + [EOS] and results[0].text == "bcdef"
    assert results[1].token_ids == [ord("y"), EOS] and results[1].text == "y"
    assert [r.finish_reason for r in results] == ["stop", "stop"]
    # prefill with 2 rows, one step with 2, then only the unfinished row
    assert scripted.batch_sizes == [2, 2, 1, 1, 1, 1]
    # the forced log-prob is -5.3e-7: log-softmax's log(1 + tiny) is exact to ~1e-16 absolute, not relative
    np.testing.assert_allclose(results[0].logprobs, forced_logprob(CONFIG.vocab_size), rtol=1e-12, atol=1e-15)
    assert results[0].sampling_logprobs.tolist() == [0.0] * 6


# ----------------------------------------------------------------------------- stop conditions


def test_stop_token_ids_none_means_the_tokenizers_eos(model64):
    scripted = ScriptedModel(model64, chain_table(b"abcd", end=ord("z")) | {ord("z"): ord("a")})
    (stopped,) = generate(scripted, ByteTokenizer(eos_token_id=ord("d")), ["a"], 10)
    assert stopped.token_ids == list(b"bcd") and stopped.text == "bc" and stopped.finish_reason == "stop"
    (never,) = generate(scripted, ByteTokenizer(eos_token_id=ord("d")), ["a"], 10, stop_token_ids=[])
    assert never.text == "bcdzabcdza" and never.finish_reason == "length"
    (other,) = generate(scripted, ByteTokenizer(eos_token_id=ord("d")), ["a"], 10, stop_token_ids=[ord("z")])
    assert other.text == "bcd" and other.token_ids[-1] == ord("z")


def test_stop_strings_cut_the_text_and_end_the_row(model64):
    scripted = ScriptedModel(model64, chain_table(b"Answer=42. Tk", end=ord("A")))
    (result,) = generate(scripted, ByteTokenizer(), ["A"], 30, stop_strings=[". T", "zzz"], stop_token_ids=[])
    assert result.text == "nswer=42"
    assert result.finish_reason == "stop"
    assert bytes(result.token_ids) == b"nswer=42. T"  # generation ended with the token completing the stop


def test_a_multibyte_stop_string_split_across_tokens(model64):
    scripted = ScriptedModel(model64, chain_table("xé!".encode()))
    (result,) = generate(scripted, ByteTokenizer(), ["x"], 10, stop_strings=["é"])
    assert result.text == "" and result.finish_reason == "stop" and len(result.token_ids) == 2


def test_length_limit_is_the_context_window(model64):
    (result,) = generate(model64, ByteTokenizer(), [[1] * 60], 50, stop_token_ids=[])
    assert len(result.token_ids) == CONFIG.max_position_embeddings - 60 and result.finish_reason == "length"


# ----------------------------------------------------------------------------- streaming


def test_stream_decoder_never_splits_a_character():
    text = "aé😀b€ok"
    ids = list(text.encode())
    decoder = TextStreamDecoder(ByteTokenizer())
    pieces = [decoder.push(i) for i in ids] + [decoder.flush()]
    assert "".join(pieces) == text
    assert all("\ufffd" not in piece for piece in pieces)
    assert pieces[:4] == ["a", "", "é", ""]


def test_stream_generate_yields_whole_characters_that_join_to_the_text(model64):
    scripted = ScriptedModel(model64, chain_table("aé😀b".encode()))
    stream = stream_generate(scripted, ByteTokenizer(), "a", 20)
    pieces = list(stream)
    assert pieces == ["é", "😀", "b"]
    assert stream.result.text == "é😀b" and stream.result.finish_reason == "stop"
    (batch,) = generate(scripted, ByteTokenizer(), ["a"], 20)
    assert batch.token_ids == stream.result.token_ids and batch.text == stream.result.text


def test_stream_holds_back_a_possible_stop_string(model64):
    scripted = ScriptedModel(model64, chain_table(b"(abc[/s]"))
    pieces = list(stream_generate(scripted, ByteTokenizer(), "(", 30, stop_strings=["[/s]"]))
    assert "".join(pieces) == "abc"
    assert all("[" not in piece for piece in pieces)


def test_stream_matches_generate_on_a_random_model_with_sampling(model64):
    kwargs = dict(temperature=1.0, top_p=0.9, seed=5, stop_token_ids=[])
    stream = stream_generate(model64, ByteTokenizer(), [5, 6, 7], 12, **kwargs)
    joined = "".join(stream)
    (batch,) = generate(model64, ByteTokenizer(), [[5, 6, 7]], 12, **kwargs)
    assert stream.result.token_ids == batch.token_ids
    assert joined == batch.text == ByteTokenizer().decode(batch.token_ids)


def test_with_the_real_bpe_tokenizer(model64):
    train_bpe = pytest.importorskip("minireason.io.bpe_trainer").train_bpe
    tokenizer = train_bpe(["héllo wörld 😀 " * 20, "abc déf " * 20], vocab_size=300)
    model = Qwen3Model.from_config(CONFIG.replace(vocab_size=tokenizer.vocab_size), seed=1,
                                   dtype="float64")
    prompt = "héllo wörld"
    results = generate(model, tokenizer, [prompt, "abc"], 10, temperature=1.0, seed=2, stop_token_ids=[])
    for result in results:
        assert result.text == tokenizer.decode(result.token_ids)
    stream = stream_generate(model, tokenizer, prompt, 10, temperature=1.0, seed=2, stop_token_ids=[])
    pieces = list(stream)
    (alone,) = generate(model, tokenizer, [prompt], 10, temperature=1.0, seed=2, stop_token_ids=[])
    assert "".join(pieces) == alone.text and stream.result.token_ids == alone.token_ids
    assert results[0].prompt_tokens == tokenizer.encode(prompt)


# ----------------------------------------------------------------------------- seeds


def test_seeds_reproduce_and_differ(model64):
    prompts = [[1, 2], [3, 4, 5]]
    kwargs = dict(temperature=1.0, stop_token_ids=[])
    first = generate(model64, ByteTokenizer(), prompts, 10, seed=11, **kwargs)
    again = generate(model64, ByteTokenizer(), prompts, 10, rng=np.random.default_rng(11), **kwargs)
    other = generate(model64, ByteTokenizer(), prompts, 10, seed=12, **kwargs)
    assert [r.token_ids for r in first] == [r.token_ids for r in again]
    assert [r.token_ids for r in first] != [r.token_ids for r in other]


def test_one_generator_per_prompt_makes_samples_independent_of_the_batch(model64):
    """rng as a list: a prompt's sample depends on its own generator only, not on which prompts share
    its batch nor on when they finish (rows leave the batch; the mapping must follow them)."""
    prompts = [[1, 2], [3, 4, 5], [6], [7, 8, 9, 10], [11, 12, 13]]
    kwargs = dict(temperature=1.0, top_k=50)

    def generators(indices):
        return [np.random.default_rng([21, index]) for index in indices]

    # rows finish at different steps: a token row 1 draws early becomes the stop token
    everything = generate(model64, ByteTokenizer(), prompts, 12, rng=generators(range(5)), stop_token_ids=[],
                          **kwargs)
    stop = everything[1].token_ids[3]  # row 1 ends at its 4th token at the latest
    together = generate(model64, ByteTokenizer(), prompts, 12, rng=generators(range(5)), stop_token_ids=[stop],
                        **kwargs)
    lengths = [len(result.token_ids) for result in together]
    assert len(set(lengths)) > 1  # rows did leave the batch at different steps
    for index, prompt in enumerate(prompts):
        (alone,) = generate(model64, ByteTokenizer(), [prompt], 12, rng=generators([index]),
                            stop_token_ids=[stop], **kwargs)
        assert alone.token_ids == together[index].token_ids
        np.testing.assert_allclose(alone.sampling_logprobs, together[index].sampling_logprobs, rtol=1e-9)
    pairs = generate(model64, ByteTokenizer(), prompts[3:], 12, rng=generators([3, 4]), stop_token_ids=[stop],
                     **kwargs)
    assert [r.token_ids for r in pairs] == [r.token_ids for r in together[3:]]
    # a stream of one prompt takes a list of one generator, with the same result
    stream = stream_generate(model64, ByteTokenizer(), prompts[2], 12, rng=generators([2]), stop_token_ids=[stop],
                             **kwargs)
    list(stream)
    assert stream.result.token_ids == together[2].token_ids


def test_a_list_of_generators_needs_one_per_prompt(model64):
    with pytest.raises(InputError, match="one per prompt"):
        generate(model64, ByteTokenizer(), [[1], [2]], 3, temperature=1.0, rng=[np.random.default_rng(0)])
    with pytest.raises(InputError, match="rng must be"):
        generate(model64, ByteTokenizer(), [[1]], 3, temperature=1.0, rng=[1])


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("prompts, kwargs, name", [
    ([""], {}, "prompts"),
    ([[]], {}, "prompts"),
    ([[1] * 64], {}, "prompts"),
    ([[1, 260]], {}, "prompts"),
    ([[-1, 2]], {}, "prompts"),
    ([], {}, "prompts"),
    ("a string", {}, "prompts"),
    ([[1]], {"temperature": -1.0}, "temperature"),
    ([[1]], {"top_p": 0.0}, "top_p"),
    ([[1]], {"top_p": 1.5}, "top_p"),
    ([[1]], {"top_k": -2}, "top_k"),
    ([[1]], {"min_p": 2.0}, "min_p"),
    ([[1]], {"max_new_tokens": 0}, "max_new_tokens"),
    ([[1]], {"max_new_tokens": 2.5}, "max_new_tokens"),
    ([[1]], {"stop_strings": [""]}, "stop_strings"),
    ([[1]], {"seed": 1, "rng": np.random.default_rng(1)}, "seed"),
])
def test_bad_input_raises_naming_the_argument(model64, prompts, kwargs, name):
    kwargs = {"max_new_tokens": 3} | kwargs
    with pytest.raises(InputError, match=name) as error:
        generate(model64, ByteTokenizer(), prompts, **kwargs)
    assert isinstance(error.value, ValueError)
    if name == "prompts" and prompts and prompts[0] == [1] * 64:
        assert "63" in str(error.value)  # the allowed range is named


def test_stream_generate_checks_input_before_iterating(model64):
    with pytest.raises(InputError, match="top_p"):
        stream_generate(model64, ByteTokenizer(), "hi", 3, top_p=0)
    with pytest.raises(InputError, match="prompts"):
        stream_generate(model64, ByteTokenizer(), [], 3)


# ----------------------------------------------------------------------------- commands


def test_chat_shows_thinking_distinctly_even_when_markers_are_split():
    out = io.StringIO()
    printer = ThinkingPrinter(out, use_color=False)
    for piece in ["<th", "ink>\nadd the", " units</thi", "nk>\n\n", "5"]:
        printer.write(piece)
    printer.close()
    assert out.getvalue() == "[thinking] \nadd the units\n[/thinking]\n\n5\n"


def test_generate_and_chat_commands_run_on_a_saved_checkpoint(tmp_path, capsys, monkeypatch):
    tokenizer = train_bpe(["hello world 12+34=46 " * 30], vocab_size=280)
    model = Qwen3Model.from_config(CONFIG.replace(vocab_size=tokenizer.vocab_size), seed=0)
    save_pretrained(tmp_path / "ckpt", model, tokenizer)
    assert main(["generate", "--model", str(tmp_path / "ckpt"), "--prompt", "hello", "--max-new-tokens", "5"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("hello") and "tokens/s" in captured.err
    lines = iter(["hi", "/reset", "/exit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    assert main(["chat", "--model", str(tmp_path / "ckpt"), "--max-new-tokens", "4", "--no-thinking"]) == 0
    captured = capsys.readouterr()
    assert "assistant> " in captured.out and "[conversation reset]" in captured.err


def test_token_id_prompts_without_a_tokenizer(model64):
    """Token-id prompts need no tokenizer: the ids come back, the text is empty; strings are refused."""
    with_tokenizer = generate(model64, None, [[1, 2, 3]], 5, stop_token_ids=[])
    assert len(with_tokenizer[0].token_ids) == 5 and with_tokenizer[0].text == ""
    greedy_again = generate(model64, None, [[1, 2, 3]], 5, stop_token_ids=[])
    assert greedy_again[0].token_ids == with_tokenizer[0].token_ids
    with pytest.raises(InputError, match="tokenizer is None"):
        generate(model64, None, ["a string"], 5, stop_token_ids=[])
    with pytest.raises(InputError, match="tokenizer"):
        generate(model64, None, [[1, 2]], 5, stop_token_ids=[], stop_strings=["x"])


def test_rollouts_with_one_generator_per_row_do_not_depend_on_max_rows():
    model = Qwen3Model.from_config(CONFIG, seed=0)
    records, prompts = [{"id": 0}, {"id": 1}], ["ab", "cde"]

    def sampled(max_rows):
        generators = [np.random.default_rng([7, row]) for row in range(4)]  # G=2 rows per prompt
        return sample_rollouts(model, ByteTokenizer(), records, prompts, 2, 5, temperature=1.0, rng=generators,
                               max_rows=max_rows).completion_ids

    whole = sampled(4)
    assert sampled(1) == whole and sampled(3) == whole
    assert len({tuple(ids) for ids in whole}) > 1  # the rows really drew apart


def test_a_batch_decoded_in_parts_samples_what_one_batch_samples(model64, monkeypatch):
    """The active rows split over threads (``DECODE_PART_MIN_WORK``), each part with its own cache,
    rows leaving their parts at different steps: the same tokens and log-probabilities as one part."""
    prompts = [[11, 12, 13], [200], [5, 6], [7, 8, 9, 10], [1], [2, 3], [40]]
    stops = list(range(0, 260, 9))  # about one token in nine ends a row: rows finish at different steps

    def sample():
        generators = [np.random.default_rng(seed) for seed in range(len(prompts))]
        return generate(model64, None, prompts, 12, temperature=1.0, rng=generators, stop_token_ids=stops)

    monkeypatch.setattr(generate_module, "DECODE_PART_MIN_WORK", 1 << 62)
    whole = sample()
    assert len({len(result.token_ids) for result in whole}) > 2  # the parts lose rows unevenly
    monkeypatch.setattr(generate_module, "DECODE_PART_MIN_WORK", 1)
    monkeypatch.setattr(runtime, "parallel_threads", lambda: 3)
    assert generate_module.decode_parts(model64, len(prompts)) == 3
    in_parts = sample()
    assert [result.token_ids for result in in_parts] == [result.token_ids for result in whole]
    for split, one in zip(in_parts, whole):
        np.testing.assert_allclose(split.logprobs, one.logprobs, rtol=1e-12, atol=1e-12)
