"""Fashion-MNIST: 70,000 28x28 greyscale images of clothing in 10 classes (Zalando Research).

`load_data()` returns `((x_train, y_train), (x_test, y_test))` exactly like
`keras.datasets.fashion_mnist.load_data()`: uint8 images (60000, 28, 28) and (10000, 28, 28),
uint8 labels (60000,) and (10000,). Class names are in `CLASS_NAMES`.

The four official IDX files are looked for, in order, in `$TINYNN_DATA_DIR`,
`~/.keras/datasets/fashion-mnist` (Keras's cache) and `/usr/share/datasets/fashion-mnist`
(Debian package `dataset-fashion-mnist`); if they are in none of these they are downloaded into
`$TINYNN_DATA_DIR` (or Keras's cache). Every file is checked (magic number, shape, SHA-256 of the
decompressed bytes) before use, and a download is renamed into place only once verified.
"""

import gzip
import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

# file name -> (shape, SHA-256 of the decompressed IDX bytes)
FILES = {
    "train-images-idx3-ubyte.gz": (
        (60000, 28, 28), "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    "train-labels-idx1-ubyte.gz": (
        (60000,), "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    "t10k-images-idx3-ubyte.gz": (
        (10000, 28, 28), "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    "t10k-labels-idx1-ubyte.gz": (
        (10000,), "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
}
MIRRORS = [
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
]
FIX = ("Install the data with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or put "
       "the four files " + ", ".join(FILES) + " in a folder and set TINYNN_DATA_DIR to it.")


def search_dirs() -> list[Path]:
    """Where the files are looked for, in order."""
    dirs = [Path(os.environ["TINYNN_DATA_DIR"])] if os.environ.get("TINYNN_DATA_DIR") else []
    return dirs + [Path.home() / ".keras" / "datasets" / "fashion-mnist",
                   Path("/usr/share/datasets/fashion-mnist")]


def cache_dir() -> Path:
    """Where downloads go: $TINYNN_DATA_DIR, else Keras's cache (so Keras finds them too)."""
    return search_dirs()[0]


def read_idx(path: Path, name: "str | None" = None) -> np.ndarray:
    """Parse one gzipped IDX file and verify it against the official shape and SHA-256.

    IDX: 2 zero bytes, a type byte (0x08 = uint8), the number of dimensions, then each dimension
    as a big-endian uint32, then the data. `name` is the official file name (default: path's).
    """
    shape, sha256 = FILES[name or path.name]
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as e:
        raise ValueError(f"Fashion-MNIST file {path} is not a valid gzip file ({e}).") from e
    if raw[:3] != b"\x00\x00\x08" or len(raw) < 4 or raw[3] != len(shape):
        raise ValueError(f"Fashion-MNIST file {path} has a bad IDX header {raw[:4]!r}.")
    dims = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(len(shape)))
    if dims != shape:
        raise ValueError(f"Fashion-MNIST file {path} has shape {dims}, expected {shape}.")
    if hashlib.sha256(raw).hexdigest() != sha256:
        raise ValueError(f"Fashion-MNIST file {path} is corrupt: its SHA-256 does not match the "
                         "official data. Delete it and load again.")
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * len(shape)).reshape(shape)


def _download(name: str, folder: Path, tried: list[str]) -> "np.ndarray | None":
    """Download one file to a temporary name, verify it, then rename it into place."""
    for mirror in MIRRORS:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
        except OSError as e:
            tried.append(f"{folder}: cannot write there ({e})")
            return None
        try:
            with os.fdopen(fd, "wb") as out:
                with urllib.request.urlopen(mirror + name, timeout=30) as response:
                    out.write(response.read())
                out.flush()
                os.fsync(out.fileno())
            data = read_idx(Path(tmp), name)
            os.replace(tmp, folder / name)
            return data
        except (OSError, ValueError) as e:
            tried.append(f"{mirror}{name}: {e}")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    return None


def _load_file(name: str, tried: list[str]) -> np.ndarray:
    for folder in search_dirs():
        path = folder / name
        if path.is_file():
            return read_idx(path)  # a corrupt file is an error, not something to skip
        tried.append(f"{path}: not found")
    data = _download(name, cache_dir(), tried)
    if data is None:
        raise FileNotFoundError(
            f"Could not find or download the Fashion-MNIST file {name}. Tried:\n  - "
            + "\n  - ".join(tried) + f"\n{FIX}"
        )
    return data


def load_data():
    """Load Fashion-MNIST as `((x_train, y_train), (x_test, y_test))`, all uint8.

    Shapes: x_train (60000, 28, 28), y_train (60000,), x_test (10000, 28, 28), y_test (10000,).
    Raises FileNotFoundError listing every place tried when the data is nowhere to be had.
    """
    tried: list[str] = []
    x_train, y_train, x_test, y_test = (_load_file(name, tried) for name in FILES)
    return (x_train, y_train), (x_test, y_test)
