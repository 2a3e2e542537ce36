"""The fused training step's numba code: forward, loss, backward and Adam for a chain of Dense
layers in one call, with no Python between the matrix products (see `tinynn.engine`, which
decides when it runs and hands it the model's arrays).

Every operation is the one the layer path runs, so both give the same bits:
  - the matrix products call the very BLAS routine NumPy's `matmul` calls (`cblas_sgemm` or
    `cblas_dgemm` of NumPy's own OpenBLAS, found in its wheel and called through ctypes), with
    the same transposition flags and leading dimensions, so each output is summed in the same
    order;
  - bias + activation, the activation derivative with the bias gradient, softmax cross-entropy,
    the gradients' squared norm and Adam are `tinynn.kernels`' own functions, called from here;
  - dropout is `kernels._dropout_keyed`, Dropout's own kernel (its counter-based stream), with
    the key the layer would have drawn.

A product in BLAS's row-major interface, C (m, n) = op(A) @ op(B):
    X @ W      gemm(NoTrans, NoTrans, m=N, n=units, k=n_in, lda=n_in, ldb=units)
    X.T @ dZ   gemm(Trans, NoTrans, m=n_in, n=units, k=N, lda=n_in, ldb=units)
    dZ @ W.T   gemm(NoTrans, Trans, m=N, n=n_in, k=units, lda=units, ldb=units)
which is what NumPy passes for a C-contiguous array and the transpose (an F-contiguous view) of
one. NumPy calls gemv instead of gemm when the result has one row or one column, so
`tinynn.engine` runs the fused step only for batches of at least 2 rows and layers of at least 2
units.
"""

import ctypes
import ctypes.util
import functools
import glob
import os
import sys
import time

import numba as nb
import numpy as np

from tinynn import kernels

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


def _gemm_functions(lib, names: tuple, integer) -> dict:
    """{dtype: ctypes cblas_sgemm / cblas_dgemm of `lib`}, typed for numba's calls."""
    found = {}
    for dtype, name, scalar in ((np.float32, names[0], ctypes.c_float),
                                (np.float64, names[1], ctypes.c_double)):
        f = getattr(lib, name)
        i, p = integer, ctypes.c_void_p
        f.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, i, i, i, scalar, p, i, p, i,
                      scalar, p, i]
        f.restype = None
        found[np.dtype(dtype)] = f
    return found


@functools.cache
def _numpy_openblas() -> "ctypes.CDLL | None":
    """The OpenBLAS inside NumPy's wheel (numpy.libs/libscipy_openblas64_*.so), or None when
    NumPy uses another BLAS (a system or MKL build)."""
    libs = sorted(glob.glob(os.path.join(os.path.dirname(np.__file__) + ".libs",
                                         "libscipy_openblas64_*.so")))
    try:
        return ctypes.CDLL(libs[0]) if libs else None
    except OSError:
        return None


@functools.cache
def numpy_gemm() -> "dict | None":
    """{dtype: ctypes cblas_?gemm} of NumPy's own OpenBLAS (64-bit integers), or None when
    there is none: the fused step then does not run."""
    lib = _numpy_openblas()
    if lib is None:
        return None
    try:
        return _gemm_functions(lib, ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_"),
                               ctypes.c_int64)
    except AttributeError:
        return None


@functools.cache
def mkl_gemm() -> "dict | None":
    """{dtype: ctypes cblas_?gemm} of an installed Intel MKL (`pip install mkl`: libmkl_rt in
    the environment's lib/), set to its sequential layer (one thread per call: the engine owns
    the cores), or None when there is none. Never a dependency: NumPy's OpenBLAS is the default
    and the reference (see `choose_gemm`)."""
    libs = sorted(glob.glob(os.path.join(sys.prefix, "lib", "libmkl_rt.so*")))
    path = libs[0] if libs else ctypes.util.find_library("mkl_rt")
    if not path:
        return None
    try:
        lib = ctypes.CDLL(path)
        lib.MKL_Set_Threading_Layer.argtypes = [ctypes.c_int]
        lib.MKL_Set_Threading_Layer(1)  # MKL_THREADING_SEQUENTIAL
        return _gemm_functions(lib, ("cblas_sgemm", "cblas_dgemm"), ctypes.c_int)
    except (OSError, AttributeError):
        return None


BLAS_CHOICES = ("auto", "openblas", "mkl")
_CHOSEN: dict = {}


