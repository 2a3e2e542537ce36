"""Keras's own files, against Keras itself: a tinynn model saved as `.keras` or `.weights.h5`
opens in Keras and predicts what tinynn predicts, and the reverse; tinynn writes the config.json
Keras writes (`model.to_json()`) and the HDF5 layout Keras writes; training continues from a
file across frameworks as if nothing had happened (optimizer state included, every optimizer
setting, float64 to 1e-12); every tinynn layer and optimizer with a Keras twin travels (found by
discovery, not listed).

Tolerances: a model's weights travel bit-identically (asserted exactly). Predictions of the same
weights in the two frameworks differ by the summation order of the matrix products: float32
atol 1e-6, float64 1e-12 (as test_interop.py). Training continued for 8 steps after the
round trip: float64 rtol 1e-12 (test_init_optim.py's bound for 200 optimizer steps).
"""

import io
import json
import warnings
import zipfile

import h5py
import numpy as np
import pytest
from test_conformance_keras import _names, make

import tinynn
from tinynn import keras_format, layers, optimizers

TOL = {"float32": dict(atol=1e-6, rtol=0), "float64": dict(atol=1e-12, rtol=0)}
OPTIMIZERS = {  # (Keras class, arguments): every layout Keras has for tinynn's optimizers
    "adam": ("Adam", dict(learning_rate=0.01)),
    "sgd": ("SGD", dict(learning_rate=0.05)),
    "sgd_momentum": ("SGD", dict(learning_rate=0.05, momentum=0.9)),
    "sgd_nesterov": ("SGD", dict(learning_rate=0.05, momentum=0.5, nesterov=True)),
    "rmsprop": ("RMSprop", dict(learning_rate=0.003)),
    "rmsprop_momentum": ("RMSprop", dict(learning_rate=0.003, momentum=0.5)),
    "rmsprop_centered": ("RMSprop", dict(learning_rate=0.003, momentum=0.5, centered=True)),
    "rmsprop_centered_only": ("RMSprop", dict(learning_rate=0.003, centered=True)),
}


def keras_zoo(keras, name="zoo"):
    """Every layer tinynn has, with the names the tinynn zoo gets (Keras numbers its inputs
    "input_layer_1", ... per process; a tinynn Sequential writes "input_layer")."""
    K = keras.layers
    return keras.Sequential([
        keras.Input((4, 5), name="input_layer"), K.Flatten(name="flat"),
        K.Dense(16, activation="relu", name="d1"),
        K.Dropout(0.5, name="drop"), K.Dense(12, name="d2"), K.ReLU(name="relu"),
        K.Dense(12, activation="tanh", name="d3"), K.Activation("sigmoid", name="sig"),
        K.Dense(8, use_bias=False, kernel_initializer="he_uniform", name="d4"),
        K.Activation("tanh", name="tanh"), K.Dense(6, bias_initializer="ones", name="d5"),
        K.Softmax(name="soft")], name=name)


def tinynn_zoo(name="zoo"):
    L = layers
    return tinynn.Sequential([
        tinynn.Input((4, 5)), L.Flatten(name="flat"), L.Dense(16, activation="relu", name="d1"),
        L.Dropout(0.5, name="drop"), L.Dense(12, name="d2"), L.ReLU(name="relu"),
        L.Dense(12, activation="tanh", name="d3"), L.Activation("sigmoid", name="sig"),
        L.Dense(8, use_bias=False, kernel_initializer="he_uniform", name="d4"),
        L.Activation("tanh", name="tanh"), L.Dense(6, bias_initializer="ones", name="d5"),
        L.Softmax(name="soft")], name=name)


def data(dtype, n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4, 5)).astype(dtype)
    return x, rng.integers(0, 6, size=n)


def keras_optimizer(keras, key):
    cls, kwargs = OPTIMIZERS[key]
    return getattr(keras.optimizers, cls)(**kwargs)


def tinynn_optimizer(key):
    cls, kwargs = OPTIMIZERS[key]
    return getattr(optimizers, cls)(**kwargs)


def without_shared_ids(obj):
    """Keras marks objects shared between layers (the dtype policy) in a saved config.json;
    `to_json` does not, and loading does not need it."""
    if isinstance(obj, dict):
        return {k: without_shared_ids(v) for k, v in obj.items() if k != "shared_object_id"}
    if isinstance(obj, list):
        return [without_shared_ids(v) for v in obj]
    return obj


def h5_layout(data: bytes) -> list:
    out = []
    with h5py.File(io.BytesIO(data), "r") as f:
        f.visititems(lambda name, obj: out.append(
            (name, obj.shape, obj.dtype.str) if isinstance(obj, h5py.Dataset)
            else (name, dict(obj.attrs))))
    return sorted(out)


