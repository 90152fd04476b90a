"""The main job: every stage of a reasoning model, run live and measured (``minireason demo``).

    generation    greedy decoding with and without the KV cache: the same tokens, tokens/s of each
    direct        the built-in base model answers held-out problems directly (greedy), graded by the judge
    scaling       chain of thought, self-consistency, best-of-N, self-refinement and a thinking budget
                  (``budget@N``: at most N thinking tokens): accuracy against tokens
    grpo          GRPO from the base model: held-out accuracy before and after, the reward curve
    distillation  the built-in student taught by the base model (logit distillation on the base model's
                  verified traces) against the student as shipped

On a machine with two cores or more (Linux), GRPO, the longest stage, trains in a forked child
process while this one runs the other stages (``DemoSettings.parallel``); the figures are the same
as one stage after another, only the wall time changes.

Every figure is measured in the run, on fixed seeds and held-out (test-split) problems of one built-in
task family; training uses train-split problems, which never share a problem with the test split
(``tasks.base.split_of``).  GRPO and distillation are judged on at least 1,000 held-out problems with
the paired comparison of ``evaluation/paired.py`` (problems gained and lost, exact McNemar p-value):
the two evaluations see the same problems, so only the problems that changed say anything.

:func:`run_demo` is the Python API; ``minireason demo`` is a thin layer over it.  It writes, into
the output folder, ``report.json`` (``{"stages": [{"stage", "method", "problems", "accuracy",
"tokens_per_problem", "seconds", ...}], "total_seconds"}``), ``run.json`` (the settings, the issue's
targets against what was measured, the machine's load), the plots, and each stage's own files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from minireason import runtime
from minireason.errors import InputError

STAGES = ("generation", "direct", "scaling", "grpo", "distillation")
PROMPT_FORMAT = "plain"  # the built-in models read the plain one-line task prompts
# the evaluations of this demo read a final-answer phrase or the last number when there is no box
# (the scaling methods' extractor does); GRPO and distillation count boxed answers only, as the reward does
ANSWER_FALLBACK = "number"


@dataclass
class DemoSettings:
    """Every knob of the demo; :meth:`quick` is the reduced budget CI runs (under a minute on 2 cores)."""

    model: str = "builtin:base"
    student: str = "builtin:student"
    family: str = "addition"
    difficulty: int = 3  # 3-digit additions: the base model errs, but not always
    held_out: int = 1000  # test-split problems of every held-out accuracy
    data_seed: int = 99
    seed: int = 0
    max_new_tokens: int = 128  # per chain of thought
    # generation: decode speed with and without the KV cache on the first few held-out prompts
    generation_prompts: int = 16
    generation_tokens: int = 64
    # scaling: the sampled methods run problem by problem (scaling.runner), on the first few held-out problems
    scaling_problems: int = 100
    scaling_methods: str = "sc@8,bon@8,refine@2"
    temperature: float = 0.8
    thinking_budgets: tuple[int, ...] = (8, 16, 32, 64)  # budget@N rows: at most N thinking tokens
    # GRPO (docs/rl.md's recipe, fewer steps)
    grpo_steps: int = 60
    grpo_prompts_per_step: int = 16
    grpo_group_size: int = 8
    grpo_learning_rate: float = 1e-4
    grpo_train_problems: int = 5000
    grpo_eval_every: int = 30
    # distillation: the teacher's verified traces of train-split problems, then logit distillation
    distill_problems: int = 1000
    distill_samples: int = 4  # teacher samples per problem (rejection sampling keeps the right ones)
    distill_steps: int = 150
    distill_batch_size: int = 32
    distill_learning_rate: float = 3e-3
    distill_eval_every: int = 75
    # GRPO in a child process beside the other stages (two cores or more, Linux); False: one after another
    parallel: bool = True

    def __post_init__(self):
        for name in ("difficulty", "held_out", "max_new_tokens", "generation_prompts", "generation_tokens",
                     "scaling_problems", "grpo_steps", "grpo_prompts_per_step", "grpo_group_size",
                     "grpo_train_problems", "distill_problems", "distill_samples", "distill_steps",
                     "distill_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"demo setting {name}: expected an int >= 1, got {value!r}")
        for name in ("data_seed", "seed", "grpo_eval_every", "distill_eval_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(f"demo setting {name}: expected an int >= 0, got {value!r}")
        if self.scaling_problems > self.held_out:
            raise InputError(f"demo setting scaling_problems: {self.scaling_problems} is more than the "
                             f"{self.held_out} held-out problems")
        if self.generation_prompts > self.held_out:
            raise InputError(f"demo setting generation_prompts: {self.generation_prompts} is more than the "
                             f"{self.held_out} held-out problems")
        if not isinstance(self.parallel, bool):
            raise InputError(f"demo setting parallel: expected True or False, got {self.parallel!r}")
        budgets = tuple(self.thinking_budgets)
        if any(isinstance(budget, bool) or not isinstance(budget, int) or budget < 1 for budget in budgets):
            raise InputError(f"demo setting thinking_budgets: expected ints >= 1, got {self.thinking_budgets!r}")
        self.thinking_budgets = tuple(sorted(set(budgets)))

    @classmethod
    def quick(cls, **overrides) -> DemoSettings:
        """Every stage on a reduced budget: the same code paths, figures too small to mean much."""
        values = dict(held_out=100, generation_prompts=4, generation_tokens=24, scaling_problems=4,
                      scaling_methods="sc@4,bon@4,refine@1", thinking_budgets=(16, 32), grpo_steps=2,
                      grpo_prompts_per_step=4, grpo_group_size=4, grpo_train_problems=200, grpo_eval_every=0,
                      distill_problems=16, distill_samples=2, distill_steps=3, distill_batch_size=8,
                      distill_eval_every=0)
        values.update(overrides)
        return cls(**values)

    def held_out_data(self) -> str:
        return (f"task:{self.family}?n={self.held_out}&split=test&difficulty={self.difficulty}"
                f"&seed={self.data_seed}")

    def train_data(self, problems: int) -> str:
        return f"task:{self.family}?n={problems}&split=train&difficulty={self.difficulty}&seed={self.seed}"

    def as_dict(self) -> dict:
        return {key: (list(value) if isinstance(value, tuple) else value)
                for key, value in dataclasses.asdict(self).items()}


@dataclass
class StageRow:
    """One line of the results table (and of report.json's ``stages``)."""

    stage: str
    method: str
    problems: int
    accuracy: float
    tokens_per_problem: float
    seconds: float
    extra: dict = field(default_factory=dict)  # paired comparison (gained, lost, p_value), tokens/s, ...

    FIELDS = ("stage", "method", "problems", "accuracy", "tokens_per_problem", "seconds")

    def as_dict(self) -> dict:
        return {**{name: getattr(self, name) for name in self.FIELDS}, **self.extra}

    @classmethod
    def from_dict(cls, row: dict) -> StageRow:
        """The inverse of :meth:`as_dict`: the six fields, and every other key into ``extra``."""
        return cls(*(row[name] for name in cls.FIELDS), {key: value for key, value in row.items() if key not in cls.FIELDS})


@dataclass
class DemoContext:
    """What the stages share: settings, the output folder, the held-out problems, the progress printer."""

    settings: DemoSettings
    out_dir: Path
    log: Callable[[str], None]
    held_out: list[dict]
    plots: dict = field(default_factory=dict)
    direct: object = None  # the direct stage's HeldOutResult (the chain of thought is paired against it)
    _models: dict = field(default_factory=dict)

    def shipped(self, name: str):
        """(model, tokenizer) as shipped, loaded once; stages that train load their own copy."""
        if name not in self._models:
            from minireason.io.pretrained import load_pretrained

            self._models[name] = load_pretrained(name)
        return self._models[name]


def stderr_log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def comparison_fields(comparison: dict, against: str) -> dict:
    """A report row's fields for a paired comparison (``evaluation.paired.paired_comparison``'s
    result): what the row is compared with, on how many problems, gained, lost, p-value."""
    return {"compared_with": against, "compared_problems": comparison["problems"],
            "accuracy_before": comparison["accuracy_before"], "gained": comparison["gained"],
            "lost": comparison["lost"], "p_value": comparison["p_value"]}


def paired_fields(before: Sequence[bool], after: Sequence[bool], against: str) -> dict:
    """:func:`comparison_fields` of two lists of verdicts on the same problems."""
    from minireason.evaluation.paired import paired_comparison

    return comparison_fields(paired_comparison(list(before), list(after)), against)


# ---------------------------------------------------------------------------------------------- generation
def decode_without_cache(model, prompt_rows: list[list[int]], max_new_tokens: int, stop_ids) -> list[list[int]]:
    """Greedy decoding that re-runs each row's whole context for every new token (no KV cache).

    The reference the KV cache is measured against: generating N tokens after L costs O(N L) token
    positions through the projections and O(N L^2) attention, where the cache costs O(N) and O(N L).
    Rows are left-padded (the mask gives every row the positions it would have alone) and leave
    the batch when they emit a stop id or reach ``max_new_tokens``.
    """
    from minireason.device import to_host

    stop_ids = frozenset(stop_ids)
    generated: list[list[int]] = [[] for _ in prompt_rows]
    active = list(range(len(prompt_rows)))
    while active:
        sequences = [prompt_rows[row] + generated[row] for row in active]
        T = max(len(sequence) for sequence in sequences)
        token_ids = np.zeros((len(active), T), dtype=np.int64)  # (B, T), left-padded
        attention_mask = np.zeros((len(active), T), dtype=bool)  # (B, T)
        for b, sequence in enumerate(sequences):
            token_ids[b, T - len(sequence):] = sequence
            attention_mask[b, T - len(sequence):] = True
        logits, _ = model.forward(token_ids, attention_mask, last_only=True)  # (B, 1, V)
        next_ids = np.argmax(to_host(logits[:, -1]), axis=-1).tolist()  # (B,)
        still = []
        for row, token_id in zip(active, next_ids):
            generated[row].append(int(token_id))
            if token_id not in stop_ids and len(generated[row]) < max_new_tokens:
                still.append(row)
        active = still
    return generated


def stage_generation(context: DemoContext) -> list[StageRow]:
    """Greedy chains of thought for the first held-out prompts, with the KV cache (``generate``) and
    without it (:func:`decode_without_cache`): the same completions, graded, and the tokens/s of each."""
    from minireason.evaluation.judge import judge_completion
    from minireason.evaluation.prompts import build_prompt
    from minireason.generation.generate import eos_token_ids, generate

    settings = context.settings
    model, tokenizer = context.shipped(settings.model)
    records = context.held_out[:settings.generation_prompts]
    prompts = [build_prompt(record["problem"], "cot", PROMPT_FORMAT) for record in records]
    generate(model, tokenizer, prompts[:1], 2)  # warm-up: first calls pay for imports and allocations

    started = time.perf_counter()
    cached = generate(model, tokenizer, prompts, settings.generation_tokens)
    cached_seconds = time.perf_counter() - started
    cached_ids = [list(result.token_ids) for result in cached]

    stop_ids = frozenset(eos_token_ids(tokenizer, model))
    started = time.perf_counter()
    uncached_ids = decode_without_cache(model, [list(result.prompt_tokens) for result in cached],
                                        settings.generation_tokens, stop_ids)
    uncached_seconds = time.perf_counter() - started

    identical = sum(a == b for a, b in zip(cached_ids, uncached_ids))
    context_tokens = float(np.mean([len(result.prompt_tokens) + len(ids) for result, ids in zip(cached, cached_ids)]))
    rows = []
    for method, token_lists, seconds in (("kv-cache", cached_ids, cached_seconds),
                                         ("no-cache", uncached_ids, uncached_seconds)):
        texts = [tokenizer.decode([i for i in ids if i not in stop_ids]) for ids in token_lists]
        correct = [judge_completion(record, text, fallback=ANSWER_FALLBACK)[1] for record, text in zip(records, texts)]
        tokens = sum(len(ids) for ids in token_lists)
        rows.append(StageRow("generation", method, len(records), sum(correct) / len(correct), tokens / len(records),
                             seconds, {"tokens_per_second": tokens / max(seconds, 1e-9),
                                       "context_tokens": context_tokens,
                                       "identical_completions": identical}))
    speedup = rows[0].extra["tokens_per_second"] / max(rows[1].extra["tokens_per_second"], 1e-9)
    context.log(f"  KV cache {rows[0].extra['tokens_per_second']:,.0f} tokens/s, without it "
                f"{rows[1].extra['tokens_per_second']:,.0f} tokens/s ({speedup:.1f}x) at a mean context of "
                f"{context_tokens:.0f} tokens; {identical}/{len(records)} completions token for token the same")
    return rows


# ---------------------------------------------------------------------------------------------- direct answers
def _held_out_accuracy(model, tokenizer, records, style: str, max_new_tokens: int):
    from minireason.evaluation.held_out import greedy_accuracy

    return greedy_accuracy(model, tokenizer, records, PROMPT_FORMAT, style, max_new_tokens, fallback=ANSWER_FALLBACK)


def stage_direct(context: DemoContext) -> list[StageRow]:
    """Greedy direct answers (no reasoning) to every held-out problem: the floor."""
    settings = context.settings
    model, tokenizer = context.shipped(settings.model)
    result = _held_out_accuracy(model, tokenizer, context.held_out, "direct", 32)
    context.direct = result
    context.log(f"  direct answers: {result.accuracy:.1%} of {result.problems} held-out problems")
    return [StageRow("direct", "direct", result.problems, result.accuracy, result.tokens_per_problem, result.seconds)]


# ---------------------------------------------------------------------------------------------- scaling
def stage_scaling(context: DemoContext) -> list[StageRow]:
    """Greedy chain of thought on every held-out problem (paired against direct answers), then the
    sampled methods on the first ``scaling_problems`` of them (each paired against the greedy chain)."""
    from minireason.jsonl import read_jsonl_tolerant
    from minireason.scaling.outcome import ScalingSettings
    from minireason.scaling.runner import parse_methods, run_comparison, save_plot
    from minireason.scaling.sampler import ModelSampler

    settings = context.settings
    model, tokenizer = context.shipped(settings.model)
    direct = context.direct
    if direct is None:  # --stage scaling alone: the chain's comparison needs the direct answers too
        direct = _held_out_accuracy(model, tokenizer, context.held_out, "direct", 32)
        context.direct = direct
    cot = _held_out_accuracy(model, tokenizer, context.held_out, "cot", settings.max_new_tokens)
    rows = [StageRow("scaling", "cot", cot.problems, cot.accuracy, cot.tokens_per_problem, cot.seconds,
                     paired_fields(direct.correct, cot.correct, "direct"))]
    context.log(f"  chain of thought: {cot.accuracy:.1%} against {direct.accuracy:.1%} answering directly "
                f"({rows[0].extra['gained']} gained, {rows[0].extra['lost']} lost, "
                f"p = {rows[0].extra['p_value']:.2g}) for {cot.tokens_per_problem / max(direct.tokens_per_problem, 1e-9):.1f}x "
                f"the tokens")

    method_names = [name for name in settings.scaling_methods.split(",") if name.strip()]
    budget_names = [f"budget@{budget}" for budget in settings.thinking_budgets]
    specs = parse_methods(",".join(method_names + budget_names))
    subset = context.held_out[:settings.scaling_problems]
    sampler = ModelSampler(model, tokenizer, batch_size=32)
    scaling_settings = ScalingSettings(max_new_tokens=settings.max_new_tokens, temperature=settings.temperature,
                                       prompt_format=PROMPT_FORMAT)
    records_path = context.out_dir / "scaling" / "records.jsonl"
    shown = {"label": None}

    def progress(label: str, done: int, total: int) -> None:
        if done == total or shown["label"] != label or done % max(1, total // 4) == 0:
            context.log(f"  {label}: {done}/{total} problems")
            shown["label"] = label

    summaries = run_comparison(sampler, subset, specs, scaling_settings, seed=settings.seed,
                               records_path=records_path, on_progress=progress)
    lines, _ = read_jsonl_tolerant(records_path)
    verdicts: dict[str, list[bool]] = {}
    sample_verdicts: dict[str, list[list[bool]]] = {}
    for line in lines:
        verdicts.setdefault(line["method"], [False] * len(subset))[line["problem_index"]] = bool(line["correct"])
        samples = (line.get("details") or {}).get("sample_correct")
        if samples:
            sample_verdicts.setdefault(line["method"], [[] for _ in subset])[line["problem_index"]] = samples
    cot_subset = cot.correct[:len(subset)]
    for summary in summaries:
        extra = {"samples_per_problem": summary.samples_per_problem, "pass_at_1": summary.pass_at_1,
                 "pass_at_n": summary.pass_at_n, "temperature": settings.temperature,
                 **paired_fields(cot_subset, verdicts[summary.method], "cot")}
        extra.update(_votes_where_greedy_errs(cot_subset, sample_verdicts.get(summary.method)))
        rows.append(StageRow("scaling", summary.method, summary.problems, summary.accuracy,
                             summary.tokens_per_problem, summary.seconds_per_problem * summary.problems, extra))
        context.log(f"  {summary.method}: {summary.accuracy:.1%} against {extra['accuracy_before']:.1%} for the "
                    f"greedy chain on the same {summary.problems} problems ({extra['gained']} gained, "
                    f"{extra['lost']} lost, p = {extra['p_value']:.2g})")
        if extra.get("greedy_wrong_problems") and summary.method.startswith("sc@"):
            # why a vote helps or not: it can only fix a greedy error when most samples are right there
            context.log(f"    on the {extra['greedy_wrong_problems']} problems the greedy chain gets wrong, "
                        f"{extra['greedy_wrong_sample_accuracy']:.0%} of the samples are right and "
                        f"{extra['greedy_wrong_right_majority']} have a right majority")
    from minireason.scaling.runner import SummaryRow

    plotted = [SummaryRow(row.method, row.problems, row.accuracy, row.tokens_per_problem,
                          row.seconds / max(row.problems, 1), 1.0, pass_at_n=row.extra.get("pass_at_n"))
               for row in [StageRow("direct", "direct", direct.problems, direct.accuracy, direct.tokens_per_problem,
                                    direct.seconds)] + rows]
    context.plots["accuracy_vs_tokens"] = save_plot(
        plotted, context.out_dir / "accuracy_vs_tokens.png",
        title=f"{settings.model}, held-out {settings.family} (difficulty {settings.difficulty}): direct and cot on "
              f"{direct.problems}, sampled methods on {len(subset)} problems")
    return rows


def _votes_where_greedy_errs(greedy_correct: Sequence[bool], samples: list[list[bool]] | None) -> dict:
    """On the problems the greedy chain gets wrong: how many, the share of right samples, and how many
    have more than half their samples right (what a majority vote needs to fix the greedy error)."""
    if not samples:
        return {}
    wrong = [verdicts for verdicts, right in zip(samples, greedy_correct) if not right and verdicts]
    if not wrong:
        return {"greedy_wrong_problems": 0}
    return {"greedy_wrong_problems": len(wrong),
            "greedy_wrong_sample_accuracy": float(np.mean([np.mean(verdicts) for verdicts in wrong])),
            "greedy_wrong_right_majority": sum(2 * sum(verdicts) > len(verdicts) for verdicts in wrong)}


# ---------------------------------------------------------------------------------------------- training stages
def _fresh_run_dir(path: Path) -> Path:
    """A stage's run folder, emptied of an earlier demo's run (a stale eval/step_N.json would be read
    as this run's); a folder that is not a training run is refused rather than deleted."""
    if path.exists():
        if not path.is_dir():
            raise InputError(f"{path}: exists and is not a directory")
        if any(path.iterdir()) and not ((path / "metrics.jsonl").exists() or (path / "checkpoint").exists()
                                        or (path / "traces.jsonl").exists()):
            raise InputError(f"{path}: exists and is not a demo run folder; choose another --out-dir")
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def _before_after_rows(stage: str, history: dict, seconds: float, before_label: str, after_label: str,
                       extra_after: dict) -> list[StageRow]:
    """The rows of a training stage from its history: held-out accuracy at step 0 and at the last step."""
    evaluations = [row for row in history["eval"] if "eval_accuracy" in row]
    first, last = evaluations[0], evaluations[-1]
    before = StageRow(stage, before_label, first["eval_problems"], first["eval_accuracy"],
                      first["eval_tokens_per_problem"], first["eval_seconds"], {"step": first["step"]})
    after = StageRow(stage, after_label, last["eval_problems"], last["eval_accuracy"], last["eval_tokens_per_problem"],
                     seconds - first["eval_seconds"],
                     {"step": last["step"], **comparison_fields(history["paired"], before_label), **extra_after})
    return [before, after]


def stage_grpo(context: DemoContext) -> list[StageRow]:
    """GRPO on train-split problems from the base model as shipped; held-out accuracy at step 0,
    every ``grpo_eval_every`` steps and the last, and the paired before/after comparison."""
    from minireason.evaluation.paired import format_paired
    from minireason.io.pretrained import load_pretrained
    from minireason.posttrain.grpo import GRPOConfig, train_grpo
    from minireason.tasks.export import resolve_data
    from minireason.training.metrics import plot_panels

    settings = context.settings
    started = time.perf_counter()
    model, tokenizer = load_pretrained(settings.model)  # its own copy: training changes it in place
    train_records = resolve_data(settings.train_data(settings.grpo_train_problems))
    config = GRPOConfig(steps=settings.grpo_steps, prompts_per_step=settings.grpo_prompts_per_step,
                        group_size=settings.grpo_group_size, learning_rate=settings.grpo_learning_rate,
                        temperature=1.0, max_new_tokens=settings.max_new_tokens, seed=settings.seed,
                        eval_every=settings.grpo_eval_every, checkpoint_every=settings.grpo_steps,
                        sample_every=0, prompt_format=PROMPT_FORMAT)
    run_dir = _fresh_run_dir(context.out_dir / "grpo")
    context.log(f"  {config.steps} steps of {config.prompts_per_step} prompts x {config.group_size} samples, "
                f"lr {config.learning_rate:g}; held-out evaluation on {len(context.held_out)} problems")
    history = train_grpo(model, tokenizer, train_records, config, run_dir, eval_records=context.held_out,
                         resume=False, progress=False, log=None)
    seconds = time.perf_counter() - started
    metrics = history["metrics"]
    rewards = [row["reward_mean"] for row in metrics if "reward_mean" in row]
    extra = {"steps": config.steps, "train_seconds": history["summary"]["seconds"],
             "reward_first": rewards[0] if rewards else None,
             "reward_last_10_mean": float(np.mean(rewards[-10:])) if rewards else None}
    rows = _before_after_rows("grpo", history, seconds, "before", "after", extra)
    reward_steps = [row["step"] for row in metrics if "reward_mean" in row]
    context.log(f"  held-out accuracy {format_paired(history['paired'])}")
    plot_panels(context.out_dir / "grpo_curves.png", title=f"GRPO from {settings.model}", panels=[
        ("reward (mean of P x G)", [("reward per step", reward_steps, rewards),
                                    ("mean of the last 10 steps", reward_steps, trailing_mean(rewards, 10))]),
        ("held-out accuracy", [("greedy chain of thought", [row["step"] for row in history["eval"]],
                                [row["eval_accuracy"] for row in history["eval"]])]),
    ])
    context.plots["grpo_curves"] = context.out_dir / "grpo_curves.png"
    return rows


def stage_distillation(context: DemoContext) -> list[StageRow]:
    """The base model's verified traces of train-split problems (rejection sampling), then logit
    distillation (forward KL to the base model's distribution) of the student on them."""
    from minireason.evaluation.paired import format_paired
    from minireason.io.pretrained import load_pretrained
    from minireason.posttrain.distill import DistillConfig, train_distill
    from minireason.posttrain.teacher_data import SamplingSettings, sample_traces
    from minireason.tasks.export import resolve_data
    from minireason.training.metrics import plot_panels

    settings = context.settings
    started = time.perf_counter()
    teacher, teacher_tokenizer = context.shipped(settings.model)
    run_dir = _fresh_run_dir(context.out_dir / "distillation")
    data_name = settings.train_data(settings.distill_problems)
    traces_path = run_dir / "traces.jsonl"
    sampling = SamplingSettings(model=settings.model, data=data_name, samples=settings.distill_samples,
                                temperature=1.0, max_new_tokens=settings.max_new_tokens, seed=settings.seed,
                                prompt_format=PROMPT_FORMAT, problems_per_batch=32)
    counts = sample_traces(teacher, teacher_tokenizer, resolve_data(data_name), sampling, traces_path, progress=False)
    trace_seconds = time.perf_counter() - started
    context.log(f"  teacher traces: {counts['written']} verified of {counts['sampled']} sampled "
                f"({settings.distill_samples} per problem, {settings.distill_problems} problems) in {trace_seconds:.1f} s")

    student, student_tokenizer = load_pretrained(settings.student)
    config = DistillConfig(steps=settings.distill_steps, batch_size=settings.distill_batch_size,
                           micro_batch_size=settings.distill_batch_size,
                           learning_rate=settings.distill_learning_rate, warmup_steps=min(10, settings.distill_steps),
                           seed=settings.seed, prompt_format=PROMPT_FORMAT, max_new_tokens=settings.max_new_tokens,
                           eval_every=settings.distill_eval_every, checkpoint_every=settings.distill_steps,
                           loss="fkl")
    history = train_distill(student, student_tokenizer, teacher, teacher_tokenizer, str(traces_path), config,
                            run_dir / "run", eval_records=context.held_out, resume=False, progress=False)
    seconds = time.perf_counter() - started
    extra = {"steps": config.steps, "teacher": settings.model, "traces": counts["written"],
             "trace_seconds": trace_seconds, "train_seconds": history["summary"]["seconds"]}
    rows = _before_after_rows("distillation", history, seconds, "before", "after", extra)
    context.log(f"  held-out accuracy of {settings.student} {format_paired(history['paired'])}")
    metrics, evaluations = history["metrics"], history["eval"]
    plot_panels(context.out_dir / "distillation_curves.png", title=f"{settings.student} distilled from {settings.model}", panels=[
        ("loss", [("training (forward KL)", [row["step"] for row in metrics], [row["loss"] for row in metrics]),
                  ("validation", [row["step"] for row in evaluations if "validation_loss" in row],
                   [row["validation_loss"] for row in evaluations if "validation_loss" in row])]),
        ("held-out accuracy", [("greedy chain of thought", [row["step"] for row in evaluations],
                                [row["eval_accuracy"] for row in evaluations])]),
    ])
    context.plots["distillation_curves"] = context.out_dir / "distillation_curves.png"
    return rows


def trailing_mean(values: Sequence[float], window: int) -> list[float]:
    """The mean of each value and the up to ``window - 1`` before it (a noisy per-step curve, smoothed)."""
    sums = np.cumsum(np.asarray(values, dtype=np.float64))
    return [float((sums[i] - (sums[i - window] if i >= window else 0.0)) / min(i + 1, window))
            for i in range(len(values))]


STAGE_FUNCTIONS = {"generation": stage_generation, "direct": stage_direct, "scaling": stage_scaling,
                   "grpo": stage_grpo, "distillation": stage_distillation}
STAGE_TITLES = {"generation": "generation: tokens/s with and without the KV cache",
                "direct": "direct answers (greedy)",
                "scaling": "inference-time scaling: chain of thought, self-consistency, best-of-N, self-refinement",
                "grpo": "GRPO from the base model",
                "distillation": "distillation: the student taught by the base model"}


# ---------------------------------------------------------------------------------------------- targets and report
def check_targets(rows: Sequence[StageRow]) -> list[dict]:
    """Issue 16's targets against what this run measured (``met`` is None when a stage did not run)."""
    by_key = {(row.stage, row.method): row for row in rows}

    def gain(stage: str, method: str) -> float | None:
        row = by_key.get((stage, method))
        if row is None or "accuracy_before" not in row.extra:
            return None
        return 100 * (row.accuracy - row.extra["accuracy_before"])

    sc_rows = [row for row in rows if row.stage == "scaling" and row.method.startswith("sc@8")]
    targets = [("chain of thought >= direct + 15 points", gain("scaling", "cot"), 15.0),
               ("self-consistency@8 >= greedy chain of thought + 3 points",
                gain("scaling", sc_rows[0].method) if sc_rows else None, 3.0),
               ("GRPO >= +5 points held-out", gain("grpo", "after"), 5.0),
               ("distilled student >= shipped student + 10 points", gain("distillation", "after"), 10.0)]
    checked = [{"target": name, "measured_points": None if measured is None else round(measured, 2),
                "met": None if measured is None else measured >= threshold} for name, measured, threshold in targets]
    # the thinking-budget curve rises: never lower at a larger budget, and higher at the largest than the smallest
    budget_rows = sorted((int(row.method.split("@")[1].split(":")[0]), row.accuracy) for row in rows
                         if row.stage == "scaling" and row.method.startswith("budget@"))
    accuracies = [accuracy for _, accuracy in budget_rows]
    rising = (len(accuracies) >= 2 and accuracies[-1] > accuracies[0]
              and all(later >= earlier for earlier, later in zip(accuracies, accuracies[1:])))
    checked.append({"target": "thinking-budget accuracy rises with the budget (smallest to largest)",
                    "measured_points": round(100 * (accuracies[-1] - accuracies[0]), 2) if len(accuracies) >= 2 else None,
                    "met": rising if len(accuracies) >= 2 else None})
    return checked


def format_rows(rows: Sequence[StageRow]) -> str:
    """The results table: stage, method, problems, held-out accuracy, tokens per problem, seconds, and
    the paired comparison (or decode speed) where the row has one."""
    header = (f"{'stage':<13} {'method':<10} {'problems':>8} {'accuracy':>8} {'tokens/problem':>14} "
              f"{'seconds':>8}  notes")
    lines = [header, "-" * (len(header) + 40)]
    for row in rows:
        extra = row.extra
        if "tokens_per_second" in extra:
            note = f"{extra['tokens_per_second']:,.0f} tokens/s"
        elif "gained" in extra:
            change = 100 * (row.accuracy - extra["accuracy_before"])
            note = (f"vs {extra['compared_with']} ({extra['accuracy_before']:.1%} on these {extra['compared_problems']}):"
                    f" {change:+.1f} pts, {extra['gained']} gained, {extra['lost']} lost, p={extra['p_value']:.2g}")
        else:
            note = ""
        lines.append(f"{row.stage:<13} {row.method:<10} {row.problems:>8} {row.accuracy:>8.1%} "
                     f"{row.tokens_per_problem:>14.1f} {row.seconds:>8.1f}  {note}".rstrip())
    return "\n".join(lines)


def machine_load() -> dict:
    """CPU count and load averages, so a reader can judge the timings."""
    try:
        one, five, fifteen = os.getloadavg()
    except (AttributeError, OSError):
        one = five = fifteen = None
    return {"cpus": os.cpu_count(), "load_1min": one, "load_5min": five, "load_15min": fifteen}


@dataclass
class DemoReport:
    rows: list[StageRow]
    total_seconds: float
    out_dir: Path
    targets: list[dict]
    plots: dict

    def as_report(self) -> dict:
        """report.json: exactly the issue's schema, with each row's extra fields beside the six."""
        return {"stages": [row.as_dict() for row in self.rows], "total_seconds": self.total_seconds}


def _check_before_running(settings: DemoSettings, stages: Sequence[str]) -> None:
    """What a stage would refuse minutes into the run, refused before the first: a checkpoint that
    is not there, a sampling temperature or a scaling method the runner does not take."""
    from minireason.io.pretrained import resolve_checkpoint_path
    from minireason.scaling.outcome import ScalingSettings
    from minireason.scaling.runner import parse_methods

    resolve_checkpoint_path(settings.model)
    if "distillation" in stages:
        resolve_checkpoint_path(settings.student)
    if "scaling" in stages:
        parse_methods(",".join([settings.scaling_methods] + [f"budget@{n}" for n in settings.thinking_budgets]))
        ScalingSettings(max_new_tokens=settings.max_new_tokens, temperature=settings.temperature,
                        prompt_format=PROMPT_FORMAT)


def _run_stage(context: DemoContext, name: str, number: int, total: int) -> list[StageRow]:
    stage_started = time.perf_counter()
    context.log(f"[{number}/{total}] {STAGE_TITLES[name]}")
    rows = STAGE_FUNCTIONS[name](context)
    context.log(f"  ({name}: {time.perf_counter() - stage_started:.1f} s)")
    return rows


def _runs_beside(settings: DemoSettings, ordered: Sequence[str]) -> bool:
    """GRPO runs in a child process beside the other stages when there are other stages, two cores
    or more, and fork (Linux): the child starts before any model is loaded, so it shares nothing
    but the imported modules."""
    return (settings.parallel and "grpo" in ordered and len(ordered) > 1 and (os.cpu_count() or 1) >= 2
            and sys.platform.startswith("linux"))


def _start_beside(context: DemoContext, name: str, numbers: dict, total: int) -> Callable[[], list[StageRow]]:
    """Start stage ``name`` in a forked child; returns a function that waits for it and gives its rows.

    The child writes its rows (or its error) as JSON into the output folder; the parent reads them back
    and raises the child's error, if any, as its own (same class from minireason.errors)."""
    import multiprocessing

    from minireason import errors
    from minireason.atomic import atomic_write_text

    result_path = context.out_dir / f".{name}_stage.json"
    result_path.unlink(missing_ok=True)

    def child() -> None:
        try:
            with runtime.blas_threads(1):
                rows = _run_stage(context, name, numbers[name], total)
            result = {"rows": [row.as_dict() for row in rows],
                      "plots": {key: str(path) for key, path in context.plots.items()}}
        except Exception as error:  # reported to the parent, which raises it
            result = {"error_type": type(error).__name__, "error": str(error)}
        atomic_write_text(result_path, json.dumps(result) + "\n")

    # a daemon: if this process stops early (an error, Ctrl-C) the child goes with it
    process = multiprocessing.get_context("fork").Process(target=child, name=f"minireason demo {name}", daemon=True)
    process.start()

    def wait() -> list[StageRow]:
        process.join()
        if not result_path.exists():
            raise errors.MinireasonError(f"demo stage {name}: its process ended with code {process.exitcode} "
                                         "and no result")
        result = json.loads(result_path.read_text(encoding="utf-8"))
        result_path.unlink()
        if "error" in result:
            error_class = getattr(errors, result["error_type"], None)
            if not (isinstance(error_class, type) and issubclass(error_class, errors.MinireasonError)):
                error_class = errors.MinireasonError
            raise error_class(f"{result['error']}" if error_class is not errors.MinireasonError
                              else f"demo stage {name}: {result['error_type']}: {result['error']}")
        context.plots.update({key: Path(path) for key, path in result["plots"].items()})
        return [StageRow.from_dict(row) for row in result["rows"]]

    return wait


def run_demo(settings: DemoSettings | None = None, stages: Sequence[str] | None = None,
             out_dir: str | os.PathLike = "runs/demo", log: Callable[[str], None] | None = stderr_log) -> DemoReport:
    """Run the chosen stages (all by default, in pipeline order), write report.json, run.json and the
    plots into ``out_dir``; progress goes to ``log`` (stderr by default; None: silent)."""
    from minireason.atomic import atomic_write_text
    from minireason.tasks.export import resolve_data

    settings = settings or DemoSettings()
    chosen = list(STAGES) if stages is None else list(stages)
    unknown = [name for name in chosen if name not in STAGES]
    if unknown or not chosen:
        raise InputError(f"demo stage: expected some of {', '.join(STAGES)}, got {', '.join(unknown) or 'none'}")
    _check_before_running(settings, chosen)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out-dir {out_dir}: exists and is not a directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    context = DemoContext(settings, out_dir, log or (lambda text: None), resolve_data(settings.held_out_data()))
    ordered = [name for name in STAGES if name in chosen]
    numbers = {name: number for number, name in enumerate(ordered, start=1)}
    beside = _start_beside(context, "grpo", numbers, len(ordered)) if _runs_beside(settings, ordered) else None
    stage_rows: dict[str, list[StageRow]] = {}
    # with two cores, GRPO (the longest stage) trains in a child process while this one runs the rest;
    # each side on one BLAS thread so the two do not fight over the cores
    with runtime.blas_threads(1) if beside is not None else contextlib.nullcontext():
        for name in ordered:
            if beside is not None and name == "grpo":
                continue
            stage_rows[name] = _run_stage(context, name, numbers[name], len(ordered))
    if beside is not None:
        stage_rows["grpo"] = beside()
    rows = [row for name in ordered for row in stage_rows[name]]
    total = time.perf_counter() - started
    report = DemoReport(rows, total, out_dir, check_targets(rows),
                        {name: str(path) for name, path in context.plots.items()})
    atomic_write_text(out_dir / "report.json", json.dumps(report.as_report(), indent=1) + "\n")
    atomic_write_text(out_dir / "run.json", json.dumps({
        "settings": settings.as_dict(), "stages": ordered, "held_out_data": settings.held_out_data(),
        "targets": report.targets, "plots": report.plots, "machine": machine_load(),
        "total_seconds": total, "written_at": time.strftime("%Y-%m-%dT%H:%M:%S")}, indent=1) + "\n")
    return report
