"""LearningRateScheduler, ReduceLROnPlateau, CSVLogger, LambdaCallback and BackupAndRestore:
scripted loss sequences with hand-worked expectations, and real `fit` runs (tiny, seeded).
parity/test_callbacks_keras.py replays the scripts through Keras's own callbacks."""

import os
import warnings

import numpy as np
import pytest

import tinynn
from tinynn.callbacks import (
    BackupAndRestore,
    Callback,
    CSVLogger,
    LambdaCallback,
    LearningRateScheduler,
    ReduceLROnPlateau,
)


class StandIn:
    """A stand-in model holding only an optimizer, as the learning-rate callbacks need."""

    def __init__(self, optimizer):
        self.optimizer, self.stop_training = optimizer, False


def f32(x):
    return float(np.float32(x))


def plateau(values, lr=0.1, monitor="val_loss", **kwargs):
    """Drive ReduceLROnPlateau with `values`; return the logged and the resulting rates."""
    cb = ReduceLROnPlateau(monitor=monitor, **kwargs)
    model = StandIn(tinynn.optimizers.SGD(lr))
    cb.set_model(model)
    cb.on_train_begin()
    logged, after = [], []
    for epoch, value in enumerate(values):
        logs = {monitor: value}
        cb.on_epoch_end(epoch, logs)
        logged.append(logs["learning_rate"])
        after.append(f32(model.optimizer.learning_rate))  # as Keras reads its variable
    return logged, after


# (kwargs, monitored values, the rate after each epoch's end, in units of the starting 0.1)
PLATEAU = {
    "patience 2: a reduction after two flat epochs, wait resets":
        (dict(factor=0.5, patience=2), [1.0, 1.0, 1.0, 1.0, 1.0], [1, 1, .5, .5, .25]),
    "an improvement resets wait":
        (dict(factor=0.5, patience=2), [1.0, 1.1, 0.9, 1.0, 1.0], [1, 1, 1, 1, .5]),
    "min_delta: a gain of exactly min_delta is none; best stays, so 0.5 then is one":
        (dict(factor=0.5, patience=1, min_delta=0.25), [1.0, 0.75, 0.5, 0.3], [1, .5, .5, .25]),
    "cooldown 2 skips one epoch: the counter reaches 0 in the epoch that then counts":
        (dict(factor=0.5, patience=1, cooldown=2), [1.0] * 6, [1, .5, .5, .25, .25, .125]),
    "cooldown 1 does not delay (the counter reaches 0 before the check)":
        (dict(factor=0.5, patience=1, cooldown=1), [1.0] * 4, [1, .5, .25, .125]),
    "min_lr floors the rate and stops further reductions":
        (dict(factor=0.5, patience=1, min_lr=0.03), [1.0] * 5, [1, .5, .3, .3, .3]),
    "patience 0 reduces at every non-improvement":
        (dict(factor=0.1, patience=0), [1.0, 0.5, 0.6, 0.4], [1, 1, .1, .1]),
    "mode max":
        (dict(factor=0.5, patience=1, mode="max"), [0.5, 0.6, 0.55, 0.7], [1, 1, .5, .5]),
}


@pytest.mark.parametrize("case", list(PLATEAU))
def test_reduce_lr_on_plateau_scripts(case):
    kwargs, values, expected = PLATEAU[case]
    logged, after = plateau(values, **kwargs)
    np.testing.assert_allclose(after, [0.1 * e for e in expected], rtol=1e-6)
    assert logged == [f32(0.1)] + [f32(a) for a in after[:-1]]  # logged before the decision


