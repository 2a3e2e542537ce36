"""Every tinynn activation (discovered: each registered name, plus swish) against
`keras.activations.<name>`: the values and the gradient of sum(f(Z) * R) (Keras's through
`tf.GradientTape`), on a grid of ordinary values, the kinks (0, +-3, 6, exact zeros), tiny
values (1e-8, 1e-300) and extremes (+-30 ... +-1e4, exp's overflow at 88.7 and 709.8); the
variants with Keras arguments; and Dense(activation=name) for every name.

Tolerances (see parity/README.md):
- float64: rtol 1e-10, atol 1e-13. tinynn computes Keras's formulas, including TensorFlow's
  float32-rounded constants (gelu's 1/sqrt(2) and 0.044715, leaky_relu's slope); what is left
  is where TensorFlow cancels and tinynn does not: 1 + tanh(u) in the tanh-form gelu near
  z = -6 (absolute 3e-14 in its gradient), exp(z) - 1 in elu/selu near 0 (absolute 1e-16).
- float32: 1e-6 relative + 1e-6 absolute, plus Keras's own float32 error, measured against the
  float64 result: where TensorFlow's float32 formula cancels (the tanh-form gelu's gradient near
  z = 3-5 is up to 5e-6 off in Keras itself) tinynn is held to that accuracy, not to Keras's
  rounding. The absolute 1e-6 covers derivatives computed from the output, as both frameworks do
  for tanh (1 - A**2) and sigmoid (A (1 - A)): near saturation one float32 ulp of A is a
  relative 1e-5 of the derivative, in either framework.
- One exclusion, stated: selu's gradient for -1e-16 < z < 0 (float64; -6e-8 in float32), where
  TensorFlow computes exp(z) - 1 = 0 and so takes the z >= 0 branch (scale, 1.0507) while
  tinynn gives the true derivative (scale * alpha, 1.7581).
"""

import numpy as np
import pytest
from test_ops import close, keras_grads

import tinynn
from tinynn import activations

NAMES = sorted({name for name in dir(activations)
                if callable(getattr(activations, f"{name}_backward", None))})
VARIANTS = [("gelu", {"approximate": True}), ("leaky_relu", {"negative_slope": 0.05}),
            ("leaky_relu", {"negative_slope": 0.3}), ("elu", {"alpha": 0.4}),
            ("elu", {"alpha": 2.0}), ("relu", {"negative_slope": 0.1}),
            ("relu", {"negative_slope": 0.1, "max_value": 6.0}),
            ("relu", {"max_value": 1.0, "threshold": 1.0}),
            ("relu", {"negative_slope": 0.1, "threshold": 1.0}), ("relu", {"max_value": 1.0}),
            ("relu", {"max_value": 6}), ("relu", {"threshold": 1.0}),
            ("relu", {"negative_slope": 0.3, "max_value": 2.5, "threshold": 0.5}),
            ("celu", {"alpha": 0.5}), ("squareplus", {"b": 1}), ("hard_shrink", {"threshold": 1.0}),
            ("soft_shrink", {"threshold": 0.25})]
CASES = [(name, {}) for name in NAMES] + VARIANTS
F64 = dict(rtol=1e-10, atol=1e-13)
F32_RTOL, F32_ATOL = 1e-6, 1e-6


def grid(name: str, dtype: str) -> np.ndarray:
    if name in ("softmax", "log_softmax"):  # rows of logits, some extreme
        Z = np.random.default_rng(1).normal(scale=5.0, size=(40, 7))
        Z[0], Z[1] = 1000.0 * np.arange(7), -1e4
        return Z.astype(dtype)
    rng = np.random.default_rng(0)
    special = [0.0, -0.0, 1e-300, -1e-300, 1e-8, -1e-8, 0.5, -0.5, 1, -1, 3, -3, 6, -6, 30, -30,
               80, -80, 88.5, 89, 100, -100, 700, 710, -710, 1e4, -1e4]
    return np.concatenate([rng.normal(scale=3.0, size=300), np.linspace(-12, 12, 241),
                           special]).astype(dtype)


def keras_value_and_grad(keras, tf, name, kwargs, Z, R):
    Zt = tf.constant(Z)
    with tf.GradientTape() as tape:
        tape.watch(Zt)
        A = getattr(keras.activations, name)(Zt, **kwargs)
        objective = tf.reduce_sum(A * tf.constant(R))
    return A.numpy(), tape.gradient(objective, Zt).numpy()


def ours(name, kwargs, Z, R):
    forward, backward = getattr(activations, name), getattr(activations, f"{name}_backward")
    A = forward(Z, **kwargs)
    return A, backward(R, Z, A, **kwargs)


def selu_excluded(name, Z):
    """Where TensorFlow's exp(z) - 1 is 0 for z < 0 (see the module docstring)."""
    if name != "selu":
        return np.zeros(Z.shape, bool)
    return (Z < 0) & (np.exp(np.minimum(Z, 0)) - 1 == 0)


