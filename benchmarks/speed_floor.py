"""The floor of a training step, measured on this machine in the same run as the systems.

floor s/epoch = steps x (the 11 matrix products of a step at peak + Adam's bytes / bandwidth)

- The products at the step's real shapes (batch B): forward X(B,784)@W1, (B,512)@W2, (B,256)@W3,
  (B,128)@W4; backward dW_k = A_{k-1}.T @ dZ_k for the 4 layers and dX = dZ_k @ W_k.T for layers
  2-4 (layer 1's input gradient is not needed). Each product is timed (best of many calls)
  through NumPy's BLAS with one thread and with two (threadpoolctl's `threadpool_limits`); a
  step's products take the faster of the two sums.
- Adam reads w, g, m, v and writes w, m, v: 7 streams of 567,434 float32 = 15.9 MB a step. The
  bandwidth is the best of a copy (2 arrays) and a triad a = b + s * c (3 arrays), each sized so
  that one call moves the same 15.9 MB as Adam's step (so the working set, and how much of it
  the caches hold, is Adam's), with NumPy and, when numba imports, a numba `prange` triad.
  Bytes are counted STREAM's way (reads + writes, no write-allocate traffic).

Also here: the 1024 x 1024 sgemm of the roofline, and which BLAS NumPy uses.
"""

import time

import numpy as np

PARAMS = 567_434
ADAM_BYTES = 7 * PARAMS * 4
LAYERS = [(784, 512), (512, 256), (256, 128), (128, 10)]


def step_products(batch: int) -> "list[tuple[tuple[int, int], tuple[int, int]]]":
    """The (left shape, right shape) of the 11 products of one training step at `batch`."""
    forward = [((batch, n_in), (n_in, n_out)) for n_in, n_out in LAYERS]
    weight_grads = [((n_in, batch), (batch, n_out)) for n_in, n_out in LAYERS]
    input_grads = [((batch, n_out), (n_out, n_in)) for n_in, n_out in LAYERS[1:]]
    return forward + weight_grads + input_grads


def step_flop(batch: int) -> int:
    """Multiply-adds x 2 of a step's 11 products."""
    return sum(2 * a[0] * a[1] * b[1] for a, b in step_products(batch))


def best_time(fn, repeats: int, inner: int = 1) -> float:
    """Best over `repeats` of the mean time of `inner` back-to-back calls of `fn`."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - start) / inner)
    return best


def products_s(batch: int, threads: int, repeats: int = 30) -> float:
    """Seconds for one step's 11 products, each timed alone (best of `repeats`), summed.

    A transposed operand is a transposed view, as in a layer's backward pass."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    total = 0.0
    with threadpool_limits(limits=threads, user_api="blas"):
        for (m, k), (_, n) in step_products(batch):
            a = rng.standard_normal((m, k), dtype=np.float32)
            b = rng.standard_normal((k, n), dtype=np.float32)
            out = np.empty((m, n), np.float32)
            total += best_time(lambda a=a, b=b, out=out: np.matmul(a, b, out=out), repeats, 5)
    return total


def sgemm_gflops(n: int = 1024, repeats: int = 20) -> float:
    """The machine's float32 matrix-product speed through NumPy's BLAS: the roofline's ceiling."""
    a, b = np.ones((n, n), np.float32), np.ones((n, n), np.float32)
    return 2 * n**3 / best_time(lambda: a @ b, repeats) / 1e9


def bandwidth_numpy(repeats: int = 30) -> "dict[str, float]":
    """GB/s of a NumPy copy and triad moving Adam's 15.9 MB a call."""
    n_copy, n_triad = ADAM_BYTES // 8, ADAM_BYTES // 12  # 2 and 3 float32 arrays
    a, b = np.ones(n_copy, np.float32), np.ones(n_copy, np.float32)
    copy_s = best_time(lambda: np.copyto(b, a), repeats, 5)
    a, b, c = (np.ones(n_triad, np.float32) for _ in range(3))
    s = np.float32(0.5)

    def triad():  # two ufunc passes: c = s * c (2 streams), a = b + c (3 streams)
        np.multiply(c, s, out=c)
        np.add(b, c, out=a)

    triad_s = best_time(triad, repeats, 5)
    return {"numpy copy": 2 * n_copy * 4 / copy_s / 1e9,
            "numpy triad": 5 * n_triad * 4 / triad_s / 1e9}


def bandwidth_numba(repeats: int = 30) -> "dict[str, float]":
    """GB/s of a numba triad a = b + s * c (serial and `prange`), or {} without numba."""
    try:
        import numba
    except ImportError:
        return {}

    def triad(a, b, c, s):
        for i in numba.prange(a.shape[0]):
            a[i] = b[i] + s * c[i]

    serial = numba.njit(triad)
    parallel = numba.njit(parallel=True)(triad)
    n = ADAM_BYTES // 12
    a, b, c = (np.ones(n, np.float32) for _ in range(3))
    s = np.float32(0.5)
    out = {}
    for name, kernel in (("numba triad", serial), ("numba prange triad", parallel)):
        out[name] = 3 * n * 4 / best_time(lambda k=kernel: k(a, b, c, s), repeats, 5) / 1e9
    return out


def blas_info() -> "list[str]":
    """NumPy's BLAS as threadpoolctl sees it, and MKL's version if `mkl` imports."""
    from threadpoolctl import threadpool_info

    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    numpys = [i for i in blas if "numpy" in str(i.get("filepath"))]  # not SciPy's own copy
    lines = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')}, "
             f"{i.get('num_threads')} threads)" for i in numpys or blas]
    try:
        from tinynn import fused

        found = fused.mkl_gemm() is not None
    except ImportError:  # no numba
        found = False
    lines.append("MKL: installed (libmkl_rt), which the fused engine may call (TINYNN_BLAS)"
                 if found else "MKL: not installed (the fused engine calls NumPy's OpenBLAS)")
    return lines


def measure(batches: "list[int]") -> dict:
    """Everything the floor and the roofline need, in one process (the `floor` worker)."""
    bandwidth = dict(bandwidth_numpy(), **bandwidth_numba())
    per_batch = {}
    for batch in batches:
        one, two = products_s(batch, 1), products_s(batch, 2)
        per_batch[str(batch)] = {"products_1t_s": one, "products_2t_s": two,
                                 "step_gflop": step_flop(batch) / 1e9}
    return dict(sgemm_gflops=sgemm_gflops(), bandwidth_gbs=bandwidth, batches=per_batch,
                blas=blas_info())


def floor_epoch_s(products_1t: float, products_2t: float, gbs: float, steps: int) -> float:
    """steps x (the faster products sum + Adam's bytes at `gbs` GB/s)."""
    return steps * (min(products_1t, products_2t) + ADAM_BYTES / (gbs * 1e9))
