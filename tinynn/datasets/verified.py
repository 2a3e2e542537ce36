"""Reading the `keras.datasets` files of boston_housing, imdb and reuters without trusting them.

Every file is read whole, up to a size cap, and its checksum (Keras's SHA-256 for the `.npz`
files, Keras's MD5 for the word-index JSON files) is checked on those bytes before any of them
is parsed. Only then are the members looked at: their names, the total size they declare
(capped before any is inflated), their `.npy` headers (shape and dtype, before anything is
allocated), numeric members read with pickling off. The ragged sequences of imdb and reuters
are object arrays, which numpy can only store as a pickle stream; they are unpickled by
`RestrictedUnpickler`, which knows exactly the three numpy globals that rebuild an object array
and calls each only with the arguments numpy itself writes (numpy's own `__setstate__` is never
handed the stream's state: a state declaring more elements than it holds crashes it), and the
result is checked to be a 1-D object array of Python lists of non-negative ints.

Files are found as Keras's `get_file` finds them: by a bare file name (`path=`), in
`$TINYNN_DATA_DIR` first, then Keras's cache `$KERAS_HOME/datasets` (`~/.keras/datasets`), and
downloaded from Keras's address into the first of these otherwise.

Anything wrong is one ValueError naming the file and what is wrong ("Delete it and load again").
"""

import hashlib
import io
import json
import os
import pickle
import zipfile
import zlib
from pathlib import Path

import numpy as np

from tinynn.datasets import download


class Damaged(ValueError):
    """A check of this module failed (the message says which); reported with the file's name."""


def read_checked(path: Path, limit: int, digest: str, algorithm: str, what: str) -> bytes:
    """The bytes of `path`, refused unread past `limit` bytes, and checked against `digest`.

    Args:
        path: the file.
        limit: the most bytes accepted (a documented upper bound on the official file).
        digest: the official hex digest (from Keras's source).
        algorithm: "sha256" or "md5" (Keras's word-index files have MD5s).
        what: the data set's name, for the messages ("IMDB").

    Raises:
        ValueError: naming the file, when it is not a regular file, too large, or its digest
            is not the official one.
    """
    path = Path(path)
    with download.open_regular(path, limit, what, f"at most {limit:,} bytes") as f:
        size = os.fstat(f.fileno()).st_size  # <= limit: a buffer of the file's size, no more
        raw = f.read(size + 1)
    if len(raw) > size:  # it grew since it was measured
        raise ValueError(f"{what} file {path} grew while it was read.")
    if hashlib.new(algorithm, raw).hexdigest() != digest:
        raise ValueError(f"{what} file {path} is corrupt: its {algorithm.upper()} does not "
                         f"match the official {path.name}. Delete it and load again.")
    return raw


# The globals numpy's pickle of an object array names, in numpy >= 2 and numpy < 2 spellings:
# `_reconstruct(ndarray, (0,), b"b")` makes an empty array, BUILD fills it from a state tuple
# `(1, (n,), dtype("O8", False, True), False, [element, ...])`.
_RECONSTRUCT = {("numpy._core.multiarray", "_reconstruct"),
                ("numpy.core.multiarray", "_reconstruct")}


class _NdarrayType:
    """What the pickle gets for `numpy.ndarray`: only good as `_reconstruct`'s first argument,
    so the stream cannot call `ndarray(shape)` itself (an allocation of any size)."""


class _ObjectArray:
    """What the pickle gets from `_reconstruct`: an empty stand-in whose `__setstate__` (the
    pickle's BUILD) checks numpy's state tuple before making the array, so a declared shape
    that the element list does not fill is refused before anything of that shape exists."""

    array = None

    def __setstate__(self, state):
        if type(state) is not tuple or len(state) != 5:
            raise pickle.UnpicklingError("the array's state is not numpy's 5-tuple")
        version, shape, dtype, fortran, elements = state
        if (version != 1 or not isinstance(dtype, np.dtype) or dtype != np.dtype(object)
                or fortran is not False or type(elements) is not list
                or shape != (len(elements),) or self.array is not None):
            raise pickle.UnpicklingError("the array's state is not a 1-D object array's")
        array = np.empty(len(elements), dtype=object)
        for i, element in enumerate(elements):  # one by one: lists of one length stay lists
            array[i] = element
        self.array = array


def _reconstruct(subtype, shape, dtype_code):
    if subtype is not _NdarrayType or shape != (0,) or dtype_code != b"b":
        raise pickle.UnpicklingError(f"_reconstruct{(subtype, shape, dtype_code)!r} is not how "
                                     "numpy pickles an array")
    return _ObjectArray()


