"""Normalization layers: `BatchNormalization` and `LayerNormalization`, with Keras 3's formulas.

Both compute Xhat = (X - mean) / sqrt(var + epsilon) and Y = gamma * Xhat + beta, with the
biased variance; they differ in what the mean and variance are taken over: the batch, per
feature (BatchNormalization), or the features, per sample (LayerNormalization). The arithmetic
is in `tinynn.ops` (`batchnorm_forward`, `batchnorm_backward`, `layernorm_forward`, ...);
batch normalization's training pass, on the hot path of a training step, also has a numba
kernel (`tinynn.kernels.batchnorm_train/batchnorm_backward`, measured there).

These classes are `tinynn.layers.BatchNormalization` and `tinynn.layers.LayerNormalization`
too (re-exported by `tinynn/__init__.py`), as `keras.layers.X`.
"""

import warnings

import numpy as np

from tinynn import backend, constraints, initializers, regularizers
from tinynn.layers import Layer, weight_property

__all__ = ["BatchNormalization", "LayerNormalization", "UnitNormalization"]


def _last_axis(layer: Layer, axis, input_shape: tuple) -> None:
    """tinynn normalizes along the features, the last axis; say so for any other."""
    ndim = len(input_shape)
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    if len(axes) != 1 or not isinstance(axes[0], (int, np.integer)) \
            or axes[0] not in (-1, ndim - 1):
        raise ValueError(f"{type(layer).__name__} layer '{layer.name}' supports only the last "
                         f"axis (axis=-1), got axis={axis!r} for input shape {input_shape}.")


class BatchNormalization(Layer):
    """Batch normalization (Ioffe & Szegedy, 2015): each feature j standardized over the batch.

    Training (`training=True` and the layer trainable): with the batch's mean_j and biased
    variance var_j = (1/N) sum_n (X_nj - mean_j)^2,

        inv_std = 1 / sqrt(var + epsilon),  Xhat = (X - mean) * inv_std,  Y = gamma * Xhat + beta,

    and the moving statistics follow, as in Keras: moving_mean = moving_mean * momentum +
    mean * (1 - momentum), the same for moving_variance with var (both factors in the weights'
    dtype). Inference (`training=False`, or `trainable=False`: Keras 3 runs a frozen
    BatchNormalization in inference mode): the same Y with moving_mean and moving_variance.
    Inputs with more than two axes are normalized per last-axis feature over all other axes.

    Backward (training): dgamma = sum_n dY * Xhat, dbeta = sum_n dY, and, since the mean and
    variance depend on every row, dX is not just dY * gamma * inv_std. With dXhat = gamma * dY,
    Xhat_n = (X_n - mean) * s, s = (var + eps)^(-1/2), ds/dvar = -s^3 / 2 and
    dvar/dX_m = 2 (X_m - mean) / N, so ds/dX_m = -s^2 Xhat_m / N and
        dXhat_n/dX_m = s (delta_nm - 1/N) - s Xhat_n Xhat_m / N.
    Summing dXhat_n * dXhat_n/dX_m over n:
        dX = (1/N) * gamma * inv_std * (N * dY - sum_n dY - Xhat * sum_n (dY * Xhat)).
    Inference: the statistics are constants, so dX = dY * gamma * inv_std.

    Args:
        axis: the feature axis; tinynn supports the last one only. Defaults to -1.
        momentum: of the moving averages. Defaults to 0.99.
        epsilon: added to the variance. Defaults to 1e-3.
        center: learn the offset beta. Defaults to True.
        scale: learn the scale gamma. Defaults to True.
        beta_initializer: Defaults to "zeros".
        gamma_initializer: Defaults to "ones".
        moving_mean_initializer: Defaults to "zeros".
        moving_variance_initializer: Defaults to "ones".
        beta_regularizer: a penalty on beta (see `tinynn.regularizers`). Defaults to None.
        gamma_regularizer: a penalty on gamma. Defaults to None.
        beta_constraint, gamma_constraint: projections after each optimizer step (see
            `tinynn.constraints`). Default to None.

    Shapes: X (N, C) -> Y (N, C); gamma, beta (trainable), moving_mean, moving_variance
    (non-trainable: saved and loaded, never touched by the optimizer) (C,).
    """

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)

    gamma = weight_property("gamma", "The scale, (C,).")
    beta = weight_property("beta", "The shift, (C,).")
    moving_mean = weight_property("moving_mean", "The inference mean, (C,); not trainable.")
    moving_variance = weight_property("moving_variance",
                                      "The inference variance, (C,); not trainable.")

    def build(self, input_shape):
        _last_axis(self, self.axis, input_shape)
        shape = (input_shape[-1],)
        if self.scale:  # Keras's order: gamma, beta, moving_mean, moving_variance
            self.add_weight(shape, self.gamma_initializer, regularizer=self.gamma_regularizer,
                            constraint=self.gamma_constraint,
                            name="gamma")
        if self.center:
            self.add_weight(shape, self.beta_initializer, regularizer=self.beta_regularizer,
                            constraint=self.beta_constraint,
                            name="beta")
        self.add_weight(shape, self.moving_mean_initializer, trainable=False, name="moving_mean")
        self.add_weight(shape, self.moving_variance_initializer, trainable=False,
                        name="moving_variance")
        self.built = True

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.name_of(self.beta_initializer),
                "gamma_initializer": initializers.name_of(self.gamma_initializer),
                "moving_mean_initializer": initializers.name_of(self.moving_mean_initializer),
                "moving_variance_initializer":
                    initializers.name_of(self.moving_variance_initializer),
                "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
                "beta_constraint": constraints.serialize(self.beta_constraint),
                "gamma_constraint": constraints.serialize(self.gamma_constraint)}

    def compute_output_shape(self, input_shape):
        return input_shape

    def forward(self, X, training=False):
        C = self.params["moving_mean"].shape[0]
        if X.shape[-1] != C:
            raise ValueError(f"BatchNormalization layer '{self.name}' expected {C} features on "
                             f"the last axis, got input shape {X.shape}.")
        self._shape = X.shape
        X = X.reshape(-1, C)
        gamma = self.params.get("gamma", X.dtype.type(1))  # scale=False: gamma = 1, a constant
        beta = self.params.get("beta", X.dtype.type(0))  # center=False: beta = 0
        ops = backend.ops()
        self._training = bool(training) and self.trainable  # frozen: inference, as in Keras 3
        if self._training:
            Y, self._Xhat, self._inv_std, mean, var = ops.batchnorm_train(X, gamma, beta,
                                                                          self.epsilon)
            self._update_moving_statistics(mean, var)
        else:
            Y, self._Xhat, self._inv_std = ops.batchnorm_forward(
                X, self.params["moving_mean"], self.params["moving_variance"], gamma, beta,
                self.epsilon)
        return Y.reshape(self._shape)

    def _update_moving_statistics(self, mean, var) -> None:
        """moving = moving * momentum + batch statistic * (1 - momentum), as Keras writes it,
        both factors rounded to the weights' dtype."""
        dtype = self.params["moving_mean"].dtype.type
        m, one_minus_m = dtype(self.momentum), dtype(1.0 - self.momentum)
        self.params["moving_mean"] = self.params["moving_mean"] * m + mean * one_minus_m
        self.params["moving_variance"] = self.params["moving_variance"] * m + var * one_minus_m

    def backward(self, dY):
        gamma = self.params.get("gamma", dY.dtype.type(1))
        ops = backend.ops()
        step = ops.batchnorm_backward if self._training else ops.batchnorm_inference_backward
        dX, dgamma, dbeta = step(dY.reshape(self._Xhat.shape), self._Xhat, gamma, self._inv_std)
        if "gamma" in self.grads:
            self.grads["gamma"] = dgamma
        if "beta" in self.grads:
            self.grads["beta"] = dbeta
        return dX.reshape(self._shape)


