"""The smaller parts of Keras's model API, against Keras itself: train_on_batch /
test_on_batch / predict_on_batch values (the loss before the step, metrics afresh each call),
get_layer and pop, clear_session's names, utils.normalize, Reshape and Rescaling (forward,
backward, config, and through a .keras file both ways).

float64 with copied weights: rtol 1e-10 on losses, metrics and weights after steps (a few
matrix products in another order); normalize and the layers: rtol 1e-12; names and messages
exact.
"""

import warnings

import numpy as np
import pytest

import tinynn

TOL = dict(rtol=1e-10, atol=1e-12)


def twins(keras, lr=0.05):
    keras.utils.set_random_seed(0)
    k_model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6, activation="tanh"),
                                keras.layers.Dense(1)])
    k_model.compile(optimizer=keras.optimizers.SGD(lr), loss="mse", metrics=["mae"])
    t_model = tinynn.models.from_keras(k_model)
    t_model.compile(optimizer=tinynn.optimizers.SGD(lr), loss="mse", metrics=["mae"])
    return k_model, t_model


def test_on_batch_methods_match_keras(keras, floatx64):
    k_model, t_model = twins(keras)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(10, 4)), rng.normal(size=(10, 1))
    for method, args in (("test_on_batch", (x, y)), ("train_on_batch", (x, y)),
                         ("train_on_batch", (x[:3], y[:3])), ("test_on_batch", (x[:5], y[:5]))):
        np.testing.assert_allclose(getattr(t_model, method)(*args),
                                   getattr(k_model, method)(*args), **TOL, err_msg=method)
    assert (sorted(t_model.train_on_batch(x, y, return_dict=True))
            == sorted(k_model.train_on_batch(x, y, return_dict=True)))
    for a, b in zip(t_model.get_weights(), k_model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, **TOL)
    np.testing.assert_allclose(t_model.predict_on_batch(x), k_model.predict_on_batch(x), **TOL)


def test_on_batch_weights_match_keras(keras, floatx64):
    """sample_weight on train_on_batch / test_on_batch, class_weight on train_on_batch (a binary
    target rounded to its class, as fit): the same losses, metrics and weights as Keras, and
    different from the unweighted numbers. (Keras 3.15's test_on_batch fails on weights shaped
    (n, 1), "Cannot take the length of shape with unknown rank"; tinynn takes them as fit does.)"""
    k_model, t_model = twins(keras)
    rng = np.random.default_rng(3)
    x, y, w = rng.normal(size=(10, 4)), rng.uniform(size=(10, 1)), rng.uniform(0.1, 3, size=10)
    plain = t_model.test_on_batch(x, y)
    calls = (("test_on_batch", dict(sample_weight=w)), ("train_on_batch", dict(sample_weight=w)),
             ("train_on_batch", dict(class_weight={0: 0.2, 1: 4.0})))
    for method, kwargs in calls:
        t_out = getattr(t_model, method)(x, y, **kwargs)
        np.testing.assert_allclose(t_out, getattr(k_model, method)(x, y, **kwargs), **TOL,
                                   err_msg=f"{method}({sorted(kwargs)})")
    assert abs(t_model.test_on_batch(x, y, sample_weight=w)[0] - plain[0]) > 1e-3
    for a, b in zip(t_model.get_weights(), k_model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, **TOL)


def test_get_layer_and_pop_match_keras(keras):
    k_model, t_model = twins(keras)
    for model in (k_model, t_model):
        assert model.get_layer(index=1).name == model.layers[1].name
    for call in (lambda m: m.get_layer("nope"), lambda m: m.get_layer()):
        with pytest.raises(ValueError) as k_error:
            call(k_model)
        with pytest.raises(ValueError) as t_error:
            call(t_model)
        assert str(t_error.value).rstrip(".") == str(k_error.value).rstrip(".").replace(
            k_model.layers[0].name, t_model.layers[0].name).replace(
            k_model.layers[1].name, t_model.layers[1].name)
    k_model.pop()
    t_model.pop()
    assert t_model.output_shape == k_model.output_shape == (None, 6)
    assert len(t_model.weights) == len(k_model.weights) == 2


def test_clear_session_names_as_keras(keras):
    for module in (keras, tinynn):
        module.layers.Dense(2), module.metrics.AUC(), module.Sequential()
        module.backend.clear_session()
    names = [(m.layers.Dense(2).name, m.layers.Dense(2).name, m.metrics.AUC().name,
              m.Sequential().name) for m in (keras, tinynn)]
    assert names[0] == names[1] == ("dense", "dense_1", "auc", "sequential")


@pytest.mark.parametrize("shape,axis,order", [((5, 3), -1, 2), ((5, 3), 1, 1), ((2, 3, 4), 1, 2),
                                               ((4, 6), -1, np.inf)])
def test_normalize_matches_keras(keras, shape, axis, order):
    x = np.random.default_rng(1).normal(size=shape)
    x[0] = 0  # a zero slice stays zero in both
    np.testing.assert_allclose(tinynn.utils.normalize(x, axis, order),
                               keras.utils.normalize(x, axis, order), rtol=1e-12, atol=0)
    images = np.random.default_rng(2).integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    np.testing.assert_allclose(tinynn.utils.normalize(images, axis=1),
                               keras.utils.normalize(images, axis=1), rtol=1e-12)


