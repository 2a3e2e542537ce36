"""Every optimizer against its formula written out by hand, step by step; Keras's common
arguments (weight decay, clipping, EMA, gradient accumulation), the learning-rate property and
the saved state."""

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


# ----- the new optimizers against their formulas, written out by hand (float64) ---------------

def f32(x):
    """Keras rounds these constants to float32 (ops.cast of a Python float), even in float64."""
    return float(np.float32(x))


def run_formula(opt, step, steps=20, shape=(3, 2), seed=2):
    """Apply `opt` and the hand-written `step(t, g, w, state) -> w` to the same gradients."""
    w = np.random.default_rng(seed + 1).normal(size=shape)
    want, state = w.copy(), {}
    for t, g in enumerate(grads_sequence(steps, shape, seed), start=1):
        opt.apply([g.copy()], [w])
        want = step(t, g, want, state)
        np.testing.assert_allclose(w, want, rtol=1e-12, atol=1e-15, err_msg=f"step {t}")
    assert opt.iterations == steps


def test_adam_amsgrad_divides_by_the_largest_second_moment():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7

    def step(t, g, w, s):
        m = s["m"] = s.get("m", 0) + (g - s.get("m", 0)) * (1 - b1)
        v = s["v"] = s.get("v", 0) + (g * g - s.get("v", 0)) * (1 - b2)
        v_hat = s["v_hat"] = np.maximum(s.get("v_hat", 0), v)
        alpha = lr * np.sqrt(1 - f32(b2) ** t) / (1 - f32(b1) ** t)
        return w - m * alpha / (np.sqrt(v_hat) + eps)

    opt = optimizers.Adam(learning_rate=lr, amsgrad=True)
    run_formula(opt, step)
    assert set(opt.slots()) == {"momentums", "velocities", "velocity_hats"}
    assert "velocity_hats" not in optimizers.Adam().slot_names


@pytest.mark.parametrize("wd", [0.004, 0.1])
def test_adamw_decays_the_weights_before_the_adam_step(wd):
    lr, b1, b2, eps = 0.003, 0.9, 0.999, 1e-7

    def step(t, g, w, s):
        w = w - w * f32(wd) * lr  # decoupled: never enters the moments
        m = s["m"] = s.get("m", 0) + (g - s.get("m", 0)) * (1 - b1)
        v = s["v"] = s.get("v", 0) + (g * g - s.get("v", 0)) * (1 - b2)
        alpha = lr * np.sqrt(1 - f32(b2) ** t) / (1 - f32(b1) ** t)
        return w - m * alpha / (np.sqrt(v) + eps)

    run_formula(optimizers.AdamW(learning_rate=lr, weight_decay=wd), step)
    assert optimizers.AdamW().weight_decay == 0.004


def test_nadam_matches_its_formula():
    lr, b1, b2, eps = 0.002, 0.9, 0.999, 1e-7

    def u(t):  # the momentum schedule, from float32-rounded constants
        return f32(b1) * (1 - 0.5 * f32(0.96) ** t)

    def step(t, g, w, s):
        s["U"] = s.get("U", 1.0) * b1 * (1 - 0.5 * 0.96 ** t)  # the running product: unrounded
        m = s["m"] = s.get("m", 0) + (g - s.get("m", 0)) * (1 - f32(b1))
        v = s["v"] = s.get("v", 0) + (g * g - s.get("v", 0)) * (1 - f32(b2))
        m_hat = u(t + 1) * m / (1 - s["U"] * u(t + 1)) + (1 - u(t)) * g / (1 - s["U"])
        v_hat = v / (1 - f32(b2) ** t)
        return w - m_hat * lr / (np.sqrt(v_hat) + eps)

    opt = optimizers.Nadam(learning_rate=lr)
    run_formula(opt, step)
    assert set(opt.slots()) == {"momentums", "velocities", "u_product"}
    assert opt.u_product[0].shape == ()


