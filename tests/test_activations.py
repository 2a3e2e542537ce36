"""Activation functions: values at points worked by hand, the derivatives at the kinks, the
Keras arguments, dtypes, extreme inputs without overflow, and every activation inside Dense on
both backends. (Each backward is checked against a central difference for every registered name
in tests/test_conformance.py; the variants with arguments are checked here. Equality with Keras
is in parity/test_activations.py.)"""

import math
import warnings

import numpy as np
import pytest

import tinynn
from tinynn import activations, backend, layers
from tinynn.gradient_check import assert_grad_close, numerical_grad

NAMES = sorted(activations._FORWARD_BACKWARD)


def phi(x):
    """The standard normal CDF from its definition, with 1/sqrt(2) rounded to float32 as
    TensorFlow's gelu rounds it (tinynn does too, for Keras parity)."""
    return 0.5 * (1 + math.erf(x * float(np.float32(1 / math.sqrt(2)))))


@pytest.mark.parametrize("name,z,expected", [
    ("elu", [-1.0, 0.0, 2.0], [math.exp(-1) - 1, 0.0, 2.0]),
    ("selu", [-1.0, 2.0], [1.0507009873554805 * 1.6732632423543772 * (math.exp(-1) - 1),
                           2 * 1.0507009873554805]),
    ("gelu", [-1.0, 0.0, 1.0], [-phi(-1.0), 0.0, phi(1.0)]),
    ("silu", [-2.0, 0.0, 1.0], [-2 / (1 + math.exp(2)), 0.0, 1 / (1 + math.exp(-1))]),
    ("swish", [1.0], [1 / (1 + math.exp(-1))]),
    # Keras's function default slope 0.2, held in float32 by TensorFlow's op
    ("leaky_relu", [-1.0, 0.0, 3.0], [-float(np.float32(0.2)), 0.0, 3.0]),
    ("relu6", [-1.0, 3.0, 7.0], [0.0, 3.0, 6.0]),
    ("softplus", [0.0, 1.0], [math.log(2), math.log(1 + math.e)]),
    ("softsign", [-3.0, 1.0], [-0.75, 0.5]),
    ("hard_sigmoid", [-4.0, -3.0, 0.0, 1.5, 3.0], [0.0, 0.0, 0.5, 0.75, 1.0]),  # relu6(x+3)/6
    ("exponential", [0.0, 1.0], [1.0, math.e]),
])
def test_values_worked_by_hand(name, z, expected):
    np.testing.assert_allclose(getattr(activations, name)(np.array(z)), expected, rtol=1e-12,
                               atol=1e-15)


def test_gelu_tanh_form_and_keras_default():
    z = np.array([-2.0, 1.0])
    c = math.sqrt(2 / math.pi)
    tanh_form = [0.5 * x * (1 + math.tanh(c * (x + 0.044715 * x**3))) for x in z]
    np.testing.assert_allclose(activations.gelu(z, approximate=True), tanh_form, rtol=1e-7)
    exact = activations.gelu(z)
    assert abs(exact[1] - tanh_form[1]) > 1e-4  # the string "gelu" is the exact form, as Keras
    layer = layers.Dense(2, activation="gelu")
    assert layer.activation == "gelu"
    assert activations.forward_backward("gelu")[0](z) is not None
    np.testing.assert_array_equal(activations.forward_backward("gelu")[0](z), exact)


@pytest.mark.parametrize("kwargs,z,expected", [
    # Keras's docstring example: ReLU(max_value=10, negative_slope=0.5, threshold=0)
    (dict(max_value=10, negative_slope=0.5), [-10, -5, 0.0, 5, 10, 12], [-5, -2.5, 0, 5, 10, 10]),
    (dict(threshold=1.0), [0.5, 1.0, 2.0], [0, 0, 2.0]),
    (dict(threshold=1.0, negative_slope=0.1), [0.5, 2.0], [-0.05, 2.0]),
    (dict(max_value=6.0), [-1.0, 7.0], [0, 6.0]),
    (dict(negative_slope=0.25), [-4.0, 4.0], [-1.0, 4.0]),
])
def test_relu_keras_arguments(kwargs, z, expected):
    np.testing.assert_allclose(activations.relu(np.array(z, float), **kwargs), expected)


@pytest.mark.parametrize("name,kwargs,z,slope", [
    ("relu", {}, [0.0], [0.0]),
    ("leaky_relu", {}, [0.0], [np.float32(0.2)]),
    ("relu6", {}, [0.0, 6.0], [0.0, 0.0]),
    ("hard_sigmoid", {}, [-3.0, 3.0, 0.0], [0.0, 0.0, 1 / 6]),
    ("elu", {"alpha": 2.0}, [0.0], [2.0]),
    ("selu", {}, [0.0], [1.0507009873554805]),
    ("relu", {"max_value": 1.0}, [1.0], [1.0]),  # clip's derivative includes its bound
    ("relu", {"max_value": 6}, [6.0], [0.0]),  # ... but TensorFlow's relu6 op does not
    ("relu", {"threshold": 1.0, "negative_slope": 0.1}, [1.0], [0.0]),
    ("relu", {"negative_slope": 0.1, "max_value": 6.0}, [0.0], [0.0]),
])
def test_derivative_at_the_kinks_is_kerass(name, kwargs, z, slope):
    """At a kink the derivative is the one TensorFlow's gradient gives (measured in
    parity/test_activations.py, which compares them all)."""
    Z = np.array(z)
    forward, backward = getattr(activations, name), getattr(activations, f"{name}_backward")
    np.testing.assert_allclose(backward(np.ones_like(Z), Z, forward(Z, **kwargs), **kwargs),
                               slope, rtol=1e-15)


