"""Weight and activity penalties with Keras's names: `L1`, `L2`, `L1L2`.

A regularizer R is a function of one array W with a scalar value R(W), added to the training
loss, and a gradient dR/dW, added to the weight's gradient (the factors are used rounded to
float32, also in float64 models, as Keras 3 does):

    L1(l1):     R(W) = l1 * sum(|W|)                       dR/dW = l1 * sign(W)   (0 at W = 0)
    L2(l2):     R(W) = l2 * sum(W**2)                      dR/dW = 2 * l2 * W
    L1L2(l1, l2): the sum of the two.

Give one to a layer, as in Keras: `Dense(64, kernel_regularizer=L2(1e-4))`, or by name ("l1",
"l2", "l1l2"); the layer passes it to `add_weight(..., regularizer=...)`. What Keras 3 does with
the penalties, measured (parity/README.md): the batch loss `fit` minimises and logs is the mean
loss over the batch **plus** `sum(model.losses)`, unscaled; `evaluate` and the validation loss
include them too. An `activity_regularizer` penalises a layer's output Y with R(Y) / N, N the
batch size.

Your own penalty: subclass `Regularizer` and define `__call__` (the value) and `gradient`; a
plain function of W cannot be used, because tinynn needs its derivative.
"""

import math
from collections.abc import Iterator

import numpy as np


def _cast(factor: float, dtype: np.dtype):
    """A factor in the weights' dtype, as Keras 3 casts it: `ops.cast(0.01, "float64")` goes
    through a float32 tensor, so even float64 penalties use the float32-rounded factor
    (0.009999999776482582 for 0.01; measured, parity/README.md)."""
    return dtype.type(np.float32(factor))


def _factor(value, name: str, cls: str) -> float:
    """A penalty factor, as Keras checks it: a finite, non-negative number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(f"{cls} expected {name} to be a non-negative float, got {name}={value!r}.")
    return float(value)


class Regularizer:
    """Base class of penalties: `R(W)` is the value, `R.gradient(W)` the derivative dR/dW.

    Subclasses define `__call__`, `gradient` and `get_config`; `from_config(get_config())`
    rebuilds them.
    """

    def __call__(self, W: np.ndarray):
        return np.zeros((), W.dtype)

    def gradient(self, W: np.ndarray) -> np.ndarray:
        return np.zeros_like(W)

    def get_config(self) -> dict:
        raise NotImplementedError(f"{type(self).__name__} must define get_config() to be saved.")

    @classmethod
    def from_config(cls, config: dict) -> "Regularizer":
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1(Regularizer):
    """R(W) = l1 * sum(|W|);  dR/dW = l1 * sign(W), 0 where W = 0 (as TensorFlow's |x|').

    Keras 3 keeps l1 as a float32 tensor, so its config holds the float32-rounded factor (0.01
    becomes 0.009999999776482582); tinynn does the same.

    Args:
        l1: the factor, a non-negative float. Defaults to 0.01.
    """

    def __init__(self, l1: float = 0.01):
        self.l1 = float(np.float32(_factor(0.01 if l1 is None else l1, "l1", "L1")))

    def __call__(self, W):
        return _cast(self.l1, W.dtype) * np.abs(W).sum()

    def gradient(self, W):
        return _cast(self.l1, W.dtype) * np.sign(W)

    def get_config(self) -> dict:
        return {"l1": self.l1}


class L2(Regularizer):
    """R(W) = l2 * sum(W**2);  dR/dW = 2 * l2 * W.

    Args:
        l2: the factor, a non-negative float. Defaults to 0.01.
    """

    def __init__(self, l2: float = 0.01):
        self.l2 = _factor(0.01 if l2 is None else l2, "l2", "L2")

    def __call__(self, W):
        return _cast(self.l2, W.dtype) * np.square(W).sum()

    def gradient(self, W):
        return _cast(self.l2, W.dtype) * (2 * W)

    def get_config(self) -> dict:
        return {"l2": self.l2}


class L1L2(Regularizer):
    """R(W) = l1 * sum(|W|) + l2 * sum(W**2);  dR/dW = l1 * sign(W) + 2 * l2 * W.

    A factor of 0 leaves its term out. Note Keras 3's defaults: both factors 0, so `L1L2()` (and
    the name "l1l2") penalise nothing; its docstring's 0.01 is Keras 2's `l1_l2` function.

    Args:
        l1: Defaults to 0.0.
        l2: Defaults to 0.0.
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1 = _factor(0.0 if l1 is None else l1, "l1", "L1L2")
        self.l2 = _factor(0.0 if l2 is None else l2, "l2", "L1L2")

    def __call__(self, W):
        value = np.zeros((), W.dtype)
        if self.l1:
            value = value + _cast(self.l1, W.dtype) * np.abs(W).sum()
        if self.l2:
            value = value + _cast(self.l2, W.dtype) * np.square(W).sum()
        return value

    def gradient(self, W):
        G = np.zeros_like(W)
        if self.l1:
            G += _cast(self.l1, W.dtype) * np.sign(W)
        if self.l2:
            G += _cast(self.l2, W.dtype) * (2 * W)
        return G

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


# Keras 3's lower-case names are the classes themselves: l2(1e-4) is L2(1e-4).
l1, l2, l1_l2 = L1, L2, L1L2


def _subclasses(base: type) -> Iterator[type]:
    for cls in base.__subclasses__():
        yield cls
        yield from _subclasses(cls)


def _builtin() -> dict[str, type]:
    """tinynn's own regularizer classes, found as `saving` finds layers (not listed), by their
    Keras names: the class name and its snake_case ("L1L2" -> "l1l2")."""
    found = {cls for cls in _subclasses(Regularizer) if cls.__module__ == __name__}
    return {name: cls for cls in found for name in (cls.__name__, cls.__name__.lower())}


def serialize(regularizer: "Regularizer | None") -> "dict | None":
    """{"class_name", "config"}, the form Keras writes in a layer's config (None stays None)."""
    if regularizer is None:
        return None
    return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}


def get(identifier) -> "Regularizer | None":
    """A regularizer from a name ("l1", "l2", "l1l2"), a `serialize` dict, a class or an instance
    (returned as is), as `keras.regularizers.get`. None gives None."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    known = _builtin()
    if isinstance(identifier, str):
        cls = known.get(identifier)
        if cls is None:
            hint = (" Keras 3 has no 'l1_l2' name: use regularizers.L1L2(l1=..., l2=...)."
                    if identifier == "l1_l2" else "")
            raise ValueError(f"Unknown regularizer {identifier!r}. Known names: "
                             f"{', '.join(sorted(k for k in known if k.islower()))}.{hint}")
        return cls()
    if isinstance(identifier, dict):
        cls = known.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(
                f"Unknown regularizer {identifier.get('class_name')!r} in {identifier}: only "
                f"tinynn's own ({', '.join(sorted(k for k in known if not k.islower()))}) are "
                "rebuilt from a config.")
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, type) and issubclass(identifier, Regularizer):
        return identifier()
    raise TypeError(
        f"Could not interpret regularizer {identifier!r}: expected a name ('l1', 'l2', 'l1l2'), "
        "a tinynn.regularizers.Regularizer (which defines the value and its gradient), or None. "
        "A plain function cannot be used: tinynn needs the penalty's gradient."
    )
