"""The numba kernels equal the NumPy reference (`tinynn.ops`), op by op and over training,
on non-finite values too: a NaN or an infinity in the inputs, the weights or the optimizer state
must come out at the same places on both backends (a kernel that turned NaN into 0 would let
training go on with finite garbage where the reference stops).

Run with NUMBA_DISABLE_JIT=1 too (make test does): then the kernels run as plain Python, which
checks their source line by line, not just what numba compiled.
"""

import copy

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinynn
from tinynn import backend, kernels, ops

ACTIVATIONS = ["linear", "relu", "tanh", "sigmoid", "softmax"]
DTYPES = [np.float32, np.float64]


def close(got, want, dtype, what, conditioning=1.0):
    """NaN where the reference has NaN, the same infinities at the same places, and the finite
    values within 1e-6 relative to the magnitude of the reference (absolute near zero), times
    the problem's condition number where it has one (see the batch-normalization test)."""
    finite = np.abs(want[np.isfinite(want)]) if np.size(want) else np.zeros(0)
    scale = max(1.0, float(finite.max())) if finite.size else 1.0
    tol = (1e-6 if dtype == np.float32 else 1e-12) * conditioning
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{what}: NaN places")
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale, err_msg=what)


shapes = st.tuples(st.integers(1, 9), st.integers(1, 13), st.integers(1, 11))
SPECIALS = np.array([np.nan, np.inf, -np.inf])


def sprinkle(rng, a, values=SPECIALS, fraction=0.15):
    """A copy of `a` with about `fraction` of its entries replaced by non-finite `values`."""
    a = a.copy()
    where = rng.random(a.shape) < fraction
    a[where] = rng.choice(values, size=int(where.sum()))
    return a


def arrays(seed, dtype, *shape_list, transpose_first=False, specials=False):
    """Normal samples; with `specials`, some entries NaN, +inf or -inf."""
    rng = np.random.default_rng(seed)
    out = [rng.normal(size=s).astype(dtype) for s in shape_list]
    if specials:
        out = [sprinkle(rng, a) for a in out]
    if transpose_first:  # a non-contiguous view with the same values
        out[0] = np.ascontiguousarray(out[0].T).T
    return out


