"""Reuters: 11,228 newswires of 1987 in 46 topics (Reuters-21578), each a list of word indices,
words ranked by frequency; "Deep Learning with Python"'s multiclass example.

`load_data()` returns `((x_train, y_train), (x_test, y_test))` exactly like
`keras.datasets.reuters.load_data()`: x as object arrays of Python lists of ints (1-D; Keras's
`np.array(xs, dtype="object")`, so 2-D only if every newswire had the same length), y as integer
topic labels 0-45, read from the same file Keras reads, `reuters.npz` (one set, split here);
`get_word_index()` the word -> rank dict of `reuters_word_index.json`; `get_label_names()` the
46 topic names, in label order.

Found, downloaded and verified as `tinynn.datasets.imdb` does its files (size cap, Keras's
SHA-256 or MD5 on the bytes, then the members `x`, a pickled object array of sequences read by
the restricted unpickler and checked, and `y`, integers, read with pickling off). The caps are
generous upper bounds: reuters.npz is about 2.1 MB, the word index about 0.55 MB.
"""

from pathlib import Path

import numpy as np

from tinynn.datasets import sequences, verified

NAME = "reuters.npz"
SHA256 = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"  # Keras's
SIZE_LIMIT = 8 << 20  # bytes: an upper bound, about 4 times the official file
UNZIPPED_LIMIT = 64 << 20  # bytes its members may declare in all: a generous upper bound
WORD_INDEX = "reuters_word_index.json"
WORD_INDEX_MD5 = "4d44cc38712099c9e383dc6e5f11a921"  # Keras's
WORD_INDEX_LIMIT = 2 << 20  # bytes: an upper bound, about 4 times the official file
MIRRORS = verified.MIRRORS
WHAT = "Reuters"
FIX = ("Download it once with Keras (`python -c \"import keras; keras.datasets.reuters."
       "load_data(); keras.datasets.reuters.get_word_index()\"` puts the files in Keras's cache, "
       f"where tinynn looks), or put reuters.npz (SHA-256 {SHA256}) and reuters_word_index.json "
       f"(MD5 {WORD_INDEX_MD5}) in a folder and set TINYNN_DATA_DIR to it.")
LABEL_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply",
    "coffee", "sugar", "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas",
    "cpi", "money-fx", "interest", "gnp", "meal-feed", "alum", "oilseed", "gold", "tin",
    "strategic-metal", "livestock", "retail", "ipi", "iron-steel", "rubber", "heat", "jobs",
    "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog", "lead",
)


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Read and verify `reuters.npz`: size, SHA-256, then x (sequences) and y (1-D integers,
    one per sequence)."""
    raw = verified.read_checked(path, SIZE_LIMIT, SHA256, "sha256", WHAT)

    def labels(archive, name):
        return verified.numeric_member(archive, name, "iu", 1)

    arrays = verified.read_npz(path, raw, {"x": verified.sequences_member, "y": labels}, WHAT,
                               UNZIPPED_LIMIT)
    verified.same_length(path, arrays, [("x", "y")], WHAT)
    return arrays


def load_data(path="reuters.npz", num_words=None, skip_top=0, maxlen=None, test_split=0.2,
              seed=113, start_char=1, oov_char=2, index_from=3):
    """Load Reuters as `((x_train, y_train), (x_test, y_test))`, processed as Keras 3 does.

    In order: the newswires are shuffled by `np.random.RandomState(seed)`; every one becomes
    `[start_char] + [w + index_from ...]`; with `maxlen`, those of `maxlen` indices or more are
    dropped; words outside `skip_top <= w < num_words` become `oov_char` (or are dropped); the
    first `int(n * (1 - test_split))` of the n kept are the training set, the rest the test set.

    Args:
        path: the file's name in `$TINYNN_DATA_DIR` or Keras's cache (no folder, as in Keras 3).
            Defaults to "reuters.npz".
        num_words: keep the words of index below this (after the shift); None (or 0) keeps all
            but the largest index, as Keras does. Defaults to None.
        skip_top: words of index below this (after the shift, so the start character too)
            become `oov_char`. Defaults to 0.
        maxlen: drop the newswires with `maxlen` or more indices; None (or 0) keeps all.
            Defaults to None.
        test_split: the fraction kept for testing, in [0, 1] (Keras does not check it; a value
            outside would make its split meaningless, so it is refused here). Defaults to 0.2.
        seed: the shuffle's seed. Defaults to 113.
        start_char: the index put first in every newswire; None puts none. Defaults to 1.
        oov_char: the index that replaces a word left out; None drops the word. Defaults to 2.
        index_from: added to every word index. Defaults to 3.

    Returns:
        x_train, x_test: object arrays of lists of ints (8,982 and 2,246 with the defaults);
        y_train, y_test: integer topic labels, names in `get_label_names()`. As in Keras, a set
        that `maxlen` or `test_split` leaves empty has float64 labels of shape (0,).

    Raises:
        ValueError: naming the argument, for a bad one (`test_split` outside [0, 1], a negative
            or non-integer count); when `maxlen` leaves no newswire and `num_words` is None;
            for a file that is not the official one.
        FileNotFoundError: listing every place tried, and how to get the file.
    """
    sequences.check_split(test_split, include_one=True)
    sequences.check_arguments(num_words, skip_top, maxlen, seed, start_char, oov_char,
                              index_from)
    arrays = verified.find(path, NAME, read_npz, SIZE_LIMIT, WHAT, FIX, MIRRORS)
    xs, labels = sequences.shuffled(np.random.RandomState(seed), arrays["x"], arrays["y"])
    xs = sequences.mark(xs, start_char, index_from)
    xs, labels = sequences.drop_long(maxlen, xs, labels)  # labels: a list, with maxlen
    end = sequences.vocabulary_end(xs, num_words, "increase `maxlen` or give `num_words`")
    xs = sequences.limit_vocabulary(xs, end, skip_top, oov_char)
    n_train = int(len(xs) * (1 - test_split))
    return ((sequences.keras_object_array(xs[:n_train]), np.array(labels[:n_train])),
            (sequences.keras_object_array(xs[n_train:]), np.array(labels[n_train:])))


def get_word_index(path="reuters_word_index.json") -> dict[str, int]:
    """The word -> index dict of the newswires (1 is the most frequent word; add `index_from`
    to match `load_data`'s sequences), from `reuters_word_index.json`, verified by Keras's MD5.

    Args:
        path: the file's name in `$TINYNN_DATA_DIR` or Keras's cache. Defaults to
            "reuters_word_index.json".
    """
    def read(file: Path) -> dict[str, int]:
        return verified.read_word_index(file, WORD_INDEX_LIMIT, WORD_INDEX_MD5, WHAT)

    return verified.find(path, WORD_INDEX, read, WORD_INDEX_LIMIT, WHAT, FIX, MIRRORS)


def get_label_names() -> tuple[str, ...]:
    """The 46 topic names, `get_label_names()[y]` naming label y (Keras's tuple)."""
    return LABEL_NAMES