def max_diff(a, b) -> float:
    """The largest |a - b| where both are finite."""
    finite = np.isfinite(a) & np.isfinite(b)
    return float(np.abs(a[finite] - b[finite]).max(initial=0.0))


def assert_float32_close(got, keras32, exact, what):
    """|tinynn - Keras| <= 1e-6 |Keras| + 1e-6 + |Keras - exact| (Keras's own float32 error);
    infinities must match exactly."""
    inf = ~np.isfinite(keras32)
    np.testing.assert_array_equal(got[inf], keras32[inf], err_msg=what)
    g, k, e = (np.asarray(a, np.float64)[~inf] for a in (got, keras32, exact))
    excess = np.abs(g - k) - (F32_RTOL * np.abs(k) + F32_ATOL + np.abs(k - e))
    if (excess > 0).any():
        i = int(np.argmax(excess))
        raise AssertionError(f"{what}: tinynn {g[i]!r}, Keras {k[i]!r}, float64 {e[i]!r}")


@pytest.mark.parametrize("name,kwargs", CASES, ids=str)
def test_activation_equals_keras_float64(keras, tf, floatx64, report, name, kwargs):
    Z = grid(name, "float64")
    R = np.random.default_rng(2).normal(size=Z.shape)
    A_k, G_k = keras_value_and_grad(keras, tf, name, kwargs, Z, R)
    A, G = ours(name, kwargs, Z, R)
    assert A.dtype == G.dtype == np.float64
    np.testing.assert_allclose(A, A_k, **F64, err_msg=f"{name}{kwargs} forward")
    keep = ~selu_excluded(name, Z)
    np.testing.assert_allclose(G[keep], G_k[keep], **F64, err_msg=f"{name}{kwargs} gradient")
    report(f"activation {name}{kwargs or ''} float64", f"max abs diff forward "
           f"{max_diff(A, A_k):.1e}, gradient {max_diff(G[keep], G_k[keep]):.1e}")


@pytest.mark.parametrize("name,kwargs", CASES, ids=str)
def test_activation_equals_keras_float32(keras, tf, floatx32, report, name, kwargs):
    Z = grid(name, "float32")
    R = np.random.default_rng(2).normal(size=Z.shape).astype("float32")
    A_k, G_k = keras_value_and_grad(keras, tf, name, kwargs, Z, R)
    A, G = ours(name, kwargs, Z, R)
    assert A.dtype == G.dtype == np.float32
    A64, G64 = ours(name, kwargs, Z.astype("float64"), R.astype("float64"))
    assert_float32_close(A, A_k, A64, f"{name}{kwargs} forward")
    keep = ~selu_excluded(name, Z)
    assert_float32_close(G[keep], G_k[keep], G64[keep], f"{name}{kwargs} gradient")
    report(f"activation {name}{kwargs or ''} float32", f"max abs diff forward "
           f"{max_diff(A, A_k):.1e}, gradient {max_diff(G[keep], G_k[keep]):.1e}")


def test_names_map_like_keras(keras):
    """A name means the same function with the same defaults: "gelu" is the exact (erf) form,
    "swish" is silu, "leaky_relu" has slope 0.2 (the LeakyReLU layer's default is 0.3)."""
    z = np.array([-1.5, 0.7])
    for name in NAMES:
        np.testing.assert_allclose(activations.forward_backward(name)[0](z),
                                   np.asarray(keras.activations.get(name)(z)), **F64,
                                   err_msg=name)
        assert keras.activations.get(name).__name__ == activations.get(name), name
    assert keras.layers.LeakyReLU().get_config()["negative_slope"] == \
        tinynn.layers.LeakyReLU().get_config()["negative_slope"]


@pytest.mark.parametrize("name", NAMES)
def test_dense_with_every_activation(keras, tf, floatx, name):
    """Dense(7, activation=name), forward and gradients, weights copied (tolerances of
    test_ops.py's Dense test)."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(16, 20)).astype(floatx)
    dY = rng.normal(size=(16, 7)).astype(floatx)
    k_layer = keras.layers.Dense(7, activation=name)
    k_layer.build((None, 20))
    k_layer.set_weights([k_layer.get_weights()[0], rng.normal(scale=0.5, size=7).astype(floatx)])
    t_layer = tinynn.layers.Dense(7, activation=name)
    t_layer.build((None, 20))
    t_layer.set_weights(k_layer.get_weights())
    Y_k, (dX_k, dW_k, db_k) = keras_grads(tf, k_layer, X, dY, k_layer.trainable_weights)
    Y_t = t_layer.forward(X, training=True)
    dX_t = t_layer.backward(dY)
    close(Y_t, Y_k, floatx, f"Dense({name}) forward")
    close(dX_t, dX_k, floatx, f"Dense({name}) dX")
    close(t_layer.grads["kernel"], dW_k, floatx, f"Dense({name}) dW")
    close(t_layer.grads["bias"], db_k, floatx, f"Dense({name}) db")
