"""``minireason chat``: a multi-turn conversation with the Qwen3 chat template.

    minireason chat --model builtin:NAME [--thinking | --no-thinking] [--system TEXT]
                    [--max-thinking-tokens N] [--min-thinking-tokens N --max-wait K]

Type a message and press Enter. ``/reset`` forgets the conversation, ``/exit`` (or Ctrl-D) quits.
The model's reasoning (``<think> ... </think>``) is shown dimmed on a terminal and marked with
``[thinking]`` otherwise, so it is never mistaken for the answer. Ctrl-C while the model writes stops
that answer and keeps what was written; Ctrl-C at the prompt quits.
"""

from __future__ import annotations

import sys
import time

from minireason.cli import arguments
from minireason.cli.generate import (
    add_sampling_arguments,
    load_model,
    print_speed,
    sampling_settings,
    thinking_budget_from,
)
from minireason.errors import InputError
from minireason.generation.generate import stream_generate

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
DIM, RESET = "\x1b[2m", "\x1b[0m"


def add_arguments(parser) -> None:
    """Adds the options of ``minireason chat`` to its parser."""
    add_sampling_arguments(parser)
    parser.add_argument("--thinking", dest="thinking", action="store_true", default=True,
                        help="let the model reason in <think> ... </think> before answering (default)")
    parser.add_argument("--no-thinking", dest="thinking", action="store_false", help="answer directly")
    parser.add_argument("--system", default=None, type=arguments.text, help="a system message")


class ThinkingPrinter:
    """Prints streamed text, showing the part inside <think> ... </think> distinctly.

    A marker can arrive split over several pieces ("<thi" + "nk>"), so a tail that could be the
    start of a marker is held back until the next piece decides it.
    """

    def __init__(self, out=sys.stdout, use_color: bool | None = None):
        self.out = out
        self.use_color = out.isatty() if use_color is None else use_color
        self.thinking = False
        self.pending = ""

    def _marker(self) -> str:
        return THINK_CLOSE if self.thinking else THINK_OPEN

    def _write(self, text: str) -> None:
        if text:
            self.out.write(text)
            self.out.flush()

    def _switch(self) -> None:
        self.thinking = not self.thinking
        if self.use_color:
            self._write(DIM if self.thinking else RESET)
        else:
            self._write("[thinking] " if self.thinking else "\n[/thinking]")

    def write(self, piece: str) -> None:
        self.pending += piece
        while True:
            marker = self._marker()
            at = self.pending.find(marker)
            if at < 0:
                break
            self._write(self.pending[:at])
            self.pending = self.pending[at + len(marker):]
            self._switch()
        # hold back a tail that might be the beginning of the marker
        keep = next((n for n in range(min(len(self.pending), len(self._marker()) - 1), 0, -1)
                     if self._marker().startswith(self.pending[-n:])), 0)
        self._write(self.pending[:len(self.pending) - keep])
        self.pending = self.pending[len(self.pending) - keep:]

    def close(self) -> None:
        self._write(self.pending)
        self.pending = ""
        if self.thinking and self.use_color:
            self._write(RESET)
        self.thinking = False
        self._write("\n")


def run(args) -> int:
    """Runs ``minireason chat`` on the parsed arguments; returns the exit status (0 on success)."""
    import numpy as np


    budget = thinking_budget_from(args, answer_prefix="\n\n")  # Qwen3 writes a blank line after </think>
    model, tokenizer = load_model(args)
    settings = sampling_settings(args, model)
    rng = np.random.default_rng(args.seed)  # one stream of randomness for the whole conversation
    start_messages = [{"role": "system", "content": args.system}] if args.system else []
    messages = list(start_messages)
    print("chat: /reset to start over, /exit to quit", file=sys.stderr)
    while True:
        try:
            line = input("you> ")
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        except UnicodeDecodeError as error:  # standard input is not UTF-8: skip the line, keep the session
            print(f"[line ignored: not valid UTF-8 ({error.reason} at byte {error.start + 1})]",
                  file=sys.stderr)
            continue
        reason = arguments.undecodable_byte(line)
        if reason is not None:  # read with surrogateescape (a C locale): the same, one step later
            print(f"[line ignored: {reason}]", file=sys.stderr)
            continue
        command = line.strip()
        if command == "/exit":
            return 0
        if command == "/reset":
            messages = list(start_messages)
            print("[conversation reset]", file=sys.stderr)
            continue
        if not command:
            continue
        messages.append({"role": "user", "content": line})
        prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, enable_thinking=args.thinking)
        try:
            stream = stream_generate(model, tokenizer, prompt, args.max_new_tokens, rng=rng,
                                     thinking_budget=budget, **settings)
        except InputError as error:
            messages.pop()
            print(f"[{error}; /reset to start a new conversation]", file=sys.stderr)
            continue
        printer = ThinkingPrinter()
        print("assistant> ", end="", flush=True)
        pieces, start = [], time.perf_counter()
        try:
            for piece in stream:
                pieces.append(piece)
                printer.write(piece)
        except KeyboardInterrupt:
            pieces.append(" [interrupted]")
        printer.close()
        print_speed(len(stream.token_ids), time.perf_counter() - start)
        messages.append({"role": "assistant", "content": "".join(pieces)})
