"""TensorFlow's imbalanced-data tutorial, piece by piece, against Keras:

- `Dense(1, activation="sigmoid", bias_initializer=Constant(np.log([pos / neg])))`: Constant
  with an array, broadcast as Keras's implementation does;
- `bias_initializer=None` (the tutorial's default `output_bias=None`): Keras 3's add_weight
  draws a glorot_uniform bias, and the config keeps None;
- `initial.weights.h5` saved right after compile (an optimizer not built: two variables) and
  loaded into new models, both ways between the frameworks;
- `model.layers[-1].bias.assign([0.0])`, `.numpy()`, then predict and fit.

Exact where it is an assignment or a file; float64 rtol 1e-10 after a few SGD steps.
"""

import numpy as np
import pytest

import tinynn


def test_bias_assign_then_predict_and_fit_match_keras(keras, floatx64):
    pos, neg = 30, 570
    initial_bias = np.log([pos / neg])

    def build(k):
        m = k.Sequential([k.Input((5,)), k.layers.Dense(8, activation="relu"),
                          k.layers.Dense(1, activation="sigmoid")])
        m.compile(optimizer=k.optimizers.SGD(0.1), loss="binary_crossentropy")
        return m

    keras.utils.set_random_seed(0)
    k_model = build(keras)
    t_model = tinynn.models.from_keras(k_model)
    t_model.compile(optimizer=tinynn.optimizers.SGD(0.1), loss="binary_crossentropy")
    k_model.layers[-1].bias.assign(initial_bias)
    t_model.layers[-1].bias.assign(initial_bias)
    np.testing.assert_array_equal(t_model.layers[-1].bias.numpy(),
                                  k_model.layers[-1].bias.numpy())
    np.testing.assert_array_equal(t_model.layers[0].kernel.numpy(),
                                  k_model.layers[0].kernel.numpy())

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 5)), (rng.random(64) < 0.05).astype(np.float64)
    np.testing.assert_allclose(t_model.predict(x, verbose=0), k_model.predict(x, verbose=0),
                               rtol=1e-12)
    k_model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    t_model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for t, k in zip(t_model.get_weights(), k_model.get_weights(), strict=True):
        np.testing.assert_allclose(t, k, rtol=1e-10, atol=1e-12)


def test_assign_of_the_wrong_shape_is_a_value_error_in_both(keras):
    k_dense, t_dense = keras.layers.Dense(2), tinynn.layers.Dense(2)
    k_dense.build((None, 3))
    t_dense.build((None, 3))
    with pytest.raises(ValueError, match="must match") as k_error:
        k_dense.bias.assign([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="must match") as t_error:
        t_dense.bias.assign([1.0, 2.0, 3.0])
    assert str(k_error.value).split("Target")[0] == str(t_error.value).split("Target")[0]


def _tutorial_model(k, output_bias=None, n_features=5):
    if output_bias is not None:
        output_bias = k.initializers.Constant(output_bias)
    model = k.Sequential([
        k.layers.Dense(16, activation="relu", input_shape=(n_features,)),
        k.layers.Dense(1, activation="sigmoid", bias_initializer=output_bias)])
    model.compile(optimizer=k.optimizers.Adam(learning_rate=1e-3),
                  loss=k.losses.BinaryCrossentropy())
    return model


def test_constant_array_bias_and_none_initializer_as_keras(keras, floatx64):
    import warnings
    initial_bias = np.log([30 / 570])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras's input_shape= deprecation
        k_model = _tutorial_model(keras, initial_bias)
    t_model = _tutorial_model(tinynn, initial_bias)
    np.testing.assert_array_equal(t_model.layers[-1].bias.numpy(),
                                  k_model.layers[-1].bias.numpy())
    keras.utils.set_random_seed(3)
    k_none = keras.layers.Dense(4000, bias_initializer=None)
    k_none.build((None, 2))
    t_none = tinynn.layers.Dense(4000, bias_initializer=None)
    t_none.build((None, 2))
    assert k_none.get_config()["bias_initializer"] is None
    assert t_none.get_config()["bias_initializer"] is None
    limit = np.sqrt(6 / 8000)  # glorot_uniform of a 1-D shape: fan_in = fan_out = 4000
    for bias in (k_none.bias.numpy(), t_none.bias.numpy()):
        assert np.abs(bias).max() <= limit and np.abs(bias).max() > 0.99 * limit
        assert abs(np.std(bias) - limit / np.sqrt(3)) < 0.05 * limit  # uniform's std


def test_initial_weights_file_saved_after_compile_both_ways(keras, tmp_path):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        k_model = _tutorial_model(keras)
        k_other = _tutorial_model(keras)
    t_model, t_other = _tutorial_model(tinynn), _tutorial_model(tinynn)
    k_model.save_weights(tmp_path / "keras_initial.weights.h5")
    t_model.save_weights(tmp_path / "tinynn_initial.weights.h5")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a file of an optimizer not built loads without a word
        t_other.load_weights(tmp_path / "keras_initial.weights.h5")
        k_other.load_weights(tmp_path / "tinynn_initial.weights.h5")
    for t, k in zip(t_other.get_weights(), k_model.get_weights(), strict=True):
        np.testing.assert_array_equal(t, k)
    for k, t in zip(k_other.get_weights(), t_model.get_weights(), strict=True):
        np.testing.assert_array_equal(k, t)
