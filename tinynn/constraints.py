"""Weight constraints with Keras's names: `MaxNorm`, `MinMaxNorm`, `NonNeg`, `UnitNorm`.

A constraint is a projection: after every optimizer step, as Keras 3's optimizer does, the
weight is replaced by `constraint(W)`. With the norm taken along `axis` (axis 0 of a Dense
kernel (n_in, units): one norm per unit, over its incoming weights),

    n = sqrt(sum(W**2, axis))                        eps = 1e-7 (Keras's epsilon)
    MaxNorm(max_value=2):    W * clip(n, 0, max_value) / (eps + n)     (norms above max shrink)
    MinMaxNorm(min, max, rate=1):
                             W * (rate * clip(n, min, max) + (1 - rate) * n) / (eps + n)
    UnitNorm():              W / (eps + n)
    NonNeg():                max(W, 0)

Give one to a layer, as in Keras: `Dense(64, kernel_constraint=constraints.MaxNorm(3))` (the
max-norm recipe that goes with Dropout), or by name ("max_norm", "non_neg", "unit_norm",
"min_max_norm"). It never enters the gradient: it acts on the weights after the update.
"""

from collections.abc import Iterator

import numpy as np

EPSILON = 1e-7


def _norms(W: np.ndarray, axis) -> np.ndarray:
    axis = tuple(axis) if isinstance(axis, list) else axis
    return np.sqrt(np.sum(np.square(W), axis=axis, keepdims=True))


class Constraint:
    """Base class: `constraint(W)` returns the projected weight (here: W unchanged)."""

    def __call__(self, W: np.ndarray) -> np.ndarray:
        return W

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> "Constraint":
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class MaxNorm(Constraint):
    """Each norm along `axis` at most `max_value`: W * clip(n, 0, max_value) / (eps + n).

    Args:
        max_value: the largest norm allowed. Defaults to 2.
        axis: the axis (or list of axes) the norm sums over. Defaults to 0.
    """

    def __init__(self, max_value=2, axis=0):
        self.max_value, self.axis = max_value, axis

    def __call__(self, W):
        n = _norms(W, self.axis)
        return W * (np.clip(n, 0, self.max_value) / (EPSILON + n))

    def get_config(self) -> dict:
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    """Each norm along `axis` moved into [min_value, max_value], by the fraction `rate`:
    W * (rate * clip(n, min, max) + (1 - rate) * n) / (eps + n).

    Args:
        min_value: Defaults to 0.0.
        max_value: Defaults to 1.0.
        rate: 1.0 enforces the bounds at once, less moves the norms part of the way each step.
            Defaults to 1.0.
        axis: Defaults to 0.
    """

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, W):
        n = _norms(W, self.axis)
        desired = self.rate * np.clip(n, self.min_value, self.max_value) + (1 - self.rate) * n
        return W * (desired / (EPSILON + n))

    def get_config(self) -> dict:
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


class NonNeg(Constraint):
    """Negative entries set to 0: max(W, 0)."""

    def __call__(self, W):
        return np.maximum(W, 0)


class UnitNorm(Constraint):
    """Each norm along `axis` made 1: W / (eps + n).

    Args:
        axis: Defaults to 0.
    """

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, W):
        return W / (EPSILON + _norms(W, self.axis))

    def get_config(self) -> dict:
        return {"axis": self.axis}


# Keras's lower-case names are the classes themselves: max_norm(3) is MaxNorm(3).
max_norm, min_max_norm, non_neg, unit_norm = MaxNorm, MinMaxNorm, NonNeg, UnitNorm
_ALIASES = {"max_norm": MaxNorm, "min_max_norm": MinMaxNorm, "non_neg": NonNeg,
            "unit_norm": UnitNorm}


def _subclasses(base: type) -> Iterator[type]:
    for cls in base.__subclasses__():
        yield cls
        yield from _subclasses(cls)


def _builtin() -> dict[str, type]:
    """tinynn's own constraint classes by class name, and Keras's snake_case aliases."""
    found = {cls.__name__: cls for cls in _subclasses(Constraint) if cls.__module__ == __name__}
    return {**found, **_ALIASES}


def serialize(constraint: "Constraint | None") -> "dict | None":
    """{"class_name", "config"}, the form Keras writes in a layer's config (None stays None)."""
    if constraint is None:
        return None
    if not isinstance(constraint, Constraint):
        raise ValueError(f"Cannot save the constraint {constraint!r}: a layer's config can hold "
                         "only tinynn.constraints.Constraint objects (subclass it and give it "
                         "get_config).")
    return {"class_name": type(constraint).__name__, "config": constraint.get_config()}


def get(identifier) -> "Constraint | None":
    """A constraint from a name ("max_norm", "MaxNorm"), a `serialize` dict (Keras's, with its
    "module", too), a class or an instance (returned as is), as `keras.constraints.get`."""
    if identifier is None or isinstance(identifier, Constraint):
        return identifier
    known = _builtin()
    if isinstance(identifier, str):
        if identifier not in known:
            raise ValueError(f"Unknown constraint {identifier!r}. Known names: "
                             f"{', '.join(sorted(known))}.")
        return known[identifier]()
    if isinstance(identifier, dict):
        cls = known.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(f"Unknown constraint {identifier.get('class_name')!r} in "
                             f"{identifier}: only tinynn's own ({', '.join(sorted(known))}) "
                             "are rebuilt from a config.")
        try:
            return cls.from_config(dict(identifier.get("config") or {}))
        except TypeError as e:
            raise ValueError(f"Invalid config for constraint {cls.__name__}: {e}") from None
    if isinstance(identifier, type) and issubclass(identifier, Constraint):
        return identifier()
    if callable(identifier):  # a function W -> W, as Keras accepts (it cannot be saved)
        return identifier
    raise TypeError(f"Could not interpret constraint {identifier!r}: expected a name "
                    "('max_norm', 'non_neg', 'unit_norm', 'min_max_norm'), a "
                    "tinynn.constraints.Constraint, or None.")