VARIANTS = [("gelu", {"approximate": True}), ("leaky_relu", {"negative_slope": 0.05}),
            ("elu", {"alpha": 0.4}), ("relu", {"negative_slope": 0.1, "max_value": 6.0}),
            ("relu", {"max_value": 1.5, "threshold": 0.5}),
            ("relu", {"negative_slope": 0.3, "threshold": 0.5}), ("relu", {"max_value": 6})]


@pytest.mark.parametrize("name,kwargs", VARIANTS, ids=str)
def test_backward_with_arguments_is_the_derivative(name, kwargs):
    rng = np.random.default_rng(0)
    forward, backward = getattr(activations, name), getattr(activations, f"{name}_backward")
    Z = rng.normal(size=(6, 5)) * 3
    Z[np.abs(Z - np.round(Z * 2) / 2) < 1e-3] += 0.01  # away from the kinks at multiples of 0.5
    R = rng.normal(size=Z.shape)
    numeric = numerical_grad(lambda: float((forward(Z, **kwargs) * R).sum()), Z)
    assert_grad_close(backward(R, Z, forward(Z, **kwargs), **kwargs), numeric, f"{name}'")


@pytest.mark.parametrize("name", NAMES)
def test_float32_stays_float32(name):
    Z = np.linspace(-4, 4, 12, dtype=np.float32).reshape(3, 4)
    forward, backward = activations.forward_backward(name)
    A = forward(Z)
    assert A.dtype == np.float32 and A.shape == Z.shape
    assert backward(np.ones_like(Z), Z, A).dtype == np.float32


@pytest.mark.parametrize("name", NAMES)
def test_extreme_inputs_give_no_warning_and_no_nan(name):
    """exp is only taken of values that cannot overflow (exponential itself gives inf, as in
    Keras); softplus(1000) = 1000, elu(-1000) = -1, selu(1000) = 1050.7..."""
    for dtype in ("float64", "float32"):
        Z = np.array([[-1e4, -1000.0, -100.0, -1e-30, 0.0, 1e-30, 100.0, 1000.0, 1e4]], dtype)
        forward, backward = activations.forward_backward(name)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # an overflow or invalid operation fails here
            A = forward(Z)
            dZ = backward(np.ones_like(Z), Z, A)
        assert not np.isnan(A).any() and not np.isnan(dZ).any(), (name, A, dZ)
        if name != "exponential":
            assert np.isfinite(A).all() and np.isfinite(dZ).all(), (name, A, dZ)
    np.testing.assert_allclose(activations.softplus(np.array([1000.0, -1000.0])), [1000.0, 0])
    assert activations.exponential(np.array([1000.0]))[0] == np.inf


def test_gelu_is_accurate_for_very_negative_inputs():
    """Z * Phi(Z) with Phi = erfc(-Z / sqrt 2) / 2: no cancellation of 1 + erf(Z / sqrt 2)."""
    z = -8.0
    keras_constant = float(np.float32(1 / math.sqrt(2)))
    exact = z * 0.5 * math.erfc(-z * keras_constant)  # 5e-15; 1 + erf(z/sqrt 2) would be 0
    np.testing.assert_allclose(activations.gelu(np.array([z])), [exact], rtol=1e-14)
    # the float32 constant moves GELU by about 1.7e-8 z**2 (relative) for very negative z
    true_value = z * 0.5 * math.erfc(-z / math.sqrt(2))
    np.testing.assert_allclose(activations.gelu(np.array([z])), [true_value], rtol=1.2e-6)
    for z in (-1.0, 0.5, 3.0):
        np.testing.assert_allclose(activations.gelu(np.array([z])),
                                   [z * 0.5 * math.erfc(-z / math.sqrt(2))], rtol=3e-8)
    # the tanh form as z * sigmoid(2u): 1 + tanh(u) would round to 0 for z = -8
    assert activations.gelu(np.array([z]), approximate=True)[0] != 0


def test_swish_is_silu_and_names_resolve_like_keras():
    assert activations.swish is activations.silu
    assert activations.get("swish") == "silu" and activations.get("SiLU") == "silu"
    assert layers.Dense(2, activation="swish").get_config()["activation"] == "silu"
    assert activations.get(activations.hard_sigmoid) == "hard_sigmoid"


@pytest.mark.parametrize("name", NAMES)
def test_every_activation_in_dense_on_both_backends(name):
    """Dense(activation=name): the numba backend (a fused kernel for the names it has a code
    for, the reference otherwise) equals the NumPy one, and the layer passes gradcheck."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5, 4)).astype("float32")
    dY = rng.normal(size=(5, 3)).astype("float32")
    results = []
    for which in ("numpy", "numba"):
        backend.set_backend(which)
        try:
            tinynn.utils.set_random_seed(0)
            layer = layers.Dense(3, activation=name)
            Y = layer(X)
            dX = layer.backward(dY)
            results.append((Y, dX, layer.grads["kernel"].copy(), layer.grads["bias"].copy()))
        finally:
            backend.set_backend("numba")
    for got, want in zip(*results, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert tinynn.gradcheck(layers.Dense(3, activation=name), X.astype("float64"),
                            verbose=False).passed
