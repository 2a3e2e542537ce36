"""Grades exercises/softmax_cross_entropy.py:   pytest exercises/ -k softmax

Read the loss below: it is how your functions become a tinynn loss, trained by `fit`.
"""

import numpy as np
import pytest

import tinynn
from exercises import grading
from tinynn import activations, layers, losses
from tinynn.gradient_check import numerical_grad, passes

student = grading.load("softmax_cross_entropy")
softmax = grading.Graded(student, "softmax")
softmax_cross_entropy = grading.Graded(student, "softmax_cross_entropy")
softmax_cross_entropy_backward = grading.Graded(student, "softmax_cross_entropy_backward")


class StudentCrossEntropy(losses.Loss):
    """Cross-entropy from logits: call gives your per-sample losses, gradient your dZ."""

    def call(self, y_true, y_pred):
        return softmax_cross_entropy(y_pred, np.asarray(y_true).reshape(-1))

    def gradient(self, y_true, y_pred):
        return softmax_cross_entropy_backward(y_pred, np.asarray(y_true).reshape(-1))


def _batch(rng, N=5, C=4):
    return rng.normal(size=(N, C)) * 2, rng.integers(0, C, size=N)


def test_softmax_1_shapes():
    Z, y = _batch(grading.seeded())
    P = softmax(Z)
    grading.check_shape("softmax(Z)", P, (5, 4))
    if not np.allclose(np.sum(P, axis=1), 1):
        pytest.fail(f"each row of softmax(Z) should sum to 1, got {np.sum(P, axis=1)}.",
                    pytrace=False)
    grading.check_shape("softmax_cross_entropy(Z, y) (one loss per sample)",
                        softmax_cross_entropy(Z, y), (5,))
    grading.check_shape("softmax_cross_entropy_backward(Z, y)",
                        softmax_cross_entropy_backward(Z, y), (5, 4))


def test_softmax_2_gradcheck():
    """Your dZ against central differences of your own mean loss, in float64."""
    Z, y = _batch(grading.seeded())
    analytic = np.asarray(softmax_cross_entropy_backward(Z, y), dtype=np.float64)
    numeric = numerical_grad(lambda: float(np.mean(softmax_cross_entropy(Z, y))), Z)
    ok = passes(analytic, numeric)
    if not ok.all():
        i = np.unravel_index(np.argmax(np.abs(analytic - numeric)), Z.shape)
        pytest.fail(
            f"dZ is not the derivative of the mean of your losses: {(~ok).sum()} of {ok.size} "
            f"entries differ; worst at {tuple(int(k) for k in i)} (sample {i[0]}, label "
            f"{y[i[0]]}): yours {analytic[i]:.6g}, central difference {numeric[i]:.6g} "
            f"(ratio {analytic[i] / numeric[i]:.4g}).\nyours:\n{analytic}\nnumeric:\n{numeric}",
            pytrace=False)


def test_softmax_3_huge_logits_stay_finite():
    Z = np.array([[1000.0, 0.0, -1000.0], [-1000.0, -1000.0, -999.0]])
    y = np.array([2, 2])
    for name, value in (("softmax(Z)", softmax(Z)), ("softmax_cross_entropy(Z, y)",
                                                     softmax_cross_entropy(Z, y)),
                        ("softmax_cross_entropy_backward(Z, y)",
                         softmax_cross_entropy_backward(Z, y))):
        if not np.all(np.isfinite(value)):
            pytest.fail(f"{name} is not finite for logits of size 1000:\n{value}\nSubtract "
                        "each row's max before exp, and compute the loss from the logits "
                        "(logsumexp), not as log(P).", pytrace=False)
    grading.check_close("the losses for logits of size 1000", softmax_cross_entropy(Z, y),
                        [2000.0, np.log(1 + 2 * np.exp(-1.0))], rtol=1e-12)


def test_softmax_4_matches_tinynn():
    Z, y = _batch(grading.seeded(), N=7, C=5)
    grading.check_close("P", softmax(Z), activations.softmax(Z))
    grading.check_close("l", softmax_cross_entropy(Z, y), losses.softmax_cross_entropy(Z, y))
    grading.check_close("dZ", softmax_cross_entropy_backward(Z, y),
                        losses.softmax_cross_entropy_backward(Z, y),
                        hint="dZ is the gradient of the MEAN loss: (P - onehot(y)) / N.")


def test_softmax_5_trains_on_fashion_mnist(fashion_small):
    """784 -> 64 (ReLU) -> 10 logits, trained with your loss and its gradient, 3 epochs of Adam."""
    grading.seeded()
    model = tinynn.Sequential([tinynn.Input((28, 28)), layers.Flatten(),
                               layers.Dense(64, activation="relu"), layers.Dense(10)])
    model.compile(optimizer=tinynn.optimizers.Adam(1e-3), loss=StudentCrossEntropy(),
                  metrics=["accuracy"])
    grading.check_accuracy(grading.train_and_score(model, fashion_small), 0.75,
                           "softmax cross-entropy")
