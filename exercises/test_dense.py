"""Grades exercises/dense.py:   pytest exercises/ -k dense

Read the layer below: it is how your two functions become a tinynn layer, trained by `fit`.
"""

import numpy as np
import pytest

import tinynn
from exercises import grading
from tinynn import layers, losses, ops

student = grading.load("dense")
dense_forward = grading.Graded(student, "dense_forward")
dense_backward = grading.Graded(student, "dense_backward")


class StudentDense(layers.Layer):
    """Y = dense_forward(X, W, b); backward: (dX, dW, db) = dense_backward(dY, X, W)."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.add_weight((input_shape[-1], self.units), "glorot_uniform", name="kernel")
        self.add_weight((self.units,), "zeros", name="bias")

    def forward(self, X, training=False):
        self.X = X  # what backward needs
        return dense_forward(X, self.params["kernel"], self.params["bias"])

    def backward(self, dY):
        dX, dW, db = dense_backward(dY, self.X, self.params["kernel"])
        self.grads["kernel"] = dW  # copied into the array the optimizer reads
        self.grads["bias"] = db
        return dX

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def _arrays(rng, N=4, n_in=5, units=3):
    return rng.normal(size=(N, n_in)), rng.normal(size=(n_in, units)), rng.normal(size=units)


def test_dense_1_shapes():
    X, W, b = _arrays(grading.seeded())
    grading.check_shape("dense_forward(X, W, b)", dense_forward(X, W, b), (4, 3))
    out = dense_backward(np.ones((4, 3)), X, W)
    if not isinstance(out, tuple) or len(out) != 3:
        pytest.fail("dense_backward should return a tuple (dX, dW, db).", pytrace=False)
    for name, value, shape in zip(("dX", "dW", "db"), out, ((4, 5), (5, 3), (3,)), strict=True):
        grading.check_shape(f"{name} from dense_backward", value, shape)


def test_dense_2_gradcheck():
    """Your backward against central differences of your forward, in float64."""
    rng = grading.seeded()
    X = rng.normal(size=(4, 5))
    layer = StudentDense(3, name="your_dense")
    layer(X)  # builds the weights
    layer.set_weights([rng.normal(size=(5, 3)), rng.normal(size=3)])
    grading.check_gradcheck(tinynn.gradcheck(layer, X, verbose=False), "dense_backward")


def test_dense_3_matches_tinynn():
    rng = grading.seeded()
    X, W, b = _arrays(rng, N=7, n_in=6, units=4)
    dZ = rng.normal(size=(7, 4))
    grading.check_close("Z", dense_forward(X, W, b), ops.dense_forward(X, W, b))
    for name, ours, ref in zip(("dX", "dW", "db"), dense_backward(dZ, X, W),
                               ops.dense_backward(dZ, X, W), strict=True):
        grading.check_close(name, ours, ref)


def test_dense_4_trains_on_fashion_mnist(fashion_small):
    """784 -> 64 (ReLU) -> 10, both Dense layers yours, 3 epochs of Adam."""
    grading.seeded()
    model = tinynn.Sequential([tinynn.Input((28, 28)), layers.Flatten(), StudentDense(64),
                               layers.ReLU(), StudentDense(10)])
    model.compile(optimizer=tinynn.optimizers.Adam(1e-3),
                  loss=losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    grading.check_accuracy(grading.train_and_score(model, fashion_small), 0.75, "dense layer")
