"""Layer behaviour: shapes, initialisation, dropout, names, weights, errors."""

import numpy as np
import pytest

import tinynn
from tinynn import activations, layers


def test_dense_builds_keras_shapes_and_init():
    tinynn.utils.set_random_seed(0)
    layer = layers.Dense(300)
    layer(np.zeros((2, 500), dtype=np.float32))
    W, b = layer.get_weights()
    assert W.shape == (500, 300) and b.shape == (300,)
    assert W.dtype == b.dtype == np.float32
    limit = np.sqrt(6 / 800)
    assert np.abs(W).max() <= limit and np.abs(W).max() > 0.99 * limit
    assert abs(W.var() - 2 / 800) < 0.05 * 2 / 800  # glorot: Var = 2 / (fan_in + fan_out)
    assert not b.any()


def test_float64_weights(float64):
    layer = layers.Dense(3)
    assert layer(np.zeros((1, 2))).dtype == np.float64
    assert layer.kernel.dtype == np.float64


def test_dense_without_bias():
    layer = layers.Dense(2, use_bias=False)
    layer(np.ones((1, 3)))
    assert list(layer.params) == ["kernel"] and layer.bias is None
    layer.backward(np.ones((1, 2)))
    assert list(layer.grads) == ["kernel"]
    # after a backward pass the output is still X @ W, with no bias (the gradient that a bias
    # would have had once leaked into the forward pass)
    X = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_allclose(layer(X), X @ layer.kernel, rtol=1e-6)


def test_dense_without_bias_stays_without_bias_after_backward():
    """The zero bias and the scratch buffer for the unused db were one array: after a
    backward, the next forward added the last db as a bias (predictions off by 0.035)."""
    layer = layers.Dense(2, use_bias=False)
    X = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    layer(X)
    layer.backward(np.ones((4, 2), np.float32))
    np.testing.assert_array_equal(layer(X), X @ layer.kernel)


def test_dropout_is_identity_at_inference_and_scaled_in_training():
    layer = layers.Dropout(0.3, seed=1)
    X = np.ones((200, 500), dtype=np.float32)
    assert layer(X) is X
    Y = layer(X, training=True)
    kept = Y != 0
    np.testing.assert_allclose(Y[kept], 1 / 0.7, rtol=1e-6)
    assert abs(1 - kept.mean() - 0.3) < 0.01
    assert abs(Y.mean() - 1) < 0.01  # inverted dropout keeps the expected value
    np.testing.assert_array_equal(layer.backward(np.ones_like(X)), Y)


def test_dropout_masks_come_from_one_key_per_pass():
    """Pass t of Dropout(rate, seed=s) uses the t-th raw 64-bit draw of default_rng(s) as the
    key of `ops.counter_uniform`; drawn at once with random_raw(size=n), the keys are the same
    n draws, and the generator ends in the same state (what a fused training loop relies on)."""
    from tinynn import ops

    X = np.ones((6, 7, 3), np.float32)
    layer = layers.Dropout(0.4, seed=5)
    masks = [layer(X, training=True) for _ in range(4)]  # X = 1: Y is the mask
    many, single = np.random.default_rng(5).bit_generator, np.random.default_rng(5).bit_generator
    keys = many.random_raw(size=4)
    assert keys.dtype == np.uint64
    assert keys.tolist() == [single.random_raw() for _ in range(4)]
    assert many.state == single.state == layer._rng.bit_generator.state
    for t, key in enumerate(keys):
        np.testing.assert_array_equal(masks[t], ops.dropout_train_keyed(X, key, 0.4)[1],
                                      err_msg=f"pass {t}")
    assert not np.array_equal(masks[0], masks[1])


def test_dropout_masks_are_reproducible_from_set_random_seed():
    X = np.ones((16, 40), np.float32)

    def masks():
        tinynn.utils.set_random_seed(7)
        a, b = layers.Dropout(0.5), layers.Dropout(0.5)
        return [a(X, training=True), a(X, training=True), b(X, training=True)]

    first, again = masks(), masks()
    for m1, m2 in zip(first, again, strict=True):
        np.testing.assert_array_equal(m1, m2)
    assert not np.array_equal(first[0], first[1])  # a new mask every pass
    assert not np.array_equal(first[0], first[2])  # and every layer its own stream


def test_activation_names_and_functions():
    assert activations.get(None) == "linear"
    assert activations.get("ReLU") == "relu"
    assert activations.get(activations.tanh) == "tanh"
    assert layers.Dense(2, activation=activations.sigmoid).activation == "sigmoid"
    assert activations.get("swish") == activations.get(activations.swish) == "silu"  # as Keras
    assert activations.get("hard_swish") == "hard_silu"  # as Keras
    with pytest.raises(ValueError, match="Known activations: celu, elu, exponential, .*swish"):
        activations.get("sparsemax")


