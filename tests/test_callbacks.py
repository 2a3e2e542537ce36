"""EarlyStopping driven by scripted monitor sequences, and the Keras callback protocol in fit.

Expected stop and restore epochs are worked out by hand from Keras 3's rules (see the
EarlyStopping docstring); parity/ replays the same scripts through Keras's own callback.
"""

import warnings

import numpy as np
import pytest

import tinynn
from tinynn.callbacks import Callback, EarlyStopping


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
