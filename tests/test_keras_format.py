"""Keras's own files without Keras: `.keras` archives and `.weights.h5`, their layout, round trips,
the suffix rules, and files that are refused (truncated, bombs, wrong shapes, links, classes that
tinynn does not have, modules that must never be imported). Keras itself reads and writes the
same files in parity/test_keras_files.py."""

import io as _io
import json
import os
import struct
import sys
import warnings
import zipfile

import h5py
import numpy as np
import pytest

import tinynn
from tinynn import keras_format, layers
from tinynn.models import load_model

OPTIMIZERS = {
    "adam": lambda: tinynn.optimizers.Adam(0.01),
    "sgd_momentum": lambda: tinynn.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "sgd": lambda: tinynn.optimizers.SGD(0.05),
    "rmsprop_centered": lambda: tinynn.optimizers.RMSprop(0.003, momentum=0.5, centered=True),
    "rmsprop": lambda: tinynn.optimizers.RMSprop(0.003),
}


def make(seed=0, optimizer=None, dropout=True, compile=True):
    tinynn.utils.set_random_seed(seed)
    stack = [tinynn.Input((2, 3)), layers.Flatten(),
             layers.Dense(8, activation="relu", name="hidden"),
             *([layers.Dropout(0.25)] if dropout else []), layers.Dense(6, name="mid"),
             layers.ReLU(), layers.Activation("tanh"), layers.Dense(3, name="out"),
             layers.Softmax()]
    model = tinynn.Sequential(stack, name="net")
    if compile:
        model.compile(optimizer=optimizer or tinynn.optimizers.Adam(0.01),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(48, 2, 3)).astype(tinynn.config.floatx())
    return model, x, (x[:, 0, 0] > 0).astype(int) + (x[:, 1, 1] > 1)


@pytest.fixture
def float64():
    tinynn.config.set_floatx("float64")
    yield
    tinynn.config.set_floatx("float32")


@pytest.fixture
def trained(tmp_path):
    model, x, y = make()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    return model, x, y, path


def members(path) -> dict:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def rewrite(path, config=None, state=None, **extra):
    """The archive written again with a changed config.json and/or model.weights.h5."""
    parts = members(path)
    if config is not None:
        parts["config.json"] = json.dumps(config).encode()
    if state is not None:
        parts["model.weights.h5"] = state
    parts.update(extra)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in parts.items():
            zf.writestr(name, data)


def config_of(path) -> dict:
    return json.loads(members(path)["config.json"])


def edit_h5(data: bytes, edit) -> bytes:
    buffer = _io.BytesIO(data)
    with h5py.File(buffer, "a") as f:
        edit(f)
    return buffer.getvalue()


def h5_listing(source) -> list:
    out = []
    with h5py.File(source, "r") as f:
        f.visititems(lambda name, obj: out.append(
            (name, obj.shape, obj.dtype.str) if isinstance(obj, h5py.Dataset)
            else (name, dict(obj.attrs))))
    return out


# ----- the files ---------------------------------------------------------------------------------