def test_softmax_rows_sum_to_one_even_for_huge_logits():
    Z = np.array([[1e4, -1e4, 0.0], [3.0, 3.0, 3.0]], dtype=np.float32)
    P = activations.softmax(Z)
    assert np.isfinite(P).all()
    np.testing.assert_allclose(P.sum(axis=1), 1, atol=1e-6)


def test_sigmoid_is_stable():
    Z = np.array([-1000.0, 0.0, 1000.0])
    np.testing.assert_allclose(activations.sigmoid(Z), [0, 0.5, 1])


def test_keras_style_names():
    a, b = layers.Dense(1), layers.Dense(1)
    assert a.name.startswith("dense") and b.name != a.name
    assert layers.Dense(1, name="out").name == "out"
    # Keras's to_snake_case (measured): the names also key Keras's weight files
    assert layers.ReLU().name.startswith("re_lu")
    assert [layers.snake_case(n) for n in ("ReLU", "PReLU", "BatchNormalization", "Conv2D",
                                           "GlorotUniform", "LSTM", "MyDense2")] == [
        "re_lu", "p_re_lu", "batch_normalization", "conv2d", "glorot_uniform", "lstm",
        "my_dense2"]


@pytest.mark.parametrize("make,match", [
    (lambda: layers.Dense(0), "units"),
    (lambda: layers.Dense(2.5), "units"),
    (lambda: layers.Dropout(1.0), "rate"),
    (lambda: layers.Dropout(-0.1), "rate"),
    (lambda: layers.Input((0, 3)), "shape"),
])
def test_bad_layer_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_dense_wrong_features_and_missing_flatten():
    layer = layers.Dense(4)
    layer(np.zeros((1, 784)))
    with pytest.raises(ValueError, match="expected input with 784 features.*got shape \\(2, 10\\)"):
        layer(np.zeros((2, 10)))
    with pytest.raises(ValueError, match="got shape \\(2, 28, 28\\). Did you forget a Flatten"):
        layer(np.zeros((2, 28, 28)))  # 28 * 28 = 784 features, not flattened
    with pytest.raises(ValueError, match="got shape \\(2, 5, 10\\).$"):  # no hint: 50 != 784
        layer(np.zeros((2, 5, 10)))
    with pytest.raises(ValueError, match="expects input of shape \\(batch, ..., features\\)"):
        layers.Dense(2).build((None,))


def test_dense_acts_on_the_last_axis_of_nd_input():
    """Keras's Dense on (N, T, F): the same W and b at each of the T positions."""
    tinynn.utils.set_random_seed(0)
    layer = layers.Dense(3, activation="tanh")
    X = np.random.default_rng(0).normal(size=(4, 5, 6)).astype("float32")
    Y = layer(X)
    assert Y.shape == (4, 5, 3) and layer.kernel.shape == (6, 3)
    assert layer.compute_output_shape((None, 5, 6)) == (None, 5, 3)
    for t in range(5):  # position by position, it is the 2-D layer
        np.testing.assert_allclose(Y[:, t], np.tanh(X[:, t] @ layer.kernel + layer.bias),
                                   rtol=1e-6)
    dY = np.random.default_rng(1).normal(size=Y.shape).astype("float32")
    dX = layer.backward(dY)
    dZ = dY * (1 - Y**2)
    assert dX.shape == X.shape
    np.testing.assert_allclose(dX, dZ @ layer.kernel.T, rtol=1e-5, atol=1e-6)
    # dW and db sum over every leading axis: N and T
    np.testing.assert_allclose(layer.grads["kernel"], np.einsum("ntf,ntu->fu", X, dZ),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.grads["bias"], dZ.sum(axis=(0, 1)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend_name", ["numpy", "numba"])
def test_dense_nd_gradcheck_on_both_backends(backend_name, float64):
    tinynn.set_backend(backend_name)
    try:
        layer = layers.Dense(3, activation="softmax")
        X = np.random.default_rng(2).normal(size=(3, 4, 5))
        assert tinynn.gradcheck(layer, X, verbose=False).passed
        model = tinynn.Sequential([tinynn.Input((4, 5)), layers.Dense(6, activation="relu"),
                                   layers.Flatten(), layers.Dense(3, activation="softmax")])
        model.compile(loss="sparse_categorical_crossentropy")
        assert tinynn.gradcheck(model, X, np.arange(3) % 3, verbose=False).passed
    finally:
        tinynn.set_backend("numba")


def test_layer_set_weights_checks_shapes():
    layer = layers.Dense(2)
    layer(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="weight 'kernel' has shape \\(3, 2\\), got \\(2, 2\\)"):
        layer.set_weights([np.zeros((2, 2)), np.zeros(2)])
