"""layers.Normalization against Keras's: adapt's statistics, the forward pass and its inverse,
for every axis setting, given and adapted statistics, NumPy arrays and lists of batches; then
TensorFlow's "basic regression" recipe (adapt on the training features, a normalizing first
layer, mean absolute error) trained in both frameworks with the same weights.

Tolerances: float64 1e-12 (the same NumPy mean and variance on both sides; the forward pass is
one subtraction and one division); float32 1e-6 relative. The training run: 1e-10 in float64
over 30 steps, where a few hundred roundings separate the two.
"""

import numpy as np
import pytest

import tinynn

TOL = {"float32": dict(rtol=1e-6, atol=1e-6), "float64": dict(rtol=1e-12, atol=1e-12)}

CASES = [  # (input shape of the data, axis)
    ((40, 5), -1), ((40, 5), None), ((40, 5), 1), ((40, 3, 4), -1), ((40, 3, 4), (1, 2)),
    ((40, 3, 4), 1), ((40,), None),
]


@pytest.mark.parametrize("shape,axis", CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("invert", [False, True])
def test_adapt_and_forward_equal_kerass(keras, floatx, shape, axis, invert):
    rng = np.random.default_rng(0)
    data = (rng.normal(size=shape) * 3 + 5).astype(floatx)
    if data.ndim > 1:
        data[..., 0] = 2.5  # a constant feature: variance 0, std floored at 1e-7
    x = rng.normal(size=(7, *shape[1:])).astype(floatx)
    ours, theirs = tinynn.layers.Normalization(axis=axis, invert=invert), \
        keras.layers.Normalization(axis=axis, invert=invert)
    ours.adapt(data)
    theirs.adapt(data)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, **TOL[floatx])
    np.testing.assert_allclose(ours(x), np.asarray(theirs(x)), **TOL[floatx])


def test_adapt_on_a_list_of_batches_combines_them_as_keras(keras, floatx):
    rng = np.random.default_rng(1)
    batches = [(rng.normal(size=(n, 4)) * 2 + 1).astype(floatx) for n in (10, 7, 13)]
    ours, theirs = tinynn.layers.Normalization(), keras.layers.Normalization()
    ours.adapt(batches)
    theirs.adapt(batches)
    for a, b in zip(ours.get_weights()[:2], theirs.get_weights()[:2], strict=True):
        np.testing.assert_allclose(a, b, **TOL[floatx])
    whole = np.concatenate(batches)  # and equals the statistics of the whole data set
    np.testing.assert_allclose(ours.get_weights()[0], whole.mean(0), rtol=1e-5)
    np.testing.assert_allclose(ours.get_weights()[1], whole.var(0), rtol=1e-5)


@pytest.mark.parametrize("mean,variance", [(3.0, 2.0), ([1.0, 2.0, 3.0], [4.0, 0.0, 1.0])])
def test_given_statistics_equal_kerass(keras, floatx, mean, variance):
    x = np.random.default_rng(2).normal(size=(6, 3)).astype(floatx)
    for invert in (False, True):
        ours = tinynn.layers.Normalization(mean=mean, variance=variance, invert=invert)
        theirs = keras.layers.Normalization(mean=mean, variance=variance, invert=invert)
        np.testing.assert_allclose(ours(x), np.asarray(theirs(x)), **TOL[floatx])
        assert ours.get_config()["mean"] == theirs.get_config()["mean"]


def test_keras_errors_for_bad_statistics(keras):
    for kwargs in ({"mean": 1.0}, {"mean": [1.0, 2.0], "variance": [1.0]}):
        with pytest.raises(ValueError) as theirs:
            keras.layers.Normalization(**kwargs)
        with pytest.raises(ValueError) as ours:
            tinynn.layers.Normalization(**kwargs)
        assert str(ours.value) == str(theirs.value)


def test_the_basic_regression_recipe_trains_like_keras(keras, floatx64):
    """TensorFlow's "basic regression" tutorial's DNN: Normalization adapted on the training
    features, Dense(64, relu) x 2, Dense(1), Adam(0.001), mean absolute error; 30 steps of
    batch 32 with the same initial weights and order, in float64."""
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(320, 9)) * rng.uniform(1, 100, size=9)).astype("float64")
    y = x @ rng.normal(size=9) / 50 + rng.normal(size=320)

    def build(k):
        normalizer = k.layers.Normalization(axis=-1)
        normalizer.adapt(x)
        model = k.Sequential([k.Input((9,)), normalizer, k.layers.Dense(64, activation="relu"),
                              k.layers.Dense(64, activation="relu"), k.layers.Dense(1)])
        model.compile(loss="mean_absolute_error", optimizer=k.optimizers.Adam(0.001))
        return model

    theirs, ours = build(keras), build(tinynn)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0),
                               rtol=1e-12, atol=1e-12)
    h_theirs = theirs.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0).history
    h_ours = ours.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0).history
    np.testing.assert_allclose(h_ours["loss"], h_theirs["loss"], rtol=1e-10)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
