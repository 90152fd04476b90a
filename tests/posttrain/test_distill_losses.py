"""minireason.posttrain.distill and dpo: every distillation and preference loss against central finite differences
(float64, hypothesis, a random upstream), values by hand, the JSD limits, temperature scaling, the
teacher top-k restriction, chunking, the two model seams, and the errors."""

import math

import numpy as np
import pytest
from gradcheck import assert_gradients_close, numerical_gradient
from hypothesis import given, settings
from hypothesis import strategies as st

from minireason.config import ModelConfig
from minireason.errors import InputError
from minireason.model import Qwen3Model
from minireason.posttrain.distill import DISTILL_LOSSES, distillation_loss, divergence_and_gradient
from minireason.posttrain.dpo import preference_loss, preference_loss_fn, sequence_logprob_sums
from minireason.posttrain.teacher import TeacherDistribution, teacher_distribution

seeds = st.integers(0, 2**31 - 1)


def log_softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def reference_divergence(p, q, loss, beta=0.5):
    """The three divergences of two probability vectors, written out with math.log."""
    def kl(a, b):
        return sum(x * (math.log(x) - math.log(y)) for x, y in zip(a, b) if x > 0)

    if loss == "fkl":
        return kl(p, q)
    if loss == "rkl":
        return kl(q, p)
    m = [beta * x + (1 - beta) * y for x, y in zip(p, q)]
    return beta * kl(p, m) + (1 - beta) * kl(q, m)


# ------------------------------------------------------------------ the per-position divergences
@settings(max_examples=30, deadline=None)
@given(seed=seeds, loss=st.sampled_from(DISTILL_LOSSES), beta=st.sampled_from([0.1, 0.5, 0.9]))
def test_divergence_gradient_matches_finite_differences(seed, loss, beta):
    rng = np.random.default_rng(seed)
    n, K = rng.integers(1, 4), rng.integers(2, 7)
    teacher_logp = log_softmax(rng.normal(0, 2, (n, K)))
    u = rng.normal(0, 2, (n, K))
    upstream = rng.standard_normal(n)  # a random weight per position

    def objective():
        values, _ = divergence_and_gradient(teacher_logp, log_softmax(u), loss, beta)
        return float(values @ upstream)

    _, gradient = divergence_and_gradient(teacher_logp, log_softmax(u), loss, beta)
    assert_gradients_close(gradient * upstream[:, None], numerical_gradient(objective, u), f"{loss} d/du")


@pytest.mark.parametrize("loss", DISTILL_LOSSES)
def test_divergence_values_by_hand(loss):
    rng = np.random.default_rng(3)
    teacher_logp, student_logp = log_softmax(rng.normal(0, 1.5, (4, 5))), log_softmax(rng.normal(0, 1.5, (4, 5)))
    values, _ = divergence_and_gradient(teacher_logp, student_logp, loss, 0.3)
    expected = [reference_divergence(np.exp(t), np.exp(s), loss, 0.3) for t, s in zip(teacher_logp, student_logp)]
    np.testing.assert_allclose(values, expected, rtol=1e-12)
    same, _ = divergence_and_gradient(teacher_logp, teacher_logp, loss, 0.3)
    np.testing.assert_allclose(same, 0.0, atol=1e-15)  # every divergence vanishes at q = p
    assert np.all(values > 0)


def test_jsd_limits_recover_the_two_kls():
    """JSD(beta) / beta -> KL(p || q) as beta -> 0 and JSD(beta) / (1 - beta) -> KL(q || p) as beta -> 1,
    values and gradients, with the error shrinking as beta approaches the limit."""
    rng = np.random.default_rng(11)
    teacher_logp, student_logp = log_softmax(rng.normal(0, 1.5, (3, 6))), log_softmax(rng.normal(0, 1.5, (3, 6)))
    forward, dforward = divergence_and_gradient(teacher_logp, student_logp, "fkl")
    reverse, dreverse = divergence_and_gradient(teacher_logp, student_logp, "rkl")
    errors = []
    for beta in (1e-2, 1e-4, 1e-6):
        low, dlow = divergence_and_gradient(teacher_logp, student_logp, "jsd", beta)
        high, dhigh = divergence_and_gradient(teacher_logp, student_logp, "jsd", 1 - beta)
        errors.append((np.abs(low / beta - forward).max(), np.abs(high / beta - reverse).max(),
                       np.abs(dlow / beta - dforward).max(), np.abs(dhigh / beta - dreverse).max()))
    errors = np.array(errors)
    assert np.all(errors[-1] < 1e-4), errors[-1]
    assert np.all(errors[1:] < errors[:-1])  # converging, not agreeing by accident


