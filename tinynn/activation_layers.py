"""Activation layers with arguments, as in `keras.layers`: ReLU, LeakyReLU, ELU, PReLU.

Each applies an elementwise function of `tinynn.activations` (the formulas and their derivatives
live there); PReLU learns its negative slope. They are exported as `tinynn.layers.X`.
"""

import numpy as np

from tinynn import activations, initializers
from tinynn.layers import Layer

__all__ = ["ELU", "LeakyReLU", "PReLU", "ReLU"]


def _non_negative(layer: str, name: str, value, none_ok: bool = False):
    if value is None and none_ok:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not value >= 0:
        raise ValueError(f"{layer} expected {name} to be a number >= 0"
                         f"{' or None' if none_ok else ''}, got {name}={value!r}.")
    return float(value)


class _Elementwise(Layer):
    """Y = f(X) elementwise, for `f` in `tinynn.activations` with this layer's arguments."""

    def compute_output_shape(self, input_shape):
        return input_shape

    def _arguments(self) -> dict:
        return {}

    def forward(self, X, training=False):
        self._X = X
        self._Y = self._forward(X, **self._arguments())
        return self._Y

    def backward(self, dY):
        return self._backward(dY, self._X, self._Y, **self._arguments())


class ReLU(_Elementwise):
    """Y = max(X, 0) as a layer (`keras.layers.ReLU()`). Backward: dX = dY * [X > 0].

    With Keras's arguments (t = threshold, s = negative_slope): Y = min(X, max_value) for
    X > t, Y = -s (t - X) otherwise; dX = dY * ([t < X <= max_value] + s [X < t]). See
    `activations.relu` for the conventions at the kinks.

    Args:
        max_value: the largest output, a number >= 0, or None for no limit. Defaults to None.
        negative_slope: slope below the threshold, >= 0. Defaults to 0.0.
        threshold: where the function leaves its negative part, >= 0. Defaults to 0.0.
    """

    _forward, _backward = staticmethod(activations.relu), staticmethod(activations.relu_backward)

    def __init__(self, max_value: "float | None" = None, negative_slope: float = 0.0,
                 threshold: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = _non_negative("ReLU", "max_value", max_value, none_ok=True)
        self.negative_slope = _non_negative("ReLU", "negative_slope", negative_slope)
        self.threshold = _non_negative("ReLU", "threshold", threshold)

    def _arguments(self) -> dict:
        return {"negative_slope": self.negative_slope, "max_value": self.max_value,
                "threshold": self.threshold}

    def get_config(self) -> dict:
        return {**super().get_config(), **self._arguments()}


class LeakyReLU(_Elementwise):
    """Y = X for X > 0, negative_slope * X otherwise.

    Backward: dX = dY * (1 if X > 0 else negative_slope).

    Args:
        negative_slope: a number >= 0. Defaults to 0.3 (the layer's Keras default; the function
            `activations.leaky_relu`'s is 0.2). `alpha=`, its Keras 2 name, is accepted.
    """

    _forward = staticmethod(activations.leaky_relu)
    _backward = staticmethod(activations.leaky_relu_backward)

    def __init__(self, negative_slope: float = 0.3, **kwargs):
        if "alpha" in kwargs:  # Keras 2's name, still accepted by Keras 3
            negative_slope = kwargs.pop("alpha")
        super().__init__(**kwargs)
        self.negative_slope = _non_negative("LeakyReLU", "negative_slope", negative_slope)

    def _arguments(self) -> dict:
        return {"negative_slope": self.negative_slope}

    def get_config(self) -> dict:
        return {**super().get_config(), **self._arguments()}


class ELU(_Elementwise):
    """Y = X for X > 0, alpha (exp(X) - 1) otherwise.

    Backward: dX = dY * (1 if X > 0 else alpha exp(X)).

    Args:
        alpha: the scale of the negative part. Defaults to 1.0.
    """

    _forward, _backward = staticmethod(activations.elu), staticmethod(activations.elu_backward)

    def __init__(self, alpha: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def _arguments(self) -> dict:
        return {"alpha": self.alpha}

    def get_config(self) -> dict:
        return {**super().get_config(), **self._arguments()}


class PReLU(Layer):
    """Leaky ReLU with a learned slope per feature: Y = max(X, 0) + alpha * min(X, 0).

    Backward: dX = dY * ([X > 0] + alpha [X < 0]) (0 at exactly X = 0, as in Keras), and
    d alpha = sum over the batch (and over `shared_axes`) of dY * min(X, 0).

    Args:
        alpha_initializer: Defaults to "Zeros" (the layer starts as a ReLU).
        alpha_regularizer: not supported (must be None). Defaults to None.
        alpha_constraint: not supported (must be None). Defaults to None.
        shared_axes: axes (1 = the first after the batch) along which alpha is one number, e.g.
            [1, 2] for one alpha per channel of (batch, height, width, channels) inputs.
            Defaults to None: one alpha per input feature.

    Shapes: X (N, d_1, ..., d_k) -> Y the same; alpha (d_1, ..., d_k) with the shared axes 1.
    """

    def __init__(self, alpha_initializer="Zeros", alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        if alpha_regularizer is not None or alpha_constraint is not None:
            raise NotImplementedError(f"PReLU layer '{self.name}': alpha_regularizer and "
                                      "alpha_constraint are not supported yet; pass None.")
        self.alpha_initializer = initializers.get(alpha_initializer)
        if shared_axes is not None and not isinstance(shared_axes, (list, tuple)):
            shared_axes = [shared_axes]
        self.shared_axes = None if shared_axes is None else [int(a) for a in shared_axes]

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for axis in self.shared_axes or []:
            if not 1 <= axis <= len(shape):
                raise ValueError(f"PReLU layer '{self.name}': shared_axes must be between 1 "
                                 f"and {len(shape)} for input shape {input_shape}, got "
                                 f"{self.shared_axes}.")
            shape[axis - 1] = 1
        self.add_weight(tuple(shape), self.alpha_initializer, name="alpha")
        self.built = True

    def get_config(self) -> dict:
        return {**super().get_config(),
                "alpha_initializer": initializers.serialize(self.alpha_initializer),
                "alpha_regularizer": None, "alpha_constraint": None,
                "shared_axes": self.shared_axes}

    def compute_output_shape(self, input_shape):
        return input_shape

    def forward(self, X, training=False):
        self._X = X
        return np.maximum(X, 0) + self.params["alpha"] * np.minimum(X, 0)

    def backward(self, dY):
        X, alpha = self._X, self.params["alpha"]
        d_alpha = dY * np.minimum(X, 0)
        # alpha is broadcast over the batch axis and the shared axes: its gradient sums them
        summed = (0, *(self.shared_axes or []))
        self.grads["alpha"] = d_alpha.sum(axis=summed, keepdims=True)[0]
        return dY * ((X > 0) + alpha * (X < 0))
