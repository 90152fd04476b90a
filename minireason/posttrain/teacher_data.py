"""Training data from a model's own samples: rejection-sampled teacher traces and preference pairs.

    problems ─K completions each (generation/rollout.py, the one rollout path)─▶ the one judge (boxed answer)
        ─▶ traces:  the verified ones, finished (not cut by the length limit), deduplicated
                    ─▶ {"problem", "gtruth_answer", "message_thinking", "message_content", "teacher", ...}
        ─▶ pairs:   a verified completion as chosen, a wrong one as rejected, per problem
                    ─▶ {"prompt", "chosen", "rejected", "problem", "gtruth_answer", "model", ...}

The prompts and their stop strings come from the one prompt spec (chain of thought in the
settings' format).  Written as JSONL, batch by batch, with the run's manifest beside it
(``OUT.manifest.json``, :mod:`minireason.identity`, as ``minireason eval`` keeps one): the sampling
model's weights, the problems' contents and every setting that changes a record.  An interrupted
run resumes after the last complete problem: the records of the last problem in the file (perhaps
cut short) are dropped and that problem is sampled again.  Each sample draws from its own
generator, ``item_generator(seed, problem index, sample index)`` (a pair's choice from sample
index K), so what a problem gets depends neither on the batch it fell in nor on where a run was
resumed: a resumed run writes exactly what an uninterrupted one would.  A file of another run is
refused, naming the settings that differ (``name: old -> new``); a file beside an ``OUT.state.json``
comes from an older minireason and is refused too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import minireason.tasks  # noqa: F401 - hands the task families' verifiers to the judge
from minireason.atomic import atomic_write_jsonl, atomic_write_text
from minireason.errors import DataError, InputError
from minireason.evaluation.judge import judge_completion
from minireason.evaluation.prompts import PromptSpec
from minireason.generation.rollout import Rollouts, sample_rollouts
from minireason.identity import (
    check_same_run,
    json_sha256,
    make_manifest,
    read_manifest,
    weights_sha256,
    write_manifest,
)
from minireason.io.chat_template import split_reasoning
from minireason.jsonl import jsonl_line, read_jsonl_tolerant
from minireason.run_folder import holding_results_file
from minireason.seeds import item_generator

# how each sample gets its generator (in the manifest, so that a file of another scheme is never resumed)
SAMPLE_SEEDS = "minireason.seeds.item_generator(seed, problem_index, sample_index); a pair's choice: sample K"


@dataclass
class SamplingSettings:
    """How the samples are drawn (recorded in every written record and in the manifest)."""

    model: str  # the sampling model's name, as given (builtin:NAME or a directory)
    data: str  # the problems' name, as given
    samples: int = 4  # K completions per problem
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 128
    seed: int = 0
    prompt_format: str = "plain"
    problems_per_batch: int = 32
    pairs_per_problem: int = 1  # preference pairs only

    def __post_init__(self):
        for name in ("samples", "max_new_tokens", "problems_per_batch", "pairs_per_problem"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be an int >= 1, got {value!r}")
        if not (isinstance(self.temperature, (int, float)) and self.temperature > 0):
            raise InputError(f"temperature must be > 0 (rejection sampling needs samples), got {self.temperature!r}")
        if self.prompt_format not in ("plain", "chat"):
            raise InputError(f"prompt_format must be plain or chat, got {self.prompt_format!r}")

    def recorded(self) -> dict:
        """The sampling settings written into each record."""
        return {key: getattr(self, key) for key in ("samples", "temperature", "top_p", "top_k", "max_new_tokens",
                                                    "seed", "prompt_format")}

    def prompt_spec(self) -> PromptSpec:
        """The prompts the samples answer: chain of thought in the settings' format."""
        return PromptSpec("cot", self.prompt_format)


def teacher_data_identity(model, records: list[dict], settings: SamplingSettings, kind: str) -> dict:
    """What makes a teacher-data file what it is (compared on resume): the kind of records, the
    sampling model's weights (a model without ``params`` has none), the problems' contents and every
    setting but the batch size and the names the model and data were given (facts for the reader,
    kept in the manifest's ``run``)."""
    params = getattr(model, "params", None)
    fields = dataclasses.asdict(settings)
    for name in ("problems_per_batch", "model", "data"):
        del fields[name]
    return {"kind": kind, "model_sha256": weights_sha256(params) if isinstance(params, dict) else None,
            "data_sha256": json_sha256(records), "problems": len(records), **fields, "sample_seeds": SAMPLE_SEEDS}


