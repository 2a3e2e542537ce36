"""Activation functions, each a forward `A = f(Z)` and a backward from `dA` (= dL/dA) to `dZ`.

The elementwise ones (linear, relu, tanh, sigmoid) act on each entry alone, so their Jacobian is
diagonal and the backward is `dZ = dA * f'(Z)`, entry by entry. Softmax is not elementwise: each
output of a row depends on the whole row, and its backward is the Jacobian-vector product
`dZ = A * (dA - rowsum(dA * A))` (see `softmax_backward`), not `dA * f'(Z)`.

Every backward receives the upstream gradient `dA` together with the forward's input `Z` and output
`A`, and uses whichever makes the derivative cheapest (tanh' = 1 - A**2 needs only A). Keyword
arguments (`negative_slope`, `alpha`, `approximate`, ...) have Keras's defaults; a name such as
`Dense(activation="elu")` means the function with its defaults, as in Keras.

At a kink (relu at 0, relu6 at 0 and 6, ...) the derivative is the one TensorFlow's gradient
gives there; each docstring says which. Formulas are the numerically careful ones: exp is only
taken of values that cannot overflow (elu, selu, softplus, sigmoid), 1 + erf(x) is computed as
erfc(-x) and 1 + tanh(u) as 2 sigmoid(2u), which do not cancel for negative inputs.
"""

import math
from collections.abc import Callable

import numpy as np


def linear(Z: np.ndarray) -> np.ndarray:
    """A = Z."""
    return Z


def linear_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """dZ = dA."""
    return dA


def relu(Z: np.ndarray, negative_slope: float = 0.0, max_value: "float | None" = None,
         threshold: float = 0.0) -> np.ndarray:
    """A = max(Z, 0) by default. With Keras's arguments (t = threshold, s = negative_slope):

    A = clip(Z, 0, max_value) for Z > t;  A = -s (t - Z) for Z <= t  (so A = s Z below t = 0).
    """
    if negative_slope and max_value is None and not threshold:
        return leaky_relu(Z, negative_slope)
    A = np.where(Z > threshold, Z, 0) if threshold else np.maximum(Z, 0)
    if max_value is not None:
        A = np.clip(A, 0, max_value)
    if negative_slope:
        A = A - negative_slope * np.maximum(threshold - Z, 0)
    return A.astype(Z.dtype, copy=False)


def relu_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray, negative_slope: float = 0.0,
                  max_value: "float | None" = None, threshold: float = 0.0) -> np.ndarray:
    """dZ = dA * [Z > 0]  (the derivative at exactly 0 is taken as 0, as in Keras).

    With Keras's arguments: dZ = dA * ([Z > t and 0 <= Z <= max_value] + s [Z < t]); the upper
    bound is strict (Z < 6) for max_value = 6 with t = 0 (TensorFlow's relu6 op), as in Keras;
    with negative_slope alone it is leaky_relu's.
    """
    if negative_slope and max_value is None and not threshold:
        return leaky_relu_backward(dA, Z, A, negative_slope)
    slope = Z > threshold
    if max_value == 6 and not threshold:
        slope &= Z < 6
    elif max_value is not None:
        slope &= (Z >= 0) & (Z <= max_value)
    dZ = dA * slope
    if negative_slope:
        dZ = dZ + dA * (negative_slope * (Z < threshold))
    return dZ.astype(dA.dtype, copy=False)


def _float32(c: float) -> float:
    """c rounded to float32, as TensorFlow rounds some constants even in float64 (for Keras
    parity; a relative change below 3e-8 of the constant)."""
    return float(np.float32(c))


def leaky_relu(Z: np.ndarray, negative_slope: float = 0.2) -> np.ndarray:
    """A = Z for Z > 0, negative_slope * Z otherwise (Keras's function default: 0.2).

    TensorFlow's op stores the slope as float32, so tinynn uses float32(negative_slope) too.
    """
    return np.where(Z > 0, Z, Z * _float32(negative_slope)).astype(Z.dtype, copy=False)


def leaky_relu_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray,
                        negative_slope: float = 0.2) -> np.ndarray:
    """dZ = dA * (1 if Z > 0 else negative_slope)  (negative_slope at exactly 0, as in Keras)."""
    return np.where(Z > 0, dA, dA * _float32(negative_slope)).astype(dA.dtype, copy=False)


