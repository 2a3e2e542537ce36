"""Training faults: a NaN/inf loss stops training with the last finite weights; Ctrl-C (a
KeyboardInterrupt) leaves whole steps only and a History of the completed epochs."""

import os
import signal

import numpy as np
import pytest

import tinynn
from tinynn import layers
from tinynn.callbacks import Callback, EarlyStopping, TerminateOnNaN


class Poison(layers.Layer):
    """Identity, except that it outputs NaN while `armed` (a stand-in for a numerical blow-up)."""

    armed = False

    def forward(self, X, training=False):
        return X * np.nan if self.armed else X

    def backward(self, dY):
        return dY


class At(Callback):
    """Runs `action(model)` at the start of batch `batch` of epoch `epoch` and snapshots the
    weights at the end of the batch before it."""

    def __init__(self, epoch, batch, action):
        super().__init__()
        self.at, self.action, self.epoch, self.snapshot = (epoch, batch), action, -1, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch + 1) == self.at:
            self.snapshot = self.model.get_weights()

    def on_train_batch_begin(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            self.action(self.model)


def poisoned_model(seed=0, n=40):
    tinynn.utils.set_random_seed(seed)
    poison = Poison()
    model = tinynn.Sequential([tinynn.Input((4,)), layers.Dense(8, activation="relu"), poison,
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer=tinynn.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    return model, poison, x, (x[:, 0] > 0).astype(int)


def arm(poison):
    def action(model):
        poison.armed = True
    return action


def test_nan_loss_stops_at_once_and_keeps_last_finite_weights():
    model, poison, x, y = poisoned_model()
    spy = At(epoch=1, batch=2, action=arm(poison))
    with pytest.warns(RuntimeWarning, match=r"Invalid loss \(nan\) at epoch 2/5, batch 3/5"):
        history = model.fit(x, y, epochs=5, batch_size=8, callbacks=[spy], verbose=0)
    assert model.stop_training
    assert history.epoch == [0] and len(history.history["loss"]) == 1
    assert model.optimizer.iterations == 5 + 2  # the poisoned batch was not applied
    for got, want in zip(model.get_weights(), spy.snapshot, strict=True):
        np.testing.assert_array_equal(got, want)


def test_diverging_training_stops_with_finite_weights():
    model, _, x, y = poisoned_model()
    model.compile(optimizer=tinynn.optimizers.SGD(1e6), loss="sparse_categorical_crossentropy")
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning, match="Invalid loss"):
        history = model.fit(x, y, epochs=20, batch_size=8, verbose=0)
    assert len(history.epoch) < 20
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_nan_loss_lets_early_stopping_restore_the_best_weights():
    model, poison, x, y = poisoned_model()
    best = {}

    class Best(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs["loss"] < best.get("loss", np.inf):
                best.update(loss=logs["loss"], weights=self.model.get_weights())

    es = EarlyStopping(monitor="loss", patience=10, restore_best_weights=True)
    with pytest.warns(RuntimeWarning, match="epoch 4/9"):
        model.fit(x, y, epochs=9, batch_size=8, verbose=0,
                  callbacks=[At(epoch=3, batch=1, action=arm(poison)), es, Best()])
    for got, want in zip(model.get_weights(), best["weights"], strict=True):
        np.testing.assert_array_equal(got, want)


def test_terminate_on_nan_callback_like_keras(capsys):
    cb = TerminateOnNaN()

    class Model:
        stop_training = False

    cb.set_model(Model())
    cb.on_train_batch_end(0, {"loss": 0.5})
    assert not cb.model.stop_training
    cb.on_train_batch_end(7, {"loss": float("inf")})
    assert cb.model.stop_training
    assert "Batch 7: Invalid loss, terminating training" in capsys.readouterr().out


def test_keyboard_interrupt_keeps_completed_epochs_and_calls_on_train_end(capsys):
    model, _, x, y = poisoned_model()
    ended = []

    class End(Callback):
        def on_train_end(self, logs=None):
            ended.append(logs)

    def interrupt(model):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=5, batch_size=8, verbose=0,
                  callbacks=[At(epoch=2, batch=3, action=interrupt), End()])
    assert model.history.epoch == [0, 1] and len(model.history.history["loss"]) == 2
    assert len(ended) == 1 and "loss" in ended[0]
    assert model.optimizer.iterations == 2 * 5 + 3
    assert "Training interrupted at epoch 3/5, batch 4/5" in capsys.readouterr().err


@pytest.fixture
def default_sigint():
    """Python's own Ctrl-C handler for the test, whatever the suite inherited: a shell that runs
    a job in the background (`make test &`, nohup) starts it with SIGINT ignored, and then
    neither Python nor tinynn's guard installs a handler."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_sigint_during_an_optimizer_step_waits_for_the_whole_step(default_sigint):
    """SIGINT arrives in the middle of the optimizer's step: without the guard the
    KeyboardInterrupt would leave the step half applied (the step counter not advanced)."""
    model, _, x, y = poisoned_model()
    optimizer = model.optimizer
    update_step = optimizer.update_step

    def update_then_sigint(grads, variables, slots):
        update_step(grads, variables, slots)
        if optimizer.iterations == 6:
            os.kill(os.getpid(), signal.SIGINT)

    optimizer.update_step = update_then_sigint
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
    assert optimizer.iterations == 7
    assert model.history.epoch == [0]

    reference, _, _, _ = poisoned_model()
    reference.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    reference.fit(x[:16], y[:16], epochs=1, batch_size=8, shuffle=False, verbose=0)
    for got, want in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