def member(path, name) -> bytes:
    with zipfile.ZipFile(path) as zf:
        return zf.read(name)


def keras_slots(k_opt) -> list:
    return [v.numpy() for v in k_opt.variables[2:]]


def tinynn_slots(t_model) -> list:
    return keras_format.optimizer_variables(t_model)[2:]


# ----- the same files ----------------------------------------------------------------------------

def test_config_json_and_weights_layout_are_kerass(keras, tmp_path):
    """Same architecture, names, compile settings and training steps in both: tinynn's
    config.json is Keras's `to_json()`, and its model.weights.h5 has Keras's groups, datasets,
    shapes, dtypes and attributes."""
    x, y = data("float32")
    keras.utils.set_random_seed(0)
    k_model, t_model = keras_zoo(keras), tinynn_zoo()
    for model, lib in ((k_model, keras), (t_model, tinynn)):
        model.compile(optimizer=lib.optimizers.Adam(learning_rate=0.01, name="adam"),
                      loss=lib.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
        model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    k_model.save(tmp_path / "k.keras")
    t_model.save(tmp_path / "t.keras")
    assert json.loads(member(tmp_path / "t.keras", "config.json")) == without_shared_ids(
        json.loads(k_model.to_json()))
    assert without_shared_ids(json.loads(member(tmp_path / "k.keras", "config.json"))) == \
        json.loads(k_model.to_json())
    assert h5_layout(member(tmp_path / "t.keras", "model.weights.h5")) == h5_layout(
        member(tmp_path / "k.keras", "model.weights.h5"))
    with zipfile.ZipFile(tmp_path / "k.keras") as k, zipfile.ZipFile(tmp_path / "t.keras") as t:
        assert k.namelist() == t.namelist()
        assert [i.compress_type for i in k.infolist()] == [i.compress_type for i in t.infolist()]
    metadata = json.loads(member(tmp_path / "k.keras", "metadata.json"))
    assert metadata["keras_version"] == keras.__version__ == keras_format.KERAS_VERSION
    assert set(json.loads(member(tmp_path / "t.keras", "metadata.json"))) == set(metadata)
    k_model.save_weights(tmp_path / "k.weights.h5")
    t_model.save_weights(tmp_path / "t.weights.h5")
    assert h5_layout((tmp_path / "t.weights.h5").read_bytes()) == h5_layout(
        (tmp_path / "k.weights.h5").read_bytes())


def test_uncompiled_config_is_kerass(keras, tmp_path, floatx):
    k_model, t_model = keras_zoo(keras), tinynn_zoo()
    k_model.save(tmp_path / "k.keras")
    t_model.save(tmp_path / "t.keras")
    for name in ("config.json", "model.weights.h5"):
        k, t = member(tmp_path / "k.keras", name), member(tmp_path / "t.keras", name)
        if name == "config.json":
            assert json.loads(t) == without_shared_ids(json.loads(k))
        else:
            assert h5_layout(t) == h5_layout(k)


# ----- predictions both ways ---------------------------------------------------------------------

def test_a_tinynn_keras_file_opens_in_keras(keras, floatx, tmp_path, report):
    x, y = data(floatx)
    tinynn.utils.set_random_seed(1)
    t_model = tinynn_zoo()
    t_model.compile(optimizer=tinynn.optimizers.Adam(0.01),
                    loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    t_model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    t_model.save(tmp_path / "t.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Keras loads everything, optimizer included
        k_model = keras.models.load_model(tmp_path / "t.keras")
    for a, b in zip(k_model.get_weights(), t_model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert int(k_model.optimizer.iterations) == t_model.optimizer.iterations == 8
    for a, b in zip(keras_slots(k_model.optimizer), tinynn_slots(t_model), strict=True):
        np.testing.assert_array_equal(a, b)
    P_k, P_t = k_model.predict(x, verbose=0), t_model.predict(x, verbose=0)
    report(f".keras tinynn -> Keras predictions {floatx}",
           f"max |diff| {np.abs(P_k - P_t).max():.1e}")
    np.testing.assert_allclose(P_k, P_t, **TOL[floatx])


def test_a_keras_file_opens_in_tinynn(keras, floatx, tmp_path, report):
    x, y = data(floatx)
    keras.utils.set_random_seed(2)
    k_model = keras_zoo(keras)
    k_model.compile(optimizer=keras.optimizers.RMSprop(0.003, momentum=0.5, centered=True),
                    loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    k_model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    k_model.save(tmp_path / "k.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t_model = tinynn.models.load_model(tmp_path / "k.keras")
    assert [layer.name for layer in t_model.layers] == [layer.name for layer in k_model.layers]
    for a, b in zip(t_model.get_weights(), k_model.get_weights(), strict=True):
        assert a.dtype == np.dtype(floatx)
        np.testing.assert_array_equal(a, b)
    assert t_model.optimizer.iterations == int(k_model.optimizer.iterations) == 8
    for a, b in zip(tinynn_slots(t_model), keras_slots(k_model.optimizer), strict=True):
        np.testing.assert_array_equal(a, b)
    P_k, P_t = k_model.predict(x, verbose=0), t_model.predict(x, verbose=0)
    report(f".keras Keras -> tinynn predictions {floatx}",
           f"max |diff| {np.abs(P_k - P_t).max():.1e}")
    np.testing.assert_allclose(P_t, P_k, **TOL[floatx])


def test_weights_h5_both_ways(keras, floatx, tmp_path):
    """Layers are matched by class and position, as in Keras: the names may differ."""
    x, _ = data(floatx)
    t_model, k_model = tinynn_zoo("a"), keras_zoo(keras, "b")
    for layer in k_model.layers:
        layer.name = "k_" + layer.name
    t_model.save_weights(tmp_path / "t.weights.h5")
    k_model.load_weights(tmp_path / "t.weights.h5")
    np.testing.assert_allclose(k_model.predict(x, verbose=0), t_model.predict(x, verbose=0),
                               **TOL[floatx])
    keras.utils.set_random_seed(4)
    k_model = keras_zoo(keras)
    k_model.save_weights(tmp_path / "k.weights.h5")
    t_model.load_weights(tmp_path / "k.weights.h5")
    for a, b in zip(t_model.get_weights(), k_model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_save_weights_suffix_error_is_kerass(keras, tmp_path):
    k_model, t_model = keras_zoo(keras), tinynn_zoo()
    for name in ("w.h5", "w.npz"):
        errors = []
        for model in (k_model, t_model):
            with pytest.raises(ValueError) as e:
                model.save_weights(str(tmp_path / name))
            errors.append(str(e.value))
        assert errors[0] == errors[1]
    errors = []
    for lib in (keras, tinynn):
        with pytest.raises(ValueError) as e:
            lib.callbacks.ModelCheckpoint("w.keras", save_weights_only=True)
        errors.append(str(e.value))
    assert errors[0] == errors[1]


def test_a_model_trained_in_keras_predicts_the_same_in_tinynn(keras, fashion, floatx32, tmp_path,
                                                              report):
    """The seed MLP trained by Keras on real Fashion-MNIST, saved, loaded in tinynn: same test
    predictions (float32 atol 1e-6), same accuracy and loss."""
    from twins import keras_seed_mlp

    (x, y), (xt, yt) = fashion
    x, xt = x[:6_000].astype("float32"), xt.astype("float32")
    keras.utils.set_random_seed(6)
    k_model = keras_seed_mlp(keras, dropout=0.3)
    k_model.compile(optimizer=keras.optimizers.Adam(5e-4),
                    loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    k_model.fit(x, y[:6_000], epochs=1, batch_size=32, verbose=0)
    k_model.save(tmp_path / "seed.keras")
    t_model = tinynn.models.load_model(tmp_path / "seed.keras")
    P_k, P_t = k_model.predict(xt, verbose=0), t_model.predict(xt, verbose=0)
    (k_loss, k_acc), (t_loss, t_acc) = (m.evaluate(xt, yt, verbose=0) for m in (k_model, t_model))
    report("Keras-trained seed MLP loaded in tinynn (10,000 test images)",
           f"max |prediction diff| {np.abs(P_k - P_t).max():.1e}; accuracy Keras {k_acc:.4f} "
           f"tinynn {t_acc:.4f}; loss Keras {k_loss:.6f} tinynn {t_loss:.6f}")
    assert k_acc > 0.7, "the Keras model did not train"
    np.testing.assert_allclose(P_t, P_k, atol=1e-6, rtol=0)
    assert abs(t_acc - k_acc) <= 2e-4 and abs(t_loss - k_loss) <= 1e-5 * k_loss


# ----- training goes on across frameworks --------------------------------------------------------

def small(lib, optimizer):
    L = lib.layers
    model = lib.Sequential([lib.Input((4, 5)), L.Flatten(), L.Dense(16, activation="relu"),
                            L.Dense(6, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    return model


@pytest.mark.parametrize("key", OPTIMIZERS)
def test_keras_training_continues_in_tinynn(keras, floatx64, tmp_path, key, report):
    x, y = data("float64")
    keras.utils.set_random_seed(7)
    k_model = small(keras, keras_optimizer(keras, key))
    k_model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    k_model.save(tmp_path / "k.keras")
    t_model = tinynn.models.load_model(tmp_path / "k.keras")
    for model in (k_model, t_model):
        model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    diff = max(np.abs(a - b).max() for a, b in zip(t_model.get_weights(),
                                                     k_model.get_weights(), strict=True))
    report(f"Keras -> .keras -> tinynn, 8 more steps, {key}", f"max |weight diff| {diff:.1e}")
    for a, b in zip(t_model.get_weights(), k_model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert t_model.optimizer.iterations == int(k_model.optimizer.iterations) == 16


@pytest.mark.parametrize("key", OPTIMIZERS)
def test_tinynn_training_continues_in_keras(keras, floatx64, tmp_path, key, report):
    x, y = data("float64")
    tinynn.utils.set_random_seed(8)
    t_model = small(tinynn, tinynn_optimizer(key))
    t_model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    t_model.save(tmp_path / "t.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        k_model = keras.models.load_model(tmp_path / "t.keras")
    for model in (k_model, t_model):
        model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    diff = max(np.abs(a - b).max() for a, b in zip(t_model.get_weights(),
                                                     k_model.get_weights(), strict=True))
    report(f"tinynn -> .keras -> Keras, 8 more steps, {key}", f"max |weight diff| {diff:.1e}")
    for a, b in zip(k_model.get_weights(), t_model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


# ----- every class with a Keras twin ------------------------------------------------------------

@pytest.mark.parametrize("cls", _names(layers.Layer, "layers"), ids=lambda c: c.__name__)
def test_every_layer_travels_both_ways(keras, floatx, tmp_path, cls):
    """A model holding the layer (then a Dense, so there is always something to train),
    written by tinynn and read by Keras, and written by Keras and read by tinynn."""
    rng = np.random.default_rng(9)
    x = rng.normal(size=(7, 6)).astype(floatx)
    t_model = tinynn.Sequential([tinynn.Input((6,)), make(cls), layers.Dense(3)])
    for w in t_model.weights:
        w += rng.normal(size=w.shape).astype(w.dtype)
    t_model.save(tmp_path / "t.keras")
    k_model = keras.models.load_model(tmp_path / "t.keras")
    assert [type(layer).__name__ for layer in k_model.layers] == [cls.__name__, "Dense"]
    np.testing.assert_allclose(k_model.predict(x, verbose=0), t_model.predict(x, verbose=0),
                               **TOL[floatx])
    k_model.save(tmp_path / "k.keras")
    back = tinynn.models.load_model(tmp_path / "k.keras")
    assert [a.get_config() for a in back.layers] == [b.get_config() for b in t_model.layers]
    for a, b in zip(back.get_weights(), t_model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def optimizer_cases():
    """Every optimizer class with a Keras twin at its defaults, and every setting above."""
    classes = _names(optimizers.Optimizer, "optimizers")
    return [(cls.__name__, {}) for cls in classes] + list(OPTIMIZERS.values())


@pytest.mark.parametrize("name,kwargs", optimizer_cases(),
                         ids=lambda v: v if isinstance(v, str) else None)
def test_optimizer_state_layout_is_kerass(keras, floatx64, name, kwargs):
    """After 3 steps on the same gradients, Keras's `optimizer.variables` (what it saves, in
    that order) equal tinynn's state in `keras_format`'s order: same count, shapes, values."""
    rng = np.random.default_rng(10)
    start = [rng.normal(size=s) for s in ((4, 3), (3,), (3, 2))]
    ours = getattr(optimizers, name)(**kwargs)
    theirs = getattr(keras.optimizers, name)(**kwargs)
    variables = [w.copy() for w in start]
    k_variables = [keras.Variable(w.copy(), dtype="float64") for w in start]
    for _ in range(3):
        grads = [rng.normal(size=w.shape) for w in start]
        ours.apply([g.copy() for g in grads], variables)
        theirs.apply([g.copy() for g in grads], k_variables)

    class Holder:  # what keras_format reads from a model
        optimizer, trainable_weights, weights = ours, variables, variables

    arrays = keras_format.optimizer_variables(Holder)
    assert len(arrays) == len(theirs.variables), [v.path for v in theirs.variables]
    assert int(arrays[0]) == int(theirs.variables[0].numpy()) == 3
    for a, v in zip(arrays[1:], theirs.variables[1:], strict=True):
        assert a.shape == tuple(v.shape), v.path
        np.testing.assert_allclose(a, v.numpy(), rtol=1e-12, atol=1e-15, err_msg=v.path)