def relu6(Z: np.ndarray) -> np.ndarray:
    """A = min(max(Z, 0), 6)."""
    return np.minimum(np.maximum(Z, 0), 6).astype(Z.dtype, copy=False)


def relu6_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """dZ = dA * [0 < Z < 6]  (0 at both kinks, as in Keras)."""
    return dA * ((Z > 0) & (Z < 6))


def elu(Z: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """A = Z for Z > 0, alpha (exp(Z) - 1) otherwise (exp(Z) - 1 as expm1: exact near 0)."""
    return np.where(Z > 0, Z, alpha * np.expm1(np.minimum(Z, 0))).astype(Z.dtype, copy=False)


def elu_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """dZ = dA * (1 if Z > 0 else alpha exp(Z))  (alpha at exactly 0, as in Keras)."""
    slope = np.where(Z > 0, 1, alpha * np.exp(np.minimum(Z, 0)))
    return (dA * slope).astype(dA.dtype, copy=False)


# SELU's constants (Klambauer et al., 2017), to the digits Keras and TensorFlow use
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def selu(Z: np.ndarray) -> np.ndarray:
    """A = scale * elu(Z, alpha), with alpha = 1.67326..., scale = 1.05070..."""
    return (SELU_SCALE * elu(Z, SELU_ALPHA)).astype(Z.dtype, copy=False)


def selu_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """dZ = dA * scale * (1 if Z >= 0 else alpha exp(Z))  (scale at exactly 0, as in Keras)."""
    slope = np.where(Z >= 0, SELU_SCALE, SELU_SCALE * SELU_ALPHA * np.exp(np.minimum(Z, 0)))
    return (dA * slope).astype(dA.dtype, copy=False)


def tanh(Z: np.ndarray) -> np.ndarray:
    """A = tanh(Z)."""
    return np.tanh(Z)


def tanh_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """dZ = dA * (1 - A**2)."""
    return dA * (1 - A * A)


def sigmoid(Z: np.ndarray) -> np.ndarray:
    """A = 1 / (1 + exp(-Z)), computed without overflow for large |Z|."""
    E = np.exp(-np.abs(Z))
    return np.where(Z >= 0, 1 / (1 + E), E / (1 + E)).astype(Z.dtype, copy=False)


def sigmoid_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """dZ = dA * A * (1 - A)."""
    return dA * A * (1 - A)


def hard_sigmoid(Z: np.ndarray) -> np.ndarray:
    """A = relu6(Z + 3) / 6: 0 for Z <= -3, 1 for Z >= 3, Z / 6 + 1/2 between (Keras 3's)."""
    return (relu6(Z + 3) / 6).astype(Z.dtype, copy=False)


def hard_sigmoid_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """dZ = dA / 6 where -3 < Z < 3, else 0 (0 at both kinks, as in Keras)."""
    return (relu6_backward(dA, Z + 3, A) / 6).astype(dA.dtype, copy=False)


def silu(Z: np.ndarray) -> np.ndarray:
    """A = Z * sigmoid(Z) (also called swish)."""
    return Z * sigmoid(Z)


def silu_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """dZ = dA * s (1 + Z (1 - s)), s = sigmoid(Z): the product rule on Z * s, s' = s (1 - s).
    (1 - s is computed as sigmoid(-Z), which does not cancel when s is close to 1.)"""
    return dA * (sigmoid(Z) * (1 + Z * sigmoid(-Z)))


swish = silu  # Keras's other name for the same function; activations.get gives "silu"
swish_backward = silu_backward

_erfc = np.frompyfunc(math.erfc, 1, 1)  # NumPy has no erf; the C library's, elementwise
# TensorFlow's gelu casts these two constants through float32 even in float64; so does tinynn,
# for Keras parity. GELU moves by about 1.7e-8 (1 + Z**2) relative: 3e-8 at Z = -1, 1e-6 at
# Z = -8, where GELU is -5e-15.
_SQRT_HALF = _float32(1 / math.sqrt(2))  # 1 / sqrt(2)
_GELU_CUBIC = _float32(0.044715)
_SQRT_2_OVER_PI = 0.7978845608028654  # sqrt(2 / pi), the tanh form's constant


def _normal_cdf(Z: np.ndarray) -> np.ndarray:
    """Phi(Z) = (1 + erf(Z / sqrt 2)) / 2, as erfc(-Z / sqrt 2) / 2 (no cancellation for Z < 0).
    In float64, whatever Z's dtype."""
    return 0.5 * np.asarray(_erfc(-np.asarray(Z, np.float64) * _SQRT_HALF), np.float64)


def gelu(Z: np.ndarray, approximate: bool = False) -> np.ndarray:
    """A = Z * Phi(Z), Phi the standard normal CDF (Keras's default, `approximate=False`).

    approximate=True: A = Z (1 + tanh(u)) / 2, u = sqrt(2/pi) (Z + 0.044715 Z**3), computed as
    Z * sigmoid(2u) (the same number; 1 + tanh(u) cancels for negative Z). The name "gelu"
    means approximate=False, as in Keras (`keras.ops.gelu` defaults to True; the activation
    does not).
    """
    if approximate:
        u = _SQRT_2_OVER_PI * (Z + _GELU_CUBIC * Z**3)
        return Z * sigmoid(2 * u)
    return (Z * _normal_cdf(Z)).astype(Z.dtype, copy=False)


def gelu_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray,
                  approximate: bool = False) -> np.ndarray:
    """dZ = dA * (Phi(Z) + Z phi(Z)), phi(Z) = exp(-Z**2 / 2) / sqrt(2 pi) the normal density
    (written with c = 1/sqrt(2): phi(Z) = c exp(-(c Z)**2) / sqrt(pi)).

    approximate=True: with s = sigmoid(2u), dZ = dA * (s + 2 Z s (1 - s) u'),
    u' = sqrt(2/pi) (1 + 3 * 0.044715 Z**2)  (1 - s computed as sigmoid(-2u)).
    """
    if approximate:
        u = _SQRT_2_OVER_PI * (Z + _GELU_CUBIC * Z**3)
        du = _SQRT_2_OVER_PI * (1 + 3 * _GELU_CUBIC * Z * Z)
        return dA * (sigmoid(2 * u) + 2 * Z * sigmoid(2 * u) * sigmoid(-2 * u) * du)
    cZ = np.asarray(Z, np.float64) * _SQRT_HALF
    density = _SQRT_HALF * np.exp(-cZ * cZ) / math.sqrt(math.pi)
    return (dA * (_normal_cdf(Z) + Z * density)).astype(dA.dtype, copy=False)


