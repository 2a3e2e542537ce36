"""Global settings, named as in `keras.config`: the default float type of new weights and inputs."""

import contextlib
from collections.abc import Iterator

import numpy as np

_FLOATX = "float32"


def floatx() -> str:
    """Return the default float type as a string, `"float32"` unless changed."""
    return _FLOATX


def set_floatx(value: str) -> None:
    """Set the default float type for weights built and inputs converted from now on.

    Args:
        value: `"float32"` (fast, the default) or `"float64"` (for gradient checks and exact
            trajectory comparisons).
    """
    global _FLOATX
    if value not in ("float32", "float64"):
        raise ValueError(f"set_floatx expected 'float32' or 'float64', got {value!r}.")
    _FLOATX = value


@contextlib.contextmanager
def floatx_scope(value: str) -> Iterator[None]:
    """`with floatx_scope("float64"): ...` builds in that float type, then restores the previous
    one (loaders build a saved model in the file's dtype this way)."""
    previous = floatx()
    set_floatx(value)
    try:
        yield
    finally:
        set_floatx(previous)


def epsilon() -> float:
    """The fuzz factor Keras uses in clipping and in optimizers: 1e-7."""
    return 1e-7


def dtype() -> np.dtype:
    """The NumPy dtype of `floatx()`."""
    return np.dtype(_FLOATX)
