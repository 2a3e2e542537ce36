"""Learning-rate schedules against their formulas, Keras's precision rule, their configs, and
optimizers and saved models that use them. Keras equality: parity/test_schedules.py."""

import math

import numpy as np
import pytest

import tinynn
from tinynn import optimizers, saving
from tinynn.optimizers import schedules

STEPS = np.arange(0, 400)


def values(schedule, steps=STEPS):
    return np.array([float(schedule(int(s))) for s in steps])


def f64(x):
    """A NumPy float64 initial rate makes a float64 schedule (a Python float: float32)."""
    return np.float64(x)


def f32(x):
    """Even in a float64 schedule, Keras rounds the constants it `ops.cast`s (decay_rate,
    end_learning_rate, power, warmup_target; alpha, t_mul, m_mul of CosineDecayRestarts) to
    float32: a Python float passes through a float32 tensor."""
    return float(np.float32(x))


@pytest.mark.parametrize("staircase", [False, True])
def test_exponential_decay(staircase):
    s = schedules.ExponentialDecay(f64(0.1), decay_steps=7, decay_rate=0.9, staircase=staircase)
    p = np.floor(STEPS / 7) if staircase else STEPS / 7
    np.testing.assert_allclose(values(s), 0.1 * f32(0.9) ** p, rtol=1e-14)


@pytest.mark.parametrize("staircase", [False, True])
def test_inverse_time_decay(staircase):
    s = schedules.InverseTimeDecay(f64(0.1), decay_steps=10, decay_rate=0.5, staircase=staircase)
    p = np.floor(STEPS / 10) if staircase else STEPS / 10
    np.testing.assert_allclose(values(s), 0.1 / (1 + 0.5 * p), rtol=1e-15)


def test_piecewise_constant_decay_intervals_include_their_upper_boundary():
    s = schedules.PiecewiseConstantDecay([10, 20.9], [f64(1.0), 0.5, 0.25])
    got = values(s, [0, 10, 11, 20, 21, 1000])
    np.testing.assert_array_equal(got, [1.0, 1.0, 0.5, 0.5, 0.25, 0.25])  # 20.9 counts as 20
    with pytest.raises(ValueError, match="one more value than boundaries"):
        schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5])


def test_polynomial_decay_stops_at_the_end_rate():
    s = schedules.PolynomialDecay(f64(0.1), decay_steps=100, end_learning_rate=0.01, power=2.0)
    p = np.minimum(STEPS, 100) / 100
    np.testing.assert_allclose(values(s), (0.1 - f32(0.01)) * (1 - p) ** 2 + f32(0.01),
                               rtol=1e-14)


def test_polynomial_decay_cycle_stretches_the_period():
    s = schedules.PolynomialDecay(f64(0.1), decay_steps=100, end_learning_rate=0.0, cycle=True)
    steps = np.arange(1, 400)
    period = 100 * np.ceil(steps / 100)
    np.testing.assert_allclose(values(s, steps), 0.1 * (1 - steps / period), rtol=1e-13,
                               atol=1e-17)
    assert float(s(0)) == 0.1


def test_cosine_decay_with_and_without_warmup():
    s = schedules.CosineDecay(f64(0.1), decay_steps=300, alpha=0.1)
    p = np.minimum(STEPS, 300) / 300
    np.testing.assert_allclose(values(s), 0.1 * (0.9 * 0.5 * (1 + np.cos(np.pi * p)) + 0.1),
                               rtol=1e-14)
    w = schedules.CosineDecay(f64(0.0), decay_steps=300, warmup_target=0.2, warmup_steps=50)
    got = values(w)
    np.testing.assert_allclose(got[:51], f32(0.2) * np.arange(51) / 50, rtol=1e-14)  # rise
    q = np.minimum(STEPS[50:] - 50, 300) / 300
    np.testing.assert_allclose(got[50:], f32(0.2) * 0.5 * (1 + np.cos(np.pi * q)), rtol=1e-13,
                               atol=1e-17)


@pytest.mark.parametrize("t_mul,m_mul", [(1.0, 0.5), (2.0, 1.0), (2.0, 0.8)])
def test_cosine_decay_restarts_restarts_at_the_periods(t_mul, m_mul):
    s = schedules.CosineDecayRestarts(f64(0.1), first_decay_steps=20, t_mul=t_mul, m_mul=m_mul)
    starts, length, peak = [0], 20.0, 0.1
    while starts[-1] < 300:
        starts.append(starts[-1] + int(length))
        length *= t_mul
    for i, start in enumerate(starts[:-1]):
        period = starts[i + 1] - start
        steps = np.arange(start, start + period)
        want = peak * f32(m_mul) ** i * 0.5 * (1 + np.cos(np.pi * (steps - start) / period))
        np.testing.assert_allclose(values(s, steps), want, rtol=1e-12, atol=1e-17,
                                   err_msg=f"period {i}")


def test_a_python_float_schedule_computes_in_float32_as_keras_does():
    s = schedules.CosineDecay(0.1, decay_steps=1000)
    assert s(3).dtype == np.float32 and schedules.CosineDecay(f64(0.1), 1000)(3).dtype == np.float64
    assert float(schedules.ExponentialDecay(0.1, 1, 0.5)(0)) == float(np.float32(0.1))
    p = schedules.PiecewiseConstantDecay([5], [0.1, 0.01])
    assert float(p(0)) == float(np.float32(0.1))


