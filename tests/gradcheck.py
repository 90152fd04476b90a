"""Central finite differences in float64, used by every gradient test."""

from __future__ import annotations

import numpy as np


def numerical_gradient(function, array: np.ndarray, step: float = 1e-6) -> np.ndarray:
    """d function() / d array by central differences, perturbing ``array`` in place (restored after)."""
    gradient = np.zeros_like(array)
    flat, flat_gradient = array.reshape(-1), gradient.reshape(-1)
    for index in range(flat.size):
        original = flat[index]
        flat[index] = original + step
        plus = function()
        flat[index] = original - step
        minus = function()
        flat[index] = original
        flat_gradient[index] = (plus - minus) / (2 * step)
    return gradient


def assert_gradients_close(analytic, numeric, name="", rtol=1e-5, atol=1e-7):
    analytic, numeric = np.asarray(analytic), np.asarray(numeric)
    assert analytic.shape == numeric.shape, f"{name}: shape {analytic.shape} != {numeric.shape}"
    error = np.abs(analytic - numeric)
    tolerance = atol + rtol * np.abs(numeric)
    worst = np.unravel_index(np.argmax(error - tolerance), error.shape) if error.size else ()
    assert np.all(error <= tolerance), (
        f"{name}: gradient mismatch, max abs error {error.max():.3e} at {worst}: "
        f"analytic {analytic[worst]:.6e} numeric {numeric[worst]:.6e}"
    )


def random_upstream(rng: np.random.Generator, shape) -> np.ndarray:
    """A random upstream gradient (never all ones: that hides bugs that cancel across elements)."""
    return rng.standard_normal(shape)