class LayerNormalization(Layer):
    """Layer normalization (Ba et al., 2016): each sample standardized over its own features.

    For each row, mean and biased variance over its C features; inv_std = 1 / sqrt(var + eps),
    Xhat = (X - mean) * inv_std, Y = gamma * Xhat + beta. The same in training and inference
    (no moving statistics). With `rms_scaling=True` (deprecated in Keras 3, which warns, and
    kept for its configs) Y = gamma * X * inv_std: no centring, no beta, var still the centred
    variance, exactly as Keras computes it.

    Backward: batch normalization's, transposed (the sums run over the features of a row):
    dXhat = dY * gamma,
        dX = (inv_std / C) * (C * dXhat - sum_j dXhat - Xhat * sum_j (dXhat * Xhat)),
    dgamma = sum_n dY * Xhat, dbeta = sum_n dY. With rms_scaling, G = dY * gamma and
    dX = inv_std * G - inv_std^3 * (X - mean) / C * sum_j (G * X).

    Args:
        axis: the axis normalized over; tinynn supports the last one only. Defaults to -1.
        epsilon: added to the variance. Defaults to 1e-3.
        center: learn the offset beta. Defaults to True.
        scale: learn the scale gamma. Defaults to True.
        rms_scaling: Keras's deprecated variant above. Defaults to False.
        beta_initializer: Defaults to "zeros".
        gamma_initializer: Defaults to "ones".
        beta_regularizer: a penalty on beta (see `tinynn.regularizers`). Defaults to None.
        gamma_regularizer: a penalty on gamma. Defaults to None.
        beta_constraint, gamma_constraint: projections after each optimizer step (see
            `tinynn.constraints`). Default to None.

    Shapes: X (N, C) (or (..., C)) -> Y of the same shape; gamma, beta (C,).
    """

    def __init__(self, axis=-1, epsilon: float = 1e-3, center: bool = True, scale: bool = True,
                 rms_scaling: bool = False, beta_initializer="zeros", gamma_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if rms_scaling:
            warnings.warn("LayerNormalization(rms_scaling=True) is deprecated in Keras 3: it "
                          "scales by the variance, not the root mean square. tinynn computes "
                          "it exactly as Keras does.", stacklevel=2)
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else axis
        self.epsilon = float(epsilon)
        self.center, self.scale, self.rms_scaling = bool(center), bool(scale), bool(rms_scaling)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)

    gamma = weight_property("gamma", "The scale, (C,).")
    beta = weight_property("beta", "The shift, (C,).")

    def build(self, input_shape):
        _last_axis(self, self.axis, input_shape)
        if isinstance(self.axis, int):
            self.axis = [self.axis]  # as Keras: a built layer's config lists its axes
        shape = (input_shape[-1],)
        if self.scale or self.rms_scaling:  # as Keras: rms_scaling always has gamma, no beta
            self.add_weight(shape, self.gamma_initializer, regularizer=self.gamma_regularizer,
                            constraint=self.gamma_constraint,
                            name="gamma")
        if self.center and not self.rms_scaling:
            self.add_weight(shape, self.beta_initializer, regularizer=self.beta_regularizer,
                            constraint=self.beta_constraint,
                            name="beta")
        self._C = input_shape[-1]
        self.built = True

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale, "rms_scaling": self.rms_scaling,
                "beta_initializer": initializers.name_of(self.beta_initializer),
                "gamma_initializer": initializers.name_of(self.gamma_initializer),
                "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
                "beta_constraint": constraints.serialize(self.beta_constraint),
                "gamma_constraint": constraints.serialize(self.gamma_constraint)}

    def compute_output_shape(self, input_shape):
        return input_shape

    def forward(self, X, training=False):
        if X.shape[-1] != self._C:
            raise ValueError(f"LayerNormalization layer '{self.name}' expected {self._C} "
                             f"features on the last axis, got input shape {X.shape}.")
        self._shape = X.shape
        X = X.reshape(-1, self._C)
        gamma = self.params.get("gamma", X.dtype.type(1))
        ops = backend.ops()
        if self.rms_scaling:
            self._X = X
            Y, self._inv_std = ops.rms_scaling_forward(X, gamma, self.epsilon)
        else:
            beta = self.params.get("beta", X.dtype.type(0))
            Y, self._Xhat, self._inv_std = ops.layernorm_forward(X, gamma, beta, self.epsilon)
        return Y.reshape(self._shape)

    def backward(self, dY):
        gamma = self.params.get("gamma", dY.dtype.type(1))
        dY = dY.reshape(-1, self._C)
        ops = backend.ops()
        if self.rms_scaling:
            dX, dgamma = ops.rms_scaling_backward(dY, self._X, gamma, self._inv_std)
        else:
            dX, dgamma, dbeta = ops.layernorm_backward(dY, self._Xhat, gamma, self._inv_std)
            if "beta" in self.grads:
                self.grads["beta"] = dbeta
        if "gamma" in self.grads:
            self.grads["gamma"] = dgamma
        return dX.reshape(self._shape)


