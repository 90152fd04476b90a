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
  (the training loop's first Ctrl-C) ends the evaluation after the batch in flight, and
* run a batch where it is sent: each batch is the plain function :func:`judge_batch`, run in this
  process or, with an ``executor`` (:mod:`minireason.scaleout`), on actors holding model replicas;
  the batches are cut the same way either way, so the answers do not depend on where they ran.

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
                   should_stop: Callable[[], bool] | None = None, executor=None) -> Iterator[list[dict]]:
    """Generate and judge answers to ``problems[start:]``, yielding each batch's answers as it is done.

    An answer is ``{"index", "generated", "generated_tokens", "finish_reason", "seconds",
    "extracted", "correct"}`` (and, with a thinking budget, ``thinking_tokens`` and
    ``forced_tokens``); ``index`` is the problem's position in ``problems``.  ``judge`` defaults to
    the one judge with the number fallback.  The iteration ends early, after a whole batch, when
    ``should_stop()`` says so.

    ``executor``: where the batches run (:class:`minireason.scaleout.RayExecutor`: on actors, each
    with its own model replica); None runs them here.  Either way each batch is
    :func:`judge_batch` on the same problems with the same generators, so the answers are the same.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size: expected an int >= 1, got {batch_size!r}")
    jobs = [BatchJob(batch_start, list(problems[batch_start:batch_start + batch_size]), spec, sampling,
                     judge or judge_with_fallback("number"), generate_function)
            for batch_start in range(start, len(problems), batch_size)]
    if executor is None:
        batches = (judge_batch(model, tokenizer, job) for job in jobs)
    else:
        batches = executor.map(judge_batch, jobs)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(problems), initial=start, unit="problem", desc=desc, dynamic_ncols=True)
    correct, judged = 0, 0
    try:
        for _ in jobs:
            if should_stop is not None and should_stop():
                return
            answers = next(batches)
            correct += sum(answer["correct"] for answer in answers)
            judged += len(answers)
            if bar is not None:
                bar.update(len(answers))
                bar.set_postfix(accuracy=f"{correct / judged:.1%}")
            yield answers
    finally:
        batches.close()  # an executor's jobs still in flight are cancelled
        if bar is not None:
            bar.close()


@dataclass(frozen=True)
class BatchJob:
    """One batch of the evaluation core: problems ``first, first + 1, ...`` and how to answer them."""

    first: int
    problems: list[dict]
    spec: PromptSpec
    sampling: Sampling
    judge: CompletionJudge
    generate_function: Callable | None = None


def judge_batch(model, tokenizer, job: BatchJob) -> list[dict]:
    """Generate and judge the answers of one batch (see :func:`judged_batches`): a plain function that
    runs the same in this process or on an executor's actor."""
    sampling, batch, budget = job.sampling, job.problems, job.sampling.thinking_budget
    generate_function = job.generate_function or generate
    indices = range(job.first, job.first + len(batch))
    started = time.perf_counter()
    results = generate_function(model, tokenizer, [job.spec.text(problem["problem"]) for problem in batch],
                                max_new_tokens=sampling.max_new_tokens, temperature=sampling.temperature,
                                top_k=sampling.top_k, top_p=sampling.top_p,
                                rng=sampling.generators(indices), stop_strings=list(job.spec.stop_strings) or None,
                                **({"thinking_budget": budget} if budget is not None else {}))
    seconds = time.perf_counter() - started
    if len(results) != len(batch):
        raise InputError(f"generate returned {len(results)} results for {len(batch)} prompts")
    answers = []
    for index, problem, result in zip(indices, batch, results):
        extracted, right = job.judge(problem, result.text)
        answers.append({
            "index": index, "generated": result.text, "generated_tokens": len(result.token_ids),
            "finish_reason": getattr(result, "finish_reason", None), "seconds": seconds / len(batch),
            "extracted": extracted, "correct": bool(right),
            # with a thinking budget: the tokens spent inside <think> and those forced in
            **({"thinking_tokens": getattr(result, "thinking_tokens", None),
                "forced_tokens": int(np.sum(getattr(result, "forced", 0)))} if budget is not None else {}),
        })
    return answers
