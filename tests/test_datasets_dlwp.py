"""The imdb, reuters and boston_housing loaders on small generated files (the real ones cannot be
had offline): the official checksums are patched to the generated files', everything else is
the code that reads the real files. Keras's semantics are checked here on hand-made data (the
same files against Keras itself: parity/test_datasets_dlwp_keras.py); then the search order, the
download, the refusal of bad arguments and of hostile or damaged files, and "Deep Learning with
Python"'s chapter-4 IMDB program, run through tinynn."""

import hashlib
import io
import json
import os
import pickle
import tracemalloc
import zipfile

import numpy as np
import pytest

import tinynn as keras
from tinynn.datasets import boston_housing, imdb, reuters, verified


def object_array(lists):
    array = np.empty(len(lists), dtype=object)
    for i, x in enumerate(lists):
        array[i] = x
    return array


def npz_bytes(**members) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **members)
    return buffer.getvalue()


def npy_bytes(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def zip_bytes(members: dict) -> bytes:
    """An .npz from raw member bytes: name -> bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# A tiny IMDB: the word indices as in the real file (from 1), the labels int64.
TRAIN = [[1, 2, 3], [4, 5], [6], [7, 8, 9, 10], [2, 2]]
TEST = [[3, 1], [10, 11, 12], [5]]
Y_TRAIN, Y_TEST = np.array([0, 1, 1, 0, 1]), np.array([1, 0, 0])


def imdb_members(train=TRAIN, test=TEST):
    return dict(x_train=object_array(train), y_train=Y_TRAIN[:len(train)],
                x_test=object_array(test), y_test=Y_TEST[:len(test)])


def reuters_members(n=10):
    rng = np.random.default_rng(5)
    xs = [[int(w) for w in rng.integers(1, 30, rng.integers(1, 9))] for _ in range(n)]
    return dict(x=object_array(xs), y=rng.integers(0, 46, n))


def boston_members(n=20):
    rng = np.random.default_rng(6)
    return dict(x=rng.normal(size=(n, 13)), y=rng.uniform(5, 50, n))


MODULES = {"imdb": (imdb, imdb_members), "reuters": (reuters, reuters_members),
           "boston_housing": (boston_housing, boston_members)}


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """TINYNN_DATA_DIR and HOME point at empty folders, no KERAS_HOME, downloads fail fast."""
    monkeypatch.setenv("TINYNN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    for module, _ in MODULES.values():
        monkeypatch.setattr(module, "MIRRORS", ["http://127.0.0.1:9/"])
    (tmp_path / "data").mkdir()
    return tmp_path / "data"


def install(monkeypatch, folder, module, raw: bytes, name=None, attr="SHA256", algorithm="sha256"):
    """Write `raw` in `folder` under `name` (the module's official name) and make it official."""
    path = folder / (name or module.NAME)
    path.write_bytes(raw)
    monkeypatch.setattr(module, attr, hashlib.new(algorithm, raw).hexdigest())
    return path


# --- Keras's semantics, on hand-made data ------------------------------------------------------

def expected_order(n, seed=113, rng=None):
    order = np.arange(n)
    (rng or np.random.RandomState(seed)).shuffle(order)
    return order


def test_imdb_defaults_are_keras_s(isolated, monkeypatch):
    install(monkeypatch, isolated, imdb, npz_bytes(**imdb_members()))
    (x, y), (xt, yt) = imdb.load_data()
    rng = np.random.RandomState(113)  # train shuffled first, then test, by the same generator
    train, test = expected_order(5, rng=rng), expected_order(3, rng=rng)
    # start 1, indices + 3; without num_words the largest index (12 + 3) is itself out: 2
    mark = [[[1] + [w + 3 if w + 3 < 15 else 2 for w in s] for s in seqs]
            for seqs in (TRAIN, TEST)]
    assert x.dtype == object and x.shape == (5,) and xt.shape == (3,)
    assert list(x) == [mark[0][i] for i in train] and list(xt) == [mark[1][i] for i in test]
    assert y.tolist() == Y_TRAIN[train].tolist() and yt.tolist() == Y_TEST[test].tolist()
    assert y.dtype == Y_TRAIN.dtype and all(a.flags.writeable for a in (x, y, xt, yt))
    assert all(type(w) is int for s in x for w in s)


def test_imdb_arguments_act_in_keras_s_order(isolated, monkeypatch):
    install(monkeypatch, isolated, imdb, npz_bytes(**imdb_members()))
    kwargs = dict(seed=3, num_words=11, skip_top=2, start_char=1, oov_char=None, index_from=1)
    (x, _), (xt, _) = imdb.load_data(**kwargs)
    rng = np.random.RandomState(3)
    train, test = expected_order(5, rng=rng), expected_order(3, rng=rng)
    # the start char 1 is below skip_top: dropped, like every word outside [2, 11)
    want = [[[w + 1 for w in s if 2 <= w + 1 < 11] for s in seqs] for seqs in (TRAIN, TEST)]
    assert list(x) == [want[0][i] for i in train] and list(xt) == [want[1][i] for i in test]


def test_imdb_maxlen_is_strict_and_filters_both_sets(isolated, monkeypatch):
    install(monkeypatch, isolated, imdb, npz_bytes(**imdb_members()))
    (x, y), (xt, yt) = imdb.load_data(maxlen=3, num_words=100)  # start + at most 1 word kept
    assert sorted(len(s) for s in x) == [2] and len(y) == 1  # [6] only; [4, 5] has 3 indices
    assert [len(s) for s in xt] == [2] and yt.tolist() == [0]
    with pytest.raises(ValueError, match="maxlen=2, no sequence was kept"):
        imdb.load_data(maxlen=2)


def test_imdb_sequences_of_one_length_become_a_2d_object_array_as_in_keras(isolated,
                                                                         monkeypatch):
    install(monkeypatch, isolated, imdb, npz_bytes(**imdb_members(train=[[1, 2]] * 5,
                                                                  test=[[3, 4]] * 3)))
    (x, _), (xt, _) = imdb.load_data(num_words=100)
    assert x.shape == (5, 3) and xt.shape == (3, 3) and x.dtype == object
    assert x[0].tolist() == [1, 4, 5]


def test_reuters_split_after_shuffle_and_filters(isolated, monkeypatch):
    members = reuters_members()
    install(monkeypatch, isolated, reuters, npz_bytes(**members))
    order = expected_order(10, seed=4)
    (x, y), (xt, yt) = reuters.load_data(test_split=0.3, seed=4, num_words=25)
    want = [[1] + [w + 3 if w + 3 < 25 else 2 for w in members["x"][i]] for i in order]
    assert list(x) + list(xt) == want and len(x) == 7  # int(10 * 0.7)
    assert np.concatenate([y, yt]).tolist() == members["y"][order].tolist()
    (x, y), (xt, yt) = reuters.load_data(maxlen=1, num_words=5)  # nothing shorter than 1
    assert x.shape == xt.shape == (0,) and y.dtype == yt.dtype == np.float64  # as Keras's
    with pytest.raises(ValueError, match="no sequence is left: increase `maxlen`"):
        reuters.load_data(maxlen=1)
    assert reuters.get_label_names()[3] == "earn" and len(reuters.get_label_names()) == 46


def test_boston_housing_shuffle_and_split(isolated, monkeypatch):
    members = boston_members()
    install(monkeypatch, isolated, boston_housing, npz_bytes(**members))
    order = expected_order(20, seed=8)
    (x, y), (xt, yt) = boston_housing.load_data(test_split=0.25, seed=8)
    assert x.shape == (15, 13) and xt.shape == (5, 13) and x.dtype == y.dtype == np.float64
    assert np.array_equal(np.concatenate([x, xt]), members["x"][order])
    assert np.array_equal(np.concatenate([y, yt]), members["y"][order])
    assert all(a.flags.writeable and a.flags.owndata for a in (x, y, xt, yt))


@pytest.mark.parametrize("module,kwargs,match", [
    (imdb, {"num_words": -1}, "`num_words` argument: -1"),
    (imdb, {"num_words": 2.5}, "`num_words` argument: 2.5"),
    (imdb, {"skip_top": -3}, "`skip_top`"),
    (imdb, {"maxlen": -1}, "`maxlen`"),
    (imdb, {"seed": -1}, "`seed` argument: -1"),
    (imdb, {"start_char": "x"}, "`start_char`"),
    (imdb, {"oov_char": True}, "`oov_char`"),
    (imdb, {"index_from": None}, "`index_from`"),
    (reuters, {"test_split": 2}, "`test_split` argument: 2. It must be between 0 and 1"),
    (reuters, {"test_split": -0.1}, "`test_split`"),
    (reuters, {"num_words": -1}, "`num_words`"),
    (boston_housing, {"test_split": 1}, r"`test_split` argument: 1. .*exclusive of 1"),
    (boston_housing, {"seed": 2**32}, "`seed`"),
    (imdb, {"path": "../imdb.npz"}, "`path` must be a file name"),
    (reuters, {"path": ".."}, "`path` must be a file name"),
])
def test_a_bad_argument_is_named_before_any_file_is_read(isolated, module, kwargs, match):
    with pytest.raises(ValueError, match=match):
        module.load_data(**kwargs)  # no file exists: the argument is refused first


def test_keywords_keras_ignores_are_refused():
    with pytest.raises(TypeError, match="nb_words"):
        imdb.load_data(nb_words=100)


# --- where the files are looked for, and the download --------------------------------------------

@pytest.mark.parametrize("name", MODULES)
@pytest.mark.parametrize("keras_home", [False, True])
def test_keras_cache_is_searched(isolated, tmp_path, monkeypatch, name, keras_home):
    """A copy Keras downloaded (~/.keras/datasets, or $KERAS_HOME/datasets) is used offline."""
    module, members = MODULES[name]
    monkeypatch.delenv("TINYNN_DATA_DIR")
    home = tmp_path / "kh" if keras_home else tmp_path / "home" / ".keras"
    if keras_home:
        monkeypatch.setenv("KERAS_HOME", str(home))
    (home / "datasets").mkdir(parents=True)
    install(monkeypatch, home / "datasets", module, npz_bytes(**members()))
    assert verified.search_dirs() == [home / "datasets"]
    (x, _), (xt, _) = module.load_data()
    assert len(x) + len(xt) == sum(len(v) for k, v in members().items() if k[0] == "x")


def test_path_names_another_file_in_the_same_folders(isolated, monkeypatch):
    install(monkeypatch, isolated, imdb, npz_bytes(**imdb_members()), name="mine.npz")
    with pytest.raises(FileNotFoundError):
        imdb.load_data()
    (x, _), _ = imdb.load_data(path="mine.npz")
    assert len(x) == 5


@pytest.mark.parametrize("name", MODULES)
def test_missing_file_lists_every_place_and_the_fix(isolated, name):
    module, _ = MODULES[name]
    with pytest.raises(FileNotFoundError) as info:
        module.load_data()
    message = str(info.value)
    assert f"{isolated / module.NAME}: not found" in message
    assert str(isolated.parent / "home" / ".keras" / "datasets" / module.NAME) in message
    assert f"http://127.0.0.1:9/{module.NAME}" in message
    assert f"keras.datasets.{name}.load_data()" in message and "TINYNN_DATA_DIR" in message
    assert list(isolated.iterdir()) == []  # no partial download


def test_download_over_http_from_a_loopback_mirror(isolated, monkeypatch, mirror):
    """Keras's file name at the mirror, saved under `path`; a 404 and a corrupt copy are named
    and never renamed into place; the word index downloads the same way."""
    raw = npz_bytes(**imdb_members())
    monkeypatch.setattr(imdb, "SHA256", hashlib.sha256(raw).hexdigest())
    mirror.files["/good/imdb.npz"] = raw
    mirror.files["/bad/imdb.npz"] = raw[:-1] + bytes([raw[-1] ^ 1])
    monkeypatch.setattr(imdb, "MIRRORS", [mirror.url + p for p in ("missing/", "bad/")])
    with pytest.raises(FileNotFoundError) as info:
        imdb.load_data(path="saved.npz")
    assert f"{mirror.url}missing/imdb.npz: HTTP Error 404: Not Found" in str(info.value)
    assert f"{mirror.url}bad/imdb.npz: IMDB file" in str(info.value)
    assert list(isolated.iterdir()) == []
    monkeypatch.setattr(imdb, "MIRRORS", [mirror.url + p for p in ("bad/", "good/")])
    (x, _), _ = imdb.load_data(path="saved.npz")
    assert [p.name for p in isolated.iterdir()] == ["saved.npz"]
    assert (isolated / "saved.npz").read_bytes() == raw
    mirror.files.clear()  # now from the cache
    assert [list(s) for s in imdb.load_data(path="saved.npz")[0][0]] == [list(s) for s in x]
    words = json.dumps({"the": 1, "and": 2}).encode()
    monkeypatch.setattr(imdb, "WORD_INDEX_MD5", hashlib.md5(words).hexdigest())
    mirror.files["/good/imdb_word_index.json"] = words
    assert imdb.get_word_index() == {"the": 1, "and": 2}
    assert (isolated / "imdb_word_index.json").read_bytes() == words


def test_a_mirror_sending_more_than_the_cap_is_cut_off(isolated, monkeypatch, mirror):
    monkeypatch.setattr(boston_housing, "SIZE_LIMIT", 1000)
    mirror.files["/boston_housing.npz"] = bytes(1010)
    monkeypatch.setattr(boston_housing, "MIRRORS", [mirror.url])
    with pytest.raises(FileNotFoundError, match="is 1,010 bytes, more than the 1,000 allowed"):
        boston_housing.load_data()
    assert list(isolated.iterdir()) == []


# --- hostile and damaged files ----------------------------------------------------------------

class Gadget:
    """Pickles as a call of os.system: what a hostile imdb.npz would hold."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def object_npy(stream: bytes, shape=(1,)) -> bytes:
    """An .npy member: an object-array header, then `stream` as its pickle."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "|O", "fortran_order": False,
                                                  "shape": shape})
    return buffer.getvalue() + stream


