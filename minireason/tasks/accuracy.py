"""Accuracy of a model on the built-in synthetic tasks, in direct and chain-of-thought style.

For each family: the first ``n`` test-split problems (fixed seed), the prompt in the style asked
for (the plain format of the one prompt spec, which the built-in models were trained on), greedy
decoding, and the one judge deciding correctness with the family's own verifier (countdown checks
the expression, linear equations go through ``grade_answer``) on the last boxed answer.  The
generating and judging is the one evaluation core's (:mod:`minireason.evaluation.core`); this
module sits with the tasks because it makes their problems.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from minireason.evaluation.core import Sampling, judge_with_fallback, judged_batches
from minireason.evaluation.prompts import PromptSpec
from minireason.tasks.export import to_record
from minireason.tasks.families import generate_problems


def task_accuracy(model, tokenizer, families, n: int = 50, styles=("direct", "cot"), seed: int = 1234,
                  max_new_tokens: int = 160, batch_size: int = 32, difficulty: int | dict | None = None,
                  progress: bool = False, generate_function: Callable | None = None) -> dict:
    """{family: {style: accuracy}} plus "tokens" and "seconds" per style under the key "_compute".

    ``difficulty``: one difficulty for every family, a dict family -> difficulty, or None for each
    family's default. ``progress`` shows a bar per family and style and prints each accuracy.
    """
    results: dict = {}
    compute = {style: {"tokens": 0, "seconds": 0.0, "problems": 0} for style in styles}
    sampling = Sampling(max_new_tokens=max_new_tokens)
    # boxed answers only: the built-in models are trained to box their answer
    judge = judge_with_fallback(None)
    for family_name in families:
        level = difficulty.get(family_name) if isinstance(difficulty, dict) else difficulty
        records = [to_record(problem) for problem in
                   generate_problems(family_name, n, split="test", seed=seed, difficulty=level)]
        results[family_name] = {}
        for style in styles:
            correct = 0
            started = time.perf_counter()
            for answers in judged_batches(model, tokenizer, records, PromptSpec(style), sampling,
                                          batch_size=batch_size, judge=judge, generate_function=generate_function,
                                          progress=progress, desc=f"{family_name} {style}"):
                correct += sum(answer["correct"] for answer in answers)
                compute[style]["tokens"] += sum(answer["generated_tokens"] for answer in answers)
            compute[style]["seconds"] += time.perf_counter() - started
            compute[style]["problems"] += len(records)
            results[family_name][style] = correct / len(records) if records else 0.0
            if progress:
                print(f"  {family_name:16s} {style:6s} {results[family_name][style]:6.1%}", flush=True)
    results["_compute"] = compute
    return results


def format_accuracy_table(results: dict) -> str:
    """The accuracy of each task family under each prompt style, as a text table."""
    styles = sorted({style for family, row in results.items() if family != "_compute" for style in row})
    lines = [f"{'family':16s} " + " ".join(f"{s:>8s}" for s in styles)]
    for family, row in results.items():
        if family == "_compute":
            continue
        lines.append(f"{family:16s} " + " ".join(f"{row.get(s, float('nan')):8.1%}" for s in styles))
    compute = results.get("_compute", {})
    if compute:
        lines.append("tokens/problem   " + " ".join(
            f"{compute[s]['tokens'] / max(compute[s]['problems'], 1):8.1f}" for s in styles))
    return "\n".join(lines)