def _state_path(out_path: Path) -> Path:
    return out_path.with_name(out_path.name + ".state.json")


def _resume(out_path: Path, identity: dict, command: str, run_info: dict) -> list[dict]:
    """The records of an earlier run with this identity, up to its last complete problem; a new run
    empties the file and writes its manifest."""
    if _state_path(out_path).exists():
        raise DataError(f"{out_path}: resume state {_state_path(out_path).name} comes from an older minireason "
                        f"(this version keeps {out_path.name}.manifest.json); choose another --out, or remove both "
                        f"to start over")
    if out_path.is_file() and out_path.stat().st_size > 0 and read_manifest(out_path) is None:
        raise InputError(f"{out_path}: not written by this command (no manifest {out_path.name}.manifest.json "
                         f"beside it); choose another --out, or move the file away")
    records = read_jsonl_tolerant(out_path, check=_check_index)[0] if out_path.exists() else []
    if read_manifest(out_path) is not None:  # an earlier run's file, even with no record yet: the same run only
        check_same_run(out_path, len(records), identity, command,
                       way_out="use the same settings to resume, or another --out")
    if not records:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out_path, "")
        write_manifest(out_path, make_manifest(command, identity, run_info))
        return []
    last = records[-1]["index"]
    kept = [record for record in records if record["index"] < last]  # the last problem may be cut short
    atomic_write_jsonl(out_path, kept)
    return kept


def _check_index(record: dict) -> str | None:
    index = record.get("index")
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        return f"expected a record with an int 'index' >= 0, got 'index': {index!r}"
    return None


def _record_key(record: dict) -> tuple:
    return (record.get("problem"), record.get("message_content"), record.get("message_thinking"),
            record.get("chosen"), record.get("rejected"))


@dataclass(frozen=True)
class TeacherBatch:
    """The problems ``first, first + 1, ...`` of one batch, and how to sample them."""

    first: int
    records: list[dict]
    settings: SamplingSettings


def sample_batch(model, tokenizer, job: TeacherBatch) -> tuple[list[str], Rollouts]:
    """(prompts, K rollouts of each) of one batch, every sample from its own generator: a plain function
    that runs the same in this process or on an executor's actor."""
    settings, spec, K = job.settings, job.settings.prompt_spec(), job.settings.samples
    prompts = spec.texts(record["problem"] for record in job.records)
    generators = [item_generator(settings.seed, job.first + offset, sample)
                  for offset in range(len(job.records)) for sample in range(K)]
    rollouts = sample_rollouts(model, tokenizer, job.records, prompts, K, settings.max_new_tokens,
                               settings.temperature, settings.top_p, settings.top_k, generators,
                               spec.stop_strings, max_rows=len(generators))
    return prompts, rollouts


