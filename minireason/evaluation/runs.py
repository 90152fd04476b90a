"""Evaluation runs: generate answers for a problem set, grade them, keep records, summarise.

A run writes one JSON record per problem to a JSONL file::

    {"index": 0, "unique_id": ..., "subject": ..., "level": ..., "problem": ..., "gold": ...,
     "generated": ..., "extracted": ..., "correct": true, "generated_tokens": 212,
     "finish_reason": "stop", "seconds": 1.9}

Each record is written and flushed as soon as its batch is graded, so an interrupt loses at
most the batch in flight. (Records are appended, not written atomically: the file grows
during the run. A line cut off by a crash is recognised as incomplete and dropped on resume.)
Re-running with the same output file resumes after the last complete record: the problems
before it are not generated again, and with a ``seed`` each batch's seed depends only on the
index of its first problem, so a resumed run samples exactly what an uninterrupted one would.

The generation function is injectable (``generate_function``), with the signature of
:func:`minireason.generation.generate.generate`; tests pass a fake one.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from minireason.atomic import atomic_write_jsonl
from minireason.errors import DataError, InputError
from minireason.evaluation.extract import extract_answer
from minireason.evaluation.judge import judge_completion
from minireason.evaluation.prompts import TEMPLATES, render_prompt


@dataclass(frozen=True)
class EvalSettings:
    """How answers are generated: prompt template and sampling settings."""

    template: str = "direct"
    chat: bool = False
    enable_thinking: bool = False
    batch_size: int = 8
    max_new_tokens: int = 512
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int | None = None

    def check(self) -> None:
        if self.template not in TEMPLATES:
            raise InputError(f"template: expected one of {sorted(TEMPLATES)}, got {self.template!r}")
        if not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            raise InputError(f"batch_size: expected an int >= 1, got {self.batch_size!r}")
        if not (isinstance(self.max_new_tokens, int) and self.max_new_tokens >= 1):
            raise InputError(f"max_new_tokens: expected an int >= 1, got {self.max_new_tokens!r}")
        if self.temperature < 0:
            raise InputError(f"temperature: expected >= 0, got {self.temperature}")


def read_records(path: str | Path) -> list[dict]:
    """The complete records of a results file; a cut-off last line is ignored, any other bad line is a DataError."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    lines = path.read_text(encoding="utf-8").split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        is_last = number == len(lines) or all(not rest.strip() for rest in lines[number:])
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            if is_last:  # written while the run was interrupted
                break
            raise DataError(f"{path}:{number}: malformed record: {error.msg}") from error
        if not isinstance(record, dict) or "index" not in record:
            raise DataError(f"{path}:{number}: expected a record object with 'index', got {line[:60]!r}")
        records.append(record)
    return records


def _rewrite_complete(path: Path, records: list[dict]) -> None:
    """Drop a cut-off last line before appending (atomically: temp file + replace)."""
    atomic_write_jsonl(path, records)


def grade_record(record: dict, verify_function: Callable | None = None, problem: dict | None = None) -> dict:
    """The record with ``extracted`` and ``correct`` recomputed from its generated text.

    By default the one judge decides (:func:`minireason.evaluation.judge.is_correct`): a record
    of a built-in task (it keeps the problem's ``family`` and ``data``) is checked by its
    family's verifier, any other is compared with its ``gold`` answer by ``grade_answer``.
    ``problem`` is the problem the record answers (its ``answer`` is the gold); without it the
    record itself stands for the problem. ``verify_function(problem or record, extracted) ->
    bool`` replaces the judge where a caller must decide otherwise.
    """
    generated = record.get("generated") or ""
    if verify_function is not None:
        extracted = extract_answer(generated)
        correct = bool(verify_function(problem if problem is not None else record, extracted))
    else:
        judged = problem if problem is not None else {**record, "answer": record.get("gold")}
        extracted, correct = judge_completion(judged, generated, fallback="number")
    return {**record, "extracted": extracted, "correct": correct}


def summarize(records: Sequence[dict]) -> dict:
    """Accuracy overall, by subject and by level; mean response length; tokens per second."""

    def accuracy(group: list[dict]) -> dict:
        correct = sum(bool(r.get("correct")) for r in group)
        return {"correct": correct, "total": len(group), "accuracy": correct / len(group) if group else 0.0}

    by_subject: dict[str, list] = defaultdict(list)
    by_level: dict[str, list] = defaultdict(list)
    for record in records:
        by_subject[str(record.get("subject", "unknown"))].append(record)
        by_level[str(record.get("level", "unknown"))].append(record)
    tokens = sum(int(r.get("generated_tokens", 0)) for r in records)
    seconds = sum(float(r.get("seconds", 0.0)) for r in records)
    return {
        **accuracy(list(records)),
        "by_subject": {k: accuracy(v) for k, v in sorted(by_subject.items())},
        "by_level": {k: accuracy(v) for k, v in sorted(by_level.items())},
        "mean_generated_tokens": tokens / len(records) if records else 0.0,
        "tokens_per_second": tokens / seconds if seconds > 0 else 0.0,
    }


