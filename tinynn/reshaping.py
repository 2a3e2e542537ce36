"""Reshaping layers beyond Flatten: `Reshape`, as `keras.layers.Reshape`.

Exported as `tinynn.layers.Reshape`.
"""

import numpy as np

from tinynn.layers import Layer

__all__ = ["Reshape"]


def resolve_shape(sample_shape: tuple, target_shape: tuple, layer: str) -> tuple:
    """`target_shape` with its -1 (at most one) replaced by what makes the sizes match."""
    size = int(np.prod(sample_shape))
    known = int(np.prod([d for d in target_shape if d != -1]))
    if -1 in target_shape:
        if known == 0 or size % known:
            raise ValueError(f"Reshape layer '{layer}' cannot reshape samples of shape "
                             f"{sample_shape} ({size} values) to {target_shape}: {size} is not "
                             f"a multiple of {known}.")
        return tuple(size // known if d == -1 else d for d in target_shape)
    if known != size:
        raise ValueError(f"Reshape layer '{layer}' cannot reshape samples of shape "
                         f"{sample_shape} ({size} values) to {target_shape} ({known} values).")
    return tuple(target_shape)


class Reshape(Layer):
    """Y = X.reshape(N, *target_shape): each sample's values in the same (row-major) order,
    arranged in a new shape; one entry of target_shape may be -1, inferred from the size.

    Backward: the same values go back where they came from, dX = dY.reshape(X.shape).

    Args:
        target_shape: the shape of one output sample, e.g. `(28, 28)` or `(-1, 4)`.
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        try:
            target_shape = tuple(int(d) for d in target_shape)
        except (TypeError, ValueError):
            raise ValueError(f"Reshape layer '{self.name}' expected target_shape to be a tuple of "
                             f"integers, got {target_shape!r}.") from None
        if target_shape.count(-1) > 1:  # Keras's message
            raise ValueError("There must be at most one unknown dimension (-1) in "
                             f"`target_shape`. Received: target_shape={target_shape}.")
        if any(d == 0 or d < -1 for d in target_shape):
            raise ValueError(f"Reshape layer '{self.name}' expected positive dimensions (or one "
                             f"-1) in target_shape, got {target_shape}.")
        self.target_shape = target_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "target_shape": self.target_shape}

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *resolve_shape(tuple(input_shape[1:]), self.target_shape,
                                               self.name))

    def forward(self, X, training=False):
        self._shape = X.shape
        return X.reshape(X.shape[0], *resolve_shape(X.shape[1:], self.target_shape, self.name))

    def backward(self, dY):
        return dY.reshape(self._shape)