# Each activation and each case (finite or not) gets its own examples: drawn by hypothesis
# alongside the rest, a combination such as (relu, NaN) was never generated.
@pytest.mark.parametrize("specials", [False, True], ids=["finite", "nan-inf"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@given(shape=shapes, dtype=st.sampled_from(DTYPES), seed=st.integers(0, 10**6),
       strided=st.booleans())
@np.errstate(all="ignore")
def test_dense_forward_and_backward(shape, activation, dtype, seed, strided, specials):
    n, n_in, units = shape
    X, W, b, dA = arrays(seed, dtype, (n, n_in), (n_in, units), (units,), (n, units),
                         transpose_first=strided, specials=specials)
    Z_ref, A_ref = ops.dense_activation_forward(X, W, b, activation)
    Z, A = kernels.dense_activation_forward(X, W, b, activation)
    close(Z, Z_ref, dtype, "Z")
    close(A, A_ref, dtype, f"A ({activation})")
    dW_ref, db_ref = np.zeros_like(W), np.zeros_like(b)
    dW, db = np.zeros_like(W), np.zeros_like(b)
    dX_ref = ops.dense_activation_backward(dA, X, W, Z_ref, A_ref, activation, dW_ref, db_ref)
    dX = kernels.dense_activation_backward(dA, X, W, Z, A, activation, dW, db)
    for got, want, name in ((dX, dX_ref, "dX"), (dW, dW_ref, "dW"), (db, db_ref, "db")):
        close(got, want, dtype, f"{name} ({activation})")
        assert got.dtype == dtype, name
    assert kernels.dense_activation_backward(dA, X, W, Z, A, activation, dW, db,
                                             need_dX=False) is None
    dX = kernels.dense_backward_into(dA, X, W, dW, db)
    dX_ref = ops.dense_backward_into(dA, X, W, dW_ref, db_ref)
    close(dX, dX_ref, dtype, "dX from logits")
    close(db, db_ref, dtype, "db from logits")


KEYS = [0, 1, 2**32, 2**63, 2**64 - 1, 0x0123456789ABCDEF]


def splitmix64(key: int, i: int) -> int:
    """The hash of `ops.counter_uniform`, on Python integers: an independent statement of it."""
    z = (key + (i + 1) * 0x9E3779B97F4A7C15) & (2**64 - 1)
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & (2**64 - 1)
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & (2**64 - 1)
    return z ^ (z >> 31)


@numba.njit
def kernel_uniforms(key, n):
    """U_0 .. U_{n-1} from `kernels._counter_uniform`, called from compiled code as the
    training engine calls it."""
    U = np.empty(n, np.float32)
    for i in range(n):
        U[i] = kernels._counter_uniform(key, i)
    return U


def test_counter_uniform_known_values():
    """Key 0 gives SplitMix64's published first outputs (seed 0: 0xe220a8397b1dcdaf,
    0x6e789e6aa1b965f4, 0x06c45d188009454f); every key, position and backend gives the Python
    integers' hash, its top 24 bits over 2**24."""
    assert [splitmix64(0, i) for i in range(3)] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4,
                                                    0x06C45D188009454F]
    np.testing.assert_array_equal(ops.counter_uniform(0, 3), np.float32(
        [0xE220A8 / 2**24, 0x6E789E / 2**24, 0x06C45D / 2**24]))
    positions = [0, 1, 2, 3, 1000, 2**31, 2**40]
    with np.errstate(over="ignore"):  # NUMBA_DISABLE_JIT: NumPy scalars warn on wraparound
        for key in KEYS:
            want = np.float32([(splitmix64(key, i) >> 40) / 2**24 for i in positions])
            got = [kernels._counter_uniform(np.uint64(key), i) for i in positions]
            np.testing.assert_array_equal(np.float32(got), want, err_msg=f"key {key:#x}")
            np.testing.assert_array_equal(ops.counter_uniform(key, 1001)[positions[:5]],
                                          want[:5], err_msg=f"key {key:#x}")


@pytest.mark.parametrize("key", KEYS)
def test_counter_uniform_kernel_equals_reference_bit_for_bit(key):
    with np.errstate(over="ignore"):
        for n in [0, 1, 2, 3, 7, 31, 1000, 4097]:
            U_ref = ops.counter_uniform(key, n)
            assert U_ref.dtype == np.float32 and U_ref.shape == (n,)
            np.testing.assert_array_equal(kernel_uniforms(np.uint64(key), n), U_ref,
                                          err_msg=f"key {key:#x}, n {n}")


def test_counter_uniform_makes_no_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ops.counter_uniform(2**64 - 1, 1000)
        ops.dropout_train_keyed(np.ones((3, 5), np.float32), np.uint64(2**64 - 1), 0.5)
        kernels.dropout_train_keyed(np.ones((3, 5), np.float32), np.uint64(2**64 - 1), 0.5)


@pytest.mark.parametrize("specials", [False, True], ids=["finite", "nan-inf"])
@given(shape=st.tuples(st.integers(0, 9), st.integers(1, 40), st.integers(1, 3)),
       rate=st.floats(0, 0.95), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 10**6),
       key=st.one_of(st.sampled_from(KEYS), st.integers(0, 2**64 - 1)))
