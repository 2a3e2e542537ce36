"""IMDB: 50,000 movie reviews labelled positive (1) or negative (0), half for training and half
for testing (Maas et al., 2011), each a list of word indices, words ranked by frequency.

`load_data()` returns `((x_train, y_train), (x_test, y_test))` exactly like
`keras.datasets.imdb.load_data()`: x as object arrays of Python lists of ints (1-D; Keras's
`np.array(xs, dtype="object")`, so 2-D only if every review had the same length), y as integer
arrays, read from the same file Keras reads, `imdb.npz`; `get_word_index()` the word -> rank
dict of `imdb_word_index.json`.

The files are looked for in `$TINYNN_DATA_DIR`, then in Keras's cache `~/.keras/datasets`
(`$KERAS_HOME/datasets`), and downloaded there from Keras's address otherwise. Verified before
use: a size cap (the official sizes are not recorded here, the caps are generous upper bounds:
imdb.npz is about 17 MB, the word index about 1.6 MB), Keras's checksum (SHA-256, and MD5 for
the word index, as Keras gives them) on the bytes read, then the members: x_train and x_test
unpickled by `verified.RestrictedUnpickler` (numpy's object arrays only, nothing else runs) and
checked to be lists of non-negative ints, y_train and y_test read with pickling off.
"""

from pathlib import Path

import numpy as np

from tinynn.datasets import sequences, verified

NAME = "imdb.npz"
SHA256 = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"  # Keras's
SIZE_LIMIT = 32 << 20  # bytes: an upper bound, about twice the official file
UNZIPPED_LIMIT = 256 << 20  # bytes its members may declare in all: a generous upper bound
WORD_INDEX = "imdb_word_index.json"
WORD_INDEX_MD5 = "bfafd718b763782e994055a2d397834f"  # Keras's
WORD_INDEX_LIMIT = 4 << 20  # bytes: an upper bound, about 2.5 times the official file
MIRRORS = verified.MIRRORS
WHAT = "IMDB"
FIX = ("Download it once with Keras (`python -c \"import keras; keras.datasets.imdb.load_data(); "
       "keras.datasets.imdb.get_word_index()\"` puts the files in Keras's cache, where tinynn "
       f"looks), or put imdb.npz (SHA-256 {SHA256}) and imdb_word_index.json (MD5 "
       f"{WORD_INDEX_MD5}) in a folder and set TINYNN_DATA_DIR to it.")


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Read and verify `imdb.npz`: size, SHA-256, then x_train/x_test (sequences) and
    y_train/y_test (1-D integers, one per sequence)."""
    raw = verified.read_checked(path, SIZE_LIMIT, SHA256, "sha256", WHAT)

    def labels(archive, name):
        return verified.numeric_member(archive, name, "iu", 1)

    arrays = verified.read_npz(path, raw, {"x_train": verified.sequences_member,
                                           "y_train": labels,
                                           "x_test": verified.sequences_member,
                                           "y_test": labels}, WHAT, UNZIPPED_LIMIT)
    verified.same_length(path, arrays, [("x_train", "y_train"), ("x_test", "y_test")], WHAT)
    return arrays


def load_data(path="imdb.npz", num_words=None, skip_top=0, maxlen=None, seed=113,
              start_char=1, oov_char=2, index_from=3, **kwargs):
    """Load IMDB as `((x_train, y_train), (x_test, y_test))`, processed as Keras 3 does.

    In order: the training set is shuffled by `np.random.RandomState(seed)`, then the test set
    by the same generator; every review becomes `[start_char] + [w + index_from ...]`; with
    `maxlen`, reviews of `maxlen` indices or more (counting the start) are dropped from both
    sets; finally words outside `skip_top <= w < num_words` become `oov_char` (or are dropped).

    Args:
        path: the file's name in `$TINYNN_DATA_DIR` or Keras's cache (no folder, as in Keras 3).
            Defaults to "imdb.npz".
        num_words: keep the words of index below this (after the shift); None (or 0) keeps all
            but the largest index, as Keras does. Defaults to None.
        skip_top: words of index below this (after the shift, so the start character too)
            become `oov_char`. Defaults to 0.
        maxlen: drop the reviews with `maxlen` or more indices; None (or 0) keeps all.
            Defaults to None.
        seed: the shuffles' seed. Defaults to 113.
        start_char: the index put first in every review; None puts none. Defaults to 1.
        oov_char: the index that replaces a word left out; None drops the word. Defaults to 2.
        index_from: added to every word index. Defaults to 3.
        **kwargs: in Keras's signature, where they are silently ignored; here any is refused.

    Returns:
        x_train, x_test: object arrays of lists of ints (25,000 each with the defaults);
        y_train, y_test: integer labels, 1 for a positive review, 0 for a negative.

    Raises:
        ValueError: naming the argument, for a negative or non-integer one; when `maxlen`
            leaves no review in a set; for a file that is not the official one.
        TypeError: for a keyword argument Keras does not define.
        FileNotFoundError: listing every place tried, and how to get the file.
    """
    sequences.check_no_extra("load_data", kwargs)
    sequences.check_arguments(num_words, skip_top, maxlen, seed, start_char, oov_char,
                              index_from)
    arrays = verified.find(path, NAME, read_npz, SIZE_LIMIT, WHAT, FIX, MIRRORS)
    rng = np.random.RandomState(seed)
    x_train, y_train = sequences.shuffled(rng, arrays["x_train"], arrays["y_train"])
    x_test, y_test = sequences.shuffled(rng, arrays["x_test"], arrays["y_test"])
    x_train = sequences.mark(x_train, start_char, index_from)
    x_test = sequences.mark(x_test, start_char, index_from)
    if maxlen:
        x_train, y_train = sequences.drop_long(maxlen, x_train, y_train)
        x_test, y_test = sequences.drop_long(maxlen, x_test, y_test)
        if not x_train or not x_test:
            raise ValueError(f"After filtering for sequences shorter than maxlen={maxlen}, no "
                             "sequence was kept. Increase maxlen.")
    xs = x_train + x_test
    labels = np.concatenate([y_train, y_test])
    end = sequences.vocabulary_end(xs, num_words, "give `num_words`")
    xs = sequences.limit_vocabulary(xs, end, skip_top, oov_char)
    n = len(x_train)
    return ((sequences.keras_object_array(xs[:n]), labels[:n]),
            (sequences.keras_object_array(xs[n:]), labels[n:]))


def get_word_index(path="imdb_word_index.json") -> dict[str, int]:
    """The word -> index dict of the reviews (1 is the most frequent word; add `index_from`
    to match `load_data`'s sequences), from `imdb_word_index.json`, verified by Keras's MD5.

    Args:
        path: the file's name in `$TINYNN_DATA_DIR` or Keras's cache. Defaults to
            "imdb_word_index.json".
    """
    def read(file: Path) -> dict[str, int]:
        return verified.read_word_index(file, WORD_INDEX_LIMIT, WORD_INDEX_MD5, WHAT)

    return verified.find(path, WORD_INDEX, read, WORD_INDEX_LIMIT, WHAT, FIX, MIRRORS)
