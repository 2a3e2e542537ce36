"""The numba backend: some operations of `tinynn.ops`, same signatures, as fused kernels.

Any operation this module does not define is taken from `tinynn.ops` (the module-level
`__getattr__` at the end), so a new layer, loss or activation runs here with no kernel; a kernel
is added only where a profile shows the hot path needs one.

What is fused, and why. A NumPy expression such as `np.maximum(X @ W + b, 0)` makes one pass
over memory, and one temporary, per operator; at batch 32 these passes, not the arithmetic, are
the cost. Each kernel here makes one pass:
  - dense forward: the product X @ W runs in BLAS (NumPy's, so one BLAS thread pool serves the
    whole program); bias and activation are then applied in one pass over Z;
  - dense backward: the activation derivative and the bias gradient sum_rows(dZ) in one pass,
    then the two products in BLAS, written straight into the gradient buffers;
  - dropout: the uniforms (a counter-based hash, `ops.counter_uniform`), mask and product in
    one pass, with no array of uniforms drawn in Python;
  - softmax cross-entropy: loss and gradient of a row in one pass;
  - batch normalization in training: the forward in three passes (mean, variance, output) and
    the backward in two (the two column sums, then dX), instead of about ten NumPy operators
    each way. Measured 2026-11-25 on a Dense(784 -> 512, relu) + BatchNormalization + Dense(10)
    Adam step at batch 32 (one BLAS thread, loaded machine, medians of 25 interleaved rounds):
    the layer's forward + backward 133 us with NumPy, 47 us fused; the step 1.75 ms with
    NumPy's, 1.62 ms fused, 1.56 ms without the layer (7% of the step saved);
  - every optimizer's update (Adam and AMSGrad, Nadam, Adamax, Adagrad, Adadelta, Lion,
    RMSprop, SGD): one call updates every weight of the model, one pass over each (the lists of
    weights and of their state are handed to numba once, as typed lists, and reused). Measured
    2026-11-25 over the seed MLP's 567k float32 parameters (min of 60 calls, a shared machine):
    the NumPy reference took 0.5-0.7 ms for Adamax, Adagrad, Lion and AMSGrad and 3.5 ms for
    Nadam and Adadelta, against ~0.1 ms for a kernel, for a training step of ~1.4 ms.
    The common arguments (weight decay, clipping, EMA) stay in NumPy: 0.1-0.4 ms each.
  - the gradients' squared norm, which the training loop checks before each update.
Kernels are compiled on first use and cached on disk (cache=True). They use error_model="numpy"
(a division by zero gives inf, as in NumPy, instead of raising): without it numba must check
every division, and the loops cannot be vectorised (serial Adam: 1.4 ms instead of 0.18 ms over
the seed MLP's 567k parameters).

Threads: BLAS owns both cores and every kernel is serial. A parallel (prange) Adam saves 0.08 ms
a step alone, but next to OpenBLAS's spinning threads it made a step 6x slower (measured
2026-11-24: 8.5 ms vs 1.4 ms per step at batch 32), and with BLAS held to one thread the
products lose more than Adam gains (1.5 ms per step).

Constants inside the kernels are typed from the arrays (`Z.dtype.type(0)`): numba unifies a bare
`0` with float32 as float64, and one `x if c else 0` made the whole Adam update run in float64
(0.5 ms instead of 0.17 ms); tests/test_kernels.py inspects the compiled code for it.

Non-finite values come out where the reference puts them. Every comparison that chooses a value
is written so that it is false for NaN and the NaN passes through (`zero if z <= 0 else z`, not
`z if z > 0 else zero`, which would turn a NaN into 0 where `np.maximum(z, 0)` keeps it), and a
value set to zero by a condition is multiplied by zero instead (`g * zero`: NaN or inf gives NaN,
as `dA * (Z > 0)` does); a maximum is `_maximum`, NaN if either side is (as `np.maximum`; the
built-in `max` drops a NaN second argument), and Lion's sign of NaN is NaN. tests/test_kernels.py
checks both backends on NaN and infinities.
"""