def test_adamax_matches_its_formula():
    lr, b1, b2, eps = 0.002, 0.9, 0.999, 1e-7

    def step(t, g, w, s):
        m = s["m"] = s.get("m", 0) + (g - s.get("m", 0)) * (1 - b1)
        n = s["u"] = np.maximum(b2 * s.get("u", 0), np.abs(g))
        return w - lr * m / ((1 - f32(b1) ** t) * (n + eps))

    run_formula(optimizers.Adamax(learning_rate=lr), step)


def test_adagrad_matches_its_formula_from_a_float32_initial_accumulator():
    lr, eps = 0.05, 1e-7

    def step(t, g, w, s):
        a = s["a"] = s.get("a", f32(0.1)) + g * g
        return w - lr * g / np.sqrt(a + eps)

    opt = optimizers.Adagrad(learning_rate=lr)
    run_formula(opt, step)
    fresh = optimizers.Adagrad(initial_accumulator_value=0.1)
    fresh.build([np.zeros(2)])
    assert fresh.accumulators[0][0] == np.float64(np.float32(0.1)) != 0.1


def test_adadelta_matches_its_formula():
    lr, rho, eps = 1.0, 0.95, 1e-7

    def step(t, g, w, s):
        a = s["a"] = rho * s.get("a", 0) + (1 - rho) * g * g
        delta = -np.sqrt(s.get("d", 0) + eps) * g / np.sqrt(a + eps)
        s["d"] = rho * s.get("d", 0) + (1 - rho) * delta * delta
        return w + lr * delta

    run_formula(optimizers.Adadelta(learning_rate=lr), step)


def test_lion_moves_every_weight_by_exactly_lr():
    lr, b1, b2 = 1e-3, 0.9, 0.99

    def step(t, g, w, s):
        m = s.get("m", 0)
        w = w - lr * np.sign(m * f32(b1) + g * (1 - f32(b1)))
        s["m"] = m * f32(b2) + g * (1 - f32(b2))
        return w

    run_formula(optimizers.Lion(learning_rate=lr), step)
    w = np.zeros(4)
    optimizers.Lion(learning_rate=0.5).apply([np.array([3.0, -1e-9, 0.0, 2.0])], [w])
    np.testing.assert_array_equal(w, [-0.5, 0.5, 0.0, -0.5])


# ----- Keras's common arguments ----------------------------------------------------------------

def sgd_steps(grads, w0, **kwargs):
    opt = optimizers.SGD(learning_rate=0.1, **kwargs)
    w = np.array(w0, dtype=float)
    for g in grads:
        opt.apply([np.array(g, dtype=float)], [w])
    return w, opt


def test_weight_decay_comes_before_the_update_and_uses_the_learning_rate():
    w, _ = sgd_steps([[1.0, -2.0]], [2.0, 4.0], weight_decay=0.3)
    decay = f32(0.3)  # Keras casts weight_decay through float32
    np.testing.assert_allclose(w, [2.0 - 2.0 * decay * 0.1 - 0.1, 4.0 - 4.0 * decay * 0.1 + 0.2],
                               rtol=1e-15)


def test_clipnorm_clips_each_gradient_to_its_own_norm():
    g = [3.0, 4.0]  # norm 5
    w, _ = sgd_steps([g], [0.0, 0.0], clipnorm=1.0)
    np.testing.assert_allclose(w, [-0.1 * 0.6, -0.1 * 0.8], rtol=1e-15)
    w, _ = sgd_steps([g], [0.0, 0.0], clipnorm=10.0)  # under the norm: unchanged
    np.testing.assert_allclose(w, [-0.3, -0.4], rtol=1e-15)


def test_global_clipnorm_scales_all_gradients_together():
    opt = optimizers.SGD(learning_rate=1.0, global_clipnorm=1.0)
    w1, w2 = np.zeros(1), np.zeros(1)
    opt.apply([np.array([3.0]), np.array([4.0])], [w1, w2])
    np.testing.assert_allclose([w1[0], w2[0]], [-0.6, -0.8], rtol=1e-15)