def test_reduce_lr_rounds_each_rate_to_float32_like_keras():
    """Keras's rate is a float32 variable: each new rate is rounded as it is set, so the
    optimizer holds exactly the number Keras would (float64 runs keep float64 rates)."""
    for floatx, rounded in (("float32", f32), ("float64", float)):
        with tinynn.config.floatx_scope(floatx):
            cb = ReduceLROnPlateau(monitor="loss", factor=0.3, patience=1)
            model = StandIn(tinynn.optimizers.SGD(0.1))
            cb.set_model(model)
            cb.on_train_begin()
            want, lr = [], rounded(0.1)
            for epoch in range(4):
                cb.on_epoch_end(epoch, {"loss": 1.0})
                if epoch:
                    lr = rounded(lr * 0.3)
                    want.append(lr)
                    assert model.optimizer.learning_rate == lr, (floatx, epoch)


def test_reduce_lr_min_lr_compared_in_float32():
    """0.1 rounds up in float32 and 0.1 as min_lr too: the rate equals min_lr, no reduction."""
    _, after = plateau([1.0] * 3, factor=0.5, patience=1, min_lr=0.1)
    assert after == [f32(0.1)] * 3


def test_reduce_lr_accuracy_is_maximised_in_auto_mode():
    _, after = plateau([0.5, 0.6, 0.7, 0.8], monitor="val_accuracy", factor=0.5, patience=1)
    assert after == [f32(0.1)] * 4


def test_reduce_lr_resets_on_train_begin_and_warns_on_missing_monitor():
    cb = ReduceLROnPlateau(factor=0.5, patience=1)
    model = StandIn(tinynn.optimizers.SGD(0.1))
    cb.set_model(model)
    cb.on_train_begin()
    cb.on_epoch_end(0, {"val_loss": 1.0})
    cb.on_epoch_end(1, {"val_loss": 2.0})
    assert model.optimizer.learning_rate == f32(0.05)
    cb.on_train_begin()
    assert (cb.best, cb.wait, cb.cooldown_counter) == (None, 0, 0)
    with pytest.warns(UserWarning, match="val_loss` which is not available"):
        cb.on_epoch_end(0, {"loss": 1.0})


def test_reduce_lr_argument_checks():
    with pytest.raises(ValueError, match="factor >= 1.0"):
        ReduceLROnPlateau(factor=1.0)
    with pytest.warns(UserWarning, match="fallback to auto"):
        ReduceLROnPlateau(mode="lowest")


def test_reduce_lr_on_a_schedule_raises_type_error_like_keras():
    schedule = tinynn.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    cb = ReduceLROnPlateau(monitor="loss", patience=0)
    cb.set_model(StandIn(tinynn.optimizers.SGD(schedule)))
    cb.on_train_begin()
    cb.on_epoch_end(0, {"loss": 1.0})
    with pytest.raises(TypeError, match="not settable"):
        cb.on_epoch_end(1, {"loss": 1.0})


def test_learning_rate_scheduler_sets_the_rate_each_epoch_and_logs_it():
    seen = []

    def schedule(epoch, lr):
        seen.append((epoch, lr))
        return lr * 0.5 if epoch > 0 else lr

    cb = LearningRateScheduler(schedule)
    model = StandIn(tinynn.optimizers.SGD(0.1))
    cb.set_model(model)
    logged = []
    for epoch in range(3):
        cb.on_epoch_begin(epoch)
        logs = {"loss": 1.0}
        cb.on_epoch_end(epoch, logs)
        logged.append(logs["learning_rate"])
    assert seen == [(0, f32(0.1)), (1, f32(0.1)), (2, f32(f32(0.1) * 0.5))]
    assert logged == [f32(0.1), f32(0.05), f32(0.025)]