def test_archive_layout_is_kerass(trained):
    model, *_, path = trained
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == ["metadata.json", "config.json", "model.weights.h5"]
    assert all(i.compress_type == zipfile.ZIP_STORED for i in infos)
    parts = members(path)
    metadata = json.loads(parts["metadata.json"])
    assert set(metadata) == {"keras_version", "date_saved"}
    spec = json.loads(parts["config.json"])
    assert list(spec) == ["module", "class_name", "config", "registered_name", "build_config",
                          "compile_config"]
    assert (spec["module"], spec["class_name"], spec["registered_name"]) == ("keras",
                                                                            "Sequential", None)
    assert spec["build_config"] == {"input_shape": [None, 2, 3]}
    first, dense = spec["config"]["layers"][:3:2]
    assert first["config"]["batch_shape"] == [None, 2, 3]
    assert dense["module"] == "keras.layers" and dense["config"]["name"] == "hidden"
    assert dense["config"]["kernel_initializer"]["class_name"] == "GlorotUniform"
    assert dense["config"]["dtype"]["config"] == {"name": "float32"}
    assert dense["build_config"] == {"input_shape": [None, 6]}
    assert "build_config" not in spec["config"]["layers"][3]  # Dropout: built in __init__
    compiled = spec["compile_config"]
    assert compiled["optimizer"]["class_name"] == "Adam" and compiled["metrics"] == ["accuracy"]
    assert compiled["optimizer"]["config"]["learning_rate"] == float(np.float32(0.01))
    assert compiled["loss"]["class_name"] == "SparseCategoricalCrossentropy"
    listing = dict((entry[0], entry[1:]) for entry in h5_listing(_io.BytesIO(
        parts["model.weights.h5"])))
    # groups by class name, numbered per class, the layer's name as an attribute
    assert listing["layers/dense/vars"] == ({"name": "hidden"},)
    assert listing["layers/dense_1/vars"] == ({"name": "mid"},)
    assert listing["layers/dense_2/vars/0"] == ((6, 3), "<f4")
    relu = next(layer for layer in model.layers if type(layer).__name__ == "ReLU")
    assert relu.name.startswith("re_lu") and listing["layers/re_lu/vars"] == ({"name": relu.name},)
    assert listing["vars"] == ({"name": "net"},)
    assert listing["optimizer/vars/0"] == ((), "<i8")  # iterations
    assert listing["optimizer/vars/1"] == ((), "<f4")  # learning rate
    # Adam: m, v interleaved weight by weight
    assert [listing[f"optimizer/vars/{i}"][0] for i in range(2, 14)] == [
        (6, 8), (6, 8), (8,), (8,), (8, 6), (8, 6), (6,), (6,), (6, 3), (6, 3), (3,), (3,)]
    assert len([k for k in listing if k.startswith("optimizer/vars/")]) == 14
    with h5py.File(_io.BytesIO(parts["model.weights.h5"]), "r") as f:
        np.testing.assert_array_equal(f["optimizer/vars/2"][()], model.optimizer.momentums[0])
        np.testing.assert_array_equal(f["optimizer/vars/3"][()], model.optimizer.velocities[0])
        assert f["optimizer/vars/0"][()] == 6


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_keras_archive_round_trip_continues_training_exactly(tmp_path, name, dtype):
    """Without dropout or shuffling nothing random is left, so a model loaded from .keras
    trains on exactly like the one that was saved: the optimizer state came back whole."""
    tinynn.config.set_floatx(dtype)
    try:
        model, x, y = make(optimizer=OPTIMIZERS[name](), dropout=False)
        model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
        model.save(tmp_path / "m.keras")
        loaded = load_model(tmp_path / "m.keras")
        assert [a.get_config() for a in loaded.layers] == [b.get_config() for b in model.layers]
        assert loaded.name == model.name and loaded.metrics_names == ["loss", "accuracy"]
        assert loaded.optimizer.iterations == model.optimizer.iterations == 6
        assert loaded.get_weights()[0].dtype == np.dtype(dtype)
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
        for m in (model, loaded):
            m.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    finally:
        tinynn.config.set_floatx("float32")
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_optimizer_layout_follows_kerass_creation_order():
    variables = [np.zeros((2, 3)), np.zeros(3)]
    expected = {
        "adam": ["momentums", "velocities"] * 2,
        "sgd_momentum": ["velocities"] * 2, "sgd": [],
        "rmsprop_centered": ["velocities"] * 2 + ["momentums"] * 2 + ["average_gradients"] * 2,
        "rmsprop": ["velocities"] * 2,
    }
    for name, make_optimizer in OPTIMIZERS.items():
        opt = make_optimizer()
        opt.build(variables)
        order = [slot for group in keras_format.optimizer_layout(opt)
                 for _ in variables for slot in group]
        assert order == expected[name], name


