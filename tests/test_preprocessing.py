"""layers.Normalization: Keras's documented values, the gradient, saving an adapted layer, and
the errors (Keras equality is in parity/test_preprocessing_keras.py)."""

import numpy as np
import pytest

import tinynn
from tinynn import layers

ADAPT = np.array([[0.0, 7.0, 4.0], [2.0, 9.0, 6.0], [0.0, 7.0, 4.0], [2.0, 9.0, 6.0]], "float32")


def test_kerass_docstring_examples():
    layer = layers.Normalization(axis=None)
    layer.adapt(np.array([1.0, 2.0, 3.0, 4.0, 5.0], "float32"))
    np.testing.assert_allclose(layer(np.array([1.0, 2.0, 3.0], "float32")),
                               [-1.4142135, -0.70710677, 0.0], rtol=1e-6)
    layer = layers.Normalization(axis=-1)
    layer.adapt(ADAPT)
    np.testing.assert_allclose(layer(ADAPT[:1]), [[-1.0, -1.0, -1.0]])
    layer = layers.Normalization(mean=3.0, variance=2.0)
    np.testing.assert_allclose(layer(np.array([[1.0], [2.0], [3.0]], "float32")),
                               [[-1.4142135], [-0.70710677], [0.0]], rtol=1e-6)
    layer = layers.Normalization(axis=-1, invert=True)
    layer.adapt(ADAPT)
    np.testing.assert_allclose(layer(np.array([[1.0, 2.0, 3.0]], "float32")), [[2.0, 10.0, 8.0]])


def test_adapted_statistics_are_non_trainable_weights_and_the_gradient_is_dy_over_std():
    rng = np.random.default_rng(0)
    layer = layers.Normalization()
    layer.adapt(rng.normal(size=(50, 4)) * [1, 2, 3, 4])
    assert layer.weight_names == ["mean", "variance", "count"]
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 3
    result = tinynn.gradcheck(layer, rng.normal(size=(5, 4)), verbose=False)
    assert result.passed, result
    dY = rng.normal(size=(5, 4)).astype("float32")
    layer(np.zeros((5, 4), "float32"))
    np.testing.assert_allclose(layer.backward(dY), dY / np.sqrt(layer.params["variance"]),
                               rtol=1e-6)


def test_a_model_with_an_adapted_layer_saves_and_loads_it(tmp_path):
    x = np.random.default_rng(1).normal(size=(30, 3)).astype("float32") * 10 + 4
    normalizer = layers.Normalization()
    normalizer.adapt(x)
    model = tinynn.Sequential([tinynn.Input((3,)), normalizer, layers.Dense(1)])
    for name in ("m.npz", "m.keras"):
        model.save(tmp_path / name)
        loaded = tinynn.models.load_model(tmp_path / name)
        np.testing.assert_array_equal(loaded.layers[0].params["mean"], normalizer.params["mean"])
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_errors_name_the_layer_and_what_was_expected():
    with pytest.raises(ValueError, match="both `mean` and `variance` must be set"):
        layers.Normalization(mean=1.0)
    with pytest.raises(ValueError, match="axis to be an integer"):
        layers.Normalization(axis="last")
    with pytest.raises(ValueError, match=r"range \[-ndim, ndim\)"):
        layers.Normalization(axis=3).build((None, 4))
    with pytest.raises(ValueError, match="cannot keep the batch axis"):
        layers.Normalization(axis=0).build((None, 4))
    layer = layers.Normalization()
    layer.adapt(ADAPT)
    with pytest.raises(ValueError, match=r"adapt\(\) got data of shape \(4, 2\)"):
        layer.adapt(ADAPT[:, :2])
    with pytest.raises(ValueError, match="was given mean and variance"):
        layers.Normalization(mean=1.0, variance=1.0).adapt(ADAPT)
    with pytest.raises(ValueError, match="do not broadcast"):
        layers.Normalization(mean=[1.0, 2.0], variance=[1.0, 1.0]).build((None, 3))
