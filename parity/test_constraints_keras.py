"""Weight constraints (MaxNorm, MinMaxNorm, NonNeg, UnitNorm, by object and by name) against
Keras: the projection of the same arrays, then `fit` with constrained Dense layers (Keras
applies the constraint inside `optimizer.apply`, after every update; tinynn after every step),
and the layer configs through `.keras` files and `to_keras`/`from_keras`.

float64: rtol 1e-12 on the projections (the same few operations); 1e-10 on weights after 3
epochs of SGD (a few hundred matrix products in another order).
"""

import warnings

import numpy as np
import pytest

import tinynn

CASES = {
    "MaxNorm": (dict(max_value=0.7), dict(max_value=1.5, axis=1)),
    "MinMaxNorm": (dict(min_value=0.5, max_value=0.9, rate=0.6), dict(axis=[0, 1])),
    "NonNeg": ({},),
    "UnitNorm": ({}, dict(axis=1)),
}
NAMES = ["max_norm", "min_max_norm", "non_neg", "unit_norm"]


@pytest.mark.parametrize("name", CASES)
def test_projections_match_keras(keras, floatx64, name):
    W = np.random.default_rng(0).normal(size=(6, 4)) * 0.8
    W[:, 0] = 0  # a zero column: the epsilon keeps it zero in both
    for kwargs in CASES[name]:
        ours = getattr(tinynn.constraints, name)(**kwargs)
        theirs = getattr(keras.constraints, name)(**kwargs)
        np.testing.assert_allclose(ours(W), theirs(W).numpy(), rtol=1e-12, atol=1e-15,
                                   err_msg=f"{name}({kwargs})")
        assert ours.get_config() == theirs.get_config()
    for alias in NAMES:
        assert type(tinynn.constraints.get(alias)).__name__ == \
            type(keras.constraints.get(alias)).__name__


def test_fit_with_constrained_layers_matches_keras(keras, floatx64):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(64, 5)), np.arange(64) % 3

    def build(m):
        return m.Sequential([
            m.Input((5,)),
            m.layers.Dense(8, activation="relu", kernel_constraint=m.constraints.MaxNorm(0.9),
                           bias_constraint=m.constraints.NonNeg()),
            m.layers.Dense(3, activation="softmax", kernel_constraint="unit_norm")])

    keras.utils.set_random_seed(0)
    k_model = build(keras)
    t_model = tinynn.models.from_keras(k_model)
    assert t_model.layers[0].kernel_constraint.get_config() == {"max_value": 0.9, "axis": 0}
    for model, module in ((k_model, keras), (t_model, tinynn)):
        model.compile(optimizer=module.optimizers.SGD(0.2), loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    for a, b in zip(t_model.get_weights(), k_model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    norms = np.linalg.norm(t_model.get_weights()[0], axis=0)
    assert norms.max() <= 0.9 + 1e-9 and np.all(t_model.get_weights()[1] >= 0)


def test_constraint_configs_travel_through_keras_files(keras, tmp_path):
    model = tinynn.Sequential([
        tinynn.Input((4,)),
        tinynn.layers.Dense(3, kernel_constraint=tinynn.constraints.MinMaxNorm(0.1, 2.0, 0.5),
                            bias_constraint="non_neg")])
    model.save(tmp_path / "t.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        k_model = keras.models.load_model(tmp_path / "t.keras")
    k_dense = k_model.layers[0]
    assert type(k_dense.kernel_constraint).__name__ == "MinMaxNorm"
    assert k_dense.kernel_constraint.get_config() == model.layers[0].kernel_constraint.get_config()
    assert type(k_dense.bias_constraint).__name__ == "NonNeg"
    k_model.save(tmp_path / "k.keras")
    back = tinynn.models.load_model(tmp_path / "k.keras")
    assert back.layers[0].get_config() == model.layers[0].get_config()
    assert type(model.to_keras().layers[0].kernel_constraint).__name__ == "MinMaxNorm"


def test_normalization_layers_constrained_as_keras(keras, floatx64):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(48, 4)) * 3 + 1, rng.normal(size=(48, 2))

    def build(m):
        return m.Sequential([
            m.Input((4,)), m.layers.Dense(6),
            m.layers.BatchNormalization(gamma_constraint=m.constraints.MaxNorm(2.2),
                                        beta_constraint="non_neg"),
            m.layers.Dense(5),
            m.layers.LayerNormalization(gamma_constraint=m.constraints.UnitNorm(),
                                        beta_constraint=m.constraints.MinMaxNorm(0.0, 0.3)),
            m.layers.Dense(2)])

    keras.utils.set_random_seed(1)
    k_model = build(keras)
    t_model = tinynn.models.from_keras(k_model)
    for model, module in ((k_model, keras), (t_model, tinynn)):
        model.compile(optimizer=module.optimizers.SGD(0.3), loss="mse")
        model.fit(x, y, batch_size=12, epochs=3, shuffle=False, verbose=0)
    for a, b in zip(t_model.get_weights(), k_model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    bn, ln = t_model.layers[1], t_model.layers[3]
    assert np.linalg.norm(bn.gamma) <= 2.2 + 1e-9 and np.all(bn.beta >= 0)
    assert abs(np.linalg.norm(ln.gamma) - 1) < 1e-6