# ------------------------------------------------------------------ the (B, T, V) loss
def random_case(rng, B, T, V, top_k):
    student = rng.normal(0, 2, (B, T, V))
    teacher_logits = rng.normal(0, 2, (B, T, V))
    mask = rng.random((B, T)) < 0.7
    mask[0, 0] = True
    return student, teacher_logits, mask, teacher_distribution(teacher_logits, mask, top_k)


@settings(max_examples=25, deadline=None)
@given(seed=seeds, loss=st.sampled_from(DISTILL_LOSSES), temperature=st.sampled_from([0.5, 1.0, 2.0]),
       top_k=st.sampled_from([0, 2, 5]), chunk=st.sampled_from([1, 3, 1024]))
def test_distillation_loss_gradient_matches_finite_differences(seed, loss, temperature, top_k, chunk):
    rng = np.random.default_rng(seed)
    student, _, mask, teacher = random_case(rng, 2, 3, 6, top_k)
    upstream = float(rng.standard_normal())

    def objective():
        return upstream * distillation_loss(student, teacher, mask, loss, 0.4, temperature, chunk)[0]

    _, dlogits, _ = distillation_loss(student, teacher, mask, loss, 0.4, temperature, chunk)
    assert_gradients_close(upstream * dlogits, numerical_gradient(objective, student), f"{loss} dlogits")
    assert np.all(dlogits[~mask] == 0)  # positions outside the mask get no gradient


@pytest.mark.parametrize("loss", DISTILL_LOSSES)
def test_loss_is_tau_squared_times_the_mean_divergence_at_tau(loss):
    rng = np.random.default_rng(5)
    student, teacher_logits, mask, teacher = random_case(rng, 2, 4, 5, 0)
    tau = 2.5
    value, _, figures = distillation_loss(student, teacher, mask, loss, 0.3, tau)
    expected = np.mean([reference_divergence(np.exp(log_softmax(teacher_logits[b, t] / tau)),
                                             np.exp(log_softmax(student[b, t] / tau)), loss, 0.3)
                        for b, t in zip(*np.nonzero(mask))])
    assert value == pytest.approx(tau ** 2 * expected, rel=1e-12)
    assert figures["divergence"] == pytest.approx(expected, rel=1e-12)
    assert figures["positions"] == int(mask.sum())


@pytest.mark.parametrize("loss", DISTILL_LOSSES)
def test_top_k_is_the_divergence_of_both_distributions_renormalised_on_the_teachers_top_k(loss):
    rng = np.random.default_rng(8)
    student, teacher_logits, mask, _ = random_case(rng, 2, 3, 7, 0)
    k = 3
    value, _, _ = distillation_loss(student, teacher_distribution(teacher_logits, mask, k), mask, loss, 0.5)
    expected = []
    for b, t in zip(*np.nonzero(mask)):
        top = np.argsort(-teacher_logits[b, t])[:k]
        expected.append(reference_divergence(np.exp(log_softmax(teacher_logits[b, t, top])),
                                             np.exp(log_softmax(student[b, t, top])), loss, 0.5))
    assert value == pytest.approx(np.mean(expected), rel=1e-12)
    # k = V is the exact loss
    full, dfull, _ = distillation_loss(student, teacher_distribution(teacher_logits, mask, 0), mask, loss, 0.5)
    all_v, dall, _ = distillation_loss(student, teacher_distribution(teacher_logits, mask, 7), mask, loss, 0.5)
    assert all_v == pytest.approx(full, rel=1e-12)
    np.testing.assert_allclose(dall, dfull, atol=1e-15)


