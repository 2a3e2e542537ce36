"""Every tinynn initializer against the Keras class of the same name (discovered), built from
tinynn's own config: the configs are equal, and the draws have the same distribution.

Random streams differ between the frameworks, so the draws are compared statistically, with
fixed seeds (deterministic): both frameworks' means and variances within 5 standard errors of
the formula (the variance's standard error from the sample's 4th moment), the same support
(bounds reached, never exceeded: +-2 stddev for truncated normals, +-limit for uniforms), and a
two-sample Kolmogorov-Smirnov test between Keras's and tinynn's 120,000 draws (critical value
1.95 sqrt(2/n), alpha = 1e-3). Orthogonal: both give W.T W = gain**2 I, and their entries pass
the same KS test (the entries of one matrix are not quite independent: the constraint couples
them by O(1/n), far below the test's resolution).
"""

import math

import numpy as np
import pytest

from tinynn import initializers as I

SHAPE = (400, 300)
N = SHAPE[0] * SHAPE[1]
TRUNC = 0.87962566103423978
VARIANCE_SCALING = (I.VarianceScaling, I.GlorotUniform, I.GlorotNormal, I.HeNormal,
                    I.HeUniform, I.LecunNormal, I.LecunUniform)

# (initializer, mean, variance, bound or None), for SHAPE: fan_in 400, fan_out 300
CASES = [
    (I.GlorotUniform(seed=1), 0.0, 2 / 700, math.sqrt(6 / 700)),
    (I.GlorotNormal(seed=1), 0.0, 2 / 700, 2 * math.sqrt(2 / 700) / TRUNC),
    (I.HeNormal(seed=1), 0.0, 2 / 400, 2 * math.sqrt(2 / 400) / TRUNC),
    (I.HeUniform(seed=1), 0.0, 2 / 400, math.sqrt(6 / 400)),
    (I.LecunNormal(seed=1), 0.0, 1 / 400, 2 * math.sqrt(1 / 400) / TRUNC),
    (I.LecunUniform(seed=1), 0.0, 1 / 400, math.sqrt(3 / 400)),
    (I.VarianceScaling(2.5, "fan_out", "untruncated_normal", seed=1), 0.0, 2.5 / 300, None),
    (I.VarianceScaling(0.7, "fan_avg", "uniform", seed=1), 0.0, 0.7 / 350,
     math.sqrt(2.1 / 350)),
    (I.VarianceScaling(seed=1), 0.0, 1 / 400, 2 * math.sqrt(1 / 400) / TRUNC),
    (I.RandomNormal(0.5, 0.2, seed=1), 0.5, 0.04, None),
    (I.RandomUniform(-0.3, 0.1, seed=1), -0.1, 0.4**2 / 12, None),
    (I.TruncatedNormal(0.5, 0.2, seed=1), 0.5, (0.2 * TRUNC) ** 2, None),
]


def keras_twin(keras, init):
    return getattr(keras.initializers, type(init).__name__).from_config(init.get_config())


def test_every_initializer_has_a_keras_twin_with_the_same_config(keras):
    for cls in I._CLASSES:
        ours = cls()
        theirs = keras_twin(keras, ours)
        if cls is I.Identity:  # Keras 3.15's Identity.get_config() drops gain (measured)
            assert theirs.get_config() == {} and ours.get_config() == {"gain": 1.0}
            np.testing.assert_array_equal(
                I.Identity(gain=2.5)((3, 4)),
                keras.initializers.Identity(gain=2.5)((3, 4)).numpy())
            continue
        assert theirs.get_config() == ours.get_config(), cls.__name__
        # and the lower-case names and string aliases are Keras's
        assert type(keras.initializers.get(I.serialize(ours))).__name__ == cls.__name__
    for changed in [init for init, *_ in CASES] + [I.Constant(2.5), I.Orthogonal(3.0, seed=4)]:
        assert keras_twin(keras, changed).get_config() == changed.get_config()


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.sort(a.ravel()), np.sort(b.ravel())
    both = np.concatenate([a, b])
    return float(np.max(np.abs(np.searchsorted(a, both, side="right") / a.size
                               - np.searchsorted(b, both, side="right") / b.size)))


def check_moments(W, mean, variance, name):
    fourth = np.mean((W - W.mean()) ** 4)
    assert abs(W.mean() - mean) < 5 * math.sqrt(variance / W.size), f"{name} mean {W.mean()}"
    assert abs(W.var() - variance) < 5 * math.sqrt((fourth - W.var() ** 2) / W.size), \
        f"{name} variance {W.var()} vs {variance}"


@pytest.mark.parametrize("init,mean,variance,bound", CASES, ids=lambda x: repr(x)
                         if isinstance(x, I.Initializer) else "")
def test_draws_match_keras(keras, floatx, report, init, mean, variance, bound):
    W_k = np.asarray(keras_twin(keras, init)(SHAPE, dtype=floatx))
    W_t = init(SHAPE, floatx)
    assert W_k.dtype == W_t.dtype == np.dtype(floatx) and W_k.shape == W_t.shape == SHAPE
    for name, W in (("Keras", W_k.astype(np.float64)), ("tinynn", W_t.astype(np.float64))):
        check_moments(W, mean, variance, name)
        if bound is not None:
            assert np.abs(W - mean).max() <= bound * (1 + 1e-6), f"{name} exceeds {bound}"
            assert np.abs(W - mean).max() >= bound * 0.99, f"{name} does not reach {bound}"
    if isinstance(init, I.TruncatedNormal):  # cut at mean +- 2 stddev
        for W in (W_k, W_t):
            assert np.abs(W - init.mean).max() <= 2 * init.stddev * (1 + 1e-6)
    ks = ks_statistic(W_k, W_t)
    critical = 1.95 * math.sqrt(2 / N)
    report(f"{init!r} {floatx}", f"KS {ks:.4f} (critical {critical:.4f})")
    assert ks < critical, f"KS statistic {ks:.4f}: the distributions differ"


@pytest.mark.parametrize("shape", [(400, 300), (300, 400)])
def test_orthogonal_matches_keras(keras, floatx64, report, shape):
    init = I.Orthogonal(gain=1.5, seed=2)
    W_k = np.asarray(keras_twin(keras, init)(shape, dtype="float64"))
    W_t = init(shape, "float64")
    for W in (W_k, W_t):
        gram = W.T @ W if shape[0] >= shape[1] else W @ W.T
        np.testing.assert_allclose(gram, 2.25 * np.eye(min(shape)), atol=1e-12)
    ks = ks_statistic(W_k, W_t)
    report(f"Orthogonal {shape}", f"KS {ks:.4f} (critical {1.95 * math.sqrt(2 / N):.4f})")
    assert ks < 1.95 * math.sqrt(2 / N)


def test_constant_zeros_ones_equal_keras(keras, floatx):
    for init in (I.Constant(-1.25), I.Zeros(), I.Ones()):
        np.testing.assert_array_equal(init((3, 4), floatx),
                                      np.asarray(keras_twin(keras, init)((3, 4), dtype=floatx)))


def test_seeded_keras_and_tinynn_both_repeat_their_values(keras):
    """Same seed, same values, call after call, in both frameworks."""
    for init in (I.HeNormal(seed=3), I.RandomUniform(seed=3), I.Orthogonal(seed=3)):
        theirs = keras_twin(keras, init)
        np.testing.assert_array_equal(np.asarray(theirs((5, 4))), np.asarray(theirs((5, 4))))
        np.testing.assert_array_equal(init((5, 4)), init((5, 4)))
