"""Adam, RMSprop and SGD against their formulas written out by hand, step by step."""

import numpy as np
import pytest

from tinynn import optimizers


def grads_sequence(steps, shape=(3, 2), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape) for _ in range(steps)]


@pytest.mark.parametrize("kwargs", [{}, dict(learning_rate=5e-4, beta_1=0.8, beta_2=0.99,
                                             epsilon=1e-4)])
def test_adam_matches_keras_formula_float64(kwargs):
    lr = kwargs.get("learning_rate", 1e-3)
    b1, b2 = kwargs.get("beta_1", 0.9), kwargs.get("beta_2", 0.999)
    eps = kwargs.get("epsilon", 1e-7)
    w = np.zeros((3, 2))
    opt = optimizers.Adam(**kwargs)
    want, m, v = w.copy(), np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(grads_sequence(20), start=1):
        opt.apply([g], [w])
        # the powers use beta rounded to float32, as Keras does even in float64
        alpha = lr * np.sqrt(1 - float(np.float32(b2)) ** t) / (1 - float(np.float32(b1)) ** t)
        m += (g - m) * (1 - b1)
        v += (g * g - v) * (1 - b2)
        want -= m * alpha / (np.sqrt(v) + eps)
        np.testing.assert_allclose(w, want, rtol=1e-12, atol=1e-15, err_msg=f"step {t}")
    assert opt.iterations == 20


def test_adam_first_step_is_lr_times_sign():
    w = np.zeros(4, dtype=np.float32)
    optimizers.Adam(learning_rate=0.01).apply([np.array([3, -2, 0.5, -0.1], np.float32)], [w])
    np.testing.assert_allclose(w, [-0.01, 0.01, -0.01, 0.01], rtol=1e-3)
    assert w.dtype == np.float32


def test_adam_keeps_float32():
    w = np.ones(5, dtype=np.float32)
    opt = optimizers.Adam()
    opt.apply([np.ones(5, dtype=np.float32)], [w])
    assert w.dtype == opt.momentums[0].dtype == opt.velocities[0].dtype == np.float32


@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_matches_keras_formula(momentum, nesterov):
    w = np.ones((3, 2))
    opt = optimizers.SGD(learning_rate=0.1, momentum=momentum, nesterov=nesterov)
    want, vel = w.copy(), np.zeros_like(w)
    momentum = float(np.float32(momentum))  # Keras rounds momentum to float32, even in float64
    for g in grads_sequence(10, seed=1):
        opt.apply([g], [w])
        vel = momentum * vel - 0.1 * g
        if momentum == 0:
            want = want - 0.1 * g
        elif nesterov:
            want = want + momentum * vel - 0.1 * g
        else:
            want = want + vel
        np.testing.assert_allclose(w, want, rtol=1e-13)


def test_apply_gradients_keras_spelling():
    w1, w2 = np.ones(2), np.ones(2)
    optimizers.SGD(learning_rate=0.5).apply_gradients(zip([np.ones(2), -np.ones(2)], [w1, w2],
                                                          strict=True))
    np.testing.assert_array_equal(w1, [0.5, 0.5])
    np.testing.assert_array_equal(w2, [1.5, 1.5])


def test_optimizer_refuses_other_parameters():
    opt = optimizers.Adam()
    opt.apply([np.ones(3)], [np.ones(3)])
    with pytest.raises(ValueError, match="built for variables shaped"):
        opt.apply([np.ones(4)], [np.ones(4)])


@pytest.mark.parametrize("momentum", [0.0, 0.5])
@pytest.mark.parametrize("centered", [False, True])
def test_rmsprop_matches_keras_formula(momentum, centered):
    """Three float64 steps written out: v = rho v + (1 - rho) g^2, epsilon inside the root."""
    lr, rho, eps = 0.01, 0.9, 1e-7
    opt = optimizers.RMSprop(learning_rate=lr, rho=rho, momentum=momentum, epsilon=eps,
                             centered=centered)
    w = np.array([1.0, -2.0, 0.5])
    v, a, b, expect = np.zeros(3), np.zeros(3), np.zeros(3), w.copy()
    for g in (np.array([0.3, -1.0, 0.0]), np.array([0.1, 2.0, -0.5]), np.array([-0.2, 0.4, 1.0])):
        opt.apply([g.copy()], [w])
        v = rho * v + (1 - rho) * g**2
        a = rho * a + (1 - rho) * g
        step = lr * g / np.sqrt((v - a**2 if centered else v) + eps)
        b = momentum * b + step
        expect -= b if momentum else step
        np.testing.assert_allclose(w, expect, rtol=1e-14, atol=1e-16)


def test_rmsprop_first_step_is_lr_over_sqrt_one_minus_rho():
    """From v = 0, the first step is lr * g / sqrt((1 - rho) g^2): lr / sqrt(0.1) = 3.16 lr."""
    w = np.zeros(3, np.float32)
    optimizers.RMSprop(learning_rate=0.01).apply([np.array([3, -2, 0.5], np.float32)], [w])
    np.testing.assert_allclose(w, -0.01 / np.sqrt(0.1) * np.array([1, -1, 1]), rtol=1e-5)
    assert w.dtype == np.float32


@pytest.mark.parametrize("make,match", [
    (lambda: optimizers.Adam(learning_rate=0), "learning_rate"),
    (lambda: optimizers.Adam(beta_1=1.0), "beta_1"),
    (lambda: optimizers.SGD(momentum=-0.1), "momentum"),
    (lambda: optimizers.RMSprop(rho=1.0), "rho"),
    (lambda: optimizers.RMSprop(momentum=1.0), "momentum"),
    (lambda: optimizers.RMSprop(epsilon=0), "epsilon"),
    (lambda: optimizers.get("ftrl"), "Known optimizers: adadelta, adagrad, adam, adamax, adamw, "
                                      "lion, nadam, rmsprop, sgd"),
])
def test_bad_optimizer_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()