import contextlib
import functools

import numba as nb
import numpy as np
from numba import typed

from tinynn import ops

_CODES = {"linear": 0, "relu": 1, "tanh": 2, "sigmoid": 3, "softmax": 4}


@nb.njit(cache=True, error_model="numpy")
def _bias_activation(Z, b, code, A):
    """Z += b (in place); A = f(Z), for the activation numbered `code`."""
    n, units = Z.shape
    zero, one = Z.dtype.type(0), Z.dtype.type(1)  # typed constants: a bare 0 means float64
    for i in range(n):
        for j in range(units):
            Z[i, j] += b[j]
    if code == 1:
        for i in range(n):
            for j in range(units):
                A[i, j] = zero if Z[i, j] <= 0 else Z[i, j]  # NaN stays NaN, as np.maximum
    elif code == 2:
        for i in range(n):
            for j in range(units):
                A[i, j] = np.tanh(Z[i, j])
    elif code == 3:
        for i in range(n):
            for j in range(units):
                z = Z[i, j]
                e = np.exp(-abs(z))
                A[i, j] = one / (one + e) if z >= 0 else e / (one + e)
    elif code == 4:
        for i in range(n):
            top = Z[i, 0]
            for j in range(units):
                top = max(top, Z[i, j])
            total = 0.0
            for j in range(units):
                A[i, j] = np.exp(Z[i, j] - top)
                total += A[i, j]
            for j in range(units):
                A[i, j] /= total
    else:
        A[:, :] = Z


@nb.njit(cache=True, error_model="numpy")
def _activation_backward_colsum(dA, A, code, dZ, db):
    """dZ = dA * f'(Z), with f' written from the output A (relu: [A > 0], tanh: 1 - A**2,
    sigmoid: A (1 - A)); for softmax (code 4) the Jacobian product A * (dA - rowsum(dA * A)).
    db = sum over rows of dZ (accumulated in float64)."""
    n, units = dA.shape
    zero, one = dA.dtype.type(0), dA.dtype.type(1)
    acc = np.zeros(units)
    for i in range(n):
        dot = 0.0
        if code == 4:
            for j in range(units):
                dot += dA[i, j] * A[i, j]
        for j in range(units):
            g = dA[i, j]
            a = A[i, j]
            if code == 1:  # dA * [Z > 0]: NaN or inf times 0 is NaN, as in NumPy
                g = g if a > 0 else g * zero
            elif code == 2:
                g = g * (one - a * a)
            elif code == 3:
                g = g * a * (one - a)
            elif code == 4:
                g = a * (g - dot)
            dZ[i, j] = g
            acc[j] += g
    for j in range(units):
        db[j] = acc[j]


@nb.njit(cache=True, error_model="numpy")
def _colsum(dZ, db):
    acc = np.zeros(dZ.shape[1])
    for i in range(dZ.shape[0]):
        for j in range(dZ.shape[1]):
            acc[j] += dZ[i, j]
    for j in range(dZ.shape[1]):
        db[j] = acc[j]


# SplitMix64's constants (`ops.counter_uniform`), as np.uint64: an int64 operand anywhere in
# the hash (a bare literal, a shift amount, the index) makes numba compute in float64.
_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX_1, _MIX_2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_ONE, _S30, _S27, _S31, _S40 = (np.uint64(k) for k in (1, 30, 27, 31, 40))
_TWO_POW_MINUS_24 = np.float32(2.0 ** -24)


@nb.njit(cache=True, error_model="numpy", inline="always")
def _counter_uniform(key, i):
    """U_i of `ops.counter_uniform(key, n)`, one at a time: the SplitMix64 hash of
    key + (i + 1) * 0x9E3779B97F4A7C15 (mod 2**64), its top 24 bits times 2**-24, a float32 in
    [0, 1). key a np.uint64, i an integer index >= 0. Inlined into its callers (the training
    engine calls it from its own kernels). Without the JIT (NUMBA_DISABLE_JIT=1) it runs on
    NumPy scalars, which warn on the wraparound: callers then run it under
    np.errstate(over="ignore")."""
    z = key + (np.uint64(i) + _ONE) * _GAMMA
    z = (z ^ (z >> _S30)) * _MIX_1
    z = (z ^ (z >> _S27)) * _MIX_2
    z = z ^ (z >> _S31)
    return np.float32(z >> _S40) * _TWO_POW_MINUS_24


