"""Thinking budget: the cap is exact, forced tokens are marked, "Wait" replaces an early </think> at
most max_wait times, batched equals alone, the KV cache (with taken-back slots) matches a full
forward, bad settings are refused, and ``budget@N`` in ``minireason scale``."""

import math

import numpy as np
import pytest
from byte_tokenizer import ByteTokenizer

from minireason.config import PRESETS
from minireason.errors import InputError
from minireason.generation.generate import ThinkingBudget, generate, stream_generate
from minireason.model import Qwen3Model

CONFIG = PRESETS["test-tiny"].replace(vocab_size=260, max_position_embeddings=96)
SCRIPT_LOGIT = 10.0


class PieceTokenizer:
    """Greedy longest-match over ASCII characters (ids 0..127) and a few longer pieces, so the
    markers span several tokens: "<think>" = "<thi" + "nk>", "</think>" = "</th" + "ink>"."""

    PIECES = ["<thi", "nk>", "</th", "ink>", "Wait", "b</th"]
    EOS = 250

    def __init__(self):
        self.pieces = [chr(code) for code in range(128)] + self.PIECES
        self.ids = {piece: index for index, piece in enumerate(self.pieces)}
        self.eos_token_id = self.EOS

    def encode(self, text):
        ids, at = [], 0
        while at < len(text):
            piece = max((p for p in self.PIECES + [text[at]] if text.startswith(p, at)), key=len)
            ids.append(self.ids[piece])
            at += len(piece)
        return ids

    def decode(self, ids):
        return "".join(self.pieces[i] for i in ids if i < len(self.pieces))

    def id(self, piece):
        return self.ids[piece]


class ScriptedModel:
    """A real tiny model runs every forward (so the KV cache is exercised), but the logits say
    +SCRIPT_LOGIT for table[last input token] (EOS when absent) and -SCRIPT_LOGIT elsewhere."""

    def __init__(self, table):
        self.model = Qwen3Model.from_config(CONFIG, seed=1, dtype="float64")
        self.config, self.dtype, self.table = CONFIG, self.model.dtype, table
        self.generation_config = {}

    def forward(self, token_ids, attention_mask=None, position_ids=None, kv_cache=None, last_only=False):
        self.model.forward(token_ids, attention_mask, position_ids, kv_cache, last_only)
        token_ids = np.asarray(token_ids)
        logits = np.full((token_ids.shape[0], 1, CONFIG.vocab_size), -SCRIPT_LOGIT)
        for b, last in enumerate(token_ids[:, -1]):
            logits[b, 0, self.table.get(int(last), PieceTokenizer.EOS)] = SCRIPT_LOGIT
        return logits, None


def script(tokenizer, pieces, extra=()):
    """next-token table: each piece is followed by the next; ``extra`` adds (piece, next) pairs."""
    table = {tokenizer.id(a): tokenizer.id(b) for a, b in zip(pieces, pieces[1:])}
    table.update({tokenizer.id(a): tokenizer.id(b) for a, b in extra})
    return table


def model_logprob(scripted):
    """The scripted model's log-probability of a token it prefers (or not)."""
    normaliser = math.log(math.exp(SCRIPT_LOGIT) + (CONFIG.vocab_size - 1) * math.exp(-SCRIPT_LOGIT))
    return (SCRIPT_LOGIT if scripted else -SCRIPT_LOGIT) - normaliser


THINKING = list("acdefghjklmopqrsuvwxyz")  # 22 distinct thinking tokens
TOKENIZER = PieceTokenizer()


def long_thinker():
    """<think> a c d ... z </think> \\n 7 <eos>: 22 thinking tokens, markers of two tokens each."""
    return ScriptedModel(script(TOKENIZER, ["Q", "<thi", "nk>", *THINKING, "</th", "ink>", "\n", "7"]))


# ----------------------------------------------------------------------------- the cap


@pytest.mark.parametrize("cap", [0, 1, 5, 21, 22, 40])
def test_the_cap_is_exact_with_markers_of_several_tokens(cap):
    model = long_thinker()
    (result,) = generate(model, TOKENIZER, ["Q"], 60, thinking_budget=ThinkingBudget(max_thinking_tokens=cap))
    kept = min(cap, len(THINKING))
    assert result.thinking_tokens == kept
    assert result.text == "<think>" + "".join(THINKING[:kept]) + "</think>\n7"
    forced = result.forced.tolist()
    if cap <= len(THINKING):  # </think> and the answer prefix "\n" forced once N tokens are spent
        first = 2 + cap
        assert forced == [False] * first + [True] * 3 + [False] * (len(forced) - first - 3)
        assert result.sampling_logprobs[first] == 0.0
        if cap < len(THINKING):  # the model wanted another thinking token, not "</th"
            assert result.logprobs[first] == pytest.approx(model_logprob(False))
    else:  # the model closed in time: nothing forced
        assert not any(forced)
    # every log-prob, forced or sampled, is the model's own for that token after its context
    previous = [TOKENIZER.id("Q")] + result.token_ids[:-1]
    expected = [model_logprob(model.table.get(p, PieceTokenizer.EOS) == t) for p, t in zip(previous, result.token_ids)]
    np.testing.assert_allclose(result.logprobs, expected, rtol=0, atol=1e-12)
    assert result.finish_reason == "stop"