@pytest.mark.parametrize("make,match", [
    (lambda: schedules.ExponentialDecay(0.1, 0, 0.5), "decay_steps > 0"),
    (lambda: schedules.InverseTimeDecay(0.1, -1, 0.5), "decay_steps > 0"),
    (lambda: schedules.PolynomialDecay(0.1, 0), "decay_steps > 0"),
    (lambda: schedules.CosineDecay(0.1, 0), "decay_steps > 0"),
    (lambda: schedules.CosineDecayRestarts(0.1, 0), "first_decay_steps > 0"),
])
def test_bad_schedule_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


SCHEDULES = [
    schedules.ExponentialDecay(0.1, 10, 0.9, staircase=True),
    schedules.InverseTimeDecay(0.1, 10, 0.5),
    schedules.PiecewiseConstantDecay([3, 6], [0.1, 0.05, 0.01]),
    schedules.PolynomialDecay(0.1, 10, cycle=True),
    schedules.CosineDecay(0.0, 10, warmup_target=0.1, warmup_steps=3),
    schedules.CosineDecayRestarts(0.1, 4, t_mul=1.5, m_mul=0.9, alpha=0.01),
]


def test_every_schedule_is_listed_here():
    builtin = saving.builtin_classes(schedules.LearningRateSchedule)
    assert {type(s) for s in SCHEDULES} == set(builtin)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: type(s).__name__)
def test_schedule_config_round_trip(schedule):
    config = schedule.get_config()
    twin = type(schedule).from_config(config)
    assert twin.get_config() == config
    np.testing.assert_array_equal(values(twin, range(30)), values(schedule, range(30)))
    assert schedules.deserialize(schedules.serialize(schedule)).get_config() == config


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: type(s).__name__)
def test_a_model_with_a_scheduled_optimizer_saves_loads_and_resumes(schedule, tmp_path):
    x = np.random.default_rng(0).normal(size=(40, 4)).astype("float32")
    y = np.arange(40) % 3
    tinynn.utils.set_random_seed(0)
    model = tinynn.Sequential([tinynn.Input((4,)), tinynn.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizers.SGD(learning_rate=schedule, momentum=0.5),
                  loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    model.save(tmp_path / "m.npz")
    loaded = tinynn.models.load_model(tmp_path / "m.npz")
    assert type(loaded.optimizer._learning_rate) is type(schedule)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.learning_rate == model.optimizer.learning_rate == float(schedule(5))
    for m in (model, loaded):
        m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


class HalvingSchedule(schedules.LearningRateSchedule):
    """A user's schedule: lr = initial / 2**(step // every)."""

    def __init__(self, initial, every):
        self.initial, self.every = initial, every

    def __call__(self, step):
        return self.initial / 2 ** (step // self.every)

    def get_config(self):
        return {"initial": self.initial, "every": self.every}


def test_a_users_schedule_loads_by_registration_or_custom_objects(tmp_path):
    def model_with(schedule):
        m = tinynn.Sequential([tinynn.Input((2,)), tinynn.layers.Dense(2, activation="softmax")])
        m.compile(optimizer=optimizers.Adam(learning_rate=schedule),
                  loss="sparse_categorical_crossentropy")
        m.fit(np.ones((4, 2), "float32"), np.array([0, 1, 0, 1]), batch_size=1, verbose=0)
        return m

    model_with(HalvingSchedule(0.1, 2)).save(tmp_path / "plain.npz")
    with pytest.raises(ValueError, match="HalvingSchedule"):
        tinynn.models.load_model(tmp_path / "plain.npz")
    loaded = tinynn.models.load_model(tmp_path / "plain.npz",
                                      custom_objects={"HalvingSchedule": HalvingSchedule})
    assert loaded.optimizer.learning_rate == 0.1 / 4  # after 4 steps
    config = model_with(HalvingSchedule(0.1, 2)).optimizer.get_config()
    assert isinstance(optimizers.Adam.from_config(
        config, custom_objects={"HalvingSchedule": HalvingSchedule})._learning_rate,
        HalvingSchedule)

    registered = saving.register_keras_serializable(package="tests_schedules")(
        type("Registered", (HalvingSchedule,), {}))
    model_with(registered(0.2, 1)).save(tmp_path / "registered.npz")
    loaded = tinynn.models.load_model(tmp_path / "registered.npz")
    assert type(loaded.optimizer._learning_rate) is registered
    assert loaded.optimizer.learning_rate == pytest.approx(0.2 / 16)


def test_the_optimizer_reads_the_schedule_at_each_step():
    """Step t (counted from 0) uses schedule(t): SGD's update is exactly -schedule(t) * g."""
    schedule = schedules.PiecewiseConstantDecay([1, 2], [f64(1.0), f64(0.1), f64(0.01)])
    opt = optimizers.SGD(learning_rate=schedule)
    w = np.zeros(1)
    moves = []
    for _ in range(4):
        before = w.copy()
        opt.apply([np.ones(1)], [w])
        moves.append(float(before[0] - w[0]))
    assert moves == pytest.approx([1.0, 1.0, 0.1, 0.01], rel=1e-15)
    assert math.isclose(opt.learning_rate, 0.01)
