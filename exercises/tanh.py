"""Exercise 3: the tanh activation.   Grade it with:  pytest exercises/ -k tanh

Forward, entry by entry (np.tanh is fine):

    A = tanh(Z) = (exp(Z) - exp(-Z)) / (exp(Z) + exp(-Z))       Z (N, units) -> A (N, units)

Backward. Like ReLU, tanh acts on each entry alone:

    dZ_nj = dA_nj * f'(Z_nj),    f'(z) = 1 - tanh(z)**2

Notice that f'(Z) can be written with the forward's output A alone: the backward receives Z and
A, so it need not compute tanh again.

The grader checks the shapes, runs `tinynn.gradcheck` on a layer made of your two functions,
compares you with `tinynn.activations.tanh` / `tanh_backward`, and trains a Fashion-MNIST
classifier whose hidden activation is yours.
"""

import numpy as np


def tanh(Z: np.ndarray) -> np.ndarray:
    """A = tanh(Z), elementwise.   Z (N, units) -> A (N, units)."""
    # TODO
    raise NotImplementedError("compute A = tanh(Z)")


def tanh_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """dZ = dA * (1 - tanh(Z)**2).   dA, Z, A (N, units) -> dZ (N, units)."""
    # TODO
    raise NotImplementedError("compute dZ from dA and A (or Z)")