def softplus(Z: np.ndarray) -> np.ndarray:
    """A = log(1 + exp(Z)), computed as max(Z, 0) + log(1 + exp(-|Z|)) (no overflow)."""
    return np.logaddexp(0, Z).astype(Z.dtype, copy=False)


def softplus_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """dZ = dA * sigmoid(Z)."""
    return dA * sigmoid(Z)


def softsign(Z: np.ndarray) -> np.ndarray:
    """A = Z / (1 + |Z|)."""
    return Z / (1 + np.abs(Z))


def softsign_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """dZ = dA / (1 + |Z|)**2."""
    d = 1 + np.abs(Z)
    return dA / (d * d)


def exponential(Z: np.ndarray) -> np.ndarray:
    """A = exp(Z) (inf beyond Z = 709 in float64, 88 in float32, silently, as in Keras)."""
    with np.errstate(over="ignore"):
        return np.exp(Z)


def exponential_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """dZ = dA * exp(Z) = dA * A."""
    return dA * A


def softmax(Z: np.ndarray) -> np.ndarray:
    """A_ij = exp(Z_ij) / sum_k exp(Z_ik), over the last axis; the row max is subtracted first."""
    E = np.exp(Z - Z.max(axis=-1, keepdims=True))
    return E / E.sum(axis=-1, keepdims=True)


def softmax_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """dZ_i = A_i * (dA_i - sum_k dA_k A_k): the softmax Jacobian diag(A) - A A^T applied to dA."""
    return A * (dA - (dA * A).sum(axis=-1, keepdims=True))


