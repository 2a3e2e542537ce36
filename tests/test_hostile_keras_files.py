"""Hostile Keras files (issue 12): `.keras` archives whose config.json or model.weights.h5 is
edited, and `.weights.h5` files. The architecture is built from config.json with every weight
checked against the HDF5 metadata first (nothing allocated that the file does not hold); the
format of a file is told from one open, regular file. Every refused load ends in one
ValueError / TypeError / OSError naming the file, with a peak memory (tracemalloc) under 2x a
legitimate model of the declared architecture or 100 MB (`hostile_npz.assert_refused`)."""

import io as _io
import json
import os
import subprocess
import sys
import zipfile

import h5py
import numpy as np
import pytest
from hostile_npz import HIDDEN, N_IN, assert_refused, dense_bytes, legitimate_peak, make

import tinynn
from tinynn.models import load_model
from tinynn.saving import serialize_keras_object


@pytest.fixture(autouse=True)
def _legitimate(tmp_path_factory):
    legitimate_peak(tmp_path_factory)


@pytest.fixture
def path(tmp_path):
    p = tmp_path / "model.keras"
    make().save(p)
    return p


def edit(path, config=None, weights=None) -> None:
    """Rewrite the archive with `config(spec)` applied to config.json and `weights(f)` to the
    HDF5 file (stored members, as Keras writes them)."""
    with zipfile.ZipFile(path) as zf:
        files = {name: zf.read(name) for name in zf.namelist()}
    if config is not None:
        spec = json.loads(files["config.json"])
        config(spec)
        files["config.json"] = json.dumps(spec)
    if weights is not None:
        buffer = _io.BytesIO(files["model.weights.h5"])
        with h5py.File(buffer, "a") as f:
            weights(f)
        files["model.weights.h5"] = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)


def wider(size):
    """config.json edited to input shape [size] and units=size in the first Dense."""
    def config(spec):
        spec["config"]["layers"][0]["config"]["batch_shape"] = [None, size]
        spec["config"]["layers"][1]["config"]["units"] = size
    return config


def declared(shape, **options):
    """layers/dense/vars/0 (the first kernel) replaced by an HDF5 dataset of `shape` whose data
    is not in the file (h5py allocates none until it is written)."""
    def weights(f):
        del f["layers/dense/vars/0"]
        f["layers/dense/vars"].create_dataset("0", shape=shape, dtype="f4", **options)
    return weights


# ----- the architecture checked against the HDF5 metadata before anything is allocated -----

@pytest.mark.parametrize("size", [20000, 10**6])
def test_an_edited_architecture_is_refused_before_building(path, size):
    """config.json edited to input_shape=[size], units=size (before: 20000 peaked at 4.8 GB
    and took 30 s before the right error; 10^6 was a raw MemoryError of 7.28 TiB)."""
    edit(path, wider(size))
    assert_refused(path, lambda: load_model(path),
                   f"declares the weight 'hidden/kernel' of shape ({size}, {size}) (float32); "
                   "layers/dense/vars holds 0: (3, 4) float32", dense_bytes(size, size))


@pytest.mark.parametrize("storage", [{}, {"chunks": (100, 100), "compression": "gzip"},
                                     {"external": [("/dev/zero", 0, 6000 * 6000 * 4)]}])
def test_edited_shapes_in_both_files_are_refused_by_what_the_file_holds(path, storage):
    """config.json and the HDF5 metadata both say (6000, 6000), but the 144 MB are not in the
    file: not allocated (contiguous or chunked), or external (before: built, then read)."""
    edit(path, wider(6000), declared((6000, 6000), **storage))
    match = ("external or virtual" if storage.get("external")
             else "layers/dense/vars/0 declares 144,000,000 bytes")
    assert_refused(path, lambda: load_model(path), match, dense_bytes(6000, 6000))


