"""Weight initializers with Keras's names, arguments, formulas and configs.

    Dense(64, kernel_initializer="he_normal")
    Dense(64, kernel_initializer=initializers.HeNormal(seed=1))
    initializers.RandomNormal(mean=0.0, stddev=0.05)((3, 4), "float32")

An initializer is an object called as `init(shape, dtype)` that returns an array. Randomness:
with `seed=None` every call draws from tinynn's generator `tinynn.utils.rng()` (so
`utils.set_random_seed` makes it reproducible and two layers get different weights); with an
integer seed every call starts a new generator from that seed, so the same seed gives the same
values, as in Keras. (Keras's unseeded instance fixes a seed when it is made and repeats its
values on every call; tinynn's keeps drawing.)

Fans, for a kernel of shape (n_in, units): fan_in = n_in, fan_out = units (`compute_fans`).
"""

import math

import numpy as np

from tinynn import utils


def compute_fans(shape: tuple, input_axes=None, output_axes=None) -> tuple[int, int]:
    """(fan_in, fan_out) as Keras computes them: (1, 1) for a scalar, (n, n) for a vector,
    (rows, columns) for a matrix, scaled by the receptive field for more dimensions; or the
    products of the sizes of `input_axes` and `output_axes` when both are given."""
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        return (int(np.prod([shape[a] for a in input_axes])),
                int(np.prod([shape[a] for a in output_axes])))
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Base class: `__call__(shape, dtype)` returns the initial array; `get_config` lists the
    constructor's arguments so `from_config` rebuilds it (and a model file can store it)."""

    def __call__(self, shape: tuple, dtype: "np.dtype | str | None" = None) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must define __call__(shape, dtype).")

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> "Initializer":
        return cls(**config)

    def clone(self) -> "Initializer":
        return type(self).from_config(self.get_config())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _dtype(dtype) -> np.dtype:
    return np.dtype(dtype or "float32")


class Constant(Initializer):
    """Every entry equal to `value`.

    Args:
        value: a Python scalar, or (as Keras's implementation accepts, and TensorFlow's
            imbalanced-data tutorial passes `np.log([pos / neg])`) an array broadcast to the
            weight's shape. Defaults to 0.0.
    """

    def __init__(self, value=0.0):
        value = np.asarray(value) if isinstance(value, (list, tuple, np.ndarray)) else value
        if isinstance(value, np.ndarray):
            if value.dtype.kind not in "biuf":
                raise ValueError(f"Constant expected a number or an array of numbers, got "
                                 f"value={value!r}.")
            value = value.tolist()  # a list in the config, as JSON holds it
        elif isinstance(value, np.generic):
            value = value.item()
        elif not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ValueError(f"Constant expected a number, got value={value!r}.")
        self.value = value

    def __call__(self, shape, dtype=None):
        dtype = _dtype(dtype)
        try:  # as Keras: cast(value) * ones(shape)
            return np.asarray(self.value, dtype) * np.ones(shape, dtype)
        except ValueError:
            raise ValueError(f"Constant's value of shape {np.shape(self.value)} cannot fill a "
                             f"weight of shape {tuple(shape)}.") from None

    def get_config(self) -> dict:
        return {"value": self.value}


class Zeros(Initializer):
    """All zeros (Keras's default bias)."""

    def __call__(self, shape, dtype=None):
        return np.zeros(shape, dtype=_dtype(dtype))


class Ones(Initializer):
    """All ones (e.g. a scale that starts as the identity)."""

    def __call__(self, shape, dtype=None):
        return np.ones(shape, dtype=_dtype(dtype))


class RandomInitializer(Initializer):
    """Base of the random initializers: where the random numbers come from.

    Args:
        seed: an integer: every call draws from a new generator seeded with it (the same
            values each time). Defaults to None: draw from `tinynn.utils.rng()`.
    """

    def __init__(self, seed: "int | None" = None):
        if seed is not None and (isinstance(seed, bool)
                                 or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"{type(self).__name__} expected an integer seed or None, got "
                             f"seed={seed!r}.")
        self.seed = None if seed is None else int(seed)

    def _rng(self) -> np.random.Generator:
        return utils.rng() if self.seed is None else np.random.default_rng(self.seed)

    def get_config(self) -> dict:
        return {"seed": self.seed}