def test_the_cap_completes_a_close_marker_the_model_started():
    """At the cap the text ends in "</th" (a start of </think>): only the rest, "ink>", is forced,
    and the "</th" token is not a thinking token."""
    model = ScriptedModel(script(TOKENIZER, ["Q", "<thi", "nk>", "a", "c", "</th", "q", "r"]))
    (free,) = generate(model, TOKENIZER, ["Q"], 12)
    assert free.text.startswith("<think>ac</thqr")  # without a budget it never closes
    (result,) = generate(model, TOKENIZER, ["Q"], 12, thinking_budget=ThinkingBudget(max_thinking_tokens=3))
    assert result.text.startswith("<think>ac</think>\n")
    assert result.thinking_tokens == 2
    assert [TOKENIZER.pieces[t] for t, f in zip(result.token_ids, result.forced) if f] == ["ink>", "\n"]


def test_prompt_that_ends_inside_a_thinking_block_counts_generated_tokens_only():
    model = ScriptedModel(script(TOKENIZER, ["\n", *THINKING, "</th", "ink>", "7"]))
    prompt = "Q<think>\n"  # as Qwen3's template with thinking on may end
    (result,) = generate(model, TOKENIZER, [prompt], 40, thinking_budget=ThinkingBudget(max_thinking_tokens=4))
    assert result.text.startswith("acde</think>\n") and result.thinking_tokens == 4
    closed = "Q<think>\n</think>\n"  # a block already closed in the prompt: nothing to steer
    (answer,) = generate(model, TOKENIZER, [closed], 40, thinking_budget=ThinkingBudget(max_thinking_tokens=1))
    assert not answer.forced.any() and answer.thinking_tokens is None


# ----------------------------------------------------------------------------- budget forcing ("Wait")


def early_closer(split_marker=False):
    """<think> a b </think> \\n 7, and after "Wait": c </think> \\n 7 (so each Wait adds 2 thinking tokens)."""
    pieces = ["Q", "<thi", "nk>", "a"] + (["b</th"] if split_marker else ["b", "</th"]) + ["ink>", "\n", "7"]
    return ScriptedModel(script(TOKENIZER, pieces, extra=[("Wait", "c"), ("c", "</th"), ("</th", "ink>")]))


@pytest.mark.parametrize("max_wait", [1, 2, 3])
def test_wait_replaces_an_early_close_at_most_max_wait_times(max_wait):
    budget = ThinkingBudget(min_thinking_tokens=50, max_wait=max_wait)
    (result,) = generate(early_closer(), TOKENIZER, ["Q"], 60, thinking_budget=budget)
    assert result.text == "<think>ab" + "Waitc" * max_wait + "</think>\n7"
    assert result.waits == max_wait and result.thinking_tokens == 2 + 2 * max_wait
    assert result.discarded_tokens == 2 * max_wait  # each replaced </think> was two tokens
    forced = [TOKENIZER.pieces[t] for t, f in zip(result.token_ids, result.forced) if f]
    assert forced == ["Wait"] * max_wait


def test_no_wait_once_the_minimum_is_reached():
    budget = ThinkingBudget(min_thinking_tokens=4, max_wait=5)
    (result,) = generate(early_closer(), TOKENIZER, ["Q"], 60, thinking_budget=budget)
    assert result.text == "<think>abWaitc</think>\n7" and result.waits == 1 and result.thinking_tokens == 4


def test_wait_keeps_the_text_a_token_held_before_the_marker():
    """The token "b</th" holds thinking text before the marker: it is taken back with the marker and
    its "b" forced again before "Wait", so the text is the same as with separate tokens."""
    budget = ThinkingBudget(min_thinking_tokens=50, max_wait=1)
    (split,) = generate(early_closer(split_marker=True), TOKENIZER, ["Q"], 60, thinking_budget=budget)
    (plain,) = generate(early_closer(), TOKENIZER, ["Q"], 60, thinking_budget=budget)
    assert split.text == plain.text == "<think>abWaitc</think>\n7"
    assert [TOKENIZER.pieces[t] for t, f in zip(split.token_ids, split.forced) if f] == ["b", "Wait"]


