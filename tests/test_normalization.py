"""BatchNormalization and LayerNormalization: formulas, moving statistics, modes, weights and
errors. Keras equality is in parity/test_normalization.py and parity/test_conformance_keras.py."""

import io
from contextlib import redirect_stdout

import numpy as np
import pytest

import tinynn
from tinynn import backend, layers, ops


def batch(n=16, c=4, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (rng.normal(loc=3.0, scale=2.0, size=(n, c)) * np.arange(1, c + 1)).astype(dtype)


def built(layer, X):
    layer(X[:1])  # build from one sample without a training call
    return layer


# ----- BatchNormalization ----------------------------------------------------------------------

def test_bn_training_uses_the_batch_mean_and_biased_variance(float64):
    X = batch()
    bn = built(layers.BatchNormalization(), X)
    bn.params["gamma"] = [1.0, 2.0, 3.0, 4.0]
    bn.params["beta"] = [0.0, -1.0, 1.0, 0.5]
    Y = bn(X, training=True)
    Xhat = (X - X.mean(axis=0)) / np.sqrt(X.var(axis=0, ddof=0) + 1e-3)  # biased variance
    np.testing.assert_allclose(Y, Xhat * [1, 2, 3, 4] + [0, -1, 1, 0.5], rtol=1e-12, atol=1e-12)
    unbiased = (X - X.mean(axis=0)) / np.sqrt(X.var(axis=0, ddof=1) + 1e-3)
    assert not np.allclose(Y, unbiased * [1, 2, 3, 4] + [0, -1, 1, 0.5], rtol=1e-6)


def test_bn_moving_statistics_follow_keras_update(float64):
    X1, X2 = batch(seed=1), batch(seed=2)
    bn = built(layers.BatchNormalization(momentum=0.9), X1)
    bn(X1, training=True)
    bn(X2, training=True)
    mean = (0.0 * 0.9 + X1.mean(0) * 0.1) * 0.9 + X2.mean(0) * 0.1
    var = (1.0 * 0.9 + X1.var(0) * 0.1) * 0.9 + X2.var(0) * 0.1
    np.testing.assert_allclose(bn.params["moving_mean"], mean, rtol=1e-13)
    np.testing.assert_allclose(bn.params["moving_variance"], var, rtol=1e-13)
    before = bn.get_weights()
    Y = bn(X2)  # inference: the moving statistics, which stay as they were
    np.testing.assert_allclose(Y, (X2 - mean) / np.sqrt(var + 1e-3), rtol=1e-12)
    for a, b in zip(bn.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_bn_float32_stays_float32_with_keras_factors():
    X = batch(dtype=np.float32)
    bn = built(layers.BatchNormalization(), X)
    Y = bn(X, training=True)
    assert Y.dtype == np.float32 and all(w.dtype == np.float32 for w in bn.weights)
    mean = np.zeros(4, np.float32) * np.float32(0.99) + X.mean(0) * np.float32(1 - 0.99)
    np.testing.assert_array_equal(bn.params["moving_mean"], mean)
    assert bn.backward(np.ones_like(Y)).dtype == np.float32


def test_bn_frozen_runs_in_inference_mode_as_in_keras_3():
    """Keras 3: trainable=False makes BatchNormalization use its moving statistics even when
    training, update nothing, and expose no trainable weights."""
    tinynn.utils.set_random_seed(0)
    bn = layers.BatchNormalization()
    model = tinynn.Sequential([tinynn.Input((4,)), layers.Dense(4), bn, layers.Dense(3)])
    bn.params["moving_mean"] = [0.5, -0.5, 1.0, 0.0]
    bn.trainable = False
    model.compile(optimizer="adam", loss=tinynn.losses.SparseCategoricalCrossentropy(True))
    X = batch(dtype=np.float32)
    Z = model.layers[0](X)
    np.testing.assert_array_equal(bn(Z, training=True), bn(Z, training=False))
    assert bn.trainable_weights == [] and len(bn.non_trainable_weights) == 4
    before = bn.get_weights()
    model.fit(X, np.arange(16) % 3, epochs=2, batch_size=4, verbose=0)
    for a, b in zip(bn.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)
    assert tinynn.gradcheck(model, X[:5].astype(np.float64), np.arange(5) % 3,
                            verbose=False).passed


def test_bn_weights_order_and_the_optimizer_never_touches_the_moving_statistics():
    tinynn.utils.set_random_seed(0)
    dense, bn = layers.Dense(5), layers.BatchNormalization()
    model = tinynn.Sequential([tinynn.Input((4,)), dense, bn, layers.Dense(3)])
    model.compile(optimizer="adam", loss=tinynn.losses.SparseCategoricalCrossentropy(True))
    assert bn.weight_names == ["gamma", "beta", "moving_mean", "moving_variance"]  # Keras's
    assert len(model.trainable_weights) == 6 and len(model.non_trainable_weights) == 2
    X = batch(n=32, dtype=np.float32)
    Z = dense(X)  # what BatchNormalization sees in the first (only) step
    model.fit(X, np.arange(32) % 3, epochs=1, batch_size=32, shuffle=False, verbose=0)
    np.testing.assert_array_equal(bn.params["moving_mean"],
                                  Z.mean(0) * np.float32(1 - 0.99))  # the layer's own update
    assert all(len(slot) == 6 for slot in model.optimizer.slots().values())


@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False),
                                          (False, False)])
