"""The word-index sequence processing `keras.datasets.imdb` and `reuters` share, step by step in
Keras 3's order and with Keras's types, so every output (values, dtypes, array structure) is
Keras's for the same file and arguments:

1. `shuffled`: one `RandomState(seed).shuffle` of `arange(n)` orders the arrays (imdb shuffles
   the training set, then the test set, with the same generator).
2. `mark`: `[start_char] + [w + index_from for w in x]` for every sequence.
3. `drop_long`: with `maxlen`, only the sequences shorter than `maxlen` are kept; the labels then
   become a Python list (of numpy scalars), as Keras's `remove_long_seq` returns them.
4. `limit_vocabulary`: words outside `[skip_top, num_words)` become `oov_char`, or are dropped.
5. `keras_object_array`: `np.array(xs, dtype="object")`, as Keras makes its x arrays.

`check_arguments` refuses, naming it, an argument that Keras would take to mean nothing sensible.
"""

import numbers

import numpy as np


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(name: str, value, optional: bool = False, minimum: int = 0) -> None:
    """Refuse `value` for the argument `name` unless it is an int >= `minimum` (or None when
    `optional`).

    Raises:
        ValueError: naming the argument and the value.
    """
    if value is None and optional:
        return
    if not _is_int(value) or value < minimum:
        kind = f"an integer >= {minimum}" + (" or None" if optional else "")
        raise ValueError(f"Invalid `{name}` argument: {value!r}. It must be {kind}.")


def check_split(value, include_one: bool) -> None:
    """Refuse a `test_split` outside [0, 1] ([0, 1) unless `include_one`)."""
    if (not isinstance(value, numbers.Real) or isinstance(value, bool)
            or not (0 <= value <= 1 if include_one else 0 <= value < 1)):
        interval = "between 0 and 1" + ("" if include_one else " (exclusive of 1)")
        raise ValueError(f"Invalid `test_split` argument: {value!r}. It must be {interval}.")


def check_seed(seed) -> None:
    """Refuse a `seed` that `np.random.RandomState` would not take (None draws a fresh one)."""
    if seed is not None and (not _is_int(seed) or not 0 <= seed < 2**32):
        raise ValueError(f"Invalid `seed` argument: {seed!r}. It must be an integer in "
                         "[0, 2**32) or None.")


def check_arguments(num_words, skip_top, maxlen, seed, start_char, oov_char,
                    index_from) -> None:
    """Refuse, naming it, a negative or non-integer argument of imdb/reuters `load_data`.

    `num_words=0` and `maxlen=0` are accepted and mean None, as in Keras (it tests them for
    truth); negative values (which Keras takes without a word, to drop every word or every
    sequence) are refused.
    """
    check_int("num_words", num_words, optional=True)
    check_int("skip_top", skip_top)
    check_int("maxlen", maxlen, optional=True)
    check_seed(seed)
    check_int("start_char", start_char, optional=True)
    check_int("oov_char", oov_char, optional=True)
    check_int("index_from", index_from)


def check_no_extra(function: str, kwargs: dict) -> None:
    """Refuse the keywords Keras's `imdb.load_data(**kwargs)` would silently ignore."""
    if kwargs:
        raise TypeError(f"{function}() got unexpected keyword argument(s): "
                        f"{', '.join(sorted(kwargs))}")


def shuffled(rng: np.random.RandomState, *arrays):
    """The arrays, all in the order of one `rng.shuffle(np.arange(len))` (fancy-indexed, so
    each is a new array)."""
    order = np.arange(len(arrays[0]))
    rng.shuffle(order)
    return tuple(a[order] for a in arrays)


def mark(sequences, start_char, index_from: int) -> list[list[int]]:
    """`[start_char] + [w + index_from for w in x]` for every x (no start when it is None).

    The shift keeps the indices below `index_from` free: by default 0 pads, 1 starts a
    sequence, 2 marks a word left out (out of vocabulary). Always new lists.
    """
    start = [] if start_char is None else [start_char]
    return [start + [w + index_from for w in x] for x in sequences]


def drop_long(maxlen, sequences: list, labels):
    """Keras's `remove_long_seq` when `maxlen` is truthy: the sequences shorter than `maxlen`,
    strictly (one of exactly `maxlen` indices is dropped too), and their labels as a Python
    list; the arguments unchanged when `maxlen` is None or 0."""
    if not maxlen:
        return sequences, labels
    kept = [(x, y) for x, y in zip(sequences, labels, strict=True) if len(x) < maxlen]
    return [x for x, _ in kept], [y for _, y in kept]


def vocabulary_end(sequences: list, num_words, argument_hint: str) -> int:
    """`num_words`, or when it is None or 0 the largest index present (which is therefore itself
    out of range, as in Keras: with the defaults the rarest word becomes `oov_char`).

    Raises:
        ValueError: when there is no index to take the largest of (Keras's own `max()` fails
            there with "max() arg is an empty sequence"); `argument_hint` says what to change.
    """
    if num_words:
        return num_words
    if not sequences or not all(sequences):
        raise ValueError("Without `num_words`, the largest word index present is the vocabulary "
                         "size, but " + ("no sequence is left" if not sequences else
                                         "a sequence is empty") + f": {argument_hint}.")
    return max(max(x) for x in sequences)


def limit_vocabulary(sequences: list, num_words: int, skip_top: int, oov_char) -> list:
    """Words outside `skip_top <= w < num_words` become `oov_char`, or are dropped when it is
    None (so the start character too, when `skip_top` is above it)."""
    if oov_char is None:
        return [[w for w in x if skip_top <= w < num_words] for x in sequences]
    return [[w if skip_top <= w < num_words else oov_char for w in x] for x in sequences]


def keras_object_array(sequences: list) -> np.ndarray:
    """`np.array(sequences, dtype="object")`, exactly as Keras builds x: a 1-D array of the lists
    when their lengths differ (always, with the real files), but a 2-D object array of ints
    when they all have the same length (shape (n, length), (n, 0) if all are empty)."""
    return np.array(sequences, dtype="object")
