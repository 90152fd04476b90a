"""Accuracy of a model on the built-in synthetic tasks, in direct and chain-of-thought style.

For each family: the first ``n`` test-split problems (fixed seed), the prompt rendered in the
style asked for, greedy decoding, the last boxed answer extracted, and the one judge
(:func:`minireason.evaluation.judge.judge_completion`) deciding correctness with the family's
own verifier (countdown checks the expression, linear equations go through ``grade_answer``).
"""

from __future__ import annotations

import time


def task_accuracy(model, tokenizer, families, n: int = 50, styles=("direct", "cot"), seed: int = 1234,
                  max_new_tokens: int = 160, batch_size: int = 32, difficulty: int | dict | None = None,
                  progress: bool = False) -> dict:
    """{family: {style: accuracy}} plus "tokens" and "seconds" per style under the key "_compute".

    ``difficulty``: one difficulty for every family, a dict family -> difficulty, or None for each
    family's default.
    """
    from minireason.evaluation.judge import judge_completion
    from minireason.generation.generate import generate
    from minireason.tasks import generate_problems
    from minireason.tasks.base import render_prompt
    from minireason.tasks.export import to_record

    results: dict = {}
    compute = {style: {"tokens": 0, "seconds": 0.0, "problems": 0} for style in styles}
    for family_name in families:
        level = difficulty.get(family_name) if isinstance(difficulty, dict) else difficulty
        problems = generate_problems(family_name, n, split="test", seed=seed, difficulty=level)
        records = [to_record(problem) for problem in problems]  # what the judge reads
        results[family_name] = {}
        for style in styles:
            correct = 0
            started = time.perf_counter()
            for start in range(0, len(problems), batch_size):
                chunk = problems[start:start + batch_size]
                outputs = generate(model, tokenizer, [render_prompt(p, style) for p in chunk], max_new_tokens)
                for record, output in zip(records[start:start + batch_size], outputs):
                    # boxed answers only: the built-in models are trained to box their answer
                    correct += judge_completion(record, output.text, fallback=None)[1]
                    compute[style]["tokens"] += len(output.token_ids)
            compute[style]["seconds"] += time.perf_counter() - started
            compute[style]["problems"] += len(problems)
            results[family_name][style] = correct / len(problems)
            if progress:
                print(f"  {family_name:16s} {style:6s} {results[family_name][style]:6.1%}", flush=True)
    results["_compute"] = compute
    return results


def format_accuracy_table(results: dict) -> str:
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
