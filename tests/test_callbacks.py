"""EarlyStopping driven by scripted monitor sequences, and the Keras callback protocol in fit,
evaluate and predict.

Expected stop and restore epochs are worked out by hand from Keras 3's rules (see the
EarlyStopping docstring); parity/ replays the same scripts through Keras's own callback.
"""

import re
import warnings

import numpy as np
import pytest

import tinynn
from tinynn.callbacks import Callback, CallbackList, EarlyStopping, History


class EpochStampedModel:
    """A stand-in model whose weights say which epoch produced them."""

    def __init__(self):
        self.epoch, self.stop_training = -1, False
        self.restored = None

    def get_weights(self):
        return [np.array(self.epoch)]

    def set_weights(self, weights):
        self.restored = int(weights[0])


def drive(es, values, monitor="val_loss"):
    """Run the callback like fit does; return (epochs run, stopped_epoch, restored epoch)."""
    model = EpochStampedModel()
    es.set_model(model)
    es.on_train_begin()
    for epoch, value in enumerate(values):
        model.epoch = epoch
        es.on_epoch_end(epoch, {monitor: value})
        if model.stop_training:
            break
    es.on_train_end()
    return model.epoch + 1, es.stopped_epoch, model.restored


# (kwargs, monitored sequence, expected epochs run, stopped_epoch, restored epoch or None)
CASES = {
    "patience 0 stops at the first non-improvement":
        (dict(patience=0, restore_best_weights=True), [1.0, 0.9, 0.95, 0.8], 3, 2, 1),
    "patience 1":
        (dict(patience=1, restore_best_weights=True), [1.0, 0.9, 0.8, 0.85, 0.7], 4, 3, 2),
    "patience 3 stops after three flat epochs":
        (dict(patience=3, restore_best_weights=True),
         [1.0, 0.9, 0.95, 0.92, 0.91, 0.89, 0.5], 5, 4, 1),
    "patience 3 improvement on the third wait resets it":
        (dict(patience=3, restore_best_weights=True),
         [1.0, 0.9, 0.95, 0.92, 0.85, 0.86, 0.87, 0.88, 0.2], 8, 7, 4),
    "min_delta makes small gains count as none":
        (dict(patience=1, min_delta=0.05, restore_best_weights=True),
         [1.0, 0.96, 0.90, 0.89], 2, 1, 0),
    "without min_delta the same gains continue":
        (dict(patience=1, restore_best_weights=True), [1.0, 0.96, 0.90, 0.89], 4, 0, 3),
    "no trigger still restores the best weights":
        (dict(patience=5, restore_best_weights=True), [1.0, 0.9, 0.95, 0.97], 4, 0, 1),
    "restore off leaves the last weights":
        (dict(patience=0), [1.0, 0.9, 0.95, 0.8], 3, 2, None),
    "baseline not beaten: wait is never reset":
        (dict(patience=2, baseline=0.5, restore_best_weights=True), [1.0, 1.1, 1.2, 1.3], 2, 1, 0),
    "same run without baseline":
        (dict(patience=2, restore_best_weights=True), [1.0, 1.1, 1.2, 1.3], 3, 2, 0),
    "start_from_epoch ignores the warm-up epochs":
        (dict(patience=1, start_from_epoch=2, restore_best_weights=True),
         [1.0, 2.0, 3.0, 2.5, 2.6, 2.7], 5, 4, 3),
    "never stops after the first epoch":
        (dict(patience=0, restore_best_weights=True), [1.0], 1, 0, 0),
}


@pytest.mark.parametrize("case", list(CASES))
def test_early_stopping_script(case):
    kwargs, values, runs, stopped, restored = CASES[case]
    assert drive(EarlyStopping(**kwargs), values) == (runs, stopped, restored)


def test_mode_auto_maximises_accuracy_and_mode_max_matches():
    values = [0.5, 0.6, 0.55, 0.58, 0.9]
    auto = drive(EarlyStopping("val_accuracy", patience=2, restore_best_weights=True), values,
                 "val_accuracy")
    explicit = drive(EarlyStopping("val_accuracy", patience=2, mode="max",
                                   restore_best_weights=True), values, "val_accuracy")
    assert auto == explicit == (4, 3, 1)
    # mode="min" on the same numbers: 0.5 is the best, never beaten.
    assert drive(EarlyStopping("val_accuracy", patience=2, mode="min",
                               restore_best_weights=True), values, "val_accuracy") == (3, 2, 0)


