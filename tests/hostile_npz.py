"""Helpers for the hostile model-file tests (tests/test_hostile_files.py, test_hostile_saves.py):
a small trained model saved as `.npz`, ways to edit its members as an attacker would (npy headers,
raw zip entries, deflate streams that inflate 1000x, central-directory fields), and the check
every refused load must pass: one ValueError / TypeError / OSError naming the file, with a peak
memory (tracemalloc) under 2x a legitimate model of the declared architecture, or 100 MB."""

import io as _io
import json
import struct
import tracemalloc
import zipfile
import zlib

import numpy as np

import tinynn
from tinynn import layers
from tinynn.models import load_model

HIDDEN, N_IN = 4, 3
CLEAR = (ValueError, TypeError, OSError)


def make(seed=0, units=HIDDEN):
    tinynn.utils.set_random_seed(seed)
    model = tinynn.Sequential([tinynn.Input((N_IN,)), layers.Dense(units, name="hidden"),
                               layers.Dense(2, name="out")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(seed).normal(size=(16, N_IN)).astype(tinynn.config.floatx())
    model.fit(x, (x[:, 0] > 0).astype(int), epochs=1, batch_size=8, verbose=0)
    return model


def saved(folder):
    """The test model saved in `folder` as model.npz."""
    p = folder / "model.npz"
    make().save(p)
    return p


def members(path) -> dict:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def npy(a) -> bytes:
    buffer = _io.BytesIO()
    np.lib.format.write_array(buffer, np.asarray(a), allow_pickle=False)
    return buffer.getvalue()


def npy_head(shape, dtype="<f4") -> bytes:
    """The npy header (magic included) of an array of `shape` and `dtype`, without data."""
    buffer = _io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False,
                                                  "shape": tuple(shape)})
    return buffer.getvalue()


def npy_data(raw: bytes) -> bytes:
    """The data of an npy member, after its header."""
    buffer = _io.BytesIO(raw)
    np.lib.format.read_magic(buffer)
    np.lib.format.read_array_header_1_0(buffer)
    return raw[buffer.tell():]


def header_of(path) -> dict:
    with np.load(path) as z:
        return json.loads(z["header"].tobytes())


def write_members(path, files: dict) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)


def edit_header(path, edit=None, text=None) -> None:
    """Rewrite header.npy with `edit(header)` applied, or with the raw JSON `text`."""
    header = header_of(path)
    if edit is not None:
        edit(header)
    raw = (text(json.dumps(header)) if text else json.dumps(header)).encode()
    files = members(path)
    files["header.npy"] = npy(np.frombuffer(raw, np.uint8))
    write_members(path, files)


def peak_bytes(fn):
    """(the exception fn() raised or None, peak bytes allocated meanwhile, per tracemalloc)."""
    tracemalloc.start()
    try:
        fn()
        raised = None
    except Exception as e:  # returned to the test, which checks its type and message
        raised = e
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return raised, peak


_LEGITIMATE_PEAK = []


def legitimate_peak(tmp_path_factory) -> int:
    """The peak memory of loading the untouched test model (after a warm-up load)."""
    if not _LEGITIMATE_PEAK:
        path = tmp_path_factory.mktemp("legitimate") / "model.npz"
        make().save(path)
        load_model(path)
        _LEGITIMATE_PEAK.append(peak_bytes(lambda: load_model(path))[1])
    return _LEGITIMATE_PEAK[0]


def assert_refused(path, fn, match, legitimate_bytes=10**12):
    """fn() raises one clear error naming the file and saying `match`, with a peak memory
    under 2x what loading a legitimate model of the declared architecture takes (its weights'
    bytes, at least what loading the untouched small test model takes), or 100 MB."""
    error, peak = peak_bytes(fn)
    assert isinstance(error, CLEAR), f"{type(error).__name__}: {error}"
    assert str(path) in str(error), str(error)
    assert match in str(error), str(error)
    bound = min(2 * max(legitimate_bytes, _LEGITIMATE_PEAK[0]), 100e6)
    assert peak < bound, f"peak {peak / 1e6:.1f} MB, bound {bound / 1e6:.1f} MB"
    return error


def dense_bytes(n_in, units, itemsize=4):
    """The weights of the test model's architecture with `n_in` inputs and `units` hidden."""
    return itemsize * (n_in * units + units + units * 2 + 2)


def deflate_bomb(prefix: bytes, chunk: bytes, count: int) -> bytes:
    """A raw deflate stream of prefix + chunk * count, made in milliseconds: each block is
    full-flushed, so the compressed chunk can be repeated."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    return head + block * count + b"\x03\x00"  # an empty final block


def raw_zip(path, files: dict, bombs: dict) -> None:
    """A zip of `files` (stored) and `bombs` {name: (deflate stream, crc, inflated size)}."""
    out, directory = bytearray(), bytearray()
    entries = [(n, d, zlib.crc32(d), len(d), 0) for n, d in files.items()]
    entries += [(n, d, crc, size, 8) for n, (d, crc, size) in bombs.items()]
    for name, data, crc, size, method in entries:
        offset, raw_name = len(out), name.encode()
        fields = (20, 0, method, 0, 33, crc, len(data), size, len(raw_name))
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields, 0) + raw_name + data
        directory += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, *fields, 0, 0, 0, 0,
                                 0, offset) + raw_name
    out += directory + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries),
                                   len(directory), len(out), 0)
    path.write_bytes(bytes(out))


def zeros_crc(chunk: bytes, count: int, prefix: bytes = b"") -> int:
    crc = zlib.crc32(prefix)
    for _ in range(count):
        crc = zlib.crc32(chunk, crc)
    return crc


def patch_directory(raw: bytes, name: bytes, offset: int, fmt: str, value: int) -> bytes:
    """Overwrite a field of `name`'s central-directory record (offset from its signature)."""
    at = raw.index(b"PK\x01\x02", raw.index(b"PK\x01\x02"))
    while raw[at + 46:at + 46 + len(name)] != name:
        at = raw.index(b"PK\x01\x02", at + 4)
    return raw[:at + offset] + struct.pack(fmt, value) + raw[at + offset + struct.calcsize(fmt):]



def nested(depth: int) -> str:
    return "[" * depth + "]" * depth