@pytest.mark.parametrize("make", [
    lambda m: m.layers.Reshape((2, -1)),
    lambda m: m.layers.Reshape((-1, 3, 2)),
    lambda m: m.layers.Rescaling(1 / 127.5, offset=-1.0),
    lambda m: m.layers.Rescaling([0.5, 2.0, -1.0], offset=[1.0, 0.0, 0.5]),
], ids=["reshape", "reshape-3d", "rescaling", "rescaling-per-channel"])
def test_reshaping_layers_match_keras(keras, tf, floatx64, make, tmp_path):
    k_layer, t_layer = make(keras), make(tinynn)
    X = np.random.default_rng(3).normal(size=(4, 2, 3))
    with tf.GradientTape() as tape:
        Xt = tf.constant(X)
        tape.watch(Xt)
        Yk = k_layer(Xt)
        dY = np.random.default_rng(4).normal(size=Yk.shape)
        target = tf.reduce_sum(Yk * dY)
    dX_keras = tape.gradient(target, Xt).numpy()
    Yt = t_layer(X)
    np.testing.assert_allclose(Yt, Yk.numpy(), rtol=1e-12, atol=0)
    np.testing.assert_allclose(t_layer.backward(dY), dX_keras, rtol=1e-12, atol=0)
    k_config = {k: v for k, v in k_layer.get_config().items() if k not in ("name", "dtype")}
    t_config = {k: v for k, v in t_layer.get_config().items() if k != "name"}
    assert t_config == k_config
    model = tinynn.Sequential([tinynn.Input((2, 3)), make(tinynn), tinynn.layers.Flatten(),
                               tinynn.layers.Dense(2)])
    model.save(tmp_path / "t.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        k_model = keras.models.load_model(tmp_path / "t.keras")
        np.testing.assert_allclose(k_model.predict(X, verbose=0), model.predict(X, verbose=0),
                                   rtol=1e-12)
        k_model.save(tmp_path / "k.keras")
    back = tinynn.models.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(back.predict(X, verbose=0), model.predict(X, verbose=0),
                               rtol=1e-12)


def test_rescaling_of_uint8_pixels_matches_keras(keras, floatx32):
    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    np.testing.assert_array_equal(tinynn.layers.Rescaling(1 / 255)(pixels),
                                  keras.layers.Rescaling(1 / 255)(pixels).numpy())


def test_json_configs_travel_both_ways_and_clone_as_keras(keras):
    k_model, t_model = twins(keras)
    from_tinynn = keras.models.model_from_json(t_model.to_json())
    from_keras = tinynn.models.model_from_json(k_model.to_json())
    for a, b in ((from_tinynn, t_model), (from_keras, k_model)):
        assert [layer.name for layer in a.layers] == [layer.name for layer in b.layers]
        assert [layer.get_config()["units"] for layer in a.layers] == \
            [layer.get_config()["units"] for layer in b.layers]
        assert a.optimizer is not None and a.optimizer.__class__.__name__ == "SGD"
    k_clone, t_clone = keras.models.clone_model(k_model), tinynn.models.clone_model(t_model)
    assert [layer.name for layer in t_clone.layers] == [layer.name for layer in t_model.layers]
    assert [layer.name for layer in k_clone.layers] == [layer.name for layer in k_model.layers]
    for clone, original in ((k_clone, k_model), (t_clone, t_model)):  # new weights in both
        assert not np.array_equal(clone.get_weights()[0], original.get_weights()[0])
        assert clone.optimizer is not None and clone.optimizer is not original.optimizer


@pytest.mark.parametrize("optimizer", ["adam", "sgd_momentum", "schedule", "unbuilt"])
def test_summary_totals_match_keras(keras, optimizer):
    """model.summary()'s totals, with Keras's "Optimizer params" line once the optimizer has
    state (its slots, the step counter and, unless a schedule drives it, the learning rate)."""
    lines = {}
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 4)), rng.normal(size=(8, 1))
    keras.utils.set_random_seed(0)
    for module in (keras, tinynn):
        opt = {"adam": lambda m: m.optimizers.Adam(),
               "sgd_momentum": lambda m: m.optimizers.SGD(0.01, momentum=0.9),
               "schedule": lambda m: m.optimizers.RMSprop(
                   m.optimizers.schedules.ExponentialDecay(0.01, 10, 0.9)),
               "unbuilt": lambda m: m.optimizers.Adam()}[optimizer](module)
        model = module.Sequential([module.Input((4,)), module.layers.Dense(6),
                                   module.layers.BatchNormalization(), module.layers.Dense(1)])
        model.compile(optimizer=opt, loss="mse")
        if optimizer != "unbuilt":
            model.fit(x, y, epochs=1, verbose=0)
        printed: list = []
        model.summary(print_fn=lambda text, *a, _into=printed, **k: _into.append(text))
        text = "\n".join(printed).replace("\x1b[1m", "").replace("\x1b[0m", "")
        lines[module.__name__] = [line.strip() for line in text.splitlines()
                                  if "params:" in line]
    assert lines["tinynn"] == lines["keras"]
    assert any("Optimizer params" in line for line in lines["keras"]) == (optimizer != "unbuilt")