@np.errstate(all="ignore")
def test_dropout(shape, rate, dtype, seed, key, specials):
    """The keyed kernel's mask and Y equal the reference's bit for bit, any key, any shape
    (0 rows, 1 entry, odd sizes, 3-D), finite or not."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=shape if shape[2] > 1 else shape[:2]).astype(dtype)
    if specials:  # a dropped NaN or inf stays NaN (NaN * 0), as in NumPy
        X = sprinkle(rng, X)
    Y_ref, mask_ref = ops.dropout_train_keyed(X, np.uint64(key), rate)
    Y, mask = kernels.dropout_train_keyed(X, np.uint64(key), rate)
    for got, want, what in ((mask, mask_ref, "mask"), (Y, Y_ref, "Y")):
        assert got.dtype == want.dtype == dtype and got.shape == want.shape == X.shape, what
        np.testing.assert_array_equal(got, want, err_msg=what)
    U = ops.counter_uniform(key, X.size).reshape(X.shape)
    np.testing.assert_array_equal(mask != 0, U >= np.float32(rate), err_msg="kept units")
    dY = rng.normal(size=X.shape).astype(dtype)
    if specials:
        dY = sprinkle(rng, dY)
    close(kernels.dropout_backward(dY, mask), ops.dropout_backward(dY, mask_ref), dtype, "dX")


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_compares_the_rate_in_float32_on_both_backends(dtype):
    """A rate just above a uniform U_5 (a float64 that rounds to U_5 in float32) keeps unit 5
    on both backends and for either dtype of X: the comparison is U >= float32(rate)."""
    key = np.uint64(0x0123456789ABCDEF)
    U = ops.counter_uniform(key, 64)
    i = int(np.flatnonzero((U > 0.25) & (U < 0.9))[0])
    rate = float(U[i]) + 2.0**-30
    assert np.float32(rate) == U[i] and rate > float(U[i])
    X = np.ones((8, 8), dtype)
    for train in (ops.dropout_train_keyed, kernels.dropout_train_keyed):
        Y, mask = train(X, key, rate)
        assert mask.flat[i] == dtype(1 / (1 - rate)), train.__module__


@pytest.mark.parametrize("specials", [False, True], ids=["finite", "nan-inf"])
@given(n=st.integers(1, 9), c=st.integers(2, 12), scale=st.sampled_from([0.1, 3.0, 1e4]),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 10**6))
@np.errstate(all="ignore")
def test_softmax_cross_entropy(n, c, scale, dtype, seed, specials):
    rng = np.random.default_rng(seed)
    Z = (rng.normal(size=(n, c)) * scale).astype(dtype)
    if specials:  # a row with NaN or +inf is NaN throughout; -inf is a probability of 0
        Z = sprinkle(rng, Z)
    y = rng.integers(0, c, size=n).astype(np.intp)
    losses_ref, dZ_ref = ops.softmax_cross_entropy_with_gradient(Z, y)
    losses, dZ = kernels.softmax_cross_entropy_with_gradient(Z, y)
    assert specials or np.isfinite(losses).all()
    close(losses, losses_ref, dtype, "losses")
    close(dZ, dZ_ref, dtype, "dZ")


@pytest.mark.parametrize("specials", [False, True], ids=["finite", "nan-inf"])
@given(n=st.integers(1, 9), c=st.integers(1, 12), loc=st.sampled_from([0.0, 5.0, -300.0]),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 10**6),
       scalars=st.booleans(), strided=st.booleans())
@np.errstate(all="ignore")
def test_batchnorm_train_forward_and_backward(n, c, loc, dtype, seed, scalars, strided,
                                             specials):
    """The fused training pass equals the reference; gamma and beta may be the scalars a layer
    without scale or center passes. Inputs around `loc` with unit spread: the mean is known only
    to ~eps * |loc| (the two sum in different orders), and X - mean magnifies that by |loc| / 1,
    so the tolerance is scaled by 1 + |loc|."""
    X, gamma, beta, dY = arrays(seed, dtype, (n, c), (c,), (c,), (n, c),
                                transpose_first=strided, specials=specials)
    X = X + dtype(loc)
    if scalars:
        gamma, beta = dtype(1), dtype(0)
    ref = ops.batchnorm_train(X, gamma, beta, 1e-3)
    got = kernels.batchnorm_train(X, gamma, beta, 1e-3)
    for a, b, name in zip(got, ref, ("Y", "Xhat", "inv_std", "mean", "var"), strict=True):
        assert a.dtype == dtype and a.shape == b.shape, name
        close(a, b, dtype, name, conditioning=1 + abs(loc))
    Xhat, inv_std = got[1], got[2]
    ref = ops.batchnorm_backward(dY, ref[1], gamma, ref[2])
    got = kernels.batchnorm_backward(dY, Xhat, gamma, inv_std)
    for a, b, name in zip(got, ref, ("dX", "dgamma", "dbeta"), strict=True):
        assert a.dtype == dtype and a.shape == b.shape, name
        close(a, b, dtype, name, conditioning=1 + abs(loc))


@pytest.mark.parametrize("specials", [False, True], ids=["finite", "nan-inf"])
@given(sizes=st.lists(st.integers(1, 300), min_size=1, max_size=4),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 10**6), nesterov=st.booleans())
@np.errstate(all="ignore")
def test_optimizer_updates(sizes, dtype, seed, nesterov, specials):
    """Each update takes lists (all the model's weights in one call); every array of every list
    must equal the reference's. With `specials`, gradients and state hold NaN and infinities
    (state that is a square, such as Adam's v, only NaN and +inf)."""
    rng = np.random.default_rng(seed)
    f = np.dtype(dtype).type

    def state(positive=False):
        out = [rng.normal(size=n).astype(dtype) for n in sizes]
        out = [np.abs(a) for a in out] if positive else out
        if specials:
            out = [sprinkle(rng, a, SPECIALS[:2] if positive else SPECIALS, 0.05) for a in out]
        return out

    def copies(*lists):
        return [[a.copy() for a in lst] for lst in lists]

    def check(got_lists, want_lists, names, what):
        for got, want, name in zip(got_lists, want_lists, names, strict=True):
            for k, (a, b) in enumerate(zip(got, want, strict=True)):
                close(a, b, dtype, f"{what} {name}[{k}]")

    W, G, M, V = state(), state(), state(), state(positive=True)
    ref = copies(W, M, V)
    ops.adam_update(ref[0], G, ref[1], ref[2], f(3e-3), f(0.1), f(0.001), f(1e-7))
    kernels.adam_update(W, G, M, V, f(3e-3), f(0.1), f(0.001), f(1e-7))
    check((W, M, V), ref, "wmv", "adam")
    vel = state()
    ref = copies(W, vel)
    ops.sgd_update(ref[0], G, ref[1], f(0.1), f(0.9), nesterov)
    kernels.sgd_update(W, G, vel, f(0.1), f(0.9), nesterov)
    check((W, vel), ref, ("w", "velocity"), "sgd")
    for momentum, centered in ((0.0, False), (0.9, True)):
        v, a, b = state(positive=True), state(positive=True), state(positive=True)
        v = [x + 1 for x in v]  # centered: keep the variance estimate v - a^2 positive
        a = [x * f(0.1) for x in a]
        ref = copies(W, v, a, b)
        ops.rmsprop_update(ref[0], G, *ref[1:], f(1e-3), f(0.9), f(1 - 0.9), f(1e-7),
                           f(momentum), centered)
        kernels.rmsprop_update(W, G, v, a, b, f(1e-3), f(0.9), f(1 - 0.9), f(1e-7), f(momentum),
                               centered)
        assert specials or all(np.isfinite(w).all() for w in W)
        check((W, v, a, b), ref, "wvab", f"rmsprop (momentum {momentum}, centered {centered})")
    M, V, V_hat = state(), state(positive=True), state(positive=True)
    ref = copies(W, M, V, V_hat)
    ops.amsgrad_update(ref[0], G, *ref[1:], f(3e-3), f(0.1), f(0.001), f(1e-7))
    kernels.amsgrad_update(W, G, M, V, V_hat, f(3e-3), f(0.1), f(0.001), f(1e-7))
    check((W, M, V, V_hat), ref, ("w", "m", "v", "v_hat"), "amsgrad")
    M, V = state(), state(positive=True)
    ref = copies(W, M, V)
    nadam_scalars = f(2e-3), f(0.1), f(0.001), f(0.85), f(0.86), f(0.3), f(0.3 * 0.86), f(0.02), \
        f(1e-7)
    ops.nadam_update(ref[0], G, ref[1], ref[2], *nadam_scalars)
    kernels.nadam_update(W, G, M, V, *nadam_scalars)
    check((W, M, V), ref, "wmv", "nadam")
    M, U = state(), state(positive=True)
    ref = copies(W, M, U)
    ops.adamax_update(ref[0], G, ref[1], ref[2], f(2e-3), f(0.1), f(0.999), f(0.27), f(1e-7))
    kernels.adamax_update(W, G, M, U, f(2e-3), f(0.1), f(0.999), f(0.27), f(1e-7))
    check((W, M, U), ref, "wmu", "adamax")
    A = state(positive=True)
    ref = copies(W, A)
    ops.adagrad_update(ref[0], G, ref[1], f(0.01), f(1e-7))
    kernels.adagrad_update(W, G, A, f(0.01), f(1e-7))
    check((W, A), ref, "wa", "adagrad")
    A, D = state(positive=True), state(positive=True)
    ref = copies(W, A, D)
    ops.adadelta_update(ref[0], G, ref[1], ref[2], f(1.0), f(0.95), f(1 - 0.95), f(1e-7))
    kernels.adadelta_update(W, G, A, D, f(1.0), f(0.95), f(1 - 0.95), f(1e-7))
    check((W, A, D), ref, "wad", "adadelta")
    M = state()
    M[0][0] = 0  # sign(0) = 0: with g = 0 too, the weight must not move
    G0 = [g.copy() for g in G]
    G0[0][0] = 0
    ref = copies(W, M)
    ops.lion_update(ref[0], G0, ref[1], f(1e-3), f(0.9), f(0.99))
    kernels.lion_update(W, G0, M, f(1e-3), f(0.9), f(0.99))
    check((W, M), ref, "wm", "lion")


@pytest.mark.parametrize("specials", [False, True], ids=["finite", "nan-inf"])
@given(sizes=st.lists(st.integers(1, 300), min_size=1, max_size=4),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 10**6), huge=st.booleans())
@np.errstate(all="ignore")
def test_squared_norm(sizes, dtype, seed, specials, huge):
    """The training loop's gradient check: equal sums; NaN for a NaN entry, inf for an infinite
    one or for squares that overflow the dtype (1e20**2 in float32), on both backends."""
    rng = np.random.default_rng(seed)
    G = [rng.normal(size=n).astype(dtype) for n in sizes]
    if specials:
        G = [sprinkle(rng, g, fraction=0.05) for g in G]
    if huge:
        G[0][0] = dtype(1e20 if dtype == np.float32 else 1e160)
    got, want = kernels.squared_norm(G), ops.squared_norm(G)
    assert isinstance(got, float) and isinstance(want, float)
    # summation order differs (vectorised lanes vs BLAS): float32 sums of up to 1,200 squares
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12)
    if huge and not specials:
        assert got == want == np.inf


