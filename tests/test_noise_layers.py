"""GaussianNoise and GaussianDropout: identity at inference; in training the noise has the
stated distribution (fixed seeds, 5-standard-error bounds); seeds, saving and gradcheck with
frozen noise. (The statistics against Keras's own layers are in parity/test_new_layers.py.)"""

import math

import numpy as np
import pytest

import tinynn
from tinynn import layers

X = np.full((400, 500), 2.0, dtype=np.float32)  # 200,000 noise draws


def within(values, mean, variance, n_se=5):
    n = values.size
    assert abs(values.mean() - mean) < n_se * math.sqrt(variance / n), values.mean()
    # for normal draws Var(sample variance) = 2 sigma**4 / n
    assert abs(values.var() - variance) < n_se * variance * math.sqrt(2 / n), values.var()


def test_gaussian_noise():
    layer = layers.GaussianNoise(0.3, seed=1)
    assert layer(X) is X  # inference: identity
    Y = layer(X, training=True)
    assert Y.dtype == np.float32 and Y.shape == X.shape
    within((Y - X).astype(np.float64), 0.0, 0.09)
    dY = np.random.default_rng(0).normal(size=X.shape).astype(np.float32)
    assert layer.backward(dY) is dY  # additive noise: dX = dY
    assert layers.GaussianNoise(0.0)(X, training=True) is X


def test_gaussian_dropout():
    rate = 0.3
    layer = layers.GaussianDropout(rate, seed=1)
    assert layer(X) is X
    Y = layer(X, training=True)
    M = Y / X
    within(M.astype(np.float64), 1.0, rate / (1 - rate))  # the variance of inverted dropout
    np.testing.assert_array_equal(layer.backward(np.ones_like(X)), layer._mask)
    assert layer(X, training=False) is X and layer.backward(X) is X  # inference: no mask
    assert layers.GaussianDropout(0.0)(X, training=True) is X


@pytest.mark.parametrize("make,match", [
    (lambda: layers.GaussianNoise(1.5), r"GaussianNoise expected stddev in \[0, 1\]"),
    (lambda: layers.GaussianNoise(-0.1), "stddev"),
    (lambda: layers.GaussianDropout(1.0), r"GaussianDropout expected rate in \[0, 1\)"),
    (lambda: layers.GaussianDropout("0.2"), "rate"),
])
def test_bad_arguments_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("cls,arg", [(layers.GaussianNoise, 0.2), (layers.GaussianDropout, 0.2)])
def test_seeds_and_the_global_generator(cls, arg):
    x = np.ones((3, 4), np.float32)
    a, b = cls(arg, seed=5)(x, training=True), cls(arg, seed=5)(x, training=True)
    np.testing.assert_array_equal(a, b)
    tinynn.utils.set_random_seed(3)
    c = cls(arg)(x, training=True)
    tinynn.utils.set_random_seed(3)
    np.testing.assert_array_equal(cls(arg)(x, training=True), c)
    layer = cls(arg, seed=5)
    assert not np.array_equal(layer(x, training=True), layer(x, training=True))  # fresh noise
    # float32 and float64 inputs see the same noise (drawn in float64, rounded once)
    y32 = cls(arg, seed=9)(x, training=True)
    y64 = cls(arg, seed=9)(x.astype(np.float64), training=True)
    np.testing.assert_allclose(y32, y64, rtol=2e-7)


def test_model_gradcheck_with_frozen_noise_and_training():
    tinynn.utils.set_random_seed(0)
    model = tinynn.Sequential([tinynn.Input((6,)), layers.GaussianNoise(0.5),
                               layers.Dense(5, activation="selu"), layers.GaussianDropout(0.4),
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(64, 6)).astype("float32")
    y = x[:, :3].argmax(axis=1)  # learnable
    assert tinynn.gradcheck(model, x[:4], y[:4], verbose=False).passed
    history = model.fit(x, y, epochs=20, batch_size=8, verbose=0).history["loss"]
    assert history[-1] < history[0]
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
