"""Model files at the level of bytes: one `.npz` archive, written atomically, read verified.

This module knows nothing of layers or optimizers (`tinynn.saving` turns models into a header
and arrays and back). The file is a NumPy `.npz` (a zip of `.npy` arrays, no pickle) holding:

- `header`: the UTF-8 bytes of a JSON document: format and version, what `tinynn.saving` put in
  it, and for every array its key, role, shape, dtype and SHA-256;
- the arrays themselves (`weight_0, ...`, `optimizer_0, ...`).

Writing goes to a temporary file `.{name}.{host}-{pid}.{random}.tmp` in the target's folder,
which is flushed, fsynced and renamed over the target only when complete (with
`overwrite=False`, hard-linked to it, which fails if the target exists: two savers never both
succeed), so a crash or Ctrl-C never leaves a half-written file nor destroys the previous one.
A process killed mid-save (`kill -9`) cannot remove its temporary file: the next save to the
same target removes those whose writer is dead (same host, PID gone) or that are a day old.

Reading (`tinynn.archive`) trusts nothing: the header member is capped at 1 MiB and parsed as
strict JSON; every array's key, shape and dtype in the header must match its npy header and its
size in the zip directory before anything is read, and `tinynn.saving` compares them with the
architecture before building it; every array is checked against its SHA-256. A truncated,
edited or foreign file is refused with an error naming the file and the array. The checksums
detect accidents (truncation, bit rot, a stray edit), not a determined forger.
"""

import contextlib
import hashlib
import json
import os
import re
import socket
import tempfile
import time
from collections.abc import Callable
from typing import BinaryIO

import numpy as np

from tinynn.archive import Archive, ModelFileError, check_regular  # noqa: F401 (re-exported)

FORMAT, VERSION = "tinynn-model", 1
FLOAT_DTYPES = ("<f4", "<f8")
ARRAY_DTYPES = (*FLOAT_DTYPES, "<i8")  # int64: counters (a Normalization layer's `count`)
HEADER_LIMIT = 1 << 20
STALE_AGE = 24 * 3600  # seconds after which any temporary file of ours is abandoned


# ----- atomic writing -------------------------------------------------------------------------

def _new_file_mode(path: str) -> int:
    """Keep an existing file's permissions; a new file gets the usual 0o666 minus the umask."""
    with contextlib.suppress(OSError):
        return os.stat(path).st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "", socket.gethostname())[:24] or "host"


def writer_tag() -> str:
    """`{host}-{pid}`: who writes a temporary file, part of its name."""
    return f"{_host()}-{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: another user's live process
        return True
    return True


def remove_stale_temporaries(folder: str, base: str) -> None:
    """Remove the temporary files earlier saves to `base` left behind: those whose writer
    process is gone (same host, PID not running) and any a day old (older tinynn named them
    `.{base}.{random}.tmp`). Files of other names, other targets and live writers stay."""
    ours = re.compile(rf"\.{re.escape(base)}\.(?:([A-Za-z0-9-]{{1,24}})-([1-9][0-9]{{0,9}})\.)?"
                      r"[a-z0-9_]{8}\.tmp\Z")
    host, now = _host(), time.time()
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            match = ours.match(entry.name)
            if match is None:
                continue
            with contextlib.suppress(OSError):
                dead = match[1] == host and not _alive(int(match[2]))
                if dead or now - entry.stat(follow_symlinks=False).st_mtime > STALE_AGE:
                    os.remove(entry.path)


def _link_exclusive(tmp: str, path: str) -> None:
    """Put `tmp` at `path` only if nothing is there, atomically (a hard link fails if `path`
    exists); where hard links are not supported, claim `path` with O_EXCL, then rename."""
    exists = FileExistsError(f"{path} exists and overwrite=False.")
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise exists from None
    except OSError:  # no hard links here (some network or FAT file systems)
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            raise exists from None
        os.replace(tmp, path)
    else:
        os.remove(tmp)