@nb.njit(cache=True, error_model="numpy")
def _dropout_keyed(X, key, rate, scale, Y, mask):
    """Flat arrays: U_i = _counter_uniform(key, i), mask_i = scale if U_i >= rate else 0,
    Y_i = X_i * mask_i, in one pass (rate a float32, scale of X's dtype)."""
    zero = X.dtype.type(0)
    for i in range(X.size):
        k = scale if _counter_uniform(key, i) >= rate else zero
        mask[i] = k
        Y[i] = X[i] * k


@nb.njit(cache=True, error_model="numpy")
def _softmax_cross_entropy(Z, y, losses, dZ):
    n, c = Z.shape
    for i in range(n):
        top = Z[i, 0]
        for j in range(c):
            top = max(top, Z[i, j])
        total = 0.0
        for j in range(c):
            total += np.exp(Z[i, j] - top)
        log_total = np.log(total)
        losses[i] = log_total + top - Z[i, y[i]]
        for j in range(c):
            dZ[i, j] = np.exp(Z[i, j] - top - log_total) / n
        dZ[i, y[i]] -= 1 / n


@nb.njit(cache=True, error_model="numpy")
def _batchnorm_train(X, gamma, beta, eps, Y, Xhat, inv_std, mean, var):
    """Column means, then biased variances (row by row, as NumPy sums axis 0), then
    Xhat = (X - mean) * inv_std and Y = gamma * Xhat + beta."""
    n, c = X.shape
    nf, one = X.dtype.type(n), X.dtype.type(1)
    mean[:] = 0
    var[:] = 0
    for i in range(n):
        for j in range(c):
            mean[j] += X[i, j]
    for j in range(c):
        mean[j] /= nf
    for i in range(n):
        for j in range(c):
            d = X[i, j] - mean[j]
            var[j] += d * d
    for j in range(c):
        var[j] /= nf
        inv_std[j] = one / np.sqrt(var[j] + eps)
    for i in range(n):
        for j in range(c):
            Xhat[i, j] = (X[i, j] - mean[j]) * inv_std[j]
            Y[i, j] = gamma[j] * Xhat[i, j] + beta[j]


@nb.njit(cache=True, error_model="numpy")
def _batchnorm_backward(dY, Xhat, gamma, inv_std, dX, dgamma, dbeta):
    """dbeta = sum_rows(dY) and dgamma = sum_rows(dY * Xhat) in one pass, then
    dX = (gamma * inv_std / N) * (N * dY - dbeta - Xhat * dgamma) in another."""
    n, c = dY.shape
    nf = dY.dtype.type(n)
    dgamma[:] = 0
    dbeta[:] = 0
    for i in range(n):
        for j in range(c):
            dbeta[j] += dY[i, j]
            dgamma[j] += dY[i, j] * Xhat[i, j]
    for i in range(n):
        for j in range(c):
            dX[i, j] = (gamma[j] * inv_std[j] / nf) * (nf * dY[i, j] - dbeta[j]
                                                       - Xhat[i, j] * dgamma[j])


@nb.njit(cache=True, error_model="numpy")
def _adam(w, g, m, v, alpha, c1, c2, eps, tiny):
    zero = w.dtype.type(0)  # a bare 0 below would make numba compute the update in float64
    for i in range(w.size):
        mi = m[i] + (g[i] - m[i]) * c1
        vi = v[i] + (g[i] * g[i] - v[i]) * c2
        # flush vanishing moments to zero before they turn subnormal (see adam_update); the
        # comparisons are false for NaN, so a NaN moment stays NaN, as in the reference
        mi = zero if abs(mi) < tiny else mi
        vi = zero if vi < tiny else vi
        m[i] = mi
        v[i] = vi
        w[i] -= (mi * alpha) / (np.sqrt(vi) + eps)