def imdb_with(**replaced) -> bytes:
    """imdb.npz with some members' raw bytes replaced (name without .npy -> bytes)."""
    members = {k + ".npy": npy_bytes(v) for k, v in imdb_members().items()}
    members.update({k + ".npy": v for k, v in replaced.items()})
    return zip_bytes(members)


def test_a_pickle_gadget_is_refused_and_never_runs(isolated, monkeypatch, tmp_path):
    marker = tmp_path / "ran"
    stream = pickle.dumps(object_array([Gadget(marker)]), protocol=3)
    assert b"posix\nsystem" in stream or b"os\nsystem" in stream
    path = install(monkeypatch, isolated, imdb, imdb_with(x_train=object_npy(stream)))
    with pytest.raises(ValueError, match="refused the global (posix|os).system") as info:
        imdb.load_data()
    assert str(path) in str(info.value) and "Delete it and load again" in str(info.value)
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError, match="refused the global builtins.eval"):
        verified.unpickle_object_array(b"cbuiltins\neval\n(S'1'\ntR.")


def test_numpy_s_own_globals_cannot_allocate_beyond_the_stream(isolated, monkeypatch):
    """ndarray((10**12,)) called directly, and an array state declaring 10**12 elements that a
    one-element list does not fill, are both refused without allocating."""
    direct = b"cnumpy\nndarray\n(I1000000000000\n\x85tR."
    with pytest.raises(pickle.UnpicklingError):
        verified.unpickle_object_array(direct)
    real = pickle.dumps(object_array([[1]]), protocol=3)
    big = real.replace(b"K\x01\x85", b"J\x00\xca\x9a;\x85", 1)  # shape (1,) -> (10**9,)
    assert big != real
    tracemalloc.start()
    try:
        with pytest.raises(pickle.UnpicklingError, match="not a 1-D object array"):
            verified.unpickle_object_array(big)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000
    assert verified.unpickle_object_array(real)[0] == [1]


