"""Single operations with the weights copied across: Dense forward and gradients (Keras side
through `tf.GradientTape`), every activation, Dropout, and sparse cross-entropy on logits and on
probabilities, including extreme values. Each test runs in float64 and float32.

Tolerances: float64 rtol 1e-12 (a few dozen roundings in a length-20 dot product), float32
rtol 2e-5 / atol 1e-6 (TensorFlow's Eigen kernels and NumPy's BLAS sum in different orders, and
float32 has 6e-8 relative precision, so a 20-term sum differs by ~1e-6 relative at worst).
"""

import numpy as np
import pytest

import tinynn
from tinynn import losses

TOL = {"float64": dict(rtol=1e-12, atol=1e-13), "float32": dict(rtol=2e-5, atol=1e-6)}
ACTIVATIONS = ["linear", "relu", "tanh", "sigmoid", "softmax"]


def close(actual, expected, dtype, what: str, **override) -> None:
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected),
                               **{**TOL[dtype], **override}, err_msg=f"{what} ({dtype})")


def keras_grads(tf, fn, X, dY, variables=()):
    """Y = fn(X) and the gradients of sum(Y * dY) w.r.t. X and `variables` (i.e. the backward
    pass of fn fed the upstream gradient dY), computed by TensorFlow's autodiff."""
    Xt = tf.constant(X)
    with tf.GradientTape() as tape:
        tape.watch(Xt)
        Y = fn(Xt)
        objective = tf.reduce_sum(Y * tf.constant(dY))
    grads = tape.gradient(objective, [Xt, *variables])
    return Y.numpy(), [g.numpy() for g in grads]


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_forward_and_gradients(keras, tf, floatx, activation):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(16, 20)).astype(floatx)
    dY = rng.normal(size=(16, 7)).astype(floatx)
    k_layer = keras.layers.Dense(7, activation=activation)
    k_layer.build((None, 20))
    kernel = k_layer.get_weights()[0]
    k_layer.set_weights([kernel, rng.normal(scale=0.5, size=7).astype(floatx)])  # a real bias

    t_layer = tinynn.layers.Dense(7, activation=activation)
    t_layer.build((None, 20))
    t_layer.set_weights(k_layer.get_weights())
    assert [w.dtype for w in t_layer.get_weights()] == [np.dtype(floatx)] * 2

    Y_k, (dX_k, dW_k, db_k) = keras_grads(tf, k_layer, X, dY, k_layer.trainable_weights)
    Y_t = t_layer.forward(X, training=True)
    dX_t = t_layer.backward(dY)
    assert Y_t.dtype == np.dtype(floatx) and dX_t.dtype == np.dtype(floatx)
    close(Y_t, Y_k, floatx, f"Dense({activation}) forward")
    close(dX_t, dX_k, floatx, f"Dense({activation}) dX")
    close(t_layer.grads["kernel"], dW_k, floatx, f"Dense({activation}) dW")
    close(t_layer.grads["bias"], db_k, floatx, f"Dense({activation}) db")


def test_dense_pure_functions_match_keras(keras, tf, floatx):
    """The pure functions that the numba path replaces, against TensorFlow's autodiff."""
    rng = np.random.default_rng(2)
    X, W = rng.normal(size=(9, 5)).astype(floatx), rng.normal(size=(5, 3)).astype(floatx)
    b, dZ = rng.normal(size=3).astype(floatx), rng.normal(size=(9, 3)).astype(floatx)
    Wt, bt = tf.Variable(W), tf.Variable(b)
    Z_k, (dX_k, dW_k, db_k) = keras_grads(tf, lambda Xt: Xt @ Wt + bt, X, dZ, [Wt, bt])
    close(tinynn.ops.dense_forward(X, W, b), Z_k, floatx, "dense_forward")
    for got, want, name in zip(tinynn.ops.dense_backward(dZ, X, W), (dX_k, dW_k, db_k),
                               ("dX", "dW", "db"), strict=True):
        close(got, want, floatx, f"dense_backward {name}")


def activation_inputs(dtype) -> np.ndarray:
    """Ordinary values, exact zeros (ReLU's kink) and extremes that overflow a naive exp."""
    rng = np.random.default_rng(3)
    X = rng.normal(scale=3.0, size=(12, 6))
    X[0] = [0.0, -0.0, 0.0, 1.0, -1.0, 0.0]
    X[1] = [1000.0, -1000.0, 0.0, 50.0, -50.0, 3.0]
    X[2] = [88.0, 89.0, 90.0, -88.0, -90.0, 0.0]  # exp(89) overflows float32
    X[3] = [-1e4, -1e4, -1e4, -1e4, -1e4, -1e4]  # a constant row: softmax is uniform
    return X.astype(dtype)