@nb.njit(cache=True, error_model="numpy")
def _rmsprop(w, g, v, a, b, lr, rho, one_minus_rho, eps, momentum, centered):
    zero = w.dtype.type(0)
    for i in range(w.size):
        gi = g[i]
        vi = rho * v[i] + one_minus_rho * (gi * gi)
        v[i] = vi
        if centered:
            ai = rho * a[i] + one_minus_rho * gi
            a[i] = ai
            denominator = vi - ai * ai + eps
        else:
            denominator = vi + eps
        step = (lr * gi) / np.sqrt(denominator)
        if momentum > zero:
            b[i] = momentum * b[i] + step
            w[i] -= b[i]
        else:
            w[i] -= step


@nb.njit(cache=True, error_model="numpy")
def _sgd(w, g, velocity, lr, momentum, nesterov):
    for i in range(w.size):
        if momentum == 0:
            w[i] -= lr * g[i]
        else:
            velocity[i] = velocity[i] * momentum - g[i] * lr
            w[i] += velocity[i] * momentum - g[i] * lr if nesterov else velocity[i]


@nb.njit(cache=True, error_model="numpy", fastmath={"reassoc"})
def _squared_norm_all(G):
    # reassoc (and only it: NaN and inf keep their meaning) lets LLVM vectorise the sums
    total = 0.0
    for k in range(len(G)):
        g = G[k]
        acc = g.dtype.type(0)
        for i in range(g.size):
            acc += g[i] * g[i]
        total += acc
    return total


@nb.njit(cache=True, error_model="numpy")
def _maximum(a, b):
    """np.maximum of two scalars: NaN if either is NaN (Python's and numba's `max` return the
    first argument when the comparison is false, dropping a NaN in the second)."""
    if a > b:
        return a
    if a <= b:
        return b
    return a + b  # unordered: one of them is NaN


@nb.njit(cache=True, error_model="numpy")
def _amsgrad(w, g, m, v, v_hat, alpha, c1, c2, eps, tiny):
    zero = w.dtype.type(0)
    for i in range(w.size):
        mi = m[i] + (g[i] - m[i]) * c1
        vi = v[i] + (g[i] * g[i] - v[i]) * c2
        mi = zero if abs(mi) < tiny else mi
        vi = zero if vi < tiny else vi
        m[i] = mi
        v[i] = vi
        vh = _maximum(v_hat[i], vi)
        v_hat[i] = vh
        w[i] -= (mi * alpha) / (np.sqrt(vh) + eps)


@nb.njit(cache=True, error_model="numpy")
def _nadam(w, g, m, v, lr, c1, c2, u_t_1, one_minus_u_t, d1, d2, d3, eps, tiny):
    """d1 = 1 - U_t u_{t+1}, d2 = 1 - U_t, d3 = 1 - beta_2**t (computed once by the caller)."""
    zero = w.dtype.type(0)
    for i in range(w.size):
        gi = g[i]
        mi = m[i] + (gi - m[i]) * c1
        vi = v[i] + (gi * gi - v[i]) * c2
        mi = zero if abs(mi) < tiny else mi
        vi = zero if vi < tiny else vi
        m[i] = mi
        v[i] = vi
        m_hat = (u_t_1 * mi) / d1 + (one_minus_u_t * gi) / d2
        w[i] -= (m_hat * lr) / (np.sqrt(vi / d3) + eps)


@nb.njit(cache=True, error_model="numpy")
def _adamax(w, g, m, u, lr, c1, beta_2, one_minus_beta_1_power, eps, tiny):
    zero = w.dtype.type(0)
    for i in range(w.size):
        mi = m[i] + (g[i] - m[i]) * c1
        mi = zero if abs(mi) < tiny else mi
        ui = beta_2 * u[i]
        ui = _maximum(zero if ui < tiny else ui, abs(g[i]))
        m[i] = mi
        u[i] = ui
        w[i] -= (lr * mi) / (one_minus_beta_1_power * (ui + eps))