def test_reused_callback_resets_on_train_begin():
    es = EarlyStopping(patience=0, restore_best_weights=True)
    first = drive(es, [1.0, 0.9, 0.95])
    assert drive(es, [5.0, 4.0, 4.5]) == first == (3, 2, 1)


def test_missing_monitor_warns_and_never_stops():
    es = EarlyStopping(monitor="val_los", patience=0)
    with pytest.warns(UserWarning, match="val_los.*Available metrics are: val_loss"):
        assert drive(es, [1.0, 2.0, 3.0]) == (3, 0, None)


class Recorder(Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append("train_begin")

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(f"epoch_begin {epoch}")

    def on_train_batch_begin(self, batch, logs=None):
        self.calls.append(f"batch_begin {batch}")

    def on_train_batch_end(self, batch, logs=None):
        self.calls.append(f"batch_end {batch}")

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(f"epoch_end {epoch} {sorted(logs)}")

    def on_train_end(self, logs=None):
        self.calls.append("train_end")


def tiny_model(seed=0):
    tinynn.utils.set_random_seed(seed)
    model = tinynn.Sequential([tinynn.Input((3,)), tinynn.layers.Dense(4, activation="relu"),
                               tinynn.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(10, 3))
    return model, x, (x[:, 0] > 0).astype(int)


def test_fit_calls_the_keras_protocol_in_order():
    model, x, y = tiny_model()
    rec = Recorder()
    model.fit(x, y, epochs=2, batch_size=4, validation_split=0.2, callbacks=[rec], verbose=0)
    assert rec.model is model and rec.params["epochs"] == 2 and rec.params["steps"] == 2
    keys = "['accuracy', 'loss', 'val_accuracy', 'val_loss']"
    epoch = ["batch_begin 0", "batch_end 0", "batch_begin 1", "batch_end 1"]
    assert rec.calls == ["train_begin", "epoch_begin 0", *epoch, f"epoch_end 0 {keys}",
                         "epoch_begin 1", *epoch, f"epoch_end 1 {keys}", "train_end"]


def test_stop_training_from_a_batch_ends_the_epoch_and_training():
    class StopAtBatch1(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    model, x, y = tiny_model()
    rec = Recorder()
    history = model.fit(x, y, epochs=5, batch_size=2, callbacks=[StopAtBatch1(), rec], verbose=0)
    assert len(history.history["loss"]) == 1
    assert rec.calls[-3:] == ["batch_end 1", "epoch_end 0 ['accuracy', 'loss']", "train_end"]


def test_early_stopping_inside_fit_restores_the_best_epoch():
    """Scripted val_loss injected into fit's logs; the model must end with epoch 2's weights."""
    script = [1.0, 0.8, 0.7, 0.9, 0.95, 0.99]
    snapshots = []

    class Script(Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = script[epoch]
            snapshots.append(self.model.get_weights())

    model, x, y = tiny_model()
    es = EarlyStopping(patience=2, restore_best_weights=True)
    history = model.fit(x, y, epochs=6, batch_size=5, validation_split=0.2,
                        callbacks=[Script(), es], verbose=0)
    assert history.history["val_loss"] == [1.0, 0.8, 0.7, 0.9, 0.95]
    assert es.stopped_epoch == 4 and es.best_epoch == 2
    for got, want in zip(model.get_weights(), snapshots[2], strict=True):
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(snapshots[2][0], snapshots[4][0])


def test_early_stopping_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="maximum")


def test_history_records_every_epoch():
    model, x, y = tiny_model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = model.fit(x, y, epochs=3, verbose=0)
    assert history is model.history and history.epoch == [0, 1, 2]
    assert set(history.history) == {"loss", "accuracy"}
    assert all(len(v) == 3 for v in history.history.values())


def test_improvement_is_judged_in_float32_like_keras():
    """Keras compares monitored values with ops.less on Python floats, i.e. in float32: a gain
    of 1e-9 on 0.3 is a tie (no improvement), so patience 0 stops."""
    assert drive(EarlyStopping(patience=0), [0.3, 0.3 - 1e-9, 0.2]) == (2, 1, None)
    assert drive(EarlyStopping(patience=0), [0.3, 0.3 - 1e-6, 0.2]) == (3, 0, None)


# ----- the hooks fit, evaluate and predict call (Keras 3's sequences: parity/test_callbacks_parity)

HOOKS = [f"on_{name}" for name in (
    "train_begin", "train_end", "epoch_begin", "epoch_end", "train_batch_begin",
    "train_batch_end", "test_begin", "test_end", "test_batch_begin", "test_batch_end",
    "predict_begin", "predict_end", "predict_batch_begin", "predict_batch_end")]


class FullRecorder(Callback):
    """Records (hook, epoch or batch index or None, logs) for every hook; logs is whatever the
    hook received (a copy when it is a dict)."""

    def __init__(self):
        super().__init__()
        self.calls = []


def _recording(hook):
    def record(self, *args, **kwargs):
        *index, logs = (*args, *kwargs.values())  # logs comes last, by position or keyword
        self.calls.append((hook, index[0] if index else None,
                           dict(logs) if isinstance(logs, dict) else logs))
    return record


for _hook in HOOKS:
    setattr(FullRecorder, _hook, _recording(_hook))


def names(calls):
    return [hook for hook, _, _ in calls]


def test_on_batch_end_alone_is_called_once_per_training_batch():
    """Keras 3's base on_train_batch_* forward to on_batch_*: overriding only the alias works,
    and only for training batches (not validation, evaluate or predict)."""
    seen = []

    class Old(Callback):
        def on_batch_begin(self, batch, logs=None):
            seen.append(("begin", batch, logs))

        def on_batch_end(self, batch, logs=None):
            seen.append(("end", batch, sorted(logs)))

    model, x, y = tiny_model()
    cb = Old()
    model.fit(x, y, epochs=2, batch_size=4, validation_data=(x[:5], y[:5]), callbacks=[cb],
              verbose=0)
    epoch = [("begin", 0, {}), ("end", 0, ["accuracy", "loss"]), ("begin", 1, {}),
             ("end", 1, ["accuracy", "loss"]), ("begin", 2, {}), ("end", 2, ["accuracy", "loss"])]
    assert seen == epoch * 2
    model.evaluate(x, y, batch_size=4, callbacks=[cb], verbose=0)
    model.predict(x, batch_size=4, callbacks=[cb], verbose=0)
    assert seen == epoch * 2


def test_overriding_on_train_batch_end_replaces_the_alias_unless_it_calls_super():
    calls = []

    class Plain(Callback):
        def on_train_batch_end(self, batch, logs=None):
            calls.append(("plain train_batch_end", batch))

        def on_batch_end(self, batch, logs=None):
            calls.append(("plain batch_end", batch))

    class Super(Plain):
        def on_train_batch_end(self, batch, logs=None):
            super(Plain, self).on_train_batch_end(batch, logs)
            calls.append(("super train_batch_end", batch))

    model, x, y = tiny_model()
    model.fit(x, y, epochs=1, batch_size=5, callbacks=[Plain(), Super()], verbose=0)
    assert calls == [("plain train_batch_end", 0), ("plain batch_end", 0),
                     ("super train_batch_end", 0), ("plain train_batch_end", 1),
                     ("plain batch_end", 1), ("super train_batch_end", 1)]


def test_evaluate_calls_the_test_hooks_with_running_and_final_logs():
    model, x, y = tiny_model()
    rec = FullRecorder()
    result = model.evaluate(x, y, batch_size=4, callbacks=[rec], verbose=0, return_dict=True)
    assert names(rec.calls) == ["on_test_begin", "on_test_batch_begin", "on_test_batch_end",
                                "on_test_batch_begin", "on_test_batch_end",
                                "on_test_batch_begin", "on_test_batch_end", "on_test_end"]
    assert [i for _, i, _ in rec.calls] == [None, 0, 0, 1, 1, 2, 2, None]
    assert rec.calls[0][2] == {} and rec.calls[1][2] == {}
    assert rec.params == {"epochs": 1, "steps": 3, "verbose": 0} and rec.model is model
    # batch k's logs are the means over the first k+1 batches (sample-weighted), keys sorted
    for k, stop in enumerate((4, 8, 10)):
        logs = rec.calls[2 + 2 * k][2]
        assert list(logs) == ["accuracy", "loss"]
        assert logs == pytest.approx(model.evaluate(x[:stop], y[:stop], batch_size=4,
                                                    verbose=0, return_dict=True), rel=1e-12)
    assert rec.calls[-1][2] == result and list(result) == ["accuracy", "loss"]


def test_validation_runs_the_test_hooks_between_the_last_batch_and_on_epoch_end():
    model, x, y = tiny_model()
    rec = FullRecorder()
    model.fit(x, y, epochs=2, batch_size=4, validation_data=(x[:5], y[:5]), callbacks=[rec],
              verbose=0)
    train = ["on_train_batch_begin", "on_train_batch_end"] * 3
    test = ["on_test_begin", *["on_test_batch_begin", "on_test_batch_end"] * 2, "on_test_end"]
    epoch = ["on_epoch_begin", *train, *test, "on_epoch_end"]
    assert names(rec.calls) == ["on_train_begin", *epoch, *epoch, "on_train_end"]
    assert rec.params["steps"] == 3  # fit's params, not evaluate's
    for epoch_index in (0, 1):
        ends = [c for c in rec.calls if c[0] in ("on_test_end", "on_epoch_end")]
        test_end, epoch_end = ends[2 * epoch_index], ends[2 * epoch_index + 1]
        assert test_end[2] == {k[4:]: v for k, v in epoch_end[2].items() if k.startswith("val_")}
        assert list(epoch_end[2]) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    # on_train_end gets the last epoch's logs, validation included
    assert rec.calls[-1] == ("on_train_end", None, ends[-1][2])


def test_validation_split_also_fires_the_test_hooks_and_no_validation_fires_none():
    model, x, y = tiny_model()
    rec = FullRecorder()
    model.fit(x, y, epochs=1, batch_size=4, validation_split=0.2, callbacks=[rec], verbose=0)
    assert names(rec.calls).count("on_test_batch_end") == 1  # 2 validation samples, 1 batch
    rec = FullRecorder()
    model.fit(x, y, epochs=1, batch_size=4, callbacks=[rec], verbose=0)
    assert not [n for n in names(rec.calls) if "test" in n]


def test_predict_calls_the_predict_hooks_with_each_batchs_outputs():
    model, x, y = tiny_model()
    rec = FullRecorder()
    out = model.predict(x, batch_size=4, callbacks=[rec], verbose=0)
    assert names(rec.calls) == ["on_predict_begin", *["on_predict_batch_begin",
                                                      "on_predict_batch_end"] * 3,
                                "on_predict_end"]
    assert rec.calls[0][2] == {} and rec.calls[-1][2] == {} and rec.calls[1][2] == {}
    ends = [logs for hook, _, logs in rec.calls if hook == "on_predict_batch_end"]
    assert [list(logs) for logs in ends] == [["outputs"]] * 3
    np.testing.assert_array_equal(np.concatenate([logs["outputs"] for logs in ends]), out)
    assert [logs["outputs"].shape for logs in ends] == [(4, 2), (4, 2), (2, 2)]


def test_every_hook_gets_a_dict_never_none():
    model, x, y = tiny_model()
    rec = FullRecorder()
    model.fit(x, y, epochs=1, batch_size=4, validation_split=0.2, callbacks=[rec], verbose=0)
    model.evaluate(x, y, callbacks=[rec], verbose=0)
    model.predict(x, callbacks=[rec], verbose=0)
    assert {hook for hook, _, _ in rec.calls} == set(HOOKS)
    assert all(isinstance(logs, dict) for _, _, logs in rec.calls)
    rec = FullRecorder()
    model.fit(x, y, epochs=2, initial_epoch=2, callbacks=[rec], verbose=0)
    assert rec.calls == [("on_train_begin", None, {}), ("on_train_end", None, {})]


def test_a_hooks_changes_to_logs_reach_later_callbacks_not_fits_own_logs():
    """As in Keras: History (after the user's callbacks) records a key added in on_epoch_end,
    but on_train_end gets the epoch logs fit computed."""
    class Add(Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["extra"] = 1.0

    model, x, y = tiny_model()
    rec = FullRecorder()
    history = model.fit(x, y, epochs=1, callbacks=[Add(), rec], verbose=0)
    assert "extra" in history.history and "extra" in rec.calls[-2][2]
    assert rec.calls[-1] == ("on_train_end", None, {"accuracy": history.history["accuracy"][0],
                                                    "loss": history.history["loss"][0]})


def test_stop_evaluating_and_stop_predicting_end_the_loops():
    class Stop(Callback):
        def on_test_batch_end(self, batch, logs=None):
            self.model.stop_evaluating = True

        def on_predict_batch_end(self, batch, logs=None):
            self.model.stop_predicting = True

    model, x, y = tiny_model()
    first = model.evaluate(x[:4], y[:4], verbose=0, return_dict=True)
    assert model.evaluate(x, y, batch_size=4, callbacks=[Stop()], verbose=0,
                          return_dict=True) == first
    assert model.predict(x, batch_size=4, callbacks=[Stop()], verbose=0).shape == (4, 2)
    # the flags are reset by the next call
    assert model.predict(x, batch_size=4, verbose=0).shape == (10, 2)
    assert model.evaluate(x, y, batch_size=4, verbose=0, return_dict=True) != first


def test_a_duck_typed_callback_gets_only_the_hooks_it_has():
    class EpochOnly:  # not a Callback subclass: no set_model, no other hooks
        def __init__(self):
            self.epochs = []

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append((epoch, sorted(logs)))

    model, x, y = tiny_model()
    cb = EpochOnly()
    model.fit(x, y, epochs=2, batch_size=4, validation_split=0.2, callbacks=[cb], verbose=0)
    model.evaluate(x, y, callbacks=[cb], verbose=0)
    model.predict(x, callbacks=[cb], verbose=0)
    keys = ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert cb.epochs == [(0, keys), (1, keys)]
    with pytest.raises(TypeError, match="Callback objects"):
        model.evaluate(x, y, callbacks=[object()], verbose=0)
    with pytest.raises(TypeError, match="must be a list"):
        model.predict(x, callbacks=EpochOnly(), verbose=0)


def test_callbacks_that_do_not_override_a_hook_are_not_called_for_it():
    """What keeps the per-batch cost down: History and the base class's no-ops are skipped."""
    class EpochEnd(Callback):
        def on_epoch_end(self, epoch, logs=None):
            pass

    class Alias(Callback):
        def on_batch_end(self, batch, logs=None):
            pass

    epoch_end, alias = EpochEnd(), Alias()
    cbs = CallbackList([epoch_end, History(), alias], model=None, params={})
    assert cbs.listeners("on_train_batch_begin") == []
    assert cbs.listeners("on_test_batch_end") == []
    assert cbs.listeners("on_train_batch_end") == [alias.on_train_batch_end]
    assert [m.__self__ for m in cbs.listeners("on_epoch_end")] == [epoch_end, cbs.callbacks[1]]


@pytest.mark.parametrize("verbose,pattern", [
    (2, r"^3/3 - \S+ - \S+/step - accuracy: [\d.]+ - loss: [\d.]+\n3/3 - \S+ - \S+/step\n$"),
    (0, r"^$"),
])
def test_evaluate_and_predict_show_one_bar_each(verbose, pattern, capsys):
    model, x, y = tiny_model()
    model.evaluate(x, y, batch_size=4, verbose=verbose)
    model.predict(x, batch_size=4, verbose=verbose)
    assert re.search(pattern, capsys.readouterr().out)


def test_fits_validation_pass_draws_no_bar_of_its_own(capsys):
    model, x, y = tiny_model()
    model.fit(x, y, epochs=1, batch_size=4, validation_split=0.2, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0] == "Epoch 1/1" and "val_loss" in lines[1]
