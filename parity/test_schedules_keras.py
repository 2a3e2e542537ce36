"""Every learning-rate schedule against Keras's, value by value over 2,000 steps (eight restarts
of the shortest CosineDecayRestarts period).

Keras computes a schedule in the dtype of its initial rate: float32 for a Python float (the
usual case), float64 for a NumPy float64. tinynn does the same. float64 schedules must agree
within 4 float64 ulps of the initial rate (about 1e-17 here, far inside 1e-9): the arithmetic is
the same, and TensorFlow's float64 `pow` is at most an ulp from NumPy's. float32 schedules must
agree within 2 float32 ulps of the initial rate: TensorFlow's float32 `cos`, `pow` and `log`
(Eigen's) are within an ulp of the correctly rounded value that tinynn computes (in float64,
then rounded), and differ from it on a few steps in a thousand. See parity/README.md.
"""

import numpy as np
import pytest

import tinynn

STEPS = np.arange(2000)
CASES = {
    "ExponentialDecay": ((0.1, 7, 0.93), {}),
    "ExponentialDecay(staircase)": ((0.1, 7, 0.93), dict(staircase=True)),
    "InverseTimeDecay": ((0.1, 7, 0.5), {}),
    "InverseTimeDecay(staircase)": ((0.1, 7, 0.5), dict(staircase=True)),
    "PiecewiseConstantDecay": (([100, 500.7, 1000], [0.1, 0.05, 0.01, 0.001]), {}),
    "PolynomialDecay": ((0.1, 1000), {}),
    "PolynomialDecay(power, cycle)": ((0.1, 700), dict(power=0.5, cycle=True,
                                                        end_learning_rate=0.001)),
    "CosineDecay": ((0.1, 1000), dict(alpha=0.1)),
    "CosineDecay(warmup)": ((0.0, 1000), dict(warmup_target=0.1, warmup_steps=300)),
    "CosineDecayRestarts": ((0.1, 100), {}),
    "CosineDecayRestarts(t_mul=1)": ((0.1, 100), dict(t_mul=1.0, m_mul=0.9, alpha=0.05)),
    "CosineDecayRestarts(t_mul=3)": ((0.1, 50), dict(t_mul=3.0, m_mul=0.5)),
    "CosineDecayRestarts(t_mul=1.5)": ((0.1, 37), dict(t_mul=1.5)),
}


@pytest.mark.parametrize("precision", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES)
def test_schedule_values_match_keras(keras, tf, case, precision, report):
    args, kwargs = CASES[case]
    name = case.split("(")[0]
    args = list(args)
    if precision == "float64":  # a NumPy float64 makes Keras (and tinynn) compute in float64
        if name == "PiecewiseConstantDecay":
            args[1] = [np.float64(v) for v in args[1]]
        else:
            args[0] = np.float64(args[0])
    theirs = getattr(keras.optimizers.schedules, name)(*args, **kwargs)
    ours = getattr(tinynn.optimizers.schedules, name)(*args, **kwargs)
    k = np.array([theirs(tf.constant(int(s), tf.int64)).numpy() for s in STEPS])
    t = np.array([ours(int(s)) for s in STEPS])
    assert k.dtype == t.dtype == np.dtype(precision)
    diff = np.abs(k.astype(np.float64) - t.astype(np.float64))
    report(f"schedule {case}, {precision}, {len(STEPS)} steps",
           f"{int(np.sum(diff > 0))} steps differ, max |diff| {diff.max():.2e}")
    scale = max(float(np.max(np.abs(k))), 1e-30)
    ulps = 4 if precision == "float64" else 2
    np.testing.assert_allclose(t, k, rtol=0, atol=ulps * np.finfo(precision).eps * scale)
    assert ours.get_config() == theirs.get_config()
