"""Continuous batching: every request being answered decodes in one batched KV cache.

    submit ──▶ waiting (a bounded queue) ──admit: prefill the prompt alone, join the batch──▶ running rows
    step:  sample one token per running row (its request's settings, the row's own Generator)
           ──▶ the row's RowDecoding (stop token, stop strings, length) ──▶ new text to its listener
           ──▶ finished and cancelled rows leave the cache ──▶ one-token forward of the rest

A request with ``n`` choices is ``n`` rows sharing one prefill. A row never waits for the others: a
new request joins at the next step, a finished one leaves at once and frees its place for the next
admission. The rules the code keeps (docs/serving.md explains them):

1. ``self.rows[i]`` is cache row ``i`` and ``self.next_logits[i]`` its next-token logits, always.
2. At most ``max_rows`` rows run; at most ``max_waiting`` requests wait; a request is admitted whole
   (all its rows) or not yet, first come first served.
3. Every row fits ``max_context`` tokens (prompt + max_tokens), checked at submit time.
4. A row's result does not depend on the batch: it is prefilled alone, its keys are masked from every
   other row, its positions are its own, and it samples from its own Generator.
5. Only the engine thread touches the model, the cache and ``rows``; other threads submit and cancel
   under ``self.lock``, and the engine tells a listener about its request through ``on_event`` calls.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from minireason.device import to_host
from minireason.errors import InputError, MinireasonError
from minireason.generation.generate import RowDecoding
from minireason.generation.kv_cache import KVCache
from minireason.generation.sampling import SamplingSettings, logprob_op_of, sample_next_tokens
from minireason.runtime import DECODE, thread_switch_interval, use_profile
from minireason.seeds import MAX_SEED, check_seed


class QueueFull(MinireasonError):
    """Too many requests are waiting; the client should try again later (HTTP 503)."""


@dataclass(frozen=True)
class CompletionRequest:
    """What one client asked for, already checked: the prompt's token ids and how to continue them."""

    prompt_ids: tuple[int, ...]
    max_tokens: int
    settings: SamplingSettings = SamplingSettings()
    seed: int | None = None
    stop_strings: tuple[str, ...] = ()
    stop_token_ids: frozenset[int] = frozenset()
    n: int = 1


@dataclass(frozen=True)
class RowEvent:
    """New text of one choice; the choice's last event also has its finish_reason and token count."""

    choice: int
    text: str
    finish_reason: str | None = None
    completion_tokens: int = 0


@dataclass
class Ticket:
    """A submitted request: the listener's handle. ``cancel()`` (any thread) makes its rows leave at
    the next step, as a finished one would."""

    request: CompletionRequest
    on_event: Callable[[RowEvent], None]
    submitted_at: float = field(default_factory=time.perf_counter)
    cancelled: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        """Ask the engine to end this request's rows at its next step (safe from any thread)."""
        self.cancelled.set()


@dataclass
class Row:
    """One choice being decoded: its request's ticket, its decoding state, its Generator, and how many
    characters of its text the listener has been given."""

    ticket: Ticket
    choice: int
    state: RowDecoding
    generator: np.random.Generator
    shown: int = 0


