"""Preprocessing layers: `Normalization`, Keras's way of standardizing the inputs inside the model,
and `Rescaling` (e.g. pixels 0..255 to 0..1).

Exported as `tinynn.layers.Normalization` and `tinynn.layers.Rescaling`, as in Keras.
"""

import numpy as np

from tinynn import config
from tinynn.layers import Layer
from tinynn.validation import as_array
from tinynn.variables import Variable

__all__ = ["Normalization", "Rescaling"]

EPSILON = 1e-7  # Keras's backend.epsilon(): the smallest standard deviation divided by


class Normalization(Layer):
    """Standardize features with statistics fixed before training: Y = (X - mean) / std.

    Forward, with std = max(sqrt(variance), 1e-7) (Keras's floor, so a constant feature gives
    0, not inf):

        Y = (X - mean) / std              (invert=True: Y = mean + X * std, which undoes it)

    mean and variance are constants during training: passed as `mean=` and `variance=`, or
    computed from data once by `adapt(data)`, the mean and the biased variance
    (1/n) sum (x - mean)^2 over every axis except `axis`, as Keras's `adapt` computes them for
    a NumPy array. They broadcast over the other axes.

    Backward: the statistics are constants, so dX = dY / std (invert: dX = dY * std). The layer
    has no trainable weights; adapted statistics are non-trainable weights `mean`, `variance`
    and `count` (Keras keeps `count` for old files; it stays 0), saved with the model.

    Args:
        axis: the axis (or axes) with one mean and variance per index; None for one scalar mean
            and variance. Defaults to -1 (one per feature).
        mean: the mean, broadcast to the kept axes; give `variance` with it. Defaults to None
            (call `adapt`).
        variance: the variance, the same shape as `mean`. Defaults to None.
        invert: apply the inverse, mean + X * std. Defaults to False.
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert: bool = False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            axis = ()
        axis = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
        if not all(isinstance(a, (int, np.integer)) for a in axis):
            raise ValueError(f"Normalization layer '{self.name}' expected axis to be an integer, "
                             f"a tuple of integers or None, got axis={axis!r}.")
        self.axis = tuple(int(a) for a in axis)
        if (mean is None) != (variance is None):  # Keras's rule and message
            raise ValueError("When setting values directly, both `mean` and `variance` must "
                             f"be set. Received: mean={mean} and variance={variance}")
        if mean is not None:
            if np.shape(mean) != np.shape(variance):
                raise ValueError("When setting values directly, `mean` and `variance` must "
                                 f"have the same shape. Received: mean shape {np.shape(mean)} "
                                 f"and variance shape {np.shape(variance)}")
            if np.ndim(mean) > len(self.axis):
                raise ValueError("The rank of `mean` must be less than or equal to the number "
                                 f"of axes ({len(self.axis)}). Received: mean shape "
                                 f"{np.shape(mean)} for axis {self.axis}")
        self.input_mean, self.input_variance = mean, variance
        self.invert = bool(invert)

    def build(self, input_shape: tuple) -> None:
        ndim = len(input_shape)
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ValueError(f"Normalization layer '{self.name}': all `axis` values must be in "
                             f"the range [-ndim, ndim). Received inputs with ndim={ndim}, "
                             f"while axis={self.axis}")
        self._keep = tuple(sorted(a % ndim for a in self.axis))
        if 0 in self._keep:
            raise ValueError(f"Normalization layer '{self.name}' cannot keep the batch axis 0 "
                             f"(axis={self.axis}): its statistics would depend on the batch.")
        self._reduce = tuple(d for d in range(ndim) if d not in self._keep)
        self._broadcast = tuple(input_shape[d] if d in self._keep else 1 for d in range(ndim))
        shape = tuple(input_shape[d] for d in self._keep)
        if self.input_mean is None:
            self.add_weight(shape, "zeros", trainable=False, name="mean")
            self.add_weight(shape, "ones", trainable=False, name="variance")
            self.add_weight((), "zeros", dtype="int64", trainable=False, name="count")
        else:
            self._fixed = [self._broadcast_to_kept(np.asarray(v, config.floatx()))
                           for v in (self.input_mean, self.input_variance)]
        self.built = True

    def _broadcast_to_kept(self, value: np.ndarray) -> np.ndarray:
        """A given mean or variance aligned with the kept axes from the right, as in Keras."""
        shape = [1] * len(self._broadcast)
        for i in range(1, value.ndim + 1):
            shape[self._keep[-i]] = value.shape[-i]
        try:
            return np.broadcast_to(value.reshape(shape), self._broadcast)
        except ValueError:
            raise ValueError(f"Normalization layer '{self.name}': mean and variance of shape "
                             f"{value.shape} do not broadcast to the kept axes of shape "
                             f"{tuple(self._broadcast[d] for d in self._keep)}.") from None

    @property
    def mean(self) -> "Variable | None":
        """The mean in the inputs' broadcast shape ((1, features) for axis=-1), as Keras's
        `normalizer.mean` after `build` or `adapt` (`normalizer.mean.numpy()`); None before
        the layer is built."""
        return self._statistic(0, "mean")

    @property
    def variance(self) -> "Variable | None":
        """The variance, shaped as `mean`."""
        return self._statistic(1, "variance")

    def _statistic(self, i: int, name: str) -> "Variable | None":
        if not self.built:
            return None
        return Variable.of(self._statistics()[i], self.name, name, trainable=False)

    def _statistics(self) -> "tuple[np.ndarray, np.ndarray]":
        if self.input_mean is not None:
            return self._fixed[0], self._fixed[1]
        return (self.params["mean"].reshape(self._broadcast),
                self.params["variance"].reshape(self._broadcast))

    def adapt(self, data) -> None:
        """Set mean and variance from `data` (a NumPy array, or an iterable of batches): over
        every axis except `axis`, the biased variance, as Keras's `adapt`."""
        if self.input_mean is not None:
            raise ValueError(f"Normalization layer '{self.name}' was given mean and variance; "
                             "adapt() computes them instead: create it without them.")
        batches = [as_array(data)] if hasattr(data, "shape") else [as_array(b) for b in data]
        if not batches or any(b.dtype.kind not in "biuf" for b in batches):
            raise ValueError(f"Normalization layer '{self.name}' adapt() expected numeric arrays "
                             "(or a non-empty list of batches).")
        if not self.built:
            self.build(batches[0].shape)
        kept = tuple(self._broadcast[d] for d in self._keep)
        for b in batches:
            if b.ndim != len(self._broadcast) or tuple(b.shape[d] for d in self._keep) != kept:
                raise ValueError(f"Normalization layer '{self.name}' was built for inputs "
                                 f"shaped {self._broadcast} on its kept axes, but adapt() got "
                                 f"data of shape {b.shape}.")
        if len(batches) == 1:
            mean = np.mean(batches[0], axis=self._reduce)
            var = np.var(batches[0], axis=self._reduce)
        else:  # Keras's running combination of batch means and variances
            mean, var, total = np.zeros(kept), np.zeros(kept), 0
            for b in batches:
                n = int(np.prod([b.shape[d] for d in self._reduce]))
                total += n
                w = n / total
                new_mean = mean * (1 - w) + np.mean(b, axis=self._reduce) * w
                var = ((var + (mean - new_mean) ** 2) * (1 - w)
                       + (np.var(b, axis=self._reduce) + (np.mean(b, axis=self._reduce)
                                                          - new_mean) ** 2) * w)
                mean = new_mean
        self.params["mean"] = np.reshape(mean, kept)
        self.params["variance"] = np.reshape(var, kept)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def _std(self, variance: np.ndarray) -> np.ndarray:
        return np.maximum(np.sqrt(variance), variance.dtype.type(EPSILON))

    def forward(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        mean, variance = self._statistics()
        self._std_used = std = self._std(variance.astype(X.dtype, copy=False))
        mean = mean.astype(X.dtype, copy=False)
        return mean + X * std if self.invert else (X - mean) / std

    def backward(self, dY: np.ndarray) -> np.ndarray:
        return dY * self._std_used if self.invert else dY / self._std_used

    def get_config(self) -> dict:
        def plain(value):
            return None if value is None else np.asarray(value).tolist()

        return {**super().get_config(), "axis": list(self.axis), "invert": self.invert,
                "mean": plain(self.input_mean), "variance": plain(self.input_variance)}


class Rescaling(Layer):
    """Y = X * scale + offset, computed in X's float type (integer pixels are cast to floatx
    first, as Keras casts them): `Rescaling(1 / 255)` maps 0..255 to 0..1,
    `Rescaling(1 / 127.5, offset=-1)` to -1..1. `scale` and `offset` may be arrays broadcast
    along the last axes (per channel).

    Backward: scale and offset are constants, so dX = dY * scale.

    Args:
        scale: the factor. Required.
        offset: added after scaling. Defaults to 0.0.
    """

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("scale", scale), ("offset", offset)):
            if np.asarray(value).dtype.kind not in "biuf":
                raise ValueError(f"Rescaling layer '{self.name}' expected a number (or an array "
                                 f"of numbers) for {name}, got {value!r}.")
        # kept as given (a float or a list), so the config is Keras's
        self.scale = scale.tolist() if isinstance(scale, np.ndarray) else scale
        self.offset = offset.tolist() if isinstance(offset, np.ndarray) else offset

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def forward(self, X, training=False):
        X = np.asarray(X)
        dtype = X.dtype if X.dtype.kind == "f" else config.floatx()
        return np.asarray(X, dtype) * self._constant(self.scale, dtype) + self._constant(
            self.offset, dtype)

    def backward(self, dY):
        return dY * self._constant(self.scale, dY.dtype)

    @staticmethod
    def _constant(value, dtype) -> np.ndarray:
        # As Keras on TensorFlow: a Python number (or list) becomes a float32 constant before
        # it is cast to the compute dtype, so in float64 1/255 is float32(1/255).
        return np.asarray(np.asarray(value, np.float32), dtype)
