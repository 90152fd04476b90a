"""The one rollout path: sample G completions per prompt, then pack them into training sequences.

    records ─prompts─▶ generate (temperature, top-p/top-k; per-token log-probs) ─▶ Rollouts
        ─pack─▶ input_ids, targets, loss_mask, attention_mask (N, T) + old log-probs aligned to targets

Every trainer that learns from its own samples (GRPO and its variants, on-policy distillation)
goes through here, so the alignment of log-probabilities with training positions is written once.
:func:`sample_groups` draws group by group, each from its own generators, in this process or on an
executor's actors (:mod:`minireason.scaleout`), with the same rollouts either way.

Alignment: a packed row is prompt + completion; position t predicts token t + 1
(``minireason.generation.sequences.pack_completions``), so completion token k is the target at
position ``len(prompt) - 1 + k``, and its sampler log-probability lands there in ``old_logp``.

Which log-probability is "old": the sampler records, for each token, its log-probability under the
distribution it was drawn from (``GenerationResult.sampling_logprobs``: temperature and any top-k /
top-p / min-p filter applied).  With no filter that is exactly log softmax(logits / T), what the
learner recomputes, so the importance ratio of the first update is 1 up to rounding (the trainer
logs the largest difference as ``logprob_mismatch_max``).  A filter renormalises over the kept
tokens, which the learner's full softmax does not: then the sampler's numbers are not the old
policy's, and the trainer recomputes ``old_logp`` with a forward of the policy before its first
update (docs/rl.md, "Sampler and learner").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from minireason.errors import InputError
from minireason.generation.generate import generate
from minireason.generation.sequences import pack_completions
from minireason.seeds import check_seed, item_generator


@dataclass
class Rollouts:
    """N = P * G sampled completions, in groups of ``group_size`` consecutive rows (one prompt's samples)."""

    records: list[dict]  # (N,) the problem record of each row (a prompt's record repeated G times)
    prompts: list[str]  # (N,)
    prompt_ids: list[list[int]]  # (N,) prompt token ids
    completion_ids: list[list[int]]  # (N,) generated ids, a stop token that ended the row included
    completions: list[str]  # (N,) decoded text, without the stop token
    sampling_logprobs: list[np.ndarray]  # (N,) each (len(completion_ids[n]),) float64
    truncated: np.ndarray  # (N,) bool, hit the length limit
    group_size: int

    def __len__(self) -> int:
        return len(self.records)

    @property
    def num_tokens(self) -> np.ndarray:
        """Each row's completion length in tokens, a stop token included."""
        return np.array([len(ids) for ids in self.completion_ids])  # (N,)

    @property
    def sequence_lengths(self) -> np.ndarray:
        """Each row's prompt + completion length in tokens (what its packed row is as wide as, plus one)."""
        return np.array([len(prompt) + len(completion)
                         for prompt, completion in zip(self.prompt_ids, self.completion_ids)])  # (N,)

    def select_groups(self, groups: np.ndarray) -> Rollouts:
        """The rollouts of the given prompt groups only (indices into the P groups), in that order."""
        rows = [group * self.group_size + offset for group in groups for offset in range(self.group_size)]
        return Rollouts([self.records[r] for r in rows], [self.prompts[r] for r in rows],
                        [self.prompt_ids[r] for r in rows], [self.completion_ids[r] for r in rows],
                        [self.completions[r] for r in rows], [self.sampling_logprobs[r] for r in rows],
                        self.truncated[rows] if rows else np.zeros(0, dtype=bool), self.group_size)

    @staticmethod
    def concatenate(parts: list[Rollouts]) -> Rollouts:
        """The rows of ``parts`` one after another (groups of the same ``group_size``)."""
        if not parts:
            raise InputError("Rollouts.concatenate needs at least one part")
        return Rollouts(*(sum((getattr(part, name) for part in parts), []) for name in
                          ("records", "prompts", "prompt_ids", "completion_ids", "completions", "sampling_logprobs")),
                        np.concatenate([part.truncated for part in parts]), parts[0].group_size)


def sample_rollouts(model, tokenizer, records: list[dict], prompts: list[str], group_size: int,
                    max_new_tokens: int, temperature: float = 1.0, top_p: float = 1.0, top_k: int = 0,
                    rng: np.random.Generator | list[np.random.Generator] | None = None, stop_strings=(),
                    max_rows: int = 256) -> Rollouts:
    """``group_size`` completions of every prompt from batched generation (``max_rows`` rows at a time).

    ``rng`` drives the sampling: one Generator (the rows are drawn in order, so the same rng state gives
    the same rollouts), or a list of one per row (prompt-major: G rows per prompt).
    """

    if len(records) != len(prompts) or not prompts:
        raise InputError(f"need one prompt per record (>= 1), got {len(prompts)} prompts and {len(records)} records")
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
        raise InputError(f"group_size must be an int >= 1, got {group_size!r}")
    row_records = [record for record in records for _ in range(group_size)]
    row_prompts = [prompt for prompt in prompts for _ in range(group_size)]
    results = []
    for start in range(0, len(row_prompts), max_rows):
        chunk_rng = rng[start:start + max_rows] if isinstance(rng, (list, tuple)) else rng
        results += generate(model, tokenizer, row_prompts[start:start + max_rows], max_new_tokens,
                            temperature=temperature, top_k=top_k, top_p=top_p, rng=chunk_rng,
                            stop_strings=list(stop_strings) or None)
    return Rollouts(
        records=row_records, prompts=row_prompts,
        prompt_ids=[list(result.prompt_tokens) for result in results],
        completion_ids=[list(result.token_ids) for result in results],
        completions=[result.text for result in results],
        sampling_logprobs=[np.asarray(result.sampling_logprobs, dtype=np.float64) for result in results],
        truncated=np.array([result.finish_reason == "length" for result in results], dtype=bool),
        group_size=group_size)


@dataclass
class PackedRows:
    """Training arrays for some rows of a batch of rollouts, all (N, T) and aligned with the targets."""

    input_ids: np.ndarray  # (N, T) int64, right-padded
    targets: np.ndarray  # (N, T) int64
    loss_mask: np.ndarray  # (N, T) bool, completion tokens
    attention_mask: np.ndarray  # (N, T) bool, real tokens
    old_logp: np.ndarray  # (N, T) float64, the sampler's log-probability of each completion target, 0 elsewhere


def pack_rows(rollouts: Rollouts, rows, pad_id: int) -> PackedRows:
    """Pack prompt + completion of the given rows (row indices into ``rollouts``).

    An empty completion packs to a row with no loss positions (``pack_completions`` refuses it only
    when the prompt is a single token too, leaving nothing to predict).
    """
    rows = list(rows)
    prompts = [rollouts.prompt_ids[r] for r in rows]
    completions = [rollouts.completion_ids[r] for r in rows]
    input_ids, targets, loss_mask, attention_mask = pack_completions(prompts, completions, pad_id)
    old_logp = np.zeros(targets.shape, dtype=np.float64)  # (N, T)
    for index, row in enumerate(rows):
        logprobs = rollouts.sampling_logprobs[row]
        start = len(rollouts.prompt_ids[row]) - 1  # the position whose target is completion token 0
        old_logp[index, start:start + len(logprobs)] = logprobs
    return PackedRows(input_ids, targets, loss_mask, attention_mask, old_logp)


@dataclass(frozen=True)
class GroupJob:
    """One prompt's group of samples, each from its own generator ``item_generator(seed, item, sample)``,
    and what to compute from them where they were drawn (``score(rollouts)``, e.g. the rewards)."""

    record: dict
    prompt: str
    item: int
    seed: int
    group_size: int
    max_new_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    stop_strings: tuple = ()
    score: Callable | None = None


def sample_group(model, tokenizer, job: GroupJob) -> tuple[Rollouts, object, float]:
    """(the group's rollouts, ``job.score`` of them or None, the seconds the score took): a plain function
    that runs the same in this process or on an executor's actor."""
    generators = [item_generator(job.seed, job.item, sample) for sample in range(job.group_size)]
    rollouts = sample_rollouts(model, tokenizer, [job.record], [job.prompt], job.group_size, job.max_new_tokens,
                               job.temperature, job.top_p, job.top_k, generators, job.stop_strings,
                               max_rows=job.group_size)
    if job.score is None:
        return rollouts, None, 0.0
    started = time.perf_counter()
    scored = job.score(rollouts)
    return rollouts, scored, time.perf_counter() - started


def sample_groups(model, tokenizer, records: list[dict], prompts: list[str], group_size: int, max_new_tokens: int,
                  temperature: float = 1.0, top_p: float = 1.0, top_k: int = 0, *, seed: int, stop_strings=(),
                  score: Callable | None = None, executor=None) -> tuple[Rollouts, list, float]:
    """``group_size`` completions of every prompt, group by group, prompt ``j``'s samples from
    ``item_generator(seed, j, sample)``: the rollouts do not depend on which process drew which group.

    ``executor`` (:class:`minireason.scaleout.RayExecutor`): the groups are drawn, and scored by
    ``score(group's rollouts)``, on its actors; None: here.  Returns (all rollouts, each group's score
    (None without ``score``), the seconds the scores took in all).
    """
    if len(records) != len(prompts) or not prompts:
        raise InputError(f"need one prompt per record (>= 1), got {len(prompts)} prompts and {len(records)} records")
    check_seed(seed, allow_none=False)
    jobs = [GroupJob(record, prompt, item, seed, group_size, max_new_tokens, temperature, top_p, top_k,
                     tuple(stop_strings), score) for item, (record, prompt) in enumerate(zip(records, prompts))]
    if executor is None:
        groups = [sample_group(model, tokenizer, job) for job in jobs]
    else:
        groups = list(executor.map(sample_group, jobs))
    return (Rollouts.concatenate([group[0] for group in groups]), [group[1] for group in groups],
            sum(group[2] for group in groups))
