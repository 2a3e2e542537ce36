"""The layers with Keras arguments (ReLU, LeakyReLU, ELU, PReLU with shared axes), Dense on
N-D input, and the noise layers (GaussianNoise, GaussianDropout) against Keras, in float64 and
float32. (The conformance suite compares every layer at its default arguments on 2-D input.)

Deterministic layers: weights copied, forward and gradients (Keras through `tf.GradientTape`)
within test_ops.py's tolerances (float64 rtol 1e-12; float32 rtol 2e-5, atol 1e-6).
Noise layers: inference is the identity in both (exact). In training the two frameworks draw
from different random streams, so each framework's noise is checked against the formula (mean
and variance within 5 standard errors) and against the other's (two-sample KS, 60,000 draws,
alpha = 1e-3); each backward is checked against its own forward (GaussianNoise: dX = dY;
GaussianDropout: dX = dY * M with M = Y / X, the same mask).
"""

import math

import numpy as np
import pytest
from test_ops import close, keras_grads

import tinynn


def inputs(dtype, shape=(12, 6)) -> np.ndarray:
    rng = np.random.default_rng(3)
    X = rng.normal(scale=3.0, size=shape).reshape(-1, shape[-1])
    X[0] = [0.0, -0.0, 1.0, 6.0, 0.5, -0.5]  # the kinks of the arguments used below
    X[1] = [1000.0, -1000.0, -50.0, 50.0, 3.0, -3.0]
    return X.reshape(shape).astype(dtype)


LAYERS = {
    "ReLU(max_value=6, negative_slope=0.1)":
        lambda m: m.layers.ReLU(max_value=6.0, negative_slope=0.1),
    "ReLU(threshold=0.5, negative_slope=0.2)":
        lambda m: m.layers.ReLU(threshold=0.5, negative_slope=0.2),
    "ReLU(max_value=1, threshold=0.5)": lambda m: m.layers.ReLU(max_value=1.0, threshold=0.5),
    "ReLU(max_value=6)": lambda m: m.layers.ReLU(max_value=6),
    "LeakyReLU()": lambda m: m.layers.LeakyReLU(),
    "LeakyReLU(0.05)": lambda m: m.layers.LeakyReLU(negative_slope=0.05),
    "ELU()": lambda m: m.layers.ELU(),
    "ELU(0.5)": lambda m: m.layers.ELU(alpha=0.5),
}


@pytest.mark.parametrize("name", LAYERS)
def test_activation_layers_with_arguments(keras, tf, floatx, name):
    X = inputs(floatx)
    dY = np.random.default_rng(4).normal(size=X.shape).astype(floatx)
    Y_k, (dX_k,) = keras_grads(tf, LAYERS[name](keras), X, dY)
    layer = LAYERS[name](tinynn)
    Y_t = layer.forward(X, training=True)
    dX_t = layer.backward(dY)
    assert Y_t.dtype == dX_t.dtype == np.dtype(floatx)
    close(Y_t, Y_k, floatx, f"{name} forward")
    close(dX_t, dX_k, floatx, f"{name} backward")


@pytest.mark.parametrize("shared_axes", [None, [1], [2], [1, 2]])
def test_prelu_with_shared_axes(keras, tf, floatx, shared_axes):
    X = inputs(floatx, shape=(6, 2, 6))
    dY = np.random.default_rng(5).normal(size=X.shape).astype(floatx)
    ours = tinynn.layers.PReLU(shared_axes=shared_axes)
    ours.build((None, 2, 6))
    theirs = keras.layers.PReLU.from_config({**ours.get_config(), "dtype": floatx})
    theirs.build((None, 2, 6))
    alpha = np.random.default_rng(6).uniform(-0.5, 0.8, size=ours.params["alpha"].shape)
    theirs.set_weights([alpha.astype(floatx)])
    ours.set_weights(theirs.get_weights())
    Y_k, (dX_k, dalpha_k) = keras_grads(tf, theirs, X, dY, theirs.trainable_weights)
    Y_t = ours.forward(X, training=True)
    dX_t = ours.backward(dY)
    close(Y_t, Y_k, floatx, "PReLU forward")
    close(dX_t, dX_k, floatx, "PReLU dX")
    close(ours.grads["alpha"], dalpha_k, floatx, "PReLU d alpha")