def truncated_standard_normal(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """Standard normal draws with every value outside [-2, 2] drawn again (as Keras's
    truncated normal, which cuts at two standard deviations). The result's standard deviation
    is 0.87962566103423978, not 1."""
    X = rng.standard_normal(shape)
    outside = np.abs(X) > 2
    while outside.any():
        X[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(X) > 2
    return X


class RandomNormal(RandomInitializer):
    """W ~ Normal(mean, stddev**2).

    Args:
        mean: Defaults to 0.0.
        stddev: Defaults to 0.05.
        seed: see `RandomInitializer`. Defaults to None.
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: "int | None" = None):
        self.mean, self.stddev = mean, stddev
        super().__init__(seed)

    def __call__(self, shape, dtype=None):
        return self._rng().normal(self.mean, self.stddev, size=shape).astype(_dtype(dtype))

    def get_config(self) -> dict:
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(RandomInitializer):
    """W = mean + stddev * X, X standard normal redrawn outside [-2, 2] (`stddev` is the
    untruncated one: the values' standard deviation is 0.88 * stddev).

    Args:
        mean: Defaults to 0.0.
        stddev: Defaults to 0.05.
        seed: see `RandomInitializer`. Defaults to None.
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: "int | None" = None):
        self.mean, self.stddev = mean, stddev
        super().__init__(seed)

    def __call__(self, shape, dtype=None):
        X = truncated_standard_normal(self._rng(), shape)
        return (self.mean + self.stddev * X).astype(_dtype(dtype))

    def get_config(self) -> dict:
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class RandomUniform(RandomInitializer):
    """W ~ Uniform[minval, maxval).

    Args:
        minval: Defaults to -0.05.
        maxval: Defaults to 0.05.
        seed: see `RandomInitializer`. Defaults to None.
    """

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: "int | None" = None):
        self.minval, self.maxval = minval, maxval
        super().__init__(seed)

    def __call__(self, shape, dtype=None):
        return self._rng().uniform(self.minval, self.maxval, size=shape).astype(_dtype(dtype))

    def get_config(self) -> dict:
        return {**super().get_config(), "minval": self.minval, "maxval": self.maxval}


# the standard deviation of a standard normal truncated to [-2, 2]
TRUNCATED_STDDEV = 0.87962566103423978


class VarianceScaling(RandomInitializer):
    """Weights with variance scale / n, n = fan_in, fan_out or (fan_in + fan_out) / 2 (`mode`).

    - "uniform": Uniform(-l, l) with l = sqrt(3 scale / n) (the variance of Uniform(-l, l) is
      l**2 / 3);
    - "truncated_normal": truncated normal (cut at 2 stddev) with stddev
      sqrt(scale / n) / 0.87962566103423978, so that its standard deviation after truncation is
      sqrt(scale / n);
    - "untruncated_normal": Normal(0, scale / n).

    Args:
        scale: a positive number. Defaults to 1.0.
        mode: "fan_in", "fan_out" or "fan_avg". Defaults to "fan_in".
        distribution: "truncated_normal" ("normal" is accepted for it), "untruncated_normal"
            or "uniform". Defaults to "truncated_normal".
        seed: see `RandomInitializer`. Defaults to None.
        input_axes, output_axes: axes of the shape to count as fan_in and fan_out (both or
            neither). Defaults to None (`compute_fans`'s rule).
    """

    def __init__(self, scale: float = 1.0, mode: str = "fan_in",
                 distribution: str = "truncated_normal", seed: "int | None" = None,
                 input_axes=None, output_axes=None):
        if not scale > 0:
            raise ValueError(f"VarianceScaling expected a positive scale, got scale={scale!r}.")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError("VarianceScaling expected mode 'fan_in', 'fan_out' or 'fan_avg', "
                             f"got mode={mode!r}.")
        distribution = distribution.lower()
        distribution = "truncated_normal" if distribution == "normal" else distribution
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError("VarianceScaling expected distribution 'truncated_normal', "
                             f"'untruncated_normal' or 'uniform', got {distribution!r}.")
        self.scale, self.mode, self.distribution = scale, mode, distribution
        self.input_axes, self.output_axes = input_axes, output_axes
        super().__init__(seed)

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        rng = self._rng()
        if self.distribution == "uniform":
            # written 3 scale / n, one rounding: glorot_uniform's limit is sqrt(6 / (in + out))
            limit = math.sqrt(3.0 * self.scale / max(1.0, n))
            W = rng.uniform(-limit, limit, size=shape)
        elif self.distribution == "truncated_normal":
            W = math.sqrt(variance) / TRUNCATED_STDDEV * truncated_standard_normal(rng, shape)
        else:
            W = rng.normal(0.0, math.sqrt(variance), size=shape)
        return W.astype(_dtype(dtype))

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale, "mode": self.mode,
                "distribution": self.distribution, "input_axes": self.input_axes,
                "output_axes": self.output_axes}


