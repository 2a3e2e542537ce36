"""The Fashion-MNIST loader: real data, search order, verification, and its errors."""

import gzip
import shutil

import numpy as np
import pytest

from tinynn.datasets import fashion_mnist

REAL = fashion_mnist.search_dirs()


def test_real_data_shapes_like_keras(fashion):
    (x, y), (xt, yt) = fashion_mnist.load_data()
    assert x.shape == (60000, 28, 28) and xt.shape == (10000, 28, 28)
    assert y.shape == (60000,) and yt.shape == (10000,)
    assert x.dtype == y.dtype == np.uint8
    assert np.bincount(y).tolist() == [6000] * 10 and np.bincount(yt).tolist() == [1000] * 10
    assert x.max() == 255 and x.min() == 0
    assert len(fashion_mnist.CLASS_NAMES) == 10 and fashion_mnist.CLASS_NAMES[9] == "Ankle boot"
    # writable, as Keras's arrays are: a Keras program may shuffle or edit them in place
    assert all(a.flags.writeable for a in (x, y, xt, yt))
    y[:2] = y[1::-1]


def _real_dir():
    for d in REAL:
        if (d / "t10k-labels-idx1-ubyte.gz").is_file():
            return d
    pytest.fail("Real Fashion-MNIST is required: `apt-get install -y dataset-fashion-mnist`.")


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """TINYNN_DATA_DIR points at an empty folder, home too, and downloads fail fast."""
    monkeypatch.setenv("TINYNN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(fashion_mnist, "MIRRORS", ["http://127.0.0.1:9/"])
    return tmp_path / "data"


def test_tinynn_data_dir_is_searched_first(isolated, monkeypatch):
    isolated.mkdir()
    for name in fashion_mnist.FILES:
        shutil.copy(_real_dir() / name, isolated / name)
    monkeypatch.setattr(fashion_mnist, "search_dirs", lambda: [isolated])
    (_, y), _ = fashion_mnist.load_data()
    assert y.shape == (60000,)


def test_nothing_found_lists_every_place_and_the_fix(isolated, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "search_dirs",
                        lambda: [isolated, isolated.parent / "home" / ".keras"])
    with pytest.raises(FileNotFoundError) as info:
        fashion_mnist.load_data()
    message = str(info.value)
    assert str(isolated / "train-images-idx3-ubyte.gz") + ": not found" in message
    assert "127.0.0.1:9/train-images-idx3-ubyte.gz" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert not any(p.name.startswith(".") for p in isolated.iterdir())  # no partial downloads


@pytest.mark.parametrize("damage,match", [
    (lambda raw: raw[:1000], "not a valid gzip|shape|corrupt"),
    (lambda raw: gzip.compress(b"\x00\x00\x08\x03" + gzip.decompress(raw)[4:]), "header"),
    (lambda raw: gzip.compress(gzip.decompress(raw)[:-1] + b"\x01"), "corrupt"),
])
def test_damaged_file_is_named_in_the_error(isolated, monkeypatch, damage, match):
    isolated.mkdir()
    name = "train-labels-idx1-ubyte.gz"
    (isolated / name).write_bytes(damage((_real_dir() / name).read_bytes()))
    with pytest.raises(ValueError, match=match) as info:
        fashion_mnist.read_idx(isolated / name)
    assert name in str(info.value)


def test_wrong_dimensions_are_named(isolated):
    isolated.mkdir()
    name = "t10k-labels-idx1-ubyte.gz"
    raw = gzip.decompress((_real_dir() / name).read_bytes())
    (isolated / name).write_bytes(gzip.compress(raw[:4] + (9999).to_bytes(4, "big") + raw[8:-1]))
    with pytest.raises(ValueError, match=f"{name} has shape \\(9999,\\), expected \\(10000,\\)"):
        fashion_mnist.read_idx(isolated / name)


def test_download_is_verified_before_it_is_renamed_into_place(isolated, tmp_path, monkeypatch):
    """A corrupt mirror is named and skipped; only a verified file lands in the cache."""
    name = "t10k-labels-idx1-ubyte.gz"
    bad, good = tmp_path / "bad-mirror", tmp_path / "good-mirror"
    bad.mkdir()
    good.mkdir()
    raw = (_real_dir() / name).read_bytes()
    (bad / name).write_bytes(gzip.compress(gzip.decompress(raw)[:-1] + b"\x07"))
    (good / name).write_bytes(raw)
    monkeypatch.setattr(fashion_mnist, "search_dirs", lambda: [isolated])
    monkeypatch.setattr(fashion_mnist, "MIRRORS", [bad.as_uri() + "/"])
    tried = []
    with pytest.raises(FileNotFoundError, match=f"bad-mirror/{name}: .*corrupt"):
        fashion_mnist._load_file(name, tried)
    assert list(isolated.iterdir()) == []  # nothing partial or unverified left behind
    monkeypatch.setattr(fashion_mnist, "MIRRORS", [bad.as_uri() + "/", good.as_uri() + "/"])
    labels = fashion_mnist._load_file(name, [])
    assert labels.shape == (10000,)
    assert [p.name for p in isolated.iterdir()] == [name]
    assert (isolated / name).read_bytes() == raw


def test_download_over_http_from_a_loopback_mirror(isolated, monkeypatch, mirror):
    """The real download path (urllib over HTTP, streamed reads, deadline, size cap), served by
    a local mirror; a 404 on the first mirror is named and the second is used."""
    name = "t10k-labels-idx1-ubyte.gz"
    raw = (_real_dir() / name).read_bytes()
    mirror.files["/good/" + name] = raw
    monkeypatch.setattr(fashion_mnist, "search_dirs", lambda: [isolated])
    monkeypatch.setattr(fashion_mnist, "MIRRORS", [mirror.url + "missing/", mirror.url + "good/"])
    tried = []
    labels = fashion_mnist._load_file(name, tried)
    assert np.array_equal(labels, fashion_mnist.read_idx(_real_dir() / name))
    assert tried == [f"{isolated / name}: not found",
                     f"{mirror.url}missing/{name}: HTTP Error 404: Not Found"]
    assert (isolated / name).read_bytes() == raw


def test_official_sizes_are_known_for_every_file():
    for name, (shape, _, gz_size) in fashion_mnist.FILES.items():
        assert fashion_mnist.idx_size(name) == 4 + 4 * len(shape) + int(np.prod(shape))
        assert gz_size < fashion_mnist.gz_limit(name) < 1.2 * gz_size + 4096
    # the Debian copies (no file name in the gzip header) are within the limits
    for name in fashion_mnist.FILES:
        assert (_real_dir() / name).stat().st_size <= fashion_mnist.gz_limit(name)
