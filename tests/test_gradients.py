"""float64 central-difference checks of every backward pass: Dense with each activation,
activation layers, Dropout with a fixed mask, and softmax cross-entropy on logits and on
probabilities. Each analytic gradient is compared entry by entry with a numerical one."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinynn import activations, layers, losses, ops
from tinynn.gradient_check import assert_grad_close, numerical_grad

ACTIVATIONS = ["linear", "relu", "tanh", "sigmoid", "softmax"]


def _rng(seed=0):
    return np.random.default_rng(seed)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_gradients(activation, float64):
    rng = _rng(1)
    layer = layers.Dense(4, activation=activation)
    X = rng.normal(size=(5, 3))
    layer(X)
    R = rng.normal(size=(5, 4))  # a random linear read-out makes the output a scalar

    def loss():
        return float((layer.forward(X, training=True) * R).sum())

    layer.forward(X, training=True)
    dX = layer.backward(R)
    assert_grad_close(dX, numerical_grad(loss, X), f"Dense({activation}) input X")
    for name, p in layer.params.items():
        assert_grad_close(layer.grads[name], numerical_grad(loss, p), f"Dense({activation}) {name}")


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation_functions(activation):
    forward, backward = activations.forward_backward(activation)
    rng = _rng(2)
    Z = rng.normal(size=(4, 6)) * 3
    R = rng.normal(size=(4, 6))
    dZ = backward(R, Z, forward(Z))
    assert_grad_close(dZ, numerical_grad(lambda: float((forward(Z) * R).sum()), Z), activation)


@pytest.mark.parametrize("layer_fn", [layers.ReLU, layers.Softmax,
                                      lambda: layers.Activation("tanh")])
def test_activation_layers(layer_fn):
    layer = layer_fn()
    rng = _rng(3)
    X = rng.normal(size=(3, 5))
    R = rng.normal(size=(3, 5))
    layer.forward(X)
    dX = layer.backward(R)
    assert_grad_close(dX, numerical_grad(lambda: float((layer.forward(X) * R).sum()), X),
                      f"{type(layer).__name__} input")


def test_dropout_fixed_mask():
    rng = _rng(4)
    X = rng.normal(size=(6, 7))
    mask = ops.dropout_mask(rng.random(X.shape), 0.4, X.dtype)
    R = rng.normal(size=X.shape)
    dX = ops.dropout_backward(R, mask)
    num = numerical_grad(lambda: float((ops.dropout_forward(X, mask) * R).sum()), X)
    assert_grad_close(dX, num, "Dropout input")


def test_flatten_gradient():
    layer = layers.Flatten()
    X = _rng(5).normal(size=(2, 3, 4))
    Y = layer(X)
    assert Y.shape == (2, 12)
    assert np.array_equal(layer.backward(Y), X)


@pytest.mark.parametrize("from_logits", [True, False])
def test_cross_entropy_gradient(from_logits):
    rng = _rng(6)
    Z = rng.normal(size=(5, 4)) * 2
    y = rng.integers(0, 4, size=5)
    loss = losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    X = Z if from_logits else activations.softmax(Z) * 1.3  # unnormalised probabilities too
    dX = loss.gradient(y, X)
    assert_grad_close(dX, numerical_grad(lambda: loss(y, X), X),
                      f"cross-entropy from_logits={from_logits}")


def test_softmax_cross_entropy_through_softmax():
    """The fused path fit uses (loss from logits) equals softmax then the probability loss."""
    rng = _rng(7)
    Z = rng.normal(size=(8, 10))
    y = rng.integers(0, 10, size=8)
    fused = losses.softmax_cross_entropy(Z, y)
    via_probs = losses.probs_cross_entropy(activations.softmax(Z), y)
    np.testing.assert_allclose(fused, via_probs, rtol=1e-10)
    dZ_probs = activations.softmax_backward(
        losses.probs_cross_entropy_backward(activations.softmax(Z), y), Z, activations.softmax(Z))
    np.testing.assert_allclose(losses.softmax_cross_entropy_backward(Z, y), dZ_probs, atol=1e-12)


@given(n=st.integers(1, 6), c=st.integers(2, 7), scale=st.floats(0.1, 30), seed=st.integers(0, 999))
def test_cross_entropy_properties(n, c, scale, seed):
    rng = _rng(seed)
    Z = rng.normal(size=(n, c)) * scale
    y = rng.integers(0, c, size=n)
    values = losses.softmax_cross_entropy(Z, y)
    assert np.all(values >= 0) and np.all(np.isfinite(values))
    np.testing.assert_allclose(activations.softmax(Z).sum(axis=1), 1, rtol=1e-12)
    dZ = losses.softmax_cross_entropy_backward(Z, y)
    np.testing.assert_allclose(dZ.sum(axis=1), 0, atol=1e-12)  # probabilities minus one-hot


@given(n=st.integers(1, 5), n_in=st.integers(1, 6), units=st.integers(1, 6),
       activation=st.sampled_from(ACTIVATIONS), seed=st.integers(0, 999))
def test_dense_gradient_random_shapes(n, n_in, units, activation, seed):
    rng = _rng(seed)
    X, W, b = rng.normal(size=(n, n_in)), rng.normal(size=(n_in, units)), rng.normal(size=units)
    R = rng.normal(size=(n, units))
    forward, backward = activations.forward_backward(activation)

    def loss():
        return float((forward(ops.dense_forward(X, W, b)) * R).sum())

    Z = ops.dense_forward(X, W, b)
    dX, dW, db = ops.dense_backward(backward(R, Z, forward(Z)), X, W)
    for name, analytic, p in (("X", dX, X), ("W", dW, W), ("b", db, b)):
        assert_grad_close(analytic, numerical_grad(loss, p), f"{activation} dense {name}",
                          rtol=1e-4, atol=1e-6)
