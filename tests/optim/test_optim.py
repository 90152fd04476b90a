import math

import numpy as np
import pytest

from minireason import Qwen3Model
from minireason.config import PRESETS
from minireason.optim import AdamW, clip_grad_norm, cosine_schedule


def test_adamw_matches_a_hand_computed_sequence():
    """Two steps on a 1-element 'matrix', worked out by hand from the AdamW update rule."""
    lr, beta1, beta2, eps, wd = 0.1, 0.9, 0.99, 1e-8, 0.5
    params = {"w": np.array([[1.0]])}
    optimizer = AdamW(lr, (beta1, beta2), eps, wd)
    # step 1, g = 2: m = 0.2, v = 0.04; m_hat = 2, v_hat = 4; update = 2 / 2 = 1
    # decoupled decay first: w = 1 - 0.1 * 0.5 * 1 = 0.95, then w = 0.95 - 0.1 * 1 = 0.85
    optimizer.step(params, {"w": np.array([[2.0]])})
    assert params["w"][0, 0] == pytest.approx(0.85, abs=1e-9)
    # step 2, g = -1: m = 0.18 - 0.1 = 0.08, v = 0.0396 + 0.01 = 0.0496
    # m_hat = 0.08 / 0.19, v_hat = 0.0496 / 0.0199
    m_hat, v_hat = 0.08 / (1 - 0.9**2), 0.0496 / (1 - 0.99**2)
    expected = 0.85 - 0.1 * 0.5 * 0.85 - 0.1 * m_hat / (math.sqrt(v_hat) + eps)
    optimizer.step(params, {"w": np.array([[-1.0]])})
    assert params["w"][0, 0] == pytest.approx(expected, abs=1e-9)


def test_adamw_skips_decay_for_vectors_and_state_round_trips():
    params = {"norm": np.array([1.0, 1.0]), "w": np.ones((2, 2))}
    optimizer = AdamW(0.1, weight_decay=1.0)
    zero = {"norm": np.zeros(2), "w": np.zeros((2, 2))}
    optimizer.step(params, zero)
    assert np.all(params["norm"] == 1.0) and np.allclose(params["w"], 0.9)
    restored = AdamW(0.1, weight_decay=1.0)
    restored.load_state_dict(optimizer.state_dict())
    grads = {"norm": np.array([0.3, -0.2]), "w": np.full((2, 2), 0.1)}
    a, b = {k: v.copy() for k, v in params.items()}, {k: v.copy() for k, v in params.items()}
    optimizer.step(a, grads)
    restored.step(b, grads)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_clip_grad_norm():
    grads = {"a": np.array([3.0]), "b": np.array([[4.0]])}
    clipped, norm = clip_grad_norm(grads, 1.0)
    assert norm == pytest.approx(5.0)
    assert clipped["a"][0] == pytest.approx(0.6) and clipped["b"][0, 0] == pytest.approx(0.8)
    unchanged, _ = clip_grad_norm(grads, 10.0)
    assert unchanged["a"][0] == 3.0


def test_cosine_schedule_shape():
    assert cosine_schedule(0, 1.0, 10, 110) == pytest.approx(0.1)
    assert cosine_schedule(9, 1.0, 10, 110) == pytest.approx(1.0)
    assert cosine_schedule(60, 1.0, 10, 110) == pytest.approx(0.1 + 0.9 * 0.5)
    assert cosine_schedule(110, 1.0, 10, 110) == pytest.approx(0.1)


def test_tiny_model_overfits_one_sequence():
    model = Qwen3Model.from_config(PRESETS["test-tiny"], seed=0)
    sequence = np.random.default_rng(0).integers(0, 64, (1, 17))
    optimizer = AdamW(learning_rate=1e-2)
    losses = []
    for _ in range(80):
        loss, grads = model.loss_and_grads(sequence[:, :-1], sequence[:, 1:])
        grads, _ = clip_grad_norm(grads, 1.0)
        optimizer.step(model.params, grads)
        losses.append(loss)
    assert losses[0] > 3.5
    assert losses[-1] < 0.1
