"""Model files at the level of bytes: one `.npz` archive, written atomically, read verified.

This module knows nothing of layers or optimizers (`tinynn.saving` turns models into a header
and arrays and back). The file is a NumPy `.npz` (a zip of `.npy` arrays, no pickle) holding:

- `header`: the UTF-8 bytes of a JSON document: format and version, what `tinynn.saving` put in
  it, and for every array its key, role, shape, dtype and SHA-256;
- the arrays themselves (`weight_0, ...`, `optimizer_0, ...`).

Writing goes to a temporary file in the target's folder, which is flushed, fsynced and renamed
over the target only when complete, so a crash or Ctrl-C never leaves a half-written file nor
destroys the previous one. Reading uses `np.load(allow_pickle=False)` and checks every array
against its SHA-256 in the header, so a truncated, edited or foreign file is refused with an
error naming the file and the array. The checksums detect accidents (truncation, bit rot, a
stray edit), not a determined forger.
"""

import contextlib
import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from typing import BinaryIO

import numpy as np

FORMAT, VERSION = "tinynn-model", 1
# float weights and optimizer state, and int64 counters (a Normalization layer's `count`)
ARRAY_DTYPES = ("<f4", "<f8", "<i8")


# ----- atomic writing -------------------------------------------------------------------------

def _new_file_mode(path: str) -> int:
    """Keep an existing file's permissions; a new file gets the usual 0o666 minus the umask."""
    with contextlib.suppress(OSError):
        return os.stat(path).st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: "str | os.PathLike", write: Callable[[BinaryIO], None]) -> None:
    """Write a file all-or-nothing: `write(f)` fills a temporary file in the same folder, which
    is flushed, fsynced and then renamed over `path`. On any error (Ctrl-C included) the
    temporary file is removed and `path` is left exactly as it was.
    """
    path = os.path.abspath(os.fspath(path))
    folder, base = os.path.split(path)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Cannot save to {path}: the folder {folder} does not exist.")
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _new_file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable (POSIX)
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def write_archive(filepath, header: dict, arrays: dict, entries: list) -> None:
    """Write `header` (JSON-able; `entries` describe `arrays`, each given a SHA-256 here) and
    the arrays to one file, atomically."""
    for e in entries:
        a = arrays[e["key"]]
        e.update(shape=list(a.shape), dtype=a.dtype.str, sha256=_sha256(a))
    header = {"format": FORMAT, "version": VERSION, **header, "arrays": entries}
    blob = np.frombuffer(json.dumps(header, allow_nan=False).encode("utf-8"), dtype=np.uint8)
    atomic_write(filepath, lambda f: np.savez(f, header=blob, **arrays))


# ----- loading --------------------------------------------------------------------------------

class Reader:
    """Reads and verifies one model file; every error names the file."""

    def __init__(self, path: str, npz):
        self.path, self.npz = path, npz

    def error(self, message: str) -> ValueError:
        return ValueError(f"Cannot load model file {self.path}: {message}")

    def member(self, key: str, what: str) -> np.ndarray:
        try:
            return self.npz[key]
        except KeyError:
            raise self.error(f"{what} ('{key}') is missing: the file is truncated or was "
                             "edited.") from None
        except ValueError as e:
            if "allow_pickle" in str(e):
                raise self.error(f"{what} ('{key}') holds Python objects (dtype=object). Loading "
                                 "it would need pickle, which can run arbitrary code: refused."
                                 ) from None
            raise self.error(f"{what} ('{key}') cannot be read: {e}") from e
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise self.error(f"{what} ('{key}') is damaged ({e}): the file is truncated or "
                             "corrupt.") from e

    def header(self) -> dict:
        raw = self.member("header", "the header")
        try:
            header = json.loads(raw.tobytes().decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise self.error(f"the header is not valid JSON ({e}).") from e
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise self.error("it is not a tinynn model file (no tinynn header).")
        if header.get("version") != VERSION:
            raise self.error(f"format version {header.get('version')!r} is not supported; this "
                             f"tinynn reads version {VERSION}.")
        if header.get("dtype") not in ("float32", "float64"):
            raise self.error(f"unsupported weight dtype {header.get('dtype')!r}.")
        return header

    def arrays(self, entries: list) -> dict[str, np.ndarray]:
        """Every listed array, verified against its shape, dtype and SHA-256."""
        out = {}
        for e in entries:
            what = (f"weight '{e['layer']}/{e['name']}'" if e["role"] == "weight"
                    else f"optimizer state '{e['slot']}'")
            a = self.member(e["key"], what)
            if a.dtype.str not in ARRAY_DTYPES or a.dtype.str != e["dtype"]:
                raise self.error(f"{what} ('{e['key']}') has dtype {a.dtype}, expected "
                                 f"{np.dtype(e['dtype'])}.")
            if list(a.shape) != e["shape"]:
                raise self.error(f"{what} ('{e['key']}') has shape {a.shape}, the header says "
                                 f"{tuple(e['shape'])}: the file was edited.")
            if _sha256(a) != e["sha256"]:
                raise self.error(f"{what} ('{e['key']}') fails its SHA-256 check: the file is "
                                 "corrupt or was edited.")
            out[e["key"]] = a
        extra = sorted(set(self.npz.files) - set(out) - {"header"})
        if extra:
            raise self.error(f"it holds arrays not listed in its header ({', '.join(extra)}): "
                             "the file was edited.")
        return out



def read_archive(filepath) -> "tuple[dict, dict[str, np.ndarray], Reader]":
    """The verified header and arrays of a model file, and the reader (for its `error`)."""
    path = os.fspath(filepath)
    try:
        npz = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"Cannot load model file {path}: it is truncated or is not a tinynn "
                         f"model file ({e}).") from e
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"Cannot load model file {path}: it is a single .npy array, not a "
                         "tinynn model file.")
    with npz:
        reader = Reader(path, npz)
        header = reader.header()
        try:
            arrays = reader.arrays(header["arrays"])
        except (KeyError, TypeError, AttributeError) as e:
            raise reader.error(f"its header is malformed ({type(e).__name__}: {e}).") from e
    return header, arrays, reader
