"""Grades exercises/tanh.py:   pytest exercises/ -k tanh

Read the layer below: it is how your two functions become a tinynn layer, trained by `fit`.
"""

import numpy as np

import tinynn
from exercises import grading
from tinynn import activations, layers

student = grading.load("tanh")
tanh = grading.Graded(student, "tanh")
tanh_backward = grading.Graded(student, "tanh_backward")


class StudentTanh(layers.Layer):
    """Y = tanh(X); backward: dX = tanh_backward(dY, X, Y)."""

    def forward(self, X, training=False):
        self.Z = X
        self.A = tanh(X)
        return self.A

    def backward(self, dY):
        return tanh_backward(dY, self.Z, self.A)


def test_tanh_1_shapes():
    Z = grading.seeded().normal(size=(4, 3))
    A = tanh(Z)
    grading.check_shape("tanh(Z)", A, (4, 3))
    grading.check_shape("tanh_backward(dA, Z, A)", tanh_backward(np.ones((4, 3)), Z, A), (4, 3))


def test_tanh_2_gradcheck():
    """Your backward against central differences of your forward, in float64."""
    Z = grading.seeded().normal(size=(6, 5))
    grading.check_gradcheck(tinynn.gradcheck(StudentTanh(name="your_tanh"), Z, verbose=False),
                            "tanh_backward")


def test_tanh_3_matches_tinynn():
    rng = grading.seeded()
    Z = rng.normal(size=(7, 6)) * 3  # some in tanh's flat tails, where the derivative is ~0
    dA = rng.normal(size=Z.shape)
    A = activations.tanh(Z)
    grading.check_close("tanh(Z)", tanh(Z), A)
    grading.check_close("dZ", tanh_backward(dA, Z, A), activations.tanh_backward(dA, Z, A))


def test_tanh_4_trains_on_fashion_mnist(fashion_small):
    """784 -> 64 -> your Tanh -> 10, 3 epochs of Adam."""
    grading.seeded()
    model = tinynn.Sequential([tinynn.Input((28, 28)), layers.Flatten(), layers.Dense(64),
                               StudentTanh(), layers.Dense(10, activation="softmax")])
    model.compile(optimizer=tinynn.optimizers.Adam(1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    grading.check_accuracy(grading.train_and_score(model, fashion_small), 0.75, "Tanh")