def _object_dtype(*args):
    if args != ("O8", False, True):
        raise pickle.UnpicklingError(f"dtype{args!r} is not the object dtype")
    return np.dtype("O8", False, True)  # a copy: the stream's BUILD may only change this one


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles a numpy object array and nothing else: `numpy.ndarray`, `numpy.dtype` and
    `numpy(._)core.multiarray._reconstruct` are the only globals (Keras's `npz_utils` allows the
    same three), each usable only as numpy uses it. Any other global is refused before it is
    imported, so a `__reduce__` gadget (`os.system`, `builtins.eval`, ...) never runs.

    `load()` returns a `_ObjectArray`; its `.array` is the 1-D object array (None if the stream
    never filled it)."""

    def find_class(self, module, name):
        if (module, name) == ("numpy", "ndarray"):
            return _NdarrayType
        if (module, name) == ("numpy", "dtype"):
            return _object_dtype
        if (module, name) in _RECONSTRUCT:
            return _reconstruct
        raise pickle.UnpicklingError(f"refused the global {module}.{name}: only numpy's object "
                                     "array reconstruction is allowed")


def unpickle_object_array(stream: bytes) -> np.ndarray:
    """The 1-D object array pickled in `stream` (as numpy writes it), by `RestrictedUnpickler`.

    Raises:
        pickle.UnpicklingError: for anything else, before any other global is imported.
    """
    try:
        built = RestrictedUnpickler(io.BytesIO(stream)).load()
    except pickle.UnpicklingError:
        raise
    except Exception as e:  # a malformed stream: EOFError, TypeError, struct.error, ...
        raise pickle.UnpicklingError(f"{type(e).__name__}: {e}") from e
    if type(built) is not _ObjectArray or built.array is None:
        raise pickle.UnpicklingError("the stream does not hold a numpy array")
    return built.array


def _npy_header(stream, name: str):
    """(shape, fortran_order, dtype) from a member's `.npy` header, reading nothing further."""
    version = np.lib.format.read_magic(stream)
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise Damaged(f"member {name} has .npy format version {version}")
    # 3.0 differs from 2.0 only in the header's text encoding (UTF-8, not latin-1)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
        np.lib.format.read_array_header_2_0
    return read(stream)


def numeric_member(archive: zipfile.ZipFile, name: str, kinds: str, ndim: int) -> np.ndarray:
    """Member `name` as a numeric array, its header checked before anything is allocated.

    Args:
        archive: the open `.npz`.
        name: the member ("y_train.npy").
        kinds: the accepted dtype kinds ("iu" for integers, "f" for floats).
        ndim: the number of dimensions expected.
    """
    info = archive.getinfo(name)
    with archive.open(info) as member:  # zipfile stops inflating at the declared size
        shape, fortran, dtype = _npy_header(member, name)
        if dtype.kind not in kinds or dtype.hasobject or len(shape) != ndim:
            raise Damaged(f"member {name} holds shape {shape}, dtype {dtype}; expected "
                          f"{ndim} dimension(s) of dtype kind {kinds!r}")
        nbytes = int(np.prod(shape)) * dtype.itemsize
        if nbytes > info.file_size:
            raise Damaged(f"member {name} declares {info.file_size:,} bytes, too few for "
                          f"shape {shape} and dtype {dtype}")
        data = bytearray(nbytes)
        if member.readinto(data) != nbytes or member.read(1):
            raise Damaged(f"member {name} does not hold exactly {nbytes:,} bytes of data")
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def sequences_member(archive: zipfile.ZipFile, name: str) -> np.ndarray:
    """Member `name`: a 1-D object array of Python lists of non-negative ints (a pickle).

    The header's length must fit in the member (every element takes at least a byte); the
    stream is unpickled by `RestrictedUnpickler`; the ints are counted as they are checked, and
    more of them than the member has bytes (a pickle can name one list many times) is refused,
    so checking costs no more than the member's size.
    """
    info = archive.getinfo(name)
    with archive.open(info) as member:
        shape, fortran, dtype = _npy_header(member, name)
        if dtype != np.dtype(object) or len(shape) != 1 or fortran:
            raise Damaged(f"member {name} holds shape {shape}, dtype {dtype}; expected a 1-D "
                          "object array of sequences")
        if shape[0] > info.file_size:
            raise Damaged(f"member {name} declares {shape[0]:,} sequences in "
                          f"{info.file_size:,} bytes")
        stream = member.read(info.file_size + 1)
    try:
        array = unpickle_object_array(stream)
    except pickle.UnpicklingError as e:
        raise Damaged(f"member {name} is not a numpy object array ({e})") from e
    if array.shape != shape:
        raise Damaged(f"member {name} holds {array.shape[0]:,} sequences; its header declares "
                      f"{shape[0]:,}")
    budget = len(stream)
    for i, sequence in enumerate(array):
        if type(sequence) is not list:
            raise Damaged(f"member {name}[{i}] is a {type(sequence).__name__}, not a list")
        budget -= len(sequence)
        if budget < 0:
            raise Damaged(f"member {name} holds more word indices than it has bytes")
        if not all(type(w) is int and w >= 0 for w in sequence):
            raise Damaged(f"member {name}[{i}] holds something other than non-negative ints")
    return array


