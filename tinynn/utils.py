"""Randomness, as in `keras.utils`: one seeded generator that every layer and `fit` draws from.

`set_random_seed(s)` makes everything after it reproducible: weight initialisation, dropout masks
and the shuffling in `fit` all draw, in program order, from one `numpy.random.Generator`.
"""

import random

import numpy as np

_RNG = np.random.default_rng()


def set_random_seed(seed: int) -> None:
    """Seed tinynn's generator, plus Python's `random` and NumPy's legacy global generator.

    Args:
        seed: a non-negative integer.
    """
    global _RNG
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"set_random_seed expected a non-negative integer seed, got {seed!r}.")
    _RNG = np.random.default_rng(int(seed))
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)  # noqa: NPY002 (seeds users' legacy np.random calls)


def rng() -> np.random.Generator:
    """The generator tinynn draws from (replaced by each `set_random_seed`)."""
    return _RNG


def new_seed() -> int:
    """Draw a 63-bit seed for a component that keeps its own generator (e.g. a Dropout layer)."""
    return int(_RNG.integers(0, 2**63 - 1))


def to_categorical(x, num_classes: "int | None" = None) -> np.ndarray:
    """One-hot encode integer class labels, as `keras.utils.to_categorical`.

    Labels shaped (n,) or (n, 1) give a float64 array (n, num_classes) with a 1 in each label's
    column; any shape (..., 1) loses its last axis first. Labels are cast to integers as Keras
    casts them (1.7 becomes 1), and a negative label counts from the end (-1 is the last class)
    as NumPy indexing, and so Keras, does.

    Args:
        x: integer class labels in [0, num_classes).
        num_classes: Defaults to max(x) + 1.
    """
    x = np.array(x, dtype=np.int64)
    shape = x.shape[:-1] if x.ndim > 1 and x.shape[-1] == 1 else x.shape
    x = x.reshape(-1)
    if not num_classes:
        num_classes = int(np.max(x)) + 1
    if x.size and (x.max() >= num_classes or x.min() < -num_classes):
        bad = x[(x >= num_classes) | (x < -num_classes)][0]
        raise IndexError(f"to_categorical got label {bad}, outside [0, {num_classes}) for "
                         f"num_classes={num_classes}.")
    categorical = np.zeros((x.shape[0], num_classes))
    categorical[np.arange(x.shape[0]), x] = 1
    return categorical.reshape((*shape, num_classes))


def normalize(x, axis: int = -1, order=2) -> np.ndarray:
    """Each slice of x along `axis` divided by its norm, as `keras.utils.normalize`:
    x / ||x||_order, where a zero norm counts as 1 (an all-zero slice stays zero).

        utils.normalize(x_train, axis=1)   # each image row scaled to unit L2 norm

    Args:
        x: an array (or anything np.asarray takes); integers give float64, as in Keras.
        axis: the axis along which to normalize. Defaults to -1.
        order: the norm's order (np.linalg.norm's `ord`). Defaults to 2.

    Returns:
        A normalized copy of x.
    """
    x = np.asarray(x)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    # Keras writes `axis or -1`, which turns axis=0 into -1; 0 is kept here
    return x / np.expand_dims(norm, -1 if axis is None else axis)