@nb.njit(cache=True, error_model="numpy")
def _adagrad(w, g, a, lr, eps):
    for i in range(w.size):
        ai = a[i] + g[i] * g[i]
        a[i] = ai
        w[i] -= (lr * g[i]) / np.sqrt(ai + eps)


@nb.njit(cache=True, error_model="numpy")
def _adadelta(w, g, a, d, lr, rho, one_minus_rho, eps, tiny):
    zero = w.dtype.type(0)
    for i in range(w.size):
        gi = g[i]
        ai = rho * a[i] + one_minus_rho * (gi * gi)
        ai = zero if ai < tiny else ai
        delta = -((np.sqrt(d[i] + eps) * gi) / np.sqrt(ai + eps))
        di = rho * d[i] + one_minus_rho * (delta * delta)
        a[i] = ai
        d[i] = zero if di < tiny else di
        w[i] += lr * delta


@nb.njit(cache=True, error_model="numpy")
def _lion(w, g, m, lr, beta_1, one_minus_beta_1, beta_2, one_minus_beta_2, tiny):
    zero = w.dtype.type(0)
    for i in range(w.size):
        c = m[i] * beta_1 + g[i] * one_minus_beta_1
        if c > zero:
            w[i] -= lr
        elif c < zero:
            w[i] += lr
        else:  # c = 0: sign 0, no step; c = NaN: sign NaN, w becomes NaN (as np.sign)
            w[i] -= lr * (c * zero)
        mi = m[i] * beta_2 + g[i] * one_minus_beta_2
        m[i] = zero if abs(mi) < tiny else mi


@nb.njit(cache=True, error_model="numpy")
def _amsgrad_all(W, G, M, V, V_hat, alpha, c1, c2, eps, tiny):
    for k in range(len(W)):
        _amsgrad(W[k], G[k], M[k], V[k], V_hat[k], alpha, c1, c2, eps, tiny)


@nb.njit(cache=True, error_model="numpy")
def _nadam_all(W, G, M, V, lr, c1, c2, u_t_1, one_minus_u_t, d1, d2, d3, eps, tiny):
    for k in range(len(W)):
        _nadam(W[k], G[k], M[k], V[k], lr, c1, c2, u_t_1, one_minus_u_t, d1, d2, d3, eps, tiny)


@nb.njit(cache=True, error_model="numpy")
def _adamax_all(W, G, M, U, lr, c1, beta_2, one_minus_beta_1_power, eps, tiny):
    for k in range(len(W)):
        _adamax(W[k], G[k], M[k], U[k], lr, c1, beta_2, one_minus_beta_1_power, eps, tiny)


@nb.njit(cache=True, error_model="numpy")
def _adagrad_all(W, G, A, lr, eps):
    for k in range(len(W)):
        _adagrad(W[k], G[k], A[k], lr, eps)


@nb.njit(cache=True, error_model="numpy")
def _adadelta_all(W, G, A, D, lr, rho, one_minus_rho, eps, tiny):
    for k in range(len(W)):
        _adadelta(W[k], G[k], A[k], D[k], lr, rho, one_minus_rho, eps, tiny)


@nb.njit(cache=True, error_model="numpy")
def _lion_all(W, G, M, lr, beta_1, one_minus_beta_1, beta_2, one_minus_beta_2, tiny):
    for k in range(len(W)):
        _lion(W[k], G[k], M[k], lr, beta_1, one_minus_beta_1, beta_2, one_minus_beta_2, tiny)


@nb.njit(cache=True, error_model="numpy")
def _adam_all(W, G, M, V, alpha, c1, c2, eps, tiny):
    for k in range(len(W)):
        _adam(W[k], G[k], M[k], V[k], alpha, c1, c2, eps, tiny)


@nb.njit(cache=True, error_model="numpy")
def _rmsprop_all(W, G, V, A, B, lr, rho, one_minus_rho, eps, momentum, centered):
    for k in range(len(W)):
        _rmsprop(W[k], G[k], V[k], A[k], B[k], lr, rho, one_minus_rho, eps, momentum, centered)