def test_float32_and_empty_mask():
    rng = np.random.default_rng(2)
    student, _, mask, teacher = random_case(rng, 2, 3, 9, 4)
    value64, d64, _ = distillation_loss(student, teacher, mask, "jsd", 0.5, 1.5)
    teacher32 = TeacherDistribution(teacher.logits.astype(np.float32), teacher.indices)
    value32, d32, _ = distillation_loss(student.astype(np.float32), teacher32, mask, "jsd", 0.5, 1.5)
    assert d32.dtype == np.float32
    assert value32 == pytest.approx(value64, rel=1e-5)
    np.testing.assert_allclose(d32, d64, atol=1e-6)
    empty = np.zeros_like(mask)
    value, dlogits, _ = distillation_loss(student, teacher_distribution(student, empty), empty, "fkl")
    assert value == 0.0 and not dlogits.any()


def test_distillation_errors():
    rng = np.random.default_rng(0)
    student, teacher_logits, mask, teacher = random_case(rng, 1, 3, 5, 0)
    with pytest.raises(InputError, match="must be one of fkl, rkl, jsd"):
        distillation_loss(student, teacher, mask, "kl")
    with pytest.raises(InputError, match=r"beta must lie in \(0, 1\)"):
        distillation_loss(student, teacher, mask, "jsd", beta=1.0)
    with pytest.raises(InputError, match="temperature"):
        distillation_loss(student, teacher, mask, "fkl", temperature=0.0)
    wider = teacher_distribution(np.concatenate([teacher_logits, teacher_logits], axis=-1), mask)
    with pytest.raises(InputError, match="share a tokenizer"):
        distillation_loss(student, wider, mask, "fkl")
    with pytest.raises(InputError, match="positions"):
        distillation_loss(student, teacher_distribution(teacher_logits, np.ones_like(mask)), mask & False, "fkl")


# ------------------------------------------------------------------ preferences
@settings(max_examples=30, deadline=None)
@given(seed=seeds, loss=st.sampled_from(["sigmoid", "ipo"]), beta=st.sampled_from([0.05, 0.5, 2.0]))
def test_preference_loss_gradient_matches_finite_differences(seed, loss, beta):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 5))
    chosen, rejected = rng.normal(-20, 5, n), rng.normal(-20, 5, n)
    reference_chosen, reference_rejected = chosen + rng.normal(0, 2, n), rejected + rng.normal(0, 2, n)
    upstream = float(rng.standard_normal())

    def objective():
        return upstream * preference_loss(chosen, rejected, reference_chosen, reference_rejected, beta, loss)[0]

    _, dchosen, drejected, _ = preference_loss(chosen, rejected, reference_chosen, reference_rejected, beta, loss)
    assert_gradients_close(upstream * dchosen, numerical_gradient(objective, chosen), "dchosen")
    assert_gradients_close(upstream * drejected, numerical_gradient(objective, rejected), "drejected")


def test_preference_values_by_hand():
    # h = (-10 - -12) - (-15 - -14) = 3
    value, dchosen, drejected, figures = preference_loss([-10.0], [-15.0], [-12.0], [-14.0], beta=0.5)
    assert value == pytest.approx(math.log(1 + math.exp(-1.5)))
    assert dchosen[0] == pytest.approx(-0.5 / (1 + math.exp(1.5))) and drejected[0] == -dchosen[0]
    assert figures["reward_margin_sum"] == pytest.approx(1.5) and figures["preference_correct"] == 1
    assert figures["reward_chosen_sum"] == pytest.approx(1.0) and figures["reward_rejected_sum"] == pytest.approx(-0.5)
    value, dchosen, _, _ = preference_loss([-10.0], [-15.0], [-12.0], [-14.0], beta=0.5, loss="ipo")
    assert value == pytest.approx((3 - 1) ** 2) and dchosen[0] == pytest.approx(2 * (3 - 1))
    # no difference from the reference: log 2, and a large margin does not overflow
    assert preference_loss([-3.0], [-4.0], [-3.0], [-4.0], beta=0.1)[0] == pytest.approx(math.log(2))
    value, dchosen, _, _ = preference_loss([0.0], [-1e5], [0.0], [0.0], beta=1.0)
    assert value == pytest.approx(0.0, abs=1e-12) and abs(dchosen[0]) < 1e-12
    with pytest.raises(InputError, match="sigmoid, ipo"):
        preference_loss([0.0], [0.0], [0.0], [0.0], beta=0.1, loss="hinge")
    with pytest.raises(InputError, match="beta"):
        preference_loss([0.0], [0.0], [0.0], [0.0], beta=0.0)


