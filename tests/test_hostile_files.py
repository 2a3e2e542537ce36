"""Hostile model files (issue 12): tinynn's own `.npz` archive, edited, bombed and flipped. Every
file is small and generated here (a "1 GiB" member is 1 MB of deflate on disk); every refused
load must end in one ValueError / TypeError / OSError naming the file, with a peak memory
(tracemalloc) under 2x a legitimate model of the declared architecture or 100 MB, whichever is
smaller (`hostile_npz.assert_refused`). Saving (overwrite races, kill -9): test_hostile_saves.py.
"""

import builtins
import hashlib
import json
import os
import subprocess
import sys
import threading
import zipfile
import zlib

import numpy as np
import pytest
from hostile_npz import (
    _LEGITIMATE_PEAK,
    HIDDEN,
    N_IN,
    assert_refused,
    deflate_bomb,
    dense_bytes,
    edit_header,
    header_of,
    legitimate_peak,
    make,
    members,
    nested,
    npy,
    npy_data,
    npy_head,
    patch_directory,
    peak_bytes,
    raw_zip,
    saved,
    write_members,
    zeros_crc,
)

import tinynn
from tinynn.models import load_model
from tinynn.saving import load_training_state


@pytest.fixture
def path(tmp_path):
    return saved(tmp_path)


@pytest.fixture(autouse=True)
def _legitimate(tmp_path_factory):
    legitimate_peak(tmp_path_factory)

# ----- the architecture checked against the stored arrays before anything is allocated -------

@pytest.mark.parametrize("size", [20000, 40000, 10**6])
def test_an_edited_architecture_is_refused_before_building(path, size):
    """input_shape=[size], units=size in a 6 kB file: the kernel the architecture implies is
    compared with the stored array's npy header before it is allocated (before: 6.1 GB for
    20000, OOM-killed at 40000, a raw MemoryError of 7.28 TiB for 10^6)."""
    def edit(h):
        h["model"]["input_shape"] = [size]
        h["model"]["layers"][0]["config"]["units"] = size
    edit_header(path, edit)
    assert_refused(path, lambda: load_model(path),
                   f"weight 'hidden/kernel' of shape ({size}, {size})",
                   dense_bytes(size, size))


@pytest.mark.parametrize("size", [40000, 10**6])
def test_an_edited_nested_model_is_refused_before_building(tmp_path, size):
    """A model nested in the saved one (`Sequential([model, Softmax()])`) builds while its
    config is read (its first layer is an Input): its weights are checked there too."""
    path = tmp_path / "nested.npz"
    tinynn.Sequential([make(), tinynn.layers.Softmax()]).save(path)

    def edit(h):
        inner = h["model"]["layers"][0]["config"]["layers"]
        inner[0]["config"]["shape"] = [size]
        inner[1]["config"]["units"] = size
        h["model"]["input_shape"] = [size]
    edit_header(path, edit)
    assert_refused(path, lambda: load_model(path),
                   f"weight 'hidden/kernel' of shape ({size}, {size})",
                   dense_bytes(size, size))


def test_edited_shapes_in_both_headers_are_refused_by_the_member_size(path):
    """The tinynn header and the npy header both say (40000, 40000), the data is 48 bytes."""
    def edit(h):
        h["model"]["input_shape"] = [40000]
        h["model"]["layers"][0]["config"]["units"] = 40000
        h["arrays"][0]["shape"] = [40000, 40000]
    edit_header(path, edit)
    files = members(path)
    files["weight_0.npy"] = npy_head((40000, 40000)) + npy_data(files["weight_0.npy"])
    write_members(path, files)
    assert_refused(path, lambda: load_model(path), "'weight_0.npy' declares",
                   dense_bytes(40000, 40000))


def test_an_npy_header_declaring_2_to_the_40_floats_is_refused(path):
    files = members(path)
    files["weight_1.npy"] = npy_head((1 << 40,)) + npy_data(files["weight_1.npy"])
    write_members(path, files)
    for load in (lambda: load_model(path), lambda: load_training_state(make(), path)):
        assert_refused(path, load, "'weight_1.npy' declares", dense_bytes(N_IN, HIDDEN))


def test_a_1_mb_member_inflating_to_1_gib_is_refused_unread(path):
    """weight_0.npy: an npy header of (2^28,) float32 and 1 GiB of zeros in 1 MB of deflate,
    with the tinynn header edited to match (before: inflated, 1 GB)."""
    edit_header(path, lambda h: h["arrays"][0].update(shape=[1 << 28]))
    files = members(path)
    head = npy_head((1 << 28,))
    chunk, count = bytes(1 << 20), 1024
    stream = deflate_bomb(head, chunk, count)
    assert len(stream) < 1.1e6
    bomb = (stream, zeros_crc(chunk, count, head), len(head) + count * len(chunk))
    del files["weight_0.npy"]
    raw_zip(path, files, {"weight_0.npy": bomb})
    assert_refused(path, lambda: load_model(path), "'weight_0.npy'", dense_bytes(N_IN, HIDDEN))