def test_cap_and_minimum_together_give_exactly_the_budget():
    """Closing after 2 < 4 tokens gets a "Wait" (3 tokens fit under the cap of 4); at 4 the cap closes."""
    budget = ThinkingBudget(max_thinking_tokens=4, min_thinking_tokens=4, max_wait=5)
    (result,) = generate(early_closer(), TOKENIZER, ["Q"], 60, thinking_budget=budget)
    assert result.thinking_tokens == 4 and result.text == "<think>abWaitc</think>\n7"
    tight = ThinkingBudget(max_thinking_tokens=2, min_thinking_tokens=2, max_wait=5)
    (closed,) = generate(early_closer(), TOKENIZER, ["Q"], 60, thinking_budget=tight)
    assert closed.thinking_tokens == 2 and closed.waits == 0


def test_the_stream_never_shows_text_that_is_taken_back():
    budget = ThinkingBudget(min_thinking_tokens=50, max_wait=2)
    for model in (early_closer(), early_closer(split_marker=True)):
        stream = stream_generate(model, TOKENIZER, "Q", 60, thinking_budget=budget)
        pieces = list(stream)
        (batch,) = generate(model, TOKENIZER, ["Q"], 60, thinking_budget=budget)
        # shown piece by piece, and nothing shown was taken back (the joined pieces would hold it)
        assert len(pieces) > 5 and "".join(pieces) == stream.result.text == batch.text
        assert stream.result.token_ids == batch.token_ids and stream.result.waits == 2


# ----------------------------------------------------------------------------- the real built-in model


@pytest.fixture(scope="module")
def base64():
    from minireason.io.pretrained import load_pretrained

    return load_pretrained("builtin:base", dtype="float64")


def addition_prompts(count):
    from minireason.evaluation.prompts import PromptSpec
    from minireason.tasks.export import resolve_data

    return [PromptSpec("cot").text(record["problem"])
            for record in resolve_data(f"task:addition?n={count}&split=test&difficulty=3&seed=5")]


def test_batched_equals_alone_with_per_row_generators(base64):
    model, tokenizer = base64
    prompts = addition_prompts(4)
    budgets = [ThinkingBudget(max_thinking_tokens=8), None,
               ThinkingBudget(max_thinking_tokens=30, min_thinking_tokens=20), ThinkingBudget(max_thinking_tokens=0)]

    def generators(indices):
        return [np.random.default_rng([5, index]) for index in indices]

    for temperature in (0.0, 1.0):
        together = generate(model, tokenizer, prompts, 70, temperature=temperature, rng=generators(range(4)),
                            thinking_budget=budgets)
        assert together[0].forced.any() and not together[1].forced.any() and together[3].forced.any()
        for index, prompt in enumerate(prompts):
            (alone,) = generate(model, tokenizer, [prompt], 70, temperature=temperature,
                                rng=generators([index]), thinking_budget=budgets[index])
            assert alone.token_ids == together[index].token_ids
            assert alone.forced.tolist() == together[index].forced.tolist()
            assert alone.thinking_tokens == together[index].thinking_tokens
            np.testing.assert_allclose(alone.logprobs, together[index].logprobs, rtol=1e-9)


@pytest.mark.parametrize("parts", [1, 3])
def test_the_cache_after_taking_tokens_back_matches_a_full_forward(base64, parts, monkeypatch):
    """A two-token close marker ("</think>" then "\\n") makes every "Wait" take back two fed tokens;
    the logits a full forward (no cache) gives the final sequence must be those decoding saw, also
    with the rows decoded in parts of their own (one thread each, ``DECODE_PART_MIN_WORK``)."""
    from minireason import runtime
    from minireason.generation import generate as generate_module
    from minireason.generation.sampling import log_softmax

    model, tokenizer = base64
    monkeypatch.setattr(generate_module, "DECODE_PART_MIN_WORK", 1 if parts > 1 else 1 << 62)
    monkeypatch.setattr(runtime, "parallel_threads", lambda: parts)
    budget = ThinkingBudget(max_thinking_tokens=70, min_thinking_tokens=60, max_wait=2, close_text="</think>\n")
    results = generate(model, tokenizer, addition_prompts(3), 110, thinking_budget=budget)
    assert sum(result.waits for result in results) >= 2 and sum(r.discarded_tokens for r in results) >= 4
    for result in results:
        sequence = result.prompt_tokens + result.token_ids
        logits = model.logits(np.array([sequence]))[0]  # (T, V), no cache
        predicting = log_softmax(logits[len(result.prompt_tokens) - 1:-1])  # (n, V)
        chosen = predicting[np.arange(len(result.token_ids)), result.token_ids]
        np.testing.assert_allclose(result.logprobs, chosen, rtol=1e-8, atol=1e-10)
        sampled = ~result.forced
        assert (np.argmax(predicting, axis=-1)[sampled] == np.array(result.token_ids)[sampled]).all()