class _Preset(VarianceScaling):
    """A VarianceScaling with fixed scale, mode and distribution: its config is the seed and
    axes only, as in Keras."""

    SCALE, MODE, DISTRIBUTION = 1.0, "fan_in", "truncated_normal"

    def __init__(self, seed: "int | None" = None, input_axes=None, output_axes=None):
        super().__init__(self.SCALE, self.MODE, self.DISTRIBUTION, seed, input_axes,
                         output_axes)

    def get_config(self) -> dict:
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}


class GlorotUniform(_Preset):
    """Uniform(-l, l) with l = sqrt(6 / (fan_in + fan_out)), so Var = 2 / (fan_in + fan_out)
    (Keras's default kernel initializer).

    Args:
        seed: see `RandomInitializer`. Defaults to None.
    """

    SCALE, MODE, DISTRIBUTION = 1.0, "fan_avg", "uniform"


class GlorotNormal(_Preset):
    """Truncated normal with standard deviation sqrt(2 / (fan_in + fan_out)).

    Args:
        seed: see `RandomInitializer`. Defaults to None.
    """

    SCALE, MODE, DISTRIBUTION = 1.0, "fan_avg", "truncated_normal"


class HeNormal(_Preset):
    """Truncated normal with standard deviation sqrt(2 / fan_in): keeps the variance of ReLU
    activations from layer to layer.

    Args:
        seed: see `RandomInitializer`. Defaults to None.
    """

    SCALE, MODE, DISTRIBUTION = 2.0, "fan_in", "truncated_normal"


class HeUniform(_Preset):
    """Uniform(-l, l) with l = sqrt(6 / fan_in): keeps the variance of ReLU activations.

    Args:
        seed: see `RandomInitializer`. Defaults to None.
    """

    SCALE, MODE, DISTRIBUTION = 2.0, "fan_in", "uniform"


class LecunNormal(_Preset):
    """Truncated normal with standard deviation sqrt(1 / fan_in) (for SELU networks).

    Args:
        seed: see `RandomInitializer`. Defaults to None.
    """

    SCALE, MODE, DISTRIBUTION = 1.0, "fan_in", "truncated_normal"


class LecunUniform(_Preset):
    """Uniform(-l, l) with l = sqrt(3 / fan_in).

    Args:
        seed: see `RandomInitializer`. Defaults to None.
    """

    SCALE, MODE, DISTRIBUTION = 1.0, "fan_in", "uniform"


class Orthogonal(RandomInitializer):
    """A (scaled) orthogonal matrix: Q of the QR decomposition of a standard normal matrix,
    with column signs fixed by R's diagonal (so Q is uniformly distributed), times `gain`.

    For shape (r, c), W has orthonormal columns if r >= c, orthonormal rows otherwise; more
    dimensions are flattened to (prod(shape[:-1]), shape[-1]).

    Args:
        gain: Defaults to 1.0.
        seed: see `RandomInitializer`. Defaults to None.
    """

    def __init__(self, gain: float = 1.0, seed: "int | None" = None):
        self.gain = gain
        super().__init__(seed)

    def __call__(self, shape, dtype=None):
        if len(shape) < 2:
            raise ValueError(f"Orthogonal initializes arrays of at least 2 dimensions, got "
                             f"shape={tuple(shape)}.")
        rows, cols = int(np.prod(shape[:-1])), shape[-1]
        A = self._rng().standard_normal((max(rows, cols), min(rows, cols)))
        Q, R = np.linalg.qr(A)
        Q = Q * np.sign(np.diag(R))
        if rows < cols:
            Q = Q.T
        return (self.gain * Q.reshape(shape)).astype(_dtype(dtype))

    def get_config(self) -> dict:
        return {**super().get_config(), "gain": self.gain}


