"""The ``minireason`` command: dispatches to one module per sub-command.

Each command module in ``minireason/cli/`` defines ``add_arguments(parser)`` and
``run(args) -> int``. Only the chosen command's module is imported.

Errors: every failure is one line on standard error, ``minireason CMD: error: ...``, and a
non-zero exit (1; 2 for a bad command line, as argparse does; 130 for Ctrl-C). An error the
project raises on purpose (``MinireasonError``) prints its message; an ``OSError`` or a
``UnicodeError`` prints its type and message (``IsADirectoryError: [Errno 21] ...``); any other
exception is a bug and says so, with its type. ``minireason --debug CMD ...`` (or the
environment variable ``MINIREASON_DEBUG=1``) shows the full traceback instead, for bug reports.
Output piped into a reader that stops early (``| head``) ends the command quietly with
141 = 128 + SIGPIPE, the code a shell reports for a program killed by a closed pipe.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import sys

from minireason.backend import BACKEND_VARIABLE, BACKENDS, set_backend
from minireason.cli import arguments
from minireason.errors import MinireasonError

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("minireason.cli.demo", "the main job: every stage (KV cache, direct, chain of thought, scaling, thinking budget, GRPO, distillation), measured"),
    "smoke": ("minireason.cli.smoke", "build a tiny random model, run forward/backward, print loss and grad norm"),
    "inspect": ("minireason.cli.inspect", "describe a checkpoint directory or builtin:NAME"),
    "generate": ("minireason.cli.generate", "generate text from a prompt"),
    "chat": ("minireason.cli.chat", "multi-turn chat with the Qwen3 chat template"),
    "eval": ("minireason.cli.eval", "evaluate a model on a problem set with verifiable answers"),
    "leaderboard": ("minireason.cli.leaderboard", "rank models from pairwise comparisons: Bradley-Terry with "
                    "bootstrap intervals, online Elo; decided by the verifier or a judge model"),
    "grade": ("minireason.cli.grade", "re-grade a results JSONL file and print the summary"),
    "tasks": ("minireason.cli.tasks", "synthetic verifiable tasks: export problem sets"),
    "pretrain": ("minireason.cli.pretrain", "train the tiny built-in models on the task corpus"),
    "scale": ("minireason.cli.scale", "compare inference-time scaling methods against compute"),
    "grpo": ("minireason.cli.grpo", "reinforcement learning with verifiable rewards: GRPO, PPO-clip, GSPO, CISPO"),
    "plot": ("minireason.cli.plot", "draw a training run's curves (reward, accuracy, KL, ...) to one PNG"),
    "sft": ("minireason.cli.sft", "supervised fine-tuning on teacher traces (completion-only loss)"),
    "distill": ("minireason.cli.distill", "logit distillation: forward/reverse KL, JSD, teacher top-k, on-policy"),
    "dpo": ("minireason.cli.dpo", "preference tuning against a frozen reference: DPO (sigmoid) or IPO"),
    "simpo": ("minireason.cli.dpo", "reference-free preference tuning: SimPO (length-normalised, target margin)"),
    "distill-data": ("minireason.cli.distill_data", "rejection-sampled teacher traces for sft and distill"),
    "dpo-data": ("minireason.cli.dpo_data", "preference pairs (verified vs wrong) from a model's own samples"),
    "serve": ("minireason.cli.serve", "an OpenAI-compatible HTTP server with continuous batching, and a chat page"),
    "backends": ("minireason.cli.backends", "which implementation of each op every backend runs (numpy, numba, cupy)"),
}


# the commands that run a model accept --backend (numpy, numba or cupy; see minireason.backend)
MODEL_COMMANDS = {"demo", "smoke", "generate", "chat", "eval", "pretrain", "scale", "grpo", "sft", "distill", "dpo",
                  "simpo", "distill-data", "dpo-data", "leaderboard", "serve"}


def _available_commands() -> dict[str, tuple[str, str]]:
    available = {}
    for name, (module, help_text) in COMMANDS.items():
        if importlib.util.find_spec(module) is not None:
            available[name] = (module, help_text)
    return available


DEBUG_VARIABLE = "MINIREASON_DEBUG"
EXIT_BROKEN_PIPE = 128 + 13  # 128 + SIGPIPE


def debug_requested(flag: bool = False) -> bool:
    """--debug, or MINIREASON_DEBUG set to anything but "", "0", "false" or "no"."""
    value = os.environ.get(DEBUG_VARIABLE, "").strip().lower()
    return flag or value not in ("", "0", "false", "no")


def add_command_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    """A command's flags: its module's, ``--backend`` for the commands that run a model, and every
    option's default appended to its help (the config dataclass's for the training commands)."""
    module = importlib.import_module(COMMANDS[name][0])
    module.add_arguments(parser)
    if name in MODEL_COMMANDS:
        parser.add_argument("--backend", choices=list(BACKENDS), default=None,
                            help="implementation of the hot ops: numpy (the reference), numba "
                                 "(CPU kernels) or cupy (the GPU, extra 'gpu') (default: numba where it "
                                 f"imports, else numpy; {BACKEND_VARIABLE} in the environment names another)")
    config_defaults = getattr(module, "config_defaults", None)
    arguments.show_defaults(parser, config_defaults(name) if config_defaults is not None else None)


def unknown_command(word: str, commands) -> str | None:
    """The one-line complaint about a word that is no command, naming the closest one if any is close."""
    if word.startswith("-") or word in commands:
        return None
    closest = difflib.get_close_matches(word, list(commands), n=1, cutoff=0.6)
    if closest:
        return f"minireason: error: unknown command {word!r}; did you mean {closest[0]}?"
    return f"minireason: error: unknown command {word!r} (commands: {', '.join(commands)})"


def main(argv: list[str] | None = None) -> int:
    """The ``minireason`` command: picks the subcommand, parses its options, runs it; returns the exit status.

    An error becomes a one-line ``minireason COMMAND: error: ...`` message (``--debug`` shows the traceback).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = _available_commands()
    top = argparse.ArgumentParser(prog="minireason", description="From-scratch reasoning LLMs in NumPy.")
    top.add_argument("--debug", action="store_true",
                     help=f"show the full traceback of an error (also: {DEBUG_VARIABLE}=1)")
    subparsers = top.add_subparsers(dest="command", metavar="COMMAND")
    words = argv[:]
    while words and words[0] == "--debug":
        words = words[1:]
    complaint = unknown_command(words[0], commands) if words else None
    if complaint is not None:
        _report(complaint)
        return 2
    chosen = words[0] if words and words[0] in commands else None
    for name, (_module, help_text) in commands.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if name == chosen:  # only the chosen command's module is imported
            add_command_arguments(name, sub)
    args = top.parse_args(argv)
    if args.command is None:
        top.print_help()
        return 2
    module = importlib.import_module(commands[args.command][0])
    debug = debug_requested(args.debug)
    try:
        if getattr(args, "backend", None) is not None:
            set_backend(args.backend)  # models made from here on use it (and live on the GPU for cupy)
        code = int(module.run(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except KeyboardInterrupt:
        _report("\ninterrupted")
        return 130
    except BrokenPipeError:
        if debug or not _stdout_closed():
            raise  # another pipe (a worker's): an error like any other
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except Exception as error:
        if debug:
            raise
        _report(f"minireason {args.command}: error: {describe_error(error)}")
        return 1


def describe_error(error: Exception) -> str:
    """One line for an error: the message of the project's own errors; the type and message of
    an OSError or UnicodeError; for anything else (a bug), its type and where to get the traceback."""
    message = " ".join(str(error).split()) or "(no message)"
    if isinstance(error, MinireasonError):
        return message
    if isinstance(error, (OSError, UnicodeError)):
        return f"{type(error).__name__}: {message}"
    return (f"internal error {type(error).__name__}: {message} (a bug: rerun with --debug or "
            f"{DEBUG_VARIABLE}=1 for the traceback, and report it)")


def _report(line: str) -> None:
    try:
        print(line, file=sys.stderr)
    except (OSError, ValueError):  # standard error closed too: nothing left to tell
        pass


def _stdout_closed() -> bool:
    """Whether standard output is a pipe whose reader has gone (what ``| head`` does)."""
    try:
        import select

        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), or stdout is not a file
        return True


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so that Python's own flush at exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
