"""tinynn.datasets.mnist against keras.datasets.mnist: the same file gives the same arrays.

The real mnist.npz cannot be downloaded here, so a generated one stands in: tinynn's official
checksum and sizes are patched to it, and Keras's `get_file` (its download and its own checksum
check) is pointed at it; both then read it. Keras's checksum itself is read from Keras's source.
"""

import hashlib
import inspect
import io

import numpy as np

from tinynn.datasets import mnist

SHAPES = {"x_train": (6, 28, 28), "y_train": (6,), "x_test": (4, 28, 28), "y_test": (4,)}


def test_mnist_load_data_equals_keras_on_the_same_file(keras, tmp_path, monkeypatch):
    from keras.src.datasets import mnist as keras_mnist

    official = mnist.SHA256
    rng = np.random.default_rng(3)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{k: rng.integers(0, 256, s, dtype=np.uint8)
                                   for k, s in SHAPES.items()})
    raw = buffer.getvalue()
    (tmp_path / "mnist.npz").write_bytes(raw)
    monkeypatch.setenv("TINYNN_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(mnist, "SHA256", hashlib.sha256(raw).hexdigest())
    monkeypatch.setattr(mnist, "SIZE", len(raw))
    monkeypatch.setattr(mnist, "ARRAYS", SHAPES)
    asked = {}
    monkeypatch.setattr(keras_mnist, "get_file",
                        lambda **kw: asked.update(kw) or str(tmp_path / "mnist.npz"))
    ours, theirs = mnist.load_data(), keras_mnist.load_data()
    assert asked["fname"] == mnist.NAME and asked["file_hash"] == official
    for our_pair, their_pair in zip(ours, theirs, strict=True):
        for a, b in zip(our_pair, their_pair, strict=True):
            assert type(a) is type(b) and a.dtype == b.dtype and a.shape == b.shape
            assert np.array_equal(a, b) and a.flags.writeable == b.flags.writeable


def test_mnist_checksum_and_address_are_keras_s(keras):
    from keras.src.datasets import mnist as keras_mnist

    source = inspect.getsource(keras_mnist.load_data)
    assert f'"{mnist.SHA256}"' in source
    assert f'"{mnist.MIRRORS[0]}"' in source and 'f"{origin_folder}mnist.npz"' in source