ACTIVATION_LAYERS = {
    "Activation(linear)": (lambda k: k.layers.Activation("linear"),
                           lambda: tinynn.layers.Activation("linear")),
    "Activation(relu)": (lambda k: k.layers.Activation("relu"),
                         lambda: tinynn.layers.Activation("relu")),
    "Activation(tanh)": (lambda k: k.layers.Activation("tanh"),
                         lambda: tinynn.layers.Activation("tanh")),
    "Activation(sigmoid)": (lambda k: k.layers.Activation("sigmoid"),
                            lambda: tinynn.layers.Activation("sigmoid")),
    "Activation(softmax)": (lambda k: k.layers.Activation("softmax"),
                            lambda: tinynn.layers.Activation("softmax")),
    "ReLU": (lambda k: k.layers.ReLU(), lambda: tinynn.layers.ReLU()),
    "Softmax": (lambda k: k.layers.Softmax(), lambda: tinynn.layers.Softmax()),
}


@pytest.mark.parametrize("name", ACTIVATION_LAYERS)
def test_activation_layers_forward_and_gradients(keras, tf, floatx, name):
    make_keras, make_tinynn = ACTIVATION_LAYERS[name]
    X = activation_inputs(floatx)
    dY = np.random.default_rng(4).normal(size=X.shape).astype(floatx)
    Y_k, (dX_k,) = keras_grads(tf, make_keras(keras), X, dY)
    t_layer = make_tinynn()
    Y_t = t_layer.forward(X, training=True)
    dX_t = t_layer.backward(dY)
    assert np.isfinite(Y_t).all() and np.isfinite(dX_t).all(), f"{name} overflowed ({floatx})"
    close(Y_t, Y_k, floatx, f"{name} forward")
    close(dX_t, dX_k, floatx, f"{name} backward")


def test_dropout_inference_is_identity(keras, floatx):
    X = np.random.default_rng(5).normal(size=(64, 50)).astype(floatx)
    for rate in (0.0, 0.3, 0.9):
        np.testing.assert_array_equal(keras.layers.Dropout(rate)(X, training=False).numpy(), X)
        t_layer = tinynn.layers.Dropout(rate)
        np.testing.assert_array_equal(t_layer.forward(X, training=False), X)
        np.testing.assert_array_equal(t_layer.backward(X), X)


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5, 0.8])
def test_dropout_training_scales_kept_values(keras, tf, floatx, rate):
    """Both frameworks: each value is dropped (0) or scaled by exactly 1/(1 - rate); the drop
    fraction is `rate` within 5 binomial standard deviations; backward applies the same mask."""
    n = 200 * 100
    rng = np.random.default_rng(6)
    X = (rng.uniform(0.5, 2.0, size=(200, 100)) * rng.choice([-1, 1], size=(200, 100)))
    X = X.astype(floatx)
    dY = rng.normal(size=X.shape).astype(floatx)
    keras.utils.set_random_seed(7)
    tinynn.utils.set_random_seed(7)
    k_layer, t_layer = keras.layers.Dropout(rate), tinynn.layers.Dropout(rate)
    Y_k, (dX_k,) = keras_grads(tf, lambda Xt: k_layer(Xt, training=True), X, dY)
    Y_t = t_layer.forward(X, training=True)
    dX_t = t_layer.backward(dY)
    scale = 1.0 / (1.0 - rate)
    for framework, Y, dX in (("Keras", Y_k, dX_k), ("tinynn", Y_t, dX_t)):
        kept = Y != 0
        np.testing.assert_allclose(Y[kept], X[kept] * scale, rtol=4 * np.finfo(floatx).eps,
                                   err_msg=f"{framework} kept values are not X / (1 - rate)")
        np.testing.assert_allclose(dX[kept], dY[kept] * scale, rtol=4 * np.finfo(floatx).eps,
                                   err_msg=f"{framework} backward is not dY * mask")
        assert (dX[~kept] == 0).all(), f"{framework} passes gradient through dropped units"
        dropped = 1 - kept.mean()
        sd = np.sqrt(rate * (1 - rate) / n)
        assert abs(dropped - rate) < 5 * sd, f"{framework} dropped {dropped:.4f}, rate {rate}"


def ce_logits(dtype) -> tuple[np.ndarray, np.ndarray]:
    """Logits with ordinary rows and extreme ones (huge margins for and against the label)."""
    rng = np.random.default_rng(8)
    Z = rng.normal(scale=3.0, size=(10, 5))
    Z[0] = [1000.0, -1000.0, 0.0, 0.0, 0.0]  # label 0: loss 0
    Z[1] = [1000.0, -1000.0, 0.0, 0.0, 0.0]  # label 1: loss 2000
    Z[2] = [1e4, 1e4, 1e4, 1e4, 1e4]  # uniform: loss log 5
    Z[3] = [-100.0, 100.0, 88.0, 89.0, 90.0]
    Z[4] = [30.0, -30.0, -30.0, -30.0, -30.0]  # p_wrong ~ 1e-26, below float32's resolution of 1
    y = rng.integers(0, 5, size=10)
    y[:5] = [0, 1, 3, 0, 0]
    return Z.astype(dtype), y


