"""MNIST: 70,000 28x28 greyscale images of handwritten digits (LeCun, Cortes and Burges).

`load_data()` returns `((x_train, y_train), (x_test, y_test))` exactly like
`keras.datasets.mnist.load_data()`: uint8 images (60000, 28, 28) and (10000, 28, 28), uint8
labels 0-9 (60000,) and (10000,), read from the same file Keras reads, `mnist.npz`.

The file is looked for, in order, in `$TINYNN_DATA_DIR` and `~/.keras/datasets` (Keras's cache,
`$KERAS_HOME/datasets` when that is set, so a copy Keras downloaded is used); if it is in
neither it is downloaded into `$TINYNN_DATA_DIR` (or Keras's cache) from Keras's address, and
renamed into place only once verified.

Verified before use: the file is at most its official 11,490,434 bytes (a larger file or
download is refused unread), its SHA-256 is Keras's (checked on the bytes read, before they are
parsed), and then each of its four `.npy` members is checked for its name, its declared size,
its header's shape and dtype before its array is allocated, with `allow_pickle` never on. A
download has a total deadline. Anything damaged is one ValueError naming the file.
"""

import hashlib
import io
import zipfile
import zlib
from pathlib import Path

import numpy as np

from tinynn.datasets import download

NAME = "mnist.npz"
SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"  # Keras's
SIZE = 11_490_434  # bytes of the official mnist.npz
# member -> its shape; every member is uint8
ARRAYS = {"x_train": (60000, 28, 28), "y_train": (60000,),
          "x_test": (10000, 28, 28), "y_test": (10000,)}
NPY_HEADER_MAX = 4096  # an .npy member is its array plus a header of (here) 128 bytes
DEADLINE_BASE = download.DEADLINE_BASE
SLOWEST_SPEED = download.SLOWEST_SPEED
MIRRORS = ["https://storage.googleapis.com/tensorflow/tf-keras-datasets/"]
FIX = ("Download it once with Keras (`python -c \"import keras; keras.datasets.mnist."
       "load_data()\"` puts it in Keras's cache, where tinynn looks), or put mnist.npz (SHA-256 "
       f"{SHA256}) in a folder and set TINYNN_DATA_DIR to it.")


class _Damaged(ValueError):
    """A check of this module failed (the message says which); reported with the file's name."""


def search_dirs() -> list[Path]:
    """Where `mnist.npz` is looked for, in order."""
    return download.data_dir_override() + [download.keras_datasets_dir()]


def cache_dir() -> Path:
    """Where a download goes: $TINYNN_DATA_DIR, else Keras's cache (so Keras finds it too)."""
    return search_dirs()[0]


def download_deadline() -> float:
    """Seconds allowed for downloading `mnist.npz`, from the first byte asked to the last."""
    return DEADLINE_BASE + SIZE / SLOWEST_SPEED


def _member(archive: zipfile.ZipFile, key: str, name: str) -> np.ndarray:
    """Member `name` (array `key`), checked (size, header shape and dtype) before allocation."""
    shape = ARRAYS[key]
    nbytes = int(np.prod(shape))
    info = archive.getinfo(name)
    if not nbytes < info.file_size <= nbytes + NPY_HEADER_MAX:
        raise _Damaged(f"member {name} declares {info.file_size:,} bytes; an array of "
                       f"shape {shape} and dtype uint8 takes {nbytes:,} plus its header")
    with archive.open(info) as member:  # zipfile stops inflating at the declared size
        version = np.lib.format.read_magic(member)
        if version not in ((1, 0), (2, 0)):
            raise _Damaged(f"member {name} has .npy format version {version}")
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        found, fortran, dtype = read_header(member)
        if found != shape or dtype != np.uint8 or fortran:
            raise _Damaged(f"member {name} holds shape {found}, dtype {dtype}"
                           f"{' (Fortran order)' if fortran else ''}; expected shape {shape}, "
                           "dtype uint8")
        array = np.empty(shape, dtype=np.uint8)
        if member.readinto(memoryview(array).cast("B")) != nbytes or member.read(1):
            raise _Damaged(f"member {name} does not hold exactly {nbytes:,} bytes of data")
    return array


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Read and verify `mnist.npz`: size, SHA-256, then each member's size, shape and dtype.

    Args:
        path: the file.

    Returns:
        {"x_train": ..., "y_train": ..., "x_test": ..., "y_test": ...}, uint8, writable.

    Raises:
        ValueError: naming the file and what is wrong with it.
    """
    path = Path(path)
    with download.open_regular(path, SIZE, "MNIST", f"{SIZE:,} bytes") as f:
        raw = f.read(SIZE + 1)
    if len(raw) > SIZE:  # it grew since it was measured
        raise ValueError(f"MNIST file {path} is larger than the official {SIZE:,} bytes.")
    if hashlib.sha256(raw).hexdigest() != SHA256:
        raise ValueError(f"MNIST file {path} is corrupt: its SHA-256 does not match the "
                         "official mnist.npz. Delete it and load again.")
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            # np.load names a member "x_train.npy" or "x_train" by the same key, so do we
            members = {name.removesuffix(".npy"): name for name in archive.namelist()}
            if len(members) != len(archive.namelist()) or sorted(members) != sorted(ARRAYS):
                raise _Damaged(f"its members are {sorted(archive.namelist())}, expected "
                               f"{sorted(k + '.npy' for k in ARRAYS)}")
            return {key: _member(archive, key, members[key]) for key in ARRAYS}
    except _Damaged as e:
        raise ValueError(f"MNIST file {path} is not the official mnist.npz: {e}. Delete it "
                         "and load again.") from e
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError) as e:
        raise ValueError(f"MNIST file {path} is damaged ({type(e).__name__}: {e}). Delete it "
                         "and load again.") from e


def load_data() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load MNIST as `((x_train, y_train), (x_test, y_test))`, all uint8, as Keras does.

    Shapes: x_train (60000, 28, 28), y_train (60000,), x_test (10000, 28, 28), y_test (10000,).

    Returns:
        The training and the test images and labels.

    Raises:
        FileNotFoundError: listing every place tried, and how to get the file, when it is
            nowhere to be had.
        ValueError: naming the file, when a copy found or downloaded is not the official one.
    """
    arrays = download.find_or_download(
        NAME, search_dirs(), read_npz,
        lambda tried: download.download(NAME, cache_dir(), MIRRORS, SIZE, download_deadline(),
                                        read_npz, tried),
        [], "MNIST", FIX)
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])
