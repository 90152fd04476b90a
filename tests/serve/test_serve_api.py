"""The server through the official `openai` client (and raw HTTP for what a client cannot send):
answers equal `generate` and `minireason generate`, streaming, n, stop strings, seeds, usage,
continuous batching under 16 concurrent streams, disconnects, a full queue, bad input, the API key."""

import argparse
import json
import threading
import time

import httpx
import numpy as np
import pytest
from conftest import MODEL_NAME, SlowModel

from minireason.cli import serve
from minireason.cli.main import main
from minireason.generation.generate import generate
from minireason.io.chat_template import render_chat
from minireason.serve.reasoning import ReasoningSplitter

openai = pytest.importorskip("openai", reason="the server tests use the official openai client (extra 'test')")

PROMPTS = [f"Compute {a}+{b}. Think step by step.\n" for a, b in
           [(12, 34), (482, 397), (5, 7), (90, 9), (131, 2), (7, 700), (64, 36), (1, 1), (250, 250), (3, 44),
            (18, 81), (600, 7), (42, 58), (9, 99), (123, 321), (77, 23)]]
TIMEOUT = 30  # seconds any one request may take: the tests are bounded in time


def client(url, api_key="none"):
    return openai.OpenAI(base_url=url + "/v1", api_key=api_key, max_retries=0, timeout=TIMEOUT)


def split(text, thinking=True):
    splitter = ReasoningSplitter(thinking)
    pieces = splitter.feed(text) + splitter.finish()
    return ("".join(t for name, t in pieces if name == "reasoning_content") or None,
            "".join(t for name, t in pieces if name == "content"))