def test_a_large_budget_changes_nothing(base64):
    model, tokenizer = base64
    prompts = addition_prompts(3)
    plain = generate(model, tokenizer, prompts, 80)
    budgeted = generate(model, tokenizer, prompts, 80, thinking_budget=ThinkingBudget(max_thinking_tokens=500))
    assert [r.token_ids for r in plain] == [r.token_ids for r in budgeted]
    assert all(0 < r.thinking_tokens < 80 and not r.forced.any() for r in budgeted)


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("kwargs, words", [
    ({}, "got neither"),
    ({"max_thinking_tokens": -1}, "max_thinking_tokens"),
    ({"max_thinking_tokens": 2.5}, "max_thinking_tokens"),
    ({"max_thinking_tokens": True}, "max_thinking_tokens"),
    ({"min_thinking_tokens": -3}, "min_thinking_tokens"),
    ({"max_thinking_tokens": 3, "min_thinking_tokens": 5}, "exceeds"),
    ({"min_thinking_tokens": 5, "max_wait": 0}, "max_wait >= 1"),
    ({"max_thinking_tokens": 5, "max_wait": -1}, "max_wait"),
    ({"max_thinking_tokens": 5, "close_text": ""}, "close_text"),
    ({"max_thinking_tokens": 5, "open_text": "<t>", "close_text": "<t>"}, "differ"),
    ({"max_thinking_tokens": 5, "wait_text": "ok</think>"}, "wait_text"),
    ({"max_thinking_tokens": 5, "answer_prefix": None}, "answer_prefix"),
])
def test_bad_budgets_are_refused_in_one_line(kwargs, words):
    with pytest.raises(InputError, match=words) as error:
        ThinkingBudget(**kwargs)
    assert "\n" not in str(error.value)


def test_generate_refuses_a_budget_it_cannot_use():
    model = long_thinker()
    with pytest.raises(InputError, match="thinking_budget must be"):
        generate(model, TOKENIZER, ["Q"], 5, thinking_budget=8)
    with pytest.raises(InputError, match="one budget .or None. per prompt: 2, got 1"):
        generate(model, TOKENIZER, ["Q", "Q"], 5, thinking_budget=[ThinkingBudget(max_thinking_tokens=1)])
    with pytest.raises(InputError, match="needs a tokenizer"):
        generate(model, None, [[1, 2]], 5, thinking_budget=ThinkingBudget(max_thinking_tokens=1))


@pytest.mark.parametrize("flags, words", [
    (["--max-wait", "2"], "--max-wait needs --min-thinking-tokens"),
    (["--max-thinking-tokens", "3", "--min-thinking-tokens", "5"], "exceeds"),
])
def test_commands_refuse_bad_budget_flags_in_one_line(flags, words, capsys):
    from minireason.cli.main import main

    assert main(["generate", "--model", "builtin:base", "--prompt", "x", *flags]) == 1
    error = capsys.readouterr().err.strip()
    assert words in error and "\n" not in error


def test_generate_command_with_a_cap(capsys):
    from minireason.cli.main import main

    prompt = addition_prompts(1)[0]
    assert main(["generate", "--model", "builtin:base", "--prompt", prompt, "--temperature", "0",
                 "--max-new-tokens", "40", "--max-thinking-tokens", "3"]) == 0
    out = capsys.readouterr().out
    thinking = out[len(prompt):].split("</think>")[0]
    assert thinking.startswith("<think>") and len(thinking) <= len("<think>") + 3 * 8


# ----------------------------------------------------------------------------- eval settings