def test_a_kernel_the_module_lacks_is_the_reference_one():
    """A new operation needs no kernel: tinynn.kernels falls back to tinynn.ops."""
    assert kernels.dense_forward is ops.dense_forward
    assert kernels.dropout_mask is ops.dropout_mask
    with pytest.raises(AttributeError):
        kernels.no_such_operation  # noqa: B018 (a missing name is still an error)


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="the typed-list cache is numba's")
def test_new_gradient_arrays_every_step_neither_evict_nor_pile_up():
    """Clipping makes new gradient arrays every step: the kernels' cache keeps the weights' and
    moments' typed lists, and at most a few gradient lists (not 32 copies of the gradients)."""
    backend.set_backend("numba")
    rng = np.random.default_rng(0)
    W = [rng.normal(size=s).astype(np.float32) for s in ((20, 10), (10,))]
    opt = tinynn.optimizers.Adam(clipnorm=0.1)
    for _ in range(50):
        opt.apply([rng.normal(size=w.shape).astype(np.float32) for w in W], W)
    assert tuple(map(id, W)) in kernels._TYPED
    assert tuple(map(id, opt.momentums)) in kernels._TYPED
    assert len(kernels._TYPED_GRADS) <= kernels._TYPED_GRADS_MAX


def test_kernels_refuse_non_contiguous_state():
    w = np.zeros((4, 4), np.float32)[:, ::2]
    with pytest.raises(ValueError, match="C-contiguous"):
        kernels.adam_update([w], [np.ones_like(w)], [np.zeros_like(w)], [np.zeros_like(w)],
                            *np.float32([1e-3, 0.1, 0.001, 1e-7]))