def test_a_layer_the_file_has_no_group_for_is_refused(path):
    """A Dense(10^7) appended to config.json: the file has no layers/dense_2 (before: 80 MB of
    kernel built, then refused)."""
    def config(spec):
        spec["config"]["layers"].append({**spec["config"]["layers"][-1], "config": {
            **spec["config"]["layers"][-1]["config"], "name": "huge", "units": 10**7}})
    edit(path, config)
    assert_refused(path, lambda: load_model(path), "weight 'huge/kernel' of shape (2, 10000000)"
                   " (float32); layers/dense_2/vars holds no other", 4 * (2 + 1) * 10**7)


def test_a_nested_model_in_config_json_is_refused_before_building(path):
    """A tinynn Sequential spec as a layer, starting with an Input of 10^6 and Dense(10^6): it
    builds while it is constructed (before: a raw MemoryError of 3.64 TiB)."""
    inner = {**serialize_keras_object(make()), "module": "keras", "registered_name": None}
    inner["config"]["layers"][0]["config"]["shape"] = [10**6]
    inner["config"]["layers"][1]["config"]["units"] = 10**6
    inner["config"].pop("trainable", None)  # which tinynn's Sequential has not

    def config(spec):
        spec["config"]["layers"][1:] = [inner]
    edit(path, config)
    assert_refused(path, lambda: load_model(path), "not one of the model's own",
                   dense_bytes(10**6, 10**6))


def test_legitimate_files_still_load_and_continue_bit_exactly(path, tmp_path):
    model, loaded = make(), load_model(path)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    x = np.ones((2, 3), "f4")
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    wide = tinynn.Sequential([tinynn.Input((300,)), tinynn.layers.Dense(200),
                              tinynn.layers.BatchNormalization(), tinynn.layers.Dense(3)])
    wide.save(tmp_path / "wide.keras")
    for a, b in zip(wide.get_weights(), load_model(tmp_path / "wide.keras").get_weights(),
                    strict=True):
        np.testing.assert_array_equal(a, b)


def test_load_weights_into_a_model_checks_before_reading(path, tmp_path):
    """No building there: the HDF5 shapes are compared with the model's before any is read."""
    weights = tmp_path / "model.weights.h5"
    make().save_weights(weights)
    with h5py.File(weights, "a") as f:
        declared((10**5, 10**5))(f)
    edit(path, weights=declared((10**5, 10**5)))
    for target in (weights, path):
        assert_refused(target, lambda t=target: make().load_weights(t),
                       "has shape (100000, 100000)", dense_bytes(N_IN, HIDDEN))


# ----- the format told from one open, regular file ------------------------------------------

def refused_without_blocking(target, prepare: str, load: str):
    """`prepare` then `load` run in a fresh process (a read blocked in HDF5's open() holds the
    GIL, so a thread could not be waited for): one clear error naming the file within 20 s."""
    code = f"""
import os
import tinynn
from tinynn import archive
from tinynn.models import load_model
target = {str(target)!r}
{prepare}
try:
    {load}
except ValueError as e:
    print(e)
"""
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{load} blocked on a FIFO")
    assert f"{target}: it is not a regular file" in out.stdout, out.stdout + out.stderr


SWAP = """
real = archive.check_regular
def check_then_swap(p):
    real(p)
    os.remove(target)
    os.mkfifo(target)
archive.check_regular = tinynn.io.check_regular = check_then_swap
"""


@pytest.mark.parametrize("name", ["model.keras", "model.npz"])
def test_a_fifo_swapped_in_after_the_regular_file_check_is_refused(tmp_path, name):
    """The file passes the check by path, then becomes a FIFO with no writer (before: the
    format probe opened the path again and blocked forever)."""
    target = tmp_path / name
    make().save(target)
    refused_without_blocking(target, SWAP, "load_model(target)")


@pytest.mark.parametrize("name", ["model.weights.h5", "model.keras"])
def test_load_weights_from_a_fifo_is_refused_without_blocking(tmp_path, name):
    """(before: blocked forever, in h5py's or zipfile's open)"""
    target = tmp_path / name
    os.mkfifo(target)
    refused_without_blocking(target, "model = tinynn.Sequential([tinynn.Input((3,)), "
                                     "tinynn.layers.Dense(2)])", "model.load_weights(target)")
