"""ReLU (Keras's arguments), LeakyReLU, ELU, PReLU: values, arguments and their checks,
PReLU's weight shapes and gradients. (Every layer also goes through tests/test_conformance.py;
equality with Keras is in parity/.)"""

import numpy as np
import pytest

import tinynn
from tinynn import activations, layers


def test_exported_where_keras_users_look():
    for name in ("ReLU", "LeakyReLU", "ELU", "PReLU"):
        assert getattr(tinynn.layers, name).__name__ == name


def test_relu_layer_with_keras_arguments():
    # Keras's docstring example
    layer = layers.ReLU(max_value=10, negative_slope=0.5, threshold=0)
    np.testing.assert_allclose(layer(np.array([[-10, -5, 0.0, 5, 10]])),
                               [[-5.0, -2.5, 0.0, 5.0, 10.0]])
    assert layer.get_config() == {"name": layer.name, "trainable": True, "max_value": 10.0,
                                  "negative_slope": 0.5, "threshold": 0.0}
    dY = np.ones((1, 5))
    np.testing.assert_allclose(layer.backward(dY), [[0.5, 0.5, 0.0, 1.0, 1.0]])
    plain = layers.ReLU()
    X = np.array([[-1.0, 0.0, 2.0]])
    np.testing.assert_array_equal(plain(X), activations.relu(X))


@pytest.mark.parametrize("make,match", [
    (lambda: layers.ReLU(max_value=-1), "ReLU expected max_value to be a number >= 0 or None"),
    (lambda: layers.ReLU(negative_slope=None), "negative_slope"),
    (lambda: layers.ReLU(threshold=-0.5), "threshold"),
    (lambda: layers.LeakyReLU(negative_slope=-0.1), "LeakyReLU expected negative_slope"),
    (lambda: layers.PReLU(alpha_regularizer="l2"), "not supported"),
])
def test_bad_arguments_are_named(make, match):
    with pytest.raises((ValueError, NotImplementedError), match=match):
        make()


def test_leaky_relu_default_slope_is_the_layers_0_3_and_alpha_is_accepted():
    X = np.array([[-2.0, 3.0]])
    assert layers.LeakyReLU().negative_slope == 0.3  # the function's default is 0.2
    np.testing.assert_allclose(layers.LeakyReLU()(X), [[-0.6, 3.0]], rtol=1e-7)
    assert layers.LeakyReLU(alpha=0.1).get_config()["negative_slope"] == 0.1  # Keras 2's name
    layer = layers.LeakyReLU(0.5)
    layer(X)
    np.testing.assert_allclose(layer.backward(np.ones_like(X)), [[0.5, 1.0]])


def test_elu_layer():
    layer = layers.ELU(alpha=2.0)
    X = np.array([[-1.0, 0.5]])
    np.testing.assert_allclose(layer(X), [[2 * (np.exp(-1) - 1), 0.5]])
    np.testing.assert_allclose(layer.backward(np.ones_like(X)), [[2 * np.exp(-1), 1.0]])
    assert layer.get_config()["alpha"] == 2.0


def test_prelu_starts_as_relu_and_learns_one_slope_per_feature():
    layer = layers.PReLU()
    X = np.array([[-2.0, 1.0, 0.0], [-1.0, -3.0, 4.0]])
    Y = layer(X)
    assert layer.params["alpha"].shape == (3,) and not layer.params["alpha"].any()
    np.testing.assert_array_equal(Y, np.maximum(X, 0))
    layer.set_weights([np.array([0.1, 0.2, 0.3])])
    Y = layer(X)
    np.testing.assert_allclose(Y, [[-0.2, 1.0, 0.0], [-0.1, -0.6, 4.0]])
    dX = layer.backward(np.ones_like(X))
    np.testing.assert_allclose(dX, [[0.1, 1.0, 0.0], [0.1, 0.2, 1.0]])  # 0 at X = 0, as Keras
    np.testing.assert_allclose(layer.grads["alpha"], [-3.0, -3.0, 0.0])  # sum of min(X, 0)
    assert layer.get_config()["alpha_initializer"] == "zeros"


@pytest.mark.parametrize("shared_axes,alpha_shape", [(None, (4, 3)), ([1], (1, 3)),
                                                     (2, (4, 1)), ([1, 2], (1, 1))])
def test_prelu_shared_axes_shapes_and_gradcheck(shared_axes, alpha_shape):
    layer = layers.PReLU(alpha_initializer="random_normal", shared_axes=shared_axes)
    X = np.random.default_rng(0).normal(size=(5, 4, 3))
    layer.build((None, 4, 3))
    assert layer.params["alpha"].shape == alpha_shape
    result = tinynn.gradcheck(layer, X, verbose=False)
    assert result.passed, result
    twin = layers.PReLU.from_config(layer.get_config())
    assert twin.shared_axes == layer.shared_axes


def test_prelu_shared_axes_out_of_range():
    with pytest.raises(ValueError, match="shared_axes must be between 1 and 2"):
        layers.PReLU(shared_axes=[3]).build((None, 4, 3))


@pytest.mark.parametrize("layer", [layers.ReLU(max_value=6.0, negative_slope=0.1),
                                   layers.ReLU(threshold=0.5), layers.LeakyReLU(0.2),
                                   layers.ELU(0.7)], ids=lambda x: str(x.get_config()))
def test_layers_with_arguments_pass_gradcheck(layer):
    X = np.random.default_rng(1).normal(size=(6, 5)) * 4
    X[np.abs(X - np.round(X * 2) / 2) < 1e-3] += 0.01  # off the kinks at 0, 0.5, 6
    assert tinynn.gradcheck(layer, X, verbose=False).passed
