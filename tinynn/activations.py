"""Activation functions, each a forward `A = f(Z)` and a backward from `dA` (= dL/dA) to `dZ`.

The elementwise ones (linear, relu, tanh, sigmoid) act on each entry alone, so their Jacobian is
diagonal and the backward is `dZ = dA * f'(Z)`, entry by entry. Softmax is not elementwise: each
output of a row depends on the whole row, and its backward is the Jacobian-vector product
`dZ = A * (dA - rowsum(dA * A))` (see `softmax_backward`), not `dA * f'(Z)`.

Every backward receives the upstream gradient `dA` together with the forward's input `Z` and output
`A`, and uses whichever makes the derivative cheapest (tanh' = 1 - A**2 needs only A).
"""

from collections.abc import Callable

import numpy as np


def linear(Z: np.ndarray) -> np.ndarray:
    """A = Z."""
    return Z


def linear_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """dZ = dA."""
    return dA


def relu(Z: np.ndarray) -> np.ndarray:
    """A = max(Z, 0)."""
    return np.maximum(Z, 0)


def relu_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """dZ = dA * [Z > 0]  (the derivative at exactly 0 is taken as 0, as in Keras)."""
    return dA * (Z > 0)


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


def softmax(Z: np.ndarray) -> np.ndarray:
    """A_ij = exp(Z_ij) / sum_k exp(Z_ik), over the last axis; the row max is subtracted first."""
    E = np.exp(Z - Z.max(axis=-1, keepdims=True))
    return E / E.sum(axis=-1, keepdims=True)


def softmax_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """dZ_i = A_i * (dA_i - sum_k dA_k A_k): the softmax Jacobian diag(A) - A A^T applied to dA."""
    return A * (dA - (dA * A).sum(axis=-1, keepdims=True))


_FORWARD_BACKWARD: dict[str, tuple[Callable, Callable]] = {
    "linear": (linear, linear_backward),
    "relu": (relu, relu_backward),
    "tanh": (tanh, tanh_backward),
    "sigmoid": (sigmoid, sigmoid_backward),
    "softmax": (softmax, softmax_backward),
}


def get(identifier: "str | Callable | None") -> str:
    """Resolve an activation given as a name, one of this module's functions, or None (linear).

    Returns the canonical name; `forward_backward(name)` gives the two functions.
    """
    if identifier is None:
        return "linear"
    if callable(identifier):
        for name, (forward, _) in _FORWARD_BACKWARD.items():
            if identifier is forward:
                return name
        raise ValueError(
            f"Unknown activation function {identifier!r}. tinynn knows: "
            f"{', '.join(sorted(_FORWARD_BACKWARD))} (pass one of them or its name)."
        )
    if isinstance(identifier, str) and identifier.lower() in _FORWARD_BACKWARD:
        return identifier.lower()
    raise ValueError(
        f"Unknown activation {identifier!r}. Known activations: "
        f"{', '.join(sorted(_FORWARD_BACKWARD))}."
    )


def forward_backward(name: str) -> tuple[Callable, Callable]:
    """The (forward, backward) pair of a canonical activation name."""
    return _FORWARD_BACKWARD[get(name)]
