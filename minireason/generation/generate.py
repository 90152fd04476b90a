"""Batched text generation with a KV cache, and its streaming variant.

    prompts ─encode─▶ left-padded ids (B, T) + mask ─prefill─▶ logits of the last position
        ─▶ loop: sample one token per active row ─▶ stop checks ─▶ drop finished rows ─▶ one-token forward

- Prefill runs the whole (left-padded) prompt batch once with ``last_only=True``: only the last
  position's logits are projected onto the vocabulary.
- Each decode step feeds one token per row; keys and values of earlier tokens come from the
  ``KVCache``, so a step costs O(context) attention instead of a full O(context^2) forward.
- A row that finishes (stop token, stop string or its length limit) leaves the batch through
  ``KVCache.select_rows``: finished rows stop costing compute.
- Every generated token carries two log-probabilities (see ``sampling.py``): under the raw model and
  under the distribution it was sampled from.

Layout and the meaning of the returned numbers: docs/generation.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from minireason.device import to_host
from minireason.errors import InputError
from minireason.generation.incremental_text import make_incremental_decoder
from minireason.generation.kv_cache import KVCache
from minireason.generation.sampling import SampledTokens, SamplingSettings, sample_next_tokens


@dataclass
class GenerationResult:
    """One prompt's completion.

    token_ids: the generated ids only (a stop token that ended generation is included, since the
        model chose it and RL must score it); text: their decoded text, without the stop token and
        cut before the first stop string; logprobs / sampling_logprobs: (len(token_ids),) float64, see
        ``sampling.py``; finish_reason: "stop" (stop token or stop string) or "length" (max_new_tokens
        or the context window ran out); prompt_tokens: the prompt's token ids.
    """

    token_ids: list[int]
    text: str
    logprobs: np.ndarray
    sampling_logprobs: np.ndarray
    finish_reason: str
    prompt_tokens: list[int] = field(default_factory=list)

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


MAX_SEED = 2**63 - 1  # the command line's bound too (cli.arguments.seed): a seed fits the records' int64


def check_seed(seed, name: str = "seed", allow_none: bool = True) -> int | None:
    """A seed is an int in [0, 2**63), or None where ``allow_none`` (fresh entropy). What
    ``numpy.random.default_rng`` accepts as one number, bounded so that it fits an int64 field;
    NumPy's own errors for -1 or 1.5 name neither the argument nor the rule."""
    if seed is None and allow_none:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        allowed = "None or an int" if allow_none else "an int"
        raise InputError(f"{name} must be {allowed} >= 0 and < 2**63, got {seed!r}")
    return int(seed)


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


# ----------------------------------------------------------------------------- the decoding engine


class BatchDecoder:
    """The model side of generation: prefill, then one token per active row per step.

    ``rows`` are the prompts' token ids; ``capacity`` the most tokens any row may add. After the
    prefill, ``sample()`` draws the next token of every active row, and ``advance(token_ids, keep)``
    drops the rows whose ``keep`` is False and feeds the others' new tokens through the model.
    ``active_rows`` maps each cache row back to its index in ``rows``. ``rng``: one Generator for
    the batch, or a list with one per row of ``rows`` (each active row then draws from its own).
    """

    def __init__(self, model, rows: list[list[int]], capacity: int, settings: SamplingSettings,
                 rng: np.random.Generator | list[np.random.Generator], pad_token_id: int = 0):
        B = len(rows)
        lengths = np.array([len(row) for row in rows])  # (B,)
        T = int(lengths.max())
        token_ids = np.full((B, T), pad_token_id, dtype=np.int64)  # (B, T), left-padded
        attention_mask = np.zeros((B, T), dtype=bool)  # (B, T), True on real tokens
        for b, row in enumerate(rows):
            token_ids[b, T - len(row):] = row
            attention_mask[b, T - len(row):] = True
        self.model, self.settings, self.rng = model, settings, rng
        module = getattr(model, "array_module", np)  # where the model's arrays live (numpy unless on a GPU)
        self.cache = KVCache(model.config, B, T + capacity, dtype=model.dtype, array_module=module)
        logits, _ = model.forward(token_ids, attention_mask, kv_cache=self.cache, last_only=True)  # (B, 1, V)
        # sampling runs on the host with the caller's numpy Generator (runs reproduce on any
        # device); for a model on a GPU that copies B x V logits per step, nothing larger
        self.next_logits = to_host(logits[:, -1])  # (B, V)
        self.active_rows = np.arange(B)

    def sample(self) -> SampledTokens:
        rng = self.rng
        if not isinstance(rng, np.random.Generator):  # one per prompt: those of the rows still active
            rng = [rng[b] for b in self.active_rows.tolist()]
        return sample_next_tokens(self.next_logits, self.settings, rng)

    def advance(self, token_ids: np.ndarray, keep: np.ndarray | None = None) -> None:
        """Drop the rows with keep False, then run the new tokens (one per kept row) through the model."""
        if keep is not None and not keep.all():
            kept = np.flatnonzero(keep)
            self.cache.select_rows(kept)
            self.active_rows = self.active_rows[kept]
            token_ids = token_ids[kept]
        logits, _ = self.model.forward(token_ids[:, None], kv_cache=self.cache, last_only=True)  # (B, 1, V)
        self.next_logits = to_host(logits[:, -1])


