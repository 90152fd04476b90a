"""Evaluation runs: generate answers for a problem set, grade them, keep records, summarise.

A run writes one JSON record per problem to a JSONL file::

    {"index": 0, "unique_id": ..., "subject": ..., "level": ..., "problem": ..., "gold": ...,
     "generated": ..., "extracted": ..., "correct": true, "generated_tokens": 212,
     "finish_reason": "stop", "seconds": 1.9}

Each record is written and flushed as soon as its batch is graded, so an interrupt loses at
most the batch in flight. (Records are appended, not written atomically: the file grows
during the run. A line cut off by a crash, even inside a UTF-8 character, is recognised as
incomplete and dropped on resume.)

Beside the records, ``OUT.manifest.json`` says what made them (:mod:`minireason.identity`):
the model's weights hash, the problem set's hash, every setting that changes a record, the
command's arguments and the project version. It is written before the first record.

Re-running with the same output file resumes after the last complete record, but only the
same run: a manifest with other settings (another model, data set, template, temperature,
seed, ...) is refused with an InputError naming them; ``force_new`` (``--force-new``) starts
over. The batch size is not part of a run's identity: with a ``seed``, problem i draws from its
own generator, ``numpy.random.default_rng([seed, i, 0])`` (seed, problem index, sample index),
so its sample does not depend on the batch it fell in, and a run resumed anywhere (a cut-off
last record, another ``--batch-size``) samples exactly what an uninterrupted one would.

The generation function is injectable (``generate_function``), with the signature of
:func:`minireason.generation.generate.generate`; tests pass a fake one.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from minireason.atomic import atomic_write_jsonl, atomic_write_text, write_target
from minireason.errors import DataError, InputError
from minireason.evaluation.core import Sampling, judged_batches
from minireason.evaluation.extract import extract_answer
from minireason.evaluation.judge import judge_completion
from minireason.evaluation.prompts import TEMPLATES, PromptSpec
from minireason.generation.generate import ThinkingBudget
from minireason.identity import (
    check_same_run,
    json_sha256,
    make_manifest,
    manifest_path,
    read_manifest,
    weights_sha256,
    write_manifest,
)
from minireason.jsonl import jsonl_line, read_jsonl_tolerant
from minireason.run_folder import holding_results_file

# how a seeded run gives each problem its own generator (recorded in the manifest, so that a run
# of another scheme is never resumed with this one)
SAMPLE_SEEDS = "numpy.random.default_rng([seed, problem_index, sample_index])"


@dataclass(frozen=True)
class EvalSettings:
    """How answers are generated: prompt template, sampling settings and thinking budget.

    max_thinking_tokens / min_thinking_tokens / max_wait: a thinking budget for every answer
    (:class:`minireason.generation.generate.ThinkingBudget`; None: none). They change the records,
    so they are part of the run's identity (an older manifest without them reads as None).
    """

    template: str = "direct"
    chat: bool = False
    enable_thinking: bool = False
    batch_size: int = 8
    max_new_tokens: int = 512
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int | None = None
    max_thinking_tokens: int | None = None
    min_thinking_tokens: int | None = None
    max_wait: int | None = None

    def prompt_spec(self) -> PromptSpec:
        """The prompt these settings ask for: the template, plain or in the chat template."""
        return PromptSpec(template=self.template, prompt_format="chat" if self.chat else "plain",
                          thinking=self.enable_thinking)

    def sampling(self) -> Sampling:
        """The sampling settings of the evaluation core."""
        return Sampling(max_new_tokens=self.max_new_tokens, temperature=self.temperature, top_k=self.top_k,
                        top_p=self.top_p, seed=self.seed, thinking_budget=self.thinking_budget())

    def thinking_budget(self) -> ThinkingBudget | None:
        """The ``ThinkingBudget`` these settings ask for, or None; InputError for settings that do not fit.
        After ``</think>`` at the cap the answer starts as each format writes it: ``"\n"`` in the
        built-in models' plain format, ``"\n\n"`` in Qwen3's chat format."""
        if self.max_wait is not None and not self.min_thinking_tokens:
            raise InputError(f"max_wait: needs min_thinking_tokens >= 1, got max_wait {self.max_wait!r} "
                             f"with min_thinking_tokens {self.min_thinking_tokens!r}")
        if self.max_thinking_tokens is None and not self.min_thinking_tokens:
            return None
        return ThinkingBudget(max_thinking_tokens=self.max_thinking_tokens,
                              min_thinking_tokens=self.min_thinking_tokens or 0,
                              max_wait=self.max_wait if self.max_wait is not None else 1,
                              answer_prefix="\n\n" if self.chat else "\n")

    def check(self) -> None:
        if self.template not in TEMPLATES:
            raise InputError(f"template: expected one of {sorted(TEMPLATES)}, got {self.template!r}")
        if not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            raise InputError(f"batch_size: expected an int >= 1, got {self.batch_size!r}")
        if not (isinstance(self.max_new_tokens, int) and self.max_new_tokens >= 1):
            raise InputError(f"max_new_tokens: expected an int >= 1, got {self.max_new_tokens!r}")
        if self.temperature < 0:
            raise InputError(f"temperature: expected >= 0, got {self.temperature}")
        self.thinking_budget()


def _check_result(record: dict) -> str | None:
    index = record.get("index")
    if isinstance(index, bool) or not isinstance(index, int):
        return f"expected a record with an int 'index', got 'index': {index!r}"
    return None


def _read_results(path: Path) -> tuple[list[dict], bool]:
    """(complete records, whether a torn last line was dropped); no file: no records."""
    if not path.exists():
        return [], False
    return read_jsonl_tolerant(path, check=_check_result)


def read_records(path: str | Path) -> list[dict]:
    """The complete records of a results file (none if there is no file).

    A cut-off last line (also one cut inside a UTF-8 character) is ignored; any other bad line,
    or a record without an int ``index``, is a DataError "PATH:LINE: ...".
    """
    return _read_results(Path(path))[0]


def eval_identity(model, problems: Sequence[dict], settings: EvalSettings,
                  verify_function: Callable | None = None) -> dict:
    """What makes an evaluation's records what they are (compared on resume, see the module docstring).

    The model by its weights (a fake model without ``params`` has none), the problem set by its
    contents (all of it: ``limit`` only says how far to go), the prompt and sampling settings
    but the batch size, and who grades.
    """
    params = getattr(model, "params", None)
    fields = {field.name: getattr(settings, field.name) for field in dataclasses.fields(settings)}
    del fields["batch_size"]  # samples do not depend on batch boundaries (per-problem generators)
    grader = None if verify_function is None else getattr(verify_function, "__qualname__", repr(verify_function))
    return {"model_sha256": weights_sha256(params) if isinstance(params, dict) else None,
            "data_sha256": json_sha256(list(problems)), "problems": len(problems), **fields,
            "sample_seeds": SAMPLE_SEEDS if settings.seed is not None else None, "grader": grader}


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


@holding_results_file("out_path")  # one writer at a time: FILE.lock beside it
def run_evaluation(model, tokenizer, problems: Sequence[dict], out_path: str | Path,
                   settings: EvalSettings = EvalSettings(), limit: int | None = None,
                   generate_function: Callable | None = None, progress: bool = True,
                   verify_function: Callable | None = None, force_new: bool = False,
                   run_info: dict | None = None, should_stop: Callable[[], bool] | None = None,
                   executor=None) -> dict:
    """Generate, grade and record answers for ``problems[:limit]``; return the summary of all records.

    The answers come from the one evaluation core (:func:`minireason.evaluation.core.judged_batches`),
    graded by the one judge (see :func:`grade_record`); ``verify_function(problem, extracted) ->
    bool`` overrides it. ``generate_function`` is called with ``rng`` (one generator per prompt, or
    None unseeded), never ``seed``. ``should_stop()`` is asked between batches (see the core).

    Resumes after the last complete record in ``out_path`` when its manifest shows the same run
    (else InputError); ``force_new`` starts over. ``run_info``: JSON-able facts for the manifest
    that a resume does not compare (the command's arguments). ``executor``: run the batches on
    actors (:class:`minireason.scaleout.RayExecutor`); the records are the same. See the module docstring.
    """
    settings.check()
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise InputError(f"limit: expected None or an int >= 0, got {limit!r}")
    out_path = Path(out_path)
    problems = list(problems)
    identity = eval_identity(model, problems, settings, verify_function)
    problems = problems[:limit]
    records = open_results(out_path, identity, len(problems), force_new, run_info)
    start = len(records)

    def judge(problem: dict, generated: str) -> tuple[str | None, bool]:
        graded = grade_record({"generated": generated}, verify_function, problem)
        return graded["extracted"], graded["correct"]

    batches = judged_batches(model, tokenizer, problems, settings.prompt_spec(), settings.sampling(),
                             batch_size=settings.batch_size, start=start, judge=judge,
                             generate_function=generate_function, progress=progress, desc="eval",
                             should_stop=should_stop, executor=executor)
    with out_path.open("a", encoding="utf-8") as handle:
        for answers in batches:
            lines = []
            for answer in answers:
                problem = problems[answer["index"]]
                record = {
                    "index": answer["index"],
                    "unique_id": problem.get("unique_id"),
                    "subject": problem.get("subject"),
                    "level": problem.get("level"),
                    "problem": problem["problem"],
                    "gold": problem["answer"],
                    **{key: value for key, value in answer.items() if key not in ("index", "extracted", "correct")},
                    # what a task's own verifier needs to re-grade this record later
                    **{key: problem[key] for key in ("family", "data") if key in problem},
                    "extracted": answer["extracted"],
                    "correct": answer["correct"],
                }
                lines.append(jsonl_line(record))
                records.append(record)
            handle.write("".join(lines))
            handle.flush()
    return summarize(records)


def open_results(out_path: Path, identity: dict, total: int, force_new: bool = False,
                 run_info: dict | None = None) -> list[dict]:
    """The records already in ``out_path`` of the run ``identity`` (a new run: none, the file emptied
    and its manifest written); the next problem to answer is ``len(records)``.

    A resume compares the manifest (InputError naming the settings that differ) and drops a cut-off
    last line; a file of records not numbered 0, 1, ... or holding more than ``total`` is a DataError.
    """
    records, torn = ([], False) if force_new else _read_results(out_path)
    if records:
        check_same_run(out_path, len(records), identity, "eval")
        if torn:  # drop the cut-off last line before appending (atomically: temp file + replace)
            atomic_write_jsonl(out_path, records)
    else:  # a new run: the records file first (emptied), then its manifest; a crash between leaves no records
        if out_path.is_file() and out_path.stat().st_size > 0 and read_manifest(out_path) is None:
            raise InputError(f"{out_path}: exists and was not written by `minireason eval` (no "
                             f"{manifest_path(out_path).name} beside it); choose another output file or remove it")
        out_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out_path, "")
        write_manifest(out_path, make_manifest("eval", identity, run_info))
    for expected, record in enumerate(records):
        if record["index"] != expected:
            raise DataError(f"{out_path}: record {expected} has index {record['index']}; not a results file of this run")
    if len(records) > total:
        raise DataError(f"{out_path}: has {len(records)} records, more than the {total} problems asked for")
    return records


def regrade_file(path: str | Path, out_path: str | Path | None = None,
                 verify_function: Callable | None = None) -> tuple[list[dict], dict]:
    """Re-grade the records of a results file (for a changed grader); optionally write them atomically.

    Graded by the one judge (see :func:`grade_record`; task records keep ``family`` and ``data``,
    so their family's verifier re-checks them); ``verify_function(record, extracted) -> bool``
    overrides it. A record the judge cannot read (a task record without ``problem``) is a
    DataError naming the file and the record. Written to another regular file, the records take
    their manifest along (re-grading changes no setting that made them).
    """
    records = []
    for record in read_records(path):
        if "gold" not in record or "generated" not in record:
            raise DataError(f"{path}: record {record['index']} lacks 'gold' or 'generated'")
        try:
            records.append(grade_record(record, verify_function))
        except DataError as error:
            raise DataError(f"{path}: record {record['index']}: {str(error).removeprefix('record: ')}") from None
    if not records:
        raise DataError(f"{path}: expected results records, found none")
    if out_path is not None:
        atomic_write_jsonl(out_path, records)
        _copy_manifest(Path(path), Path(out_path))
    return records, summarize(records)


def _copy_manifest(source: Path, destination: Path) -> None:
    """The source's manifest beside a regular-file ``destination`` (not beside /dev/stdout or a pipe)."""
    source_manifest = manifest_path(source)
    how, target, _ = write_target(destination)
    if how != "replace" or not source_manifest.is_file() or target == Path(source).resolve():
        return
    atomic_write_text(manifest_path(target), source_manifest.read_text(encoding="utf-8"))
