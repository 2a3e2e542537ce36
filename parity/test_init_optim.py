"""Initialisers (glorot_uniform, zero bias) and every optimizer against Keras's own.

Initialisers draw from different random streams, so they are compared statistically: bounds
exactly, mean and variance within 5 standard errors of the formula, and a two-sample
Kolmogorov-Smirnov test between Keras's and tinynn's draws (critical value at alpha = 1e-3).

Optimizers get the same gradient sequence (random, scales from 1e-4 to 10, some exact zeros)
for 1 and 200 steps. float64 must agree to rtol 1e-12 after 200 steps (observed: see README);
float32 to rtol 1e-5 / atol 2e-6 (200 steps of float32 rounding in a different order).
"""

import numpy as np
import pytest
from twins import keras_apply_all

import tinynn


@pytest.mark.parametrize("shape", [(784, 512), (128, 10), (30, 300)])
def test_glorot_uniform_matches_keras(keras, floatx, shape, report):
    limit = np.sqrt(6.0 / sum(shape))
    n = shape[0] * shape[1]
    W_k = keras.initializers.GlorotUniform(seed=1)(shape, dtype=floatx).numpy()
    tinynn.utils.set_random_seed(1)
    W_t = tinynn.initializers.GlorotUniform()(shape, floatx)
    for name, W in (("Keras", W_k), ("tinynn", W_t)):
        assert W.shape == shape and W.dtype == np.dtype(floatx), name
        assert np.abs(W).max() <= limit, f"{name} exceeds the glorot bound {limit}"
        assert np.abs(W).max() >= limit * (1 - 50 / n), f"{name} does not reach the bound"
        assert abs(W.mean()) < 5 * limit / np.sqrt(3 * n), f"{name} mean {W.mean()}"
        var_se = np.sqrt(4 / 45) * limit**2 / np.sqrt(n)  # standard error of mean(W**2)
        assert abs(W.var() - 2 / sum(shape)) < 5 * var_se, f"{name} variance {W.var()}"
    both = np.sort(np.concatenate([W_k.ravel(), W_t.ravel()]))
    ks = np.max(np.abs(np.searchsorted(np.sort(W_k.ravel()), both, side="right") / n
                       - np.searchsorted(np.sort(W_t.ravel()), both, side="right") / n))
    report(f"glorot_uniform {shape} {floatx}", f"two-sample KS statistic {ks:.4f} "
           f"(critical {1.95 * np.sqrt(2 / n):.4f})")
    assert ks < 1.95 * np.sqrt(2 / n), f"KS statistic {ks:.4f}: the distributions differ"


def test_dense_defaults_glorot_kernel_and_zero_bias(keras, floatx):
    k_layer, t_layer = keras.layers.Dense(64), tinynn.layers.Dense(64)
    k_layer.build((None, 100))
    t_layer.build((None, 100))
    limit = np.sqrt(6.0 / 164)
    for name, (W, b) in (("Keras", k_layer.get_weights()), ("tinynn", t_layer.get_weights())):
        assert W.shape == (100, 64) and b.shape == (64,), name
        assert W.dtype == b.dtype == np.dtype(floatx), name
        assert (b == 0).all(), f"{name} bias is not zero"
        assert np.abs(W).max() <= limit and W.std() > 0.5 * limit / np.sqrt(3), name


