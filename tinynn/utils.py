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
