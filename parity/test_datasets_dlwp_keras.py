"""tinynn.datasets.{imdb, reuters, boston_housing} against Keras 3's loaders on the same files.

The real files cannot be downloaded here, so small generated ones stand in, written where both
libraries look: `$KERAS_HOME/datasets` (Keras's `config._KERAS_DIR` is pointed at the same
folder, since Keras reads KERAS_HOME once, at import). tinynn's official checksums are patched
to the generated files'; Keras's real `get_file` runs (its cache lookup, its refusal of folders
in `fname`, its own checksum check) with only its `file_hash` swapped for the generated file's,
after the hash Keras's source passes has been recorded and checked to be tinynn's. Then every
output must be identical: types, dtypes, shapes, writability, and for the object arrays the
type and value of every element.
"""

import hashlib
import inspect
import io
import json

import numpy as np
import pytest

from tinynn.datasets import boston_housing, imdb, reuters


def object_array(lists):
    array = np.empty(len(lists), dtype=object)
    for i, x in enumerate(lists):
        array[i] = x
    return array


def ragged(rng, n, vocab, longest, shortest=0):
    return [[int(w) for w in rng.integers(1, vocab + 1, rng.integers(shortest, longest + 1))]
            for _ in range(n)]


def npz_bytes(**members) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **members)
    return buffer.getvalue()


def imdb_file(seed=0, n_train=14, n_test=11, shortest=0, longest=12, same_length=None):
    rng = np.random.default_rng(seed)
    if same_length is not None:
        shortest = longest = same_length
    return npz_bytes(x_train=object_array(ragged(rng, n_train, 30, longest, shortest)),
                     y_train=rng.integers(0, 2, n_train),
                     x_test=object_array(ragged(rng, n_test, 30, longest, shortest)),
                     y_test=rng.integers(0, 2, n_test))


def reuters_file(seed=1, n=23, shortest=0, longest=12, same_length=None):
    rng = np.random.default_rng(seed)
    if same_length is not None:
        shortest = longest = same_length
    return npz_bytes(x=object_array(ragged(rng, n, 40, longest, shortest)),
                     y=rng.integers(0, 46, n))


def boston_file(seed=2, n=31):
    rng = np.random.default_rng(seed)
    return npz_bytes(x=rng.normal(size=(n, 13)) * 10, y=rng.uniform(5, 50, n))


@pytest.fixture
def home(keras, tmp_path, monkeypatch):
    """One folder that is Keras's home for both libraries; its datasets/ folder, created."""
    from keras.src.backend import config

    folder = tmp_path / "keras_home"
    (folder / "datasets").mkdir(parents=True)
    monkeypatch.setattr(config, "_KERAS_DIR", str(folder))
    monkeypatch.setenv("KERAS_HOME", str(folder))
    monkeypatch.delenv("TINYNN_DATA_DIR", raising=False)
    for module in (imdb, reuters, boston_housing):
        monkeypatch.setattr(module, "MIRRORS", ["http://127.0.0.1:9/"])  # never downloads
    return folder / "datasets"


def install(monkeypatch, home, keras_module, ours, raw: bytes, name: str, hash_attr: str,
            algorithm: str) -> dict:
    """Write `raw` as `name`; make it official for tinynn (`ours.<hash_attr>`) and for Keras (its
    real get_file, with the file_hash its source passes swapped for this file's). Returns the
    arguments Keras's source passed to get_file, filled in on each call."""
    from keras.src.utils import file_utils

    (home / name).write_bytes(raw)
    digest = hashlib.new(algorithm, raw).hexdigest()
    monkeypatch.setattr(ours, hash_attr, digest)
    asked = {}

    def get_file(fname=None, origin=None, file_hash=None, **kwargs):
        asked.update(fname=fname, origin=origin, file_hash=file_hash)
        return file_utils.get_file(fname=fname, origin=origin, file_hash=digest, **kwargs)

    monkeypatch.setattr(keras_module, "get_file", get_file)
    return asked


def assert_identical(ours, theirs, where="result"):
    """The same nested tuples of arrays: types, dtypes, shapes, flags, every element."""
    if isinstance(theirs, tuple):
        assert type(ours) is tuple and len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_identical(a, b, f"{where}[{i}]")
        return
    assert type(ours) is type(theirs) is np.ndarray, where
    assert (ours.dtype, ours.shape) == (theirs.dtype, theirs.shape), where
    assert ours.flags.writeable == theirs.flags.writeable, where
    assert ours.flags.c_contiguous == theirs.flags.c_contiguous, where
    if theirs.dtype != object:
        assert np.array_equal(ours, theirs), where
        return
    for i, (a, b) in enumerate(zip(ours.ravel(), theirs.ravel(), strict=True)):
        assert type(a) is type(b) and a == b, f"{where} element {i}"
        if type(b) is list:
            assert [type(w) for w in a] == [type(w) for w in b], f"{where} element {i}"