# ----- the rest of keras.activations (elementwise unless said otherwise) ----------------------

def celu(Z: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """A = max(Z, 0) + alpha (exp(min(Z, 0) / alpha) - 1): ELU continuously differentiable in
    alpha (Barron, 2017)."""
    return np.maximum(Z, 0) + alpha * np.expm1(np.minimum(Z, 0) / alpha)


def celu_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """dZ = dA ([Z >= 0] + [Z <= 0] exp(min(Z, 0) / alpha)): both branches' derivatives at
    Z = 0, where TensorFlow's maximum and minimum each pass the gradient (so 2 there)."""
    return dA * ((Z >= 0) + (Z <= 0) * np.exp(np.minimum(Z, 0) / alpha))


def hard_tanh(Z: np.ndarray) -> np.ndarray:
    """A = clip(Z, -1, 1)."""
    return np.clip(Z, -1.0, 1.0).astype(Z.dtype, copy=False)


def hard_tanh_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """dZ = dA where -1 <= Z <= 1 (TensorFlow's clip passes the gradient at its bounds)."""
    return dA * ((Z >= -1) & (Z <= 1))


def hard_shrink(Z: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """A = Z where |Z| > threshold, else 0."""
    return np.where(np.abs(Z) > threshold, Z, 0).astype(Z.dtype, copy=False)


def hard_shrink_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray,
                         threshold: float = 0.5) -> np.ndarray:
    """dZ = dA where |Z| > threshold, else 0."""
    return dA * (np.abs(Z) > threshold)


def soft_shrink(Z: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """A = Z - threshold above threshold, Z + threshold below -threshold, 0 between."""
    return np.where(Z > threshold, Z - threshold,
                    np.where(Z < -threshold, Z + threshold, 0)).astype(Z.dtype, copy=False)


def soft_shrink_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray,
                         threshold: float = 0.5) -> np.ndarray:
    """dZ = dA where |Z| > threshold, else 0."""
    return dA * (np.abs(Z) > threshold)


def tanh_shrink(Z: np.ndarray) -> np.ndarray:
    """A = Z - tanh(Z)."""
    return Z - np.tanh(Z)


def tanh_shrink_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """dZ = dA - dA (1 - tanh(Z)**2) (= dA tanh(Z)**2, in TensorFlow's order)."""
    T = np.tanh(Z)
    return dA - dA * (1 - T * T)


def squareplus(Z: np.ndarray, b: float = 4) -> np.ndarray:
    """A = (Z + sqrt(Z**2 + b)) / 2: a smooth relu (Barron, 2021)."""
    return (Z + np.sqrt(np.square(Z) + np.asarray(b, Z.dtype))) / 2


def squareplus_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray, b: float = 4) -> np.ndarray:
    """dZ = dA (1 + Z / sqrt(Z**2 + b)) / 2."""
    return dA * (1 + Z / np.sqrt(np.square(Z) + np.asarray(b, Z.dtype))) / 2


def sparse_plus(Z: np.ndarray) -> np.ndarray:
    """A = 0 for Z <= -1, (Z + 1)**2 / 4 for -1 < Z < 1, Z for Z >= 1."""
    return np.where(Z <= -1, 0, np.where(Z < 1, np.square(Z + 1) / 4, Z)).astype(Z.dtype,
                                                                                copy=False)


def sparse_plus_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """dZ = dA * (0, (Z + 1) / 2, 1) on the three pieces."""
    return dA * np.where(Z <= -1, 0, np.where(Z < 1, (Z + 1) / 2, 1))


def log_sigmoid(Z: np.ndarray) -> np.ndarray:
    """A = log(sigmoid(Z)) = -softplus(-Z) (no overflow)."""
    return -softplus(-Z)


def log_sigmoid_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """dZ = dA * sigmoid(-Z) (= 1 - sigmoid(Z), without cancelling)."""
    return dA * sigmoid(-Z)


def hard_silu(Z: np.ndarray) -> np.ndarray:
    """A = Z * hard_sigmoid(Z) (also called hard_swish)."""
    return Z * hard_sigmoid(Z)


