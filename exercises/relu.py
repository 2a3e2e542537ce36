"""Exercise 2: the ReLU activation.   Grade it with:  pytest exercises/ -k relu

Forward, entry by entry:

    A = max(Z, 0)                     Z (N, units) -> A (N, units)

Backward. ReLU acts on each entry alone, so dL/dZ_nj involves only dL/dA_nj:

    dZ_nj = dA_nj * f'(Z_nj),    f'(z) = 1 if z > 0 else 0

(At exactly z = 0 the derivative does not exist; use 0 there, as Keras and tinynn do.)
The backward receives the forward's input Z and output A as well as dA; use whichever you need.

The grader checks the shapes, runs `tinynn.gradcheck` on a layer made of your two functions,
compares you with `tinynn.activations.relu` / `relu_backward` (zeros included), and trains a
Fashion-MNIST classifier whose hidden activation is yours.
"""

import numpy as np


def relu(Z: np.ndarray) -> np.ndarray:
    """A = max(Z, 0), elementwise.   Z (N, units) -> A (N, units)."""
    # TODO
    raise NotImplementedError("compute A = max(Z, 0)")


def relu_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """dZ = dA * f'(Z).   dA, Z, A (N, units) -> dZ (N, units)."""
    # TODO
    raise NotImplementedError("compute dZ from dA and Z (or A)")
