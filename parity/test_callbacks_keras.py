"""ReduceLROnPlateau, LearningRateScheduler, CSVLogger and LambdaCallback: Keras's own callback
objects and tinynn's driven with the same scripted logs, as `fit` drives them, each against a
stand-in model holding its framework's real optimizer (Keras's SGD, tinynn's SGD), in both
precisions (Keras keeps the learning rate in a floatx variable). Asserted exactly equal: the
learning rate after every epoch, the logs each epoch ends with (the added "learning_rate"
included), the callback's counters, and the CSV file's bytes."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinynn


class StandIn:
    """What the callbacks touch: `optimizer`, `stop_training`, and (for Keras's mode="auto")
    `metrics`, holding an accuracy metric the way a compiled Keras model does."""

    def __init__(self, optimizer, metrics=()):
        self.optimizer, self.stop_training, self.metrics = optimizer, False, list(metrics)


def _keras_metrics(keras):
    from keras.src.trainers.compile_utils import MetricsList

    return [MetricsList([keras.metrics.SparseCategoricalAccuracy(name="accuracy")])]


def drive_plateau(callback, model, values, monitor):
    """on_train_begin, then on_epoch_end per value. Returns [(logs, lr, wait, cooldown)]."""
    callback.set_model(model)
    callback.on_train_begin()
    trace = []
    for epoch, value in enumerate(values):
        logs = {"loss": 1.0, monitor: float(value)}
        callback.on_epoch_end(epoch, logs)
        lr = float(np.asarray(model.optimizer.learning_rate))
        trace.append((logs, lr, callback.wait, callback.cooldown_counter))
    return trace


def both_plateau(keras, kwargs, values, monitor="val_loss", lr=0.1):
    k = drive_plateau(keras.callbacks.ReduceLROnPlateau(monitor=monitor, **kwargs),
                      StandIn(keras.optimizers.SGD(lr), _keras_metrics(keras)), values, monitor)
    t = drive_plateau(tinynn.callbacks.ReduceLROnPlateau(monitor=monitor, **kwargs),
                      StandIn(tinynn.optimizers.SGD(lr)), values, monitor)
    # tinynn's optimizer keeps an unset rate as given (0.1), Keras's variable reads it back
    # rounded to floatx; what the callbacks log and decide is compared, and the rates once set
    t = [(logs, float(np.asarray(lr_, dtype=tinynn.config.floatx())), w, c)
         for logs, lr_, w, c in t]
    return k, t


PLATEAU = {
    "defaults (patience 10)": (dict(), [1.0] * 12 + [0.5] * 12),
    "patience 0": (dict(factor=0.5, patience=0), [1.0, 0.5, 0.6, 0.4, 0.4, 0.3]),
    "patience 2": (dict(factor=0.5, patience=2), [1.0, 1.1, 0.9, 1.0, 1.0, 1.0, 0.1, 0.2]),
    "min_delta exactly met": (dict(factor=0.5, patience=1, min_delta=0.25),
                              [1.0, 0.75, 0.5, 0.3]),
    "min_delta negative": (dict(factor=0.5, patience=1, min_delta=-0.05), [1.0, 0.97, 0.9]),
    "cooldown 1": (dict(factor=0.5, patience=1, cooldown=1), [1.0] * 5),
    "cooldown 2": (dict(factor=0.5, patience=1, cooldown=2), [1.0] * 7),
    "cooldown 3, patience 2": (dict(factor=0.5, patience=2, cooldown=3),
                               [1.0, 1.0, 1.0, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]),
    "min_lr floor": (dict(factor=0.5, patience=1, min_lr=0.03), [1.0] * 6),
    "min_lr equal to the rate in float32": (dict(factor=0.5, patience=1, min_lr=0.1),
                                            [1.0] * 3),
    "factor 0.3 rounds each time": (dict(factor=0.3, patience=1), [1.0] * 8),
    "mode max on a loss": (dict(factor=0.5, patience=1, mode="max"), [0.5, 0.6, 0.55, 0.7]),
    "a tie within float32": (dict(factor=0.5, patience=0, min_delta=0),
                             [0.3, 0.3 - 1e-9, 0.2]),
}


@pytest.mark.parametrize("case", list(PLATEAU))
def test_reduce_lr_on_plateau_scripts_match_keras(keras, floatx, case):
    kwargs, values = PLATEAU[case]
    k, t = both_plateau(keras, kwargs, values)
    assert k == t, f"{case} ({floatx}): Keras {k}\ntinynn {t}"


@pytest.mark.parametrize("mode", ["auto", "max", "min"])
def test_reduce_lr_on_val_accuracy_matches_keras(keras, floatx32, mode):
    values = [0.5, 0.6, 0.55, 0.58, 0.9, 0.7, 0.71, 0.72, 0.7]
    for patience in (0, 1, 3):
        k, t = both_plateau(keras, dict(patience=patience, mode=mode, factor=0.5), values,
                            "val_accuracy")
        assert k == t, f"mode {mode}, patience {patience}: Keras {k}\ntinynn {t}"


GRID = [round(0.1 * i, 1) for i in range(11)]


@settings(max_examples=60)
@given(values=st.lists(st.sampled_from(GRID), min_size=1, max_size=14),
       patience=st.integers(0, 3), min_delta=st.sampled_from([0.0, 0.1, 0.25, 1e-4]),
       cooldown=st.integers(0, 3), factor=st.sampled_from([0.1, 0.5, 0.3]),
       min_lr=st.sampled_from([0.0, 0.01, 0.05]), mode=st.sampled_from(["auto", "min", "max"]))
def test_random_plateau_scripts_match_keras(keras, values, patience, min_delta, cooldown,
                                            factor, min_lr, mode):
    kwargs = dict(patience=patience, min_delta=min_delta, cooldown=cooldown, factor=factor,
                  min_lr=min_lr, mode=mode)
    k, t = both_plateau(keras, kwargs, values)
    assert k == t, f"{kwargs} on {values}: Keras {k}\ntinynn {t}"


def drive_scheduler(callback, model, epochs):
    callback.set_model(model)
    trace = []
    for epoch in range(epochs):
        callback.on_epoch_begin(epoch)
        logs = {"loss": 1.0}
        callback.on_epoch_end(epoch, logs)
        trace.append(logs)
    return trace


SCHEDULES = {
    "halve after epoch 1": lambda epoch, lr: lr if epoch < 2 else lr * 0.5,
    "exponential, from the rate it is given": lambda epoch, lr: lr * float(np.exp(-0.1)),
    "a fixed table": lambda epoch, lr: [0.1, 0.05, 0.02, 0.3, 1e-4][epoch],
    "numpy float32 output": lambda epoch, lr: np.float32(lr * 0.7),
    "Keras's old one-argument form": lambda epoch: 0.1 / (epoch + 1),
}


@pytest.mark.parametrize("case", list(SCHEDULES))
def test_learning_rate_scheduler_matches_keras(keras, floatx, case):
    schedule = SCHEDULES[case]
    k = drive_scheduler(keras.callbacks.LearningRateScheduler(schedule),
                        StandIn(keras.optimizers.SGD(0.1)), 5)
    t = drive_scheduler(tinynn.callbacks.LearningRateScheduler(schedule),
                        StandIn(tinynn.optimizers.SGD(0.1)), 5)
    assert k == t, f"{case} ({floatx}): Keras {k}\ntinynn {t}"


def test_learning_rate_scheduler_errors_match_keras(keras):
    for module in (keras, tinynn):
        cb = module.callbacks.LearningRateScheduler(lambda epoch, lr: 1)
        cb.set_model(StandIn(module.optimizers.SGD(0.1)))
        with pytest.raises(ValueError, match="should be a float"):
            cb.on_epoch_begin(0)
        schedule = module.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
        for cb in (module.callbacks.LearningRateScheduler(lambda epoch, lr: lr),
                   module.callbacks.ReduceLROnPlateau(monitor="loss", patience=0)):
            cb.set_model(StandIn(module.optimizers.SGD(schedule)))
            with pytest.raises(TypeError, match="not settable"):
                cb.on_train_begin()
                for epoch in range(2):
                    cb.on_epoch_begin(epoch)
                    cb.on_epoch_end(epoch, {"loss": 1.0})


CSV_RUNS = {
    "typical fit logs": [{"loss": 0.6931471805599453, "accuracy": 0.5, "val_loss": 0.7,
                          "val_accuracy": 0.25}, {"loss": 0.5, "accuracy": 0.75,
                                                  "val_loss": 0.625, "val_accuracy": 0.5}],
    "no validation keys, then a missing key": [{"loss": 0.1234567890123, "learning_rate":
                                                float(np.float32(0.1))}, {"loss": 1e-20}],
    "numpy scalars, arrays and strings": [{"b": np.float32(0.3), "a": np.array([1.5, 2.0]),
                                           "c": "x,y", "d": 3, "e": np.array(2.5),
                                           "f": float("nan")}],
    "empty logs": [{}, {}],
}


def csv_bytes(module, path, runs, **kwargs) -> bytes:
    """Each item of `runs` is one `fit`: on_train_begin, the epochs, on_train_end."""
    epoch = 0
    for run in runs:
        cb = module.callbacks.CSVLogger(str(path), **kwargs)
        cb.on_train_begin()
        for logs in run:
            cb.on_epoch_end(epoch, dict(logs))
            epoch += 1
        cb.on_train_end()
    return path.read_bytes()


@pytest.mark.parametrize("case", list(CSV_RUNS))
@pytest.mark.parametrize("kwargs", [dict(), dict(separator=";"), dict(separator="\t"),
                                    dict(append=True)])
def test_csv_logger_bytes_equal_keras(keras, tmp_path, case, kwargs):
    runs = [CSV_RUNS[case], CSV_RUNS[case]]  # two fits: append keeps both, else the last
    k = csv_bytes(keras, tmp_path / "keras.csv", runs, **kwargs)
    t = csv_bytes(tinynn, tmp_path / "tinynn.csv", runs, **kwargs)
    assert k == t, f"{case} {kwargs}:\nKeras  {k!r}\ntinynn {t!r}"


def test_lambda_callback_matches_keras(keras):
    """The same functions, stored on the same hooks (others as keyword arguments)."""
    for module in (keras, tinynn):
        calls = []
        cb = module.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs, c=calls: c.append(("end", epoch)),
            on_train_batch_begin=lambda batch, logs, c=calls: c.append(("batch", batch)),
            on_test_end=lambda logs, c=calls: c.append("test_end"))
        cb.on_epoch_end(3, {})
        cb.on_train_batch_begin(1, {})
        cb.on_test_end({})
        cb.on_train_begin({})
        assert calls == [("end", 3), ("batch", 1), "test_end"], module.__name__


@pytest.mark.parametrize("swap_on_epoch", [False, True])
def test_swap_ema_weights_matches_keras(keras, floatx64, swap_on_epoch):
    """SwapEMAWeights: validation measures the moving average, training goes on with the
    weights; with swap_on_epoch the averages are in the model at each epoch's end and after
    fit. Keras swaps on TensorFlow by additions (a + b - b), so rtol 1e-10, not exact."""
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(40, 4)), rng.normal(size=(40, 1))
    xv, yv = rng.normal(size=(10, 4)), rng.normal(size=(10, 1))
    keras.utils.set_random_seed(0)
    k_model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation="tanh"),
                                keras.layers.Dense(1)])
    t_model = tinynn.models.from_keras(k_model)
    seen = {}
    for name, model, module in (("keras", k_model, keras), ("tinynn", t_model, tinynn)):
        model.compile(optimizer=module.optimizers.Adam(0.05, use_ema=True, ema_momentum=0.7),
                      loss="mse")
        epoch_end = []
        probe = module.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs, m=model, out=epoch_end: out.append(
                [np.array(w) for w in m.get_weights()]))
        history = model.fit(x, y, batch_size=10, epochs=3, shuffle=False, verbose=0,
                            validation_data=(xv, yv),
                            callbacks=[module.callbacks.SwapEMAWeights(swap_on_epoch), probe])
        seen[name] = (history.history, epoch_end, model.get_weights(),
                      model.evaluate(xv, yv, verbose=0,
                                     callbacks=[module.callbacks.SwapEMAWeights()]))
    k, t = seen["keras"], seen["tinynn"]
    for key in k[0]:
        np.testing.assert_allclose(t[0][key], k[0][key], rtol=1e-10, err_msg=key)
    for a_list, b_list in zip(t[1], k[1], strict=True):
        for a, b in zip(a_list, b_list, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    for a, b in zip(t[2], k[2], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(t[3], k[3], rtol=1e-10)