class Scheduler:
    """The engine: ``submit`` from any thread; ``step`` (or the thread ``start`` runs) does the work.

    max_rows: rows decoding at once (the batch); max_waiting: requests queued behind them;
    max_context: the longest prompt + completion a row may have (at most the model's window).
    seed: where a request without a seed gets its randomness (a server started with the same seed
    answers the same unseeded requests in the same order with the same samples).
    """

    def __init__(self, model, tokenizer, max_rows: int = 32, max_waiting: int = 64,
                 max_context: int | None = None, seed: int = 0):
        window = model.config.max_position_embeddings
        max_context = window if max_context is None else max_context
        if not 2 <= max_context <= window:
            raise InputError(f"max_context must lie in [2, {window}] (the model's window), got {max_context}")
        if max_rows < 1 or max_waiting < 0:
            raise InputError(f"max_rows must be >= 1 and max_waiting >= 0, got {max_rows}, {max_waiting}")
        self.model, self.tokenizer = model, tokenizer
        self.max_rows, self.max_waiting, self.max_context = max_rows, max_waiting, max_context
        self.seeds = np.random.default_rng(check_seed(seed, allow_none=False))  # for unseeded requests
        self.lock = threading.Lock()
        self.work = threading.Condition(self.lock)  # notified on submit and stop
        self.waiting: deque[Ticket] = deque()
        self.rows: list[Row] = []
        self.cache: KVCache | None = None
        self.next_logits: np.ndarray | None = None  # (B, V) on the host, B = len(self.rows)
        self.counts = {"admitted": 0, "finished": 0, "cancelled": 0, "rejected": 0, "steps": 0,
                       "generated_tokens": 0, "peak_running_rows": 0}
        self._running = False
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ what other threads call

    def submit(self, request: CompletionRequest, on_event: Callable[[RowEvent], None]) -> Ticket:
        """Queue a request; QueueFull when ``max_waiting`` are already waiting, InputError when it can
        never run (more rows than the batch, longer than the context)."""
        if request.n > self.max_rows:
            raise InputError(f"n is {request.n}, but this server decodes at most {self.max_rows} rows at once")
        if len(request.prompt_ids) + request.max_tokens > self.max_context:
            raise InputError(f"prompt ({len(request.prompt_ids)} tokens) + max_tokens ({request.max_tokens}) "
                             f"exceeds the context of {self.max_context} tokens")
        ticket = Ticket(request, on_event)
        with self.lock:
            if len(self.waiting) >= self.max_waiting:
                self.counts["rejected"] += 1
                raise QueueFull(f"the queue is full ({self.max_waiting} requests waiting); try again later")
            self.waiting.append(ticket)
            self.work.notify()
        return ticket

    def stats(self) -> dict:
        """Running rows, waiting requests, the limits, cache slots and the engine's counters."""
        with self.lock:
            return {"running_rows": len(self.rows), "waiting_requests": len(self.waiting),
                    "max_rows": self.max_rows, "max_waiting": self.max_waiting,
                    "cache_slots": 0 if self.cache is None else self.cache.max_len, **self.counts}

    def start(self) -> None:
        """Run the engine in a daemon thread until ``stop``."""
        self._running = True
        self._thread = threading.Thread(target=self._run, name="minireason-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the engine thread (after its current step) and wait for it."""
        with self.lock:
            self._running = False
            self.work.notify()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        with use_profile(DECODE), thread_switch_interval():
            while True:
                with self.lock:
                    while self._running and not self.rows and not self.waiting:
                        self.work.wait()
                    if not self._running:
                        return
                try:
                    self.step()
                except Exception:  # a bug or a device error: end the running requests, keep serving
                    traceback.print_exc(file=sys.stderr)
                    self._fail_running()

    # ------------------------------------------------------------------ the engine

    def step(self) -> bool:
        """Let cancelled rows leave, admit what fits, then decode one token for every running row.
        Returns False when there was nothing to do."""
        self._drop_rows([not row.ticket.cancelled.is_set() for row in self.rows], cancelled=True)
        self._admit()
        if not self.rows:
            return False
        feed, keep = self._sample_and_push()
        self._drop_rows(keep)
        if self.rows:
            self.cache.make_room(1)
            logits, _ = self.model.forward(feed[np.flatnonzero(keep)][:, None], kv_cache=self.cache,
                                           last_only=True)  # (B, 1, V)
            self.next_logits = to_host(logits[:, -1])  # (B, V)
        self.counts["steps"] += 1
        return True

    def _fail_running(self) -> None:
        """End every running row with finish_reason "error" and empty the batch."""
        for row in self.rows:
            try:
                row.ticket.on_event(RowEvent(row.choice, "", "error", len(row.state.token_ids)))
            except Exception:  # the listener is gone (its event loop closed): nothing to tell
                pass
        with self.lock:
            self.rows = []
        self.cache, self.next_logits = None, None

    def _admit(self) -> None:
        """Prefill the waiting requests that fit, oldest first, and join their rows to the batch."""
        while True:
            with self.lock:
                while self.waiting and self.waiting[0].cancelled.is_set():  # gone before its turn
                    self.waiting.popleft()
                    self.counts["cancelled"] += 1
                if not self.waiting or len(self.rows) + self.waiting[0].request.n > self.max_rows:
                    return
                ticket = self.waiting.popleft()
            try:
                self._join(ticket)
            except Exception:  # its rows never joined: tell its listener here, then fail as a step does
                for choice in range(ticket.request.n):
                    ticket.on_event(RowEvent(choice, "", "error", 0))
                raise

    def _join(self, ticket: Ticket) -> None:
        request, model = ticket.request, self.model
        prompt = np.array([request.prompt_ids], dtype=np.int64)  # (1, T)
        module = getattr(model, "array_module", np)
        cache = KVCache(model.config, 1, prompt.shape[1], dtype=model.dtype, array_module=module)
        logits, _ = model.forward(prompt, kv_cache=cache, last_only=True)  # (1, 1, V)
        logits = to_host(logits[:, -1])  # (1, V)
        if request.n > 1:  # the choices share the prompt's keys: one prefill, n copies
            cache.select_rows([0] * request.n)
            logits = np.repeat(logits, request.n, axis=0)  # (n, V)
        seed = request.seed if request.seed is not None else int(self.seeds.integers(MAX_SEED))
        prompt_ids, rows = list(request.prompt_ids), []
        for choice in range(request.n):
            # choice 0 with seed s draws what `generate(seed=s)` draws for one prompt
            generator = np.random.default_rng(seed if choice == 0 else [seed, choice])
            state = RowDecoding(prompt_ids, request.max_tokens, request.stop_token_ids, request.stop_strings,
                                self.tokenizer, None, keep_text=True)
            rows.append(Row(ticket, choice, state, generator))
        if self.cache is None:
            self.cache, self.next_logits = cache, logits
        else:
            self.cache.join(cache)
            self.next_logits = np.concatenate([self.next_logits, logits])
        with self.lock:  # rows, cache and logits change together (invariant 1)
            self.rows = self.rows + rows
        self.counts["admitted"] += 1
        self.counts["peak_running_rows"] = max(self.counts["peak_running_rows"], len(self.rows))

    def _sample_and_push(self) -> tuple[np.ndarray, np.ndarray]:
        """One token per running row, sampled with its request's settings from its own Generator and
        given to its RowDecoding; the text that became certain goes to the listener.
        Returns (the tokens to feed (B,), keep (B,): False for rows that just finished)."""
        B = len(self.rows)
        token_ids = np.zeros(B, dtype=np.int64)  # (B,)
        logprobs, sampling_logprobs = np.zeros(B), np.zeros(B)  # (B,)
        groups: dict[SamplingSettings, list[int]] = {}
        for i, row in enumerate(self.rows):
            groups.setdefault(row.ticket.request.settings, []).append(i)
        for settings, members in groups.items():  # rows of equal settings sample as one batch
            sampled = sample_next_tokens(self.next_logits[members], settings,
                                         [self.rows[i].generator for i in members],
                                         logprob_op_of(self.model))
            token_ids[members] = sampled.token_ids
            logprobs[members], sampling_logprobs[members] = sampled.logprobs, sampled.sampling_logprobs
        feed = np.zeros(B, dtype=np.int64)  # (B,)
        keep = np.ones(B, dtype=bool)  # (B,)
        for i, row in enumerate(self.rows):
            state = row.state
            pushed = state.push(int(token_ids[i]), float(logprobs[i]), float(sampling_logprobs[i]), False)
            self.counts["generated_tokens"] += 1
            if pushed is None:
                keep[i] = False
                text = state.final_text()
                row.ticket.on_event(RowEvent(row.choice, text[row.shown:], state.finish_reason or "length",
                                             len(state.token_ids)))
                continue
            feed[i] = pushed[0]
            safe = len(state.text.text) - state.hold_back()
            if safe > row.shown:
                row.ticket.on_event(RowEvent(row.choice, state.text.text[row.shown:safe]))
                row.shown = safe
        return feed, keep

    def _drop_rows(self, keep, cancelled: bool = False) -> None:
        """Rows with keep False leave the batch and the cache (their slots are free from now on)."""
        if all(keep):
            return
        kept = [i for i, flag in enumerate(keep) if flag]
        if cancelled:
            left = {id(self.rows[i].ticket) for i in range(len(self.rows)) if not keep[i]}
            self.counts["cancelled"] += len(left)
        else:
            finished_tickets = {id(self.rows[i].ticket) for i in range(len(self.rows)) if not keep[i]}
            still_running = {id(self.rows[i].ticket) for i in kept}
            self.counts["finished"] += len(finished_tickets - still_running)
        with self.lock:
            self.rows = [self.rows[i] for i in kept]
            if not kept:
                self.cache, self.next_logits = None, None
                return
        self.cache.select_rows(kept)
        self.next_logits = self.next_logits[kept]