def test_cross_entropy_from_logits(keras, tf, floatx):
    Z, y = ce_logits(floatx)
    k_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    Zt = tf.constant(Z)
    with tf.GradientTape() as tape:
        tape.watch(Zt)
        mean_k = k_loss(tf.constant(y), Zt)
    dZ_k = tape.gradient(mean_k, Zt).numpy()
    per_k = keras.losses.sparse_categorical_crossentropy(y, Z, from_logits=True).numpy()

    t_loss = tinynn.losses.SparseCategoricalCrossentropy(from_logits=True)
    per_t = losses.softmax_cross_entropy(Z, y)
    assert np.isfinite(per_t).all()
    close(per_t, per_k, floatx, "per-sample CE from logits")
    close(t_loss(y, Z), float(mean_k), floatx, "mean CE from logits")
    close(losses.softmax_cross_entropy_backward(Z, y), dZ_k, floatx, "dCE/dlogits")
    close(t_loss.gradient(y, Z), dZ_k, floatx, "loss object gradient from logits")
    assert per_t[1] == pytest.approx(2000.0) and per_t[2] == pytest.approx(np.log(5))


def ce_probabilities(dtype) -> tuple[np.ndarray, np.ndarray]:
    """Probability rows, including exact 0 and 1, values beyond the 1e-7 clip, and rows that do
    not sum to 1 (a user's own output layer)."""
    rng = np.random.default_rng(9)
    P = rng.dirichlet(np.ones(5), size=12)
    P[0] = [1.0, 0.0, 0.0, 0.0, 0.0]  # label 0: clipped at 1 - 1e-7
    P[1] = [1.0, 0.0, 0.0, 0.0, 0.0]  # label 2: clipped at 1e-7, loss ~16.1
    P[2] = [1e-9, 1 - 4e-9, 1e-9, 1e-9, 1e-9]
    P[3] = [0.2, 0.2, 0.2, 0.2, 0.2]
    P[4] = [0.5, 0.3, 0.1, 0.05, 0.0]  # sums to 0.95
    P[5] = [2.0, 1.0, 0.5, 0.5, 1.0]  # sums to 5, values above 1 get clipped
    y = rng.integers(0, 5, size=12)
    y[:6] = [0, 2, 0, 4, 1, 1]
    return P.astype(dtype), y


def test_cross_entropy_from_probabilities(keras, tf, floatx):
    P, y = ce_probabilities(floatx)
    k_loss = keras.losses.SparseCategoricalCrossentropy()
    Pt = tf.constant(P)
    with tf.GradientTape() as tape:
        tape.watch(Pt)
        mean_k = k_loss(tf.constant(y), Pt)
    dP_k = tape.gradient(mean_k, Pt).numpy()
    per_k = keras.losses.sparse_categorical_crossentropy(y, P).numpy()

    t_loss = tinynn.losses.SparseCategoricalCrossentropy()
    close(losses.probs_cross_entropy(P, y), per_k, floatx, "per-sample CE from probabilities")
    close(t_loss(y, P), float(mean_k), floatx, "mean CE from probabilities")
    close(losses.probs_cross_entropy_backward(P, y), dP_k, floatx, "dCE/dprobabilities")
    close(t_loss.gradient(y, P), dP_k, floatx, "loss object gradient from probabilities")


def test_fit_takes_the_loss_from_the_logits(keras, floatx):
    """A softmax output inside fit: both frameworks compute the loss from the logits, so a
    confidently wrong prediction costs its true -log p (here ~60), not the clipped 16.1."""
    rng = np.random.default_rng(10)
    x = rng.normal(size=(8, 4)).astype(floatx)
    y = rng.integers(0, 3, size=8)
    W = rng.normal(scale=20.0, size=(4, 3)).astype(floatx)
    b = np.zeros(3, floatx)

    k_model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    k_model.set_weights([W, b])
    k_model.compile(optimizer=keras.optimizers.SGD(1e-9), loss="sparse_categorical_crossentropy")
    k_loss = k_model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    t_model = tinynn.Sequential([tinynn.Input((4,)),
                                 tinynn.layers.Dense(3, activation="softmax")])
    t_model.set_weights([W, b])
    t_model.compile(optimizer=tinynn.optimizers.SGD(1e-9), loss="sparse_categorical_crossentropy")
    t_loss = t_model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)

    exact = float(np.mean(losses.softmax_cross_entropy(x @ W + b, y)))
    clipped = float(np.mean(losses.probs_cross_entropy(t_model.predict(x, verbose=0), y)))
    assert exact > clipped + 1, "the test data must make clipping matter"
    close(k_loss.history["loss"][0], exact, floatx, "Keras fit loss", rtol=1e-6)
    close(t_loss.history["loss"][0], k_loss.history["loss"][0], floatx, "fit loss", rtol=1e-6)
