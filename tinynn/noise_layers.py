"""Noise layers, as in `keras.layers`: GaussianNoise and GaussianDropout. Like Dropout they act
only while training (`training=True`) and are the identity at inference.

Each keeps its own generator `self._rng` (seeded from `seed`, or from tinynn's global generator),
as Dropout does: `utils.set_random_seed` makes the noise reproducible, a saved model stores the
generator's state, and `gradcheck` freezes the noise by re-seeding `_rng` before every pass.
The noise is drawn in float64 and rounded to the input's dtype, so float32 and float64 runs
see the same numbers. They are exported as `tinynn.layers.X`.
"""

import math

import numpy as np

from tinynn import utils
from tinynn.layers import Layer

__all__ = ["GaussianDropout", "GaussianNoise"]


def _in_unit_interval(layer: str, name: str, value, closed: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not (0 <= value and (value <= 1 if closed else value < 1)):
        raise ValueError(f"{layer} expected {name} in [0, 1{']' if closed else ')'}, got "
                         f"{name}={value!r}.")
    return float(value)


class _Noise(Layer):
    """Shared plumbing: the seed, the generator, identity at inference."""

    def __init__(self, seed: "int | None" = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = None if seed is None else int(seed)
        self._rng = np.random.default_rng(utils.new_seed() if seed is None else seed)

    def compute_output_shape(self, input_shape):
        return input_shape

    def _normal(self, X: np.ndarray, mean: float, stddev: float) -> np.ndarray:
        """Normal(mean, stddev**2) noise shaped like X: computed in float64, rounded once."""
        return (mean + stddev * self._rng.standard_normal(X.shape)).astype(X.dtype)


class GaussianNoise(_Noise):
    """Additive noise while training: Y = X + stddev * E, E standard normal; at inference Y = X.

    Backward: dX = dY (the noise does not depend on X).

    Args:
        stddev: standard deviation of the noise, in [0, 1] (Keras's bound).
        seed: seed of this layer's own generator. Defaults to a draw from the global generator.
    """

    def __init__(self, stddev: float, seed: "int | None" = None, **kwargs):
        super().__init__(seed, **kwargs)
        self.stddev = _in_unit_interval("GaussianNoise", "stddev", stddev, closed=True)

    def get_config(self) -> dict:
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}

    def forward(self, X, training=False):
        if not training or self.stddev == 0:
            return X
        return X + self._normal(X, 0.0, self.stddev)

    def backward(self, dY):
        return dY


class GaussianDropout(_Noise):
    """Multiplicative noise while training: Y = X * M, M ~ Normal(1, rate / (1 - rate)), the
    variance of inverted dropout's mask with the same rate; at inference Y = X.

    Backward: dX = dY * M (the same M).

    Args:
        rate: the dropout rate it imitates, in [0, 1): M has standard deviation
            sqrt(rate / (1 - rate)).
        seed: seed of this layer's own generator. Defaults to a draw from the global generator.
    """

    def __init__(self, rate: float, seed: "int | None" = None, **kwargs):
        super().__init__(seed, **kwargs)
        self.rate = _in_unit_interval("GaussianDropout", "rate", rate, closed=False)
        self._mask = None

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}

    def forward(self, X, training=False):
        if not training or self.rate == 0:
            self._mask = None
            return X
        self._mask = self._normal(X, 1.0, math.sqrt(self.rate / (1.0 - self.rate)))
        return X * self._mask

    def backward(self, dY):
        return dY if self._mask is None else dY * self._mask
