"""Reading a `.npz` archive (a zip of `.npy` members) without trusting it.

A model file may be truncated, edited or crafted. Nothing here is allocated or inflated before
it is known to be small enough: the file must be a regular file (a FIFO, device or directory is
refused without blocking); each member's npy header (a few hundred bytes) is read first and its
declared shape and dtype compared with the member's size in the zip directory; a compressed
member may not claim to inflate more than `MAX_RATIO` times; data is read in chunks into a
buffer of the declared size and reading stops one byte past it. Every error is a
`ModelFileError` (a ValueError) naming the file; the reasons the operating system gives
(permission denied, no such file) stay OSErrors, which name the file too.

This module knows nothing of models: `tinynn.io` says which members a model file must have and
what they must hold.
"""

import contextlib
import hashlib
import io as _io
import math
import os
import stat
import struct
import zipfile
import zlib

import numpy as np

NPY_HEADER_LIMIT = 10_000  # numpy's own default max_header_size
MAX_RATIO, RATIO_SLACK = 100, 1 << 20  # a deflated member inflates at most 100x (+1 MiB)
CHUNK = 1 << 16  # bytes read at a time: the transient cost above the array itself
# what the zip and npy readers raise on a damaged or crafted file (zipfile: RuntimeError for an
# encrypted member, NotImplementedError for an unknown method or version, zlib.error, ...)
DAMAGE = (zipfile.BadZipFile, zipfile.LargeZipFile, RuntimeError, NotImplementedError, EOFError,
          OSError, ValueError, zlib.error, struct.error, OverflowError, UnicodeDecodeError)
try:
    import lzma
    DAMAGE = (*DAMAGE, lzma.LZMAError)
except ImportError:  # pragma: no cover - lzma is part of CPython's standard build
    pass