@nb.njit(cache=True, error_model="numpy")
def _sgd_all(W, G, velocities, lr, momentum, nesterov):
    for k in range(len(W)):
        _sgd(W[k], G[k], velocities[k], lr, momentum, nesterov)


def _c(a):
    """A C-contiguous view or copy (the kernels index rows and columns directly)."""
    return np.ascontiguousarray(a)


# Typed lists of flat views, made once per list of arrays and reused: building one costs ~30 us,
# a step's optimizer update ~170 us. Keyed by the arrays' identities; the cache holds the arrays,
# so a key can never be reused by other arrays while its entry lives. Bounded: a model's four
# lists (weights, gradients, two moments) fit many times over.
# Gradients have a cache of their own, a small one: they are the layers' gradient buffers (the
# same arrays every step), or, after clipping or gradient accumulation, new arrays every step,
# which must neither push the weights' lists out nor be kept alive by dozens.
_TYPED: dict[tuple, object] = {}
_TYPED_MAX = 32
_TYPED_GRADS: dict[tuple, object] = {}
_TYPED_GRADS_MAX = 4


def _typed_flat(arrays: list, cache: dict = _TYPED, limit: int = _TYPED_MAX):
    """`arrays` as a numba typed list of 1-D views, or None when they cannot be viewed flat in
    place (mixed dtypes, a non-contiguous array): the caller then takes the reference path."""
    key = tuple(map(id, arrays))
    hit = cache.get(key)
    if hit is not None:
        return hit[1]
    if not arrays or len({a.dtype for a in arrays}) != 1 \
            or not all(a.flags.c_contiguous for a in arrays):
        return None
    flat = typed.List([a.reshape(-1) for a in arrays])
    if len(cache) >= limit:
        cache.pop(next(iter(cache)))
    cache[key] = (list(arrays), flat)
    return flat


def _typed_all(W, G, *state):
    """Typed lists for the weights, the gradients (made contiguous) and every state list, or
    None if any cannot be made."""
    out = [_typed_flat(W), _typed_flat([_c(g) for g in G], _TYPED_GRADS, _TYPED_GRADS_MAX),
           *(_typed_flat(lst) for lst in state)]
    return None if any(t is None for t in out) else out


def dense_activation_forward(X, W, b, activation: str):
    """Z = X @ W (BLAS), then Z += b and A = f(Z) in one fused pass.  Returns (Z, A)."""
    if activation not in _CODES:
        return ops.dense_activation_forward(X, W, b, activation)
    Z = np.matmul(X, W)
    A = np.empty_like(Z)
    _bias_activation(Z, _c(b), _CODES[activation], A)
    return Z, A


def dense_activation_backward(dA, X, W, Z, A, activation: str, out_dW, out_db,
                              need_dX: bool = True):
    """dZ and db in one fused pass, then dW = X.T @ dZ and dX = dZ @ W.T in BLAS."""
    if activation not in _CODES:
        return ops.dense_activation_backward(dA, X, W, Z, A, activation, out_dW, out_db, need_dX)
    dZ = np.empty_like(Z)
    _activation_backward_colsum(_c(dA), _c(A), _CODES[activation], dZ, out_db)
    np.matmul(X.T, dZ, out=out_dW)
    return np.matmul(dZ, W.T) if need_dX else None


def dense_backward_into(dZ, X, W, out_dW, out_db, need_dX: bool = True):
    """The linear part of `dense_activation_backward`, from the gradient w.r.t. Z."""
    _colsum(_c(dZ), out_db)
    np.matmul(X.T, dZ, out=out_dW)
    return np.matmul(dZ, W.T) if need_dX else None


# Without the JIT the kernels run on NumPy scalars, whose uint64 arithmetic warns when it wraps
# around (the hash relies on it); compiled code never warns, and never pays for the context.
_wraparound = (functools.partial(np.errstate, over="ignore") if nb.config.DISABLE_JIT
               else contextlib.nullcontext)


