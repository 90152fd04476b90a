"""Stage ``scaling``: greedy chain of thought on every held-out problem (paired against the direct
answers), then the sampled methods and the thinking budgets on the first ``scaling_problems`` of
them (each paired against the greedy chain); the accuracy-against-tokens plot."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from minireason.demo.context import DemoContext, held_out_accuracy
from minireason.demo.direct import direct_answers
from minireason.demo.report import StageRow, paired_fields
from minireason.demo.settings import PROMPT_FORMAT
from minireason.jsonl import read_jsonl_tolerant
from minireason.scaling.outcome import ScalingSettings
from minireason.scaling.runner import SummaryRow, parse_methods, run_comparison, save_plot
from minireason.scaling.sampler import ModelSampler

TITLE = "inference-time scaling: chain of thought, self-consistency, best-of-N, self-refinement"


def method_specs(settings):
    """The sampled methods and the ``budget@N`` rows, parsed (an unknown method is an InputError)."""
    method_names = [name for name in settings.scaling_methods.split(",") if name.strip()]
    return parse_methods(",".join(method_names + [f"budget@{budget}" for budget in settings.thinking_budgets]))


def scaling_settings(settings) -> ScalingSettings:
    """The scaling settings of the demo's sampled methods."""
    return ScalingSettings(max_new_tokens=settings.max_new_tokens, temperature=settings.temperature,
                           prompt_format=PROMPT_FORMAT)


def votes_where_greedy_errs(greedy_correct: Sequence[bool], samples: list[list[bool]] | None) -> dict:
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


def run(context: DemoContext) -> list[StageRow]:
    """The scaling stage: chain of thought, the sampled methods and thinking budgets against the tokens they spend."""
    settings, log = context.settings, context.stage_log("scaling")
    model, tokenizer = context.shipped(settings.model)
    direct = direct_answers(context)  # with --stage scaling alone, computed here
    cot = held_out_accuracy(model, tokenizer, context.held_out, "cot", settings.max_new_tokens)
    rows = [StageRow("scaling", "cot", cot.problems, cot.accuracy, cot.tokens_per_problem, cot.seconds,
                     paired_fields(direct.correct, cot.correct, "direct"))]
    log(f"chain of thought: {cot.accuracy:.1%} against {direct.accuracy:.1%} answering directly "
        f"({rows[0].extra['gained']} gained, {rows[0].extra['lost']} lost, p = {rows[0].extra['p_value']:.2g}) "
        f"for {cot.tokens_per_problem / max(direct.tokens_per_problem, 1e-9):.1f}x the tokens")

    subset = context.held_out[:settings.scaling_problems]
    records_path = context.stage_folder("scaling") / "records.jsonl"
    shown = {"label": None}

    def progress(label: str, done: int, total: int) -> None:
        if done == total or shown["label"] != label or done % max(1, total // 4) == 0:
            log(f"{label}: {done}/{total} problems")
            shown["label"] = label

    summaries = run_comparison(ModelSampler(model, tokenizer, batch_size=32), subset, method_specs(settings),
                               scaling_settings(settings), seed=settings.seed, records_path=records_path,
                               on_progress=progress)
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
        extra.update(votes_where_greedy_errs(cot_subset, sample_verdicts.get(summary.method)))
        rows.append(StageRow("scaling", summary.method, summary.problems, summary.accuracy,
                             summary.tokens_per_problem, summary.seconds_per_problem * summary.problems, extra))
        log(f"{summary.method}: {summary.accuracy:.1%} against {extra['accuracy_before']:.1%} for the greedy "
            f"chain on the same {summary.problems} problems ({extra['gained']} gained, {extra['lost']} lost, "
            f"p = {extra['p_value']:.2g})")
        if extra.get("greedy_wrong_problems") and summary.method.startswith("sc@"):
            # why a vote helps or not: it can only fix a greedy error when most samples are right there
            log(f"  on the {extra['greedy_wrong_problems']} problems the greedy chain gets wrong, "
                f"{extra['greedy_wrong_sample_accuracy']:.0%} of the samples are right and "
                f"{extra['greedy_wrong_right_majority']} have a right majority")

    direct_row = StageRow("direct", "direct", direct.problems, direct.accuracy, direct.tokens_per_problem, direct.seconds)
    plotted = [SummaryRow(row.method, row.problems, row.accuracy, row.tokens_per_problem,
                          row.seconds / max(row.problems, 1), 1.0, pass_at_n=row.extra.get("pass_at_n"))
               for row in [direct_row] + rows]
    context.plots["accuracy_vs_tokens"] = save_plot(
        plotted, context.out_dir / "accuracy_vs_tokens.png",
        title=f"{settings.model}, held-out {settings.family} (difficulty {settings.difficulty}): direct and cot on "
              f"{direct.problems}, sampled methods on {len(subset)} problems")
    return rows
