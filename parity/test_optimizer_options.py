"""Keras 3's common optimizer arguments (weight_decay, clipnorm, clipvalue, global_clipnorm,
use_ema with ema_overwrite_frequency, gradient_accumulation_steps) and learning-rate schedules,
on every tinynn optimizer with a Keras twin (discovered), against Keras.

The same gradient sequence as test_init_optim.py (scales 1e-4..10, exact zeros) for 200 steps,
then `finalize_variable_values` on both sides (what `fit` does at its end). float64: rtol 1e-12
(the same bound as test_init_optim.py; the arithmetic is the same operations in the same order).
A schedule given a Python float computes in float32 in Keras (and in tinynn, to match): its
`cos`/`pow` may differ from TensorFlow's by one float32 ulp on some steps, so those runs are
held to atol 1e-9 instead (see README). float32: rtol 1e-5 / atol 2e-6, as test_init_optim.py.
Then `fit` itself, float64: a model trained with EMA, a schedule and AdamW ends with the
weights Keras ends with.
"""

import numpy as np
import pytest
from test_init_optim import gradient_sequence
from twins import keras_apply_all

import tinynn
from tinynn import optimizers, saving

OPTIONS = {
    "weight_decay": dict(weight_decay=0.05),
    "clipnorm": dict(clipnorm=0.3),
    "clipvalue": dict(clipvalue=0.05),
    "global_clipnorm": dict(global_clipnorm=0.5),
    "use_ema": dict(use_ema=True),
    "use_ema+overwrite": dict(use_ema=True, ema_momentum=0.9, ema_overwrite_frequency=7),
    "accumulation": dict(gradient_accumulation_steps=3),
    "all": dict(weight_decay=0.01, global_clipnorm=1.0, use_ema=True, ema_overwrite_frequency=5,
                gradient_accumulation_steps=2),
}
TOL64 = dict(rtol=1e-12, atol=1e-14)
TOL32 = dict(rtol=1e-5, atol=2e-6)
SHAPES = [(6, 4), (4,), (3,)]


def _twins():
    try:
        import keras
    except ImportError:  # collected without TensorFlow: the keras fixture fails loudly instead
        return saving.builtin_classes(optimizers.Optimizer)
    return [c for c in saving.builtin_classes(optimizers.Optimizer)
            if hasattr(keras.optimizers, c.__name__)]


OPTIMIZERS = _twins()


def run_both(keras, floatx, name: str, kwargs: dict, keras_kwargs=None, steps: int = 200,
             graph: bool = True):
    """200 steps of the same gradients through Keras's and tinynn's optimizer, then finalize.
    Keras runs them in one tf.function (as fit does), or eagerly when not `graph`.
    Returns (tinynn's variables, Keras's, the initial values)."""
    rng = np.random.default_rng(12)
    initial = [rng.normal(size=s).astype(floatx) for s in SHAPES]
    k_vars = [keras.Variable(w.copy(), dtype=floatx) for w in initial]
    t_vars = [w.copy() for w in initial]
    k_opt = getattr(keras.optimizers, name)(**(keras_kwargs or kwargs))
    t_opt = getattr(tinynn.optimizers, name)(**kwargs)
    sequence = list(gradient_sequence(steps, SHAPES, floatx))
    if graph:
        keras_apply_all(keras, k_opt, k_vars, sequence)
    else:
        for grads in sequence:
            k_opt.apply([g.copy() for g in grads], k_vars)
    for grads in sequence:
        t_opt.apply([g.copy() for g in grads], t_vars)
    k_opt.finalize_variable_values(k_vars)
    t_opt.finalize_variable_values(t_vars)
    assert int(k_opt.iterations) == t_opt.iterations
    return t_vars, [v.numpy() for v in k_vars], initial


def check(t_vars, k_vars, initial, tol, what, report):
    diff = max(float(np.abs(a - b).max()) for a, b in zip(t_vars, k_vars, strict=True))
    report(what, f"max |param diff| {diff:.2e}")
    assert max(float(np.abs(a - b).max()) for a, b in zip(k_vars, initial, strict=True)) > 0
    for i, (a, b) in enumerate(zip(t_vars, k_vars, strict=True)):
        np.testing.assert_allclose(a, b, **tol, err_msg=f"{what}: parameter {i}")


@pytest.mark.parametrize("option", OPTIONS)
@pytest.mark.parametrize("cls", OPTIMIZERS, ids=lambda c: c.__name__)
def test_common_arguments_match_keras_float64(keras, floatx64, cls, option, report):
    kwargs = OPTIONS[option]
    if cls is optimizers.AdamW and "weight_decay" not in kwargs:
        kwargs = {**kwargs, "weight_decay": 0.02}
    check(*run_both(keras, "float64", cls.__name__, kwargs), TOL64,
          f"{cls.__name__}({option}), 200 steps, float64", report)


@pytest.mark.parametrize("cls", OPTIMIZERS, ids=lambda c: c.__name__)
def test_common_arguments_match_keras_float32(keras, floatx32, cls, report):
    kwargs = dict(weight_decay=0.05, clipnorm=0.3, use_ema=True, ema_overwrite_frequency=9,
                  gradient_accumulation_steps=2)
    check(*run_both(keras, "float32", cls.__name__, kwargs), TOL32,
          f"{cls.__name__}(all options), 200 steps, float32", report)