def choose_gemm(dtype, batch: int, n_in: int, units: int, timer=None) -> tuple:
    """(name, gemm) of the BLAS the fused step calls for a model whose first layer is
    (batch, n_in) @ (n_in, units), as `TINYNN_BLAS` says: "openblas" (NumPy's own, the layer
    path's: the same bits), "mkl" (MKL, which must be installed), or "auto", the default: MKL
    when installed, the product has at least 2**20 multiply-adds and MKL is at least 10% faster
    at it on one thread (best of 15 calls each), else OpenBLAS. With MKL the products round
    differently from the layer path's (about 1e-7 relative in float32). The choice is made once
    per process and shape, so every fit in a process trains with the same one; the size floor
    and the margin keep it the same from one process to the next (MKL: 1.5x faster at the seed
    MLP's 32x784 @ 784x512 on an Intel Xeon; a small product is timed in microseconds, too
    noisy to decide by). `timer(gemm, ...)` (for tests) returns a time per call."""
    choice = os.environ.get("TINYNN_BLAS", "auto").lower()
    if choice not in BLAS_CHOICES:
        raise ValueError(f"TINYNN_BLAS must be one of {BLAS_CHOICES}, got {choice!r}.")
    dtype = np.dtype(dtype)
    key = (choice, dtype, batch, n_in, units)
    if key not in _CHOSEN:
        openblas, mkl = numpy_gemm(), mkl_gemm()
        if choice == "mkl" and mkl is None:
            raise ValueError("TINYNN_BLAS=mkl, but no MKL was found: `pip install mkl`.")
        timer, shape = timer or _time_gemm, (dtype, batch, n_in, units)
        if choice == "mkl" or (choice == "auto" and mkl is not None
                               and batch * n_in * units >= 2**20
                               and timer(mkl[dtype], *shape) <= 0.9 * timer(openblas[dtype],
                                                                           *shape)):
            _CHOSEN[key] = ("mkl", mkl[dtype])
        else:
            _CHOSEN[key] = ("openblas", openblas[dtype])
    return _CHOSEN[key]


def _time_gemm(gemm, dtype, batch: int, n_in: int, units: int) -> float:
    """Best of 15 single-threaded calls of (batch, n_in) @ (n_in, units), in seconds."""
    rng = np.random.default_rng(0)
    A, B = rng.random((batch, n_in)).astype(dtype), rng.random((n_in, units)).astype(dtype)
    C = np.empty((batch, units), dtype)
    best = float("inf")
    with BlasThreads(1):
        for _ in range(16):
            start = time.perf_counter()
            _matmul(gemm, A, B, C)
            best = min(best, time.perf_counter() - start)
    return best


class BlasThreads:
    """`with BlasThreads(1):` NumPy's OpenBLAS uses that many threads inside, its previous
    count again after (None: unchanged). The fused step owns the cores: two numba threads,
    one BLAS thread each; OpenBLAS's own threads spinning beside them would take the cores
    from them (~1 us to enter and leave)."""

    def __init__(self, n: "int | None"):
        self.n, self._lib, self._before = n, None, None
        lib = _numpy_openblas()
        if lib is not None:
            self._get = lib.scipy_openblas_get_num_threads64_
            self._set = lib.scipy_openblas_set_num_threads64_
            self._set.argtypes = [ctypes.c_int]
            self._lib = lib

    def __enter__(self) -> "BlasThreads":
        if self._lib is not None and self.n is not None:
            self._before = self._get()
            self._set(self.n)
        return self

    def __exit__(self, *exc) -> None:
        if self._before is not None:
            self._set(self._before)


@nb.njit(cache=True, error_model="numpy")
def _matmul(gemm, A, B, C):
    """C = A @ B, all C-contiguous."""
    m, k = A.shape
    n = B.shape[1]
    one, zero = C.dtype.type(1), C.dtype.type(0)
    gemm(_ROW_MAJOR, _NO_TRANS, _NO_TRANS, m, n, k, one, A.ctypes, k, B.ctypes, n, zero,
         C.ctypes, n)


@nb.njit(cache=True, error_model="numpy")
def _matmul_tn(gemm, A, B, C):
    """C = A.T @ B: A (k, m), B (k, n), C (m, n), all C-contiguous."""
    k, m = A.shape
    n = B.shape[1]
    one, zero = C.dtype.type(1), C.dtype.type(0)
    gemm(_ROW_MAJOR, _TRANS, _NO_TRANS, m, n, k, one, A.ctypes, m, B.ctypes, n, zero,
         C.ctypes, n)


@nb.njit(cache=True, error_model="numpy")
def _matmul_nt(gemm, A, B, C):
    """C = A @ B.T: A (m, k), B (n, k), C (m, n), all C-contiguous."""
    m, k = A.shape
    n = B.shape[0]
    one, zero = C.dtype.type(1), C.dtype.type(0)
    gemm(_ROW_MAJOR, _NO_TRANS, _TRANS, m, n, k, one, A.ctypes, k, B.ctypes, k, zero,
         C.ctypes, n)


