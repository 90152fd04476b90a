"""Training data from a model's own samples: rejection-sampled teacher traces and preference pairs.

    problems ─K completions each (generation/rollout.py, the one rollout path)─▶ the one judge (boxed answer)
        ─▶ traces:  the verified ones, finished (not cut by the length limit), deduplicated
                    ─▶ {"problem", "gtruth_answer", "message_thinking", "message_content", "teacher", ...}
        ─▶ pairs:   a verified completion as chosen, a wrong one as rejected, per problem
                    ─▶ {"prompt", "chosen", "rejected", "problem", "gtruth_answer", "model", ...}

Written as JSONL, batch by batch, with a small state file beside it (``OUT.state.json``: the
settings and how many problems are done), so an interrupted run resumes where it stopped, like
``minireason eval``: each batch's randomness comes from (seed, index of its first problem) alone,
so a resumed run writes exactly what an uninterrupted one would.  A state file written with other
settings or other problems is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minireason.errors import DataError, InputError
from minireason.identity import describe_differences, weights_sha256
from minireason.run_folder import holding_results_file


@dataclass
class SamplingSettings:
    """How the samples are drawn (recorded in every written record and in the state file)."""

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


def _problems_sha256(records: list[dict]) -> str:
    digest = hashlib.sha256()
    for record in records:
        digest.update(json.dumps([record.get("problem"), record.get("answer")]).encode("utf-8"))
    return digest.hexdigest()


def _state_path(out_path: Path) -> Path:
    return out_path.with_name(out_path.name + ".state.json")


def _resume(out_path: Path, expected: dict) -> tuple[list[dict], dict]:
    """(records kept so far, state) of an earlier run with these settings, or ([], fresh state)."""
    from minireason.atomic import atomic_write_jsonl
    from minireason.jsonl import read_jsonl_tolerant

    state_path = _state_path(out_path)
    fresh = {**expected, "problems_done": 0, "counts": {}}
    if not state_path.exists():
        if out_path.exists() and out_path.stat().st_size > 0:
            raise DataError(f"{out_path} exists but has no {state_path.name} beside it (not written by this command, "
                            f"or by an older run); choose another --out or remove it")
        return [], fresh
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise DataError(f"{state_path}: cannot read the resume state ({error})") from None
    details = describe_differences({key: state.get(key) for key in expected}, expected)
    if details:
        raise DataError(f"{out_path} was written with other settings ({details}); use the same settings to resume, "
                        f"or another --out")
    if not out_path.exists():
        if state.get("problems_done", 0) > 0:
            raise DataError(f"{state_path} says {state['problems_done']} problems are done but {out_path} is missing; "
                            f"remove {state_path.name} to start over")
        return [], fresh
    records = read_jsonl_tolerant(out_path)[0]
    kept = [record for record in records if record.get("index", -1) < state["problems_done"]]
    if len(kept) != len(records):  # a batch written but not committed: drop it
        atomic_write_jsonl(out_path, kept)
    return kept, state


@holding_results_file("out_path")  # one writer at a time: FILE.lock beside it
def _sample_to_file(model, tokenizer, records: list[dict], settings: SamplingSettings, out_path, kind: str,
                    make_records, progress: bool = True) -> dict:
    from minireason.atomic import atomic_write_text
    from minireason.evaluation.judge import judge_completion
    from minireason.evaluation.prompts import build_prompt, stop_strings_for
    from minireason.generation.rollout import sample_rollouts
    from minireason.jsonl import jsonl_line

    if not records:
        raise InputError("expected at least one problem, got none")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    expected = {"kind": kind, **dataclasses.asdict(settings), "problems": len(records),
                "problems_sha256": _problems_sha256(records),
                "model_sha256": weights_sha256(model.params)
                if isinstance(getattr(model, "params", None), dict) else None}
    written, state = _resume(out_path, expected)
    counts = {"sampled": 0, "finished": 0, "verified": 0, "written": 0, "duplicates": 0, "problems_with_output": 0,
              **state.get("counts", {})}
    seen = {(record.get("problem"), record.get("message_content"), record.get("message_thinking"),
             record.get("chosen"), record.get("rejected")) for record in written}
    start = state["problems_done"]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(records), initial=start, unit="problem", desc=kind)
    with out_path.open("a", encoding="utf-8") as handle:
        for batch_start in range(start, len(records), settings.problems_per_batch):
            batch = records[batch_start:batch_start + settings.problems_per_batch]
            rng = np.random.default_rng([settings.seed, batch_start])
            prompts = [build_prompt(record["problem"], "cot", settings.prompt_format) for record in batch]
            rollouts = sample_rollouts(model, tokenizer, batch, prompts, settings.samples, settings.max_new_tokens,
                                       settings.temperature, settings.top_p, settings.top_k, rng,
                                       stop_strings_for(settings.prompt_format))
            K = settings.samples
            lines = []
            for offset, record in enumerate(batch):
                group = range(offset * K, (offset + 1) * K)
                finished = [rollouts.completions[row] for row in group if not rollouts.truncated[row]]
                verdicts = [judge_completion(record, text, fallback=None)[1] for text in finished]
                counts["sampled"] += K
                counts["finished"] += len(finished)
                counts["verified"] += sum(verdicts)
                made = make_records(batch_start + offset, record, prompts[offset], finished, verdicts, rng)
                fresh = []
                for item in made:
                    key = (item.get("problem"), item.get("message_content"), item.get("message_thinking"),
                           item.get("chosen"), item.get("rejected"))
                    if key in seen:
                        counts["duplicates"] += 1
                        continue
                    seen.add(key)
                    fresh.append(item)
                counts["written"] += len(fresh)
                counts["problems_with_output"] += bool(fresh)
                lines += [jsonl_line(item) for item in fresh]
            handle.write("".join(lines))
            handle.flush()
            state.update(problems_done=batch_start + len(batch), counts=counts)
            atomic_write_text(_state_path(out_path), json.dumps(state, indent=1) + "\n")
            if bar is not None:
                bar.update(len(batch))
                bar.set_postfix(written=counts["written"])
    if bar is not None:
        bar.close()
    return {"problems": len(records), "out": str(out_path), **counts}


def _base_fields(index: int, record: dict) -> dict:
    fields = {"index": index, "problem": record["problem"], "gtruth_answer": record["answer"]}
    for key in ("unique_id", "family", "level"):
        if key in record:
            fields[key] = record[key]
    return fields


def sample_traces(model, tokenizer, records: list[dict], settings: SamplingSettings, out_path,
                  progress: bool = True) -> dict:
    """Rejection sampling: K completions per problem from ``model`` (the teacher), the verified and
    finished ones, deduplicated, written as teacher traces (see the module docstring).
    Returns counts: problems, sampled, finished, verified, written, duplicates, problems_with_output."""
    from minireason.io.chat_template import split_reasoning

    def make_records(index, record, prompt, finished, verdicts, rng):
        made = []
        for text, correct in zip(finished, verdicts):
            if correct:
                thinking, content = split_reasoning(text)
                made.append({**_base_fields(index, record), "message_thinking": thinking.strip("\n"),
                             "message_content": content, "teacher": settings.model,
                             "sampling": settings.recorded()})
        return made

    return _sample_to_file(model, tokenizer, records, settings, out_path, "traces", make_records, progress)


def sample_pairs(model, tokenizer, records: list[dict], settings: SamplingSettings, out_path,
                 progress: bool = True) -> dict:
    """Preference pairs from a model's own samples: per problem, up to ``pairs_per_problem`` pairs of a
    verified completion (chosen) and a wrong one (rejected), both finished, drawn at random among the
    distinct texts; a problem whose K samples are all right or all wrong gives none."""

    def make_records(index, record, prompt, finished, verdicts, rng):
        right = sorted({text for text, correct in zip(finished, verdicts) if correct})
        wrong = sorted({text for text, correct in zip(finished, verdicts) if not correct})
        count = min(settings.pairs_per_problem, len(right), len(wrong))
        if count == 0:
            return []
        chosen, rejected = rng.permutation(len(right))[:count], rng.permutation(len(wrong))[:count]
        return [{**_base_fields(index, record), "prompt": prompt, "chosen": right[c], "rejected": wrong[r],
                 "model": settings.model, "sampling": settings.recorded()} for c, r in zip(chosen, rejected)]

    return _sample_to_file(model, tokenizer, records, settings, out_path, "pairs", make_records, progress)