def atomic_write(path: "str | os.PathLike", write: Callable[[BinaryIO], None],
                 overwrite: bool = True) -> None:
    """Write a file all-or-nothing: `write(f)` fills a temporary file in the same folder, which
    is flushed, fsynced and then renamed over `path` (with `overwrite=False`, linked to `path`,
    raising FileExistsError if it exists, even if it appeared while writing). On any error
    (Ctrl-C included) the temporary file is removed and `path` is left exactly as it was.
    Temporary files of earlier saves to `path` killed mid-write are removed first.
    """
    path = os.path.abspath(os.fspath(path))
    folder, base = os.path.split(path)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Cannot save to {path}: the folder {folder} does not exist.")
    remove_stale_temporaries(folder, base)
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.{writer_tag()}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _new_file_mode(path))
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_exclusive(tmp, path)
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


def write_archive(filepath, header: dict, arrays: dict, entries: list,
                  overwrite: bool = True) -> None:
    """Write `header` (JSON-able; `entries` describe `arrays`, each given a SHA-256 here) and
    the arrays to one file, atomically."""
    for e in entries:
        a = arrays[e["key"]]
        e.update(shape=list(a.shape), dtype=a.dtype.str, sha256=_sha256(a))
    header = {"format": FORMAT, "version": VERSION, **header, "arrays": entries}
    blob = np.frombuffer(json.dumps(header, allow_nan=False).encode("utf-8"), dtype=np.uint8)
    atomic_write(filepath, lambda f: np.savez(f, header=blob, **arrays), overwrite)


# ----- loading --------------------------------------------------------------------------------

_KEY = re.compile(r"(weight|optimizer)_(0|[1-9][0-9]{0,8})\Z")
_SHA = re.compile(r"[0-9a-f]{64}\Z")


def _no_constants(name: str):
    raise ValueError(f"{name} is not allowed in a model file")


def describe(e: dict) -> str:
    return (f"weight '{e['layer']}/{e['name']}'" if e["role"] == "weight"
            else f"optimizer state '{e['slot']}'")


