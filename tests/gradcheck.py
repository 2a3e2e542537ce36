"""Central-difference gradient checking in float64, shared by the tests."""

import numpy as np


def numerical_grad(f, X: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """d f / d X by central differences: (f(X + h e_i) - f(X - h e_i)) / 2h, one entry at a time."""
    G = np.zeros_like(X)
    it = np.nditer(X, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = X[i]
        X[i] = old + h
        up = f()
        X[i] = old - h
        down = f()
        X[i] = old
        G[i] = (up - down) / (2 * h)
    return G


def assert_grad_close(analytic, numeric, name: str, rtol: float = 1e-5, atol: float = 1e-7):
    """Fail with the parameter name and the worst index when the gradients disagree."""
    err = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
    if (err > 0).any():
        i = np.unravel_index(np.argmax(err), err.shape)
        raise AssertionError(
            f"gradient of {name} wrong at index {i}: analytic {analytic[i]:.8g}, "
            f"numeric {numeric[i]:.8g} (max abs diff {np.abs(analytic - numeric).max():.3g})"
        )