def test_uncompiled_model_and_include_optimizer_false(tmp_path):
    model, x, _ = make(compile=False)
    model.save(tmp_path / "u.keras")
    assert config_of(tmp_path / "u.keras")["compile_config"] == {}
    assert not any(k[0].startswith("optimizer") for k in h5_listing(
        _io.BytesIO(members(tmp_path / "u.keras")["model.weights.h5"])))
    loaded = load_model(tmp_path / "u.keras")
    assert loaded.loss is None
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    model, x, y = make()
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "n.keras", include_optimizer=False)
    with pytest.warns(UserWarning, match="Skipping variable loading for optimizer 'adam', "
                                         "because it has 14 variables whereas the saved "
                                         "optimizer has 0"):
        loaded = load_model(tmp_path / "n.keras")  # as Keras: compiled, fresh optimizer
    assert loaded.optimizer.iterations == 0 and loaded.loss is not None
    assert load_model(tmp_path / "n.keras", compile=False).loss is None


def test_registered_layer_round_trips_by_its_registered_name(tmp_path):
    @tinynn.saving.register_keras_serializable(package="tests_kf")
    class Twice(layers.Layer):
        """Y = 2 X. Backward: dX = 2 dY."""

        def forward(self, X, training=False):
            return 2 * X

        def backward(self, dY):
            return 2 * dY

    model = tinynn.Sequential([tinynn.Input((3,)), Twice(name="twice"), layers.Dense(2)])
    model.save(tmp_path / "c.keras")
    spec = config_of(tmp_path / "c.keras")["config"]["layers"][1]
    assert (spec["module"], spec["class_name"], spec["registered_name"]) == (
        None, "Twice", "tests_kf>Twice")
    loaded = load_model(tmp_path / "c.keras")
    assert type(loaded.layers[0]) is Twice
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_old_tinynn_archives_named_keras_still_load(tmp_path):
    model, x, _ = make()
    model.save(tmp_path / "m.npz")
    os.rename(tmp_path / "m.npz", tmp_path / "m.keras")  # tinynn 0.1 wrote its format there
    np.testing.assert_array_equal(load_model(tmp_path / "m.keras").predict(x, verbose=0),
                                  model.predict(x, verbose=0))


# ----- weights only ------------------------------------------------------------------------------