def compare(ours_load, theirs_load, kwargs):
    """Both loaders with `kwargs`: identical results, or both a ValueError."""
    try:
        theirs = theirs_load(**kwargs)
    except ValueError:
        with pytest.raises(ValueError):
            ours_load(**kwargs)
        return "error"
    assert_identical(ours_load(**kwargs), theirs)
    return theirs


SEQUENCE_CASES = [
    {},
    {"num_words": 20},
    {"num_words": 0},
    {"skip_top": 5},
    {"num_words": 15, "skip_top": 4},
    {"maxlen": 8},
    {"maxlen": 1},  # exactly the start character: Keras drops every review (maxlen is strict)
    {"maxlen": 0},
    {"seed": 7},
    {"start_char": None},
    {"start_char": 9},
    {"oov_char": None},
    {"oov_char": None, "num_words": 12, "skip_top": 3},
    {"oov_char": 0},
    {"index_from": 0},
    {"start_char": None, "index_from": 0},
    {"start_char": None, "index_from": 0, "oov_char": None},
    {"num_words": 18, "skip_top": 2, "maxlen": 10, "seed": 5, "start_char": 3, "oov_char": 4,
     "index_from": 5},
]


@pytest.mark.parametrize("kwargs", SEQUENCE_CASES + [{"path": "mine.npz"}, {"path": ""}],
                         ids=str)
def test_imdb_load_data_equals_keras(keras, home, monkeypatch, kwargs):
    from keras.src.datasets import imdb as keras_imdb

    official = imdb.SHA256
    raw = imdb_file(shortest=1)  # no empty review: Keras's max() over all of them must work
    name = kwargs.get("path") or "imdb.npz"
    asked = install(monkeypatch, home, keras_imdb, imdb, raw, name, "SHA256", "sha256")
    result = compare(imdb.load_data, keras_imdb.load_data, kwargs)
    assert asked["file_hash"] == official and asked["origin"].endswith("/imdb.npz")
    if kwargs == {}:
        (x, y), (xt, yt) = result
        assert x.shape == (14,) and xt.shape == (11,) and x.dtype == object
    if kwargs == {"maxlen": 1}:
        assert result == "error"


@pytest.mark.parametrize("kwargs", [{}, {"maxlen": 5}, {"num_words": 9}], ids=str)
def test_imdb_reviews_of_one_length_make_keras_s_2d_object_array(keras, home, monkeypatch,
                                                                    kwargs):
    """`np.array(xs, dtype="object")` of lists all of one length is 2-D: so is ours."""
    from keras.src.datasets import imdb as keras_imdb

    install(monkeypatch, home, keras_imdb, imdb, imdb_file(same_length=3), "imdb.npz",
            "SHA256", "sha256")
    (x, _), _ = compare(imdb.load_data, keras_imdb.load_data, kwargs)
    assert x.shape == (14, 4) and type(x[0, 0]) is int


def test_imdb_empty_review_without_num_words_fails_in_both(keras, home, monkeypatch):
    from keras.src.datasets import imdb as keras_imdb

    install(monkeypatch, home, keras_imdb, imdb, imdb_file(shortest=0, seed=4), "imdb.npz",
            "SHA256", "sha256")
    kwargs = {"start_char": None}
    assert not all(len(x) for x in imdb.read_npz(home / "imdb.npz")["x_train"])
    with pytest.raises(ValueError, match="empty sequence"):  # Keras's max() of an empty list
        keras_imdb.load_data(**kwargs)
    with pytest.raises(ValueError, match="a sequence is empty: give `num_words`"):
        imdb.load_data(**kwargs)
    compare(imdb.load_data, keras_imdb.load_data, {**kwargs, "num_words": 25})


@pytest.mark.parametrize("kwargs", SEQUENCE_CASES + [
    {"test_split": 0.0}, {"test_split": 1.0}, {"test_split": 0.5}, {"test_split": 0.33},
    {"test_split": 0.0, "maxlen": 9}, {"test_split": 1.0, "maxlen": 9},  # float64 empty y
    {"maxlen": 1, "num_words": 10},  # nothing kept: Keras returns empty arrays
    {"path": "mine.npz"},
], ids=str)
def test_reuters_load_data_equals_keras(keras, home, monkeypatch, kwargs):
    from keras.src.datasets import reuters as keras_reuters

    official = reuters.SHA256
    name = kwargs.get("path") or "reuters.npz"
    asked = install(monkeypatch, home, keras_reuters, reuters, reuters_file(shortest=1), name,
                    "SHA256", "sha256")
    result = compare(reuters.load_data, keras_reuters.load_data, kwargs)
    assert asked["file_hash"] == official and asked["origin"].endswith("/reuters.npz")
    if kwargs == {}:
        (x, y), (xt, yt) = result
        assert (x.shape, xt.shape) == ((18,), (5,)) and y.dtype == np.int64
    if kwargs in ({"maxlen": 1, "num_words": 10}, {"test_split": 1.0, "maxlen": 9}):
        (x, y), _ = result
        assert x.shape == (0,) and y.dtype == np.float64  # Keras's np.array([])


