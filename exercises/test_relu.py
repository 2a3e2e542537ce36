"""Grades exercises/relu.py:   pytest exercises/ -k relu

Read the layer below: it is how your two functions become a tinynn layer, trained by `fit`.
"""

import numpy as np

import tinynn
from exercises import grading
from tinynn import activations, layers

student = grading.load("relu")
relu = grading.Graded(student, "relu")
relu_backward = grading.Graded(student, "relu_backward")


class StudentReLU(layers.Layer):
    """Y = relu(X); backward: dX = relu_backward(dY, X, Y)."""

    def forward(self, X, training=False):
        self.Z = X
        self.A = relu(X)
        return self.A

    def backward(self, dY):
        return relu_backward(dY, self.Z, self.A)


def test_relu_1_shapes():
    Z = grading.seeded().normal(size=(4, 3))
    A = relu(Z)
    grading.check_shape("relu(Z)", A, (4, 3))
    grading.check_shape("relu_backward(dA, Z, A)", relu_backward(np.ones((4, 3)), Z, A), (4, 3))


def test_relu_2_gradcheck():
    """Your backward against central differences of your forward, in float64."""
    Z = grading.seeded().normal(size=(6, 5))  # no entry within h of the kink at 0
    grading.check_gradcheck(tinynn.gradcheck(StudentReLU(name="your_relu"), Z, verbose=False),
                            "relu_backward")


def test_relu_3_matches_tinynn():
    rng = grading.seeded()
    Z = rng.normal(size=(7, 6))
    Z[0, :3] = 0.0  # at exactly 0 the derivative is taken as 0
    dA = rng.normal(size=Z.shape)
    A = activations.relu(Z)
    grading.check_close("relu(Z)", relu(Z), A)
    grading.check_close("dZ", relu_backward(dA, Z, A), activations.relu_backward(dA, Z, A),
                        hint="Where Z is exactly 0, tinynn (like Keras) uses the derivative 0.")


def test_relu_4_trains_on_fashion_mnist(fashion_small):
    """784 -> 64 -> your ReLU -> 10, 3 epochs of Adam."""
    grading.seeded()
    model = tinynn.Sequential([tinynn.Input((28, 28)), layers.Flatten(), layers.Dense(64),
                               StudentReLU(), layers.Dense(10, activation="softmax")])
    model.compile(optimizer=tinynn.optimizers.Adam(1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    grading.check_accuracy(grading.train_and_score(model, fashion_small), 0.75, "ReLU")
