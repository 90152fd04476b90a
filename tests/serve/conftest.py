"""Fixtures of the server tests: the built-in base model, and servers on a free loopback port."""

import contextlib
import time

import pytest

from minireason.io.pretrained import load_pretrained
from minireason.serve.app import BackgroundServer, ServerSettings, create_app
from minireason.serve.scheduler import Scheduler

MODEL_NAME = "builtin:base"


@pytest.fixture(scope="session")
def base():
    return load_pretrained(MODEL_NAME)


@pytest.fixture(scope="session")
def start_server(base):
    """start_server(**limits) -> a context manager giving (url, scheduler) of a fresh server on
    127.0.0.1 (a free port), greedy by default, shut down on exit. Skips without the extra 'serve'."""
    pytest.importorskip("fastapi", reason="the server tests need the extra 'serve' (fastapi, uvicorn)")
    pytest.importorskip("uvicorn", reason="the server tests need the extra 'serve' (fastapi, uvicorn)")

    @contextlib.contextmanager
    def start(api_key=None, default_sampling=None, model=None, **limits):
        model, tokenizer = model or base[0], base[1]
        scheduler = Scheduler(model, tokenizer, **limits)
        settings = ServerSettings(MODEL_NAME, default_sampling=default_sampling or {"temperature": 0.0},
                                  default_max_tokens=64, api_key=api_key)
        server = BackgroundServer(create_app(scheduler, settings))
        try:
            yield server.url, scheduler
        finally:
            server.stop()

    return start


class SlowModel:
    """The model with every forward taking at least ``seconds`` longer: a request stays running
    long enough for a test to watch it."""

    def __init__(self, model, seconds=0.02):
        self.model, self.seconds = model, seconds

    def __getattr__(self, name):
        return getattr(self.model, name)

    def forward(self, *args, **kwargs):
        time.sleep(self.seconds)
        return self.model.forward(*args, **kwargs)


@pytest.fixture(scope="module")
def server(start_server):
    with start_server(max_rows=16, max_waiting=32) as running:
        yield running
