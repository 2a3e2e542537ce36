"""Numerical stability and hypothesis properties: cross-entropy stays finite for logits of
+-1e4, probabilities sum to 1 within 1e-6, the loss is never negative, whole-model gradients
match finite differences, and Dropout keeps the expected value."""

import warnings

import numpy as np
import pytest
from gradcheck import assert_grad_close, numerical_grad
from hypothesis import given
from hypothesis import strategies as st

import tinynn
from tinynn import activations, layers, losses

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_is_finite_and_exact_for_huge_logits(dtype):
    Z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [1e4, 1e4, -1e4]], dtype=dtype)
    y = np.array([1, 2, 0])
    values = losses.softmax_cross_entropy(Z, y)
    np.testing.assert_array_equal(values, np.array([2e4, 0, np.log(2)], dtype=dtype))
    dZ = losses.softmax_cross_entropy_backward(Z, y)
    assert np.isfinite(dZ).all()
    np.testing.assert_allclose(dZ * 3, [[1, -1, 0], [0, 0, 0], [-0.5, 0.5, 0]], atol=1e-6)
    P = activations.softmax(Z)
    assert np.isfinite(losses.probs_cross_entropy(P, y)).all()  # log(0) is clipped
    np.testing.assert_allclose(P.sum(axis=1), 1, atol=1e-6)


