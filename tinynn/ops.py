"""The operations a layer, a loss or an optimizer needs, in plain NumPy: the reference backend.

Each function composes the textbook pure functions of `layers`, `activations` and `losses`.
`tinynn.kernels` implements the same functions, with the same signatures, as fused numba
kernels; the tests prove the two equal. Arguments named `out_*` are written in place.
"""

import numpy as np

from tinynn import activations, layers, losses


def dense_forward(X, W, b, activation: str):
    """Z = X @ W + b, A = f(Z).  Returns (Z, A)."""
    Z = layers.dense_forward(X, W, b)
    return Z, activations.forward_backward(activation)[0](Z)


def dense_backward(dA, X, W, Z, A, activation: str, out_dW, out_db, need_dX: bool = True):
    """dZ = f'(dA), dW = X.T @ dZ, db = sum_rows(dZ), dX = dZ @ W.T.

    Writes dW and db into out_dW and out_db; returns dX (None when not needed).
    """
    dZ = activations.forward_backward(activation)[1](dA, Z, A)
    return dense_backward_from_logits(dZ, X, W, out_dW, out_db, need_dX)


def dense_backward_from_logits(dZ, X, W, out_dW, out_db, need_dX: bool = True):
    """The linear part of `dense_backward`, from the gradient w.r.t. Z."""
    dX, dW, db = layers.dense_backward(dZ, X, W)
    out_dW[...] = dW
    out_db[...] = db
    return dX if need_dX else None


def dropout_forward(X, U, rate: float):
    """mask = [U >= rate] / (1 - rate) for uniforms U in [0, 1); Y = X * mask. Returns (Y, mask)."""
    mask = layers.dropout_mask(U, rate, X.dtype)
    return layers.dropout_forward(X, mask), mask


def dropout_backward(dY, mask):
    """dX = dY * mask."""
    return layers.dropout_backward(dY, mask)


def softmax_cross_entropy(Z, y):
    """Per-sample losses logsumexp(Z_i) - Z_i[y_i] and the mean loss's gradient
    (softmax(Z) - onehot(y)) / N, in one call.  Returns (losses (N,), dZ (N, C))."""
    return losses.softmax_cross_entropy(Z, y), losses.softmax_cross_entropy_backward(Z, y)


def adam_update(w, g, m, v, alpha, one_minus_beta_1, one_minus_beta_2, epsilon) -> None:
    """m += (g - m)(1 - beta_1);  v += (g^2 - v)(1 - beta_2);  w -= m alpha / (sqrt(v) + eps)."""
    m += (g - m) * one_minus_beta_1
    v += (g * g - v) * one_minus_beta_2
    w -= (m * alpha) / (np.sqrt(v) + epsilon)


def rmsprop_update(w, g, velocity, average_grad, momentum_buffer, learning_rate, rho,
                   one_minus_rho, epsilon, momentum, centered: bool) -> None:
    """v = rho v + (1 - rho) g^2;  w -= lr g / sqrt(v + eps).

    centered: a = rho a + (1 - rho) g and the denominator is sqrt(v - a^2 + eps).
    momentum > 0: b = momentum b + step;  w -= b.  Unused buffers are not touched.
    """
    velocity[...] = rho * velocity + one_minus_rho * (g * g)
    if centered:
        average_grad[...] = rho * average_grad + one_minus_rho * g
        denominator = velocity - average_grad * average_grad + epsilon
    else:
        denominator = velocity + epsilon
    step = (learning_rate * g) / np.sqrt(denominator)
    if momentum > 0:
        momentum_buffer[...] = momentum * momentum_buffer + step
        w -= momentum_buffer
    else:
        w -= step


def sgd_update(w, g, velocity, learning_rate, momentum, nesterov: bool) -> None:
    """v = mu v - lr g;  w += v  (nesterov: w += mu v - lr g).  With momentum 0: w -= lr g."""
    if momentum == 0:
        w -= learning_rate * g
        return
    velocity[...] = velocity * momentum - g * learning_rate
    if nesterov:
        w += velocity * momentum - g * learning_rate
    else:
        w += velocity
