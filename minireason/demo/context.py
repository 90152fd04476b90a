"""What the stages share: the settings, the output folder, the held-out problems, the shipped models
(loaded once), and each stage's progress lines, every one named by its stage."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from minireason.demo.settings import ANSWER_FALLBACK, PROMPT_FORMAT, DemoSettings
from minireason.evaluation.held_out import greedy_accuracy
from minireason.io.pretrained import load_pretrained


def stderr_log(text: str) -> None:
    """The demo's default progress log: one line to stderr, flushed."""
    print(text, file=sys.stderr, flush=True)


@dataclass
class DemoContext:
    """What the stages share; ``log`` is the sink every stage's lines go to (None: silent)."""

    settings: DemoSettings
    out_dir: Path
    log: Callable[[str], None] | None
    held_out: list[dict]
    plots: dict = field(default_factory=dict)
    direct: object = None  # the direct stage's HeldOutResult (the chain of thought is paired against it)
    _models: dict = field(default_factory=dict)

    def shipped(self, name: str):
        """(model, tokenizer) as shipped, loaded once; stages that train load their own copy."""
        if name not in self._models:
            self._models[name] = load_pretrained(name)
        return self._models[name]

    def stage_log(self, stage: str) -> Callable[[str], None]:
        """The progress printer of one stage: each line begins with ``[stage]``, so lines of stages
        running side by side (GRPO beside the others) still say whose they are."""
        sink = self.log
        if sink is None:
            return lambda text: None
        return lambda text: sink(f"[{stage}] {text}")

    def stage_folder(self, stage: str) -> Path:
        """Where a stage writes its own files (claimed and emptied before the first stage runs)."""
        return self.out_dir / stage


def held_out_accuracy(model, tokenizer, records: list[dict], style: str, max_new_tokens: int):
    """Greedy held-out accuracy (``direct`` or ``cot`` prompts): the demo's one evaluation call."""
    return greedy_accuracy(model, tokenizer, records, PROMPT_FORMAT, style, max_new_tokens, fallback=ANSWER_FALLBACK)
