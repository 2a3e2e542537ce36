"""`tinynn.graph.trace`: the lesson's network as named arrays whose values and gradients are the
ones docs/backprop.md derives, whichever way the model ends; the model keeps its weights."""

import numpy as np
import pytest

import tinynn
from tinynn import activations, graph, layers, losses, ops
from tinynn.gradient_check import numerical_grad


def lesson(ending: str):
    """Dense -> ReLU -> Dense -> softmax cross-entropy, ended three equivalent ways."""
    tinynn.utils.set_random_seed(0)
    last = {"logits": [layers.Dense(3)],
            "dense_softmax": [layers.Dense(3, activation="softmax")],
            "softmax_layer": [layers.Dense(3), layers.Softmax()]}[ending]
    model = tinynn.Sequential([tinynn.Input((5,)), layers.Dense(3), layers.ReLU(), *last])
    loss = losses.SparseCategoricalCrossentropy(from_logits=ending == "logits")
    model.compile(loss=loss)
    rng = np.random.default_rng(0)
    return model, rng.normal(size=(4, 5)), np.array([0, 2, 1, 2])


@pytest.mark.parametrize("ending", ["logits", "dense_softmax", "softmax_layer"])
def test_the_lesson_graph_has_the_derived_values_and_gradients(ending, float64):
    model, X, y = lesson(ending)
    nodes = {n.name: n for n in graph.trace(model, X, y)}
    assert list(nodes) == ["X", "W1", "b1", "Z1", "A1", "W2", "b2", "Z2", "P", "L"]
    W1, b1, W2, b2 = (nodes[k].value for k in ("W1", "b1", "W2", "b2"))
    Z1 = ops.dense_forward(X, W1, b1)
    A1 = activations.relu(Z1)
    Z2 = ops.dense_forward(A1, W2, b2)
    P = activations.softmax(Z2)
    dZ2 = losses.softmax_cross_entropy_backward(Z2, y)
    dA1, dW2, db2 = ops.dense_backward(dZ2, A1, W2)
    dZ1 = activations.relu_backward(dA1, Z1, A1)
    dX, dW1, db1 = ops.dense_backward(dZ1, X, W1)
    expected = {"Z1": (Z1, dZ1), "A1": (A1, dA1), "Z2": (Z2, dZ2), "W1": (W1, dW1),
                "b1": (b1, db1), "W2": (W2, dW2), "b2": (b2, db2), "X": (X, dX)}
    for name, (value, grad) in expected.items():
        np.testing.assert_allclose(nodes[name].value, value, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(nodes[name].grad, grad, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(nodes["P"].value, P, atol=1e-12)
    onehot = np.eye(3)[y]  # dL/dP = -onehot / (N P): only the label's entry
    np.testing.assert_allclose(nodes["P"].grad, -onehot / (4 * np.where(onehot, P, 1)))
    assert float(nodes["L"].value) == pytest.approx(losses.softmax_cross_entropy(Z2, y).mean())
    assert nodes["Z1"].inputs == ["X", "W1", "b1"] and nodes["L"].inputs == ["P"]


def test_every_gradient_is_the_numerical_one_through_flatten_dropout_and_tanh(float64):
    tinynn.utils.set_random_seed(1)
    model = tinynn.Sequential([tinynn.Input((2, 3)), layers.Flatten(),
                               layers.Dense(4, activation="tanh"), layers.Dropout(0.5),
                               layers.Dense(3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy")
    X = np.random.default_rng(1).normal(size=(5, 2, 3))
    y = np.array([0, 1, 2, 1, 0])
    nodes = {n.name: n for n in graph.trace(model, X, y)}
    assert list(nodes) == ["X", "X_flat", "W1", "b1", "Z1", "A1", "D1", "W2", "b2", "Z2", "P",
                           "L"]
    assert "identity at inference" in nodes["D1"].formula

    def L():
        return float(np.mean(model._loss_values(model._forward(X, False), y)))

    np.testing.assert_allclose(nodes["X"].grad, numerical_grad(L, X), atol=1e-8)
    for name, layer, key in (("W1", model.layers[1], "kernel"), ("b2", model.layers[3], "bias")):
        np.testing.assert_allclose(nodes[name].grad, numerical_grad(L, layer.params[key]),
                                   atol=1e-8)
    assert nodes["X_flat"].grad.shape == (5, 6) and nodes["X"].grad.shape == (5, 2, 3)


def test_trace_leaves_the_model_as_it_was():
    model, X, y = lesson("dense_softmax")
    before = model.get_weights()
    flags = [layer.compute_input_grad for layer in model.layers]
    graph.trace(model, X.astype(np.float32), y)
    for a, b in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)
    assert [layer.compute_input_grad for layer in model.layers] == flags
    model.fit(X.astype(np.float32), y, epochs=1, verbose=0)  # still trains


def test_a_loss_of_ones_own_ends_the_graph(float64):
    class Squared(losses.Loss):
        def call(self, y_true, y_pred):
            return ((y_pred - np.eye(3)[y_true]) ** 2).sum(axis=1)

        def gradient(self, y_true, y_pred):
            return 2 * (y_pred - np.eye(3)[y_true]) / len(y_pred)

    model, X, y = lesson("logits")
    model.compile(loss=Squared())
    nodes = graph.trace(model, X, y)
    assert [n.name for n in nodes][-2:] == ["Z2", "L"]
    np.testing.assert_allclose(nodes[-2].grad, Squared().gradient(y, nodes[-2].value))
    assert nodes[-1].per_sample_loss.shape == (4,)
    with pytest.raises(ValueError, match="compile"):
        graph.trace(tinynn.Sequential([tinynn.Input((5,)), layers.Dense(2)]), X, y)
