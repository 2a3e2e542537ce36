"""The MNIST loader on small generated `mnist.npz` files (the real one cannot be had offline):
the official checksum and sizes are patched to the generated file's, everything else is the code
that reads the real file: search order, verification, the download over HTTP, the errors."""

import hashlib
import io
import os
import tracemalloc
import zipfile

import numpy as np
import pytest

from tinynn.datasets import mnist

SHAPES = {"x_train": (6, 28, 28), "y_train": (6,), "x_test": (4, 28, 28), "y_test": (4,)}


def arrays(seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.integers(0, 256 if k[0] == "x" else 10, shape, dtype=np.uint8)
            for k, shape in SHAPES.items()}


def npz_bytes(members: dict) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **members)
    return buffer.getvalue()


def make_official(monkeypatch, raw: bytes) -> None:
    """Make `raw` the 'official' file: its SHA-256 and size, the small shapes."""
    monkeypatch.setattr(mnist, "SHA256", hashlib.sha256(raw).hexdigest())
    monkeypatch.setattr(mnist, "SIZE", len(raw))
    monkeypatch.setattr(mnist, "ARRAYS", SHAPES)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """TINYNN_DATA_DIR and HOME point at empty folders, no KERAS_HOME, downloads fail fast."""
    monkeypatch.setenv("TINYNN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setattr(mnist, "MIRRORS", ["http://127.0.0.1:9/"])
    return tmp_path / "data"


@pytest.fixture
def official(isolated, monkeypatch):
    """A generated mnist.npz made official; returns (its bytes, its arrays)."""
    members = arrays()
    raw = npz_bytes(members)
    make_official(monkeypatch, raw)
    return raw, members


def check_result(result, members):
    (x, y), (xt, yt) = result
    for got, key in ((x, "x_train"), (y, "y_train"), (xt, "x_test"), (yt, "y_test")):
        assert got.dtype == np.uint8 and got.shape == SHAPES[key], key
        assert np.array_equal(got, members[key]), key
        assert got.flags.writeable, key  # as np.load gives them to Keras


def test_loads_from_tinynn_data_dir_like_keras(isolated, official):
    raw, members = official
    isolated.mkdir()
    (isolated / "mnist.npz").write_bytes(raw)
    check_result(mnist.load_data(), members)


@pytest.mark.parametrize("keras_home", [False, True])
def test_keras_cache_is_searched(isolated, official, tmp_path, monkeypatch, keras_home):
    """A copy Keras downloaded (~/.keras/datasets/mnist.npz, or under $KERAS_HOME) is used."""
    raw, members = official
    monkeypatch.delenv("TINYNN_DATA_DIR")
    home = tmp_path / "kh" if keras_home else tmp_path / "home" / ".keras"
    if keras_home:
        monkeypatch.setenv("KERAS_HOME", str(home))
    (home / "datasets").mkdir(parents=True)
    (home / "datasets" / "mnist.npz").write_bytes(raw)
    assert mnist.search_dirs() == [home / "datasets"]
    check_result(mnist.load_data(), members)


def test_missing_file_lists_every_place_and_the_fix(isolated, official):
    with pytest.raises(FileNotFoundError) as info:
        mnist.load_data()
    message = str(info.value)
    assert "Could not find or download the MNIST file mnist.npz" in message
    assert f"{isolated / 'mnist.npz'}: not found" in message
    assert str(isolated.parent / "home" / ".keras" / "datasets" / "mnist.npz") in message
    assert "http://127.0.0.1:9/mnist.npz" in message
    assert "keras.datasets.mnist.load_data()" in message and "TINYNN_DATA_DIR" in message
    assert not any(p.name.startswith(".") for p in isolated.iterdir())  # no partial download


def test_download_over_http_from_a_loopback_mirror(isolated, official, monkeypatch, mirror):
    """The real download path (urllib, streamed reads, deadline, size cap): a 404 on the first
    mirror, a corrupt copy on the second (named, never renamed into place), the third used."""
    raw, members = official
    mirror.files["/good/mnist.npz"] = raw
    mirror.files["/bad/mnist.npz"] = raw[:-1] + bytes([raw[-1] ^ 1])
    monkeypatch.setattr(mnist, "MIRRORS", [mirror.url + p for p in ("missing/", "bad/")])
    with pytest.raises(FileNotFoundError) as info:
        mnist.load_data()
    assert f"{mirror.url}missing/mnist.npz: HTTP Error 404: Not Found" in str(info.value)
    assert f"{mirror.url}bad/mnist.npz: MNIST file" in str(info.value)
    assert "SHA-256 does not match" in str(info.value)
    assert list(isolated.iterdir()) == []  # nothing partial or unverified left behind
    monkeypatch.setattr(mnist, "MIRRORS", [mirror.url + p for p in ("bad/", "good/")])
    check_result(mnist.load_data(), members)
    assert [p.name for p in isolated.iterdir()] == ["mnist.npz"]
    assert (isolated / "mnist.npz").read_bytes() == raw
    mirror.files.clear()  # now read from the cache, not the mirror
    check_result(mnist.load_data(), members)


def test_a_mirror_sending_more_than_the_official_size_is_cut_off(isolated, official,
                                                                 monkeypatch, mirror):
    raw, _ = official
    mirror.files["/mnist.npz"] = raw + bytes(10)
    monkeypatch.setattr(mnist, "MIRRORS", [mirror.url])
    with pytest.raises(FileNotFoundError, match=f"is {len(raw) + 10:,} bytes, more than the "
                                                f"{len(raw):,} allowed"):
        mnist.load_data()


def test_the_download_deadline_is_a_total():
    assert mnist.download_deadline() == pytest.approx(30 + 11_490_434 / 65536)


def test_a_too_large_file_is_refused_unread(tmp_path):
    """With the real official size: a 2 GiB (sparse) file is refused before a byte is read."""
    path = tmp_path / "mnist.npz"
    with open(path, "wb") as f:
        f.truncate(2 << 30)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="is 2,147,483,648 bytes; the official mnist.npz "
                                             "is 11,490,434 bytes"):
            mnist.read_npz(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, f"peak {peak / 1e6:.2f} MB"


def test_a_fifo_is_refused_without_blocking(tmp_path):
    path = tmp_path / "mnist.npz"
    os.mkfifo(path)  # no writer: opening it for reading would block forever
    with pytest.raises(ValueError, match=f"MNIST file {path} is not a regular file"):
        mnist.read_npz(path)


def test_a_changed_byte_fails_the_checksum(isolated, official):
    raw, _ = official
    isolated.mkdir()
    (isolated / "mnist.npz").write_bytes(raw[:100] + bytes([raw[100] ^ 1]) + raw[101:])
    with pytest.raises(ValueError, match="corrupt: its SHA-256 does not match"):
        mnist.load_data()


def member_bomb() -> bytes:
    """x_train.npy as 64 MiB of zeros (a 64 kB member), the other members as official."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for key, value in arrays().items():
            data = bytes(64 << 20) if key == "x_train" else npz_member(value)
            archive.writestr(key + ".npy", data)
    return buffer.getvalue()


def npz_member(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def with_member(key, value) -> bytes:
    members = arrays()
    members[key] = value
    return npz_bytes(members)


def without_member(key) -> bytes:
    members = arrays()
    del members[key]
    return npz_bytes(members)


# Each damaged file is made 'official' (checksum and size patched to it), so the member checks
# behind the checksum are what must catch it.
@pytest.mark.parametrize("make,match", [
    (lambda: b"PK\x03\x04 not a zip at all", r"damaged \(BadZipFile: "),
    (lambda: with_member("x_train", np.zeros((6, 28, 27), np.uint8)),  # 168 bytes short
     r"x_train.npy declares 4,664 bytes; an array of shape \(6, 28, 28\) and dtype uint8 "
     "takes 4,704 plus its header"),
    (lambda: with_member("x_train", np.zeros((28, 6, 28), np.uint8)),  # the same size
     r"x_train.npy holds shape \(28, 6, 28\), dtype uint8; expected shape \(6, 28, 28\)"),
    (lambda: with_member("y_test", np.zeros(4, np.int8)), "y_test.npy .* dtype int8"),
    (lambda: with_member("y_train", np.array([object()] * 6)),  # a pickle: never unpickled
     "y_train.npy .* dtype object"),
    (lambda: with_member("x_test", np.asfortranarray(np.zeros((4, 28, 28), np.uint8))),
     "Fortran order"),
    (lambda: without_member("y_test"), "its members are"),
    (lambda: npz_bytes({**arrays(), "extra": np.zeros(1, np.uint8)}), "its members are"),
    (member_bomb, "x_train.npy declares 67,108,864 bytes"),
])
def test_a_damaged_file_is_one_error_naming_it(isolated, monkeypatch, make, match):
    raw = make()
    make_official(monkeypatch, raw)
    isolated.mkdir()
    path = isolated / "mnist.npz"
    path.write_bytes(raw)
    with pytest.raises(ValueError, match=match) as info:
        mnist.load_data()
    assert str(path) in str(info.value) and "Delete it and load again" in str(info.value)


def test_damaged_compressed_data_is_one_error_naming_it(isolated, monkeypatch):
    """A flipped byte inside a member's deflate stream (checksum patched to match)."""
    raw = bytearray(npz_bytes(arrays()))
    start = raw.index(b"x_train.npy") + len("x_train.npy") + 200  # inside its data
    raw[start:start + 8] = bytes(b ^ 0xFF for b in raw[start:start + 8])
    make_official(monkeypatch, bytes(raw))
    isolated.mkdir()
    (isolated / "mnist.npz").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"mnist.npz is damaged \((BadZipFile|error): "):
        mnist.load_data()


def test_the_official_constants():
    """Keras's checksum (parity/test_datasets_keras.py reads it from Keras's source) and the
    shapes Keras documents."""
    assert mnist.SHA256 == "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
    assert mnist.ARRAYS == {"x_train": (60000, 28, 28), "y_train": (60000,),
                            "x_test": (10000, 28, 28), "y_test": (10000,)}
    assert mnist.SIZE == 11_490_434