def test_clipvalue_clips_each_element_and_the_gradients_are_not_modified():
    g = np.array([0.5, -3.0, 2.0])
    w = np.zeros(3)
    optimizers.SGD(learning_rate=1.0, clipvalue=1.0).apply([g], [w])
    np.testing.assert_array_equal(w, [-0.5, 1.0, -1.0])
    np.testing.assert_array_equal(g, [0.5, -3.0, 2.0])  # the layer's gradient is left alone


@pytest.mark.parametrize("kwargs,match", [
    (dict(clipnorm=1.0, clipvalue=1.0), "only one of clipnorm, clipvalue and global_clipnorm"),
    (dict(clipnorm=-1.0), "clipnorm"),
    (dict(weight_decay=-0.1), "weight_decay"),
    (dict(use_ema=True, ema_momentum=1.5), "ema_momentum"),
    (dict(use_ema=True, ema_overwrite_frequency=0), "ema_overwrite_frequency"),
    (dict(gradient_accumulation_steps=1), "gradient_accumulation_steps"),
    (dict(loss_scale_factor=128.0), "loss_scale_factor is for float16"),
    (dict(amsgrad_typo=True), "does not recognise the argument"),
    (dict(learning_rate="fast"), "learning_rate"),
])
def test_bad_common_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        optimizers.Adam(**kwargs)


def test_adamw_needs_a_weight_decay_and_lion_a_beta_1_above_zero():
    with pytest.raises(ValueError, match="AdamW expected weight_decay"):
        optimizers.AdamW(weight_decay=None)
    with pytest.raises(ValueError, match="SignSGD"):
        optimizers.Lion(beta_1=0.0)


def test_ema_starts_at_the_weights_then_averages_them():
    """First step: a = w (momentum 0); then a = m a + (1 - m) w; w itself is not touched."""
    opt = optimizers.SGD(learning_rate=1.0, use_ema=True, ema_momentum=0.9)
    w = np.zeros(1)
    opt.apply([np.array([-1.0])], [w])
    assert w[0] == 1.0 and opt.averages[0][0] == 1.0
    opt.apply([np.array([-1.0])], [w])
    assert w[0] == 2.0 and opt.averages[0][0] == pytest.approx(0.9 * 1.0 + 0.1 * 2.0, abs=1e-15)
    opt.finalize_variable_values([w])
    assert w[0] == pytest.approx(1.1, abs=1e-15)


def test_ema_overwrite_frequency_overwrites_the_weights_every_k_steps():
    opt = optimizers.SGD(learning_rate=1.0, use_ema=True, ema_momentum=0.5,
                         ema_overwrite_frequency=3)
    w, seen = np.zeros(1), []
    for _ in range(6):
        opt.apply([np.array([-1.0])], [w])
        seen.append(w[0])
    # w 1, 2, 3 with averages 1, 1.5, 2.25 -> w = 2.25 at step 3; then w 3.25, 4.25, 5.25 with
    # averages 2.75, 3.5, 4.375 -> w = 4.375 at step 6
    np.testing.assert_allclose(seen, [1.0, 2.0, 2.25, 3.25, 4.25, 4.375], rtol=1e-15)