def test_weights_h5_round_trip_matches_layers_by_class_and_position(tmp_path):
    model, x, y = make()
    model.fit(x, y, epochs=1, verbose=0)
    model.save_weights(tmp_path / "w.weights.h5")
    assert h5_listing(tmp_path / "w.weights.h5") == h5_listing(
        _io.BytesIO(_keras_state(model)))
    # other layer names, no Dropout: weightless layers may come and go, as in Keras
    other, *_ = make(seed=1, dropout=False)
    for layer in other.layers:
        layer.name = "renamed_" + layer.name
    assert not np.array_equal(other.get_weights()[0], model.get_weights()[0])
    with pytest.warns(UserWarning, match="Skipping variable loading for optimizer"):
        other.load_weights(tmp_path / "w.weights.h5")  # its optimizer is not built yet
    for a, b in zip(other.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    model.save(tmp_path / "m.keras")
    fresh, *_ = make(seed=2)
    with pytest.warns(UserWarning, match="Skipping variable loading for optimizer"):
        fresh.load_weights(tmp_path / "m.keras")  # weights from a .keras archive too
    np.testing.assert_array_equal(fresh.get_weights()[-1], model.get_weights()[-1])


def test_weights_of_a_compiled_model_load_into_an_uncompiled_one(tmp_path):
    """The size cap comes from the architecture, not from the receiving model's optimizer: a
    .keras file carrying three RMSprop arrays per weight loads into an uncompiled twin."""
    def net():
        tinynn.utils.set_random_seed(3)
        return tinynn.Sequential([tinynn.Input((600,)), layers.Dense(600), layers.Dense(2)])

    model = net()
    model.compile(optimizer=tinynn.optimizers.RMSprop(momentum=0.5, centered=True),
                  loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(8, 600)).astype(np.float32)
    model.fit(x, np.arange(8) % 2, verbose=0)
    model.save(tmp_path / "big.keras")
    assert os.path.getsize(tmp_path / "big.keras") > 4 * model.weights[0].nbytes
    bare = net()
    bare.load_weights(tmp_path / "big.keras")
    np.testing.assert_array_equal(bare.get_weights()[0], model.get_weights()[0])


def _keras_state(model) -> bytes:
    return keras_format._state_bytes(model)


def test_load_weights_restores_the_optimizer_only_when_built(tmp_path):
    """Keras 3: the optimizer's variables load when its count matches the file's; a compiled
    model that has not trained has two (iterations, learning rate), so it warns and skips."""
    model, x, y = make()
    model.fit(x, y, epochs=1, verbose=0)
    model.save_weights(tmp_path / "w.weights.h5")
    fresh, *_ = make(seed=1)
    with pytest.warns(UserWarning, match="has 2 variables whereas the saved optimizer has 14"):
        fresh.load_weights(tmp_path / "w.weights.h5")
    assert fresh.optimizer.iterations == 0
    fresh.fit(x, y, epochs=1, verbose=0)  # builds the optimizer
    fresh.load_weights(tmp_path / "w.weights.h5")
    assert fresh.optimizer.iterations == model.optimizer.iterations == 2
    np.testing.assert_array_equal(fresh.optimizer.velocities[1], model.optimizer.velocities[1])
    bare, *_ = make(seed=1, compile=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bare.load_weights(tmp_path / "w.weights.h5")  # no optimizer: its group is ignored


def test_weights_saved_before_training_load_into_a_fresh_model(tmp_path):
    """TensorFlow's imbalanced-data tutorial saves `initial.weights.h5` right after compile and
    loads it into new models: the file's optimizer group holds two variables (iterations,
    learning rate), as many as a fresh model's optimizer has, so both load, and no slot is read."""
    model, x, y = make()
    model.optimizer.learning_rate = 0.0125
    model.save_weights(tmp_path / "initial.weights.h5")
    fresh, *_ = make(seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fresh.load_weights(tmp_path / "initial.weights.h5")
    for a, b in zip(fresh.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert fresh.optimizer.learning_rate == float(np.float32(0.0125)) and not fresh.optimizer.built
    fresh.fit(x, y, epochs=1, verbose=0)
    assert fresh.optimizer.iterations == 2


def test_load_weights_mismatch_is_named_or_skipped(tmp_path):
    model, *_ = make()
    model.save_weights(tmp_path / "w.weights.h5")
    wider = tinynn.Sequential([tinynn.Input((2, 3)), layers.Flatten(), layers.Dense(9),
                               layers.Dense(6), layers.Dense(3)])
    before = wider.get_weights()
    with pytest.raises(ValueError, match=r"w\.weights\.h5: layers/dense/vars/0 \('dense.*' "
                                         r"kernel\) has shape \(6, 8\).*needs shape \(6, 9\)"):
        wider.load_weights(tmp_path / "w.weights.h5")
    for a, b in zip(wider.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)  # nothing set: all checked first
    with pytest.warns(UserWarning, match="Skipping loading weights"):
        wider.load_weights(tmp_path / "w.weights.h5", skip_mismatch=True)
    np.testing.assert_array_equal(wider.get_weights()[-1], model.get_weights()[-1])
    np.testing.assert_array_equal(wider.get_weights()[0], before[0])


# ----- suffixes, as Keras 3 ----------------------------------------------------------------------

def test_suffixes_choose_the_format_as_keras(tmp_path):
    model, *_ = make()
    for name in ("w.h5", "w.npz", "w.weights.h5x"):
        with pytest.raises(ValueError, match="The filename must end in `.weights.h5`. "
                                             f"Received: filepath=.*{name}"):
            model.save_weights(tmp_path / name)
    for name in ("m.h5", "m.hdf5", "m.weights.h5"):
        with pytest.raises(ValueError, match="legacy HDF5"):
            model.save(tmp_path / name)
        with pytest.raises(ValueError, match="legacy HDF5"):
            load_model(tmp_path / name)
    with pytest.raises(ValueError, match="load_weights"):
        load_model(tmp_path / "m.weights.h5")
    with pytest.raises(ValueError, match="File format not supported"):
        model.load_weights(tmp_path / "m.npz")
    with pytest.raises(FileNotFoundError):
        model.load_weights(tmp_path / "missing.weights.h5")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.keras")
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match="not yet been built"):
        tinynn.Sequential([layers.Dense(2)]).save_weights(tmp_path / "u.weights.h5")
    model.save_weights(tmp_path / "w.weights.h5")
    with pytest.raises(FileExistsError):
        model.save_weights(tmp_path / "w.weights.h5", overwrite=False)


# ----- refused files -----------------------------------------------------------------------------

@pytest.mark.parametrize("damage", [
    lambda raw: raw[:len(raw) // 2],
    lambda raw: raw[:-30],
    lambda raw: raw[:100],
    lambda raw: b"",
    lambda raw: raw[:len(raw) // 2] + bytes([raw[len(raw) // 2] ^ 0xFF]) + raw[len(raw) // 2 + 1:],
    lambda raw: raw.replace(b"GlorotUniform", b"GlorotUnifXrm"),  # fails the member's CRC
])
def test_truncated_or_corrupted_archives_are_named(trained, damage):
    *_, path = trained
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError, match=r"Cannot load model file .*model\.keras: "):
        load_model(path)


def _declare_size(path, member: str, size: int) -> None:
    """Edit the central directory so that `member` declares `size` uncompressed bytes."""
    raw = bytearray(path.read_bytes())
    at = raw.find(b"PK\x01\x02")
    while at >= 0:
        name_length = struct.unpack_from("<H", raw, at + 28)[0]
        if raw[at + 46:at + 46 + name_length].decode() == member:
            struct.pack_into("<I", raw, at + 24, size)
        at = raw.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("member,size", [("config.json", 1 << 30),
                                         ("model.weights.h5", (4 << 30) - 1)])
def test_zip_members_are_checked_before_inflating(trained, monkeypatch, member, size):
    *_, path = trained
    _declare_size(path, member, size)
    opened = []
    real_open = zipfile.ZipFile.open
    monkeypatch.setattr(zipfile.ZipFile, "open",
                        lambda self, name, *a, **k: opened.append(str(getattr(
                            name, "filename", name))) or real_open(self, name, *a, **k))
    # the weights are looked at in place first (for the build), so they are refused there
    with pytest.raises(ValueError, match=f"{member} declares {size:,} bytes.*(refused before "
                                         "inflating|past the end of the file)"):
        load_model(path)
    assert member not in opened


def test_wrong_shapes_in_the_h5_are_refused_before_reading(trained):
    *_, path = trained
    state = members(path)["model.weights.h5"]

    def bomb(f):  # 80 GB declared, nothing stored: reading it would try to allocate it all
        del f["layers/dense/vars/0"]
        f["layers/dense/vars"].create_dataset("0", shape=(100_000, 100_000), dtype="f8",
                                              chunks=(100, 100), compression="gzip")

    rewrite(path, state=edit_h5(state, bomb))
    with pytest.raises(ValueError, match=r"model\.keras: .* declares the weight 'hidden/kernel' "
                                         r"of shape \(6, 8\) \(float32\); layers/dense/vars "
                                         r"holds 0: \(100000, 100000\) float64"):
        load_model(path)


def _replace(f, where: str, value) -> None:
    del f[where]
    f[where] = value


@pytest.mark.parametrize("edit,match", [
    (lambda f: f["layers/dense/vars"].__delitem__("1"),
     r"'hidden/bias' of shape \(8,\) \(float32\); layers/dense/vars holds no other"),
    (lambda f: f.create_dataset("layers/conv2d/vars/0", data=[1.0]),
     r"weights the model does not have: \['conv2d'\]"),
    (lambda f: f["vars"].create_dataset("0", data=np.zeros(2)), "does not have: \\['vars'\\]"),
    (lambda f: _replace(f, "optimizer/vars/2", np.zeros(3, "f4")),
     r"optimizer/vars/2 \(momentums of weight 0\) has shape \(3,\)"),
    (lambda f: _replace(f, "optimizer/vars/0", np.float32(3)), "iterations.*an integer"),
    (lambda f: _replace(f, "layers/dense_1/vars/0", h5py.SoftLink("/layers/dense/vars/0")),
     "SoftLink, which is refused"),
    (lambda f: _replace(f, "layers/dense_1/vars/0", h5py.ExternalLink("/etc/passwd", "/x")),
     "ExternalLink, which is refused"),
    (lambda f: _replace(f, "layers/dense/vars/0", np.zeros((6, 8), "S1")),
     "holds 0: \\(6, 8\\) \\|S1"),
])
def test_damaged_weights_are_refused(trained, edit, match):
    *_, path = trained
    rewrite(path, state=edit_h5(members(path)["model.weights.h5"], edit))
    with pytest.raises(ValueError, match=r"Cannot load model file .*model\.keras: .*" + match):
        load_model(path)


def test_a_weights_member_that_is_not_hdf5(trained):
    *_, path = trained
    rewrite(path, state=b"\x89HDF\r\n\x1a\n" + b"\0" * 2000)
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        load_model(path)
    rewrite(path)
    parts = members(path)
    del parts["model.weights.h5"]
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    with pytest.raises(ValueError, match="has no model.weights.h5"):
        load_model(path)


def _layer(spec, i):
    return spec["config"]["layers"][i]


@pytest.mark.parametrize("edit,match", [
    (lambda s: _layer(s, 2).update(class_name="Conv2D"),
     r"layer 2 is a Keras Conv2D, which tinynn does not have\. tinynn has: Activation, .*Dense"),
    (lambda s: _layer(s, 2).update(module=None, registered_name="my>Thing"),
     r"'Dense' \(module None, registered as 'my>Thing'\).*register_keras_serializable"),
    (lambda s: _layer(s, 2)["config"].update(quantization_config={"mode": "int8"}),
     r"layer 2 \('hidden', Dense\) sets quantization_config=.*tinynn's Dense has no"),
    (lambda s: _layer(s, 2)["config"].update(kernel_constraint={"class_name": "Clip"}),
     r"Unknown constraint 'Clip'"),
    (lambda s: _layer(s, 3)["config"].update(noise_shape=[None, 1]), "noise_shape"),
    (lambda s: _layer(s, 3)["config"].update(noise_shape=[None, 2]), "noise_shape"),
    (lambda s: _layer(s, 2)["config"].update(units=0), r"layer 2 \('hidden', Dense\) has an "
                                                        "invalid config.*units"),
    (lambda s: _layer(s, 2)["config"].update(fancy=1), "has the argument fancy=1"),
    (lambda s: _layer(s, 2)["config"].update(activation="sparsemax"), "Known activations"),
    (lambda s: _layer(s, 2)["config"]["kernel_initializer"].update(class_name="STFT"),
     "nknown initializer"),
    (lambda s: _layer(s, 2)["config"].update(dtype="mixed_float16"), "no mixed precision"),
    (lambda s: _layer(s, 2)["config"].update(dtype="float64"), "different float types"),
    (lambda s: _layer(s, 0)["config"].update(batch_shape=[None, 0, 3]), "invalid input shape"),
    (lambda s: _layer(s, 0)["config"].update(sparse=True), "sparse=True"),
    (lambda s: s.update(class_name="Functional"), "functional model's input None is not one"),
    (lambda s: s.update(class_name="Model"), "Sequential models, and functional models that"),
    (lambda s: s["config"].update(layers="x"), "no list of layers"),
    (lambda s: s["compile_config"]["optimizer"]["config"].update(learning_rate={
        "class_name": "ExponentialDecay", "config": {}}), "learning-rate schedule"),
    (lambda s: s["compile_config"]["optimizer"]["config"].update(loss_scale_factor=2.0),
     "loss_scale_factor"),
    (lambda s: s["compile_config"]["optimizer"].update(class_name="Ftrl"),
     "the optimizer is a Keras Ftrl, which tinynn does not have"),
    (lambda s: s["compile_config"].update(loss="dice"), "Unknown loss 'dice'"),
    (lambda s: s["compile_config"].update(metrics={"class_name": "AUC"}), "not a list"),
    (lambda s: s["compile_config"].update(metrics=[{"module": "keras.metrics",
                                                    "class_name": "MeanIoU", "config": {}}]),
     "metric 0 is a Keras MeanIoU, which tinynn does not have"),
    (lambda s: s["compile_config"].update(metrics=[{
        "module": "keras.metrics", "class_name": "SparseCategoricalCrossentropy",
        "config": {"ignore_class": 0}}]), "ignore_class=0"),
    (lambda s: s["compile_config"].update(metrics=[{
        "module": "builtins", "class_name": "function", "config": "os.system",
        "registered_name": "function"}]), "not one of tinynn.metrics's functions"),
    (lambda s: s["compile_config"].update(metrics=[{
        "module": "my_project.metrics", "class_name": "F2", "config": {}}]),
     "neither a Keras built-in nor registered"),
    (lambda s: s["compile_config"].update(loss_weights=[2.0]), "loss_weights"),
])
def test_configs_tinynn_cannot_honour_are_refused(trained, edit, match):
    *_, path = trained
    spec = config_of(path)
    edit(spec)
    rewrite(path, config=spec)
    with pytest.raises(ValueError, match=r"Cannot load model file .*model\.keras: config\.json: "
                                         r".*" + match):
        load_model(path)


def test_no_module_named_in_the_file_is_imported(trained, tmp_path, monkeypatch):
    *_, path = trained
    marker = tmp_path / "code-ran"
    (tmp_path / "evil_kf_module.py").write_text(f"open({str(marker)!r}, 'w').close()\n"
                                                "class Evil: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for module, registered in (("evil_kf_module", None), ("evil_kf_module", "evil_kf_module>Evil"),
                               ("keras.layers", "evil_kf_module.Evil")):
        spec = config_of(path)
        _layer(spec, 2).update(module=module, class_name="Evil", registered_name=registered)
        spec["compile_config"]["optimizer"].update(module=module, class_name="Evil")
        rewrite(path, config=spec)
        with pytest.raises(ValueError, match="neither a Keras built-in nor registered.*never "
                                             "imports"):
            load_model(path)
    assert not marker.exists() and "evil_kf_module" not in sys.modules


def test_foreign_files_are_named(tmp_path):
    model, *_ = make()
    with zipfile.ZipFile(tmp_path / "other.keras", "w") as zf:
        zf.writestr("hello.txt", "a zip, but not a model")
    with pytest.raises(ValueError, match=r"other\.keras: the archive has no config\.json"):
        load_model(tmp_path / "other.keras")
    with pytest.raises(ValueError, match=r"other\.keras: the archive has no model\.weights\.h5"):
        model.load_weights(tmp_path / "other.keras")
    with h5py.File(tmp_path / "other.weights.h5", "w") as f:
        f["data"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"other\.weights\.h5: layer 'hidden' \(Dense\) has 2 "
                                         r"weights; the file has 0 at layers/dense/vars"):
        model.load_weights(tmp_path / "other.weights.h5")
    for raw in (b"", b"not hdf5 at all", (tmp_path / "other.weights.h5").read_bytes()[:500]):
        (tmp_path / "bad.weights.h5").write_bytes(raw)
        with pytest.raises(ValueError, match=r"bad\.weights\.h5: the weights are not a "
                                             "readable HDF5 file"):
            model.load_weights(tmp_path / "bad.weights.h5")


def test_import_tinynn_does_not_import_h5py():
    import subprocess
    code = "import sys, tinynn; print('h5py' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.stdout.strip() == "False"


def test_config_that_is_not_json_or_not_a_model(trained):
    *_, path = trained
    for raw in (b"{not json", b"[]", b'"x"', b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000,
                b'{"class_name": "Sequential", "config": {"layers": [7]}}',
                b'{"class_name": "Sequential", "config": {"layers": [], "build_input_shape": 3}}',
                b'{"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense", '
                b'"module": "keras.layers", "config": []}]}}'):
        rewrite(path, **{"config.json": raw})
        with pytest.raises(ValueError, match=r"model\.keras: config\.json( is malformed)?: "):
            load_model(path)
