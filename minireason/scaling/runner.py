"""Run several scaling methods over one problem set and compare accuracy against compute.

Methods are named by short strings, comma separated::

    greedy          direct answer, greedy decoding (no reasoning): the floor
    cot             one greedy chain of thought
    sc@N            self-consistency over N sampled chains      (sc@16:early stops early)
    bon@N           best-of-N, default scorer logprob           (bon@8:heuristic, bon@8:oracle)
    refine@K        self-refinement with K critique/revise rounds (refine@2:heuristic, refine@2:oracle)
    budget@N        one greedy chain of thought with at most N thinking tokens (budget@0 closes <think>
                    at once); budget@N:wait also replaces a </think> before N tokens by "Wait" (s1)

Every (method, problem) pair becomes one JSON line, flushed as soon as it is known, so a long run
that is interrupted keeps what it finished. The summary has one row per method: accuracy, mean
generated tokens and seconds per problem, and, for the sampling methods, pass@1 and pass@N from
their own samples: the accuracy of one sampled chain (what voting or choosing must beat) and how
often *some* sample was right (the ceiling of any way of choosing among them).

Problem i gets the seed ``derive_seed(seed, i)`` in every method, so sc@4 and bon@4 of one run
see the very same four samples and differ only in how they choose (common random numbers make
the comparison sharper than independent draws would).

The records file gets a manifest beside it (``records.jsonl.manifest.json``, see
:mod:`minireason.identity`): the model's weights hash, the problems' hash, the methods and every
sampling setting, so a reader knows what made the records. A comparison starts over each time
(it does not resume), so the manifest is written, never compared.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from minireason.atomic import atomic_write, atomic_write_text, write_target
from minireason.errors import DataError, InputError
from minireason.evaluation import judge
from minireason.evaluation.paired import format_paired, paired_comparison
from minireason.identity import json_sha256, make_manifest, weights_sha256, write_manifest
from minireason.jsonl import jsonl_line
from minireason.plotting import pyplot, ticker
from minireason.scaling.best_of_n import SCORERS, best_of_n
from minireason.scaling.compute import ComputeMeter, MeteredSampler
from minireason.scaling.metrics import pass_at_k
from minireason.scaling.outcome import Judge, MethodOutcome, ScalingSettings
from minireason.scaling.prompts import PromptSpec
from minireason.scaling.sampler import ModelSampler, derive_seed
from minireason.scaling.self_consistency import self_consistency
from minireason.scaling.self_refine import ACCEPTANCE_SCORERS, self_refine
from minireason.scaling.thinking_budget import thinking_budget

METHOD_OPTIONS = {"greedy": (), "cot": (), "sc": ("early",), "bon": tuple(SCORERS), "refine": ACCEPTANCE_SCORERS,
                  "budget": ("wait",)}
SIZED_METHODS = ("sc", "bon", "refine", "budget")
# samples (sc, bon) or rounds (refine) per problem: a problem's samples are all in memory at once
MAX_METHOD_SIZE = 1024
# thinking tokens (budget): one completion, bounded by --max-new-tokens anyway; this only keeps N readable
MAX_THINKING_BUDGET = 1_000_000


@dataclass(frozen=True)
class MethodSpec:
    """A parsed method name: ``sc@16:early`` -> kind "sc", size 16, option "early"."""

    kind: str
    size: int = 1
    option: str = ""

    @property
    def label(self) -> str:
        text = self.kind if self.kind not in SIZED_METHODS else f"{self.kind}@{self.size}"
        return f"{text}:{self.option}" if self.option else text


def parse_method(text: str) -> MethodSpec:
    """One method name (see the module docstring); InputError says what was expected."""
    name = text.strip()
    head, _, option = name.partition(":")
    kind, at, size_text = head.partition("@")
    if kind not in METHOD_OPTIONS:
        raise InputError(f"method {name!r}: expected one of greedy, cot, sc@N, bon@N, refine@K, budget@N, "
                         f"got kind {kind!r}")
    if kind in SIZED_METHODS:
        digits = size_text.lstrip("0") or "0"
        least = 0 if kind in ("refine", "budget") else 1
        if not at or not (size_text.isascii() and size_text.isdigit()) or int(digits[:8]) < least:
            raise InputError(f"method {name!r}: expected {kind}@N with a whole number N >= {least}, got {head!r}")
        # the length first: int() of thousands of digits is refused by Python itself, and slow before that
        largest = MAX_THINKING_BUDGET if kind == "budget" else MAX_METHOD_SIZE
        if len(digits) > len(str(largest)) or int(digits) > largest:
            shown = size_text if len(size_text) <= 20 else size_text[:20] + "..."
            what = ("thinking tokens (at most {:,})" if kind == "budget" else
                    "samples or rounds per problem than allowed (at most {:,}: a problem's samples are all "
                    "in memory at once)").format(largest)
            raise InputError(f"method {kind}@{shown}: asks for more {what}")
        size = int(digits)
    elif at:
        raise InputError(f"method {name!r}: {kind} takes no @N, got {head!r}")
    else:
        size = 1
    if option and option not in METHOD_OPTIONS[kind]:
        raise InputError(f"method {name!r}: option of {kind}: expected one of {list(METHOD_OPTIONS[kind])}, "
                         f"got {option!r}")
    return MethodSpec(kind, size, option)


def parse_methods(text: str) -> list[MethodSpec]:
    """``"greedy,cot,sc@4"`` -> specs, in order; duplicates and empty lists are errors."""
    specs = [parse_method(part) for part in text.split(",") if part.strip()]
    if not specs:
        raise InputError(f"methods: expected a comma-separated list such as 'greedy,cot,sc@4', got {text!r}")
    labels = [spec.label for spec in specs]
    if len(set(labels)) != len(labels):
        raise InputError(f"methods: each method once, got {labels}")
    return specs


def single_completion(sampler, problem: str, is_correct: Judge, settings: ScalingSettings, seed: int | None,
                      style: str) -> MethodOutcome:
    """One greedy completion: ``style="direct"`` is the greedy baseline, ``"cot"`` one chain of thought."""
    meter = ComputeMeter()
    sample = MeteredSampler(sampler, meter).sample([PromptSpec(style, settings.prompt_format).text(problem)],
                                                   settings.max_new_tokens, 0.0, seed)[0]
    meter.stop()
    answer = settings.extract(sample.text)
    return MethodOutcome(answer=answer, correct=answer is not None and bool(is_correct(answer)),
                         completion=sample.text, compute=meter.as_dict(),
                         details={"finish_reason": sample.finish_reason})


def run_method(spec: MethodSpec, sampler, problem: str, is_correct: Judge, settings: ScalingSettings,
               seed: int | None) -> MethodOutcome:
    """Runs one method (greedy, cot, sc@N, bon@N, refine@N, budget@N) on one problem; returns its outcome and cost."""
    if spec.kind == "greedy":
        return single_completion(sampler, problem, is_correct, settings, seed, "direct")
    if spec.kind == "cot":
        return single_completion(sampler, problem, is_correct, settings, seed, "cot")
    if spec.kind == "sc":
        return self_consistency(sampler, problem, is_correct, settings, spec.size, seed,
                                early_stop=spec.option == "early")
    if spec.kind == "bon":
        return best_of_n(sampler, problem, is_correct, settings, spec.size, seed, scorer=spec.option or "logprob")
    if spec.kind == "budget":
        return thinking_budget(sampler, problem, is_correct, settings, spec.size, seed, wait=spec.option == "wait")
    return self_refine(sampler, problem, is_correct, settings, spec.size, seed, acceptance=spec.option or "logprob")


def judge_for(record: dict, equivalent: Callable[[str, str], bool] | None = None) -> Judge:
    """How to grade answers to ``record``: the one judge (:func:`minireason.evaluation.judge.is_correct`)
    with the record bound, so a method sees only ``answer -> bool``.

    Task records are checked by their family's verifier; any other record is compared with its
    gold answer by ``equivalent(answer, gold)`` (the settings' equivalence, ``grade_answer`` by default).
    """
    return lambda answer: judge.is_correct(record, answer, equivalent)


def check_records(records: Sequence[dict]) -> None:
    """Refuses, with a ``DataError`` naming the record, problems without a non-empty ``problem`` and ``answer``."""
    if not records:
        raise DataError("problems: expected at least one record, got none")
    for index, record in enumerate(records):
        for key in ("problem", "answer"):
            if not isinstance(record.get(key), str) or not record[key]:
                raise DataError(f"problems[{index}]: field {key!r}: expected a non-empty string, "
                                f"got {record.get(key)!r}")


@dataclass
class SummaryRow:
    """One method over all problems."""

    method: str
    problems: int
    accuracy: float
    tokens_per_problem: float
    seconds_per_problem: float
    samples_per_problem: float
    pass_at_1: float | None = None  # mean accuracy of a single sample (sampling methods)
    pass_at_n: float | None = None  # share of problems where some sample was right (sampling methods)
    samples_saved: int = 0  # by early stopping
    thinking_tokens_per_problem: float | None = None  # thinking-budget methods: tokens inside <think>
    # against the comparison's baseline method on the same problems (``paired_comparison``: gained,
    # lost, McNemar p); None for the baseline itself
    paired: dict | None = None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def summarize(method: str, outcomes: Sequence[MethodOutcome]) -> SummaryRow:
    """One row of the results table for ``method``: accuracy, tokens and seconds per problem, pass@1 and pass@N."""
    count = len(outcomes)
    pass_1, pass_n, thinking = [], [], []
    for outcome in outcomes:
        if "thinking_tokens" in outcome.details:  # None: the completion never opened <think>
            thinking.append(outcome.details["thinking_tokens"] or 0)
        sample_correct = outcome.details.get("sample_correct")
        if sample_correct:
            n, c = len(sample_correct), sum(sample_correct)
            pass_1.append(pass_at_k(n, c, 1))
            pass_n.append(pass_at_k(n, c, n))
    return SummaryRow(
        method=method, problems=count,
        accuracy=sum(outcome.correct for outcome in outcomes) / count,
        tokens_per_problem=sum(outcome.compute["generated_tokens"] for outcome in outcomes) / count,
        seconds_per_problem=sum(outcome.compute["seconds"] for outcome in outcomes) / count,
        samples_per_problem=sum(outcome.compute["samples"] for outcome in outcomes) / count,
        pass_at_1=sum(pass_1) / len(pass_1) if pass_1 else None,
        pass_at_n=sum(pass_n) / len(pass_n) if pass_n else None,
        samples_saved=sum(outcome.details.get("samples_saved", 0) for outcome in outcomes),
        thinking_tokens_per_problem=sum(thinking) / len(thinking) if thinking else None,
    )


def _name(function) -> str | None:
    return None if function is None else getattr(function, "__qualname__", type(function).__name__)


def comparison_identity(sampler, records: Sequence[dict], specs: Sequence[MethodSpec],
                        settings: ScalingSettings, seed: int | None) -> dict:
    """What makes a comparison's records what they are: the model (its weights, when the sampler has
    one), the problems, the methods, the seed and every sampling and grading setting."""
    model = getattr(sampler, "model", None)
    params = getattr(model, "params", None)
    sampler_settings = {key: getattr(sampler, key) for key in ("top_k", "top_p", "min_p", "stop_strings",
                                                               "batch_size") if hasattr(sampler, key)}
    return {"model_sha256": weights_sha256(params) if isinstance(params, dict) else None,
            "sampler": type(sampler).__name__, **sampler_settings,
            "data_sha256": json_sha256(list(records)), "problems": len(records),
            "methods": [spec.label for spec in specs], "seed": seed,
            "max_new_tokens": settings.max_new_tokens, "temperature": settings.temperature,
            "prompt_format": settings.prompt_format, "extract": _name(settings.extract),
            "equivalent": _name(settings.equivalent)}


def _open_records(records_path, manifest: dict) -> TextIO:
    """The records file, opened for streaming (a directory is refused; a device is written through);
    a regular file gets its manifest first."""
    Path(records_path).parent.mkdir(parents=True, exist_ok=True)
    how, target, _ = write_target(records_path)
    if how == "replace":
        write_manifest(target, manifest)
    return open(target, "w", encoding="utf-8")  # noqa: SIM115 - kept open across the loop


def run_comparison(sampler, records: Sequence[dict], specs: Sequence[MethodSpec], settings: ScalingSettings,
                   seed: int | None = 0, records_path: str | os.PathLike | None = None,
                   on_progress: Callable[[str, int, int], None] | None = None,
                   manifest: dict | None = None, executor=None) -> list[SummaryRow]:
    """Every method on every record; one summary row per method, in the order given.

    records: MATH-style dicts with ``problem`` and ``answer`` (task records are graded by their
    family's verifier). records_path: JSONL file receiving one flushed line per (method, problem),
    with a manifest beside it (``manifest``, by default one made from :func:`comparison_identity`).
    on_progress(method_label, done, total) is called after each problem.  ``executor``: run each
    (method, problem) on actors (:class:`minireason.scaleout.RayExecutor`, with a
    :class:`ModelSampler`, whose settings the actors' samplers take); the records are the same.
    """
    check_records(records)
    if executor is not None and not isinstance(sampler, ModelSampler):
        raise InputError(f"run_comparison: an executor needs a ModelSampler (its actors rebuild it on their "
                         f"model replicas), got {type(sampler).__name__}")
    rows, correct_by_method = [], []
    log = None
    if records_path is not None:
        if manifest is None:
            manifest = make_manifest("scale", comparison_identity(sampler, records, specs, settings, seed))
        log = _open_records(records_path, manifest)
    jobs = [MethodJob(spec, record, settings, derive_seed(seed, index)) for spec in specs
            for index, record in enumerate(records)]
    if executor is None:
        outcomes_in_order = (run_job(sampler, job) for job in jobs)
    else:
        outcomes_in_order = executor.map(run_job_on_replica, [
            dataclasses.replace(job, sampler_settings=sampler_settings(sampler)) for job in jobs])
    try:
        for spec in specs:
            outcomes = []
            for index, record in enumerate(records):
                outcome = next(outcomes_in_order)
                outcomes.append(outcome)
                if log is not None:
                    line = {"method": spec.label, "problem_index": index, "unique_id": record.get("unique_id"),
                            "problem": record["problem"], "gold": record["answer"], "answer": outcome.answer,
                            "correct": outcome.correct, **outcome.compute, "completion": outcome.completion,
                            "details": outcome.details}
                    log.write(jsonl_line(line))
                    log.flush()
                if on_progress is not None:
                    on_progress(spec.label, index + 1, len(records))
            rows.append(summarize(spec.label, outcomes))
            correct_by_method.append([outcome.correct for outcome in outcomes])
    finally:
        outcomes_in_order.close()  # an executor's jobs still in flight are cancelled
        if log is not None:
            log.close()
    baseline = baseline_index([spec.label for spec in specs])
    return [row if index == baseline else dataclasses.replace(
                row, paired=dict(paired_comparison(correct_by_method[baseline], correct_by_method[index]),
                                 baseline=rows[baseline].method))
            for index, row in enumerate(rows)]


def baseline_index(labels: Sequence[str]) -> int:
    """The method every other is compared with, problem by problem: the greedy chain of thought
    (``cot``) when the comparison has it, since every scaling method spends compute to beat it;
    else the first method."""
    return labels.index("cot") if "cot" in labels else 0


@dataclass(frozen=True)
class MethodJob:
    """One method on one problem: the unit of a comparison, run here or on an executor's actor."""

    spec: MethodSpec
    record: dict
    settings: ScalingSettings
    seed: int | None
    sampler_settings: dict | None = None  # on an actor: the ModelSampler to build on its replica


def run_job(sampler, job: MethodJob) -> MethodOutcome:
    """The outcome of one (method, problem) with ``sampler``."""
    is_correct = judge_for(job.record, job.settings.equivalent)
    return run_method(job.spec, sampler, job.record["problem"], is_correct, job.settings, job.seed)


def run_job_on_replica(model, tokenizer, job: MethodJob) -> MethodOutcome:
    """:func:`run_job` with a :class:`ModelSampler` of the job's settings on ``model`` (an actor's replica)."""
    return run_job(ModelSampler(model, tokenizer, **job.sampler_settings), job)


def sampler_settings(sampler: ModelSampler) -> dict:
    """What rebuilds ``sampler`` on another copy of its model."""
    return {"top_k": sampler.top_k, "top_p": sampler.top_p, "min_p": sampler.min_p,
            "stop_strings": sampler.stop_strings, "batch_size": sampler.batch_size}


def format_table(rows: Sequence[SummaryRow]) -> str:
    """A plain-text table: method, accuracy, tokens/problem, seconds/problem, samples, pass@1, pass@N.

    pass@1 (one sample's accuracy) and pass@N (some sample right) are shown for the sampling methods;
    lines under the table give the thinking tokens per problem of each thinking-budget method and
    each method against the baseline, problem by problem (gained, lost, McNemar p).
    """
    header = (f"{'method':<16} {'accuracy':>8} {'tokens/problem':>14} {'s/problem':>9} {'samples':>7} "
              f"{'pass@1':>7} {'pass@N':>7}")
    lines = [header, "-" * len(header)]
    for row in rows:
        pass_texts = [f"{value:7.1%}" if value is not None else f"{'-':>7}" for value in (row.pass_at_1, row.pass_at_n)]
        lines.append(f"{row.method:<16} {row.accuracy:8.1%} {row.tokens_per_problem:14.1f} "
                     f"{row.seconds_per_problem:9.3f} {row.samples_per_problem:7.2f} {' '.join(pass_texts)}")
    saved = [row for row in rows if row.samples_saved]
    for row in saved:
        lines.append(f"{row.method}: early stop saved {row.samples_saved} samples")
    for row in rows:
        if row.thinking_tokens_per_problem is not None:
            lines.append(f"{row.method}: {row.thinking_tokens_per_problem:.1f} thinking tokens per problem")
    for row in rows:
        if row.paired is not None:
            lines.append(f"{row.method} vs {row.paired['baseline']}: {format_paired(row.paired)}")
    return "\n".join(lines)


def save_plot(rows: Sequence[SummaryRow], path: str | os.PathLike, title: str = "Accuracy versus compute") -> Path:
    """Accuracy against generated tokens per problem (log scale), one labelled point per method; PNG, atomic."""
    plt = pyplot()

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(figsize=(6.4, 4.4))
    try:
        for row in rows:
            tokens = max(row.tokens_per_problem, 1e-9)
            axes.scatter([tokens], [100 * row.accuracy], s=36)
            axes.annotate(row.method, (tokens, 100 * row.accuracy), textcoords="offset points", xytext=(5, 4))
            if row.pass_at_n is not None:
                axes.scatter([tokens], [100 * row.pass_at_n], s=20, marker="_", color="grey")
        if all(row.tokens_per_problem > 0 for row in rows):
            ticks = ticker()
            axes.set_xscale("log")  # ticks at 1, 2, 5 x 10^k, written as plain numbers
            axes.xaxis.set_major_locator(ticks.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            axes.xaxis.set_major_formatter(ticks.FormatStrFormatter("%g"))
            axes.xaxis.set_minor_formatter(ticks.NullFormatter())
        axes.set_xlabel("generated tokens per problem")
        axes.set_ylabel("accuracy (%)")
        axes.set_ylim(-2, 102)
        axes.set_title(f"{title}\n(grey ticks: pass@N of the samples)", fontsize=9)
        axes.grid(alpha=0.3)
        with atomic_write(path, "wb") as handle:  # modes, symbolic links and devices as every written file
            figure.savefig(handle, format="png", dpi=120, bbox_inches="tight")
    finally:
        plt.close(figure)
    return path


def write_summary(rows: Sequence[SummaryRow], path: str | os.PathLike, extra: dict | None = None) -> Path:
    """The summary rows as one JSON file (atomic), with ``extra`` facts about the run."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"rows": [row.as_dict() for row in rows], **(extra or {}),
               "written_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    atomic_write_text(path, json.dumps(payload, indent=2, ensure_ascii=True) + "\n")
    return path