def read_npz(path: Path, raw: bytes, members: dict, what: str,
             unzipped_limit: int) -> dict[str, np.ndarray]:
    """The members of an `.npz` whose bytes `raw` were already size- and checksum-checked.

    Args:
        path: the file (for the messages).
        raw: its bytes.
        members: key -> `reader(archive, member_name)`, one per member the file must hold
            (as "key.npy"), and no others.
        what: the data set's name, for the messages.
        unzipped_limit: the most bytes the members may declare, in all (checked before any is
            inflated; zipfile then inflates no member past its declared size).

    Returns:
        key -> array.

    Raises:
        ValueError: naming the file and what is wrong with it.
    """
    expected = sorted(key + ".npy" for key in members)
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            if sorted(archive.namelist()) != expected:
                raise Damaged(f"its members are {sorted(archive.namelist())}, expected "
                              f"{expected}")
            declared = sum(info.file_size for info in archive.infolist())
            if declared > unzipped_limit:
                raise Damaged(f"its members declare {declared:,} bytes, more than the "
                              f"{unzipped_limit:,} allowed")
            return {key: reader(archive, key + ".npy") for key, reader in members.items()}
    except Damaged as e:
        raise ValueError(f"{what} file {path} is not the official {Path(path).name}: {e}. "
                         "Delete it and load again.") from e
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError) as e:
        raise ValueError(f"{what} file {path} is damaged ({type(e).__name__}: {e}). Delete it "
                         "and load again.") from e


def same_length(path: Path, arrays: dict, pairs, what: str) -> None:
    """Refuse a file whose sequences and labels (`pairs` of keys) differ in length."""
    for x, y in pairs:
        if len(arrays[x]) != len(arrays[y]):
            raise ValueError(f"{what} file {path} is not the official {Path(path).name}: {x} "
                             f"has {len(arrays[x]):,} entries and {y} {len(arrays[y]):,}. "
                             "Delete it and load again.")


def read_word_index(path: Path, limit: int, md5: str, what: str) -> dict[str, int]:
    """A word-index JSON file: size, Keras's MD5, then a dict of str -> non-negative int."""
    raw = read_checked(path, limit, md5, "md5", what)
    try:
        index = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"{what} file {path} is not valid JSON ({e}). Delete it and load "
                         "again.") from e
    if not isinstance(index, dict) or not all(
            type(k) is str and type(v) is int and v >= 0 for k, v in index.items()):
        raise ValueError(f"{what} file {path} is not a word index (an object of words to "
                         "non-negative ints). Delete it and load again.")
    return index


MIRRORS = ["https://storage.googleapis.com/tensorflow/tf-keras-datasets/"]  # Keras's origin


def search_dirs() -> list[Path]:
    """Where the files are looked for, in order: $TINYNN_DATA_DIR, then Keras's cache."""
    return download.data_dir_override() + [download.keras_datasets_dir()]


def file_name(path, official: str) -> str:
    """The name `path` gives the file, as Keras's `get_file(fname=path)` reads it: a bare name
    in the cache folder; empty or None means `official` (Keras then takes the origin's name).

    Raises:
        ValueError: naming `path`, for a path with a folder in it (Keras 3 refuses it too:
            "Paths are no longer accepted as the `fname` argument").
        TypeError: for something that is not a str or os.PathLike.
    """
    if path is None:
        return official
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a file name (str), not {type(path).__name__}.")
    name = os.fspath(path)
    if not isinstance(name, str):
        raise TypeError("`path` must be a file name (str), not bytes.")
    if not name:
        return official
    if os.sep in name or (os.altsep and os.altsep in name) or name in (".", ".."):
        raise ValueError(f"`path` must be a file name, looked for in $TINYNN_DATA_DIR and "
                         f"Keras's cache (as Keras 3 accepts no folder in it); got {name!r}.")
    return name


def find(path, official: str, read, limit: int, what: str, fix: str, mirrors: list[str]):
    """`read(file)` of the first copy of `path` found, else of a verified download.

    Args:
        path: the load function's `path=` argument: a file name looked for in each of
            `search_dirs()` (see `file_name`); a download is saved under it.
        official: the file's name at the mirrors ("imdb.npz").
        read: parses and verifies a file, raising ValueError.
        limit: the most bytes accepted from a mirror.
        what: the data set's name, for the messages.
        fix: how to get the file, appended to the FileNotFoundError.
        mirrors: base addresses ending in "/".

    Raises:
        FileNotFoundError: listing every place tried, then `fix`, when no copy was had.
        ValueError: naming the file, when a copy found is not the official one.
    """
    name = file_name(path, official)
    dirs = search_dirs()
    deadline = download.DEADLINE_BASE + limit / download.SLOWEST_SPEED
    return download.find_or_download(
        name, dirs, read,
        lambda tried: download.download(name, dirs[0], mirrors, limit, deadline, read, tried,
                                        source=official),
        [], what, fix)
