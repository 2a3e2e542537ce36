"""Exercise 1: the dense layer.   Grade it with:  pytest exercises/ -k dense

Forward. For a batch of N samples with n_in features, a layer of `units` outputs computes

    Z_nj = sum_i X_ni W_ij + b_j

    X (N, n_in)    W (n_in, units)    b (units,)    ->    Z (N, units)

Backward. The layer receives dZ = dL/dZ, shape (N, units), and returns the gradients of the same
scalar loss L with respect to its input and its parameters. By the chain rule (each Z_nj depends
on W_ij through X_ni, on b_j with slope 1, on X_ni through W_ij):

    dW_ij = sum_n X_ni dZ_nj          dW (n_in, units)   the shape of W
    db_j  = sum_n dZ_nj               db (units,)        the shape of b
    dX_ni = sum_j dZ_nj W_ij          dX (N, n_in)       the shape of X

Write each with NumPy matrix products and sums (no Python loops). A gradient always has the shape
of what it is the gradient of: if a product does not fit, a transpose is missing.

The grader checks the shapes, runs `tinynn.gradcheck` on a layer built from your two functions
(your backward against central differences of your own forward), compares you with
`tinynn.ops.dense_forward` / `dense_backward`, and finally trains a Fashion-MNIST classifier
whose two Dense layers are yours.
"""

import numpy as np


def dense_forward(X: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Z = X W + b.   X (N, n_in), W (n_in, units), b (units,) -> Z (N, units)."""
    # TODO: one line.
    raise NotImplementedError("compute Z from X, W and b")


def dense_backward(dZ: np.ndarray, X: np.ndarray, W: np.ndarray):
    """The gradients (dX, dW, db) from dZ (N, units) and the forward's X and W.

    Returns:
        dX (N, n_in), dW (n_in, units), db (units,), in that order.
    """
    # TODO: three lines, one per formula in the module docstring.
    raise NotImplementedError("compute dX, dW and db from dZ, X and W")
