"""Weight constraints: the projections, by name and object, applied after each step of fit
(only to trainable weights), saved with the layer."""

import numpy as np
import pytest

import tinynn
from tinynn import constraints as C
from tinynn import layers


def test_projections_do_what_their_docstrings_say():
    W = np.array([[3.0, 0.3], [4.0, -0.4]])  # column norms 5 and 0.5
    np.testing.assert_allclose(np.linalg.norm(C.MaxNorm(2)(W), axis=0), [2, 0.5], rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(C.UnitNorm()(W), axis=0), [1, 1], rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(C.MinMaxNorm(1, 2)(W), axis=0), [2, 1], rtol=1e-6)
    half = np.linalg.norm(C.MinMaxNorm(1, 2, rate=0.5)(W), axis=0)
    np.testing.assert_allclose(half, [3.5, 0.75], rtol=1e-6)  # half way to [2, 1]
    np.testing.assert_array_equal(C.NonNeg()(W), [[3.0, 0.3], [4.0, 0.0]])
    np.testing.assert_allclose(np.linalg.norm(C.MaxNorm(1, axis=1)(W), axis=1), [1, 1],
                               rtol=1e-6)
    assert not C.UnitNorm()(np.zeros((2, 2))).any()  # epsilon: a zero column stays zero


def test_names_configs_and_errors():
    assert isinstance(C.get("max_norm"), C.MaxNorm) and isinstance(C.get("NonNeg"), C.NonNeg)
    assert C.get(C.serialize(C.MinMaxNorm(0.1, 3, 0.5, axis=1))).get_config() == {
        "min_value": 0.1, "max_value": 3, "rate": 0.5, "axis": 1}
    assert C.get(None) is None and C.serialize(None) is None
    with pytest.raises(ValueError, match="Unknown constraint 'max'"):
        C.get("max")
    with pytest.raises(TypeError, match="Could not interpret constraint 3"):
        C.get(3)
    clip = C.get(lambda W: np.clip(W, -1, 1))  # a function works, as in Keras...
    with pytest.raises(ValueError, match="Cannot save the constraint"):
        C.serialize(clip)  # ...but cannot be saved


def test_fit_projects_after_every_step_and_only_trainable_weights():
    tinynn.utils.set_random_seed(0)
    model = tinynn.Sequential([tinynn.Input((4,)),
                               layers.Dense(6, kernel_constraint=C.MaxNorm(0.5),
                                            bias_constraint="non_neg"),
                               layers.Dense(1)])
    model.compile(optimizer=tinynn.optimizers.SGD(0.05), loss="mse")
    seen = []

    class Watch(tinynn.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(np.linalg.norm(self.model.layers[0].kernel, axis=0).max())

    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    model.fit(x, x.sum(1, keepdims=True), batch_size=8, epochs=2, verbose=0, callbacks=[Watch()])
    assert len(seen) == 8 and max(seen) <= 0.5 + 1e-6
    assert np.all(model.layers[0].bias >= 0)
    frozen = layers.Dense(2, kernel_constraint=C.NonNeg())
    frozen.build((None, 2))
    frozen.params["kernel"] = [[-1.0, 1.0], [1.0, -1.0]]
    frozen.trainable = False
    frozen.apply_constraints()
    assert frozen.params["kernel"].min() == -1.0


def test_constrained_dense_saves_and_loads(tmp_path):
    model = tinynn.Sequential([tinynn.Input((3,)),
                               layers.Dense(2, kernel_constraint=C.UnitNorm(axis=0))])
    model.compile(loss="mse")
    for name in ("m.npz", "m.keras"):
        model.save(tmp_path / name)
        loaded = tinynn.models.load_model(tmp_path / name)
        assert loaded.layers[0].kernel_constraint.get_config() == {"axis": 0}
        assert loaded.layers[0].constraints["kernel"] is loaded.layers[0].kernel_constraint