@pytest.mark.parametrize("training", [True, False])
def test_bn_gradcheck_every_variant(center, scale, training):
    bn = layers.BatchNormalization(center=center, scale=scale, momentum=0.5)
    X = batch(n=6, c=3)
    bn.build((None, 3))
    bn.set_weights([w + 0.3 * np.arange(1, 4) for w in bn.get_weights()])
    assert bn.weight_names == [*(["gamma"] if scale else []), *(["beta"] if center else []),
                               "moving_mean", "moving_variance"]
    result = tinynn.gradcheck(bn, X, training=training, verbose=False)
    assert result.passed, result


def test_bn_backward_is_the_docstring_formula(float64):
    X, dY = batch(n=8, c=3), np.random.default_rng(5).normal(size=(8, 3))
    gamma = np.array([0.5, 2.0, -1.0])
    mean, var = ops.moments(X)
    _, Xhat, inv_std = ops.batchnorm_forward(X, mean, var, gamma, 0.0, 1e-3)
    dX, dgamma, dbeta = ops.batchnorm_backward(dY, Xhat, gamma, inv_std)
    n = 8
    expected = (1 / n) * gamma * inv_std * (n * dY - dY.sum(0) - Xhat * (dY * Xhat).sum(0))
    np.testing.assert_allclose(dX, expected, rtol=1e-12)
    naive = dY * gamma * inv_std  # ignores the statistics' dependence on X: wrong in training
    assert not np.allclose(dX, naive, rtol=1e-3)
    np.testing.assert_allclose(dX.sum(0), 0, atol=1e-12)  # the mean removes any shift
    np.testing.assert_allclose(dgamma, (dY * Xhat).sum(0))
    np.testing.assert_allclose(dbeta, dY.sum(0))


def test_bn_normalizes_each_last_axis_feature_of_higher_rank_inputs(float64):
    X = np.random.default_rng(0).normal(size=(5, 2, 3))
    bn = built(layers.BatchNormalization(), X)
    Y = bn(X, training=True)
    flat = X.reshape(-1, 3)
    np.testing.assert_allclose(Y.reshape(-1, 3),
                               (flat - flat.mean(0)) / np.sqrt(flat.var(0) + 1e-3), rtol=1e-12)
    assert tinynn.gradcheck(layers.BatchNormalization(), X, verbose=False).passed


def test_bn_errors_name_the_layer_and_what_was_expected():
    with pytest.raises(ValueError, match="BatchNormalization layer 'bn_axis' supports only the "
                                         r"last axis \(axis=-1\), got axis=1"):
        layers.BatchNormalization(axis=1, name="bn_axis").build((None, 2, 3))
    layers.BatchNormalization(axis=1).build((None, 3))  # for 2-D inputs axis 1 is the last
    bn = built(layers.BatchNormalization(name="bn4"), np.ones((1, 4)))
    with pytest.raises(ValueError, match="'bn4' expected 4 features .* got input shape \\(2, 5\\)"):
        bn(np.ones((2, 5)), training=True)


def test_bn_summary_counts_moving_statistics_as_non_trainable():
    model = tinynn.Sequential([tinynn.Input((784,)), layers.Dense(512),
                               layers.BatchNormalization(), layers.Dense(10)])
    out = io.StringIO()
    with redirect_stdout(out):
        model.summary()
    text = out.getvalue()
    # Keras: 401,920 + 2,048 + 5,130 params, of which 1,024 (moving mean and variance) frozen
    assert "Total params: 409,098" in text and "Trainable params: 408,074" in text
    assert "Non-trainable params: 1,024 (4.00 KB)" in text