def hard_silu_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """dZ = dA (hard_sigmoid(Z) + Z / 6 [-3 < Z < 3]), the product rule."""
    return dA * hard_sigmoid(Z) + Z * hard_sigmoid_backward(dA, Z, None)


hard_swish = hard_silu  # Keras's other name; activations.get gives "hard_silu"
hard_swish_backward = hard_silu_backward


def mish(Z: np.ndarray) -> np.ndarray:
    """A = Z * tanh(softplus(Z)) (Misra, 2019)."""
    return Z * np.tanh(softplus(Z))


def mish_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """dZ = dA (t + Z (1 - t**2) sigmoid(Z)), t = tanh(softplus(Z)): the product rule, then
    the chain rule through tanh and softplus."""
    T = np.tanh(softplus(Z))
    return dA * (T + Z * (1 - T * T) * sigmoid(Z))


def log_softmax(Z: np.ndarray) -> np.ndarray:
    """A = Z - log(sum_j exp(Z_j)) over the last axis, shifted by the row max (not
    elementwise: each output depends on the whole row)."""
    S = Z - Z.max(axis=-1, keepdims=True)
    return S - np.log(np.exp(S).sum(axis=-1, keepdims=True))


def log_softmax_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """dZ = dA - softmax(Z) rowsum(dA): the Jacobian of log softmax is I - 1 softmax(Z)^T
    (softmax(Z) = exp(A))."""
    return dA - np.exp(A) * dA.sum(axis=-1, keepdims=True)


_FORWARD_BACKWARD: dict[str, tuple[Callable, Callable]] = {
    "linear": (linear, linear_backward),
    "relu": (relu, relu_backward),
    "leaky_relu": (leaky_relu, leaky_relu_backward),
    "relu6": (relu6, relu6_backward),
    "elu": (elu, elu_backward),
    "selu": (selu, selu_backward),
    "gelu": (gelu, gelu_backward),
    "silu": (silu, silu_backward),
    "tanh": (tanh, tanh_backward),
    "sigmoid": (sigmoid, sigmoid_backward),
    "hard_sigmoid": (hard_sigmoid, hard_sigmoid_backward),
    "softplus": (softplus, softplus_backward),
    "softsign": (softsign, softsign_backward),
    "exponential": (exponential, exponential_backward),
    "softmax": (softmax, softmax_backward),
    "celu": (celu, celu_backward),
    "hard_tanh": (hard_tanh, hard_tanh_backward),
    "hard_shrink": (hard_shrink, hard_shrink_backward),
    "soft_shrink": (soft_shrink, soft_shrink_backward),
    "tanh_shrink": (tanh_shrink, tanh_shrink_backward),
    "squareplus": (squareplus, squareplus_backward),
    "sparse_plus": (sparse_plus, sparse_plus_backward),
    "log_sigmoid": (log_sigmoid, log_sigmoid_backward),
    "hard_silu": (hard_silu, hard_silu_backward),
    "mish": (mish, mish_backward),
    "log_softmax": (log_softmax, log_softmax_backward),
}
# as in Keras: Dense(activation="swish") is saved as "silu", "hard_swish" as "hard_silu"
_ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}


def get(identifier: "str | Callable | None") -> str:
    """Resolve an activation given as a name, one of this module's functions, or None (linear).

    Returns the canonical name; `forward_backward(name)` gives the two functions.
    """
    if identifier is None:
        return "linear"
    known = ", ".join(sorted([*_FORWARD_BACKWARD, *_ALIASES]))
    if callable(identifier):
        for name, (forward, _) in _FORWARD_BACKWARD.items():
            if identifier is forward:
                return name
        raise ValueError(
            f"Unknown activation function {identifier!r}. tinynn knows: {known} (pass one of "
            "them or its name)."
        )
    if isinstance(identifier, str):
        name = _ALIASES.get(identifier.lower(), identifier.lower())
        if name in _FORWARD_BACKWARD:
            return name
    raise ValueError(f"Unknown activation {identifier!r}. Known activations: {known}.")


def forward_backward(name: str) -> tuple[Callable, Callable]:
    """The (forward, backward) pair of a canonical activation name."""
    return _FORWARD_BACKWARD[get(name)]
