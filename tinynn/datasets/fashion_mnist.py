"""Fashion-MNIST: 70,000 28x28 greyscale images of clothing in 10 classes (Zalando Research).

`load_data()` returns `((x_train, y_train), (x_test, y_test))` exactly like
`keras.datasets.fashion_mnist.load_data()`: uint8 images (60000, 28, 28) and (10000, 28, 28),
uint8 labels (60000,) and (10000,). Class names are in `CLASS_NAMES`.

The four official IDX files are looked for, in order, in `$TINYNN_DATA_DIR`,
`~/.keras/datasets/fashion-mnist` (Keras's cache, `$KERAS_HOME/datasets/fashion-mnist` when that
is set) and `/usr/share/datasets/fashion-mnist` (Debian package `dataset-fashion-mnist`); if
they are in none of these they are downloaded into `$TINYNN_DATA_DIR` (or Keras's cache). Every
file is checked (magic number, shape, SHA-256 of the decompressed bytes) before use, and a
download is renamed into place only once verified.

A file is never trusted to be small. The loader knows each file's official size, compressed and
decompressed, and reads no further: a file or a download much larger than the official one is
refused before it is decompressed, and decompression is streamed and stops one byte past the
official size (a 2 MB `.gz` that would inflate to 2 GiB costs at most the real file's memory).
A download has a total deadline, not just a timeout per read (a mirror sending one byte every
20 s would otherwise never time out); a damaged `.gz` is one ValueError naming the file.
"""

import gzip
import hashlib
import zlib
from pathlib import Path

import numpy as np

from tinynn.datasets import download
from tinynn.datasets.download import fetch  # noqa: F401  (still importable from here)

CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

# file name -> (shape, SHA-256 of the decompressed IDX bytes, size of the official .gz in bytes)
FILES = {
    "train-images-idx3-ubyte.gz": (
        (60000, 28, 28), "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        26421880),
    "train-labels-idx1-ubyte.gz": (
        (60000,), "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", 29515),
    "t10k-images-idx3-ubyte.gz": (
        (10000, 28, 28), "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        4422102),
    "t10k-labels-idx1-ubyte.gz": (
        (10000,), "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", 5148),
}
# A download gets 30 s plus the time the official file takes at 64 kB/s (7.6 min for the
# training images), in total: a mirror that trickles is abandoned, whatever its pace.
DEADLINE_BASE = download.DEADLINE_BASE
SLOWEST_SPEED = download.SLOWEST_SPEED
MIRRORS = [
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
]
FIX = ("Install the data with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or put "
       "the four files " + ", ".join(FILES) + " in a folder and set TINYNN_DATA_DIR to it.")


def search_dirs() -> list[Path]:
    """Where the files are looked for, in order."""
    return download.data_dir_override() + [download.keras_datasets_dir() / "fashion-mnist",
                                           Path("/usr/share/datasets/fashion-mnist")]


def cache_dir() -> Path:
    """Where downloads go: $TINYNN_DATA_DIR, else Keras's cache (so Keras finds them too)."""
    return search_dirs()[0]


def idx_size(name: str) -> int:
    """Bytes of the decompressed IDX file: a 4-byte magic, 4 bytes per dimension, the data."""
    shape = FILES[name][0]
    return 4 + 4 * len(shape) + int(np.prod(shape))


def gz_limit(name: str) -> int:
    """The largest `.gz` accepted for `name`: the official size plus 1/8 and 4 kB. A copy
    without the file name in its gzip header (Debian's) is 24 bytes smaller; gzip -1 makes
    the same bytes 3.4% larger, -9 1% smaller (measured on the four files)."""
    official = FILES[name][2]
    return official + official // 8 + 4096


def download_deadline(name: str) -> float:
    """Seconds allowed for downloading `name`, from the first byte asked to the last received."""
    return DEADLINE_BASE + FILES[name][2] / SLOWEST_SPEED


def _read_at_most(stream, n: int) -> bytearray:
    """Up to `n` bytes of `stream`, read into one writable buffer (so the arrays made from it
    are writable, as Keras's are, without a copy)."""
    buffer = bytearray(n)
    with memoryview(buffer) as view:
        filled = 0
        while filled < n:
            got = stream.readinto(view[filled:filled + (1 << 20)])  # 1 MiB: no big temporary
            if not got:
                break
            filled += got
    del buffer[filled:]
    return buffer


def _inflate(path: Path, name: str) -> bytearray:
    """The decompressed bytes of `path`, reading no more than the official sizes allow.

    Refused, with a ValueError naming the file: something that is not a regular file (a FIFO
    would block forever), a file larger than `gz_limit`, a damaged gzip stream, and data that
    inflates past the official size (decompression stops one byte after it, so a bomb costs
    no more memory than the real file).
    """
    size, limit = idx_size(name), gz_limit(name)
    with download.open_regular(path, limit, "Fashion-MNIST",
                               f"{FILES[name][2]:,} bytes compressed") as f:
        try:
            with gzip.GzipFile(fileobj=f) as stream:
                raw = _read_at_most(stream, size + 1)  # streamed: at most size + 1 inflated
        except (gzip.BadGzipFile, EOFError, zlib.error) as e:
            raise ValueError(f"Fashion-MNIST file {path} is not a valid gzip file "
                             f"({type(e).__name__}: {e}). Delete it and load again.") from e
    if len(raw) > size:
        raise ValueError(f"Fashion-MNIST file {path} decompresses to more than the official "
                         f"{size:,} bytes of {name}. Delete it and load again.")
    return raw


def read_idx(path: Path, name: "str | None" = None) -> np.ndarray:
    """Parse one gzipped IDX file and verify it against the official size, shape and SHA-256.

    IDX: 2 zero bytes, a type byte (0x08 = uint8), the number of dimensions, then each dimension
    as a big-endian uint32, then the data. `name` is the official file name (default: path's).
    """
    name = name or path.name
    shape, sha256, _ = FILES[name]
    raw = _inflate(Path(path), name)
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
    return download.download(name, folder, MIRRORS, gz_limit(name), download_deadline(name),
                             lambda path: read_idx(path, name), tried)


def _load_file(name: str, tried: list[str]) -> np.ndarray:
    return download.find_or_download(name, search_dirs(), read_idx,
                                     lambda tried: _download(name, cache_dir(), tried), tried,
                                     "Fashion-MNIST", FIX)


def load_data():
    """Load Fashion-MNIST as `((x_train, y_train), (x_test, y_test))`, all uint8.

    Shapes: x_train (60000, 28, 28), y_train (60000,), x_test (10000, 28, 28), y_test (10000,).
    Raises FileNotFoundError listing every place tried when the data is nowhere to be had.
    """
    tried: list[str] = []
    x_train, y_train, x_test, y_test = (_load_file(name, tried) for name in FILES)
    return (x_train, y_train), (x_test, y_test)
