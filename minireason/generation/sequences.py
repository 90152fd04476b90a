"""Turning (prompt, completion) token lists into the arrays a training step needs."""

from __future__ import annotations

import numpy as np

from minireason.errors import InputError


def pack_completions(prompts: list[list[int]], completions: list[list[int]], pad_id: int = 0, max_len: int | None = None):
    """Right-padded next-token arrays with the loss on completion tokens only.

    For each row the sequence is prompt + completion; inputs are all tokens but the last,
    targets all but the first. loss_mask[b, t] is true where targets[b, t] is a completion token.
    Rows longer than ``max_len`` + 1 tokens are cut at the end.
    Returns (input_ids (B, T), targets (B, T), loss_mask (B, T), attention_mask (B, T)).
    """
    if len(prompts) != len(completions) or not prompts:
        raise InputError(f"need as many prompts as completions (>= 1), got {len(prompts)} and {len(completions)}")
    sequences, completion_starts = [], []
    for prompt, completion in zip(prompts, completions):
        sequence = list(prompt) + list(completion)
        if max_len is not None:
            sequence = sequence[: max_len + 1]
        if len(sequence) < 2:
            raise InputError("each prompt + completion must hold at least 2 tokens")
        sequences.append(sequence)
        completion_starts.append(len(prompt))
    T = max(len(s) for s in sequences) - 1
    B = len(sequences)
    input_ids = np.full((B, T), pad_id, dtype=np.int64)  # (B, T)
    targets = np.full((B, T), pad_id, dtype=np.int64)  # (B, T)
    loss_mask = np.zeros((B, T), dtype=bool)
    attention_mask = np.zeros((B, T), dtype=bool)
    for row, (sequence, start) in enumerate(zip(sequences, completion_starts)):
        n = len(sequence) - 1
        input_ids[row, :n] = sequence[:-1]
        targets[row, :n] = sequence[1:]
        attention_mask[row, :n] = True
        # target t predicts sequence[t + 1]; it is a completion token when t + 1 >= start
        loss_mask[row, max(start - 1, 0):n] = True
    return input_ids, targets, loss_mask, attention_mask