def dropout_train_keyed(X, key, rate: float):
    """The uniforms of `ops.counter_uniform(key, X.size)`, the mask [U >= rate] / (1 - rate)
    and Y = X * mask in one pass, no array of uniforms made.  Returns (Y, mask)."""
    X1 = _c(X).reshape(-1)
    Y, mask = np.empty_like(X1), np.empty_like(X1)
    with _wraparound():
        _dropout_keyed(X1, np.uint64(key), np.float32(rate), X.dtype.type(1.0 / (1.0 - rate)),
                       Y, mask)
    return Y.reshape(X.shape), mask.reshape(X.shape)


def softmax_cross_entropy_with_gradient(Z, y):
    """Per-sample losses and (softmax(Z) - onehot(y)) / N in one pass per row."""
    Z = _c(Z)
    losses, dZ = np.empty(Z.shape[0], Z.dtype), np.empty_like(Z)
    _softmax_cross_entropy(Z, y, losses, dZ)
    return losses, dZ


def _per_feature(value, c: int, dtype):
    """gamma or beta as a C-contiguous (C,) array (a scalar when scale or center is off)."""
    return np.full(c, value, dtype) if np.ndim(value) == 0 else _c(value)


def batchnorm_train(X, gamma, beta, epsilon: float):
    """The batch's moments and the normalized output in three fused passes.
    Returns (Y, Xhat, inv_std, mean, var), as `ops.batchnorm_train`."""
    X = _c(X)
    c = X.shape[1]
    Y, Xhat = np.empty_like(X), np.empty_like(X)
    inv_std, mean, var = (np.empty(c, X.dtype) for _ in range(3))
    _batchnorm_train(X, _per_feature(gamma, c, X.dtype), _per_feature(beta, c, X.dtype),
                     X.dtype.type(epsilon), Y, Xhat, inv_std, mean, var)
    return Y, Xhat, inv_std, mean, var


def batchnorm_backward(dY, Xhat, gamma, inv_std):
    """The training-mode backward in two fused passes.  Returns (dX, dgamma, dbeta)."""
    dY = _c(dY)
    c = dY.shape[1]
    dX, dgamma, dbeta = np.empty_like(dY), np.empty(c, dY.dtype), np.empty(c, dY.dtype)
    _batchnorm_backward(dY, _c(Xhat), _per_feature(gamma, c, dY.dtype),
                        _per_feature(inv_std, c, dY.dtype).reshape(c), dX, dgamma, dbeta)
    return dX, dgamma, dbeta


def squared_norm(G) -> float:
    """The gradients' sum of squares in one call over the list: 20 us for the seed MLP's 567k
    parameters, against 29 us for a Python loop of BLAS dots and 42 us for
    np.isfinite(g).all(). The model's gradient buffers are the same arrays every step, so
    their typed list is kept with the weights' (the small gradient cache turns over with
    clipping's new arrays every step)."""
    flat = _typed_flat(G)
    if flat is None:  # a non-contiguous gradient or mixed dtypes
        return ops.squared_norm(G)
    return float(_squared_norm_all(flat))


def adam_update(W, G, M, V, alpha, one_minus_beta_1, one_minus_beta_2, epsilon) -> None:
    """Adam's three updates in one pass over each weight, all weights in one call.

    Weights whose gradient is always 0 (the seed MLP's border pixels) have moments that decay
    geometrically into the subnormal range, where x86 arithmetic is many times slower. So
    moments below 2**24 times the smallest normal float (2e-31 in float32) are set to 0, early
    enough that no product of the update becomes subnormal. TensorFlow flushes subnormals to
    zero on the CPU too; the NumPy reference keeps them. The effect on a weight is below 1e-26.
    Over the seed MLP's 567k parameters one call takes ~0.17 ms (memory-bound: it streams four
    2.3 MB arrays and writes three).
    """
    lists = _typed_all(W, G, M, V)
    if lists is None:
        raise ValueError("adam_update needs C-contiguous weights and moments of one dtype "
                         "(they are updated in place).")
    dtype = W[0].dtype
    _adam_all(*lists, alpha, one_minus_beta_1, one_minus_beta_2, epsilon,
              dtype.type(np.finfo(dtype).tiny * 2**24))


