"""Weight initialisers with Keras's names and formulas."""

import numpy as np

from tinynn import utils


def compute_fans(shape: tuple) -> tuple[int, int]:
    """(fan_in, fan_out) as Keras computes them: (1, 1) for a scalar, (n, n) for a vector,
    (rows, columns) for a matrix, scaled by the receptive field for more dimensions."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


def glorot_uniform(shape: tuple, dtype: "np.dtype | str" = "float32") -> np.ndarray:
    """Uniform(-l, l) with l = sqrt(6 / (fan_in + fan_out)), so Var = 2 / (fan_in + fan_out)."""
    fan_in, fan_out = compute_fans(shape)
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return utils.rng().uniform(-limit, limit, size=shape).astype(dtype)


def he_uniform(shape: tuple, dtype: "np.dtype | str" = "float32") -> np.ndarray:
    """Uniform(-l, l) with l = sqrt(6 / fan_in): keeps the variance of ReLU activations."""
    limit = np.sqrt(6.0 / compute_fans(shape)[0])
    return utils.rng().uniform(-limit, limit, size=shape).astype(dtype)


def zeros(shape: tuple[int, ...], dtype: "np.dtype | str" = "float32") -> np.ndarray:
    """All zeros (Keras's default bias)."""
    return np.zeros(shape, dtype=dtype)


def ones(shape: tuple[int, ...], dtype: "np.dtype | str" = "float32") -> np.ndarray:
    """All ones (e.g. a scale that starts as the identity)."""
    return np.ones(shape, dtype=dtype)


_INITIALIZERS = {"glorot_uniform": glorot_uniform, "he_uniform": he_uniform, "zeros": zeros,
                 "ones": ones}


def get(identifier: str):
    """Look up an initialiser by its Keras name."""
    if callable(identifier):
        return identifier
    if identifier not in _INITIALIZERS:
        raise ValueError(
            f"Unknown initializer {identifier!r}. Known initializers: "
            f"{', '.join(sorted(_INITIALIZERS))}."
        )
    return _INITIALIZERS[identifier]


def name_of(initializer) -> str:
    """The Keras name of one of this module's initialisers (a custom one cannot be saved)."""
    for name, fn in _INITIALIZERS.items():
        if fn is initializer:
            return name
    raise ValueError(
        f"Cannot name the custom initializer {initializer!r}: only "
        f"{', '.join(sorted(_INITIALIZERS))} can be saved in a model file."
    )