class UnitNormalization(Layer):
    """Each sample scaled to unit L2 norm along `axis`: Y = X / |X| (no weights), as
    `keras.layers.UnitNormalization`, which computes X * min(1 / sqrt(sum X**2), 1e12).

    Backward: with r = 1 / |x| per sample, dX = r dY - r**3 (x . dY) x (the Jacobian of x / |x|
    is r (I - y y^T), y = r x); where the norm is below 1e-12 the factor is the constant 1e12,
    dX = 1e12 dY.

    Args:
        axis: the axis (or list of axes) to normalize over. Defaults to -1.
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            axis = list(axis)
        elif not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
            raise TypeError("Invalid value for `axis` argument: expected an int or a list/tuple "
                            f"of ints. Received: axis={axis}")
        self.axis = axis

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}

    def compute_output_shape(self, input_shape):
        return input_shape

    def _axes(self, X):
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        if any(not -X.ndim <= a < X.ndim or a % X.ndim == 0 for a in axes):
            raise ValueError(f"UnitNormalization layer '{self.name}': axis={self.axis} is not a "
                             f"feature axis of inputs with {X.ndim} dimensions.")
        return tuple(a % X.ndim for a in axes)

    def forward(self, X, training=False):
        axes = self._axes(X)
        with np.errstate(divide="ignore"):
            R = 1 / np.sqrt(np.sum(np.square(X), axis=axes, keepdims=True))  # inf at 0
        cap = X.dtype.type(1e12)
        self._X, self._by_norm, self._axes_used = X, R <= cap, axes
        self._R = np.minimum(R, cap)
        return X * self._R

    def backward(self, dY):
        X, R = self._X, self._R
        dot = np.sum(X * dY, axis=self._axes_used, keepdims=True)
        return np.where(self._by_norm, R * dY - R**3 * dot * X, R * dY).astype(dY.dtype,
                                                                             copy=False)
