"""`layer.bias.assign(...)` and `.numpy()` as Keras programs use them (TensorFlow's
imbalanced-data tutorial sets the output bias to log(pos/neg) after building the model), against
Keras with the other weights copied. Exact: an assignment and one float64 forward pass."""

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
