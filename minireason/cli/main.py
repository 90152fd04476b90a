"""The ``minireason`` command: dispatches to one module per sub-command.

Each command module in ``minireason/cli/`` defines ``add_arguments(parser)`` and
``run(args) -> int``. Only the chosen command's module is imported.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from minireason.errors import MinireasonError

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("minireason.cli.demo", "the main job: direct answers, chain of thought and self-consistency on the built-in model"),
    "smoke": ("minireason.cli.smoke", "build a tiny random model, run forward/backward, print loss and grad norm"),
    "inspect": ("minireason.cli.inspect", "describe a checkpoint directory or builtin:NAME"),
    "generate": ("minireason.cli.generate", "generate text from a prompt"),
    "chat": ("minireason.cli.chat", "multi-turn chat with the Qwen3 chat template"),
    "eval": ("minireason.cli.eval", "evaluate a model on a problem set with verifiable answers"),
    "grade": ("minireason.cli.grade", "re-grade a results JSONL file and print the summary"),
    "tasks": ("minireason.cli.tasks", "synthetic verifiable tasks: export problem sets"),
    "pretrain": ("minireason.cli.pretrain", "train the tiny built-in models on the task corpus"),
    "scale": ("minireason.cli.scale", "compare inference-time scaling methods against compute"),
    "grpo": ("minireason.cli.grpo", "reinforcement learning with verifiable rewards: GRPO, PPO-clip, GSPO, CISPO"),
    "plot": ("minireason.cli.plot", "draw a training run's curves (reward, accuracy, KL, ...) to one PNG"),
}


# the commands that run a model accept --backend (numpy, numba or cupy; see minireason.backend)
MODEL_COMMANDS = {"demo", "smoke", "generate", "chat", "eval", "pretrain", "scale", "grpo"}


def _available_commands() -> dict[str, tuple[str, str]]:
    available = {}
    for name, (module, help_text) in COMMANDS.items():
        if importlib.util.find_spec(module) is not None:
            available[name] = (module, help_text)
    return available


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = _available_commands()
    top = argparse.ArgumentParser(prog="minireason", description="From-scratch reasoning LLMs in NumPy.")
    subparsers = top.add_subparsers(dest="command", metavar="COMMAND")
    chosen = argv[0] if argv and argv[0] in commands else None
    for name, (module, help_text) in commands.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if name == chosen:  # only the chosen command's module is imported
            importlib.import_module(module).add_arguments(sub)
            if name in MODEL_COMMANDS:
                from minireason.backend import BACKENDS

                sub.add_argument("--backend", choices=list(BACKENDS), default=None,
                                 help="implementation of the hot ops: numpy (the reference, default), numba "
                                      "(CPU kernels, extra 'fast') or cupy (the GPU, extra 'gpu')")
    args = top.parse_args(argv)
    if args.command is None:
        top.print_help()
        return 2
    module = importlib.import_module(commands[args.command][0])
    try:
        if getattr(args, "backend", None) is not None:
            from minireason.backend import set_backend

            set_backend(args.backend)  # models made from here on use it (and live on the GPU for cupy)
        return int(module.run(args) or 0)
    except MinireasonError as error:
        print(f"minireason {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
