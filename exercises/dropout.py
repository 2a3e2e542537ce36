"""Exercise 5: inverted dropout.   Grade it with:  pytest exercises/ -k dropout

In training, each entry of X is dropped (set to 0) with probability `rate` and the kept ones are
scaled up by 1 / (1 - rate), so that the expected value of every output equals its input and
nothing needs rescaling at inference (where the layer is the identity; the layer handles that).

Given uniforms U drawn in [0, 1), one per entry, a fixed source of randomness:

    mask_ij = 0               if U_ij < rate      (probability `rate`)
              1 / (1 - rate)  otherwise
    Y = X * mask                                  X, U, mask, Y (N, units)

Backward: the mask is a constant of this forward pass, so

    dX = dY * mask                                 with the SAME mask the forward used

The grader checks the shapes, the fraction dropped and the scale, that the expected output is X,
runs `tinynn.gradcheck` on a layer made of your functions (with a frozen mask), compares you with
`tinynn.ops.dropout_train` / `dropout_backward`, and trains a Fashion-MNIST classifier with your
dropout in it.
"""

import numpy as np


def dropout_forward(X: np.ndarray, U: np.ndarray, rate: float):
    """Y and the mask from uniforms U.   X, U (N, units), 0 <= rate < 1 -> (Y, mask).

    Y and mask are both (N, units); the mask should have X's dtype.
    """
    # TODO: the mask from U and rate, then Y.
    raise NotImplementedError("make the mask from U and rate, then Y = X * mask")


def dropout_backward(dY: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """dX from dY and the forward's mask.   dY, mask (N, units) -> dX (N, units)."""
    # TODO
    raise NotImplementedError("compute dX from dY and the mask")