def test_a_too_large_file_is_refused_unread(tmp_path):
    path = tmp_path / "imdb.npz"
    with open(path, "wb") as f:
        f.truncate(2 << 30)  # sparse
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=f"IMDB file {path} is 2,147,483,648 bytes"):
            imdb.read_npz(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, f"peak {peak / 1e6:.2f} MB"


@pytest.mark.parametrize("name", MODULES)
def test_a_fifo_is_refused_without_blocking(tmp_path, name):
    module, _ = MODULES[name]
    path = tmp_path / module.NAME
    os.mkfifo(path)  # no writer: opening it for reading would block forever
    with pytest.raises(ValueError, match=f"file {path} is not a regular file"):
        module.read_npz(path)


@pytest.mark.parametrize("name", MODULES)
def test_a_changed_byte_fails_the_checksum_before_parsing(isolated, monkeypatch, name):
    module, members = MODULES[name]
    raw = npz_bytes(**members())
    install(monkeypatch, isolated, module, raw)
    (isolated / module.NAME).write_bytes(raw[:50] + bytes([raw[50] ^ 1]) + raw[51:])
    with pytest.raises(ValueError, match=f"{isolated / module.NAME} is corrupt: its SHA256"):
        module.load_data()


def member_bomb() -> bytes:
    """x_train.npy declaring 300 MiB (inflating from about 300 kB): over imdb's cap."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for key, value in imdb_members().items():
            if key != "x_train":
                archive.writestr(key + ".npy", npy_bytes(value))
        with archive.open("x_train.npy", "w", force_zip64=True) as member:
            for _ in range(300):
                member.write(bytes(1 << 20))
    return buffer.getvalue()


# Each damaged file is made 'official' (checksum patched to it), so the checks behind the
# checksum are what must catch it.
DAMAGED = [
    (imdb, lambda: imdb_with()[:-40], r"damaged \(BadZipFile"),  # truncated zip
    (imdb, lambda: b"PK\x03\x04 not a zip", r"damaged \(BadZipFile"),
    (imdb, lambda: zip_bytes({"x_train.npy": b"", "y_train.npy": b""}), "its members are"),
    (imdb, lambda: npz_bytes(**imdb_members(), extra=np.zeros(1)), "its members are"),
    (imdb, lambda: imdb_with(y_train=npy_bytes(np.zeros(5))), r"y_train.npy .*dtype float64"),
    (imdb, lambda: imdb_with(y_train=npy_bytes(np.zeros((5, 1), int))), r"shape \(5, 1\)"),
    (imdb, lambda: imdb_with(y_test=npy_bytes(np.array([object()] * 3))),  # never unpickled
     "y_test.npy .*dtype object"),
    (imdb, lambda: imdb_with(x_train=npy_bytes(np.zeros(5, int))), "x_train.npy .*dtype int64"),
    (imdb, lambda: imdb_with(y_train=npy_bytes(np.zeros(4, int))),
     "x_train has 5 entries and y_train 4"),
    (imdb, lambda: imdb_with(x_test=npy_bytes(object_array([(1, 2), [3], [4]]))), "not a list"),
    (imdb, lambda: imdb_with(x_test=npy_bytes(object_array([[1, -2], [3], [4]]))),
     "other than non-negative ints"),
    (imdb, lambda: imdb_with(x_test=npy_bytes(object_array([[1, 2.0], [3], [4]]))),
     "other than non-negative ints"),
    (imdb, lambda: imdb_with(x_test=object_npy(b"garbage", shape=(3,))),
     "x_test.npy is not a numpy object array"),
    (imdb, lambda: imdb_with(x_test=object_npy(pickle.dumps(object_array([[1]]), protocol=3),
                                               shape=(3,))), "holds 1 sequences"),
    (imdb, lambda: imdb_with(x_test=object_npy(b"", shape=(10**9,))),
     "declares 1,000,000,000 sequences"),
    (imdb, member_bomb, r"its members declare 314,5\d\d,\d\d\d bytes, more than the "
                        "268,435,456 allowed"),
    (boston_housing, lambda: npz_bytes(x=np.zeros((3, 13), int), y=np.zeros(3)),
     "x.npy .*dtype int64"),
    (boston_housing, lambda: npz_bytes(x=np.zeros(3), y=np.zeros(3)), r"shape \(3,\)"),
    (boston_housing, lambda: npz_bytes(x=np.zeros((3, 13)), y=np.zeros(2)),
     "x has 3 entries and y 2"),
    (reuters, lambda: npz_bytes(x=object_array([[1], [2, 3]]), y=np.array([1.0, 2.0])),
     "y.npy .*dtype float64"),
]


@pytest.mark.parametrize("module,make,match", DAMAGED)
def test_a_damaged_file_is_one_error_naming_it(isolated, monkeypatch, module, make, match):
    path = install(monkeypatch, isolated, module, make())
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=match) as info:
            module.load_data()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(path) in str(info.value) and "Delete it and load again" in str(info.value)
    assert peak < 40_000_000, f"peak {peak / 1e6:.1f} MB"


def test_a_header_declaring_a_huge_array_is_refused_before_allocation(isolated, monkeypatch):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (10**9, 13)})
    raw = zip_bytes({"x.npy": header.getvalue() + bytes(800),
                     "y.npy": npy_bytes(np.zeros(100))})
    path = install(monkeypatch, isolated, boston_housing, raw)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"x.npy declares 928 bytes, too few for shape "
                                             r"\(1000000000, 13\)") as info:
            boston_housing.load_data()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(path) in str(info.value) and peak < 1_000_000


@pytest.mark.parametrize("text,match", [
    (b"[1, 2]", "not a word index"),
    (b'{"the": -1}', "not a word index"),
    (b'{"the": 1.5}', "not a word index"),
    (b'{"the": 1', "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
])
def test_a_damaged_word_index_is_one_error_naming_it(isolated, monkeypatch, text, match):
    path = install(monkeypatch, isolated, reuters, text, name=reuters.WORD_INDEX,
                   attr="WORD_INDEX_MD5", algorithm="md5")
    with pytest.raises(ValueError, match=match) as info:
        reuters.get_word_index()
    assert str(path) in str(info.value)


def test_a_word_index_with_another_checksum_is_refused(isolated, monkeypatch):
    install(monkeypatch, isolated, imdb, b'{"the": 1}', name=imdb.WORD_INDEX,
            attr="WORD_INDEX_MD5", algorithm="md5")
    (isolated / imdb.WORD_INDEX).write_bytes(b'{"the": 2}')
    with pytest.raises(ValueError, match="corrupt: its MD5 does not match"):
        imdb.get_word_index()


def test_the_official_constants():
    """Keras 3.15's checksums (parity/test_datasets_dlwp_keras.py reads them from its source)."""
    assert imdb.SHA256 == "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
    assert imdb.WORD_INDEX_MD5 == "bfafd718b763782e994055a2d397834f"
    assert reuters.SHA256 == "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"
    assert reuters.WORD_INDEX_MD5 == "4d44cc38712099c9e383dc6e5f11a921"
    assert (boston_housing.SHA256
            == "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5")
    assert keras.datasets.imdb is imdb and keras.datasets.reuters is reuters
    assert keras.datasets.boston_housing is boston_housing


# --- "Deep Learning with Python", chapter 4: the IMDB program ---------------------------------

def learnable_imdb(n_train=200, n_test=100, vocab=200, seed=0) -> bytes:
    """Reviews whose words 1-49 mean "positive" and 50-99 "negative", the rest neutral."""
    rng = np.random.default_rng(seed)

    def reviews(n):
        labels = rng.integers(0, 2, n)
        xs = [[int(w) for w in np.where(rng.random(12) < 0.5,
                                        rng.integers(1, 50, 12) + 49 * (1 - y),
                                        rng.integers(100, vocab, 12))] for y in labels]
        return object_array(xs), labels

    (x, y), (xt, yt) = reviews(n_train), reviews(n_test)
    return npz_bytes(x_train=x, y_train=y, x_test=xt, y_test=yt)


def test_deep_learning_with_python_chapter_4_imdb_runs(isolated, monkeypatch):
    install(monkeypatch, isolated, imdb, learnable_imdb())
    keras.utils.set_random_seed(0)

    (train_data, train_labels), (test_data, test_labels) = keras.datasets.imdb.load_data(
        num_words=1000)
    assert max(max(sequence) for sequence in train_data) < 1000

    def vectorize_sequences(sequences, dimension=1000):
        results = np.zeros((len(sequences), dimension))
        for i, sequence in enumerate(sequences):
            for j in sequence:
                results[i, j] = 1.
        return results

    x_train = vectorize_sequences(train_data)
    x_test = vectorize_sequences(test_data)
    y_train = np.asarray(train_labels).astype("float32")
    y_test = np.asarray(test_labels).astype("float32")

    model = keras.Sequential([
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    x_val, partial_x_train = x_train[:50], x_train[50:]
    y_val, partial_y_train = y_train[:50], y_train[50:]
    history = model.fit(partial_x_train, partial_y_train, epochs=8, batch_size=32,
                        validation_data=(x_val, y_val), verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history.history["val_accuracy"]) == 8
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy > 0.9, accuracy  # the words decide the label: it must be learned
    assert model.predict(x_test[:3], verbose=0).shape == (3, 1)


def test_deep_learning_with_python_chapter_4_reuters_and_boston_run(isolated, monkeypatch):
    """The other two chapter-4 programs, condensed: Reuters (one-hot labels, Dense 64-64-46
    softmax) and Boston Housing (normalized by the training statistics, Dense 64-64-1, mse/mae)."""
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 46, 300)
    # lengths vary, as in the real file (all of one length, Keras's x would be a 2-D object
    # array, and the book's `x_train[i, sequence] = 1.` would fail in Keras as here)
    xs = [[int(w) for w in rng.integers(1, 200, rng.integers(4, 12))] + [int(300 + y)] * 3
          for y in labels]
    install(monkeypatch, isolated, reuters, npz_bytes(x=object_array(xs), y=labels))
    keras.utils.set_random_seed(0)
    (train_data, train_labels), (test_data, test_labels) = keras.datasets.reuters.load_data(
        num_words=400)
    x_train = np.zeros((len(train_data), 400))
    for i, sequence in enumerate(train_data):
        x_train[i, sequence] = 1.
    y_train = keras.utils.to_categorical(train_labels)
    assert x_train.shape == (240, 400) and y_train.shape[0] == 240
    model = keras.Sequential([keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(46, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=20, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] > 0.5  # chance is 1 in 46: the topic word is learned

    members = boston_members(n=200)
    members["y"] = members["x"] @ rng.normal(size=13) + 20
    install(monkeypatch, isolated, boston_housing, npz_bytes(**members))
    (train_data, train_targets), (test_data, test_targets) = (
        keras.datasets.boston_housing.load_data())
    mean, std = train_data.mean(axis=0), train_data.std(axis=0)
    train_data, test_data = (train_data - mean) / std, (test_data - mean) / std
    model = keras.Sequential([keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
    history = model.fit(train_data, train_targets, epochs=40, batch_size=16, verbose=0)
    test_mse, test_mae = model.evaluate(test_data, test_targets, verbose=0)
    assert history.history["mae"][-1] < history.history["mae"][0] / 2
    assert np.isfinite(test_mae) and test_mae < np.abs(test_targets - test_targets.mean()).mean()
