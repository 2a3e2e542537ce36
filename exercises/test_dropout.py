"""Grades exercises/dropout.py:   pytest exercises/ -k dropout

Read the layer below: it is how your two functions become a tinynn layer, trained by `fit`.
"""

import numpy as np
import pytest

import tinynn
from exercises import grading
from tinynn import layers, ops

student = grading.load("dropout")
dropout_forward = grading.Graded(student, "dropout_forward")
dropout_backward = grading.Graded(student, "dropout_backward")


class StudentDropout(layers.Dropout):
    """tinynn's Dropout (its `rate`, `seed` and generator) with your forward and backward.

    In training: U uniform in [0, 1), (Y, mask) = dropout_forward(X, U, rate); backward:
    dX = dropout_backward(dY, mask) with the mask kept from the forward. At inference, Y = X.
    """

    def forward(self, X, training=False):
        if not training or self.rate == 0:
            self.mask = None
            return X
        U = self._rng.random(X.shape)  # gradcheck re-seeds this generator: a frozen mask
        Y, self.mask = dropout_forward(X, U, self.rate)
        return Y

    def backward(self, dY):
        return dY if self.mask is None else dropout_backward(dY, self.mask)


def _outputs(X, U, rate):
    out = dropout_forward(X, U, rate)
    if not isinstance(out, tuple) or len(out) != 2:
        pytest.fail("dropout_forward should return a tuple (Y, mask).", pytrace=False)
    return out


def test_dropout_1_shapes_and_scale():
    rng = grading.seeded()
    X = rng.normal(size=(400, 50))
    rate = 0.3
    Y, mask = _outputs(X, rng.random(X.shape), rate)
    grading.check_shape("Y from dropout_forward", Y, X.shape)
    grading.check_shape("mask from dropout_forward", mask, X.shape)
    grading.check_shape("dropout_backward(dY, mask)", dropout_backward(np.ones(X.shape), mask),
                        X.shape)
    kept = np.unique(np.asarray(mask)[np.asarray(mask) != 0])
    if not np.allclose(kept, 1 / (1 - rate)):
        pytest.fail(f"with rate={rate} the mask's kept entries should all be 1 / (1 - rate) = "
                    f"{1 / (1 - rate):.6g}, got the values {kept[:5]}.", pytrace=False)
    dropped = float(np.mean(np.asarray(mask) == 0))
    # 20,000 entries: the fraction dropped has standard deviation 0.0032 around the rate
    if abs(dropped - rate) > 0.02:
        pytest.fail(f"with rate={rate} about {rate:.0%} of the entries should be dropped, "
                    f"got {dropped:.1%}. Drop where U < rate.", pytrace=False)


def test_dropout_2_keeps_the_expected_value():
    """E[Y] = X: averaged over many masks, each output is its input."""
    rng = grading.seeded()
    X = np.linspace(-2, 2, 8).reshape(1, 8)
    rate = 0.5
    Ys = [np.asarray(_outputs(X, rng.random(X.shape), rate)[0]) for _ in range(4000)]
    mean = np.mean(Ys, axis=0)
    # each output is 0 or 2x, so the mean of 4,000 has standard deviation |x| / 63 <= 0.032
    if np.abs(mean - X).max() > 0.15:
        pytest.fail(f"the mean of Y over 4,000 masks should be X (inverted dropout scales the "
                    f"kept entries by 1 / (1 - rate)):\nX    {X.ravel()}\nmean {mean.ravel()}",
                    pytrace=False)


def test_dropout_3_gradcheck():
    """Your backward against central differences of your forward, in float64, mask frozen."""
    X = grading.seeded().normal(size=(6, 5))
    layer = StudentDropout(0.4, seed=1, name="your_dropout")
    grading.check_gradcheck(tinynn.gradcheck(layer, X, verbose=False), "dropout_backward")


def test_dropout_4_matches_tinynn():
    rng = grading.seeded()
    X, U, dY = rng.normal(size=(7, 6)), rng.random((7, 6)), rng.normal(size=(7, 6))
    for rate in (0.0, 0.25, 0.6):
        Y, mask = _outputs(X, U, rate)
        Y_ref, mask_ref = ops.dropout_train(X, U, rate)
        grading.check_close(f"mask (rate={rate})", mask, mask_ref,
                            hint="Drop where U < rate; scale what is kept by 1 / (1 - rate).")
        grading.check_close(f"Y (rate={rate})", Y, Y_ref)
        grading.check_close(f"dX (rate={rate})", dropout_backward(dY, mask),
                            ops.dropout_backward(dY, mask_ref))


def test_dropout_5_trains_on_fashion_mnist(fashion_small):
    """784 -> 128 (ReLU) -> your dropout (rate 0.3) -> 10, 3 epochs of Adam."""
    grading.seeded()
    model = tinynn.Sequential([tinynn.Input((28, 28)), layers.Flatten(),
                               layers.Dense(128, activation="relu"), StudentDropout(0.3),
                               layers.Dense(10, activation="softmax")])
    model.compile(optimizer=tinynn.optimizers.Adam(1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    grading.check_accuracy(grading.train_and_score(model, fashion_small), 0.75, "dropout")