def test_eval_manifest_holds_the_budget_and_generate_gets_it(tmp_path):
    from minireason.evaluation.runs import EvalSettings, run_evaluation
    from minireason.identity import read_manifest

    seen = []

    def fake_generate(model, tokenizer, prompts, **kwargs):
        from minireason.generation.generate import GenerationResult

        seen.append(kwargs.get("thinking_budget"))
        return [GenerationResult([1, 2], "<think>x</think>\n\\boxed{2}", np.zeros(2), np.zeros(2), "stop",
                                 forced=np.array([False, True]), thinking_tokens=1) for _ in prompts]

    problems = [{"problem": "1+1", "answer": "2"}]
    settings = EvalSettings(max_thinking_tokens=8, batch_size=1)
    run_evaluation(None, None, problems, tmp_path / "out.jsonl", settings, generate_function=fake_generate,
                   progress=False)
    assert seen[0] == ThinkingBudget(max_thinking_tokens=8)
    identity = read_manifest(tmp_path / "out.jsonl")["identity"]
    assert identity["max_thinking_tokens"] == 8 and identity["min_thinking_tokens"] is None
    record = (tmp_path / "out.jsonl").read_text()
    assert '"thinking_tokens": 1' in record and '"forced_tokens": 1' in record
    with pytest.raises(InputError, match="max_thinking_tokens"):  # another budget is another run
        run_evaluation(None, None, problems * 2, tmp_path / "out.jsonl", EvalSettings(max_thinking_tokens=16),
                       generate_function=fake_generate, progress=False)
    with pytest.raises(InputError, match="max_wait"):
        EvalSettings(max_wait=2).check()
    run_evaluation(None, None, problems, tmp_path / "plain.jsonl", EvalSettings(), generate_function=fake_generate,
                   progress=False)
    assert seen[-1] is None  # no budget: generate is called as before


# ----------------------------------------------------------------------------- scale: budget@N


def test_budget_methods_parse():
    from minireason.scaling.runner import parse_method, parse_methods

    specs = parse_methods("budget@0,budget@8,budget@8:wait")
    assert [(s.kind, s.size, s.option, s.label) for s in specs] == [
        ("budget", 0, "", "budget@0"), ("budget", 8, "", "budget@8"), ("budget", 8, "wait", "budget@8:wait")]
    for bad in ["budget", "budget@", "budget@x", "budget@8:early", "budget@-1", "budget@2000000"]:
        with pytest.raises(InputError, match="budget"):
            parse_method(bad)


def test_budget_methods_run_and_spend_more_thinking_with_more_budget(base64, tmp_path):
    from minireason.scaling.outcome import ScalingSettings
    from minireason.scaling.runner import format_table, parse_methods, run_comparison
    from minireason.scaling.sampler import ModelSampler
    from minireason.tasks.export import resolve_data

    model, tokenizer = base64
    records = resolve_data("task:addition?n=4&split=test&difficulty=3&seed=5")
    budgets = [0, 4, 8, 16, 32, 500]
    specs = parse_methods(",".join(["cot"] + [f"budget@{n}" for n in budgets]))
    rows = run_comparison(ModelSampler(model, tokenizer), records, specs, ScalingSettings(max_new_tokens=90),
                          records_path=tmp_path / "records.jsonl")
    thinking = [row.thinking_tokens_per_problem for row in rows[1:]]
    assert all(spent <= budget for spent, budget in zip(thinking, budgets))
    assert thinking == sorted(thinking) and thinking[0] == 0 and thinking[-1] > 30
    cot, largest = rows[0], rows[-1]
    assert largest.accuracy == cot.accuracy and largest.tokens_per_problem == cot.tokens_per_problem
    assert "budget@8: 8.0 thinking tokens per problem" in format_table(rows)
    lines = (tmp_path / "records.jsonl").read_text().splitlines()
    assert sum('"method": "budget@4"' in line and '"forced_tokens": 2' in line for line in lines) == 4


def test_budget_method_needs_a_model_sampler():
    from minireason.scaling.outcome import ScalingSettings
    from minireason.scaling.runner import parse_method, run_method

    with pytest.raises(InputError, match="needs a sampler with a model"):
        run_method(parse_method("budget@4"), object(), "1+1", lambda answer: True, ScalingSettings(), 0)


def test_byte_tokenizer_cap_with_a_random_model():
    """Byte tokens: "</think>" is 8 tokens; a random model never writes it, so the cap must."""
    model = Qwen3Model.from_config(CONFIG, seed=3, dtype="float64")
    prompts = ["Q<think>", "Long question<think>", "no block"]
    results = generate(model, ByteTokenizer(), prompts, 30, stop_token_ids=[],
                       thinking_budget=ThinkingBudget(max_thinking_tokens=6))
    for result in results[:2]:
        assert result.thinking_tokens == 6 and result.forced.tolist()[6:15] == [True] * 9
        assert result.forced.sum() == 9
        assert bytes(result.token_ids[6:15]) == b"</think>\n"
    assert not results[2].forced.any() and results[2].thinking_tokens is None