class Identity(Initializer):
    """W = gain * I: ones on the diagonal of a 2-D weight (rectangular allowed), zeros elsewhere.

    Args:
        gain: Defaults to 1.0. (Keras 3.15's `get_config()` leaves it out, so a Keras file
            loses it; tinynn's config keeps it.)
    """

    def __init__(self, gain: float = 1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        if len(shape) != 2:
            raise ValueError("Identity matrix initializer can only be used for 2D matrices. "
                             f"Received: shape={tuple(shape)} of rank {len(shape)}.")
        return (self.gain * np.eye(*shape)).astype(_dtype(dtype))

    def get_config(self) -> dict:
        return {"gain": self.gain}


# Keras's lower-case names are the classes themselves: initializers.he_normal(seed=1)
constant, zeros, ones = Constant, Zeros, Ones
random_normal, random_uniform, truncated_normal = RandomNormal, RandomUniform, TruncatedNormal
variance_scaling, orthogonal, identity = VarianceScaling, Orthogonal, Identity
OrthogonalInitializer, IdentityInitializer = Orthogonal, Identity  # Keras's other names
glorot_uniform, glorot_normal, he_normal, he_uniform = (GlorotUniform, GlorotNormal, HeNormal,
                                                        HeUniform)
lecun_normal, lecun_uniform = LecunNormal, LecunUniform

_CLASSES = [Constant, Zeros, Ones, RandomNormal, RandomUniform, TruncatedNormal,
            VarianceScaling, GlorotUniform, GlorotNormal, HeNormal, HeUniform, LecunNormal,
            LecunUniform, Orthogonal, Identity]


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


_ALIASES = {"normal": RandomNormal, "uniform": RandomUniform, "one": Ones, "zero": Zeros,
            "OrthogonalInitializer": Orthogonal, "IdentityInitializer": Identity}


def _class_named(name: str) -> "type | None":
    """A tinynn initializer class by Keras name ("HeNormal" or "he_normal"), or a user's
    Initializer subclass by class name."""
    for cls in _CLASSES:
        if name in (cls.__name__, _snake(cls.__name__)):
            return cls
    if name in _ALIASES:
        return _ALIASES[name]
    stack = list(Initializer.__subclasses__())
    while stack:
        cls = stack.pop()
        if cls.__name__ == name:
            return cls
        stack.extend(cls.__subclasses__())
    return None


def _known() -> str:
    return ", ".join(sorted(_snake(cls.__name__) for cls in _CLASSES))


def get(identifier):
    """An initializer from a Keras name ("he_normal" or "HeNormal"), a config dict
    ({"class_name": "HeNormal", "config": {"seed": 1}}), a class, an instance, or any function
    `(shape, dtype) -> array` (returned as it is). None stays None, as in Keras: the layer's
    `add_weight` then uses glorot_uniform for a float weight (Keras 3 does so even for a bias
    given `bias_initializer=None`)."""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        cls = _class_named(identifier)
        if cls is None:
            raise ValueError(f"Unknown initializer {identifier!r}. Known initializers: "
                             f"{_known()}.")
        return cls()
    if isinstance(identifier, dict):
        if "class_name" not in identifier:
            raise ValueError(f"An initializer config needs a 'class_name', got {identifier!r}.")
        cls = _class_named(identifier["class_name"])
        if cls is None:
            raise ValueError(f"Unknown initializer class {identifier['class_name']!r}. Known "
                             f"initializers: {_known()}.")
        return cls.from_config(identifier.get("config") or {})
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret initializer {identifier!r}: pass a name such as "
                     "'he_normal', an initializer object or a config dict.")


def serialize(initializer) -> "str | dict":
    """What a layer's config stores: the Keras name ("glorot_uniform") when the initializer has
    its default arguments, else {"class_name": ..., "config": ...} as Keras writes it. Constant
    is always written out: Keras 3.15 cannot rebuild it from the name "constant" (its
    from_config requires the value). None stays None."""
    if initializer is None:
        return None
    if not isinstance(initializer, Initializer):
        raise ValueError(
            f"Cannot save the custom initializer {initializer!r}: a layer's config can hold "
            "only Initializer objects (subclass tinynn.initializers.Initializer and give it "
            "get_config) or the names " + _known() + "."
        )
    cls = type(initializer)
    config = initializer.get_config()
    if cls in _CLASSES and cls is not Constant and config == cls().get_config():
        return _snake(cls.__name__)
    return {"class_name": cls.__name__, "config": config}


def name_of(initializer) -> "str | None":
    """The Keras name of a default-argument initializer (see `serialize` for any other)."""
    spec = serialize(initializer)
    if spec is not None and not isinstance(spec, str):
        raise ValueError(f"{initializer!r} has arguments: save it with "
                         "initializers.serialize(), which gives its config.")
    return spec
