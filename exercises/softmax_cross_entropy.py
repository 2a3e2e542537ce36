"""Exercise 4: softmax and cross-entropy.   Grade it with:  pytest exercises/ -k softmax

For N samples with logits Z (N, C) over C classes and integer labels y (N,), 0 <= y_n < C:

    P_nj = exp(Z_nj) / sum_k exp(Z_nk)                  softmax, row by row: P (N, C)
    l_n  = -log P_n,y_n = logsumexp(Z_n) - Z_n,y_n      per-sample loss: l (N,)
    L    = (1/N) sum_n l_n                              the loss: the mean over the batch

    logsumexp(z) = log sum_k exp(z_k) = m + log sum_k exp(z_k - m)   for any m, e.g. m = max(z)

Backward: the gradient of the mean loss L with respect to the logits,

    dZ_nj = (P_nj - [j = y_n]) / N                      dZ (N, C)

where [j = y_n] is 1 for the label's column and 0 elsewhere (the one-hot encoding of y).

Numerics: exp(1000) overflows to inf. Subtracting each row's maximum before exp changes neither
P nor l (the m above), and keeps every exp <= 1. Compute l from the logits as written, not as
log(P): a probability that rounds to 0 would give log(0) = -inf.

The grader checks the shapes, compares the gradient with central differences of your own mean
loss, checks huge logits give finite results, compares you with `tinynn.activations.softmax`
and `tinynn.losses.softmax_cross_entropy` / `softmax_cross_entropy_backward`, and trains a
Fashion-MNIST classifier with your loss (a `tinynn.losses.Loss` whose call and gradient are
yours).
"""

import numpy as np


def softmax(Z: np.ndarray) -> np.ndarray:
    """P = softmax(Z), each row.   Z (N, C) -> P (N, C), rows summing to 1."""
    # TODO
    raise NotImplementedError("compute P row by row, subtracting each row's max first")


def softmax_cross_entropy(Z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-sample losses l_n = logsumexp(Z_n) - Z_n,y_n.   Z (N, C), y (N,) -> l (N,)."""
    # TODO: the rows' logsumexp, minus each row's logit of its label (y may index the columns).
    raise NotImplementedError("compute the per-sample losses from the logits")


def softmax_cross_entropy_backward(Z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dZ = (softmax(Z) - onehot(y)) / N, the gradient of the mean loss.   -> dZ (N, C)."""
    # TODO
    raise NotImplementedError("compute dZ: P, minus 1 at each label, over N")