@pytest.mark.parametrize("shape", [(5, 4, 6), (2, 3, 4, 6)])
@pytest.mark.parametrize("activation", ["linear", "relu", "softmax", "gelu"])
def test_dense_on_nd_input(keras, tf, floatx, shape, activation):
    """Keras's Dense acts on the last axis: (N, ..., 6) -> (N, ..., 3); dW and db sum over every
    leading axis."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=shape).astype(floatx)
    k_layer = keras.layers.Dense(3, activation=activation)
    k_layer.build((None, *shape[1:]))
    k_layer.set_weights([k_layer.get_weights()[0], rng.normal(size=3).astype(floatx)])
    t_layer = tinynn.layers.Dense(3, activation=activation)
    t_layer.build((None, *shape[1:]))
    t_layer.set_weights(k_layer.get_weights())
    assert t_layer.compute_output_shape((None, *shape[1:])) == \
        k_layer.compute_output_shape((None, *shape[1:]))
    dY = rng.normal(size=(*shape[:-1], 3)).astype(floatx)
    Y_k, (dX_k, dW_k, db_k) = keras_grads(tf, k_layer, X, dY, k_layer.trainable_weights)
    Y_t = t_layer.forward(X, training=True)
    dX_t = t_layer.backward(dY)
    assert Y_t.shape == Y_k.shape and dX_t.shape == X.shape
    close(Y_t, Y_k, floatx, "Dense N-D forward")
    close(dX_t, dX_k, floatx, "Dense N-D dX")
    close(t_layer.grads["kernel"], dW_k, floatx, "Dense N-D dW")
    close(t_layer.grads["bias"], db_k, floatx, "Dense N-D db")


def ks_statistic(a, b) -> float:
    a, b = np.sort(a.ravel()), np.sort(b.ravel())
    both = np.concatenate([a, b])
    return float(np.max(np.abs(np.searchsorted(a, both, side="right") / a.size
                               - np.searchsorted(b, both, side="right") / b.size)))


def check_normal(values, mean, variance, what):
    n = values.size
    assert abs(values.mean() - mean) < 5 * math.sqrt(variance / n), f"{what} mean"
    assert abs(values.var() - variance) < 5 * variance * math.sqrt(2 / n), f"{what} variance"


NOISE = {"GaussianNoise(0.3)": ("GaussianNoise", 0.3), "GaussianNoise(1.0)": ("GaussianNoise", 1.0),
         "GaussianDropout(0.2)": ("GaussianDropout", 0.2),
         "GaussianDropout(0.6)": ("GaussianDropout", 0.6)}


@pytest.mark.parametrize("name", NOISE)
def test_noise_layers_match_keras(keras, tf, floatx, report, name):
    kind, arg = NOISE[name]
    rng = np.random.default_rng(8)
    X = (rng.uniform(0.5, 2.0, size=(300, 200)) * rng.choice([-1, 1], size=(300, 200)))
    X = X.astype(floatx)
    dY = rng.normal(size=X.shape).astype(floatx)
    theirs = getattr(keras.layers, kind)(arg, seed=11)
    ours = getattr(tinynn.layers, kind)(arg, seed=11)
    np.testing.assert_array_equal(theirs(X, training=False).numpy(), X)
    np.testing.assert_array_equal(ours.forward(X, training=False), X)
    np.testing.assert_array_equal(ours.backward(dY), dY)
    Y_k, (dX_k,) = keras_grads(tf, lambda Xt: theirs(Xt, training=True), X, dY)
    Y_t = ours.forward(X, training=True)
    dX_t = ours.backward(dY)
    assert Y_t.dtype == np.dtype(floatx)
    if kind == "GaussianNoise":
        noise = [(Y - X).astype(np.float64) for Y in (Y_k, Y_t)]
        mean, variance = 0.0, arg**2
        np.testing.assert_array_equal(dX_k, dY)
        np.testing.assert_array_equal(dX_t, dY)
    else:
        noise = [(Y / X).astype(np.float64) for Y in (Y_k, Y_t)]  # the masks
        mean, variance = 1.0, arg / (1 - arg)
        for dX, M in zip((dX_k, dX_t), noise, strict=True):
            close(dX, dY * M, floatx, f"{name} backward uses the forward's mask")
    for framework, values in zip(("Keras", "tinynn"), noise, strict=True):
        check_normal(values, mean, variance, f"{framework} {name}")
    ks = ks_statistic(*noise)
    critical = 1.95 * math.sqrt(2 / X.size)
    report(f"{name} {floatx}", f"KS {ks:.4f} (critical {critical:.4f})")
    assert ks < critical


def test_identity_activity_regularization_and_unit_normalization_train_as_keras(keras,
                                                                                 floatx64):
    """3 epochs of SGD through Identity, ActivityRegularization(l1, l2) (its penalty in the
    logged loss) and UnitNormalization (a row of zeros included, where the factor is capped),
    Keras's weights copied: History and weights equal (float64 rtol 1e-10)."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 5)), rng.normal(size=(40, 2))
    x[3] = 0.0
    keras.utils.set_random_seed(0)
    models = []
    for module in (keras, tinynn):
        L = module.layers
        models.append(module.Sequential([
            module.Input((5,)), L.Dense(6, activation="tanh"), L.Identity(),
            L.ActivityRegularization(l1=0.01, l2=0.02), L.Dense(4), L.UnitNormalization(),
            L.Dense(2)]))
    k_model, t_model = models
    t_model.set_weights(k_model.get_weights())
    histories = []
    for module, model in ((keras, k_model), (tinynn, t_model)):
        model.compile(optimizer=module.optimizers.SGD(0.1), loss="mse")
        histories.append(model.fit(x, y, batch_size=16, epochs=3, shuffle=False,
                                   verbose=0).history)
    np.testing.assert_allclose(histories[1]["loss"], histories[0]["loss"], rtol=1e-10)
    for a, b in zip(t_model.get_weights(), k_model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert t_model.layers[2].get_config() == {
        k: v for k, v in k_model.layers[2].get_config().items() if k != "dtype"}