class Reader:
    """Reads and verifies one model file; every error names the file. `header()` first: it
    checks every listed array's key, shape and dtype against its npy header and its size in the
    zip, reading no data; then `verify()` (every SHA-256, streamed) and `array(key)`."""

    def __init__(self, archive: Archive):
        self.archive, self.path = archive, archive.path
        self.entries: dict[str, dict] = {}

    def error(self, message: str) -> ModelFileError:
        return self.archive.error(message)

    def header(self) -> dict:
        info = self.archive.infos.get("header.npy")
        if info is None:
            raise self.error("the header ('header') is missing: the file is truncated or is "
                             "not a tinynn model file.")
        if info.file_size > HEADER_LIMIT + 128:
            raise self.error(f"the header ('header.npy') is {info.file_size:,} bytes, more than "
                             f"the {HEADER_LIMIT:,} a header may hold: refused before inflating "
                             "it.")
        shape, dtype = self.archive.npy("header.npy", "the header")
        if dtype != np.uint8 or len(shape) != 1:
            raise self.error(f"the header ('header.npy') holds an array of shape {shape} and "
                             f"dtype {dtype}, not bytes: it is not a tinynn model file.")
        raw, _ = self.archive.read("header.npy", "the header")
        try:
            header = json.loads(str(memoryview(raw), "utf-8"), parse_constant=_no_constants)
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            raise self.error(f"the header is not valid JSON ({type(e).__name__}: {e}).") from e
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise self.error("it is not a tinynn model file (no tinynn header).")
        if header.get("version") != VERSION:
            raise self.error(f"format version {header.get('version')!r} is not supported; this "
                             f"tinynn reads version {VERSION}.")
        if header.get("dtype") not in ("float32", "float64"):
            raise self.error(f"unsupported weight dtype {header.get('dtype')!r}.")
        if not isinstance(header.get("arrays"), list):
            raise self.error("its header is malformed (no list of arrays).")
        for e in header["arrays"]:
            self._check_entry(e, np.dtype(header["dtype"]))
        extra = sorted(name.removesuffix(".npy") for name in self.archive.infos
                       if name != "header.npy" and name.removesuffix(".npy") not in self.entries)
        if extra:
            raise self.error(f"it holds arrays not listed in its header ({', '.join(extra)}): "
                             "the file was edited.")
        return header

    def _check_entry(self, e, dtype: np.dtype) -> None:
        """One listed array: well-formed, present, and its npy header saying what it says."""
        if not isinstance(e, dict) or not isinstance(e.get("key"), str) \
                or not _KEY.match(e["key"]) or e.get("role") != _KEY.match(e["key"])[1] \
                or not all(isinstance(e.get(k), str) for k in (
                    ("layer", "name") if e["role"] == "weight" else ("slot",))):
            raise self.error(f"its header is malformed (array entry {str(e)[:200]}).")
        what, key = describe(e), e["key"]
        shape = e.get("shape")
        if not isinstance(shape, list) or not all(
                type(d) is int and 0 <= d < 2**63 for d in shape) \
                or e.get("dtype") not in (ARRAY_DTYPES if e["role"] == "weight" else FLOAT_DTYPES) \
                or not isinstance(e.get("sha256"), str) \
                or not _SHA.match(e["sha256"]):
            raise self.error(f"its header is malformed ({what} ('{key}'): shape {shape!r}, "
                             f"dtype {e.get('dtype')!r}, sha256 {str(e.get('sha256'))[:80]!r}).")
        if key in self.entries:
            raise self.error(f"its header lists '{key}' twice: the file was edited.")
        if e["role"] == "weight" and np.dtype(e["dtype"]).kind == "f" \
                and np.dtype(e["dtype"]) != dtype:
            raise self.error(f"{what} ('{key}') is {np.dtype(e['dtype'])}, but the header says "
                             f"the weights are {dtype}: the file was edited.")
        if key + ".npy" not in self.archive.infos:
            raise self.error(f"{what} ('{key}') is missing: the file is truncated or was "
                             "edited.")
        got_shape, got_dtype = self.archive.npy(key + ".npy", what)
        if got_dtype.str not in ARRAY_DTYPES or got_dtype.str != e["dtype"]:
            raise self.error(f"{what} ('{key}') has dtype {got_dtype}, expected "
                             f"{np.dtype(e['dtype'])}.")
        if list(got_shape) != shape:
            raise self.error(f"{what} ('{key}') has shape {got_shape}, the header says "
                             f"{tuple(shape)}: the file was edited.")
        self.entries[key] = e

    def declared(self, key: str) -> "tuple[tuple, np.dtype]":
        """The shape and dtype of a listed array, as checked by `header()`; nothing read."""
        return self.archive.npy(key + ".npy", describe(self.entries[key]))

    def _bad_sum(self, key: str) -> ModelFileError:
        return self.error(f"{describe(self.entries[key])} ('{key}') fails its SHA-256 check: "
                          "the file is corrupt or was edited.")

    def verify(self) -> None:
        """Every listed array's SHA-256, streamed: corruption is found before anything the
        arrays are for is allocated."""
        for key, e in self.entries.items():
            if self.archive.sha256(key + ".npy", describe(e)) != e["sha256"]:
                raise self._bad_sum(key)

    def array(self, key: str) -> np.ndarray:
        """A listed array, read and checked against its SHA-256 (again: the file is open)."""
        a, digest = self.archive.read(key + ".npy", describe(self.entries[key]))
        if digest != self.entries[key]["sha256"]:
            raise self._bad_sum(key)
        return a


@contextlib.contextmanager
def open_archive(filepath):
    """A `Reader` of the model file, open for the block (errors name the file)."""
    with Archive(filepath) as archive:
        yield Reader(archive)