@holding_results_file("out_path")  # one writer at a time: FILE.lock beside it
def _sample_to_file(model, tokenizer, records: list[dict], settings: SamplingSettings, out_path, kind: str,
                    make_records, progress: bool = True, executor=None) -> dict:
    if not records:
        raise InputError("expected at least one problem, got none")
    out_path = Path(out_path)
    command = {"traces": "distill-data", "pairs": "dpo-data"}[kind]
    identity = teacher_data_identity(model, records, settings, kind)
    written = _resume(out_path, identity, command, {"model": settings.model, "data": settings.data,
                                                    "problems_per_batch": settings.problems_per_batch})
    start = written[-1]["index"] + 1 if written else 0
    if start > len(records):
        raise DataError(f"{out_path}: has records of problem {start - 1}, past the {len(records)} problems given")
    counts = {"sampled": 0, "finished": 0, "verified": 0, "written": 0, "duplicates": 0, "problems_with_output": 0}
    seen = {_record_key(record) for record in written}
    K = settings.samples
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(records), initial=start, unit="problem", desc=kind)
    jobs = [TeacherBatch(batch_start, records[batch_start:batch_start + settings.problems_per_batch], settings)
            for batch_start in range(start, len(records), settings.problems_per_batch)]
    if executor is None:
        sampled = (sample_batch(model, tokenizer, job) for job in jobs)
    else:
        sampled = executor.map(sample_batch, jobs)
    try:
        with out_path.open("a", encoding="utf-8") as handle:
            for job in jobs:
                batch_start, batch = job.first, job.records
                prompts, rollouts = next(sampled)
                lines = []
                for offset, record in enumerate(batch):
                    index = batch_start + offset
                    group = range(offset * K, (offset + 1) * K)
                    finished = [rollouts.completions[row] for row in group if not rollouts.truncated[row]]
                    verdicts = [judge_completion(record, text, fallback=None)[1] for text in finished]
                    counts["sampled"] += K
                    counts["finished"] += len(finished)
                    counts["verified"] += sum(verdicts)
                    made = make_records(index, record, prompts[offset], finished, verdicts,
                                        item_generator(settings.seed, index, K))
                    fresh = []
                    for item in made:
                        if _record_key(item) in seen:
                            counts["duplicates"] += 1
                            continue
                        seen.add(_record_key(item))
                        fresh.append(item)
                    counts["written"] += len(fresh)
                    counts["problems_with_output"] += bool(fresh)
                    lines += [jsonl_line(item) for item in fresh]
                handle.write("".join(lines))
                handle.flush()
                if bar is not None:
                    bar.update(len(batch))
                    bar.set_postfix(written=len(seen))
    finally:
        sampled.close()  # an executor's jobs still in flight are cancelled
    if bar is not None:
        bar.close()
    return {"problems": len(records) - start, "resumed_after": start, "records": len(seen), "out": str(out_path),
            **counts}


def _base_fields(index: int, record: dict) -> dict:
    fields = {"index": index, "problem": record["problem"], "gtruth_answer": record["answer"]}
    for key in ("unique_id", "family", "level"):
        if key in record:
            fields[key] = record[key]
    return fields


def sample_traces(model, tokenizer, records: list[dict], settings: SamplingSettings, out_path,
                  progress: bool = True, executor=None) -> dict:
    """Rejection sampling: K completions per problem from ``model`` (the teacher), the verified and
    finished ones, deduplicated, written as teacher traces (see the module docstring).
    Returns counts of this call: problems (sampled now), sampled, finished, verified, written,
    duplicates, problems_with_output; resumed_after (problems kept from an earlier call), records
    (in the file now).  ``executor``: sample the batches on actors (:mod:`minireason.scaleout`); the
    records are the same."""

    def make_records(index, record, prompt, finished, verdicts, rng):
        made = []
        for text, correct in zip(finished, verdicts):
            if correct:
                thinking, content = split_reasoning(text)
                made.append({**_base_fields(index, record), "message_thinking": thinking.strip("\n"),
                             "message_content": content, "teacher": settings.model,
                             "sampling": settings.recorded()})
        return made

    return _sample_to_file(model, tokenizer, records, settings, out_path, "traces", make_records, progress, executor)


def sample_pairs(model, tokenizer, records: list[dict], settings: SamplingSettings, out_path,
                 progress: bool = True, executor=None) -> dict:
    """Preference pairs from a model's own samples: per problem, up to ``pairs_per_problem`` pairs of a
    verified completion (chosen) and a wrong one (rejected), both finished, drawn at random among the
    distinct texts; a problem whose K samples are all right or all wrong gives none.  ``executor``: as
    :func:`sample_traces`."""

    def make_records(index, record, prompt, finished, verdicts, rng):
        right = sorted({text for text, correct in zip(finished, verdicts) if correct})
        wrong = sorted({text for text, correct in zip(finished, verdicts) if not correct})
        count = min(settings.pairs_per_problem, len(right), len(wrong))
        if count == 0:
            return []
        chosen, rejected = rng.permutation(len(right))[:count], rng.permutation(len(wrong))[:count]
        return [{**_base_fields(index, record), "prompt": prompt, "chosen": right[c], "rejected": wrong[r],
                 "model": settings.model, "sampling": settings.recorded()} for c, r in zip(chosen, rejected)]

    return _sample_to_file(model, tokenizer, records, settings, out_path, "pairs", make_records, progress, executor)
