"""Layers. Each one is a `forward(X, training) -> Y` and a `backward(dY) -> dX` on one screen.

A layer declares its weights once, in `build`, with `self.add_weight(...)`, and its constructor
arguments once, in `get_config`. Everything else reads those declarations: the optimizer (the
model's `trainable_weights` and their gradients), saving and loading, interop with Keras,
`gradcheck` and the conformance suite (tests/test_conformance.py).

`forward` keeps what `backward` needs; `backward` writes `self.grads[name]` for every trainable
weight and returns the gradient for the layer below. `self.params` and `self.grads` are mappings
whose item assignment copies into the existing array, so `self.grads["kernel"] = X.T @ dZ` reaches
the optimizer. The arithmetic lives in `tinynn.ops` (the textbook functions) and, where a profile
asked for it, in its numba twin `tinynn.kernels`; `backend.ops()` is the one in use.
"""

import contextlib
import contextvars
import re
from collections.abc import Callable, Iterator, Mapping

import numpy as np

from tinynn import (
    activations,
    backend,
    config,
    constraints,
    initializers,
    naming,
    regularizers,
    utils,
)
from tinynn.variables import Variable

_unique_name = naming.unique_name  # Keras-style automatic names: dense, dense_1, ...

_WEIGHT_CHECK: contextvars.ContextVar = contextvars.ContextVar("tinynn_weight_check",
                                                              default=None)


@contextlib.contextmanager
def checking_weights(check: Callable):
    """Within the block, `add_weight` calls `check(layer, name, shape, dtype)` before it
    allocates anything. Loading a file uses it to compare every weight the architecture
    declares with the stored one before building it: an edited file cannot make it allocate
    more than the file holds."""
    token = _WEIGHT_CHECK.set(check)
    try:
        yield
    finally:
        _WEIGHT_CHECK.reset(token)


def snake_case(name: str) -> str:
    """Keras's default layer names: `"BatchNormalization"` -> `"batch_normalization"`,
    `"ReLU"` -> `"re_lu"`. An underscore goes before each capitalised word (a capital followed
    by lower-case letters) and between a lower-case letter and a capital."""
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


class WeightDict(Mapping):
    """A layer's weights (or their gradients) by name, e.g. `layer.params["kernel"]`.

    Reading gives the array itself. Assigning, `layer.grads["kernel"] = X.T @ dZ`, copies the
    value into that array (its shape must match), so the array the optimizer holds is the one
    that changes: rebinding it would leave the optimizer updating an array nobody reads. New
    entries are made only by `Layer.add_weight`.
    """

    def __init__(self, layer: "Layer", what: str):
        self._layer, self._what = layer, what
        self._arrays: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        return self._arrays[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._arrays)

    def __len__(self) -> int:
        return len(self._arrays)

    def __setitem__(self, name: str, value) -> None:
        target = self._arrays.get(name)
        if target is None:
            raise KeyError(
                f"Layer '{self._layer.name}' has no {self._what} named {name!r} (it has "
                f"{list(self._arrays)}). Weights are created in build() with "
                f"self.add_weight(shape, initializer, name={name!r})."
            )
        value = np.asarray(value)
        if value.dtype.kind not in "biuf":
            raise TypeError(f"Layer '{self._layer.name}' {self._what} '{name}' must hold numbers, "
                            f"got dtype {value.dtype}.")
        if value.shape != target.shape:
            raise ValueError(f"Layer '{self._layer.name}' {self._what} '{name}' has shape "
                             f"{target.shape}, got {value.shape}.")
        target[...] = value  # in place: the optimizer keeps the same array

    def _add(self, name: str, array: np.ndarray) -> None:
        self._arrays[name] = array

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k!r}: {a.shape}" for k, a in self._arrays.items())
        return f"<{self._what}s of {self._layer.name}: {{{shapes}}}>"


def weight_property(name: str, doc: str) -> property:
    """A layer attribute giving weight `name` as a Keras Variable (`layer.variable(name)`), or
    None before the layer is built or when it has no such weight (Dense(use_bias=False).bias)."""
    def get(layer: "Layer") -> "Variable | None":
        return layer.variable(name) if name in layer.params else None
    return property(get, doc=f"{doc} A Variable: `.assign(value)`, `.numpy()`, as in Keras.")