def test_fit_ends_with_the_ema_weights_as_keras_does():
    import tinynn

    x = np.random.default_rng(0).normal(size=(32, 4))
    y = np.arange(32) % 3
    tinynn.utils.set_random_seed(0)
    model = tinynn.Sequential([tinynn.Input((4,)), tinynn.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizers.Adam(0.05, use_ema=True, ema_momentum=0.9),
                  loss="sparse_categorical_crossentropy")
    model.fit(x.astype("float32"), y, batch_size=8, epochs=2, verbose=0)
    for w, a in zip(model.trainable_weights, model.optimizer.averages, strict=True):
        np.testing.assert_array_equal(w, a)


def test_gradient_accumulation_updates_every_k_calls_with_the_mean_gradient():
    opt = optimizers.SGD(learning_rate=1.0, gradient_accumulation_steps=3)
    w = np.zeros(1)
    history = []
    for g in (1.0, 2.0, 6.0, 3.0):
        opt.apply([np.array([g])], [w])
        history.append((w[0], opt.iterations))
    assert history == [(0.0, 0), (0.0, 0), (-3.0, 1), (-3.0, 1)]
    assert opt.gradient_accumulators[0][0] == 3.0
    assert opt._iterations == 4


def test_learning_rate_is_readable_and_settable_like_keras():
    opt = optimizers.Adam(learning_rate=0.01)
    assert opt.learning_rate == 0.01
    opt.learning_rate = 0.5
    assert opt.learning_rate == 0.5 and opt.get_config()["learning_rate"] == 0.5
    schedule = optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    opt = optimizers.SGD(learning_rate=schedule)
    w = np.zeros(1)
    for _ in range(3):
        opt.apply([np.ones(1)], [w])
    assert opt.learning_rate == pytest.approx(0.1 / 8)  # the rate of the next step
    np.testing.assert_allclose(w, -(0.1 + 0.05 + 0.025), rtol=1e-6)
    with pytest.raises(TypeError, match="not settable"):
        opt.learning_rate = 0.01
    opt.learning_rate = optimizers.schedules.InverseTimeDecay(0.1, 1, 1.0)  # a schedule may be
    assert opt.learning_rate == pytest.approx(0.1 / 4)


def test_config_holds_keras_keys_and_a_nested_schedule():
    schedule = optimizers.schedules.CosineDecay(0.01, decay_steps=100, warmup_target=0.1,
                                                warmup_steps=10)
    opt = optimizers.Nadam(learning_rate=schedule, clipnorm=1.0, use_ema=True)
    config = opt.get_config()
    assert list(config)[:11] == ["name", "learning_rate", "weight_decay", "clipnorm",
                                 "global_clipnorm", "clipvalue", "use_ema", "ema_momentum",
                                 "ema_overwrite_frequency", "loss_scale_factor",
                                 "gradient_accumulation_steps"]
    assert config["learning_rate"] == {"module": "keras.optimizers.schedules",
                                       "class_name": "CosineDecay",
                                       "config": schedule.get_config(), "registered_name": None}
    twin = optimizers.Nadam.from_config(config)
    assert isinstance(twin._learning_rate, optimizers.schedules.CosineDecay)
    assert twin.get_config() == config


@pytest.mark.parametrize("name", ["adamw", "nadam", "adamax", "adagrad", "adadelta", "lion"])
def test_get_knows_the_keras_names(name):
    assert type(optimizers.get(name)).__name__.lower() == name


@pytest.mark.parametrize("kwargs", [dict(use_ema=True, ema_overwrite_frequency=5),
                                    dict(gradient_accumulation_steps=3)])
@pytest.mark.parametrize("cls", [optimizers.Nadam, optimizers.Adagrad, optimizers.AdamW])
def test_saved_state_resumes_training_exactly(tmp_path, cls, kwargs):
    """Averages, accumulators, Nadam's u_product and the raw step count travel in the file: a
    loaded model trains on exactly like the original."""
    import tinynn

    x = np.random.default_rng(0).normal(size=(40, 4)).astype("float32")
    y = np.arange(40) % 3
    tinynn.utils.set_random_seed(0)
    model = tinynn.Sequential([tinynn.Input((4,)), tinynn.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=cls(learning_rate=0.01, **kwargs),
                  loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)  # 5 calls: mid-block
    model.save(tmp_path / "m.npz")
    loaded = tinynn.models.load_model(tmp_path / "m.npz")
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer._iterations == model.optimizer._iterations == 5
    for name, arrays in model.optimizer.slots().items():
        for a, b in zip(arrays, loaded.optimizer.slots()[name], strict=True):
            np.testing.assert_array_equal(a, b, err_msg=name)
    for m in (model, loaded):
        m.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