def test_a_header_of_json_and_1_gib_of_spaces_is_refused_unread(path):
    """Valid JSON followed by 1 GiB of spaces in 1 MB of deflate (before: it loaded, 3.1 GB)."""
    text = json.dumps(header_of(path)).encode()
    chunk, count = b" " * (1 << 20), 1024
    size = len(text) + count * len(chunk)
    head = npy_head((size,), "|u1")
    stream = deflate_bomb(head + text, chunk, count)
    files = members(path)
    del files["header.npy"]
    raw_zip(path, files, {"header.npy": (stream, zeros_crc(chunk, count, head + text),
                                         len(head) + size)})
    assert_refused(path, lambda: load_model(path), "the header ('header.npy')",
                   dense_bytes(N_IN, HIDDEN))


def test_a_member_inflating_past_its_declared_size_is_read_only_that_far(path):
    """The zip says 176 bytes (what the npy header implies), the deflate stream behind them
    holds 1 GiB more: reading stops at the declared size, the weights are the real ones and
    the peak is a normal load's (this held before too: zipfile stops there)."""
    files = members(path)
    real = files.pop("weight_0.npy")
    chunk, count = bytes(1 << 20), 1024
    stream = deflate_bomb(real, chunk, count)
    raw_zip(path, files, {"weight_0.npy": (stream, zlib.crc32(real), len(real))})
    error, peak = peak_bytes(lambda: load_model(path))
    assert error is None and peak < 2 * _LEGITIMATE_PEAK[0], (error, peak)
    np.testing.assert_array_equal(load_model(path).get_weights()[0], make().get_weights()[0])


def test_process_memory_of_a_refused_architecture_stays_small(path):
    """The 10^6 edit in a fresh process, measured by the kernel (ru_maxrss)."""
    def edit(h):
        h["model"]["input_shape"] = [10**6]
        h["model"]["layers"][0]["config"]["units"] = 10**6
    edit_header(path, edit)
    code = f"""
import resource
from tinynn.models import load_model
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    load_model({str(path)!r})
except ValueError:
    pass
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert int(out.stdout) * 1024 < 50e6, f"grew {out.stdout.strip()} kB"


# ----- what is not a regular file -----------------------------------------------------------

def unblock(fifo) -> None:
    """Give a reader blocked in open() its writer, so that a failing test does not hang."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass  # no reader waiting: nothing to unblock


@pytest.mark.parametrize("kind", ["fifo", "directory", "/dev/null", "/dev/zero"])
@pytest.mark.parametrize("loader", ["load_model", "load_training_state"])
def test_what_is_not_a_regular_file_is_refused_without_blocking(tmp_path, kind, loader):
    target = tmp_path / "model.npz" if kind in ("fifo", "directory") else kind
    if kind == "fifo":
        os.mkfifo(target)  # no writer: opening it for reading would block forever
    elif kind == "directory":
        os.mkdir(target)
    model = make()
    load = (lambda: load_model(target)) if loader == "load_model" else (
        lambda: load_training_state(model, target))
    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(peak_bytes(load)), daemon=True)
    thread.start()
    thread.join(10)
    if thread.is_alive():
        unblock(target)
        thread.join(5)
        pytest.fail(f"{loader} blocked on a {kind}")
    error, _ = outcome[0]
    assert isinstance(error, ValueError) and f"{target}: it is not a regular file" in str(error), \
        f"{type(error).__name__}: {error}"


def test_a_symlink_to_a_model_file_loads(path):
    link = path.with_name("link.npz")
    link.symlink_to(path)
    assert load_model(link).count_params() == make().count_params()


def test_a_permission_error_is_an_os_error_naming_the_file(path, monkeypatch):
    """Reported as such, not as "truncated or is not a tinynn model file". The test runs as
    root, whom chmod does not stop, so opening the file is made to fail as it would."""
    denied = str(path)

    def guarded(real):
        def opener(file, *args, **kwargs):
            if not isinstance(file, int) and os.fspath(file) == denied:
                raise PermissionError(13, "Permission denied", denied)
            return real(file, *args, **kwargs)
        return opener

    monkeypatch.setattr(builtins, "open", guarded(builtins.open))
    monkeypatch.setattr(os, "open", guarded(os.open))
    with pytest.raises(PermissionError) as info:
        load_model(path)
    assert denied in str(info.value) and "truncated" not in str(info.value)


# ----- dtypes -------------------------------------------------------------------------------

def test_a_float64_file_whose_header_says_float32_is_refused(tmp_path, float64):
    """Before: it loaded silently as float32, not bit-identical."""
    path = tmp_path / "model.npz"
    make().save(path)
    tinynn.config.set_floatx("float32")
    edit_header(path, lambda h: h.update(dtype="float32"))
    assert_refused(path, lambda: load_model(path), "float64", dense_bytes(N_IN, HIDDEN, 8))