def seed_mlp():
    tinynn.utils.set_random_seed(0)
    model = tinynn.Sequential([
        tinynn.Input((28, 28)), tinynn.layers.Flatten(),
        tinynn.layers.Dense(512, activation="relu"), tinynn.layers.Dropout(0.3),
        tinynn.layers.Dense(256, activation="relu"), tinynn.layers.Dropout(0.3),
        tinynn.layers.Dense(128, activation="relu"),
        tinynn.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=tinynn.optimizers.Adam(5e-4),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_twenty_steps_of_the_seed_mlp_agree_across_backends(fashion):
    """Each of twenty training steps of the seed MLP (dropout masks, Adam), taken from the same
    state on both backends, gives the same loss, weights and optimizer state.

    In lockstep, not as two free runs: after Adam's first step the backends' weights differ by
    ~1e-7 where |g| is near epsilon, so sooner or later a pre-activation within ~1e-7 of zero
    falls on either side of ReLU's kink, and Adam, which normalises every gradient, makes
    1e-3 differences of it. Two free 20-step runs did so at step 13 under NUMBA_DISABLE_JIT
    once the dropout masks changed (and passed with the JIT): chance, not a kernel's fault."""
    (x, y), _ = fashion
    model = seed_mlp()
    initial = model.get_weights()
    try:
        for step in range(20):
            fast = copy.deepcopy(model)  # weights, optimizer moments, dropout generators
            batch = slice(32 * step, 32 * (step + 1))
            backend.set_backend("numpy")
            loss_ref = model.train_on_batch(x[batch], y[batch], return_dict=True)["loss"]
            backend.set_backend("numba")
            loss = fast.train_on_batch(x[batch], y[batch], return_dict=True)["loss"]
            assert loss == pytest.approx(loss_ref, rel=1e-5), f"step {step}"
            for i, (a, b) in enumerate(zip(fast.optimizer.variables, model.optimizer.variables,
                                           strict=True)):
                np.testing.assert_allclose(a, b, atol=1e-5, rtol=0,
                                           err_msg=f"step {step}, optimizer variable {i}")
            for i, (a, b) in enumerate(zip(fast.get_weights(), model.get_weights(),
                                           strict=True)):
                np.testing.assert_allclose(a, b, atol=1e-5, rtol=0,
                                           err_msg=f"step {step}, weight array {i}")
    finally:
        backend.set_backend("numba")
    assert not np.array_equal(initial[0], model.get_weights()[0])


def test_backend_switch():
    assert tinynn.get_backend() in backend.available()
    tinynn.set_backend("numpy")
    try:
        assert tinynn.get_backend() == "numpy" and backend.ops() is ops
    finally:
        tinynn.set_backend("numba")
    with pytest.raises(ValueError, match="numba.*numpy"):
        tinynn.set_backend("cuda")


def test_import_does_not_load_numba():
    import subprocess
    import sys

    code = "import sys, tinynn; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.skipif(numba.config.DISABLE_JIT,
                    reason="inspects compiled code; make test runs it in the JIT pass")
@pytest.mark.parametrize("name", ["_adam", "_rmsprop", "_sgd", "_dropout_keyed", "_batchnorm_train",
                                  "_batchnorm_backward", "_amsgrad", "_nadam", "_adamax",
                                  "_adagrad", "_adadelta", "_lion"])
def test_float32_kernels_stay_in_float32(name):
    """A bare literal such as `x if c else 0` makes numba compute in float64 (int64 and float32
    unify to float64). In Adam that tripled the time of a step's update (0.5 ms instead of
    0.17 ms over the seed MLP's 567k parameters), so the compiled float32 kernels must contain
    no float -> double conversion. A fresh, uncached compile is inspected (numba does not
    keep the IR of cached code)."""
    f, w, a = np.float32, np.ones(8, np.float32), np.ones((2, 4), np.float32)
    args = {"_adam": (w, w.copy(), w.copy(), w.copy(), f(1e-3), f(0.1), f(1e-3), f(1e-7),
                      f(1e-30)),
            "_sgd": (w, w.copy(), w.copy(), f(0.1), f(0.9), True),
            "_rmsprop": (w, w.copy(), w.copy(), w.copy(), w.copy(), f(1e-3), f(0.9), f(0.1),
                         f(1e-7), f(0.9), True),
            "_dropout_keyed": (w, np.uint64(2**64 - 1), f(0.3), f(1 / 0.7), w.copy(), w.copy()),
            "_batchnorm_train": (a, w[:4], w[:4], f(1e-3), a.copy(), a.copy(), w[:4].copy(),
                                 w[:4].copy(), w[:4].copy()),
            "_batchnorm_backward": (a, a.copy(), w[:4], w[:4], a.copy(), w[:4].copy(),
                                    w[:4].copy()),
            "_amsgrad": (w, w.copy(), w.copy(), w.copy(), w.copy(), f(1e-3), f(0.1), f(1e-3),
                         f(1e-7), f(1e-30)),
            "_nadam": (w, w.copy(), w.copy(), w.copy(), *f([1e-3, 0.1, 1e-3, 0.9, 0.5, 0.2,
                                                            0.3, 0.01, 1e-7, 1e-30])),
            "_adamax": (w, w.copy(), w.copy(), w.copy(), *f([1e-3, 0.1, 0.999, 0.1, 1e-7,
                                                             1e-30])),
            "_adagrad": (w, w.copy(), w.copy(), f(1e-3), f(1e-7)),
            "_adadelta": (w, w.copy(), w.copy(), w.copy(), *f([1.0, 0.95, 0.05, 1e-7, 1e-30])),
            "_lion": (w, w.copy(), w.copy(), *f([1e-3, 0.9, 0.1, 0.99, 0.01, 1e-30]))}[name]
    fresh = numba.njit(error_model="numpy")(getattr(kernels, name).py_func)
    fresh(*args)
    (llvm_ir,) = fresh.inspect_llvm().values()
    assert "fpext" not in llvm_ir, f"{name} converts float32 values to float64"


@pytest.mark.skipif(numba.config.DISABLE_JIT,
                    reason="counts compilations; make test runs it in the JIT pass")
def test_a_second_process_loads_the_kernels_from_the_cache(tmp_path):
    """cache=True: the first process compiles the kernels and writes them to the cache; a second
    process training the same model loads every kernel from it and compiles nothing: the layer
    path's kernels (jit_compile=False) and the fused engine's (tinynn.fused)."""
    import os
    import subprocess
    import sys

    code = """
import numpy as np, tinynn
from tinynn import fused, kernels
from tinynn.layers import Dense, Dropout
for jit in (False, "auto"):
    model = tinynn.Sequential([tinynn.Input((6,)), Dense(5, activation="relu"), Dropout(0.5),
                               Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=jit)
    model.fit(np.ones((8, 6), "float32"), np.arange(8) % 3, epochs=1, verbose=0)
assert tinynn.engine.why_not(model) is None
used = [f for m in (kernels, fused) for f in vars(m).values()
        if hasattr(f, "stats") and f.signatures]
print(len(used), sum(sum(f.stats.cache_hits.values()) for f in used),
      sum(sum(f.stats.cache_misses.values()) for f in used),
      sum(1 for f in vars(fused).values() if hasattr(f, "stats") and f.signatures))
"""
    # TINYNN_BLAS pinned: with "auto" each process times MKL against OpenBLAS (when MKL is
    # installed), and a different choice is a different compiled signature
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), TINYNN_BACKEND="numba",
               TINYNN_BLAS="openblas")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env=env, check=True).stdout.split() for _ in range(2)]
    (used, hits_1, misses_1, fused_1), (used_2, hits_2, misses_2, fused_2) = [
        map(int, r) for r in runs]
    # bias+activation, backward, dropout, softmax-CE, Adam (the first process also compiles the
    # one-weight Adam on its own, as a callee of the all-weights one, which the cache embeds);
    # and the fused engine's steps (a second process loads the outermost one, which the cache
    # holds with its callees)
    assert used >= 7 and fused_1 >= 3 and 1 <= fused_2 and used_2 <= used
    assert misses_2 == 0 and hits_2 == used_2, "the second process recompiled a kernel"
