"""Distillation and preference losses, each with its hand-derived gradient (derivations: docs/distillation.md).

Logit distillation reads the teacher's whole distribution at each position, so it goes through the
soft-target seam ``Qwen3Model.logits_loss_and_grads`` (loss_fn(logits) -> (loss, dlogits)):

    student logits (B, T, V) ─gather masked positions, chunk─▶ u = z / tau (n, K)
    teacher logits at the same positions (M, K) ─▶ p = softmax(teacher / tau)
    D(p, q = softmax(u)) per position ─▶ L = tau^2 / M * sum_positions D
    dL/dz = tau / M * dD/du, scattered back into (B, T, V) (zero at unmasked positions)

with D one of

* ``fkl``  forward KL(p || q) = sum_v p_v (log p_v - log q_v);             dD/du = q - p
* ``rkl``  reverse KL(q || p) = sum_v q_v (log q_v - log p_v);             dD/du = q (log q - log p - D)
* ``jsd``  generalised Jensen-Shannon, m = beta p + (1 - beta) q:
           D = beta KL(p || m) + (1 - beta) KL(q || m);                    dD/du = q (g - sum_w q_w g_w),
           g = (1 - beta) log(q / m).  D / beta -> KL(p || q) as beta -> 0 and
           D / (1 - beta) -> KL(q || p) as beta -> 1 (the GKD paper's convention).

Teacher top-k (``TeacherDistribution.indices`` given): both distributions are restricted to the
teacher's k most likely tokens at that position and renormalised there, so the loss is the
divergence between the teacher and the student *conditioned on the teacher's top-k set*.  It is
exact when k = V; otherwise it ignores how much mass each puts outside the set and how that mass is
spread (for reverse KL and JSD a teacher probability of exactly zero outside the set would make the
divergence infinite, hence the student is restricted too; the same rule for all three losses keeps
them comparing the same two distributions).  The teacher then costs M x k numbers, not M x V.

DPO is a function of each sequence's summed log-probability, so it goes through the per-token seam
``Qwen3Model.token_loss_and_grads`` with chosen and rejected rows in one batch
(:func:`preference_loss_fn`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minireason.device import array_module_of, to_host
from minireason.errors import InputError
from minireason.nn.loss import log_softmax_forward

DISTILL_LOSSES = ("fkl", "rkl", "jsd")
PREFERENCE_LOSSES = ("sigmoid", "ipo")
DEFAULT_CHUNK_POSITIONS = 1024


def check_distill_settings(loss: str, beta: float, temperature: float, top_k: int = 0) -> None:
    """One-line InputError for a loss name, beta, temperature or top_k outside its range."""
    if loss not in DISTILL_LOSSES:
        raise InputError(f"distillation loss must be one of {', '.join(DISTILL_LOSSES)}, got {loss!r}")
    if loss == "jsd" and not (isinstance(beta, (int, float)) and 0 < beta < 1):
        raise InputError(f"jsd beta must lie in (0, 1) (its limits are the fkl and rkl losses), got {beta!r}")
    if not (isinstance(temperature, (int, float)) and temperature > 0):
        raise InputError(f"distillation temperature must be a number > 0, got {temperature!r}")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
        raise InputError(f"top_k must be an int >= 0 (0: the whole vocabulary), got {top_k!r}")


def divergence_and_gradient(teacher_logp, student_logp, loss: str, beta: float = 0.5):
    """D(p, q) at each row and dD/du, where q = softmax(u) and u are the student's (tempered) logits.

    teacher_logp, student_logp (n, K): log p and log q, each normalised over its last axis.
    Returns (D (n,), dD/du (n, K)).  See the module docstring for the three formulas.
    """
    p, q = np.exp(teacher_logp), np.exp(student_logp)  # (n, K)
    if loss == "fkl":
        values = np.sum(p * (teacher_logp - student_logp), axis=-1)  # (n,)
        return values, q - p
    if loss == "rkl":
        values = np.sum(q * (student_logp - teacher_logp), axis=-1)  # (n,)
        return values, q * (student_logp - teacher_logp - values[:, None])
    if loss == "jsd":
        dtype = student_logp.dtype.type
        # log m = log(beta p + (1 - beta) q), without forming m where it would underflow
        mixture_logp = np.logaddexp(teacher_logp + dtype(np.log(beta)), student_logp + dtype(np.log1p(-beta)))
        values = (dtype(beta) * np.sum(p * (teacher_logp - mixture_logp), axis=-1)
                  + dtype(1 - beta) * np.sum(q * (student_logp - mixture_logp), axis=-1))  # (n,)
        g = dtype(1 - beta) * (student_logp - mixture_logp)  # dD/dq, (n, K)
        return values, q * (g - np.sum(q * g, axis=-1, keepdims=True))
    raise InputError(f"distillation loss must be one of {', '.join(DISTILL_LOSSES)}, got {loss!r}")


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


def distillation_loss(student_logits, teacher: TeacherDistribution, loss_mask, loss: str = "fkl",
                      beta: float = 0.5, temperature: float = 1.0, chunk_positions: int = DEFAULT_CHUNK_POSITIONS,
                      with_gradient: bool = True):
    """L = tau^2 / M * sum over the M masked positions of D(p_teacher, q_student) at temperature tau.

    student_logits (B, T, V); loss_mask (B, T) bool; teacher: its logits at the M masked positions.
    Positions are processed ``chunk_positions`` at a time, so temporaries stay (chunk, V).
    Returns (loss, dlogits (B, T, V) or None, figures) with figures = {"positions": M,
    "divergence": mean D, "kl": mean KL(p || q) (teacher-student forward KL at tau, on the same
    support as the loss)}.  An empty mask gives loss 0 and a zero gradient.
    """
    check_distill_settings(loss, beta, temperature)
    module = array_module_of(student_logits)
    B, T, V = student_logits.shape
    loss_mask = module.asarray(loss_mask).astype(bool)
    if loss_mask.shape != (B, T):
        raise InputError(f"loss_mask must have shape {(B, T)} like the student's logits, got {loss_mask.shape}")
    batch_index, time_index = module.nonzero(loss_mask)
    M = int(batch_index.shape[0])
    if len(teacher) != M:
        raise InputError(f"the teacher's distribution covers {len(teacher)} positions, the loss mask {M}")
    if teacher.indices is None and teacher.logits.shape[-1] != V:
        raise InputError(f"teacher logits have {teacher.logits.shape[-1]} entries per position, the student {V}: "
                         f"teacher and student must share a tokenizer")
    dtype = student_logits.dtype
    dlogits = module.zeros_like(student_logits) if with_gradient else None  # (B, T, V)
    figures = {"positions": M, "divergence": 0.0, "kl": 0.0}
    if M == 0:
        return 0.0, dlogits, figures
    tau = dtype.type(temperature)
    scale = dtype.type(temperature / M)  # dL/du = tau^2 / M * dD/du, and du/dz = 1 / tau
    total = kl_total = 0.0
    for start in range(0, M, chunk_positions):
        rows_b, rows_t = batch_index[start:start + chunk_positions], time_index[start:start + chunk_positions]
        logits = student_logits[rows_b, rows_t]  # (n, V)
        teacher_logits = teacher.logits[start:start + chunk_positions].astype(dtype, copy=False)  # (n, K)
        if teacher.indices is not None:
            indices = teacher.indices[start:start + chunk_positions]  # (n, K)
            logits = logits[module.arange(len(indices))[:, None], indices]  # (n, K)
        student_logp, _ = log_softmax_forward(logits / tau)
        teacher_logp, _ = log_softmax_forward(teacher_logits / tau)
        values, du = divergence_and_gradient(teacher_logp, student_logp, loss, beta)
        total += float(values.sum())
        kl_total += float(values.sum()) if loss == "fkl" else float(
            np.sum(np.exp(teacher_logp) * (teacher_logp - student_logp)))
        if with_gradient:
            dz = (du * scale).astype(dtype, copy=False)  # (n, K)
            if teacher.indices is None:
                dlogits[rows_b, rows_t] = dz
            else:
                dense = module.zeros((len(indices), V), dtype=dtype)  # (n, V)
                dense[module.arange(len(indices))[:, None], indices] = dz
                dlogits[rows_b, rows_t] = dense
    figures.update(divergence=total / M, kl=kl_total / M)
    return float(temperature ** 2 * total / M), dlogits, figures


# ---------------------------------------------------------------------------------------------- preferences
def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow for large |x|


def preference_loss(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta: float,
                    loss: str = "sigmoid", normaliser: int | None = None):
    """DPO's sigmoid loss or IPO's squared loss of sequence log-probabilities, and the gradient.

    Each argument is (n,): the summed log-probability of a pair's chosen / rejected completion under
    the policy and under the frozen reference.  With h = (logp_c - ref_c) - (logp_r - ref_r):

        sigmoid  L = 1/N sum_i -log sigmoid(beta h_i),    dL/dh_i = -beta sigmoid(-beta h_i) / N
        ipo      L = 1/N sum_i (h_i - 1 / (2 beta))^2,    dL/dh_i = 2 (h_i - 1 / (2 beta)) / N

    and dL/dlogp_c = dL/dh, dL/dlogp_r = -dL/dh.  N = ``normaliser`` (default n: the mean over
    these pairs; a micro-batch of a larger update passes the update's pair count).
    Returns (loss, dchosen (n,), drejected (n,), figures) with the implicit rewards
    beta (logp - ref) of both completions, their margin and the preference accuracy (margin > 0).
    """
    if loss not in PREFERENCE_LOSSES:
        raise InputError(f"preference loss must be one of {', '.join(PREFERENCE_LOSSES)}, got {loss!r}")
    if not (isinstance(beta, (int, float)) and beta > 0):
        raise InputError(f"preference beta must be a number > 0, got {beta!r}")
    policy_chosen, policy_rejected = np.asarray(policy_chosen, np.float64), np.asarray(policy_rejected, np.float64)
    h = (policy_chosen - np.asarray(reference_chosen, np.float64)) - (
        policy_rejected - np.asarray(reference_rejected, np.float64))  # (n,)
    n = len(h)
    normaliser = n if normaliser is None else normaliser
    if loss == "sigmoid":
        values = np.logaddexp(0.0, -beta * h)  # -log sigmoid(beta h)
        dh = -beta * _sigmoid(-beta * h) / normaliser
    else:
        values = (h - 1.0 / (2.0 * beta)) ** 2
        dh = 2.0 * (h - 1.0 / (2.0 * beta)) / normaliser
    chosen_reward = beta * (policy_chosen - np.asarray(reference_chosen, np.float64))
    rejected_reward = beta * (policy_rejected - np.asarray(reference_rejected, np.float64))
    figures = {"pairs": n, "reward_chosen_sum": float(chosen_reward.sum()),
               "reward_rejected_sum": float(rejected_reward.sum()), "reward_margin_sum": float(beta * h.sum()),
               "preference_correct": int(np.sum(h > 0))}
    return float(values.sum() / normaliser), dh, -dh, figures


def sequence_logprob_sums(logp, loss_mask) -> np.ndarray:
    """sum_t mask[b, t] logp[b, t] for each row b, as float64 (N,)."""
    module = array_module_of(logp)
    mask = module.asarray(loss_mask).astype(bool)
    return to_host(np.sum(np.where(mask, logp, 0.0), axis=-1)).astype(np.float64)


def preference_loss_fn(loss_mask, reference_sums, beta: float, loss: str = "sigmoid",
                       normaliser: int | None = None, captured: dict | None = None):
    """``loss_fn(logp, entropy)`` for ``Qwen3Model.token_loss_and_grads`` over a batch of 2n rows: the n
    chosen completions, then the n rejected ones, of the same n prompts in the same order.

    loss_mask (2n, T) marks completion tokens; reference_sums (2n,) the reference model's summed
    log-probabilities of the same rows.  dlogp[b, t] = mask[b, t] dL/dlogp_b (the sum's gradient).
    ``captured`` (a dict) receives the figures of :func:`preference_loss`.
    """

    def loss_fn(logp, entropy=None):
        module = array_module_of(logp)
        sums = sequence_logprob_sums(logp, loss_mask)  # (2n,)
        n = len(sums) // 2
        value, dchosen, drejected, figures = preference_loss(sums[:n], sums[n:], reference_sums[:n],
                                                             reference_sums[n:], beta, loss, normaliser)
        if captured is not None:
            captured.update(figures)
        dsums = module.asarray(np.concatenate([dchosen, drejected]).astype(logp.dtype))  # (2n,)
        dlogp = module.asarray(loss_mask).astype(logp.dtype) * dsums[:, None]  # (2n, T)
        return value, dlogp, None

    return loss_fn