def format_summary(summary: dict) -> str:
    """The summary as a few aligned lines of text."""
    lines = [f"accuracy {summary['accuracy']:.1%} ({summary['correct']}/{summary['total']})"]
    for title, key in (("subject", "by_subject"), ("level", "by_level")):
        lines.append(f"by {title}:")
        for name, group in summary[key].items():
            lines.append(f"  {name:<28} {group['accuracy']:6.1%}  ({group['correct']}/{group['total']})")
    lines.append(f"mean response length {summary['mean_generated_tokens']:.1f} tokens")
    lines.append(f"throughput {summary['tokens_per_second']:.1f} tokens/s")
    return "\n".join(lines)


def _default_generate() -> Callable:
    from minireason.generation.generate import generate

    return generate


def run_evaluation(model, tokenizer, problems: Sequence[dict], out_path: str | Path,
                   settings: EvalSettings = EvalSettings(), limit: int | None = None,
                   generate_function: Callable | None = None, progress: bool = True,
                   verify_function: Callable | None = None) -> dict:
    """Generate, grade and record answers for ``problems[:limit]``; return the summary of all records.

    Answers are graded by the one judge (see :func:`grade_record`); ``verify_function(problem,
    extracted) -> bool`` overrides it.

    Resumes after the last complete record in ``out_path`` (see the module docstring).
    """
    settings.check()
    generate_function = generate_function or _default_generate()
    out_path = Path(out_path)
    problems = list(problems)[: limit if limit is not None else None]
    records = read_records(out_path)
    if out_path.exists():
        _rewrite_complete(out_path, records)
    start = records[-1]["index"] + 1 if records else 0
    for expected, record in enumerate(records):
        if record["index"] != expected:
            raise DataError(f"{out_path}: record {expected} has index {record['index']}; not a results file of this run")
    if start > len(problems):
        raise DataError(f"{out_path}: has {start} records, more than the {len(problems)} problems asked for")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(problems), initial=start, unit="problem", desc="eval")
    with out_path.open("a", encoding="utf-8") as handle:
        for batch_start in range(start, len(problems), settings.batch_size):
            batch = problems[batch_start: batch_start + settings.batch_size]
            prompts = [render_prompt(p["problem"], settings.template, settings.chat, settings.enable_thinking)
                       for p in batch]
            seed = None if settings.seed is None else settings.seed + batch_start
            started = time.perf_counter()
            results = generate_function(model, tokenizer, prompts, max_new_tokens=settings.max_new_tokens,
                                        temperature=settings.temperature, top_k=settings.top_k,
                                        top_p=settings.top_p, seed=seed)
            seconds = time.perf_counter() - started
            if len(results) != len(batch):
                raise InputError(f"generate returned {len(results)} results for {len(batch)} prompts")
            for offset, (problem, result) in enumerate(zip(batch, results)):
                record = grade_record({
                    "index": batch_start + offset,
                    "unique_id": problem.get("unique_id"),
                    "subject": problem.get("subject"),
                    "level": problem.get("level"),
                    "problem": problem["problem"],
                    "gold": problem["answer"],
                    "generated": result.text,
                    "generated_tokens": len(result.token_ids),
                    "finish_reason": getattr(result, "finish_reason", None),
                    "seconds": seconds / len(batch),
                    # what a task's own verifier needs to re-grade this record later
                    **{key: problem[key] for key in ("family", "data") if key in problem},
                }, verify_function, problem)
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                records.append(record)
            handle.flush()
            if bar is not None:
                bar.update(len(batch))
                bar.set_postfix(accuracy=f"{sum(r['correct'] for r in records) / len(records):.1%}")
    if bar is not None:
        bar.close()
    return summarize(records)


def regrade_file(path: str | Path, out_path: str | Path | None = None,
                 verify_function: Callable | None = None) -> tuple[list[dict], dict]:
    """Re-grade the records of a results file (for a changed grader); optionally write them atomically.

    Graded by the one judge (see :func:`grade_record`; task records keep ``family`` and ``data``,
    so their family's verifier re-checks them); ``verify_function(record, extracted) -> bool``
    overrides it.
    """
    records = [grade_record(r, verify_function) for r in read_records(path)]
    if not records:
        raise DataError(f"{path}: expected results records, found none")
    for index, record in enumerate(records):
        if "gold" not in record or "generated" not in record:
            raise DataError(f"{path}: record {index} lacks 'gold' or 'generated'")
    if out_path is not None:
        atomic_write_jsonl(out_path, records)
    return records, summarize(records)
