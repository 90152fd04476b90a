"""The teacher of logit distillation: a frozen model whose distribution the student learns to match.

Matching distributions position by position only means something when token v is the same token
for both models, so a teacher and a student must share a tokenizer: the same vocabulary (token ->
id, added tokens included; compared by a sha256 of it) and the same number of logits.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

from minireason.device import array_module_of, to_module
from minireason.errors import ConfigError


def vocabulary_sha256(tokenizer) -> str:
    """sha256 of a tokenizer's vocabulary: every (id, token) pair, in id order."""
    vocabulary = sorted((token_id, token) for token, token_id in tokenizer.get_vocab().items())
    return hashlib.sha256(json.dumps(vocabulary, ensure_ascii=False).encode("utf-8")).hexdigest()


def check_same_tokenizer(student_model, student_tokenizer, teacher_model, teacher_tokenizer) -> str:
    """The shared vocabulary's sha256; ConfigError when teacher and student do not share a tokenizer."""
    student_size, teacher_size = student_model.config.vocab_size, teacher_model.config.vocab_size
    if student_size != teacher_size:
        raise ConfigError(f"teacher and student must share a tokenizer: the student has {student_size} logits per "
                          f"position, the teacher {teacher_size}")
    student_hash, teacher_hash = vocabulary_sha256(student_tokenizer), vocabulary_sha256(teacher_tokenizer)
    if student_hash != teacher_hash:
        raise ConfigError(f"teacher and student must share a tokenizer: their vocabularies differ (student "
                          f"{student_tokenizer.vocab_size} tokens, sha256 {student_hash[:12]}; teacher "
                          f"{teacher_tokenizer.vocab_size} tokens, sha256 {teacher_hash[:12]})")
    return student_hash


@dataclass
class TeacherDistribution:
    """The teacher's logits at the M loss positions (the loss mask's true entries in row-major order).

    logits (M, K): all V logits in vocabulary order (indices None), or the teacher's top-k logits
    with their token ids in ``indices`` (M, K).
    """

    logits: np.ndarray
    indices: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.logits.shape[0])


def teacher_distribution(teacher_logits, loss_mask, top_k: int = 0) -> TeacherDistribution:
    """The teacher's logits (B, T, V) at the masked positions, all V of them or the top ``top_k``."""
    module = array_module_of(teacher_logits)
    batch_index, time_index = module.nonzero(module.asarray(loss_mask))
    logits = teacher_logits[batch_index, time_index]  # (M, V)
    V = logits.shape[-1]
    if not top_k or top_k >= V:
        return TeacherDistribution(logits)
    indices = module.argpartition(-logits, top_k - 1, axis=-1)[:, :top_k]  # (M, k), in no particular order
    rows = module.arange(len(indices))[:, None]  # (M, 1)
    return TeacherDistribution(logits[rows, indices], indices.astype(module.int64))


def teacher_targets(teacher_model, input_ids, attention_mask, loss_mask, top_k: int = 0):
    """The teacher's logits at the masked positions of a packed batch (all V or its top ``top_k``):
    one forward of the teacher, nothing kept for a backward."""
    logits = teacher_model.logits(input_ids, attention_mask)  # (B, T, V)
    return teacher_distribution(logits, to_module(loss_mask, teacher_model.array_module), top_k)
