"""Layers. Each one is a `forward(X, training) -> Y` and a `backward(dY) -> dX` on one screen.

`forward` keeps what `backward` needs; `backward` writes `self.grads[name]` for every
`self.params[name]` and returns the gradient for the layer below. The arithmetic lives in pure
functions (`dense_forward`, `dense_backward`, ...) that tests compare and faster kernels replace.
"""

from collections import defaultdict

import numpy as np

from tinynn import activations, backend, config, initializers, utils

_NAME_COUNTS: defaultdict[str, int] = defaultdict(int)


def _unique_name(prefix: str) -> str:
    """Keras-style automatic names: dense, dense_1, dense_2, ..."""
    n = _NAME_COUNTS[prefix]
    _NAME_COUNTS[prefix] += 1
    return prefix if n == 0 else f"{prefix}_{n}"


# ----- pure functions -------------------------------------------------------------------------

def dense_forward(X: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Z = X @ W + b.   Shapes: X (N, n_in), W (n_in, units), b (units,) -> Z (N, units)."""
    return X @ W + b


def dense_backward(dZ: np.ndarray, X: np.ndarray, W: np.ndarray):
    """Chain rule through Z = X @ W + b: dX = dZ @ W.T, dW = X.T @ dZ, db = sum_rows(dZ)."""
    return dZ @ W.T, X.T @ dZ, dZ.sum(axis=0)


def dropout_mask(U: np.ndarray, rate: float, dtype) -> np.ndarray:
    """Inverted-dropout mask from uniforms U in [0, 1): 0 where U < rate (probability `rate`),
    else 1 / (1 - rate), so that E[mask] = 1."""
    return (U >= rate).astype(dtype) * np.asarray(1.0 / (1.0 - rate), dtype=dtype)


def dropout_forward(X: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Y = X * mask."""
    return X * mask


def dropout_backward(dY: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """dX = dY * mask (the mask is a constant of the forward pass)."""
    return dY * mask


# ----- layers ---------------------------------------------------------------------------------

class Layer:
    """Base layer: named parameters and their gradients, built lazily from the input shape.

    Args:
        name: layer name; defaults to the snake_case class name, numbered like Keras's.
        input_shape: optional shape of one sample, e.g. `(28, 28)`, as in
            `Flatten(input_shape=(28, 28))`. Equivalent to a leading `Input(shape)`.
    """

    def __init__(self, name: "str | None" = None, input_shape: "tuple | None" = None):
        prefix = "".join("_" + c.lower() if c.isupper() else c for c in type(self).__name__)
        self.name = name or _unique_name(prefix.lstrip("_"))
        self.input_shape = None if input_shape is None else tuple(input_shape)
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.built = False
        # Sequential sets this to False for its bottom layers: the gradient w.r.t. the data is
        # never used, and skipping it saves one of the largest matrix products of a step.
        self.compute_input_grad = True

    def build(self, input_shape: tuple) -> None:
        """Create the parameters for inputs shaped `(None, *input_shape[1:])`."""
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def forward(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dY: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, X, training: bool = False) -> np.ndarray:
        X = np.asarray(X)
        if not self.built:
            self.build((None, *X.shape[1:]))
        return self.forward(X, training=training)

    @property
    def weights(self) -> list[np.ndarray]:
        return list(self.params.values())

    def get_weights(self) -> list[np.ndarray]:
        return [p.copy() for p in self.params.values()]

    def set_weights(self, weights: list) -> None:
        if not isinstance(weights, (list, tuple)):
            raise TypeError(
                f"Layer '{self.name}' set_weights expected a list of arrays, "
                f"got {type(weights).__name__}."
            )
        if len(weights) != len(self.params):
            raise ValueError(
                f"Layer '{self.name}' expected {len(self.params)} weight arrays, "
                f"got {len(weights)}."
            )
        for (key, p), w in zip(self.params.items(), weights, strict=True):
            w = np.asarray(w)
            if w.dtype.kind not in "biuf":
                raise TypeError(
                    f"Layer '{self.name}' weight '{key}' must hold numbers, got dtype {w.dtype}."
                )
            if w.shape != p.shape:
                raise ValueError(
                    f"Layer '{self.name}' weight '{key}' has shape {p.shape}, got {w.shape}."
                )
            p[...] = w  # in place: the optimizer's state stays attached to the same array

    def count_params(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    def get_config(self) -> dict:
        """The constructor arguments that rebuild this layer (JSON-able), as in Keras."""
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


class InputLayer(Layer):
    """Declares the shape of one sample; `Input(shape)` makes one. It has no weights.

    Forward: Y = X.   Backward: dX = dY.
    """

    def __init__(self, shape: tuple, batch_size: "int | None" = None, name: "str | None" = None):
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        if not shape or any(not isinstance(d, (int, np.integer)) or d <= 0 for d in shape):
            raise ValueError(f"Input expected a shape of positive integers, got shape={shape!r}.")
        super().__init__(name=name or _unique_name("input_layer"), input_shape=shape)

    def forward(self, X, training=False):
        return X

    def backward(self, dY):
        return dY


def Input(shape: tuple, batch_size: "int | None" = None, name: "str | None" = None) -> InputLayer:
    """`keras.Input(shape)`: the first element of a Sequential, fixing the shape of one sample."""
    return InputLayer(shape, batch_size=batch_size, name=name)


class Flatten(Layer):
    """Y = X.reshape(N, -1): (N, 28, 28) -> (N, 784). Backward: dX = dY.reshape(X.shape)."""

    def compute_output_shape(self, input_shape):
        return (input_shape[0], int(np.prod(input_shape[1:])))

    def forward(self, X, training=False):
        self._shape = X.shape
        return X.reshape(X.shape[0], -1)

    def backward(self, dY):
        return dY.reshape(self._shape)


class Dense(Layer):
    """Fully connected layer: Z = X @ W + b, Y = activation(Z).

    Backward: dZ = dY * activation'(Z) (for softmax, the Jacobian product of
    `activations.softmax_backward`), then dW = X.T @ dZ, db = sum_rows(dZ), dX = dZ @ W.T.
    Each is the chain rule for Z_nj = sum_i X_ni W_ij + b_j: dZ_nj/dW_ij = X_ni, dZ_nj/db_j = 1,
    dZ_nj/dX_ni = W_ij, summed over the batch rows n (for dW, db) or the units j (for dX).

    Args:
        units: number of outputs, a positive integer.
        activation: "relu", "tanh", "sigmoid", "softmax", "linear" or None (linear).
            Defaults to None.
        use_bias: add the bias b. Defaults to True.
        kernel_initializer: Defaults to "glorot_uniform".
        bias_initializer: Defaults to "zeros".

    Shapes: X (N, n_in) -> Y (N, units); kernel W (n_in, units), bias b (units,).
    """

    def __init__(self, units: int, activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"Dense expected units to be a positive integer, got units={units!r}.")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def build(self, input_shape):
        n_in = input_shape[-1]
        if len(input_shape) != 2:
            raise ValueError(
                f"Dense layer '{self.name}' expects 2-D input (batch, features), got input shape "
                f"{input_shape}. Did you forget a Flatten layer?"
            )
        dtype = config.floatx()
        self.params["kernel"] = self.kernel_initializer((n_in, self.units), dtype)
        if self.use_bias:
            self.params["bias"] = self.bias_initializer((self.units,), dtype)
        # gradients are written in place into these buffers by backward
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}
        self._no_bias = np.zeros(self.units, dtype)  # b = 0 and a scratch db when use_bias=False
        self.built = True

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.name_of(self.kernel_initializer),
                "bias_initializer": initializers.name_of(self.bias_initializer)}

    @property
    def kernel(self) -> np.ndarray:
        return self.params["kernel"]

    @property
    def bias(self) -> "np.ndarray | None":
        return self.params.get("bias")

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def forward(self, X, training=False):
        W = self.params["kernel"]
        if X.ndim != 2 or X.shape[1] != W.shape[0]:
            hint = " Did you forget a Flatten layer?" if X.ndim > 2 else ""
            raise ValueError(
                f"Dense layer '{self.name}' expected input with {W.shape[0]} features, i.e. shape "
                f"(batch, {W.shape[0]}), got shape {X.shape}.{hint}"
            )
        self._X = X
        b = self.params.get("bias", self._no_bias)
        self._Z, self._A = backend.ops().dense_forward(X, W, b, self.activation)
        return self._A

    def backward(self, dY):
        """Writes grads["kernel"] and grads["bias"] in place; returns dX (None if not needed)."""
        return backend.ops().dense_backward(
            dY, self._X, self.params["kernel"], self._Z, self._A, self.activation,
            self.grads["kernel"], self.grads.get("bias", self._no_bias), self.compute_input_grad)

    def backward_from_logits(self, dZ):
        """Backward from the gradient w.r.t. Z, the pre-activation ("logits") of this layer."""
        return backend.ops().dense_backward_from_logits(
            dZ, self._X, self.params["kernel"], self.grads["kernel"],
            self.grads.get("bias", self._no_bias), self.compute_input_grad)


class Activation(Layer):
    """Y = activation(X), for an activation by name: `Activation("relu")`.

    Backward: dX = dY * activation'(X), elementwise (softmax: dX = Y * (dY - rowsum(dY * Y))).
    """

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self._act, self._act_backward = activations.forward_backward(self.activation)

    def get_config(self) -> dict:
        return {**super().get_config(), "activation": self.activation}

    def forward(self, X, training=False):
        self._Z, self._A = X, self._act(X)
        return self._A

    def backward(self, dY):
        return self._act_backward(dY, self._Z, self._A)

    def backward_from_logits(self, dZ):
        """The gradient w.r.t. this layer's input, the logits, is passed straight through."""
        return dZ


class ReLU(Activation):
    """Y = max(X, 0) as a layer (`keras.layers.ReLU()`). Backward: dX = dY * [X > 0]."""

    def __init__(self, **kwargs):
        super().__init__("relu", **kwargs)

    def get_config(self) -> dict:
        return {"name": self.name}


class Softmax(Activation):
    """Y = softmax(X) over the last axis, as a layer (`keras.layers.Softmax()`).

    Backward: dX_i = Y_i * (dY_i - sum_k dY_k Y_k), the Jacobian diag(Y) - Y Y^T times dY.
    """

    def __init__(self, axis: int = -1, **kwargs):
        if axis != -1:
            raise ValueError(f"Softmax supports only axis=-1, got axis={axis!r}.")
        super().__init__("softmax", **kwargs)

    def get_config(self) -> dict:
        return {"name": self.name, "axis": -1}


class Dropout(Layer):
    """Inverted dropout: while training Y = X * mask, mask_ij = 0 (prob. rate) or 1/(1 - rate).

    At inference (training=False) Y = X. Backward: dX = dY * mask.

    Args:
        rate: fraction of inputs to drop, in [0, 1).
        seed: seed of this layer's own generator. Defaults to a draw from the global generator
            (so `utils.set_random_seed` makes the masks reproducible).
    """

    def __init__(self, rate: float, seed: "int | None" = None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating)) \
                or not 0 <= rate < 1:
            raise ValueError(f"Dropout expected rate in [0, 1), got rate={rate!r}.")
        self.rate = float(rate)
        self.seed = None if seed is None else int(seed)
        self._rng = np.random.default_rng(utils.new_seed() if seed is None else seed)

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}

    def forward(self, X, training=False):
        if not training or self.rate == 0:
            self._mask = None
            return X
        U = self._rng.random(X.shape, dtype=np.float32)  # the same draws on every backend
        Y, self._mask = backend.ops().dropout_forward(X, U, self.rate)
        return Y

    def backward(self, dY):
        return dY if self._mask is None else backend.ops().dropout_backward(dY, self._mask)
