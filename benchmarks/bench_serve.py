"""The server under load: aggregate tokens/s, time to first token and latency with 1, 8 and 32 clients.

    python benchmarks/bench_serve.py                          # builtin:base and a random small model
    python benchmarks/bench_serve.py --models builtin:base --clients 1 8 --max-tokens 32

Each model is served by ``minireason serve`` in its own process on a free port of 127.0.0.1 (the
clients' threads then do not share the engine's interpreter). Every request is streamed, greedy, with
``ignore_eos`` so that each one writes exactly ``--max-tokens`` tokens. With c clients, each sends
its requests one after another (``--requests`` in all, at least one per client): one client is the
sequential baseline, and the speed-up column is the aggregate tokens/s over that baseline's.
"small" is the preset of that name with random weights and the vocabulary of the built-in
tokenizer (343 tokens, so that its samples decode); "builtin:base" is the shipped model.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import httpx
import numpy as np

from minireason.config import PRESETS
from minireason.io.pretrained import load_pretrained, save_pretrained
from minireason.model import Qwen3Model

PROMPT = "Compute 482+397. Think step by step.\n"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def random_small_model(folder: str) -> str:
    _, tokenizer = load_pretrained("builtin:base")
    config = PRESETS["small"].replace(vocab_size=tokenizer.vocab_size)
    save_pretrained(folder, Qwen3Model.from_config(config, seed=0), tokenizer)
    return folder


class ServerProcess:
    def __init__(self, model: str, max_rows: int):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "minireason", "serve", "--model", model, "--port", str(self.port),
             "--max-rows", str(max_rows), "--max-waiting", "256", "--temperature", "0"],
            stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(self.url + "/v1/models", timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"minireason serve --model {model} did not start") from None
                time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def one_request(http: httpx.Client, url: str, model: str, max_tokens: int) -> tuple[float, float, int]:
    """(seconds to the first text, seconds in all, completion tokens) of one streamed request."""
    body = {"model": model, "prompt": PROMPT, "max_tokens": max_tokens, "ignore_eos": True, "stream": True,
            "stream_options": {"include_usage": True}}
    start = time.perf_counter()
    first, tokens = None, 0
    with http.stream("POST", url + "/v1/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
            if first is None and chunk["choices"] and chunk["choices"][0]["text"]:
                first = time.perf_counter() - start
    total = time.perf_counter() - start
    return (first if first is not None else total), total, tokens


def load(url: str, model: str, clients: int, requests: int, max_tokens: int) -> dict:
    per_client = max(1, requests // clients)
    results: list[tuple[float, float, int]] = []
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(timeout=600) as http:
            for _ in range(per_client):
                outcome = one_request(http, url, model, max_tokens)
                with lock:
                    results.append(outcome)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    first, total, tokens = (np.array(column) for column in zip(*results))
    return {"clients": clients, "requests": len(results), "tokens_per_s": tokens.sum() / wall,
            "ttft_p50": np.percentile(first, 50), "ttft_p95": np.percentile(first, 95),
            "latency_p50": np.percentile(total, 50), "latency_p95": np.percentile(total, 95)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["builtin:base", "small"])
    parser.add_argument("--clients", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=32, help="requests per measurement (>= clients)")
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; {args.max_tokens} tokens per request, streamed, greedy")
    print(f"{'model':>14} {'clients':>7} {'requests':>8} {'tokens/s':>9} {'speed-up':>8} "
          f"{'TTFT p50':>9} {'TTFT p95':>9} {'latency p50':>11} {'latency p95':>11}")
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            path = random_small_model(folder) if name == "small" else name
            server = ServerProcess(path, max_rows=max(args.clients))
            try:
                load(server.url, path, 1, 1, 4)  # warm up: first-call costs out of the figures
                baseline = None
                for clients in args.clients:
                    row = load(server.url, path, clients, max(args.requests, clients), args.max_tokens)
                    baseline = baseline or row["tokens_per_s"]
                    print(f"{name:>14} {clients:>7} {row['requests']:>8} {row['tokens_per_s']:>9.1f} "
                          f"{row['tokens_per_s'] / baseline:>7.1f}x {row['ttft_p50']:>8.3f}s {row['ttft_p95']:>8.3f}s "
                          f"{row['latency_p50']:>10.3f}s {row['latency_p95']:>10.3f}s", flush=True)
            finally:
                server.stop()


if __name__ == "__main__":
    main()
