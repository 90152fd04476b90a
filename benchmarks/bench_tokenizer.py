"""Encode throughput of minireason's Tokenizer, next to Hugging Face tokenizers when installed.

    python benchmarks/bench_tokenizer.py                         # trains a tokenizer on the text
    python benchmarks/bench_tokenizer.py --tokenizer Qwen3-0.6B-Base/tokenizer.json

The text is the problems and solutions of MATH-500 (/work/shared/data/math500_test.json or
--data) when present, else generated arithmetic prose. "cold" starts with an empty merge cache,
"warm" encodes the same text again; Hugging Face figures are for one long string (one thread)
and for encode_batch over the documents (its own thread pool).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from timing import best_seconds

from minireason.io.bpe_trainer import train_bpe
from minireason.io.tokenizer import Tokenizer

DEFAULT_DATA = Path("/work/shared/data/math500_test.json")


def load_documents(path: Path, seed: int) -> list[str]:
    if path.exists():
        return [item["problem"] + "\n\n" + item["solution"] for item in json.loads(path.read_text(encoding="utf-8"))]
    rng = np.random.default_rng(seed)
    words = ["the", "sum", "of", "and", "is", "therefore", "we", "find", "that", "Let", "so", "answer", "equals"]
    documents = []
    for _ in range(500):
        parts = []
        for _ in range(80):
            if rng.random() < 0.3:
                parts.append(f"{rng.integers(0, 10_000)} + {rng.integers(0, 10_000)} = $x$,")
            else:
                parts.append(str(rng.choice(words)))
        documents.append(" ".join(parts) + "\n")
    return documents


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokenizer", type=Path, help="a tokenizer.json; default: train one on the text")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--vocab-size", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    documents = load_documents(args.data, args.seed)
    text = "\n".join(documents)
    megabytes = len(text.encode("utf-8")) / 1e6
    print(f"text: {len(documents)} documents, {megabytes:.2f} MB"
          f" ({'MATH-500' if args.data.exists() else 'generated'})")

    with tempfile.TemporaryDirectory() as folder:
        path = args.tokenizer
        if path is None:
            start = time.perf_counter()
            trained = train_bpe(documents, vocab_size=args.vocab_size)
            print(f"train_bpe vocab {args.vocab_size}: {time.perf_counter() - start:.2f} s")
            path = Path(folder) / "tokenizer.json"
            trained.save(path)

        start = time.perf_counter()
        tokenizer = Tokenizer.from_file(path)
        print(f"load {os.path.basename(path)}: {time.perf_counter() - start:.2f} s, vocab {tokenizer.vocab_size}")

        start = time.perf_counter()
        ids = tokenizer.encode(text)
        cold = time.perf_counter() - start
        warm = best_seconds(lambda: tokenizer.encode(text), args.repeat, warm_up=False)
        decode = best_seconds(lambda: tokenizer.decode(ids), args.repeat, warm_up=False)
        print(f"minireason encode: cold {megabytes / cold:6.2f} MB/s, warm {megabytes / warm:6.2f} MB/s, "
              f"{len(text) / len(ids):.2f} chars/token; decode {megabytes / decode:6.1f} MB/s")

        try:
            import tokenizers
        except ImportError:
            print("Hugging Face tokenizers: not installed")
            return
        reference = tokenizers.Tokenizer.from_file(str(path))
        single = best_seconds(lambda: reference.encode(text), args.repeat, warm_up=False)
        batch = best_seconds(lambda: reference.encode_batch(documents), args.repeat, warm_up=False)
        same = reference.encode(text).ids == ids
        print(f"HF tokenizers {tokenizers.__version__} encode: one string {megabytes / single:6.2f} MB/s, "
              f"encode_batch {megabytes / batch:6.2f} MB/s; identical ids: {same}")


if __name__ == "__main__":
    main()