class Layer:
    """Base layer: named weights and their gradients, built lazily from the input shape.

    Subclass it as in Keras: create weights in `build(input_shape)` with `add_weight`, compute in
    `forward(X, training)`, and add `backward(dY)`, the chain rule, which writes
    `self.grads[name]` for each trainable weight and returns dX. List the constructor's arguments
    in `get_config` so the layer can be saved (register the class with
    `tinynn.saving.register_keras_serializable`).

    Args:
        name: layer name; defaults to the snake_case class name, numbered like Keras's.
        input_shape: optional shape of one sample, e.g. `(28, 28)`, as in
            `Flatten(input_shape=(28, 28))`. Equivalent to a leading `Input(shape)`.
        trainable: whether `fit` updates this layer's weights. Defaults to True.
        activity_regularizer: a penalty R on the layer's output Y ("l1", "l2" or a
            `tinynn.regularizers` object): R(Y) / N, N the batch size, is added to the loss, as
            in Keras 3. Defaults to None.
        input_dim: Keras's older spelling of `input_shape=(input_dim,)`, e.g.
            `Dense(1, input_dim=784)`; it wins over `input_shape`, as in Keras. Defaults to None.
    """

    def __init__(self, name: "str | None" = None, input_shape: "tuple | None" = None,
                 trainable: bool = True, activity_regularizer=None,
                 input_dim: "int | None" = None):
        self.name = name or _unique_name(snake_case(type(self).__name__))
        if input_dim is not None:
            input_shape = (input_dim,)
        self.input_shape = None if input_shape is None else tuple(input_shape)
        self.trainable = bool(trainable)
        self.params = WeightDict(self, "weight")
        self.grads = WeightDict(self, "gradient")
        self.regularizers: dict[str, regularizers.Regularizer] = {}  # by weight name
        self.constraints: dict[str, constraints.Constraint] = {}  # by weight name
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self._activity_loss = self._activity_Y = None
        self.built = False
        # Sequential sets this to False for its bottom layers: the gradient w.r.t. the data is
        # never used, and skipping it saves one of the largest matrix products of a step.
        self.compute_input_grad = True

    def add_weight(self, shape=None, initializer="glorot_uniform", dtype=None,
                   trainable: bool = True, regularizer=None, constraint=None,
                   name: "str | None" = None) -> np.ndarray:
        """Create a weight (and, if trainable, its gradient buffer); return the weight array.

        Keras 3's signature. The array returned is the one the optimizer updates in place for
        the layer's whole life, so keeping it (`self.w = self.add_weight(...)`) is safe.
        `add_weight("kernel", (n_in, units), "glorot_uniform")`, name first as in Keras 2, is
        accepted too.

        Args:
            shape: the weight's shape, e.g. `(n_in, units)`.
            initializer: a name ("glorot_uniform", "zeros", ...), an initializer object
                (`initializers.HeNormal(seed=1)`) or a function `(shape, dtype) -> array`.
                Defaults to "glorot_uniform"; None means "glorot_uniform" for a float weight and
                "zeros" for any other, as in Keras 3.
            dtype: Defaults to `tinynn.config.floatx()`.
            trainable: False for state the optimizer must not touch (e.g. moving statistics);
                it is still saved and loaded. Defaults to True.
            regularizer: a penalty R on this weight ("l1", "l2" or a `tinynn.regularizers`
                object): while the weight is trainable, R(W) is in `losses` (added to the loss
                `fit` minimises) and dR/dW is added to its gradient. Defaults to None.
            constraint: a projection applied to the weight after every optimizer step
                (`tinynn.constraints.MaxNorm(3)`, "non_neg", ...), as Keras's optimizer
                applies it. Defaults to None.
            name: unique within the layer. Defaults to "variable", "variable_1", ...
        """
        if isinstance(shape, str):  # Keras 2 order: add_weight(name, shape, initializer, ...)
            name, shape, initializer = shape, initializer, (dtype or "glorot_uniform")
            dtype = None
        regularizer, constraint = regularizers.get(regularizer), constraints.get(constraint)
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape or ())
        if any(not isinstance(d, (int, np.integer)) or d < 0 for d in shape):
            raise ValueError(f"Layer '{self.name}' add_weight expected a shape of non-negative "
                             f"integers, got shape={shape!r}.")
        if name is None:
            n = len(self.params)
            name = "variable" if n == 0 else f"variable_{n}"
        if name in self.params:
            raise ValueError(f"Layer '{self.name}' already has a weight named {name!r}.")
        dtype = np.dtype(dtype or config.floatx())
        check = _WEIGHT_CHECK.get()
        if check is not None:
            check(self, name, shape, dtype)
        if initializer is None:  # Keras 3's default
            initializer = "glorot_uniform" if dtype.kind == "f" else "zeros"
        value = np.asarray(initializers.get(initializer)(shape, dtype))
        if value.shape != shape:
            raise ValueError(f"Layer '{self.name}': initializer {initializer!r} returned shape "
                             f"{value.shape} for weight {name!r} of shape {shape}.")
        array = np.array(value, dtype=dtype, order="C")  # its own copy; a scalar stays 0-d
        self.params._add(name, array)
        if trainable:
            self.grads._add(name, np.zeros_like(array))
        if regularizer is not None:
            self.regularizers[name] = regularizer
        if constraint is not None:
            self.constraints[name] = constraint
        return array

    def apply_constraints(self) -> None:
        """Project each constrained trainable weight, W = constraint(W), in place: what the
        optimizer step is followed by (Keras 3 does it inside `optimizer.apply`)."""
        if self.trainable:
            for name, constraint in self.constraints.items():
                if name in self.grads:
                    self.params[name] = constraint(self.params[name])

    def variable(self, name: str) -> Variable:
        """Weight `name` as Keras programs hold it: a view of the array with Keras's
        `assign(value)` and `numpy()` (`layer.bias.assign([b0])` writes into the array the
        optimizer updates). Dense's `kernel` and `bias` and the normalization layers' `gamma`,
        `beta`, `moving_mean`, `moving_variance` return it."""
        return Variable.of(self.params[name], self.name, name,
                           self.trainable and name in self.grads)

    def build(self, input_shape: tuple) -> None:
        """Create the weights for inputs shaped `(None, *input_shape[1:])`."""
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """By default, found as Keras finds it: by running forward, here on one sample of zeros.
        Layers that know it say it without computing."""
        Y = self.forward(np.zeros((1, *input_shape[1:]), config.floatx()), training=False)
        return (input_shape[0], *np.shape(Y)[1:])

    def forward(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must define forward(X, training).")

    def backward(self, dY: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must define backward(dY): the chain "
                                  "rule, writing self.grads[name] and returning dX.")

    def __call__(self, X, training: bool = False) -> np.ndarray:
        if isinstance(X, (KerasTensor, InputLayer)) or _holds_symbolic(X):
            return KerasTensor.of(self, X)  # Keras's functional API: y = Dense(8)(inputs)
        X = np.asarray(X)
        if not self.built:
            self.build((None, *X.shape[1:]))
            self.built = True
        return self._record_activity(self.forward(X, training=training))

    # ----- penalties (regularizers): values for the loss, gradients for the optimizer ---------

    @property
    def losses(self) -> list:
        """The current penalties, as Keras's `layer.losses`: the activity penalty of the last
        forward pass, then R(W) of each regularized trainable weight, in creation order."""
        return [*self._activity_losses(), *self._weight_penalties()]

    def _activity_losses(self) -> list:
        return [] if self._activity_loss is None else [self._activity_loss]

    def _weight_penalties(self) -> list:
        if not self.trainable:  # as in Keras, only trainable weights are penalised
            return []
        return [reg(self.params[k]) for k, reg in self.regularizers.items() if k in self.grads]

    def _add_penalty_gradients(self) -> None:
        """grads[k] += dR/dW for each regularized trainable weight, after `backward`."""
        if self.trainable:
            for k, reg in self.regularizers.items():
                if k in self.grads:
                    self.grads[k] += reg.gradient(self.params[k])

    def _record_activity(self, Y: np.ndarray) -> np.ndarray:
        """Keep this output's activity penalty R(Y) / N (Keras divides by the batch size N, so
        its weight against the loss does not depend on N); return Y."""
        if self.activity_regularizer is not None:
            self._activity_Y = Y
            self._activity_loss = self.activity_regularizer(Y) / Y.dtype.type(len(Y))
        return Y

    def _activity_gradient(self) -> "np.ndarray | None":
        """d(R(Y) / N)/dY for the last output Y; None without an activity regularizer."""
        if self.activity_regularizer is None or self._activity_Y is None:
            return None
        Y = self._activity_Y
        return self.activity_regularizer.gradient(Y) / Y.dtype.type(len(Y))

    def _with_activity_gradient(self, dY: np.ndarray) -> np.ndarray:
        """dY plus the activity penalty's gradient: the whole gradient of this layer's output."""
        g = self._activity_gradient()
        return dY if g is None else dY + g

    # ----- weights, in Keras's order: trainable ones first, each in creation order ------------

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        return [self.params[k] for k in self.grads] if self.trainable else []

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        frozen = [self.params[k] for k in self.params if k not in self.grads]
        return frozen if self.trainable else self.weights

    @property
    def weights(self) -> list[np.ndarray]:
        return [self.params[k] for k in self.weight_names]

    @property
    def weight_names(self) -> list[str]:
        """Names of `weights`, in the same order."""
        return [*self.grads, *(k for k in self.params if k not in self.grads)]

    @property
    def gradients(self) -> list[np.ndarray]:
        """The gradient buffers of `trainable_weights`, in the same order."""
        return [self.grads[k] for k in self.grads] if self.trainable else []

    def get_weights(self) -> list[np.ndarray]:
        return [w.copy() for w in self.weights]

    def set_weights(self, weights: list) -> None:
        """Overwrite every weight in place (Keras's order), checking count, shape and dtype."""
        if not isinstance(weights, (list, tuple)):
            raise TypeError(
                f"Layer '{self.name}' set_weights expected a list of arrays, "
                f"got {type(weights).__name__}."
            )
        names = self.weight_names
        if len(weights) != len(names):
            raise ValueError(
                f"Layer '{self.name}' expected {len(names)} weight arrays, got {len(weights)}."
            )
        for key, w in zip(names, weights, strict=True):
            self.params[key] = w

    def count_params(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    # ----- configuration -----------------------------------------------------------------------

    def get_config(self) -> dict:
        """The constructor arguments that rebuild this layer (JSON-able), as in Keras (which
        lists `activity_regularizer` only when there is one)."""
        config = {"name": self.name, "trainable": self.trainable}
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Layer":
        """A new layer from `get_config()`'s output."""
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


class Identity(Layer):
    """Y = X, as `keras.layers.Identity` (a placeholder). Backward: dX = dY."""

    def compute_output_shape(self, input_shape):
        return input_shape

    def forward(self, X, training=False):
        return X

    def backward(self, dY):
        return dY


class InputLayer(Identity):
    """Declares the shape of one sample; `Input(shape)` makes one. It has no weights.

    Forward: Y = X.   Backward: dX = dY.
    """

    def __init__(self, shape: tuple, batch_size: "int | None" = None, name: "str | None" = None):
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        if not shape or any(not isinstance(d, (int, np.integer)) or d <= 0 for d in shape):
            raise ValueError(f"Input expected a shape of positive integers, got shape={shape!r}.")
        super().__init__(name=name or _unique_name("input_layer"), input_shape=shape)
        self.batch_size = batch_size

    @property
    def shape(self) -> tuple:
        """(None, *shape), as the KerasTensor `keras.Input` gives: layers called on an Input
        start a functional model (see KerasTensor)."""
        return (None, *self.input_shape)

    @property
    def dtype(self) -> str:
        return config.floatx()

    def get_config(self) -> dict:
        return {"shape": list(self.input_shape), "batch_size": self.batch_size, "name": self.name}


class KerasTensor:
    """What a layer called on `Input(...)` gives, as in Keras's functional API: no values, only
    the shape of the result and the chain of layers that makes it,

        inputs = Input((784,)); x = Dense(64, activation="relu")(inputs); outputs = Dense(10)(x)

    gives `outputs.chain == (inputs, dense, dense_1)`, which `tinynn.Model(inputs, outputs)`
    turns into a model. Calling a layer on it builds the layer (its weights exist from then on,
    as in Keras). Only chains: each tensor comes from one layer applied to one tensor.
    """

    def __init__(self, shape: tuple, chain: tuple):
        self.shape, self.chain = tuple(shape), tuple(chain)

    @property
    def dtype(self) -> str:
        return config.floatx()

    @classmethod
    def of(cls, layer: "Layer", x) -> "KerasTensor":
        """`layer(x)` for a KerasTensor or Input x: built for x's shape, appended to x's chain."""
        if not isinstance(x, (KerasTensor, InputLayer)):
            raise ValueError(
                f"Layer '{layer.name}' was called on {type(x).__name__} holding several tensors: "
                "tinynn's functional models are chains, one tensor into each layer (layers "
                "merging several inputs, such as Add or Concatenate, are not in tinynn).")
        chain = x.chain if isinstance(x, KerasTensor) else (x,)
        if any(other is layer for other in chain):
            raise ValueError(f"Layer '{layer.name}' is already in this chain: a tinynn layer can "
                             "be used once in a model (shared layers are not supported).")
        if not layer.built:
            layer.build(x.shape)
            layer.built = True
        return cls(layer.compute_output_shape(x.shape), (*chain, layer))

    def _refuse(self, *args, **kwargs):
        raise TypeError(
            "A KerasTensor (the output of a layer called on Input) has no values, and tinynn's "
            "functional models are chains of layers: there are no tensor operations between "
            "them. Use a layer instead (Activation, Rescaling, Reshape, ...).")

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = _refuse
    __matmul__ = __rmatmul__ = __neg__ = __pow__ = __getitem__ = __array__ = _refuse

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, from {self.chain[-1].name}>"


def _holds_symbolic(X) -> bool:
    return isinstance(X, (list, tuple)) and any(isinstance(v, (KerasTensor, InputLayer))
                                                 for v in X)


def Input(shape: tuple, batch_size: "int | None" = None, name: "str | None" = None) -> InputLayer:
    """`keras.Input(shape)`: the first element of a Sequential, fixing the shape of one sample."""
    return InputLayer(shape, batch_size=batch_size, name=name)


class ActivityRegularization(Identity):
    """Y = X, adding l1 sum|Y| + l2 sum Y**2 (divided by the batch size, as every activity
    penalty) to the loss: `keras.layers.ActivityRegularization`, an Identity whose
    `activity_regularizer` is `L1L2(l1, l2)`.

    Backward: dX = dY plus the penalty's gradient (added by the model, as for any layer's
    activity penalty).

    Args:
        l1: Defaults to 0.0.
        l2: Defaults to 0.0.
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0, **kwargs):
        kwargs.pop("activity_regularizer", None)
        super().__init__(activity_regularizer=regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.l1, self.l2 = l1, l2

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("activity_regularizer", None)  # as Keras: l1 and l2 say it
        return {**config, "l1": self.l1, "l2": self.l2}


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
    Each is the chain rule for Z_nj = sum_i X_ni W_ij + b_j, whose partial derivatives are
    ∂Z_nj/∂W_ij = X_ni, ∂Z_nj/∂b_j = 1, ∂Z_nj/∂X_ni = W_ij, summed over the batch rows n (for
    dW, db) or the units j (for dX). (dV alone always means ∂L/∂V, shaped like V.)

    On input with more axes, (N, T, n_in), the layer acts on the last axis, as in Keras: the
    same W and b at every position, so X is read as N * T rows of n_in features, Y is reshaped
    back to (N, T, units), and dW, db sum over all N * T rows.

    Args:
        units: number of outputs, a positive integer.
        activation: a name ("relu", "gelu", "softmax", ...; see `tinynn.activations`), one of
            `tinynn.activations`' functions, or None (linear). Defaults to None.
        use_bias: add the bias b. Defaults to True.
        kernel_initializer: a name, an initializer object (`initializers.HeNormal(seed=1)`)
            or a config dict. Defaults to "glorot_uniform".
        bias_initializer: Defaults to "zeros".
        kernel_regularizer: a penalty on W ("l1", "l2", `regularizers.L2(1e-4)`, ...): R(W) is
            added to the loss and dR/dW to dW. Defaults to None.
        bias_regularizer: the same for b. Defaults to None.
        activity_regularizer: a penalty on the output Y: R(Y) / N is added to the loss and
            dR/dY / N to dY. Defaults to None.
        kernel_constraint: a projection of W after each optimizer step
            (`constraints.MaxNorm(3)`: every unit's incoming weights of norm at most 3).
            Defaults to None.
        bias_constraint: the same for b. Defaults to None.

    Shapes: X (N, ..., n_in) -> Y (N, ..., units); kernel W (n_in, units), bias b (units,).
    """

    def __init__(self, units: int, activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"Dense expected units to be a positive integer, got units={units!r}.")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def build(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"Dense layer '{self.name}' expects input of shape (batch, ..., "
                             f"features), got input shape {input_shape}.")
        self.add_weight((input_shape[-1], self.units), self.kernel_initializer,
                        regularizer=self.kernel_regularizer, constraint=self.kernel_constraint,
                        name="kernel")
        if self.use_bias:
            self.add_weight((self.units,), self.bias_initializer,
                            regularizer=self.bias_regularizer, constraint=self.bias_constraint,
                            name="bias")
        # when use_bias=False: b = 0 for forward, and a separate scratch for backward's db
        # (one shared array would turn the last batch's db into a bias)
        self._zero_bias = np.zeros(self.units, config.floatx())
        self._db_scratch = np.zeros(self.units, config.floatx())
        self.built = True

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint)}

    kernel = weight_property("kernel", "W (n_in, units).")
    bias = weight_property("bias", "b (units,); None when `use_bias=False`.")

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def forward(self, X, training=False):
        W = self.params["kernel"]
        n_in = W.shape[0]
        if X.ndim < 2 or X.shape[-1] != n_in:
            flat = X.ndim > 2 and int(np.prod(X.shape[1:])) == n_in
            hint = " Did you forget a Flatten layer?" if flat else ""
            raise ValueError(
                f"Dense layer '{self.name}' expected input with {n_in} features on its last "
                f"axis, i.e. shape (batch, {n_in}) or (batch, ..., {n_in}), got shape "
                f"{X.shape}.{hint}"
            )
        self._shape = X.shape  # (N, ..., n_in): the rows below are all positions of all samples
        self._X = X.reshape(-1, n_in)
        b = self.params.get("bias", self._zero_bias)
        self._Z, self._A = backend.ops().dense_activation_forward(self._X, W, b, self.activation)
        # the very array A for 2-D inputs: fit finds the logits of a final sigmoid or softmax
        # by its identity (Sequential._logits_layer)
        return self._A if X.ndim == 2 else self._A.reshape(*X.shape[:-1], self.units)

    def _input_shaped(self, dX):
        return None if dX is None else dX.reshape(self._shape)

    def backward(self, dY):
        """Writes grads["kernel"] and grads["bias"] in place; returns dX (None if not needed)."""
        return self._input_shaped(backend.ops().dense_activation_backward(
            dY.reshape(self._Z.shape), self._X, self.params["kernel"], self._Z, self._A,
            self.activation, self.grads["kernel"], self.grads.get("bias", self._db_scratch),
            self.compute_input_grad))

    def backward_from_logits(self, dZ):
        """Backward from the gradient w.r.t. Z, the pre-activation ("logits") of this layer."""
        return self._input_shaped(backend.ops().dense_backward_into(
            dZ.reshape(self._Z.shape), self._X, self.params["kernel"], self.grads["kernel"],
            self.grads.get("bias", self._db_scratch), self.compute_input_grad))


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

    def compute_output_shape(self, input_shape):
        return input_shape

    def forward(self, X, training=False):
        self._Z, self._A = X, self._act(X)
        return self._A

    def backward(self, dY):
        return self._act_backward(dY, self._Z, self._A)

    def backward_from_logits(self, dZ):
        """The gradient w.r.t. this layer's input, the logits, is passed straight through."""
        return dZ