SCHEDULES = {
    "ExponentialDecay": ((0.01, 7, 0.9), {}),
    "InverseTimeDecay": ((0.01, 10, 0.5), dict(staircase=True)),
    "PiecewiseConstantDecay": (([50, 120], [0.01, 0.003, 0.001]), {}),
    "PolynomialDecay": ((0.01, 60), dict(end_learning_rate=0.001, power=2.0, cycle=True)),
    "CosineDecay": ((0.001, 150), dict(alpha=0.1, warmup_target=0.01, warmup_steps=30)),
    "CosineDecayRestarts": ((0.01, 20), dict(t_mul=1.5, m_mul=0.8, alpha=0.05)),
}


def as_float64(name, args):
    """The same schedule with a NumPy float64 rate: Keras then computes it in float64."""
    args = list(args)
    if name == "PiecewiseConstantDecay":
        args[1] = [np.float64(v) for v in args[1]]
    else:
        args[0] = np.float64(args[0])
    return args


# every optimizer with every schedule computed in float64; the float32 (Python float) schedules,
# whose values may differ by a float32 ulp on some steps, with two optimizers
CASES = [(cls, schedule, "float64 schedule") for cls in OPTIMIZERS for schedule in SCHEDULES] + [
    (cls, schedule, "float32 schedule") for cls in OPTIMIZERS if cls.__name__ in ("Adam", "SGD")
    for schedule in SCHEDULES]


@pytest.mark.parametrize("cls,schedule,precision", CASES,
                         ids=lambda x: getattr(x, "__name__", x))
def test_optimizers_with_schedules_match_keras(keras, floatx64, cls, schedule, precision,
                                               report):
    args, kw = SCHEDULES[schedule]
    if precision == "float64 schedule":
        args = as_float64(schedule, args)
    common = dict(weight_decay=0.05) if cls is not optimizers.Lion else {}
    t_kwargs = dict(learning_rate=getattr(tinynn.optimizers.schedules, schedule)(*args, **kw),
                    **common)
    k_kwargs = dict(learning_rate=getattr(keras.optimizers.schedules, schedule)(*args, **kw),
                    **common)
    tol = TOL64 if precision == "float64 schedule" else dict(rtol=0, atol=1e-9)
    # A float32 schedule runs eagerly: traced, TensorFlow computes float32 pow/cos/floor
    # differently again (up to a whole cycle apart for PolynomialDecay(cycle=True)); see README.
    check(*run_both(keras, "float64", cls.__name__, t_kwargs, k_kwargs,
                    graph=precision == "float64 schedule"), tol,
          f"{cls.__name__}({schedule}, {precision}), 200 steps, float64", report)


def test_fit_with_ema_schedule_and_adamw_ends_where_keras_ends(keras, floatx64, report):
    """`fit` calls finalize_variable_values after the last epoch, in Keras and in tinynn."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 5)), np.arange(64) % 3
    keras.utils.set_random_seed(0)
    k_model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="tanh"),
                                keras.layers.Dense(3, activation="softmax")])
    t_model = tinynn.Sequential([tinynn.Input((5,)), tinynn.layers.Dense(8, activation="tanh"),
                                 tinynn.layers.Dense(3, activation="softmax")])
    t_model.set_weights(k_model.get_weights())
    for model, module in ((k_model, keras.optimizers), (t_model, tinynn.optimizers)):
        schedule = module.schedules.CosineDecay(np.float64(0.02), decay_steps=20)
        model.compile(optimizer=module.AdamW(learning_rate=schedule, weight_decay=0.1,
                                             use_ema=True, ema_momentum=0.8,
                                             ema_overwrite_frequency=6),
                      loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    diff = max(float(np.abs(a - b).max())
               for a, b in zip(k_model.get_weights(), t_model.get_weights(), strict=True))
    report("fit, AdamW + CosineDecay + EMA (overwrite every 6), 24 steps, float64",
           f"max |weight diff| {diff:.2e}")
    for a, b in zip(t_model.get_weights(), k_model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_to_keras_carries_the_schedule_and_the_common_arguments(keras):
    """Interop builds the Keras optimizer from the tinynn config: the nested schedule
    (Keras's {"module", "class_name", "config"} form) and every common argument arrive."""
    model = tinynn.Sequential([tinynn.Input((4,)), tinynn.layers.Dense(3, activation="softmax")])
    schedule = tinynn.optimizers.schedules.CosineDecay(0.01, 100, warmup_target=0.1,
                                                       warmup_steps=10)
    ours = tinynn.optimizers.AdamW(learning_rate=schedule, weight_decay=0.01, clipnorm=1.0,
                                   use_ema=True, ema_overwrite_frequency=4,
                                   gradient_accumulation_steps=2, amsgrad=True)
    model.compile(optimizer=ours, loss="sparse_categorical_crossentropy")
    theirs = model.to_keras().optimizer
    assert type(theirs._learning_rate).__name__ == "CosineDecay"
    assert theirs._learning_rate.get_config() == schedule.get_config()
    config = theirs.get_config()
    for key, value in ours.get_config().items():
        if key != "learning_rate":
            assert config[key] == value, key
