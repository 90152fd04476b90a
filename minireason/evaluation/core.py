"""The one evaluation core: problems in, generated and judged answers out, batch by batch.

Every evaluation of the project goes through :func:`judged_batches`: ``minireason eval`` (``runs.py``
adds the resumable results file), the trainers' held-out evaluation (``held_out.py``) and the
accuracy on the built-in tasks (``minireason.tasks.accuracy``).  One loop means one way to

* put a problem to the model (a :class:`~minireason.evaluation.prompts.PromptSpec`: its text and
  its stop strings),
* draw samples: with a seed, problem ``i`` draws from its own generator
  (:func:`minireason.seeds.item_generator`, ``default_rng([seed, i, 0])``), so an answer does not
  depend on the batch it fell in, nor on where a run was resumed,
* judge an answer (the one judge, :func:`minireason.evaluation.judge.judge_completion`),
* show progress (a tqdm bar on stderr, off with ``progress=False``), and
* stop early: ``should_stop()`` is asked before every batch, so a loop that caught a Ctrl-C
  (the training loop's first Ctrl-C) ends the evaluation after the batch in flight.

The generation function is injectable (``generate_function``, the signature of
:func:`minireason.generation.generate.generate`); tests pass fake ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from minireason.errors import InputError
from minireason.evaluation.judge import judge_completion
from minireason.evaluation.prompts import PromptSpec
from minireason.generation.generate import ThinkingBudget, generate
from minireason.seeds import check_seed, item_generator

# a judge of one completion: (problem record, generated text) -> (extracted answer or None, correct)
CompletionJudge = Callable[[dict, str], "tuple[str | None, bool]"]


@dataclass(frozen=True)
class Sampling:
    """How answers are drawn: temperature 0 is greedy; ``seed`` gives every problem its own generator."""

    max_new_tokens: int
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int | None = None
    thinking_budget: ThinkingBudget | None = None

    def __post_init__(self):
        if isinstance(self.max_new_tokens, bool) or not isinstance(self.max_new_tokens, int) \
                or self.max_new_tokens < 1:
            raise InputError(f"max_new_tokens: expected an int >= 1, got {self.max_new_tokens!r}")
        if not self.temperature >= 0:
            raise InputError(f"temperature: expected >= 0, got {self.temperature}")
        check_seed(self.seed)

    def generators(self, indices: Sequence[int]) -> list[np.random.Generator] | None:
        """One generator per problem index (sample 0), or None for an unseeded run."""
        if self.seed is None:
            return None
        return [item_generator(self.seed, index, 0) for index in indices]


def judge_with_fallback(fallback: str | None) -> CompletionJudge:
    """The one judge on a whole completion; ``fallback=None`` counts only a boxed answer."""
    return lambda problem, text: judge_completion(problem, text, fallback=fallback)


def judged_batches(model, tokenizer, problems: Sequence[dict], spec: PromptSpec, sampling: Sampling, *,
                   batch_size: int, start: int = 0, judge: CompletionJudge | None = None,
                   generate_function: Callable | None = None, progress: bool = False, desc: str = "eval",
                   should_stop: Callable[[], bool] | None = None) -> Iterator[list[dict]]:
    """Generate and judge answers to ``problems[start:]``, yielding each batch's answers as it is done.

    An answer is ``{"index", "generated", "generated_tokens", "finish_reason", "seconds",
    "extracted", "correct"}`` (and, with a thinking budget, ``thinking_tokens`` and
    ``forced_tokens``); ``index`` is the problem's position in ``problems``.  ``judge`` defaults to
    the one judge with the number fallback.  The iteration ends early, after a whole batch, when
    ``should_stop()`` says so.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size: expected an int >= 1, got {batch_size!r}")
    judge = judge or judge_with_fallback("number")
    generate_function = generate_function or generate
    budget = sampling.thinking_budget
    stop_strings = list(spec.stop_strings) or None
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(problems), initial=start, unit="problem", desc=desc, dynamic_ncols=True)
    correct, judged = 0, 0
    try:
        for batch_start in range(start, len(problems), batch_size):
            if should_stop is not None and should_stop():
                return
            batch = problems[batch_start:batch_start + batch_size]
            indices = range(batch_start, batch_start + len(batch))
            started = time.perf_counter()
            results = generate_function(model, tokenizer, [spec.text(problem["problem"]) for problem in batch],
                                        max_new_tokens=sampling.max_new_tokens, temperature=sampling.temperature,
                                        top_k=sampling.top_k, top_p=sampling.top_p,
                                        rng=sampling.generators(indices), stop_strings=stop_strings,
                                        **({"thinking_budget": budget} if budget is not None else {}))
            seconds = time.perf_counter() - started
            if len(results) != len(batch):
                raise InputError(f"generate returned {len(results)} results for {len(batch)} prompts")
            answers = []
            for index, problem, result in zip(indices, batch, results):
                extracted, right = judge(problem, result.text)
                answers.append({
                    "index": index, "generated": result.text, "generated_tokens": len(result.token_ids),
                    "finish_reason": getattr(result, "finish_reason", None), "seconds": seconds / len(batch),
                    "extracted": extracted, "correct": bool(right),
                    # with a thinking budget: the tokens spent inside <think> and those forced in
                    **({"thinking_tokens": getattr(result, "thinking_tokens", None),
                        "forced_tokens": int(np.sum(getattr(result, "forced", 0)))} if budget is not None else {}),
                })
            correct += sum(answer["correct"] for answer in answers)
            judged += len(answers)
            if bar is not None:
                bar.update(len(batch))
                bar.set_postfix(accuracy=f"{correct / judged:.1%}")
            yield answers
    finally:
        if bar is not None:
            bar.close()