def wait_for(condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the server"
        time.sleep(0.02)


def test_models_and_a_plain_chat_answer_equal_generate(server, base):
    url, _ = server
    model, tokenizer = base
    api = client(url)
    assert [entry.id for entry in api.models.list().data] == [MODEL_NAME]
    messages = [{"role": "user", "content": PROMPTS[1]}]
    for thinking in (True, False):
        reply = api.chat.completions.create(model=MODEL_NAME, messages=messages, temperature=0, max_tokens=40,
                                            extra_body={"chat_template_kwargs": {"enable_thinking": thinking}})
        prompt = render_chat(messages, enable_thinking=thinking)
        (alone,) = generate(model, tokenizer, [prompt], 40)
        message = reply.choices[0].message
        assert (getattr(message, "reasoning_content", None), message.content) == split(alone.text, thinking)
        assert reply.choices[0].finish_reason == alone.finish_reason
        assert reply.usage.prompt_tokens == len(tokenizer.encode(prompt))
        assert reply.usage.completion_tokens == len(alone.token_ids)
        assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_a_completion_equals_the_generate_command(server, capsys):
    url, _ = server
    prompt = PROMPTS[0]
    assert main(["generate", "--model", MODEL_NAME, "--prompt", prompt, "--temperature", "0",
                 "--max-new-tokens", "40", "--no-stream"]) == 0
    printed = capsys.readouterr().out
    reply = client(url).completions.create(model=MODEL_NAME, prompt=prompt, temperature=0, max_tokens=40)
    assert printed == prompt + reply.choices[0].text + "\n"


def test_a_streamed_chat_joins_to_the_plain_answer(server):
    url, _ = server
    api = client(url)
    messages = [{"role": "user", "content": PROMPTS[2]}]
    plain = api.chat.completions.create(model=MODEL_NAME, messages=messages, temperature=0, max_tokens=50)
    chunks = list(api.chat.completions.create(model=MODEL_NAME, messages=messages, temperature=0, max_tokens=50,
                                              stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices)
    assert content == plain.choices[0].message.content
    assert (reasoning or None) == getattr(plain.choices[0].message, "reasoning_content", None)
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == \
        [plain.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == plain.usage.completion_tokens


def test_n_choices_seeds_and_stop_strings(server, base):
    url, _ = server
    model, tokenizer = base
    api = client(url)
    options = dict(model=MODEL_NAME, prompt=PROMPTS[1], temperature=3.0, top_p=0.95, max_tokens=30)
    first = api.completions.create(n=3, seed=11, **options)
    again = api.completions.create(n=3, seed=11, **options)
    assert [c.text for c in first.choices] == [c.text for c in again.choices]
    assert sorted(c.index for c in first.choices) == [0, 1, 2]
    assert len({c.text for c in first.choices}) > 1
    # choice 0 draws what `generate(seed=11)` draws; choice i from the Generator of [11, i]
    generators = [np.random.default_rng(11)] + [np.random.default_rng([11, i]) for i in (1, 2)]
    alone = generate(model, tokenizer, [PROMPTS[1]] * 3, 30, temperature=3.0, top_p=0.95, rng=generators)
    assert [c.text for c in first.choices] == [result.text for result in alone]
    assert first.usage.completion_tokens == sum(len(result.token_ids) for result in alone)
    stopped = api.completions.create(model=MODEL_NAME, prompt=PROMPTS[3], temperature=0, max_tokens=60, stop=["+"])
    (alone,) = generate(model, tokenizer, [PROMPTS[3]], 60, stop_strings=["+"])
    assert stopped.choices[0].text == alone.text and "+" not in stopped.choices[0].text
    assert stopped.choices[0].finish_reason == alone.finish_reason


def test_sixteen_concurrent_streams_each_get_their_text_alone(server, base):
    url, scheduler = server
    model, tokenizer = base
    lengths = [5 + 4 * i for i in range(16)]
    texts, errors = {}, []

    def ask(index):
        try:
            stream = client(url).completions.create(model=MODEL_NAME, prompt=PROMPTS[index], temperature=0,
                                                    max_tokens=lengths[index], stream=True)
            texts[index] = "".join(chunk.choices[0].text for chunk in stream if chunk.choices)
        except Exception as error:  # reported below, with the request it belongs to
            errors.append((index, error))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not errors
    assert scheduler.stats()["peak_running_rows"] > 1  # they decoded together
    for index in range(16):
        (alone,) = generate(model, tokenizer, [PROMPTS[index]], lengths[index])
        assert texts[index] == alone.text, index


def test_a_client_that_disconnects_frees_its_slot(server):
    url, scheduler = server
    before = scheduler.stats()["cancelled"]
    body = {"model": MODEL_NAME, "prompt": PROMPTS[0], "max_tokens": 400, "ignore_eos": True, "stream": True}
    with httpx.Client(timeout=TIMEOUT) as http, http.stream("POST", url + "/v1/completions", json=body) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        next(lines), next(lines)  # the stream has started
        assert scheduler.stats()["running_rows"] == 1
    wait_for(lambda: scheduler.stats()["running_rows"] == 0)
    stats = scheduler.stats()
    assert stats["cancelled"] == before + 1
    assert client(url).completions.create(model=MODEL_NAME, prompt="1+1=", max_tokens=3).choices


def test_a_full_queue_answers_503_and_the_server_keeps_serving(start_server, base):
    slow = SlowModel(base[0])
    with start_server(max_rows=1, max_waiting=1, model=slow) as (url, scheduler), httpx.Client(timeout=TIMEOUT) as http:
        long_body = {"model": MODEL_NAME, "prompt": PROMPTS[0], "max_tokens": 400, "ignore_eos": True, "stream": True}
        with http.stream("POST", url + "/v1/completions", json=long_body) as running:
            lines = running.iter_lines()  # kept: a dropped iterator closes the connection
            next(lines)
            wait_for(lambda: scheduler.stats()["running_rows"] == 1)
            queued = {}
            waiter = threading.Thread(target=lambda: queued.update(response=http.post(
                url + "/v1/completions", json={"model": MODEL_NAME, "prompt": "2+2=", "max_tokens": 3})))
            waiter.start()
            wait_for(lambda: scheduler.stats()["waiting_requests"] == 1)
            with pytest.raises(openai.APIStatusError) as refused:
                client(url).completions.create(model=MODEL_NAME, prompt="3+3=", max_tokens=3)
            assert refused.value.status_code == 503
            assert refused.value.body["code"] == "queue_full"
        waiter.join(TIMEOUT)  # the long stream was closed: the queued request runs
        assert queued["response"].status_code == 200
        assert client(url).completions.create(model=MODEL_NAME, prompt="4+4=", max_tokens=3).choices


BAD_REQUESTS = [
    (b'{"model": "builtin:base", "messages": [', 400, None),  # malformed JSON
    (b'{"model": "builtin:base", "messages": [{"role": "user", "content": "hi\xff\xfe"}]}', 400, None),  # not UTF-8
    (b'["a list"]', 400, None),
    ({"model": MODEL_NAME, "messages": []}, 400, "messages"),
    ({"model": MODEL_NAME}, 400, "messages"),
    ({"model": MODEL_NAME, "messages": [{"role": "user", "content": 5}]}, 400, "messages"),
    ({"model": MODEL_NAME, "messages": [{"role": "robot", "content": "hi"}]}, 400, "messages"),
    ({"model": MODEL_NAME, "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}, 400, "temperature"),
    ({"model": MODEL_NAME, "messages": [{"role": "user", "content": "hi"}], "temperature": -1}, 400, "temperature"),
    ({"model": MODEL_NAME, "messages": [{"role": "user", "content": "hi"}], "top_p": 0}, 400, "top_p"),
    ({"model": MODEL_NAME, "messages": [{"role": "user", "content": "hi"}], "top_k": -2}, 400, "top_k"),
    ({"model": MODEL_NAME, "messages": [{"role": "user", "content": "hi"}], "min_p": 1.5}, 400, "min_p"),
    ({"model": MODEL_NAME, "messages": [{"role": "user", "content": "hi"}], "max_tokens": "9"}, 400, "max_tokens"),
    ({"model": MODEL_NAME, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, 400, "max_tokens"),
    ({"model": MODEL_NAME, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10**12}, 422, "max_tokens"),
    ({"model": MODEL_NAME, "messages": [{"role": "user", "content": "hi"}], "n": 1000}, 422, "n"),
    ({"model": MODEL_NAME, "messages": [{"role": "user", "content": "hi"}], "stream": "yes"}, 400, "stream"),
    ({"model": MODEL_NAME, "messages": [{"role": "user", "content": "hi"}], "stop": [""]}, 400, "stop"),
    ({"model": MODEL_NAME, "messages": [{"role": "user", "content": "hi"}], "seed": -3}, 400, "seed"),
    ({"model": MODEL_NAME, "messages": [{"role": "user", "content": "x" * 5000}]}, 413, "messages"),
    ({"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}, 404, "model"),
]


@pytest.mark.parametrize("body, status, param", BAD_REQUESTS)
def test_bad_input_gets_an_openai_error_and_the_server_goes_on(server, body, status, param):
    url, _ = server
    with httpx.Client(timeout=TIMEOUT) as http:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        response = http.post(url + "/v1/chat/completions", content=content,
                             headers={"Content-Type": "application/json"})
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["message"] and "\n" not in error["message"] and error["type"]
        assert error["param"] == param
        good = {"model": MODEL_NAME, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
        assert http.post(url + "/v1/chat/completions", json=good).status_code == 200


def test_unknown_routes_and_models_through_the_client(server):
    url, _ = server
    with pytest.raises(openai.NotFoundError):
        client(url).chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
    response = httpx.get(url + "/v2/nothing")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_an_api_key_is_required_when_set(start_server):
    with start_server(api_key="sesame") as (url, _):
        with pytest.raises(openai.AuthenticationError):
            client(url, api_key="wrong").models.list()
        assert httpx.post(url + "/v1/completions", json={"model": MODEL_NAME, "prompt": "1"}).status_code == 401
        assert client(url, api_key="sesame").completions.create(model=MODEL_NAME, prompt="1+1=", max_tokens=2)
        assert httpx.get(url + "/").status_code == 200  # the page loads; its requests carry the key


def test_the_command_binds_to_loopback_by_default(server):
    parser = argparse.ArgumentParser()
    serve.add_arguments(parser)
    assert parser.parse_args(["--model", MODEL_NAME]).host == "127.0.0.1"
    assert server[0].startswith("http://127.0.0.1:")
