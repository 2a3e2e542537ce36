"""The math of every layer, loss and optimizer, in plain NumPy: the reference backend.

Two kinds of functions live here, and nothing else: this module imports only NumPy and the
other pure-math modules (`activations`, `losses`), never a layer, a model or an optimizer.

- **Textbook functions**, one formula each: `dense_forward`, `dense_backward`, `dropout_mask`, ...
  They are what a student reads next to docs/backprop.md, and what the layers call.
- **Fused operations**, the few the training loop's hot path runs (`dense_activation_forward`,
  `adam_update`, ...). Each is written here as the composition of textbook lines; the numba
  module `tinynn.kernels` implements some of them again, with the same signatures, as fused
  kernels, and the tests prove the two equal. An operation `tinynn.kernels` does not define is
  taken from this module, so a new layer never needs a kernel. Arguments named `out_*` are
  written in place.
"""

import numpy as np

from tinynn import activations, losses

# ----- Dense: Z = X @ W + b -------------------------------------------------------------------

def dense_forward(X: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Z = X @ W + b.   Shapes: X (N, n_in), W (n_in, units), b (units,) -> Z (N, units)."""
    return X @ W + b


def dense_backward(dZ: np.ndarray, X: np.ndarray, W: np.ndarray):
    """Chain rule through Z = X @ W + b: dX = dZ @ W.T, dW = X.T @ dZ, db = sum_rows(dZ)."""
    return dZ @ W.T, X.T @ dZ, dZ.sum(axis=0)


def dense_activation_forward(X, W, b, activation: str):
    """Z = X @ W + b, A = f(Z).  Returns (Z, A)."""
    Z = dense_forward(X, W, b)
    return Z, activations.forward_backward(activation)[0](Z)


def dense_activation_backward(dA, X, W, Z, A, activation: str, out_dW, out_db,
                              need_dX: bool = True):
    """dZ = dA * f'(Z) (for softmax, its Jacobian applied to dA: `activations.softmax_backward`),
    then dW = X.T @ dZ, db = sum_rows(dZ), dX = dZ @ W.T.

    Writes dW and db into out_dW and out_db; returns dX (None when not needed).
    """
    dZ = activations.forward_backward(activation)[1](dA, Z, A)
    return dense_backward_into(dZ, X, W, out_dW, out_db, need_dX)


def dense_backward_into(dZ, X, W, out_dW, out_db, need_dX: bool = True):
    """`dense_backward` from the gradient w.r.t. Z, writing dW and db into out_dW and out_db."""
    dX, dW, db = dense_backward(dZ, X, W)
    out_dW[...] = dW
    out_db[...] = db
    return dX if need_dX else None


# ----- Dropout: Y = X * mask ------------------------------------------------------------------

def dropout_mask(U: np.ndarray, rate: float, dtype) -> np.ndarray:
    """Inverted-dropout mask from uniforms U in [0, 1): 0 where U < rate (probability `rate`),
    else 1 / (1 - rate), so that E[mask] = 1."""
    return (U >= rate).astype(dtype) * np.asarray(1.0 / (1.0 - rate), dtype=dtype)


def dropout_forward(X: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Y = X * mask."""
    return X * mask


def dropout_backward(dY: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """dX = dY * mask (the mask is a constant of the forward pass)."""
    return dY * mask


def dropout_train(X, U, rate: float):
    """mask = [U >= rate] / (1 - rate) for uniforms U in [0, 1); Y = X * mask. Returns (Y, mask)."""
    mask = dropout_mask(U, rate, X.dtype)
    return dropout_forward(X, mask), mask


# The uniforms of a training pass: a counter-based stream, U_i = h(key + (i + 1) * gamma).
# A Python-drawn array of uniforms would have to be made outside any fused kernel; a hash of
# (key, i) can be computed anywhere, in any order, in parallel, and is the same number in NumPy
# and in numba, so the training engine can make the mask inside its own compiled loop. h is the
# output function of SplitMix64 (Steele, Lea & Flood, "Fast splittable pseudorandom number
# generators", OOPSLA 2014; the constants are those of Java's SplittableRandom and Vigna's
# splitmix64.c), whose successive states are key + k * gamma, gamma = 0x9E3779B97F4A7C15
# (2**64 / golden ratio, odd). Key 0 gives splitmix64.c's outputs for seed 0 (tested).
_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX_1, _MIX_2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_SHIFTS = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(40)
_TWO_POW_MINUS_24 = np.float32(2.0 ** -24)


def counter_uniform(key, n: int) -> np.ndarray:
    """U_i for i = 0 .. n-1, the SplitMix64 hash of (key, i), all arithmetic mod 2**64:

        z = key + (i + 1) * 0x9E3779B97F4A7C15
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB
        z = z ^ (z >> 31)
        U_i = (z >> 40) * 2**-24

    U_i takes the 2**24 values k / 2**24 in [0, 1), each exactly a float32. Every operand is a
    np.uint64, so NumPy wraps around silently (no float64, no warning on an array).

    Args:
        key: the stream's key, an integer in [0, 2**64).
        n: how many uniforms.

    Returns:
        float32 array of shape (n,).
    """
    s30, s27, s31, s40 = _SHIFTS
    z = np.uint64(key) + np.arange(1, n + 1, dtype=np.uint64) * _GAMMA
    z = (z ^ (z >> s30)) * _MIX_1
    z = (z ^ (z >> s27)) * _MIX_2
    z ^= z >> s31
    return (z >> s40).astype(np.float32) * _TWO_POW_MINUS_24


def dropout_train_keyed(X, key, rate: float):
    """`dropout_train` with the uniforms of `counter_uniform(key, X.size)`: U for the entry at
    flat position i of X (C order, X seen as (N, -1)) is U_i, and the unit is kept where
    U_i >= float32(rate) (NumPy compares a float32 array with a Python float in float32; the
    kernels compare the same way, whatever X's dtype).  Returns (Y, mask).

    Shapes: X any shape (N, ...); Y and mask the same.
    """
    return dropout_train(X, counter_uniform(key, X.size).reshape(X.shape), float(rate))


# ----- softmax cross-entropy ------------------------------------------------------------------

def softmax_cross_entropy_with_gradient(Z, y):
    """Per-sample losses logsumexp(Z_i) - Z_i[y_i] and the mean loss's gradient
    (softmax(Z) - onehot(y)) / N, in one call.  Returns (losses (N,), dZ (N, C))."""
    return losses.softmax_cross_entropy(Z, y), losses.softmax_cross_entropy_backward(Z, y)


# ----- optimizer updates: lists of weights W, gradients G and state, updated in place -------

def squared_norm(G: list) -> float:
    """sum_k sum_i G_k[i]**2, each array's sum in its own dtype (so it is inf once a square or
    the sum overflows that dtype, and NaN when an entry is NaN), the arrays' sums added in
    float64. The training loop's check of a gradient before the update (`tinynn.safety`)."""
    return float(sum(np.dot(g.ravel(), g.ravel()) for g in G))


def adam_update(W: list, G: list, M: list, V: list, alpha, one_minus_beta_1, one_minus_beta_2,
                epsilon) -> None:
    """For each weight w with gradient g and moments m, v:
    m += (g - m)(1 - beta_1);  v += (g^2 - v)(1 - beta_2);  w -= m alpha / (sqrt(v) + eps)."""
    for w, g, m, v in zip(W, G, M, V, strict=True):
        m += (g - m) * one_minus_beta_1
        v += (g * g - v) * one_minus_beta_2
        w -= (m * alpha) / (np.sqrt(v) + epsilon)


def rmsprop_update(W: list, G: list, velocities: list, average_grads: list,
                   momentum_buffers: list, learning_rate, rho, one_minus_rho, epsilon, momentum,
                   centered: bool) -> None:
    """For each weight: v = rho v + (1 - rho) g^2;  w -= lr g / sqrt(v + eps).

    centered: a = rho a + (1 - rho) g and the denominator is sqrt(v - a^2 + eps).
    momentum > 0: b = momentum b + step;  w -= b.  Unused buffers are not touched.
    """
    for w, g, v, a, b in zip(W, G, velocities, average_grads, momentum_buffers, strict=True):
        v[...] = rho * v + one_minus_rho * (g * g)
        if centered:
            a[...] = rho * a + one_minus_rho * g
            denominator = v - a * a + epsilon
        else:
            denominator = v + epsilon
        step = (learning_rate * g) / np.sqrt(denominator)
        if momentum > 0:
            b[...] = momentum * b + step
            w -= b
        else:
            w -= step


def sgd_update(W: list, G: list, velocities: list, learning_rate, momentum,
               nesterov: bool) -> None:
    """For each weight: v = mu v - lr g;  w += v  (nesterov: w += mu v - lr g).
    With momentum 0: w -= lr g (the velocities are not touched)."""
    for w, g, v in zip(W, G, velocities, strict=True):
        if momentum == 0:
            w -= learning_rate * g
            continue
        v[...] = v * momentum - g * learning_rate
        if nesterov:
            w += v * momentum - g * learning_rate
        else:
            w += v


# ----- normalization: Xhat = (X - mean) / sqrt(var + epsilon), Y = gamma * Xhat + beta --------

def moments(X: np.ndarray, axis: int = 0):
    """mean = (1/N) sum X and var = (1/N) sum (X - mean)^2 along `axis`: the biased variance,
    as Keras (tf.nn.moments) computes it. Returns (mean, var), `axis` kept (keepdims)."""
    mean = X.mean(axis=axis, keepdims=True)
    return mean, np.square(X - mean).mean(axis=axis, keepdims=True)


def batchnorm_forward(X, mean, var, gamma, beta, epsilon: float):
    """inv_std = 1 / sqrt(var + eps), Xhat = (X - mean) * inv_std, Y = gamma * Xhat + beta, per
    feature (column). Shapes: X (N, C); mean, var, gamma, beta (C,) or (1, C).
    Returns (Y, Xhat, inv_std)."""
    inv_std = 1 / np.sqrt(var + X.dtype.type(epsilon))
    Xhat = (X - mean) * inv_std
    return gamma * Xhat + beta, Xhat, inv_std


def batchnorm_backward(dY, Xhat, gamma, inv_std):
    """Backward through batch normalization with the batch's own mean and variance (training):
    dgamma = sum_rows(dY * Xhat), dbeta = sum_rows(dY),
    dX = (1/N) * gamma * inv_std * (N * dY - sum_rows(dY) - Xhat * sum_rows(dY * Xhat)).
    (Derived in `tinynn.normalization.BatchNormalization`.)  Returns (dX, dgamma, dbeta)."""
    n = Xhat.shape[0]
    dbeta = dY.sum(axis=0)
    dgamma = (dY * Xhat).sum(axis=0)
    dX = (gamma * inv_std / n) * (n * dY - dbeta - Xhat * dgamma)
    return dX, dgamma, dbeta


def batchnorm_inference_backward(dY, Xhat, gamma, inv_std):
    """Backward with constant (moving) statistics: Y is affine in X, so dX = dY * gamma * inv_std;
    dgamma = sum_rows(dY * Xhat), dbeta = sum_rows(dY).  Returns (dX, dgamma, dbeta)."""
    return dY * (gamma * inv_std), (dY * Xhat).sum(axis=0), dY.sum(axis=0)


def batchnorm_train(X, gamma, beta, epsilon: float):
    """Training-mode forward: the batch's moments, then `batchnorm_forward` with them.
    Returns (Y, Xhat, inv_std, mean, var); inv_std, mean and var have shape (C,)."""
    mean, var = moments(X, axis=0)
    Y, Xhat, inv_std = batchnorm_forward(X, mean[0], var[0], gamma, beta, epsilon)
    return Y, Xhat, inv_std, mean[0], var[0]


def layernorm_forward(X, gamma, beta, epsilon: float):
    """Per sample (row): mean, var over its features; inv_std = 1 / sqrt(var + eps);
    Xhat = (X - mean) * inv_std; Y = gamma * Xhat + beta.  Returns (Y, Xhat, inv_std (N, 1))."""
    mean, var = moments(X, axis=1)
    inv_std = 1 / np.sqrt(var + X.dtype.type(epsilon))
    Xhat = (X - mean) * inv_std
    return gamma * Xhat + beta, Xhat, inv_std


def layernorm_backward(dY, Xhat, gamma, inv_std):
    """Batch normalization's backward, transposed: the statistics are per row, over C features.
    dXhat = dY * gamma; dX = (inv_std / C) * (C * dXhat - sum_cols(dXhat)
    - Xhat * sum_cols(dXhat * Xhat)); dgamma = sum_rows(dY * Xhat), dbeta = sum_rows(dY).
    Returns (dX, dgamma, dbeta)."""
    c = Xhat.shape[1]
    dXhat = dY * gamma
    dX = (inv_std / c) * (c * dXhat - dXhat.sum(axis=1, keepdims=True)
                          - Xhat * (dXhat * Xhat).sum(axis=1, keepdims=True))
    return dX, (dY * Xhat).sum(axis=0), dY.sum(axis=0)


def rms_scaling_forward(X, gamma, epsilon: float):
    """Keras's LayerNormalization(rms_scaling=True): inv_std = 1 / sqrt(var + eps) with var the
    (centred) variance of each row, Y = gamma * X * inv_std: no centring, no beta.
    Returns (Y, inv_std (N, 1))."""
    _, var = moments(X, axis=1)
    inv_std = 1 / np.sqrt(var + X.dtype.type(epsilon))
    return gamma * (X * inv_std), inv_std


def rms_scaling_backward(dY, X, gamma, inv_std):
    """G = dY * gamma;  dX = inv_std * G - inv_std^3 * (X - mean) / C * sum_cols(G * X)
    (from d var / dX = 2 (X - mean) / C);  dgamma = sum_rows(dY * X * inv_std).
    Returns (dX, dgamma)."""
    c = X.shape[1]
    G = dY * gamma
    Xc = X - X.mean(axis=1, keepdims=True)
    dX = inv_std * G - inv_std**3 * Xc / X.dtype.type(c) * (G * X).sum(axis=1, keepdims=True)
    return dX, (dY * (X * inv_std)).sum(axis=0)


def amsgrad_update(W: list, G: list, M: list, V: list, V_hat: list, alpha, one_minus_beta_1,
                   one_minus_beta_2, epsilon) -> None:
    """Adam's moments, then v_hat = max(v_hat, v);  w -= m alpha / (sqrt(v_hat) + eps)."""
    for w, g, m, v, v_hat in zip(W, G, M, V, V_hat, strict=True):
        m += (g - m) * one_minus_beta_1
        v += (g * g - v) * one_minus_beta_2
        np.maximum(v_hat, v, out=v_hat)
        w -= (m * alpha) / (np.sqrt(v_hat) + epsilon)


def nadam_update(W: list, G: list, M: list, V: list, learning_rate, one_minus_beta_1,
                 one_minus_beta_2, u_t, u_t_1, u_product_t, u_product_t_1, beta_2_power,
                 epsilon) -> None:
    """m += (g - m)(1 - beta_1);  v += (g^2 - v)(1 - beta_2);
    m_hat = u_{t+1} m / (1 - U_t u_{t+1}) + (1 - u_t) g / (1 - U_t);  v_hat = v / (1 - beta_2^t);
    w -= m_hat lr / (sqrt(v_hat) + eps)."""
    for w, g, m, v in zip(W, G, M, V, strict=True):
        m += (g - m) * one_minus_beta_1
        v += (g * g - v) * one_minus_beta_2
        m_hat = (u_t_1 * m) / (1 - u_product_t_1) + ((1 - u_t) * g) / (1 - u_product_t)
        v_hat = v / (1 - beta_2_power)
        w -= (m_hat * learning_rate) / (np.sqrt(v_hat) + epsilon)


def adamax_update(W: list, G: list, M: list, U: list, learning_rate, one_minus_beta_1, beta_2,
                  one_minus_beta_1_power, epsilon) -> None:
    """m += (g - m)(1 - beta_1);  u = max(beta_2 u, |g|);  w -= lr m / ((1 - beta_1^t)(u + eps))."""
    for w, g, m, u in zip(W, G, M, U, strict=True):
        m += (g - m) * one_minus_beta_1
        np.maximum(beta_2 * u, np.abs(g), out=u)
        w -= (learning_rate * m) / (one_minus_beta_1_power * (u + epsilon))


def adagrad_update(W: list, G: list, A: list, learning_rate, epsilon) -> None:
    """a += g^2;  w -= lr g / sqrt(a + eps)."""
    for w, g, a in zip(W, G, A, strict=True):
        a += g * g
        w -= (learning_rate * g) / np.sqrt(a + epsilon)


def adadelta_update(W: list, G: list, A: list, D: list, learning_rate, rho, one_minus_rho,
                    epsilon) -> None:
    """a = rho a + (1 - rho) g^2;  delta = -sqrt(d + eps) g / sqrt(a + eps);
    d = rho d + (1 - rho) delta^2;  w += lr delta."""
    for w, g, a, d in zip(W, G, A, D, strict=True):
        a[...] = rho * a + one_minus_rho * (g * g)
        delta = -((np.sqrt(d + epsilon) * g) / np.sqrt(a + epsilon))
        d[...] = rho * d + one_minus_rho * (delta * delta)
        w += learning_rate * delta


def lion_update(W: list, G: list, M: list, learning_rate, beta_1, beta_2) -> None:
    """w -= lr sign(beta_1 m + (1 - beta_1) g);  m = beta_2 m + (1 - beta_2) g."""
    for w, g, m in zip(W, G, M, strict=True):
        w -= learning_rate * np.sign(m * beta_1 + g * (1 - beta_1))
        m[...] = m * beta_2 + g * (1 - beta_2)


# ----- what every optimizer may do around its update (Keras's common arguments) ---------------

def clip_by_norm(G: list, clipnorm) -> list:
    """Each gradient scaled to L2 norm at most c:  g * c / max(||g||, c)  (new arrays)."""
    out = []
    for g in G:
        c = g.dtype.type(clipnorm)
        out.append((g * c) / np.maximum(np.sqrt(np.sum(g * g)), c))
    return out


def clip_by_global_norm(G: list, clipnorm) -> list:
    """All gradients scaled together so that their global norm sqrt(sum ||g||^2) is at most c:
    g * c * min(1 / norm, 1 / c)  (new arrays; a non-finite norm makes every gradient NaN)."""
    f = G[0].dtype.type
    norm = np.sqrt(np.sum([np.sum(g * g) for g in G], dtype=f))
    scale = f(clipnorm) * np.minimum(1.0 / norm, f(1.0 / clipnorm)) + (norm - norm)
    return [g * scale for g in G]


def clip_by_value(G: list, clipvalue) -> list:
    """Each gradient element clipped to [-c, c]  (new arrays)."""
    return [np.clip(g, -clipvalue, clipvalue) for g in G]


def decay_weights(W: list, weight_decay, learning_rate) -> None:
    """Decoupled weight decay:  w -= w * weight_decay * lr."""
    for w in W:
        w -= w * weight_decay * learning_rate


def ema_update(averages: list, W: list, momentum) -> None:
    """Exponential moving average of the weights:  a = momentum a + (1 - momentum) w."""
    for a, w in zip(averages, W, strict=True):
        a[...] = momentum * a + (1 - momentum) * w