def _prepare(model, tokenizer, prompts, max_new_tokens, temperature, top_k, top_p, min_p, seed,
             stop_token_ids, stop_strings, rng):
    max_new_tokens = _check_positive_int(max_new_tokens, "max_new_tokens")
    settings = SamplingSettings(temperature, top_k, top_p, min_p)
    rows = encode_prompts(tokenizer, prompts, model.config)
    stops = _check_stop_token_ids(stop_token_ids, tokenizer, model)
    stop_strings = _check_stop_strings(stop_strings)
    if stop_strings and tokenizer is None:
        raise InputError("stop_strings need a tokenizer to decode text; tokenizer is None")
    rng = _make_rng(seed, rng, len(rows))
    # a row may add tokens until the context window (max_position_embeddings) is full
    limits = [min(max_new_tokens, model.config.max_position_embeddings - len(row)) for row in rows]
    pad = getattr(tokenizer, "pad_token_id", None)
    pad = pad if pad is not None and 0 <= pad < model.config.vocab_size else 0
    decoder = BatchDecoder(model, rows, max(limits), settings, rng, pad)
    return rows, limits, stops, stop_strings, decoder


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
             stop_strings=None, rng=None) -> list[GenerationResult]:
    """Complete every prompt; one ``GenerationResult`` per prompt, in order.

    prompts: a list of strings or of token-id lists (mixed lengths are left-padded).
    temperature 0 is greedy; top_k (0 = off), top_p (1 = off) and min_p (0 = off) filter the
    temperature-scaled distribution in that order. seed or rng fix the randomness: rng is one
    ``numpy.random.Generator`` for the batch, or a list of them, one per prompt, so that a
    prompt's sample does not depend on the other prompts of its batch (batch boundaries, a
    resume after an interrupt).
    stop_token_ids: None for the tokenizer's eos ids, [] to never stop early.
    stop_strings: generation of a row ends when its text contains one; the text is cut before it.
    Raises InputError naming the argument for anything outside its allowed range.
    """
    rows, limits, stops, stop_strings, decoder = _prepare(
        model, tokenizer, prompts, max_new_tokens, temperature, top_k, top_p, min_p, seed,
        stop_token_ids, stop_strings, rng)
    B = len(rows)
    generated: list[list[int]] = [[] for _ in range(B)]
    logprobs: list[list[float]] = [[] for _ in range(B)]
    sampling_logprobs: list[list[float]] = [[] for _ in range(B)]
    finish_reasons = ["length"] * B
    # stop strings are looked for in each row's streamed text, only near its end
    text_decoders = [make_incremental_decoder(tokenizer) for _ in range(B)] if stop_strings else None
    texts = [""] * B
    longest_stop = max((len(stop) for stop in stop_strings), default=0)

    while True:
        sampled = decoder.sample()
        new_ids = sampled.token_ids.tolist()
        new_logprobs, new_sampling = sampled.logprobs.tolist(), sampled.sampling_logprobs.tolist()
        keep = np.ones(len(new_ids), dtype=bool)
        for i, b in enumerate(decoder.active_rows.tolist()):
            token_id = new_ids[i]
            generated[b].append(token_id)
            logprobs[b].append(new_logprobs[i])
            sampling_logprobs[b].append(new_sampling[i])
            if token_id in stops:
                finish_reasons[b], keep[i] = "stop", False
                continue
            if text_decoders is not None:
                delta = text_decoders[b].push(token_id)
                if delta:
                    search_from = max(0, len(texts[b]) - longest_stop + 1)
                    texts[b] += delta
                    if find_stop_string(texts[b], stop_strings, search_from) >= 0:
                        finish_reasons[b], keep[i] = "stop", False
                        continue
            if len(generated[b]) >= limits[b]:
                keep[i] = False
        if not keep.any():
            break
        decoder.advance(sampled.token_ids, keep)

    return [
        GenerationResult(
            token_ids=generated[b],
            text=_final_text(tokenizer, generated[b], finish_reasons[b], stops, stop_strings),
            logprobs=np.array(logprobs[b], dtype=np.float64),
            sampling_logprobs=np.array(sampling_logprobs[b], dtype=np.float64),
            finish_reason=finish_reasons[b],
            prompt_tokens=rows[b],
        )
        for b in range(B)
    ]