class ModelFileError(ValueError):
    """A model file that cannot be loaded; the message names the file and what is wrong."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def check_regular(path: str) -> None:
    """Refuse what is not a regular file (after symlinks), without opening it."""
    mode = os.stat(path).st_mode  # FileNotFoundError / PermissionError name the file
    if not stat.S_ISREG(mode):
        raise ModelFileError(f"Cannot load model file {path}: it is not a regular file (it is "
                             f"{_kind(mode)}).")


def open_regular(path: str):
    """The file opened for reading, if it is a regular file. Opened non-blocking and checked
    with fstat, so a FIFO swapped in after `check_regular` is refused too, not waited on."""
    check_regular(path)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise ModelFileError(f"Cannot load model file {path}: it is not a regular file (it "
                                 f"is {_kind(mode)}).")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class Archive:
    """One zip archive of npy members, opened for checked reading. Use as a context manager."""

    def __init__(self, path: "str | os.PathLike"):
        self.path = os.fspath(path)
        self.file = open_regular(self.path)
        try:
            if self.file.read(6) == b"\x93NUMPY":
                raise self.error("it is a single .npy array, not a tinynn model file.")
            self.file.seek(0)
            self.size = os.fstat(self.file.fileno()).st_size
            self.zip = zipfile.ZipFile(self.file)
            infos = self.zip.infolist()
        except ModelFileError:
            self.file.close()
            raise
        except DAMAGE as e:
            self.file.close()
            raise self.error(f"it is truncated or is not a tinynn model file "
                             f"({type(e).__name__}: {e}).") from e
        self.infos = {}
        for info in infos:
            if info.filename in self.infos:
                self.close()
                raise self.error(f"it holds '{info.filename}' twice: the file was edited.")
            self.infos[info.filename] = info
        self._npy: dict = {}

    def __enter__(self) -> "Archive":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.zip.close()
        self.file.close()

    def error(self, message: str) -> ModelFileError:
        return ModelFileError(f"Cannot load model file {self.path}: {message}")

    def _damaged(self, what: str, name: str, e: BaseException) -> ModelFileError:
        return self.error(f"{what}: '{name}' cannot be read ({type(e).__name__}: {e}): the file "
                          "is damaged or was edited.")

    def npy(self, name: str, what: str) -> "tuple[tuple, np.dtype]":
        """The shape and dtype `name`'s npy header declares, checked against the member's size
        in the zip directory (and that size against the compressed size), reading nothing but
        the npy header."""
        if name in self._npy:
            return self._npy[name][:2]
        info = self.infos[name]
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise self.error(f"{what}: '{name}' is stored uncompressed, yet its sizes differ "
                             f"({info.compress_size:,} and {info.file_size:,} bytes): the file "
                             "is damaged or was edited.")
        if info.file_size > MAX_RATIO * info.compress_size + RATIO_SLACK:
            raise self.error(f"{what}: '{name}' would inflate from {info.compress_size:,} to "
                             f"{info.file_size:,} bytes, more than {MAX_RATIO} times: refused "
                             "before inflating it.")
        if info.header_offset + info.compress_size > self.size:
            raise self.error(f"{what}: '{name}' extends past the end of the file: the file is "
                             "truncated.")
        try:
            with self.zip.open(info) as f:
                prefix = _read_exact(f, 8)
                if prefix[:6] != b"\x93NUMPY" or prefix[6:8] not in (b"\x01\x00", b"\x02\x00"):
                    raise ValueError("no npy header of version 1.0 or 2.0")
                size_bytes = _read_exact(f, 2 if prefix[6] == 1 else 4)
                length = int.from_bytes(size_bytes, "little")
                if length > NPY_HEADER_LIMIT:
                    raise ValueError(f"an npy header of {length:,} bytes")
                text = _read_exact(f, length)
            read_header = (np.lib.format.read_array_header_1_0 if prefix[6] == 1
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(_io.BytesIO(size_bytes + text))
        except DAMAGE as e:
            raise self._damaged(what, name, e) from e
        if dtype.hasobject:
            raise self.error(f"{what}: '{name}' holds Python objects (dtype=object). Loading it "
                             "would need pickle, which can run arbitrary code: refused.")
        offset = len(prefix) + len(size_bytes) + length
        nbytes = math.prod(shape) * dtype.itemsize
        if offset + nbytes != info.file_size:
            raise self.error(f"{what}: '{name}' declares {nbytes:,} bytes of data ({shape}, "
                             f"{dtype}) in its npy header, but the member holds "
                             f"{info.file_size - offset:,}: the file is truncated or was "
                             "edited.")
        self._npy[name] = (tuple(shape), dtype, fortran, offset, nbytes)
        return tuple(shape), dtype

    def _chunks(self, name: str, what: str):
        """The data bytes of `name`, in chunks, exactly as many as its npy header declares."""
        self.npy(name, what)
        offset, nbytes = self._npy[name][3:]
        try:
            with self.zip.open(self.infos[name]) as f:
                _read_exact(f, offset)
                left = nbytes
                while left:
                    chunk = f.read(min(CHUNK, left))
                    if not chunk:
                        raise EOFError(f"{nbytes - left:,} of {nbytes:,} bytes")
                    left -= len(chunk)
                    yield chunk
                if f.read(1):
                    raise ValueError(f"more than the {nbytes:,} bytes declared")
        except DAMAGE as e:
            raise self._damaged(what, name, e) from e

    def sha256(self, name: str, what: str) -> str:
        """The SHA-256 of `name`'s array in C order, as `tinynn.io` computes it when writing;
        streamed (no more than a chunk in memory) unless the data is in Fortran order."""
        self.npy(name, what)
        if self._npy[name][2]:
            return self.read(name, what)[1]
        digest = hashlib.sha256()
        for chunk in self._chunks(name, what):
            digest.update(chunk)
        return digest.hexdigest()

    def read(self, name: str, what: str) -> "tuple[np.ndarray, str]":
        """`name`'s array (a new, writable array of the declared shape and dtype) and the
        SHA-256 of its data in C order."""
        shape, dtype = self.npy(name, what)
        buffer, at, digest = bytearray(self._npy[name][4]), 0, hashlib.sha256()
        for chunk in self._chunks(name, what):
            buffer[at:at + len(chunk)] = chunk
            digest.update(chunk)
            at += len(chunk)
        a = np.frombuffer(buffer, dtype=dtype)
        if self._npy[name][2]:  # Fortran order: hashed in C order, as written
            a = np.ascontiguousarray(a.reshape(shape[::-1]).T)
            return a, hashlib.sha256(a.tobytes()).hexdigest()
        return a.reshape(shape), digest.hexdigest()


def _read_exact(f, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise EOFError(f"{len(data)} of {n} bytes")
    return data