def test_optimizer_state_of_another_dtype_is_refused(path):
    """The moments stored as float64 (header and checksums consistent) in a float32 model:
    before, they were cast silently."""
    files = members(path)
    header = header_of(path)
    for e in header["arrays"]:
        if e["role"] == "optimizer":
            with np.load(path) as z:
                a = z[e["key"]].astype(np.float64)
            files[e["key"] + ".npy"] = npy(a)
            e.update(dtype="<f8", sha256=hashlib.sha256(a.tobytes()).hexdigest())
    files["header.npy"] = npy(np.frombuffer(json.dumps(header).encode(), np.uint8))
    write_members(path, files)
    assert_refused(path, lambda: load_model(path), "float64", dense_bytes(N_IN, HIDDEN))


# ----- raw errors become one clear error naming the file ------------------------------------

@pytest.mark.parametrize("field,offset,fmt,value,match", [
    # before: RuntimeError: File 'weight_1.npy' is encrypted, password required for extraction
    ("encrypted", 8, "<H", 1, "'weight_1.npy' cannot be read (RuntimeError"),
    # before: NotImplementedError: zip file version 17.3 (raised when the zip is opened)
    ("version needed", 6, "<H", 173, "(NotImplementedError: zip file version 17.3)"),
    # before: NotImplementedError: That compression method is not supported
    ("compression method", 10, "<H", 99, "'weight_1.npy' cannot be read (NotImplementedError"),
    ("compression method lzma", 10, "<H", 14, "'weight_1.npy'"),  # held before
    ("declared size", 24, "<I", 10**9, "'weight_1.npy' is stored uncompressed, yet"),  # loaded
])
def test_zip_metadata_flips_are_one_clear_error(path, field, offset, fmt, value, match):
    path.write_bytes(patch_directory(path.read_bytes(), b"weight_1.npy", offset, fmt, value))
    for load in (lambda: load_model(path), lambda: load_training_state(make(), path)):
        assert_refused(path, load, match, dense_bytes(N_IN, HIDDEN))


@pytest.mark.parametrize("edit", [
    lambda h: h["training_state"].update(iterations="abc"),
    lambda h: h["training_state"].update(iterations=float("nan")),
    lambda h: h["training_state"].update(iterations=float("inf")),
    lambda h: h["training_state"].update(iterations=-1),
    lambda h: h["model"].update(input_shape=["abc"]),
    lambda h: h["model"].update(input_shape=[float("nan")]),
    lambda h: h["model"]["layers"][0]["config"].update(units="abc"),
    lambda h: h["model"]["layers"][0]["config"].update(units=float("nan")),
    lambda h: h["model"]["layers"][0]["config"].update(units=float("inf")),
    lambda h: h["model"]["layers"][0]["config"].update(units=1e300),
    lambda h: h["arrays"][0].update(shape=["abc", 4]),
    lambda h: h["arrays"][0].update(shape=[float("inf"), 4]),
    lambda h: h["arrays"][0].update(shape=[-3, -4]),
    lambda h: h["arrays"][0].update(key="header"),
    lambda h: h["arrays"][0].update(sha256=12),
    lambda h: h["arrays"][0].update(dtype="abc"),
    lambda h: h.update(version=float("nan")),
    lambda h: h["model"].update(layers="abc"),
    lambda h: h.update(model=[]),
    lambda h: h["compile"].update(metrics=float("inf")),
    lambda h: h["training_state"]["rng"].update(global_=None, **{"global": "abc"}),
])
def test_edited_header_fields_are_one_clear_error(path, edit):
    """"abc", NaN and Infinity where numbers belong, numbers where strings belong (before:
    `invalid literal for int()`, `cannot convert float NaN to integer`, OverflowError)."""
    edit_header(path, edit)
    error = assert_refused(path, lambda: load_model(path), "Cannot load model file",
                           dense_bytes(N_IN, HIDDEN))
    assert isinstance(error, ValueError)


def test_json_nested_200000_deep_is_one_clear_error(path):
    """Before: RecursionError. A legitimate model whose header is as long (400 kB) reads it
    too: the bound is 2x that plus a normal load's peak."""
    edit_header(path, lambda h: h.update(extra="@"),
                text=lambda s: s.replace('"@"', nested(200_000)))
    size = len(members(path)["header.npy"])
    assert_refused(path, lambda: load_model(path), "header", size + _LEGITIMATE_PEAK[0])


def test_a_member_twice_is_refused(path):
    """Two zip entries named weight_0.npy: which one a reader takes is up to the reader."""
    files = members(path)
    with zipfile.ZipFile(path, "a") as zf, pytest.warns(UserWarning, match="Duplicate"):
        zf.writestr("weight_0.npy", files["weight_0.npy"])
    assert_refused(path, lambda: load_model(path), "'weight_0.npy' twice",
                   dense_bytes(N_IN, HIDDEN))


@pytest.mark.parametrize("header", [np.zeros((2, 2), np.uint8), np.zeros(3, np.float32)])
def test_a_header_member_that_is_not_bytes_is_refused(path, header):
    files = members(path)
    files["header.npy"] = npy(header)
    write_members(path, files)
    assert_refused(path, lambda: load_model(path), "header", dense_bytes(N_IN, HIDDEN))