class TextStream:
    """Iterate to get text deltas (each valid UTF-8, never half a character); ``result`` afterwards.

    Made by ``stream_generate``. The deltas join to ``result.text``. While iterating,
    ``token_ids`` holds what has been generated so far (useful after a Ctrl-C).
    """

    def __init__(self, model, tokenizer, prompt, max_new_tokens, temperature, top_k, top_p, min_p, seed,
                 stop_token_ids, stop_strings, rng):
        if not isinstance(prompt, str) and np.asarray(prompt).ndim != 1:
            raise InputError("stream_generate takes one prompt: a string or a list of token ids, "
                             f"got an array of shape {np.shape(prompt)}")
        prompts = [prompt]
        self._tokenizer = tokenizer
        self.rows, self.limits, self.stops, self.stop_strings, self._decoder = _prepare(
            model, tokenizer, prompts, max_new_tokens, temperature, top_k, top_p, min_p, seed,
            stop_token_ids, stop_strings, rng)
        self.token_ids: list[int] = []
        self.logprobs: list[float] = []
        self.sampling_logprobs: list[float] = []
        self.finish_reason: str | None = None
        self.result: GenerationResult | None = None

    def __iter__(self) -> Iterator[str]:
        text_decoder = make_incremental_decoder(self._tokenizer)
        held = ""  # text not yet yielded: it might be the start of a stop string
        longest_stop = max((len(stop) for stop in self.stop_strings), default=0)
        emitted: list[str] = []
        finish_reason = "length"
        while True:
            sampled = self._decoder.sample()
            token_id = int(sampled.token_ids[0])
            self.token_ids.append(token_id)
            self.logprobs.append(float(sampled.logprobs[0]))
            self.sampling_logprobs.append(float(sampled.sampling_logprobs[0]))
            if token_id in self.stops:
                finish_reason = "stop"
                break
            held += text_decoder.push(token_id)
            if self.stop_strings:
                cut = find_stop_string(held, self.stop_strings)
                if cut >= 0:
                    held, finish_reason = held[:cut], "stop"
                    break
                # yield all but a tail that could still grow into a stop string
                safe = len(held) - _longest_partial_stop(held, self.stop_strings, longest_stop)
                ready, held = held[:safe], held[safe:]
            else:
                ready, held = held, ""
            if ready:
                emitted.append(ready)
                yield ready
            if len(self.token_ids) >= self.limits[0]:
                break
            self._decoder.advance(sampled.token_ids)
        if not (finish_reason == "stop" and token_id not in self.stops):  # not cut at a stop string
            held += text_decoder.flush()
        if held:
            emitted.append(held)
            yield held
        self.finish_reason = finish_reason
        self.result = GenerationResult(
            token_ids=list(self.token_ids), text="".join(emitted),
            logprobs=np.array(self.logprobs), sampling_logprobs=np.array(self.sampling_logprobs),
            finish_reason=finish_reason, prompt_tokens=self.rows[0])


def _longest_partial_stop(text: str, stop_strings: Sequence[str], longest_stop: int) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of some stop string."""
    for length in range(min(len(text), longest_stop - 1), 0, -1):
        suffix = text[-length:]
        if any(stop.startswith(suffix) for stop in stop_strings):
            return length
    return 0


def stream_generate(model, tokenizer, prompt, max_new_tokens: int, temperature: float = 0.0, top_k: int = 0,
                    top_p: float = 1.0, min_p: float = 0.0, seed: int | None = None, stop_token_ids=None,
                    stop_strings=None, rng=None) -> TextStream:
    """Like ``generate`` for one prompt, but an iterable of text deltas as they become complete.

    >>> stream = stream_generate(model, tokenizer, "2+2=", 20)     # doctest: +SKIP
    >>> for piece in stream: print(piece, end="", flush=True)      # doctest: +SKIP
    >>> stream.result.finish_reason                                 # doctest: +SKIP
    """
    return TextStream(model, tokenizer, prompt, max_new_tokens, temperature, top_k, top_p, min_p, seed,
                      stop_token_ids, stop_strings, rng)