def test_training_on_huge_logits_stays_finite():
    """A softmax model whose logits are ~1e4 trains without a NaN (the fused logits path)."""
    tinynn.utils.set_random_seed(0)
    model = tinynn.Sequential([tinynn.Input((3,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.set_weights([np.eye(3, dtype=np.float32) * 1e4, np.zeros(3, dtype=np.float32)])
    x = np.eye(3, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = model.fit(x, np.array([1, 2, 0]), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all() and history.history["loss"][0] >= 1e4
    np.testing.assert_allclose(model.predict(x, verbose=0).sum(axis=1), 1, atol=1e-6)


@given(n=st.integers(1, 8), c=st.integers(2, 12), scale=st.floats(1e-3, 1e4),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_probabilities_sum_to_one_and_loss_is_nonnegative(n, c, scale, dtype, seed):
    rng = np.random.default_rng(seed)
    Z = (rng.normal(size=(n, c)) * scale).astype(dtype)
    y = rng.integers(0, c, size=n)
    P = activations.softmax(Z)
    assert P.dtype == dtype and np.isfinite(P).all()
    np.testing.assert_allclose(P.sum(axis=1, dtype=np.float64), 1, atol=1e-6)
    for values in (losses.softmax_cross_entropy(Z, y), losses.probs_cross_entropy(P, y)):
        assert np.isfinite(values).all() and (values >= 0).all(), values


ACTIVATIONS = ["linear", "relu", "tanh", "sigmoid", "softmax"]


@given(n=st.integers(1, 5), n_in=st.integers(1, 4),
       hidden=st.lists(st.tuples(st.integers(1, 4), st.sampled_from(ACTIVATIONS)), max_size=2),
       classes=st.integers(2, 4), from_logits=st.booleans(), seed=st.integers(0, 2**16))
def test_whole_model_gradients_match_finite_differences(n, n_in, hidden, classes, from_logits,
                                                         seed):
    """One SGD step with learning_rate=1 moves each weight by exactly -gradient; the gradient is
    compared with central differences of `evaluate`'s loss, for random depths, widths and
    activations, through the public API only."""
    tinynn.config.set_floatx("float64")
    try:
        tinynn.utils.set_random_seed(seed)
        model = tinynn.Sequential([
            tinynn.Input((n_in,)), *(layers.Dense(u, activation=a) for u, a in hidden),
            layers.Dense(classes, activation=None if from_logits else "softmax")])
        model.compile(optimizer=tinynn.optimizers.SGD(learning_rate=1.0),
                      loss=losses.SparseCategoricalCrossentropy(from_logits=from_logits))
        rng = np.random.default_rng(seed)
        x, y = rng.normal(size=(n, n_in)), rng.integers(0, classes, size=n)
        # random biases: with zero biases a dead ReLU puts the next layer exactly on the kink
        model.set_weights([w if w.ndim == 2 else rng.normal(size=w.shape)
                           for w in model.get_weights()])
        before = model.get_weights()
        numeric = [numerical_grad(lambda: model.evaluate(x, y, batch_size=n, verbose=0), p)
                   for p in model.trainable_weights]
        model.fit(x, y, batch_size=n, epochs=1, shuffle=False, verbose=0)
        for i, (b, a, num) in enumerate(zip(before, model.get_weights(), numeric, strict=True)):
            assert_grad_close(b - a, num, f"weight {i} of {hidden}", rtol=1e-4, atol=1e-7)
    finally:
        tinynn.config.set_floatx("float32")


def bernstein(variance: float, bound: float, delta: float = 1e-9) -> float:
    """t such that P(|S - E[S]| >= t) <= delta for S a sum of independent terms, each within
    `bound` of its mean, of total `variance` (Bernstein's inequality). Unlike a multiple of the
    standard deviation it holds in every regime, also when the rate is 1e-7 and one dropped unit
    is ten standard deviations away: t >= bound * log(2 / delta) * 2 / 3 always."""
    L = np.log(2 / delta)
    return bound * L / 3 + np.sqrt((bound * L / 3) ** 2 + 2 * variance * L)


@given(rate=st.floats(0.0, 0.9), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_dropout_keeps_the_expected_value(rate, dtype, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.5, 2.0, size=(100, 400)).astype(dtype)
    layer = layers.Dropout(rate, seed=seed + 1)  # the data's own seed would correlate the mask
    Y = layer(X, training=True)
    kept = Y != 0
    np.testing.assert_allclose(Y[kept], X[kept] / (1 - rate), rtol=1e-6)
    # The mask compares float32 uniforms (a grid of step 2**-24) with the rate, so the real drop
    # probability is within 2**-24 of it; float32 rounds each Y by a few eps more.
    n, X64, grid = X.size, X.astype(np.float64), 2.0**-24
    # dropped units ~ Binomial(n, rate): each indicator is within 1 of its mean, rate
    dropped = n - np.count_nonzero(kept)
    assert abs(dropped - n * rate) <= bernstein(n * rate * (1 - rate), 1.0) + n * grid
    # E[Y] = E[X]: Y_i - X_i is X_i * rate / (1 - rate) when kept, -X_i when dropped
    variance = (X64**2).sum() * rate / (1 - rate)
    bound = X64.max() * max(1.0, rate / (1 - rate))
    slack = X64.max() * (grid / (1 - rate) + 4 * np.finfo(dtype).eps / (1 - rate))
    assert abs(Y.sum(dtype=np.float64) - X64.sum()) <= bernstein(variance, bound) + n * slack
    assert layer(X, training=False) is X


# The counter-based stream of Dropout (`ops.counter_uniform`) on fixed keys: every statistic
# below is a sum of independent terms if the hash behaves as a random function, and is held to
# Bernstein's bound at delta = 1e-9; over the 5 keys x 28 checks the chance that a truly random
# stream fails any is below 1.5e-7. The keys are fixed, so the values, and the verdicts, are.
STREAM_KEYS = [0, 1, 2**63, 2**64 - 1, 0x0123456789ABCDEF]
GRID = 2**24  # U = k / 2**24, k uniform on 0 .. 2**24 - 1


@pytest.mark.parametrize("key", STREAM_KEYS)
def test_counter_uniform_statistics(key):
    from tinynn import ops

    n = 2**20
    U = ops.counter_uniform(key, n)
    assert U.dtype == np.float32 and U.shape == (n,)
    assert U.min() >= 0 and U.max() < 1
    k = (U.astype(np.float64) * GRID).astype(np.int64)
    np.testing.assert_array_equal(k / GRID, U)  # on the grid, exactly
    U64 = U.astype(np.float64)
    mean = (GRID - 1) / (2 * GRID)
    mean_square = (GRID - 1) * (2 * GRID - 1) / (6 * GRID**2)
    assert abs(U64.sum() - n * mean) <= bernstein(n / 12, 1.0), "mean of U"
    assert abs((U64**2).sum() - n * mean_square) <= bernstein(n / 5, 1.0), "mean of U**2"
    for b in range(24):  # each of the 24 bits is 1 half of the time
        ones = int(((k >> b) & 1).sum())
        assert abs(ones - n / 2) <= bernstein(n / 4, 1.0), f"bit {b}: {ones} ones in {n}"
    # neighbours are uncorrelated: disjoint pairs (U_2j, U_2j+1), and key + 1's stream
    C = U64 - 0.5
    assert abs((C[0::2] * C[1::2]).sum()) <= bernstein(n / 2 / 144, 0.25) + 1e-6, "pairs"
    C_next = ops.counter_uniform((key + 1) % 2**64, n).astype(np.float64) - 0.5
    assert abs((C * C_next).sum()) <= bernstein(n / 144, 0.25) + 1e-6, "key and key + 1"


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5])
def test_dropout_keeps_one_minus_rate_of_a_large_array(rate):
    """Over n = 2**22 units the dropped count is Binomial(n, p), p = P(U < float32(rate)) =
    ceil(float32(rate) * 2**24) / 2**24 (within 2**-24 of rate): Bernstein at delta = 1e-9
    allows |dropped - n p| <= ~6.3 standard deviations, ~1.5e-3 of n at rate 0.3."""
    layer = layers.Dropout(rate, seed=11)
    X = np.ones((2048, 2048), np.float32)
    Y = layer(X, training=True)
    n, dropped = X.size, X.size - np.count_nonzero(Y)
    p = np.ceil(np.float64(np.float32(rate)) * GRID) / GRID
    assert abs(p - rate) <= 1 / GRID
    assert abs(dropped - n * p) <= bernstein(n * p * (1 - p), 1.0), f"{dropped} of {n}"
    np.testing.assert_array_equal(np.unique(Y), np.float32([0, 1 / (1 - rate)]))
