"""Keras's sparse cross-entropy on probabilities clips first and does not renormalise."""

import numpy as np

from tinynn import losses


def test_probabilities_are_clipped_not_renormalised():
    """Keras: l = -log(clip(P)_y / sum_k clip(P)_k) with clip to [1e-7, 1 - 1e-7]. A row with
    entries above 1 is clipped before the implicit normalisation (the softmax of log C)."""
    P = np.array([[2.0, 1.0, 0.5, 0.5, 1.0], [0.5, 0.3, 0.1, 0.05, 0.0]])
    y = np.array([1, 4])
    C = np.clip(P, 1e-7, 1 - 1e-7)
    expected = -np.log(C[[0, 1], y] / C.sum(axis=1))
    np.testing.assert_allclose(losses.probs_cross_entropy(P, y), expected, rtol=1e-12)
    assert abs(expected[0] - np.log(4.0)) < 1e-6  # not log(5), which renormalising first gives


def test_clipped_probabilities_get_no_gradient():
    P = np.array([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5]])
    dP = losses.probs_cross_entropy_backward(P, np.array([0, 2]))
    assert (dP[0] == 0).all() and (dP[1] != 0).all()
