"""Training data of SFT, distillation and DPO: records -> prompt and completion text -> token ids.

Records (a JSON list or JSON Lines; ``minireason distill-data`` and ``dpo-data`` write JSONL):

* a teacher trace, the distillation format of ``sample_openrouter_outputs.json``:
  ``{"problem", "message_thinking", "message_content"[, "gtruth_answer", ...]}``;
* a plain pair ``{"prompt", "completion"}`` (the prompt text is used as it is);
* a preference pair ``{"prompt", "chosen", "rejected"}`` (DPO).

A trace becomes one sequence, prompt + completion, in the format the model reads:

* ``plain`` (the built-in models): ``PromptSpec("cot", "plain").text(problem)``, then the task trace
  format ``<think>\\n{thinking}\\n</think>\\n{content}`` and the tokenizer's end-of-text token;
* ``chat`` (Hugging Face checkpoints): ``PromptSpec("cot", "chat").text(problem)`` (the Qwen3 chat
  template, thinking on), then the assistant turn as the one chat template renders it,
  ``<think>\\n{thinking}\\n</think>\\n\\n{content}<|im_end|>``.

The loss covers completion tokens only (``generation.sequences.pack_completions``).  Sequences longer
than ``max_tokens`` are dropped (cutting a trace would cut its answer) and counted; malformed
records are skipped and counted, and the first few are reported with file, line and problem.  The
train/validation split is by a hash of the prompt, so every trace of one problem lands on the same
side and the split does not depend on the order of the file.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from minireason.errors import DataError, InputError
from minireason.evaluation.datasets import _line_of_list_items
from minireason.evaluation.prompts import CHAT_STOP_STRINGS, PromptSpec, check_prompt_format
from minireason.io.chat_template import THINK_CLOSE, THINK_OPEN, render_chat

TRACE_FIELDS = ("problem", "message_thinking", "message_content")
PAIR_FIELDS = ("prompt", "completion")
PREFERENCE_FIELDS = ("prompt", "chosen", "rejected")
REPORTED_PROBLEMS = 5  # malformed records named in the report (the rest are only counted)
CHAT_END = CHAT_STOP_STRINGS[0]  # the chat turn ends where a chat answer stops


@dataclass
class DataReport:
    """What reading a data file kept and skipped."""

    source: str
    records: int = 0  # records found
    malformed: int = 0  # skipped: not JSON, not an object, fields missing or of the wrong type
    too_long: int = 0  # dropped: longer than max_tokens
    train: int = 0
    validation: int = 0
    problems: list[str] = field(default_factory=list)  # the first REPORTED_PROBLEMS malformed records

    def skip(self, where: str, why: str) -> None:
        self.malformed += 1
        if len(self.problems) < REPORTED_PROBLEMS:
            self.problems.append(f"{where}: {why}")

    def summary(self) -> str:
        text = (f"{self.source}: {self.records} records, {self.train} for training, {self.validation} for "
                f"validation; {self.malformed} malformed (skipped), {self.too_long} over the length limit (dropped)")
        return text + "".join(f"\n  {problem}" for problem in self.problems)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


# ---------------------------------------------------------------------------------------------- reading
def read_records(source, report: DataReport | None = None) -> tuple[list[tuple[str, Any]], DataReport]:
    """(where, record) for every record of a JSON list or JSONL file, or of a list of dicts.

    A JSONL line that is not valid JSON is skipped and counted; a JSON list must parse as a whole
    (DataError otherwise).  ``where`` is "file:line" (or "record N" for a list given in memory).
    """
    if isinstance(source, (list, tuple)):
        report = report or DataReport("records")
        return [(f"record {index}", record) for index, record in enumerate(source)], report
    path = Path(os.fspath(source))
    report = report or DataReport(str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot read data: {error}") from None
    if text.lstrip().startswith("["):

        try:
            records = json.loads(text)
        except json.JSONDecodeError as error:
            raise DataError(f"{path}:{error.lineno}: malformed JSON list: {error.msg}") from None
        lines = _line_of_list_items(text)
        return [(f"{path}:{lines[index] if index < len(lines) else '?'}", record)
                for index, record in enumerate(records)], report
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            found.append((f"{path}:{number}", json.loads(line)))
        except json.JSONDecodeError as error:
            report.records += 1
            report.skip(f"{path}:{number}", f"not valid JSON ({error.msg} at column {error.colno})")
    return found, report


def _nothing_usable(report: DataReport, found: list, what: str, kind: str, command: str) -> str:
    """One line for a file with nothing to train on: the counts and the first reason; for a file of
    problems (problem, answer) given where traces or pairs belong, the command that makes them."""
    problems = [record for _, record in found if isinstance(record, dict) and "answer" in record
                and not set(record) & {"message_thinking", "completion", "chosen"}]
    if found and len(problems) == len(found):
        return (f"{report.source}: {len(found)} problems (problem, answer), not {kind}; make {kind} of them first "
                f"with `minireason {command} --data {report.source} --out FILE.jsonl`, then train on FILE.jsonl")
    first = f"; the first: {report.problems[0]}" if report.problems else ""
    return f"{report.summary().splitlines()[0]}; no usable {what}{first}"


def _problem_of(record) -> str:
    text = record.get("problem", record.get("prompt", "")) if isinstance(record, dict) else ""
    text = text if isinstance(text, str) else repr(text)
    return f" (problem {text[:60]!r})" if text else ""


def _missing(record, fields) -> str | None:
    """Why ``record`` is not a record with these string fields, or None."""
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    for name in fields:
        if name not in record:
            return f"missing field {name!r}"
        if not isinstance(record[name], str):
            return f"field {name!r} expected a string, got {type(record[name]).__name__}"
    if not record[fields[0]].strip():
        return f"field {fields[0]!r} is empty"
    return None


# ---------------------------------------------------------------------------------------------- rendering
def end_text(tokenizer, prompt_format: str) -> str:
    """What ends a completion: the chat turn's end marker, or the tokenizer's end-of-text token."""
    if prompt_format == "chat":
        return CHAT_END
    if tokenizer.eos_token is None:
        raise InputError("the tokenizer has no eos token to end completions with; set one (tokenizer_config.json)")
    return tokenizer.eos_token


def assistant_turn(thinking: str, content: str, prompt_format: str) -> str:
    """The completion a model writes after the prompt: reasoning in ``<think>``, then the answer
    (without the end marker in the plain format; the chat turn includes its ``<|im_end|>``)."""

    if prompt_format == "plain":  # the task trace format (tasks.base.format_trace)
        return f"{THINK_OPEN}\n{thinking.strip(chr(10))}\n{THINK_CLOSE}\n{content.strip(chr(10))}"

    question = [{"role": "user", "content": "?"}]  # the assistant turn does not depend on it
    head = render_chat(question, add_generation_prompt=True, enable_thinking=True)
    whole = render_chat(question + [{"role": "assistant", "content": content, "reasoning_content": thinking}],
                        add_generation_prompt=False)
    return whole[len(head):].removesuffix("\n")  # the turn ends at <|im_end|>


def render_example(record, prompt_format: str, end: str) -> tuple[str, str]:
    """(prompt, completion) text of a trace or plain-pair record; ValueError saying why it cannot be."""
    if isinstance(record, dict) and all(name in record for name in TRACE_FIELDS):
        why = _missing(record, TRACE_FIELDS)
        if why is None and not record["message_content"].strip():
            why = "field 'message_content' is empty"
        if why:
            raise ValueError(why)
        completion = assistant_turn(record["message_thinking"], record["message_content"], prompt_format)
        if prompt_format == "plain":
            completion += end
        return PromptSpec("cot", prompt_format).text(record["problem"]), completion
    if isinstance(record, dict) and all(name in record for name in PAIR_FIELDS):
        why = _missing(record, PAIR_FIELDS)
        if why is None and not record["completion"].strip():
            why = "field 'completion' is empty"
        if why:
            raise ValueError(why)
        completion = record["completion"]
        return record["prompt"], completion if completion.endswith(end) else completion + end
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    raise ValueError(f"expected the fields {', '.join(TRACE_FIELDS)} (a teacher trace) or "
                     f"{', '.join(PAIR_FIELDS)}, got {', '.join(sorted(record)) or 'none'}")


# ---------------------------------------------------------------------------------------------- sets
def validation_share(key: str) -> float:
    """A number in [0, 1) fixed by ``key`` alone (sha256), for splitting by hash."""
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:16], 16) / 2.0 ** 64


@dataclass
class SequenceSet:
    """Examples as token ids: prompt, then the completion the loss covers."""

    prompts: list[str] = field(default_factory=list)  # prompt text (on-policy sampling reads it)
    prompt_ids: list[list[int]] = field(default_factory=list)
    completion_ids: list[list[int]] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)  # the source records

    def __len__(self) -> int:
        return len(self.prompt_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(p) + len(c) for p, c in zip(self.prompt_ids, self.completion_ids)], dtype=np.int64)

    def add(self, prompt: str, prompt_ids, completion_ids, record) -> None:
        self.prompts.append(prompt)
        self.prompt_ids.append(list(prompt_ids))
        self.completion_ids.append(list(completion_ids))
        self.records.append(record if isinstance(record, dict) else {})

    def fingerprint(self) -> str:
        """sha256 of the token ids (what a resumed run must train on again)."""
        digest = hashlib.sha256()
        for prompt, completion in zip(self.prompt_ids, self.completion_ids):
            digest.update(json.dumps([prompt, completion]).encode())
        return digest.hexdigest()


@dataclass
class PairSet:
    """Preference pairs as token ids: one prompt, a chosen and a rejected completion."""

    prompts: list[str] = field(default_factory=list)
    prompt_ids: list[list[int]] = field(default_factory=list)
    chosen_ids: list[list[int]] = field(default_factory=list)
    rejected_ids: list[list[int]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.prompt_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(p) + max(len(c), len(r)) for p, c, r in
                         zip(self.prompt_ids, self.chosen_ids, self.rejected_ids)], dtype=np.int64)

    def add(self, prompt: str, prompt_ids, chosen_ids, rejected_ids) -> None:
        self.prompts.append(prompt)
        self.prompt_ids.append(list(prompt_ids))
        self.chosen_ids.append(list(chosen_ids))
        self.rejected_ids.append(list(rejected_ids))

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for row in zip(self.prompt_ids, self.chosen_ids, self.rejected_ids):
            digest.update(json.dumps(row).encode())
        return digest.hexdigest()


def _start_loading(source, tokenizer, prompt_format: str, max_tokens: int,
                   validation_fraction: float) -> tuple[str, list[tuple[str, Any]], DataReport]:
    """What both loaders begin with: the settings checked, then (end marker, records, report)."""
    check_prompt_format(prompt_format)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 2:
        raise InputError(f"max_tokens must be an int >= 2, got {max_tokens!r}")
    if not (isinstance(validation_fraction, (int, float)) and 0 <= validation_fraction < 1):
        raise InputError(f"validation_fraction must lie in [0, 1), got {validation_fraction!r}")
    end = end_text(tokenizer, prompt_format)
    found, report = read_records(source)
    return end, found, report


def load_sequences(source, tokenizer, prompt_format: str = "plain", max_tokens: int = 512,
                   validation_fraction: float = 0.05) -> tuple[SequenceSet, SequenceSet, DataReport]:
    """(train, validation, report) from a file of traces or plain pairs, or a list of such records."""

    end, found, report = _start_loading(source, tokenizer, prompt_format, max_tokens, validation_fraction)
    train, validation = SequenceSet(), SequenceSet()
    for where, record in found:
        report.records += 1
        try:
            prompt, completion = render_example(record, prompt_format, end)
        except ValueError as why:
            report.skip(where + _problem_of(record), str(why))
            continue
        prompt_ids, completion_ids = tokenizer.encode(prompt), tokenizer.encode(completion)
        if len(prompt_ids) + len(completion_ids) > max_tokens or not prompt_ids:
            report.too_long += 1
            continue
        side = validation if validation_share(prompt) < validation_fraction else train
        side.add(prompt, prompt_ids, completion_ids, record)
    report.train, report.validation = len(train), len(validation)
    if not len(train):
        raise DataError(_nothing_usable(report, found, "training example", "teacher traces", "distill-data --teacher MODEL"))
    return train, validation, report


def load_pairs(source, tokenizer, prompt_format: str = "plain", max_tokens: int = 512,
               validation_fraction: float = 0.05) -> tuple[PairSet, PairSet, DataReport]:
    """(train, validation, report) of preference pairs ``{"prompt", "chosen", "rejected"}``; each
    completion gets the end marker (see :func:`end_text`) unless it already ends with it."""

    end, found, report = _start_loading(source, tokenizer, prompt_format, max_tokens, validation_fraction)
    train, validation = PairSet(), PairSet()
    for where, record in found:
        report.records += 1
        why = _missing(record, PREFERENCE_FIELDS)
        if why is None and (not record["chosen"].strip() or not record["rejected"].strip()):
            why = "an empty chosen or rejected completion"
        if why is None and record["chosen"] == record["rejected"]:
            why = "chosen and rejected are the same text"
        if why:
            report.skip(where + _problem_of(record), why)
            continue
        prompt_ids = tokenizer.encode(record["prompt"])
        chosen, rejected = (text if text.endswith(end) else text + end
                            for text in (record["chosen"], record["rejected"]))
        chosen_ids, rejected_ids = tokenizer.encode(chosen), tokenizer.encode(rejected)
        if len(prompt_ids) + max(len(chosen_ids), len(rejected_ids)) > max_tokens or not prompt_ids:
            report.too_long += 1
            continue
        side = validation if validation_share(record["prompt"]) < validation_fraction else train
        side.add(record["prompt"], prompt_ids, chosen_ids, rejected_ids)
    report.train, report.validation = len(train), len(validation)
    if not len(train):
        raise DataError(_nothing_usable(report, found, "preference pair", "preference pairs", "dpo-data --model MODEL"))
    return train, validation, report


# ---------------------------------------------------------------------------------------------- batches
class LengthBuckets:
    """Batches drawn from one length bucket at a time: a bucket is chosen with probability proportional
    to its size, then rows uniformly inside it (with replacement), so every example is equally likely
    but rows are padded far less than in a batch of random lengths (as in ``training/pretrain.py``)."""

    def __init__(self, lengths: np.ndarray, count: int = 8):
        if len(lengths) == 0:
            raise InputError("length buckets need at least one example")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise InputError(f"length_buckets must be an int >= 1, got {count!r}")
        order = np.argsort(np.asarray(lengths), kind="stable")
        self.buckets = [bucket for bucket in np.array_split(order, min(count, len(order))) if len(bucket)]
        self.weights = np.array([len(bucket) for bucket in self.buckets], dtype=np.float64) / len(order)

    def draw(self, rng: np.random.Generator, batch_size: int) -> np.ndarray:
        bucket = self.buckets[rng.choice(len(self.buckets), p=self.weights)]
        return bucket[rng.integers(0, len(bucket), batch_size)]


def micro_batches(count: int, size: int) -> list[slice]:
    """Consecutive row slices of at most ``size`` rows covering ``count`` rows."""
    return [slice(start, min(start + size, count)) for start in range(0, count, size)]


def trimmed(arrays, rows: slice):
    """The rows of packed (N, T) arrays, without the columns that are padding in every one of them."""
    input_ids, targets, loss_mask, attention_mask = (array[rows] for array in arrays)
    width = int(np.flatnonzero(attention_mask.any(axis=0)).max()) + 1
    return input_ids[:, :width], targets[:, :width], loss_mask[:, :width], attention_mask[:, :width]