def test_bn_config_round_trip_and_save_load_keep_moving_statistics(tmp_path):
    bn = layers.BatchNormalization(momentum=0.9, epsilon=1e-2, center=False,
                                   gamma_regularizer="l2", moving_variance_initializer="zeros")
    config = bn.get_config()
    assert config["gamma_regularizer"] == {"class_name": "L2", "config": {"l2": 0.01}}
    assert layers.BatchNormalization.from_config(config).get_config() == config
    tinynn.utils.set_random_seed(0)
    model = tinynn.Sequential([tinynn.Input((4,)), layers.Dense(4), bn, layers.Dense(3)])
    model.compile(optimizer="adam", loss=tinynn.losses.SparseCategoricalCrossentropy(True))
    X = batch(dtype=np.float32)
    model.fit(X, np.arange(16) % 3, epochs=2, batch_size=4, verbose=0)
    assert bn.params["moving_variance"].min() > 0
    model.save(tmp_path / "bn.npz")
    loaded = tinynn.models.load_model(tmp_path / "bn.npz")
    np.testing.assert_array_equal(loaded.layers[1].params["moving_variance"],
                                  bn.params["moving_variance"])
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))


@pytest.mark.parametrize("training", [True, False])
def test_bn_backends_agree_at_hot_path_size(training):
    X = batch(n=32, c=512, dtype=np.float32)
    dY = np.random.default_rng(1).normal(size=X.shape).astype(np.float32)
    results = []
    for name in ("numpy", "numba"):
        backend.set_backend(name)
        try:
            bn = built(layers.BatchNormalization(), X)
            Y = bn(X, training=training)
            results.append([Y, bn.backward(dY), *bn.get_weights(), bn.grads["gamma"]])
        finally:
            backend.set_backend("numba")
    for got, want in zip(*results, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


# ----- LayerNormalization ----------------------------------------------------------------------

def test_ln_normalizes_each_sample_the_same_in_both_modes(float64):
    X = batch()
    ln = built(layers.LayerNormalization(), X)
    ln.params["gamma"] = [1.0, 2.0, 3.0, 4.0]
    ln.params["beta"] = [0.0, -1.0, 1.0, 0.5]
    Y = ln(X, training=True)
    Xhat = (X - X.mean(1, keepdims=True)) / np.sqrt(X.var(1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(Y, Xhat * [1, 2, 3, 4] + [0, -1, 1, 0.5], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(ln(X, training=False), Y)
    assert ln.non_trainable_weights == []


def test_ln_rms_scaling_is_keras_deprecated_formula(float64):
    X = batch()
    with pytest.warns(UserWarning, match="deprecated in Keras 3"):
        ln = built(layers.LayerNormalization(rms_scaling=True, scale=False), X)
    assert ln.weight_names == ["gamma"]  # Keras: gamma always, no beta
    ln.params["gamma"] = [1.0, 2.0, 3.0, 4.0]
    np.testing.assert_allclose(ln(X), X / np.sqrt(X.var(1, keepdims=True) + 1e-3) * [1, 2, 3, 4],
                               rtol=1e-12)


@pytest.mark.parametrize("kwargs", [{}, {"center": False}, {"scale": False},
                                    {"center": False, "scale": False}, {"rms_scaling": True},
                                    {"epsilon": 0.5}], ids=repr)
@pytest.mark.filterwarnings("ignore:LayerNormalization\\(rms_scaling=True\\)")
def test_ln_gradcheck_every_variant(kwargs):
    ln = layers.LayerNormalization(**kwargs)
    X = batch(n=5, c=4)
    ln.build((None, 4))
    ln.set_weights([w + 0.3 * np.arange(1, 5) for w in ln.get_weights()])
    result = tinynn.gradcheck(ln, X, verbose=False)
    assert result.passed, result


def test_ln_higher_rank_config_and_errors(float64):
    X = np.random.default_rng(0).normal(size=(5, 2, 3))
    assert tinynn.gradcheck(layers.LayerNormalization(), X, verbose=False).passed
    ln = layers.LayerNormalization(axis=[-1], beta_regularizer=tinynn.regularizers.L1(0.2))
    config = ln.get_config()
    assert config["axis"] == [-1] and config["rms_scaling"] is False
    assert layers.LayerNormalization.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="LayerNormalization layer 'ln' supports only the last "
                                         r"axis \(axis=-1\), got axis=\[1, 2\]"):
        layers.LayerNormalization(axis=[1, 2], name="ln").build((None, 2, 3))
    ln = built(layers.LayerNormalization(name="ln3"), np.ones((1, 3)))
    with pytest.raises(ValueError, match="'ln3' expected 3 features"):
        ln(np.ones((2, 4)))