def test_reuters_newswires_of_one_length_make_keras_s_2d_object_array(keras, home,
                                                                        monkeypatch):
    from keras.src.datasets import reuters as keras_reuters

    install(monkeypatch, home, keras_reuters, reuters, reuters_file(same_length=2),
            "reuters.npz", "SHA256", "sha256")
    (x, _), (xt, _) = compare(reuters.load_data, keras_reuters.load_data, {})
    assert x.shape == (18, 3) and xt.shape == (5, 3)


@pytest.mark.parametrize("kwargs", [{}, {"test_split": 0.0}, {"test_split": 0.5},
                                    {"test_split": 0.99}, {"seed": 0}, {"seed": 2**32 - 1},
                                    {"path": "bh.npz", "test_split": 0.3, "seed": 9}], ids=str)
def test_boston_housing_load_data_equals_keras(keras, home, monkeypatch, kwargs):
    from keras.src.datasets import boston_housing as keras_boston

    official = boston_housing.SHA256
    name = kwargs.get("path") or "boston_housing.npz"
    asked = install(monkeypatch, home, keras_boston, boston_housing, boston_file(), name,
                    "SHA256", "sha256")
    result = compare(boston_housing.load_data, keras_boston.load_data, kwargs)
    assert asked["file_hash"] == official and asked["origin"].endswith("/boston_housing.npz")
    if kwargs == {}:
        (x, y), (xt, yt) = result
        assert x.shape == (24, 13) and xt.shape == (7, 13) and x.dtype == np.float64


@pytest.mark.parametrize("module_name", ["imdb", "reuters"])
def test_get_word_index_equals_keras(keras, home, monkeypatch, module_name):
    import importlib

    keras_module = importlib.import_module(f"keras.src.datasets.{module_name}")
    ours = {"imdb": imdb, "reuters": reuters}[module_name]
    official = ours.WORD_INDEX_MD5
    words = {f"w{i}\u00e9": i + 1 for i in range(50)}
    raw = json.dumps(words, ensure_ascii=False).encode("utf-8")
    asked = install(monkeypatch, home, keras_module, ours, raw, ours.WORD_INDEX,
                    "WORD_INDEX_MD5", "md5")
    assert ours.get_word_index() == keras_module.get_word_index() == words
    assert asked["file_hash"] == official
    assert asked["origin"].endswith("/" + ours.WORD_INDEX)


def test_a_folder_in_path_is_refused_by_both(keras, home, monkeypatch):
    from keras.src.datasets import imdb as keras_imdb

    install(monkeypatch, home, keras_imdb, imdb, imdb_file(shortest=1), "imdb.npz", "SHA256",
            "sha256")
    path = str(home / "imdb.npz")
    with pytest.raises(ValueError, match="Paths are no longer accepted"):
        keras_imdb.load_data(path=path)
    with pytest.raises(ValueError, match="`path` must be a file name"):
        imdb.load_data(path=path)


def test_signatures_and_label_names_are_keras_s(keras):
    from keras.src.datasets import boston_housing as keras_boston
    from keras.src.datasets import imdb as keras_imdb
    from keras.src.datasets import reuters as keras_reuters

    pairs = [(imdb.load_data, keras_imdb.load_data), (imdb.get_word_index,
                                                      keras_imdb.get_word_index),
             (reuters.load_data, keras_reuters.load_data),
             (reuters.get_word_index, keras_reuters.get_word_index),
             (reuters.get_label_names, keras_reuters.get_label_names),
             (boston_housing.load_data, keras_boston.load_data)]
    for ours, theirs in pairs:
        assert ([(p.name, p.kind, p.default) for p in inspect.signature(ours).parameters.values()]
                == [(p.name, p.kind, p.default)
                    for p in inspect.signature(theirs).parameters.values()]), ours.__qualname__
    assert reuters.get_label_names() == keras_reuters.get_label_names()
    assert type(reuters.get_label_names()) is tuple and len(reuters.get_label_names()) == 46
    assert keras.datasets.imdb.load_data is keras_imdb.load_data  # the public names


def test_checksums_and_addresses_are_keras_s(keras):
    from keras.src.datasets import boston_housing as keras_boston
    from keras.src.datasets import imdb as keras_imdb
    from keras.src.datasets import reuters as keras_reuters

    for ours, theirs, names in [
            (imdb, keras_imdb, [imdb.SHA256, imdb.WORD_INDEX_MD5, "imdb.npz",
                                "imdb_word_index.json"]),
            (reuters, keras_reuters, [reuters.SHA256, reuters.WORD_INDEX_MD5, "reuters.npz",
                                      "reuters_word_index.json"]),
            (boston_housing, keras_boston, [boston_housing.SHA256, "boston_housing.npz"])]:
        source = inspect.getsource(theirs)
        for text in names:
            assert text in source, (ours.__name__, text)
        assert f'"{ours.MIRRORS[0]}"' in source