def test_learning_rate_scheduler_old_form_bad_output_and_schedule():
    model = StandIn(tinynn.optimizers.SGD(0.1))
    cb = LearningRateScheduler(lambda epoch: 0.5 / (epoch + 1))  # Keras's one-argument form
    cb.set_model(model)
    cb.on_epoch_begin(1)
    assert model.optimizer.learning_rate == 0.25
    bad = LearningRateScheduler(lambda epoch, lr: 1)
    bad.set_model(model)
    with pytest.raises(ValueError, match="should be a float"):
        bad.on_epoch_begin(0)
    sched = StandIn(tinynn.optimizers.SGD(tinynn.optimizers.schedules.ExponentialDecay(
        0.1, 10, 0.5)))
    cb = LearningRateScheduler(lambda epoch, lr: lr)
    cb.set_model(sched)
    with pytest.raises(TypeError, match="not settable"):
        cb.on_epoch_begin(0)


def tiny_model(seed=0, dropout=False):
    tinynn.utils.set_random_seed(seed)
    layers = [tinynn.Input((3,)), tinynn.layers.Dense(8, activation="relu")]
    if dropout:
        layers.append(tinynn.layers.Dropout(0.3))
    model = tinynn.Sequential([*layers, tinynn.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(20, 3))
    return model, x, (x[:, 0] > 0).astype(int)


def test_learning_rate_callbacks_inside_fit_reach_history():
    model, x, y = tiny_model()
    history = model.fit(x, y, epochs=3, batch_size=5, verbose=0, callbacks=[
        LearningRateScheduler(lambda epoch, lr: 0.01 * 0.5 ** epoch)])
    assert history.history["learning_rate"] == [f32(0.01), f32(0.005), f32(0.0025)]
    model, x, y = tiny_model()
    history = model.fit(x, y, epochs=2, batch_size=5, verbose=0, callbacks=[
        ReduceLROnPlateau(monitor="loss", patience=0)])
    assert history.history["learning_rate"] == [f32(0.001)] * 2


# ----- CSVLogger -----------------------------------------------------------------------------

def test_csv_logger_writes_keras_format(tmp_path):
    path = tmp_path / "log.csv"
    cb = CSVLogger(path)
    cb.on_train_begin()
    cb.on_epoch_end(0, {"loss": 0.123456789012345, "accuracy": np.float32(0.5),
                        "hist": np.array([1.5, 2.0]), "note": "a,b"})
    cb.on_epoch_end(1, {"loss": 0.5})
    cb.on_train_end()
    assert path.read_bytes() == (
        b"epoch,accuracy,hist,loss,note,val_accuracy,val_hist,val_loss,val_note\r\n"
        b'0,0.5,"""[1.5, 2.0]""",0.123456789012345,"a,b",NA,NA,NA,NA\r\n'
        b"1,NA,NA,0.5,NA,NA,NA,NA,NA\r\n")


def test_csv_logger_flushes_each_epoch_and_appends_without_a_second_header(tmp_path):
    path = tmp_path / "log.csv"
    for epoch in (0, 1):
        cb = CSVLogger(str(path), separator=";", append=True)
        cb.on_train_begin()
        cb.on_epoch_end(epoch, {"loss": 1.0, "val_loss": 2.0})
        assert path.read_bytes().endswith(f"{epoch};1.0;2.0\r\n".encode())  # before train end
        cb.on_train_end()
    assert path.read_bytes() == b"epoch;loss;val_loss\r\n0;1.0;2.0\r\n1;1.0;2.0\r\n"
    cb = CSVLogger(path)  # append=False overwrites
    cb.on_train_begin()
    cb.on_train_end()
    assert path.read_bytes() == b""


def test_csv_logger_in_fit(tmp_path):
    model, x, y = tiny_model()
    path = tmp_path / "fit.csv"
    history = model.fit(x, y, epochs=2, batch_size=10, verbose=0, validation_split=0.25,
                        callbacks=[CSVLogger(path)])
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch,accuracy,loss,val_accuracy,val_loss"
    assert lines[2] == ",".join(["1", *(repr(history.history[k][1]) for k in
                                        ("accuracy", "loss", "val_accuracy", "val_loss"))])


# ----- LambdaCallback --------------------------------------------------------------------------

def test_lambda_callback_calls_each_function_with_keras_arguments():
    calls = []
    cb = LambdaCallback(
        on_train_begin=lambda logs: calls.append("train_begin"),
        on_epoch_begin=lambda epoch, logs: calls.append(f"epoch_begin {epoch}"),
        on_train_batch_begin=lambda batch, logs: calls.append(f"batch_begin {batch}"),
        on_train_batch_end=lambda batch, logs: calls.append(f"batch_end {batch} {'loss' in logs}"),
        on_epoch_end=lambda epoch, logs: calls.append(f"epoch_end {epoch} {sorted(logs)}"),
        on_train_end=lambda logs: calls.append("train_end"),
        on_test_end=lambda logs: calls.append("test_end"))
    model, x, y = tiny_model()
    model.fit(x, y, epochs=1, batch_size=10, verbose=0, callbacks=[cb])
    assert calls == ["train_begin", "epoch_begin 0", "batch_begin 0", "batch_end 0 True",
                     "batch_begin 1", "batch_end 1 True", "epoch_end 0 ['accuracy', 'loss']",
                     "train_end"]
    model.evaluate(x, y, verbose=0, callbacks=[cb])
    assert calls[-1] == "test_end"
    assert isinstance(cb, Callback) and LambdaCallback().on_epoch_end(0, {}) is None


# ----- BackupAndRestore ------------------------------------------------------------------------

class Crash(Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("simulated crash")


@pytest.mark.parametrize("crash_at", [1, 3])
def test_backup_and_restore_resumes_bit_identically(tmp_path, crash_at):
    """Dropout, Adam's moments and fit's shuffling all continue exactly from the backup."""
    model, x, y = tiny_model(dropout=True)
    model.fit(x, y, epochs=5, batch_size=6, verbose=0)
    uninterrupted = model.get_weights()

    backup = tmp_path / "backup"
    model, x, y = tiny_model(dropout=True)
    with pytest.raises(RuntimeError, match="simulated crash"):
        model.fit(x, y, epochs=5, batch_size=6, verbose=0,
                  callbacks=[BackupAndRestore(backup), Crash(crash_at)])
    assert sorted(os.listdir(backup)) == [f"backup-{crash_at - 1}.npz", "training_metadata.json"]
    tinynn.utils.set_random_seed(99)  # the restore must bring back the generators' states
    history = model.fit(x, y, epochs=5, batch_size=6, verbose=0,
                        callbacks=[BackupAndRestore(backup)])
    assert history.epoch == list(range(crash_at, 5))
    for got, want in zip(model.get_weights(), uninterrupted, strict=True):
        np.testing.assert_array_equal(got, want)
    assert not backup.exists()  # deleted when training finished


def test_backup_and_restore_into_a_new_model_and_keeping_the_checkpoint(tmp_path):
    backup = tmp_path / "b"
    model, x, y = tiny_model()
    model.fit(x, y, epochs=3, batch_size=6, verbose=0,
              callbacks=[BackupAndRestore(backup, delete_checkpoint=False)])
    assert os.listdir(backup)
    again, _, _ = tiny_model(seed=1)  # new layer names and weights, same architecture
    history = again.fit(x, y, epochs=4, batch_size=6, verbose=0,
                        callbacks=[BackupAndRestore(backup, delete_checkpoint=False)])
    assert history.epoch == [3]
    # no callback: from epoch 0 again. (Keras 3.15 never clears the restored start, measured:
    # every later fit of that model starts at the restored epoch. tinynn does not copy that.)
    history = again.fit(x, y, epochs=2, batch_size=6, verbose=0)
    assert history.epoch == [0, 1]


def test_backup_every_n_batches_keeps_the_weights_and_restarts_the_epoch(tmp_path):
    backup = tmp_path / "b"
    model, x, y = tiny_model()
    snapshots = []
    grab = LambdaCallback(on_train_batch_end=lambda b, logs: snapshots.append(
        model.get_weights()))
    crash = LambdaCallback(on_train_batch_begin=lambda b, logs: (_ for _ in ()).throw(
        RuntimeError("crash")) if len(snapshots) == 6 else None)
    with pytest.raises(RuntimeError):
        model.fit(x, y, epochs=3, batch_size=5, verbose=0,
                  callbacks=[BackupAndRestore(backup, save_freq=3), grab, crash])
    # 4 batches per epoch: saves after global batches 3 and 6 (epoch 1, batch 1)
    restarted, _, _ = tiny_model(seed=2)
    starts = []
    restarted.fit(x, y, epochs=2, batch_size=5, verbose=0, callbacks=[
        BackupAndRestore(backup),
        LambdaCallback(on_epoch_begin=lambda e, logs: starts.append(
            (e, restarted.get_weights())))])
    assert starts[0][0] == 1  # the epoch in progress restarts from its first batch
    for got, want in zip(starts[0][1], snapshots[5], strict=True):
        np.testing.assert_array_equal(got, want)


def test_backup_double_checkpoint_falls_back_to_the_previous(tmp_path):
    backup = tmp_path / "b"
    model, x, y = tiny_model()
    with pytest.raises(RuntimeError):
        model.fit(x, y, epochs=5, batch_size=10, verbose=0,
                  callbacks=[BackupAndRestore(backup, double_checkpoint=True), Crash(3)])
    assert sorted(os.listdir(backup)) == ["backup-1.npz", "backup-2.npz",
                                          "training_metadata.json"]
    (backup / "backup-2.npz").write_bytes(b"torn")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = model.fit(x, y, epochs=5, batch_size=10, verbose=0,
                            callbacks=[BackupAndRestore(backup, double_checkpoint=True)])
    assert history.epoch == [2, 3, 4]


def test_backup_kept_after_ctrl_c_and_argument_checks(tmp_path):
    backup = tmp_path / "b"
    model, x, y = tiny_model()

    class CtrlC(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=4, batch_size=10, verbose=0,
                  callbacks=[BackupAndRestore(backup), CtrlC()])
    assert (backup / "training_metadata.json").exists()
    with pytest.raises(ValueError, match="Empty `backup_dir`"):
        BackupAndRestore("")
    for bad in (False, 0, "batch"):
        with pytest.raises(ValueError, match="save_freq"):
            BackupAndRestore(backup, save_freq=bad)


def test_swap_ema_weights_puts_the_averages_in_only_while_evaluating():
    import numpy as np

    import tinynn
    tinynn.utils.set_random_seed(0)
    model = tinynn.Sequential([tinynn.Input((3,)), tinynn.layers.Dense(2)])
    model.compile(optimizer=tinynn.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.5),
                  loss="mse")
    x, y = np.ones((8, 3), "float32"), np.zeros((8, 2), "float32")
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    model.optimizer.averages[0][...] += 1.0  # make the averages differ from the weights
    weights, averages = model.get_weights()[0].copy(), model.optimizer.averages[0].copy()
    seen = []
    probe = tinynn.callbacks.LambdaCallback(
        on_test_batch_end=lambda b, logs: seen.append(model.get_weights()[0].copy()))
    swap = tinynn.callbacks.SwapEMAWeights()
    model.evaluate(x, y, verbose=0, callbacks=[swap, probe])
    np.testing.assert_array_equal(seen[0], averages)  # evaluated with the averages
    np.testing.assert_array_equal(model.get_weights()[0], weights)  # and swapped back
    model.predict(x, verbose=0, callbacks=[swap])
    np.testing.assert_array_equal(model.get_weights()[0], weights)  # predict swaps back too
    plain = tinynn.Sequential([tinynn.Input((3,)), tinynn.layers.Dense(2)])
    plain.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="use_ema=True"):
        plain.evaluate(x, y, verbose=0, callbacks=[tinynn.callbacks.SwapEMAWeights()])