# ------------------------------------------------------------------ through the model's two seams
def tiny_model(seed, vocab=11):
    config = ModelConfig(vocab_size=vocab, hidden_size=8, intermediate_size=12, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=4, rope_theta=100.0)
    model = Qwen3Model.from_config(config, seed=seed, dtype="float64")
    rng = np.random.default_rng(seed + 1)
    for value in model.params.values():
        value += 0.3 * rng.standard_normal(value.shape)
    return model


def some_entries_numerically(model, objective, names, rng, count=4):
    """(analytic index list, numeric values) for a few random entries of the named parameters."""
    checks = []
    for name in names:
        flat = model.params[name].reshape(-1)
        for index in rng.choice(flat.size, count, replace=False):
            original = flat[index]
            flat[index] = original + 1e-6
            plus = objective()
            flat[index] = original - 1e-6
            minus = objective()
            flat[index] = original
            checks.append((name, index, (plus - minus) / 2e-6))
    return checks


@pytest.mark.parametrize("loss", DISTILL_LOSSES)
def test_logit_distillation_through_the_model_matches_finite_differences(loss):
    rng = np.random.default_rng(4)
    student, teacher_model = tiny_model(0), tiny_model(7)
    token_ids = rng.integers(0, 11, (2, 5))
    attention_mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=bool)
    loss_mask = attention_mask & (np.arange(5) >= 1)
    teacher = teacher_distribution(teacher_model.logits(token_ids, attention_mask), loss_mask, top_k=4)

    def loss_fn(logits):
        value, dlogits, _ = distillation_loss(logits, teacher, loss_mask, loss, 0.5, 1.7)
        return value, dlogits

    value, grads = student.logits_loss_and_grads(token_ids, loss_fn, attention_mask)

    def objective():
        return loss_fn(student.logits(token_ids, attention_mask))[0]

    assert value == pytest.approx(objective(), rel=1e-12)
    for name, index, numeric in some_entries_numerically(student, objective, ["model.embed_tokens.weight",
                                                                             "model.layers.0.mlp.up_proj.weight"],
                                                          rng):
        assert grads[name].reshape(-1)[index] == pytest.approx(numeric, rel=1e-5, abs=1e-8), name


@pytest.mark.parametrize("loss", ["sigmoid", "ipo"])
def test_dpo_through_the_model_matches_finite_differences(loss):
    rng = np.random.default_rng(9)
    policy, reference = tiny_model(1), tiny_model(1)
    for value in policy.params.values():
        value += 0.05 * rng.standard_normal(value.shape)  # the policy has moved away from the reference
    n, T = 2, 6
    token_ids = rng.integers(0, 11, (2 * n, T))
    targets = rng.integers(0, 11, (2 * n, T))
    loss_mask = np.zeros((2 * n, T), dtype=bool)
    loss_mask[:, 2:] = True
    loss_mask[1, 5] = False  # completions of different lengths
    reference_sums = sequence_logprob_sums(reference.token_logprobs(token_ids, targets)[0], loss_mask)
    loss_fn = preference_loss_fn(loss_mask, reference_sums, 0.7, loss)
    value, grads, figures = policy.token_loss_and_grads(token_ids, targets, loss_fn, loss_mask)
    assert figures["pairs"] == n

    def objective():
        return loss_fn(policy.token_logprobs(token_ids, targets)[0])[0]

    assert value == pytest.approx(objective(), rel=1e-12)
    for name, index, numeric in some_entries_numerically(policy, objective, ["model.norm.weight",
                                                                            "model.layers.0.self_attn.q_proj.weight"],
                                                          rng):
        assert grads[name].reshape(-1)[index] == pytest.approx(numeric, rel=1e-5, abs=1e-8), name


def test_logits_seam_refuses_a_wrong_gradient_shape():
    model = tiny_model(0)
    with pytest.raises(InputError, match="dlogits of shape"):
        model.logits_loss_and_grads(np.zeros((1, 3), dtype=int), lambda logits: (0.0, logits[:, :2]))