class Softmax(Activation):
    """Y = softmax(X) over the last axis, as a layer (`keras.layers.Softmax()`).

    Backward: dX_i = Y_i * (dY_i - sum_k dY_k Y_k), the Jacobian diag(Y) - Y Y^T times dY.
    """

    def __init__(self, axis: int = -1, **kwargs):
        if axis != -1:
            raise ValueError(f"Softmax supports only axis=-1, got axis={axis!r}.")
        super().__init__("softmax", **kwargs)

    def get_config(self) -> dict:
        return {**Layer.get_config(self), "axis": -1}


class Dropout(Layer):
    """Inverted dropout: while training Y = X * mask, mask_ij = 0 (prob. rate) or 1/(1 - rate).

    At inference (training=False) Y = X. Backward: dX = dY * mask.

    The noise: each training pass draws one 64-bit key from the layer's own generator,
    key = rng.bit_generator.random_raw(), and the uniform of the entry at flat position i (C
    order, X seen as (N, -1)) is the SplitMix64 hash U_i = h(key + (i + 1) * 0x9E3779B97F4A7C15)
    (`ops.counter_uniform`); the unit is kept where U_i >= rate. A counter-based stream is
    reproducible, needs no array of draws, can be computed in any order or in parallel, and is
    the same number in NumPy and in numba, so a compiled training loop makes the mask itself.
    `rng.bit_generator.random_raw(size=n)` gives the same n keys as n single draws (tested), so
    the keys of many passes can be drawn at once.

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

    def compute_output_shape(self, input_shape):
        return input_shape

    def forward(self, X, training=False):
        if not training or self.rate == 0:
            self._mask = None
            return X
        key = np.uint64(self._rng.bit_generator.random_raw())  # one draw per pass
        Y, self._mask = backend.ops().dropout_train_keyed(X, key, self.rate)
        return Y

    def backward(self, dY):
        return dY if self._mask is None else backend.ops().dropout_backward(dY, self._mask)
