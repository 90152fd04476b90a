"""The continuous-batching scheduler, driven step by step: rows that join and leave at different
times get what `generate` gives each prompt alone; cancelling frees the slot; a full queue refuses."""

import queue

import pytest

from minireason.errors import InputError
from minireason.generation.generate import eos_token_ids, generate
from minireason.generation.sampling import SamplingSettings
from minireason.io.pretrained import load_pretrained
from minireason.serve.scheduler import CompletionRequest, QueueFull, Scheduler


@pytest.fixture(scope="module")
def base():
    return load_pretrained("builtin:base")


class Collector:
    """A listener: the text and the finish of each choice."""

    def __init__(self):
        self.pieces, self.finish, self.tokens = {}, {}, {}

    def __call__(self, event):
        self.pieces.setdefault(event.choice, []).append(event.text)
        if event.finish_reason is not None:
            self.finish[event.choice], self.tokens[event.choice] = event.finish_reason, event.completion_tokens

    def text(self, choice=0):
        return "".join(self.pieces.get(choice, []))


def request_for(tokenizer, model, prompt, max_tokens, **options):
    options.setdefault("stop_token_ids", frozenset(eos_token_ids(tokenizer, model)))
    return CompletionRequest(tuple(tokenizer.encode(prompt)), max_tokens, **options)


PROMPTS = [f"Compute {a}+{b}. Think step by step.\n" for a, b in [(12, 34), (482, 397), (5, 7), (90, 9), (131, 2),
                                                                 (7, 700), (64, 36), (1, 1)]]


def test_rows_joining_at_different_steps_get_their_text_alone(base):
    model, tokenizer = base
    scheduler = Scheduler(model, tokenizer, max_rows=5, max_waiting=16)
    lengths = [3, 40, 17, 25, 8, 33, 12, 30]
    listeners = []
    for index, (prompt, length) in enumerate(zip(PROMPTS, lengths)):
        listener = Collector()
        scheduler.submit(request_for(tokenizer, model, prompt, length), listener)
        listeners.append(listener)
        for _ in range(index % 3):  # requests arrive while others decode
            scheduler.step()
    while scheduler.step():
        pass
    assert scheduler.stats()["peak_running_rows"] == 5  # the batch was full at some step
    for prompt, length, listener in zip(PROMPTS, lengths, listeners):
        (alone,) = generate(model, tokenizer, [prompt], length)  # greedy
        assert listener.text() == alone.text
        assert listener.finish[0] == alone.finish_reason
        assert listener.tokens[0] == len(alone.token_ids)
    assert scheduler.stats()["running_rows"] == 0 and scheduler.cache is None


def test_seeded_sampling_matches_generate_and_n_choices_differ(base):
    model, tokenizer = base
    scheduler = Scheduler(model, tokenizer)
    settings = SamplingSettings(temperature=3.0, top_p=0.9)
    listener = Collector()
    scheduler.submit(request_for(tokenizer, model, PROMPTS[1], 30, settings=settings, seed=7, n=3), listener)
    other = Collector()  # another request decoding in the same batch changes nothing
    scheduler.submit(request_for(tokenizer, model, PROMPTS[2], 30, settings=SamplingSettings(0.5), seed=1), other)
    while scheduler.step():
        pass
    (alone,) = generate(model, tokenizer, [PROMPTS[1]], 30, temperature=3.0, top_p=0.9, seed=7)
    assert listener.text(0) == alone.text
    assert len({listener.text(choice) for choice in range(3)}) > 1
    (alone,) = generate(model, tokenizer, [PROMPTS[2]], 30, temperature=0.5, seed=1)
    assert other.text() == alone.text


def test_a_cancelled_request_leaves_the_batch_and_frees_its_slot(base):
    model, tokenizer = base
    scheduler = Scheduler(model, tokenizer, max_rows=2)
    long_one, other = Collector(), Collector()
    ticket = scheduler.submit(request_for(tokenizer, model, PROMPTS[0], 200, stop_token_ids=frozenset()), long_one)
    scheduler.submit(request_for(tokenizer, model, PROMPTS[3], 200, stop_token_ids=frozenset()), other)
    gone, waiting = Collector(), Collector()
    scheduler.submit(request_for(tokenizer, model, PROMPTS[5], 5, n=2), gone).cancel()  # before its turn
    scheduler.submit(request_for(tokenizer, model, PROMPTS[4], 5), waiting)
    for _ in range(3):
        scheduler.step()
    stats = scheduler.stats()  # the batch is full, and the cancelled request left the queue anyway
    assert stats["running_rows"] == 2 and stats["waiting_requests"] == 1 and stats["cancelled"] == 1
    ticket.cancel()
    scheduler.step()
    stats = scheduler.stats()
    assert stats["cancelled"] == 2 and stats["waiting_requests"] == 0 and stats["running_rows"] == 2
    assert not gone.pieces
    assert 0 not in long_one.finish  # a cancelled request is told nothing more
    while scheduler.step():
        pass
    (alone,) = generate(model, tokenizer, [PROMPTS[4]], 5)
    assert waiting.text() == alone.text


def test_a_full_queue_refuses_and_limits_are_checked(base):
    model, tokenizer = base
    scheduler = Scheduler(model, tokenizer, max_rows=2, max_waiting=2, max_context=64)
    for _ in range(2):
        scheduler.submit(request_for(tokenizer, model, PROMPTS[0], 5), Collector())
    with pytest.raises(QueueFull, match="queue is full"):
        scheduler.submit(request_for(tokenizer, model, PROMPTS[0], 5), Collector())
    with pytest.raises(InputError, match="exceeds the context of 64"):
        scheduler.submit(request_for(tokenizer, model, PROMPTS[0], 60), Collector())
    with pytest.raises(InputError, match="at most 2 rows"):
        scheduler.submit(request_for(tokenizer, model, PROMPTS[0], 5, n=3), Collector())
    while scheduler.step():
        pass
    assert scheduler.stats()["finished"] == 2 and scheduler.stats()["rejected"] == 1


class FailingModel:
    """The model, with forward raising while ``fail`` is set: a bug in the engine's path."""

    def __init__(self, model):
        self.model, self.fail = model, False

    def __getattr__(self, name):
        return getattr(self.model, name)

    def forward(self, *args, **kwargs):
        if self.fail:
            raise RuntimeError("the device fell over")
        return self.model.forward(*args, **kwargs)


def test_an_engine_error_ends_the_running_requests_and_the_engine_goes_on(base, capfd):
    model, tokenizer = base
    failing = FailingModel(model)
    scheduler = Scheduler(failing, tokenizer)
    events = queue.Queue()
    scheduler.start()
    try:
        scheduler.submit(request_for(tokenizer, model, PROMPTS[0], 300, stop_token_ids=frozenset()), events.put)
        first = events.get(timeout=10)
        assert first.finish_reason is None
        failing.fail = True
        while (event := events.get(timeout=10)).finish_reason is None:
            pass
        assert event.finish_reason == "error"
        refused = queue.Queue()  # a prefill that fails: its request is told too
        scheduler.submit(request_for(tokenizer, model, PROMPTS[2], 5, n=2), refused.put)
        assert [refused.get(timeout=10).finish_reason for _ in range(2)] == ["error", "error"]
        failing.fail = False
        listener = queue.Queue()
        scheduler.submit(request_for(tokenizer, model, PROMPTS[4], 5), listener.put)
        while (event := listener.get(timeout=10)).finish_reason is None:
            pass
        assert event.finish_reason in ("stop", "length")
    finally:
        scheduler.stop()
    assert "the device fell over" in capfd.readouterr().err