OPTIMIZERS = {
    "Adam()": ({}, "Adam"),
    "Adam(lr=5e-4)": (dict(learning_rate=5e-4), "Adam"),
    "Adam(lr=0.01, beta_1=0.8, beta_2=0.95, epsilon=1e-4)":
        (dict(learning_rate=0.01, beta_1=0.8, beta_2=0.95, epsilon=1e-4), "Adam"),
    "Adam(lr=0.003, beta_1=0.5, beta_2=0.9999, epsilon=1e-9)":
        (dict(learning_rate=0.003, beta_1=0.5, beta_2=0.9999, epsilon=1e-9), "Adam"),
    "RMSprop()": ({}, "RMSprop"),
    "RMSprop(lr=0.01, rho=0.8, epsilon=1e-4)":
        (dict(learning_rate=0.01, rho=0.8, epsilon=1e-4), "RMSprop"),
    "RMSprop(lr=0.003, momentum=0.9)": (dict(learning_rate=0.003, momentum=0.9), "RMSprop"),
    "RMSprop(lr=0.001, momentum=0.5, centered=True)":
        (dict(learning_rate=0.001, momentum=0.5, centered=True), "RMSprop"),
    "SGD()": ({}, "SGD"),
    "SGD(lr=0.1, momentum=0.9)": (dict(learning_rate=0.1, momentum=0.9), "SGD"),
    "SGD(lr=0.05, momentum=0.9, nesterov=True)":
        (dict(learning_rate=0.05, momentum=0.9, nesterov=True), "SGD"),
    "SGD(lr=0.2, momentum=0.5, nesterov=True)":
        (dict(learning_rate=0.2, momentum=0.5, nesterov=True), "SGD"),
    "Adam(amsgrad=True)": (dict(amsgrad=True), "Adam"),
    "Adam(lr=0.01, beta_2=0.95, amsgrad=True)":
        (dict(learning_rate=0.01, beta_2=0.95, amsgrad=True), "Adam"),
    "AdamW()": ({}, "AdamW"),
    "AdamW(lr=0.01, weight_decay=0.1, beta_1=0.8)":
        (dict(learning_rate=0.01, weight_decay=0.1, beta_1=0.8), "AdamW"),
    "Nadam()": ({}, "Nadam"),
    "Nadam(lr=0.01, beta_1=0.8, beta_2=0.95, epsilon=1e-4)":
        (dict(learning_rate=0.01, beta_1=0.8, beta_2=0.95, epsilon=1e-4), "Nadam"),
    "Adamax()": ({}, "Adamax"),
    "Adamax(lr=0.01, beta_1=0.7, beta_2=0.9, epsilon=1e-4)":
        (dict(learning_rate=0.01, beta_1=0.7, beta_2=0.9, epsilon=1e-4), "Adamax"),
    "Adagrad()": ({}, "Adagrad"),
    "Adagrad(lr=0.1, initial_accumulator_value=0.3, epsilon=1e-4)":
        (dict(learning_rate=0.1, initial_accumulator_value=0.3, epsilon=1e-4), "Adagrad"),
    "Adadelta()": ({}, "Adadelta"),
    "Adadelta(lr=1.0, rho=0.9, epsilon=1e-6)":
        (dict(learning_rate=1.0, rho=0.9, epsilon=1e-6), "Adadelta"),
    "Lion()": ({}, "Lion"),
    "Lion(lr=3e-4, beta_1=0.95, beta_2=0.98)":
        (dict(learning_rate=3e-4, beta_1=0.95, beta_2=0.98), "Lion"),
}


def gradient_sequence(steps: int, shapes, dtype, seed: int = 11):
    """Gradients of mixed scales, with a parameter whose gradient is sometimes exactly zero."""
    rng = np.random.default_rng(seed)
    seq = []
    for t in range(steps):
        scale = 10.0 ** rng.uniform(-4, 1)
        grads = [(rng.normal(size=s) * scale).astype(dtype) for s in shapes]
        if t % 3 == 0:
            grads[-1][...] = 0
        seq.append(grads)
    return seq


@pytest.mark.parametrize("steps", [1, 200])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_matches_keras(keras, floatx, name, steps, report):
    kwargs, cls = OPTIMIZERS[name]
    shapes = [(6, 4), (4,), (3,)]
    rng = np.random.default_rng(12)
    initial = [rng.normal(size=s).astype(floatx) for s in shapes]
    k_vars = [keras.Variable(w.copy(), dtype=floatx) for w in initial]
    t_params = [w.copy() for w in initial]
    k_opt = getattr(keras.optimizers, cls)(**kwargs)
    t_opt = getattr(tinynn.optimizers, cls)(**kwargs)
    sequence = list(gradient_sequence(steps, shapes, floatx))
    keras_apply_all(keras, k_opt, k_vars, sequence)
    for grads in sequence:
        t_opt.apply([g.copy() for g in grads], t_params)
    k_final = [v.numpy() for v in k_vars]
    diff = max(np.abs(a - b).max() for a, b in zip(k_final, t_params, strict=True))
    moved = max(np.abs(a - b).max() for a, b in zip(k_final, initial, strict=True))
    report(f"{name}, {steps} steps, {floatx}", f"max |param diff| {diff:.2e}")
    assert moved > 0, "the optimizer did not move the parameters"
    tol = dict(rtol=1e-12, atol=1e-14) if floatx == "float64" else dict(rtol=1e-5, atol=2e-6)
    for i, (a, b) in enumerate(zip(t_params, k_final, strict=True)):
        assert a.dtype == np.dtype(floatx)
        np.testing.assert_allclose(a, b, **tol, err_msg=f"{name}: parameter {i} after {steps} "
                                   f"steps ({floatx})")