# How a product is shared by the two cores (measured 2026-12-07, Intel Xeon, 2 MB L2 a core,
# batch 32, one BLAS thread a core): X @ W and dZ @ W.T by columns of the result, so that each
# core reads half of W (32x784 @ 784x512: 0.14 ms, by rows 0.17, on one core 0.25); X.T @ dZ by
# rows of the result (0.12 ms, on one core 0.23). A half is a multiple of 16 columns (whole
# SIMD blocks); a product narrower than 32 columns or with fewer than 8 rows runs on one core.
# Neither split changes how any output is summed: the same bits as the whole product.
_MIN_COLUMNS, _MIN_ROWS = 32, 8


@nb.njit(cache=True, error_model="numpy")
def _half(n):
    return (n // 2 + 15) // 16 * 16


@nb.njit(cache=True, error_model="numpy", parallel=True)
def _matmul2(gemm, A, B, C):
    """C = A @ B on both cores, each computing half of C's columns (W's)."""
    m, k = A.shape
    n = B.shape[1]
    if n < _MIN_COLUMNS:
        _matmul(gemm, A, B, C)
        return
    h = _half(n)
    one, zero = C.dtype.type(1), C.dtype.type(0)
    for t in nb.prange(2):
        lo, hi = (0, h) if t == 0 else (h, n)
        gemm(_ROW_MAJOR, _NO_TRANS, _NO_TRANS, m, hi - lo, k, one, A.ctypes, k,
             B[:, lo:].ctypes, n, zero, C[:, lo:].ctypes, n)


@nb.njit(cache=True, error_model="numpy", parallel=True)
def _matmul_tn2(gemm, A, B, C):
    """C = A.T @ B on both cores, each computing half of C's rows (A's columns)."""
    k, m = A.shape
    n = B.shape[1]
    if m < _MIN_ROWS:
        _matmul_tn(gemm, A, B, C)
        return
    h = m // 2
    one, zero = C.dtype.type(1), C.dtype.type(0)
    for t in nb.prange(2):
        lo, hi = (0, h) if t == 0 else (h, m)
        gemm(_ROW_MAJOR, _TRANS, _NO_TRANS, hi - lo, n, k, one, A[:, lo:].ctypes, m, B.ctypes,
             n, zero, C[lo:].ctypes, n)


@nb.njit(cache=True, error_model="numpy", parallel=True)
def _matmul_nt2(gemm, A, B, C):
    """C = A @ B.T on both cores, each computing half of C's columns (B's rows)."""
    m, k = A.shape
    n = B.shape[0]
    if n < _MIN_COLUMNS:
        _matmul_nt(gemm, A, B, C)
        return
    h = _half(n)
    one, zero = C.dtype.type(1), C.dtype.type(0)
    for t in nb.prange(2):
        lo, hi = (0, h) if t == 0 else (h, n)
        gemm(_ROW_MAJOR, _NO_TRANS, _TRANS, m, hi - lo, k, one, A.ctypes, k, B[lo:].ctypes, k,
             zero, C[:, lo:].ctypes, n)


@nb.njit(cache=True, error_model="numpy", parallel=True, fastmath={"reassoc"})
def _squared_norm2(G):
    """sum of g**2 over every array, each array's halves summed on the two cores (float32
    sums per half, as `kernels._squared_norm_all` sums per array: it only decides whether
    the update needs `tinynn.safety`'s check, far from where rounding could matter)."""
    partial = np.zeros(2)
    for t in nb.prange(2):
        total = 0.0
        for k in range(len(G)):
            h = G[k].size // 2
            g = G[k][:h] if t == 0 else G[k][h:]  # sliced first: a loop from 0 vectorises
            acc = g.dtype.type(0)
            for i in range(g.size):
                acc += g[i] * g[i]
            total += acc
        partial[t] = total
    return partial[0] + partial[1]


@nb.njit(cache=True, error_model="numpy", parallel=True)
def _adam2(flat_W, flat_G, flat_M, flat_V, alpha, c1, c2, eps, tiny):
    """`kernels._adam` over every array, each array's first half on one core, the rest on the
    other (an elementwise update: the split changes no result)."""
    for t in nb.prange(2):
        for k in range(len(flat_W)):
            w = flat_W[k]
            h = w.size // 2
            lo, hi = (0, h) if t == 0 else (h, w.size)
            kernels._adam(w[lo:hi], flat_G[k][lo:hi], flat_M[k][lo:hi], flat_V[k][lo:hi],
                          alpha, c1, c2, eps, tiny)


@nb.njit(cache=True, error_model="numpy")
def train_step(gemm, X, y, Ws, bs, gWs, gbs, codes, rates, scales, keys, inputs, masks, Zs, As,
               dZs, dAs, losses, flat_W, flat_G, flat_M, flat_V, alpha, c1, c2, eps, tiny,
               learning_rate, sqrt_max):
    """One Adam step of a chain of Dense layers ending in softmax + sparse cross-entropy.

    Layer k computes Z_k = D_k(A_{k-1}) @ W_k + b_k, A_k = f_k(Z_k), with A_{-1} = X and D_k
    the dropout before it (`rates[k]` > 0) or nothing. `inputs[k]` receives D_k(A_{k-1}) when
    there is a dropout. Backward, from dZ_last = (softmax(Z) - onehot(y)) / N:
    db_k = sum_rows(dZ_k), dW_k = input_k.T @ dZ_k, d input_k = dZ_k @ W_k.T, through the
    dropout's mask, then dZ_{k-1} = dA_{k-1} * f'(Z_{k-1}). The gradients land in `gWs`, `gbs`.

    Returns 0 when the update was applied; 1 when the loss is not finite and 2 when the
    gradient is not finite or too large for the unchecked update (`tinynn.safety`'s fast-path
    test): then nothing is updated and the caller takes the checked path.
    """
    L = len(Ws)
    # forward
    for k in range(L):
        src = X if k == 0 else As[k - 1]
        if rates[k] > 0:
            kernels._dropout_keyed(src.reshape(src.size), keys[k], rates[k], scales[k],
                                   inputs[k].reshape(src.size), masks[k].reshape(src.size))
            src = inputs[k]
        _matmul2(gemm, src, Ws[k], Zs[k])
        kernels._bias_activation(Zs[k], bs[k], codes[k], As[k])
    kernels._softmax_cross_entropy(Zs[L - 1], y, losses, dZs[L - 1])
    total = 0.0
    for i in range(losses.size):
        total += losses[i]
    if not np.isfinite(total):
        return 1
    # backward
    for k in range(L - 1, -1, -1):
        if k == L - 1:
            kernels._colsum(dZs[k], gbs[k])
        else:
            kernels._activation_backward_colsum(dAs[k], As[k], codes[k], dZs[k], gbs[k])
        src = X if k == 0 else As[k - 1]
        if rates[k] > 0:
            src = inputs[k]
        _matmul_tn2(gemm, src, dZs[k], gWs[k])
        if k > 0:
            dA = dAs[k - 1]
            _matmul_nt2(gemm, dZs[k], Ws[k], dA)
            if rates[k] > 0:
                mask = masks[k]
                for i in range(dA.shape[0]):
                    for j in range(dA.shape[1]):
                        dA[i, j] = dA[i, j] * mask[i, j]
    # the update, when safety's fast path would take it
    square = _squared_norm2(flat_G)
    if not (np.isfinite(square)
            and learning_rate * max(2 * np.sqrt(square), 1.0) <= sqrt_max):
        return 2
    _adam2(flat_W, flat_G, flat_M, flat_V, alpha, c1, c2, eps, tiny)
    return 0


@nb.njit(cache=True, error_model="numpy")
def train_steps(gemm, x, y_all, order, Xb, yb, Ws, bs, gWs, gbs, codes, rates, scales, keys,
                inputs, masks, Zs, As, dZs, dAs, losses, Z_out, A_out, flat_W, flat_G, flat_M,
                flat_V, alphas, c1, c2, eps, tiny, learning_rates, sqrt_max):
    """`train_step` for len(alphas) batches of Xb.shape[0] rows in a row: batch s is the rows
    `order[s * n:(s + 1) * n]` of x (n, features) and y_all, gathered into Xb and yb; its
    dropout keys are `keys[s]`, its step size and learning rate `alphas[s]` and
    `learning_rates[s]`. Its per-sample losses, logits and outputs are written to `losses`,
    `Z_out` and `A_out` at rows s * n ... (the caller updates the metrics from them).

    Returns (steps applied, code): code 0 when all were; else `train_step`'s code for the step
    after the applied ones, whose losses and outputs are written, its update not applied."""
    n = Xb.shape[0]
    features = Xb.shape[1]
    last = len(Ws) - 1
    for s in range(alphas.size):
        for i in range(n):
            row = order[s * n + i]
            yb[i] = y_all[row]
            for j in range(features):
                Xb[i, j] = x[row, j]
        lo = s * n
        code = train_step(gemm, Xb, yb, Ws, bs, gWs, gbs, codes, rates, scales, keys[s], inputs,
                          masks, Zs, As, dZs, dAs, losses[lo:lo + n], flat_W, flat_G, flat_M,
                          flat_V, alphas[s], c1, c2, eps, tiny, learning_rates[s], sqrt_max)
        Z_out[lo:lo + n] = Zs[last]
        A_out[lo:lo + n] = As[last]
        if code != 0:
            return s, code
    return alphas.size, 0
