"""Batched text generation with a KV cache, its streaming variant, and a thinking budget.

    prompts ─encode─▶ left-padded ids (B, T) + mask ─prefill─▶ logits of the last position
        ─▶ loop: sample (or force) one token per active row ─▶ stop checks, thinking budget
        ─▶ drop finished rows ─▶ one-token forward

- Prefill runs the whole (left-padded) prompt batch once with ``last_only=True``: only the last
  position's logits are projected onto the vocabulary.
- Each decode step feeds one token per row; keys and values of earlier tokens come from the
  ``KVCache``, so a step costs O(context) attention instead of a full O(context^2) forward.
- A row that finishes (stop token, stop string or its length limit) leaves the batch through
  ``KVCache.select_rows``: finished rows stop costing compute.
- Every generated token carries two log-probabilities (see ``sampling.py``): under the raw model and
  under the distribution it was sampled from.
- A ``ThinkingBudget`` steers each row's ``<think>`` block: past a cap of thinking tokens the row is
  given ``</think>`` and an answer prefix (Qwen3's thinking budget); a ``</think>`` that comes before
  a minimum is replaced by "Wait" (s1's budget forcing). Forced tokens go in one per step like
  sampled ones, so every row still advances one token per step and batching changes nothing.

Layout and the meaning of the returned numbers: docs/generation.md; the thinking budget: also
docs/scaling.md.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from minireason import runtime
from minireason.device import to_host
from minireason.errors import InputError
from minireason.generation.incremental_text import TrackedText, longest_partial_suffix
from minireason.generation.kv_cache import KVCache
from minireason.generation.sampling import (
    SampledTokens,
    SamplingSettings,
    chosen_logprobs,
    logprob_op_of,
    sample_next_tokens,
)
from minireason.seeds import check_seed


@dataclass
class GenerationResult:
    """One prompt's completion.

    token_ids: the generated ids only (a stop token that ended generation is included, since the
        model chose it and RL must score it); text: their decoded text, without the stop token and
        cut before the first stop string; logprobs / sampling_logprobs: (len(token_ids),) float64, see
        ``sampling.py``; finish_reason: "stop" (stop token or stop string) or "length" (max_new_tokens
        or the context window ran out); prompt_tokens: the prompt's token ids.
    forced: (len(token_ids),) bool, True where a thinking budget put the token there instead of the
        model choosing it (``</think>`` and the answer prefix at the cap, "Wait" below the minimum).
        A forced token's ``logprobs`` entry is still the model's log-probability of that token (what a
        training forward recomputes, so an RL ratio stays 1 at the start), and its
        ``sampling_logprobs`` entry is 0.0 (it was put there with probability 1); RL and scoring mask
        forced tokens out with this array, since the policy did not choose them.
    thinking_tokens: with a thinking budget, the generated tokens inside the row's ``<think>`` block
        (None without a budget, or when the row never opened one); waits: how many "Wait" were
        inserted; discarded_tokens: tokens the model generated that a "Wait" replaced (decode
        steps spent that are not in token_ids).
    """

    token_ids: list[int]
    text: str
    logprobs: np.ndarray
    sampling_logprobs: np.ndarray
    finish_reason: str
    prompt_tokens: list[int] = field(default_factory=list)
    forced: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    thinking_tokens: int | None = None
    waits: int = 0
    discarded_tokens: int = 0

    @property
    def num_tokens(self) -> int:
        return len(self.token_ids)


# ----------------------------------------------------------------------------- checking the arguments


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name} must be an int >= 1, got {value!r}")
    return int(value)


def encode_prompts(tokenizer, prompts, config) -> list[list[int]]:
    """Each prompt (a string, or a sequence of token ids) as a checked list of ids.

    A prompt must hold 1 to max_position_embeddings - 1 tokens (room for at least one new token),
    every id in [0, vocab_size).
    """
    if isinstance(prompts, (str, bytes)) or not isinstance(prompts, (Sequence, np.ndarray)):
        raise InputError(
            f"prompts must be a list of strings or of token-id lists, got {type(prompts).__name__}"
            + (" (wrap a single prompt in a list)" if isinstance(prompts, str) else "")
        )
    if len(prompts) == 0:
        raise InputError("prompts must hold at least 1 prompt, got an empty list")
    longest_allowed = config.max_position_embeddings - 1
    rows = []
    for index, prompt in enumerate(prompts):
        if isinstance(prompt, str):
            if tokenizer is None:
                raise InputError(f"prompts[{index}] is a string but tokenizer is None; pass token ids or a tokenizer")
            ids = list(tokenizer.encode(prompt))
        else:
            array = np.asarray(prompt)
            if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
                raise InputError(f"prompts[{index}] must be a string or a 1-D list of ints, got {prompt!r:.80}")
            ids = array.astype(np.int64).tolist()
        if len(ids) == 0:
            raise InputError(f"prompts[{index}] is empty; a prompt needs 1 to {longest_allowed} tokens")
        if len(ids) > longest_allowed:
            raise InputError(
                f"prompts[{index}] has {len(ids)} tokens; it must have 1 to {longest_allowed} "
                f"(max_position_embeddings {config.max_position_embeddings} minus one new token)"
            )
        low, high = min(ids), max(ids)
        if low < 0 or high >= config.vocab_size:
            bad = low if low < 0 else high
            raise InputError(f"prompts[{index}] holds token id {bad}, outside the vocabulary [0, {config.vocab_size})")
        rows.append(ids)
    return rows


def pad_token_id(tokenizer, model) -> int:
    """The id that fills padded positions: the tokenizer's pad token when the model has it, else 0.

    Padded positions are masked out of attention and losses, so any id the embedding has will do;
    the tokenizer's own keeps the padded arrays readable.
    """
    pad = getattr(tokenizer, "pad_token_id", None)
    return pad if pad is not None and 0 <= pad < model.config.vocab_size else 0


def eos_token_ids(tokenizer, model) -> list[int]:
    """The ids that end generation by default: the tokenizer's eos, plus the model's generation_config eos."""
    found: list[int] = []
    candidates = [getattr(tokenizer, "eos_token_id", None), getattr(tokenizer, "eos_token_ids", None),
                  getattr(model, "generation_config", {}).get("eos_token_id")]
    for candidate in candidates:
        values = candidate if isinstance(candidate, (list, tuple, set, frozenset)) else [candidate]
        found.extend(int(value) for value in values if value is not None and int(value) not in found)
    return found


def _check_stop_token_ids(stop_token_ids, tokenizer, model) -> frozenset[int]:
    if stop_token_ids is None:
        return frozenset(eos_token_ids(tokenizer, model))
    if isinstance(stop_token_ids, (int, np.integer)):
        stop_token_ids = [stop_token_ids]
    try:
        return frozenset(int(value) for value in stop_token_ids)
    except (TypeError, ValueError):
        raise InputError(f"stop_token_ids must be None or a list of ints, got {stop_token_ids!r}") from None


def _check_stop_strings(stop_strings) -> tuple[str, ...]:
    if stop_strings is None:
        return ()
    if isinstance(stop_strings, str):
        stop_strings = [stop_strings]
    stop_strings = tuple(stop_strings)
    if not all(isinstance(text, str) and text for text in stop_strings):
        raise InputError(f"stop_strings must be None or a list of non-empty strings, got {stop_strings!r}")
    return stop_strings


def _make_rng(seed, rng, count: int):
    """The randomness of a batch of ``count`` prompts: one Generator, or a list of ``count``
    Generators (one per prompt, see ``sampling.row_uniforms``)."""
    if rng is not None and seed is not None:
        raise InputError("give either seed or rng, not both")
    if rng is None:
        return np.random.default_rng(check_seed(seed))
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (list, tuple)) and all(isinstance(g, np.random.Generator) for g in rng):
        if len(rng) != count:
            raise InputError(f"rng: a list of Generators needs one per prompt: {count}, got {len(rng)}")
        return list(rng)
    raise InputError(f"rng must be a numpy.random.Generator or a list of them (one per prompt), "
                     f"got {type(rng).__name__}")


def find_stop_string(text: str, stop_strings: Sequence[str], search_from: int = 0) -> int:
    """Index in ``text`` where the earliest stop string starts (searching from ``search_from``), or -1."""
    positions = [text.find(stop, search_from) for stop in stop_strings]
    positions = [position for position in positions if position >= 0]
    return min(positions) if positions else -1


# ----------------------------------------------------------------------------- thinking budget


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


@dataclass(frozen=True)
class ThinkingBudget:
    """How many tokens a row may (and must) think inside its ``<think>`` block.

    max_thinking_tokens: the cap (None = no cap). Once a row has generated this many tokens
        inside the block without closing it, the tokens of ``close_text`` and then of
        ``answer_prefix`` are forced into the row, one per step, and the model answers from there
        (Qwen3's thinking budget). If the block's text already ends in the start of
        ``close_text`` (a ``</`` split over tokens), only the rest is forced. The cap is exact: a
        row never has more than this many thinking tokens; 0 closes the block at once.
    min_thinking_tokens: the minimum (0 = none). When a row closes the block (its text shows
        ``close_text``) after fewer thinking tokens, the tokens that wrote ``close_text`` are taken
        back (their keys and values are masked out of the KV cache) and ``wait_text`` is forced in
        their place, so the model keeps thinking (s1's budget forcing); at most ``max_wait`` times
        per row, and never when the "Wait" would not fit under the cap.
    open_text / close_text: the block's markers, matched in the decoded text (so they may be one
        token, as in Qwen3 and the built-in tokenizers, or several, as in a byte tokenizer).

    Thinking tokens are generated tokens: counted from the token after the one that completes
    ``open_text`` (or from the first generated token when the prompt ends inside an open block,
    as Qwen3's chat template with thinking on may), up to the token where ``close_text`` begins.
    Forced "Wait" tokens are thinking tokens; the forced ``close_text`` and answer prefix are not.
    Only a row's first block is steered; a row that never opens one is left alone.
    """

    max_thinking_tokens: int | None = None
    min_thinking_tokens: int = 0
    max_wait: int = 1
    answer_prefix: str = "\n"
    wait_text: str = "Wait"
    open_text: str = "<think>"
    close_text: str = "</think>"

    def __post_init__(self) -> None:
        cap, least, waits = self.max_thinking_tokens, self.min_thinking_tokens, self.max_wait
        if cap is not None and (not _is_int(cap) or cap < 0):
            raise InputError(f"thinking budget: max_thinking_tokens must be None or an int >= 0, got {cap!r}")
        if not _is_int(least) or least < 0:
            raise InputError(f"thinking budget: min_thinking_tokens must be an int >= 0, got {least!r}")
        if not _is_int(waits) or waits < 0:
            raise InputError(f"thinking budget: max_wait must be an int >= 0, got {waits!r}")
        if cap is None and least == 0:
            raise InputError("thinking budget: set max_thinking_tokens (a cap) or min_thinking_tokens "
                             "(a minimum), got neither")
        if least > 0 and waits < 1:
            raise InputError(f"thinking budget: min_thinking_tokens {least} needs max_wait >= 1 "
                             f"(how many times a '</think>' may be replaced), got {waits}")
        if cap is not None and least > cap:
            raise InputError(f"thinking budget: min_thinking_tokens {least} exceeds max_thinking_tokens {cap}")
        for name in ("open_text", "close_text", "wait_text"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise InputError(f"thinking budget: {name} must be a non-empty string, got {value!r}")
        if not isinstance(self.answer_prefix, str):
            raise InputError(f"thinking budget: answer_prefix must be a string, got {self.answer_prefix!r}")
        if self.open_text == self.close_text:
            raise InputError(f"thinking budget: open_text and close_text must differ, both {self.open_text!r}")
        if self.close_text in self.wait_text:
            raise InputError(f"thinking budget: wait_text {self.wait_text!r} holds close_text {self.close_text!r}")

    @property
    def max_removed_tokens(self) -> int:
        """The most tokens one "Wait" takes back: those that overlap ``close_text`` (each holds at
        least one of its bytes) and up to 3 before them that hold only part of a character."""
        return len(self.close_text.encode("utf-8")) + 3

    def as_dict(self) -> dict:
        """Every field (for manifests and records)."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _check_thinking_budgets(thinking_budget, count: int) -> list[ThinkingBudget | None]:
    """One budget (or None) per prompt: one for all, or a list with one per prompt."""
    if thinking_budget is None or isinstance(thinking_budget, ThinkingBudget):
        return [thinking_budget] * count
    if isinstance(thinking_budget, (list, tuple)) and all(
            budget is None or isinstance(budget, ThinkingBudget) for budget in thinking_budget):
        if len(thinking_budget) != count:
            raise InputError(f"thinking_budget: a list needs one budget (or None) per prompt: {count}, "
                             f"got {len(thinking_budget)}")
        return list(thinking_budget)
    raise InputError(f"thinking_budget must be None, a ThinkingBudget or a list of them (one per prompt), "
                     f"got {type(thinking_budget).__name__}")


class RowDecoding:
    """One row's generated tokens and what ends or steers them: stop token, stop strings, length
    limit and thinking budget. The decoding engine gives it one token per step (sampled, or the
    next of ``pending``, the tokens a budget forces) through ``push``, which answers with the token
    to feed the model next and how many of the row's last cache slots to forget first (a "Wait"
    taking back a ``</think>``), or None once the row is finished. A stream (``TextStream``, the
    server's scheduler) shows ``text.text`` up to ``hold_back()`` while it runs, then ``final_text()``."""

    def __init__(self, prompt_ids: list[int], limit: int, stops: frozenset[int], stop_strings: tuple[str, ...],
                 tokenizer, budget: ThinkingBudget | None, keep_text: bool = False):
        self.prompt_ids, self.limit, self.stops, self.stop_strings = prompt_ids, limit, stops, stop_strings
        self.tokenizer, self.budget = tokenizer, budget
        self.longest_stop = max((len(stop) for stop in stop_strings), default=0)
        self.keep_text = keep_text  # the stream always needs the text
        self.token_ids: list[int] = []
        self.logprobs: list[float] = []
        self.sampling_logprobs: list[float] = []
        self.forced: list[bool] = []
        self.finish_reason: str | None = None
        self.text = TrackedText(tokenizer) if (stop_strings or budget is not None or keep_text) else None
        self.pending: deque[int] = deque()  # tokens the budget forces, fed one per step
        # the thinking block: "before" it opens, "thinking" inside, "answer" after (or never steered)
        self.phase = "answer" if budget is None else "before"
        self.think_start = 0  # index in token_ids of the first thinking token
        self.think_text_start = 0  # where in the text the block's content starts
        self.closing = False  # the close marker is being forced: no "Wait" for it
        self.thinking_at_cap = 0
        self.thinking_tokens: int | None = None
        self.waits = 0
        self.discarded = 0
        if budget is not None and self._prompt_ends_inside_block():
            self.phase = "thinking"

    def _prompt_ends_inside_block(self) -> bool:
        text = self.tokenizer.decode(self.prompt_ids)
        opened = text.rfind(self.budget.open_text)
        return opened >= 0 and text.find(self.budget.close_text, opened + len(self.budget.open_text)) < 0

    def push(self, token_id: int, logprob: float, sampling_logprob: float, forced: bool):
        self.token_ids.append(token_id)
        self.logprobs.append(logprob)
        self.sampling_logprobs.append(sampling_logprob)
        self.forced.append(forced)
        if token_id in self.stops:
            return self._finish("stop")
        retract = 0
        if self.text is not None:
            before = len(self.text.text)
            delta = self.text.push(token_id)
            if delta and self.stop_strings:
                search_from = max(0, before - self.longest_stop + 1)
                if find_stop_string(self.text.text, self.stop_strings, search_from) >= 0:
                    return self._finish("stop")
            # before the block only new text can open it; inside it the cap counts tokens, text or not
            if self.phase == "thinking" or (self.phase == "before" and delta):
                retract = self._steer(before)
            if self.phase == "answer" and not (self.stop_strings or self.keep_text):
                self.text = None  # nothing left to look for in this row's text
        if len(self.token_ids) >= self.limit:
            return self._finish("length")
        # after a take-back the model is fed the last kept token again, at its own position
        return (self.token_ids or self.prompt_ids)[-1], retract

    def _finish(self, reason: str) -> None:
        self.finish_reason = reason
        if self.phase == "thinking":  # ended inside the block
            self.thinking_tokens = len(self.token_ids) - self.think_start
        return None

    def _steer(self, before: int) -> int:
        """The thinking budget after the text grew from ``before`` characters; returns the cache
        slots to forget (a take-back), else 0."""
        budget, text = self.budget, self.text.text
        if self.phase == "before":
            at = text.find(budget.open_text, max(0, before - len(budget.open_text) + 1))
            if at < 0:
                return 0
            self.phase = "thinking"
            self.think_start = len(self.token_ids)  # counted from the token after the one completing it
            self.think_text_start = before = at + len(budget.open_text)
        close = budget.close_text
        at = text.find(close, max(self.think_text_start, before - len(close) + 1))
        if at >= 0:
            marker_token = self.text.token_at(at)
            thinking = max(0, marker_token - self.think_start)
            if not self.closing and thinking < budget.min_thinking_tokens and self.waits < budget.max_wait:
                retract = self._replace_close(marker_token, at)
                if retract:
                    return retract
            self.phase, self.thinking_tokens = "answer", thinking
            return 0
        if self.closing and not self.pending:  # the forced tokens did not decode to close_text: stop steering
            self.phase, self.thinking_tokens = "answer", self.thinking_at_cap
            return 0
        cap = budget.max_thinking_tokens
        if cap is not None and not self.pending and len(self.token_ids) - self.think_start >= cap:
            started = longest_partial_suffix(text[self.think_text_start:], (close,))
            self.pending.extend(self.tokenizer.encode(close[started:] + budget.answer_prefix))
            self.closing, self.thinking_at_cap = True, len(self.token_ids) - self.think_start
        return 0

    def _replace_close(self, marker_token: int, at: int) -> int:
        """Take back the tokens from the one where ``close_text`` begins (and those before it that
        hold only part of a character) and queue the text they held before the marker, then
        ``wait_text``. Returns how many cache slots to forget, 0 when the "Wait" cannot be given."""
        budget, tracked = self.budget, self.text
        first = marker_token
        while (first > self.think_start and marker_token - first < 3
               and tracked.end_before(first) == tracked.end_before(first - 1)):
            first -= 1
        removed = len(self.token_ids) - first
        forced = list(self.tokenizer.encode(tracked.text[tracked.end_before(first):at] + budget.wait_text))
        cap = budget.max_thinking_tokens
        if removed > budget.max_removed_tokens or (cap is not None and first - self.think_start + len(forced) > cap):
            return 0
        del self.token_ids[first:], self.logprobs[first:], self.sampling_logprobs[first:], self.forced[first:]
        tracked.drop_last(removed)
        self.pending.extend(forced)
        self.waits += 1
        self.discarded += removed
        # the removed tokens but the newest were fed to the model; the last kept token is fed again
        return removed

    def hold_back(self) -> int:
        """How many trailing characters of the text a stream must not show yet: the start of a stop
        string, or the tokens holding the start of a ``</think>`` that a "Wait" may still take back."""
        text = self.text.text
        held = longest_partial_suffix(text, self.stop_strings, self.longest_stop) if self.stop_strings else 0
        budget = self.budget
        if (self.phase == "thinking" and not self.closing and self.waits < budget.max_wait
                and budget.min_thinking_tokens > 0):
            started = longest_partial_suffix(text[self.think_text_start:], (budget.close_text,))
            if started:
                first = max(self.think_start, self.text.token_at(len(text) - started) - 3)
                held = max(held, len(text) - self.text.end_before(first))
        return held

    def final_text(self) -> str:
        """The whole text of a finished row (built with ``keep_text``): cut before its first stop
        string, else with the bytes of an unfinished character as U+FFFD (once: this flushes)."""
        text = self.text.text
        cut = find_stop_string(text, self.stop_strings) if self.stop_strings else -1
        if cut >= 0:
            return text[:cut]
        if not (self.finish_reason == "stop" and self.token_ids[-1] not in self.stops):
            text += self.text.flush()
        return text

    def result(self, text: str) -> GenerationResult:
        return GenerationResult(
            token_ids=self.token_ids, text=text,
            logprobs=np.array(self.logprobs, dtype=np.float64),
            sampling_logprobs=np.array(self.sampling_logprobs, dtype=np.float64),
            finish_reason=self.finish_reason or "length", prompt_tokens=self.prompt_ids,
            forced=np.array(self.forced, dtype=bool), thinking_tokens=self.thinking_tokens,
            waits=self.waits, discarded_tokens=self.discarded)


# ----------------------------------------------------------------------------- the decoding engine


# A decoding step may split its rows over the cores (``BatchDecoder``, ``runtime.run_on_cores``)
# when each part has at least this many multiply-adds (rows x parameters).  Off: a part pays a
# step's per-op costs whole, and on the built-in models those are most of a step, so split, a GRPO
# rollout of builtin:base (128 rows) spent 1.3x to 1.9x the CPU and was no faster on an idle 2-core
# machine (0.56 to 0.80 s against 0.62 to 0.66 s), slower under load (docs/kernels.md, "Rows split
# over the cores"; ``benchmarks/profile_grpo_step.py --decode-parts-from``).
DECODE_PART_MIN_WORK = 1 << 62


def decode_parts(model, rows: int) -> int:
    """How many parts a decoding step of ``rows`` rows splits into: one per thread
    (``runtime.parallel_threads``), each of at least DECODE_PART_MIN_WORK multiply-adds; 1 for a
    model whose arrays are not NumPy's."""
    if getattr(model, "array_module", np) is not np or not hasattr(model, "num_parameters"):
        return 1
    return max(1, min(runtime.parallel_threads(), rows, rows * model.num_parameters() // DECODE_PART_MIN_WORK))


class BatchDecoder:
    """The model side of generation: prefill, then one token per active row per step.

    ``rows`` are the prompts' token ids (equal rows are prefilled once); ``capacity`` the most decode
    steps any row may take. After the prefill, ``sample()`` draws the next token of every active row, and ``advance(token_ids,
    keep, retract)`` drops the rows whose ``keep`` is False, makes each kept row forget its last
    ``retract`` cache slots, and feeds the new tokens through the model. ``active_rows`` maps each
    cache row back to its index in ``rows``. ``rng``: one Generator for the batch, or a list with
    one per row of ``rows`` (each active row then draws from its own).
    """

    def __init__(self, model, rows: list[list[int]], capacity: int, settings: SamplingSettings,
                 rng: np.random.Generator | list[np.random.Generator], pad_token_id: int = 0):
        B = len(rows)
        # Rows that repeat a prompt (a GRPO group, self-consistency's samples) share its prefill: the
        # distinct prompts run through the model once, then each row gets a copy of its prompt's cache.
        distinct: dict[tuple[int, ...], int] = {}
        source = np.array([distinct.setdefault(tuple(row), len(distinct)) for row in rows])  # (B,) distinct prompt of each row
        prompts = list(distinct)
        T = max(len(prompt) for prompt in prompts)
        token_ids = np.full((len(prompts), T), pad_token_id, dtype=np.int64)  # (distinct, T), left-padded
        attention_mask = np.zeros((len(prompts), T), dtype=bool)  # (distinct, T), True on real tokens
        for b, prompt in enumerate(prompts):
            token_ids[b, T - len(prompt):] = prompt
            attention_mask[b, T - len(prompt):] = True
        self.model, self.settings, self.rng = model, settings, rng
        self.logprob_op = logprob_op_of(model)
        module = getattr(model, "array_module", np)  # where the model's arrays live (numpy unless on a GPU)
        cache = KVCache(model.config, len(prompts), T + capacity, dtype=model.dtype, array_module=module)
        logits, _ = model.forward(token_ids, attention_mask, kv_cache=cache, last_only=True)  # (distinct, 1, V)
        if len(prompts) < B:
            cache.select_rows(source)
            logits = logits[module.asarray(source)]  # (B, 1, V)
        # sampling runs on the host with the caller's numpy Generator (runs reproduce on any
        # device); for a model on a GPU that copies B x V logits per step, nothing larger
        self.next_logits = to_host(logits[:, -1])  # (B, V)
        self.active_rows = np.arange(B)
        # the active rows in consecutive parts, each with its own cache, decoded side by side (one
        # thread each) when a step's work is big enough; a part whose rows have all finished is dropped
        count = decode_parts(model, B)
        if count == 1:
            self.parts = [cache]
        else:
            bounds = np.linspace(0, B, count + 1).round().astype(int)
            self.parts = [cache.take_rows(np.arange(first, last)) for first, last in zip(bounds[:-1], bounds[1:])]

    def _part_bounds(self) -> np.ndarray:
        """Where each part's rows start among the active rows, and the end.  (parts + 1,)"""
        return np.cumsum([0] + [part.batch_size for part in self.parts])

    def sample(self) -> SampledTokens:
        rng = self.rng
        if not isinstance(rng, np.random.Generator):  # one per prompt: those of the rows still active
            rng = [rng[b] for b in self.active_rows.tolist()]
        return sample_next_tokens(self.next_logits, self.settings, rng, self.logprob_op)

    def forced_logprobs(self, positions: list[int], token_ids: list[int]) -> np.ndarray:
        """The model's log-probability of tokens put in by hand at the given active-row positions.  (n,)"""
        return chosen_logprobs(self.next_logits[positions], np.array(token_ids, dtype=np.int64),
                               self.logprob_op)

    def advance(self, token_ids: np.ndarray, keep: np.ndarray | None = None,
                retract: np.ndarray | None = None) -> None:
        """Drop the rows with keep False; each kept row forgets its last ``retract`` real cache slots
        (keys and values masked out, its next position moved back, as if they had never been fed);
        then run the new tokens (one per kept row) through the model."""
        if keep is not None and not keep.all():
            bounds = self._part_bounds()
            parts = []
            for part, first, last in zip(self.parts, bounds[:-1], bounds[1:]):
                kept_here = np.flatnonzero(keep[first:last])
                if len(kept_here) == part.batch_size:
                    parts.append(part)
                elif len(kept_here):
                    part.select_rows(kept_here)
                    parts.append(part)
            self.parts = parts
            kept = np.flatnonzero(keep)
            self.active_rows = self.active_rows[kept]
            token_ids = token_ids[kept]
            retract = None if retract is None else retract[kept]
        if retract is not None and retract.any():
            bounds = self._part_bounds()
            for row in np.flatnonzero(retract).tolist():
                count = int(retract[row])
                part_index = int(np.searchsorted(bounds, row, side="right")) - 1
                cache, row_in_part = self.parts[part_index], row - int(bounds[part_index])
                # the row's real slots: one per token it was fed (padding and earlier holes are False)
                filled = np.flatnonzero(cache.key_mask[row_in_part, :cache.length])
                cache.key_mask[row_in_part, filled[-count:]] = False
                cache.next_positions[row_in_part] -= count
        if len(self.parts) == 1:
            logits, _ = self.model.forward(token_ids[:, None], kv_cache=self.parts[0], last_only=True)  # (B, 1, V)
        else:
            bounds = self._part_bounds()
            logits = np.concatenate(runtime.run_on_cores([
                lambda part=part, first=first, last=last: self.model.forward(
                    token_ids[first:last, None], kv_cache=part, last_only=True)[0]
                for part, first, last in zip(self.parts, bounds[:-1], bounds[1:])]))  # (B, 1, V)
        self.next_logits = to_host(logits[:, -1])


def _prepare(model, tokenizer, prompts, max_new_tokens, temperature, top_k, top_p, min_p, seed,
             stop_token_ids, stop_strings, rng, thinking_budget, keep_text=False):
    max_new_tokens = _check_positive_int(max_new_tokens, "max_new_tokens")
    settings = SamplingSettings(temperature, top_k, top_p, min_p)
    rows = encode_prompts(tokenizer, prompts, model.config)
    stops = _check_stop_token_ids(stop_token_ids, tokenizer, model)
    stop_strings = _check_stop_strings(stop_strings)
    if stop_strings and tokenizer is None:
        raise InputError("stop_strings need a tokenizer to decode text; tokenizer is None")
    budgets = _check_thinking_budgets(thinking_budget, len(rows))
    if tokenizer is None and any(budget is not None for budget in budgets):
        raise InputError("thinking_budget needs a tokenizer to find <think> in the text; tokenizer is None")
    rng = _make_rng(seed, rng, len(rows))
    # a row may add tokens until the context window (max_position_embeddings) is full
    limits = [min(max_new_tokens, model.config.max_position_embeddings - len(row)) for row in rows]
    states = [RowDecoding(row, limit, stops, stop_strings, tokenizer, budget, keep_text)
              for row, limit, budget in zip(rows, limits, budgets)]
    # every "Wait" takes back a few tokens whose cache slots stay behind as holes
    extra_steps = max((budget.max_wait * (budget.max_removed_tokens + 1) for budget in budgets
                       if budget is not None and budget.min_thinking_tokens > 0), default=0)
    decoder = BatchDecoder(model, rows, max(limits) + extra_steps, settings, rng, pad_token_id(tokenizer, model))
    return states, decoder


def _decode_step(decoder: BatchDecoder, states: list[RowDecoding]):
    """One token for every active row (the next forced one, else the sampled one), given to its
    row; returns (tokens to feed, keep, retract), one entry per active row."""
    sampled = decoder.sample()
    active = decoder.active_rows.tolist()
    forced_positions = [i for i, b in enumerate(active) if states[b].pending]
    forced_logprobs = {}
    if forced_positions:
        forced_ids = [states[active[i]].pending[0] for i in forced_positions]
        forced_logprobs = dict(zip(forced_positions, decoder.forced_logprobs(forced_positions, forced_ids).tolist()))
    new_ids = sampled.token_ids.tolist()
    new_logprobs, new_sampling = sampled.logprobs.tolist(), sampled.sampling_logprobs.tolist()
    feed = np.zeros(len(active), dtype=np.int64)  # (B,)
    retract = np.zeros(len(active), dtype=np.int64)  # (B,)
    keep = np.ones(len(active), dtype=bool)  # (B,)
    for i, b in enumerate(active):
        state = states[b]
        if i in forced_logprobs:
            step = state.push(state.pending.popleft(), forced_logprobs[i], 0.0, True)
        else:
            step = state.push(new_ids[i], new_logprobs[i], new_sampling[i], False)
        if step is None:
            keep[i] = False
        else:
            feed[i], retract[i] = step
    return feed, keep, retract


def _final_text(tokenizer, token_ids: list[int], finish_reason: str, stops, stop_strings) -> str:
    if finish_reason == "stop" and token_ids and token_ids[-1] in stops:
        token_ids = token_ids[:-1]
    if tokenizer is None:  # token-id prompts without a tokenizer: ids only
        return ""
    text = tokenizer.decode(token_ids)
    cut = find_stop_string(text, stop_strings)
    return text if cut < 0 else text[:cut]


# ----------------------------------------------------------------------------- public API


def generate(model, tokenizer, prompts, max_new_tokens: int, temperature: float = 0.0, top_k: int = 0,
             top_p: float = 1.0, min_p: float = 0.0, seed: int | None = None, stop_token_ids=None,
             stop_strings=None, rng=None, thinking_budget=None) -> list[GenerationResult]:
    """Complete every prompt; one ``GenerationResult`` per prompt, in order.

    prompts: a list of strings or of token-id lists (mixed lengths are left-padded).
    temperature 0 is greedy; top_k (0 = off), top_p (1 = off) and min_p (0 = off) filter the
    temperature-scaled distribution in that order. seed or rng fix the randomness: rng is one
    ``numpy.random.Generator`` for the batch, or a list of them, one per prompt, so that a
    prompt's sample does not depend on the other prompts of its batch (batch boundaries, a
    resume after an interrupt).
    stop_token_ids: None for the tokenizer's eos ids, [] to never stop early.
    stop_strings: generation of a row ends when its text contains one; the text is cut before it.
    thinking_budget: None, a :class:`ThinkingBudget` for every prompt, or a list with one (or None)
    per prompt; forced tokens are marked in ``GenerationResult.forced``. A forced token is fed at
    a decode step like a sampled one (the random draw of that step is made and unused), so a row
    with its own Generator gives the same result in any batch.
    Raises InputError naming the argument for anything outside its allowed range.
    """
    with runtime.use_profile(runtime.DECODE):  # where decoding starts: the process settings for it
        states, decoder = _prepare(model, tokenizer, prompts, max_new_tokens, temperature, top_k, top_p, min_p,
                                   seed, stop_token_ids, stop_strings, rng, thinking_budget)
        while True:
            feed, keep, retract = _decode_step(decoder, states)
            if not keep.any():
                break
            decoder.advance(feed, keep, retract)
    return [state.result(_final_text(tokenizer, state.token_ids, state.finish_reason, state.stops,
                                     state.stop_strings)) for state in states]


class TextStream:
    """Iterate to get text deltas (each valid UTF-8, never half a character); ``result`` afterwards.

    Made by ``stream_generate``. The deltas join to ``result.text``. While iterating,
    ``token_ids`` holds what has been generated so far (useful after a Ctrl-C). Text that may still
    be taken back (the start of a stop string, or of a ``</think>`` a thinking budget may replace
    with "Wait") is held until the next tokens decide it.
    """

    def __init__(self, model, tokenizer, prompt, max_new_tokens, temperature, top_k, top_p, min_p, seed,
                 stop_token_ids, stop_strings, rng, thinking_budget=None):
        if not isinstance(prompt, str) and np.asarray(prompt).ndim != 1:
            raise InputError("stream_generate takes one prompt: a string or a list of token ids, "
                             f"got an array of shape {np.shape(prompt)}")
        if tokenizer is None:
            raise InputError("stream_generate needs a tokenizer to decode text; tokenizer is None")
        (self._state,), self._decoder = _prepare(
            model, tokenizer, [prompt], max_new_tokens, temperature, top_k, top_p, min_p, seed,
            stop_token_ids, stop_strings, rng, thinking_budget, keep_text=True)
        self.rows, self.limits = [self._state.prompt_ids], [self._state.limit]
        self.stops, self.stop_strings = self._state.stops, self._state.stop_strings
        self.finish_reason: str | None = None
        self.result: GenerationResult | None = None

    @property
    def token_ids(self) -> list[int]:
        return self._state.token_ids

    @property
    def logprobs(self) -> list[float]:
        return self._state.logprobs

    @property
    def sampling_logprobs(self) -> list[float]:
        return self._state.sampling_logprobs

    def __iter__(self) -> Iterator[str]:
        state = self._state
        emitted: list[str] = []
        shown = 0  # characters of the row's text already yielded
        with runtime.use_profile(runtime.DECODE):  # where decoding starts: the process settings for it
            while True:
                feed, keep, retract = _decode_step(self._decoder, [state])
                if not keep[0]:
                    break
                text = state.text.text
                safe = len(text) - state.hold_back()
                if safe > shown:
                    emitted.append(text[shown:safe])
                    shown = safe
                    yield emitted[-1]
                self._decoder.advance(feed, keep, retract)
        text = state.final_text()
        if len(text) > shown:
            emitted.append(text[shown:])
            yield emitted[-1]
        self.finish_reason = state.finish_reason or "length"
        self.result = state.result("".join(emitted))


def stream_generate(model, tokenizer, prompt, max_new_tokens: int, temperature: float = 0.0, top_k: int = 0,
                    top_p: float = 1.0, min_p: float = 0.0, seed: int | None = None, stop_token_ids=None,
                    stop_strings=None, rng=None, thinking_budget=None) -> TextStream:
    """Like ``generate`` for one prompt, but an iterable of text deltas as they become complete.

    >>> stream = stream_generate(model, tokenizer, "2+2=", 20)     # doctest: +SKIP
    >>> for piece in stream: print(piece, end="", flush=True)      # doctest: +SKIP
    >>> stream.result.finish_reason                                 # doctest: +SKIP
    """
    return TextStream(model, tokenizer, prompt, max_new_tokens, temperature, top_k, top_p, min_p, seed,
                      stop_token_ids, stop_strings, rng, thinking_budget)