def rmsprop_update(W, G, velocities, average_grads, momentum_buffers, learning_rate, rho,
                   one_minus_rho, epsilon, momentum, centered: bool) -> None:
    """RMSprop (optionally centered, with momentum), all weights in one call."""
    lists = _typed_all(W, G, velocities, average_grads, momentum_buffers)
    if lists is None:
        raise ValueError("rmsprop_update needs C-contiguous weights, gradients and state of one "
                         "dtype (they are updated in place).")
    _rmsprop_all(*lists, learning_rate, rho, one_minus_rho, epsilon, momentum, bool(centered))


def sgd_update(W, G, velocities, learning_rate, momentum, nesterov: bool) -> None:
    """SGD (with momentum), all weights in one call."""
    lists = _typed_all(W, G, velocities)
    if lists is None:
        raise ValueError("sgd_update needs C-contiguous weights, gradients and velocities of one "
                         "dtype (they are updated in place).")
    _sgd_all(*lists, learning_rate, momentum, bool(nesterov))


def _lists(name: str, *lists):
    """Typed lists of flat views for a kernel: (weights, gradients, *state)."""
    out = _typed_all(*lists)
    if out is None:
        raise ValueError(f"{name} needs C-contiguous weights and state of one dtype (they are "
                         "updated in place).")
    return out


def _tiny(W):
    """State below this is flushed to zero before it turns subnormal (see adam_update)."""
    dtype = W[0].dtype
    return dtype.type(np.finfo(dtype).tiny * 2**24)


def amsgrad_update(W, G, M, V, V_hat, alpha, one_minus_beta_1, one_minus_beta_2,
                   epsilon) -> None:
    """Adam with v_hat = max(v_hat, v), one pass per weight, all weights in one call."""
    _amsgrad_all(*_lists("amsgrad_update", W, G, M, V, V_hat), alpha, one_minus_beta_1,
                 one_minus_beta_2, epsilon, _tiny(W))


def nadam_update(W, G, M, V, learning_rate, one_minus_beta_1, one_minus_beta_2, u_t, u_t_1,
                 u_product_t, u_product_t_1, beta_2_power, epsilon) -> None:
    """Nadam's moments and step in one pass per weight (the reference computes the same scalar
    denominators inside its loop)."""
    _nadam_all(*_lists("nadam_update", W, G, M, V), learning_rate, one_minus_beta_1,
               one_minus_beta_2, u_t_1, 1 - u_t, 1 - u_product_t_1, 1 - u_product_t,
               1 - beta_2_power, epsilon, _tiny(W))


def adamax_update(W, G, M, U, learning_rate, one_minus_beta_1, beta_2, one_minus_beta_1_power,
                  epsilon) -> None:
    """Adamax, one pass per weight, all weights in one call."""
    _adamax_all(*_lists("adamax_update", W, G, M, U), learning_rate, one_minus_beta_1, beta_2,
                one_minus_beta_1_power, epsilon, _tiny(W))


def adagrad_update(W, G, A, learning_rate, epsilon) -> None:
    """Adagrad, one pass per weight, all weights in one call."""
    _adagrad_all(*_lists("adagrad_update", W, G, A), learning_rate, epsilon)


def adadelta_update(W, G, A, D, learning_rate, rho, one_minus_rho, epsilon) -> None:
    """Adadelta, one pass per weight, all weights in one call."""
    _adadelta_all(*_lists("adadelta_update", W, G, A, D), learning_rate, rho, one_minus_rho,
                  epsilon, _tiny(W))


def lion_update(W, G, M, learning_rate, beta_1, beta_2) -> None:
    """Lion, one pass per weight, all weights in one call."""
    _lion_all(*_lists("lion_update", W, G, M), learning_rate, beta_1, 1 - beta_1, beta_2,
              1 - beta_2, _tiny(W))


def __getattr__(name: str):
    """Every operation without a kernel here is the reference one (PEP 562)."""
    return getattr(ops, name)
