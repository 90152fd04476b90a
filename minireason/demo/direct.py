"""Stage ``direct``: greedy direct answers (no reasoning) to every held-out problem: the floor."""

from __future__ import annotations

from minireason.demo.context import DemoContext, held_out_accuracy
from minireason.demo.report import StageRow

TITLE = "direct answers (greedy)"
DIRECT_MAX_NEW_TOKENS = 32  # an answer, not a chain


def direct_answers(context: DemoContext):
    """The direct answers' HeldOutResult, computed once per run (the chain of thought is paired against it)."""
    if context.direct is None:
        model, tokenizer = context.shipped(context.settings.model)
        context.direct = held_out_accuracy(model, tokenizer, context.held_out, "direct", DIRECT_MAX_NEW_TOKENS)
    return context.direct


def run(context: DemoContext) -> list[StageRow]:
    """The direct-answer stage: held-out accuracy with no chain of thought; one row."""
    result = direct_answers(context)
    context.stage_log("direct")(f"direct answers: {result.accuracy:.1%} of {result.problems} held-out problems")
    return [StageRow("direct", "direct", result.problems, result.accuracy, result.tokens_per_problem, result.seconds)]
