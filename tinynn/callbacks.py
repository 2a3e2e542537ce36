"""Callbacks with Keras's protocol. They observe training; to stop it they set
`model.stop_training = True`. A Keras callback that uses only this protocol ports unchanged."""

import os
import warnings

import numpy as np

from tinynn.progbar import Progbar


def _default(method):
    """Marks a base-class hook that does nothing, so `CallbackList` can skip it (Keras marks its
    own the same way, with the same attribute)."""
    method._is_default = True
    return method


class Callback:
    """Base class. Override any `on_*` hook; `self.model` and `self.params` are set by `fit`,
    `evaluate` and `predict`.

    As in Keras 3, `on_train_batch_begin` / `on_train_batch_end` forward to the older names
    `on_batch_begin` / `on_batch_end`, so a callback overriding only those is called once per
    training batch (not during `evaluate` or `predict`).
    """

    def __init__(self):
        self.model = None
        self.params: dict = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    @_default
    def on_batch_begin(self, batch, logs=None):
        """A backwards compatibility alias for `on_train_batch_begin`."""

    @_default
    def on_batch_end(self, batch, logs=None):
        """A backwards compatibility alias for `on_train_batch_end`."""

    @_default
    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    @_default
    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    @_default
    def on_train_begin(self, logs=None): ...
    @_default
    def on_train_end(self, logs=None): ...
    @_default
    def on_epoch_begin(self, epoch, logs=None): ...
    @_default
    def on_epoch_end(self, epoch, logs=None): ...
    @_default
    def on_test_begin(self, logs=None): ...
    @_default
    def on_test_end(self, logs=None): ...
    @_default
    def on_test_batch_begin(self, batch, logs=None): ...
    @_default
    def on_test_batch_end(self, batch, logs=None): ...
    @_default
    def on_predict_begin(self, logs=None): ...
    @_default
    def on_predict_end(self, logs=None): ...
    @_default
    def on_predict_batch_begin(self, batch, logs=None): ...
    @_default
    def on_predict_batch_end(self, batch, logs=None): ...


_HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
          "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
          "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
          "on_predict_batch_begin", "on_predict_batch_end")
_ALIASES = {"on_train_batch_begin": "on_batch_begin", "on_train_batch_end": "on_batch_end"}


def _listens(callback, hook: str) -> bool:
    """Whether calling `callback.<hook>` can do anything: False for a duck-typed object without
    the hook and for the base class's no-ops (a forwarding batch hook listens when its alias
    is overridden)."""
    method = getattr(callback, hook, None)
    if method is None:
        return False
    if not getattr(method, "_is_default", False):
        return True
    alias = _ALIASES.get(hook)
    return alias is not None and _listens(callback, alias)


class CallbackList:
    """Calls one hook on every callback in order, as Keras's CallbackList does.

    Each hook's callers are found once, here: callbacks that do not override a hook cost
    nothing per batch, and a duck-typed object (anything with `on_epoch_end`) simply lacks the
    hooks it does not define.
    """

    def __init__(self, callbacks, model, params: dict):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if isinstance(cb, type):  # EarlyStopping instead of EarlyStopping(...)
                raise TypeError(f"callbacks expected Callback objects, got the class "
                                f"{cb.__name__} itself: pass an instance, {cb.__name__}(...).")
            if not isinstance(cb, Callback) and not hasattr(cb, "on_epoch_end"):
                raise TypeError(
                    f"callbacks expected Callback objects, got {type(cb).__name__}: {cb!r}."
                )
            if hasattr(cb, "set_model"):
                cb.set_model(model)
            if hasattr(cb, "set_params"):
                cb.set_params(params)
        self._listeners = {hook: [getattr(cb, hook) for cb in self.callbacks if _listens(cb, hook)]
                           for hook in _HOOKS}

    def listeners(self, hook: str) -> list:
        """The bound methods to call for `hook`, in callback order (empty when nobody listens).
        Batch hooks take `(batch, logs=logs)`, as Keras calls them."""
        return self._listeners[hook]

    def call(self, hook: str, *args, logs=None) -> None:
        """Call `hook(*args, logs)` on every listener. Like Keras's `pythonify_logs`, each call
        hands the callbacks a new dict with sorted keys ({} for None): a callback may add to it
        (later callbacks see that) without changing the logs `fit` keeps."""
        listeners = self._listeners[hook]
        if listeners:
            logs = {} if logs is None else dict(sorted(logs.items()))
            for method in listeners:
                method(*args, logs)


class History(Callback):
    """Records the epoch logs: `history.history["val_loss"]` is a list, one value per epoch.

    `fit` adds one automatically and returns it (also kept as `model.history`).
    """

    def __init__(self):
        super().__init__()
        self.epoch: list[int] = []
        self.history: dict[str, list[float]] = {}

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        if self.model is not None:
            self.model.history = self


class ProgbarLogger(Callback):
    """Prints "Epoch i/n" and a progress bar per epoch in `fit`, and one bar for `evaluate` and
    `predict` (added by each when verbose > 0). As in Keras, fit's validation pass shows none."""

    def __init__(self, verbose: int = 1):
        super().__init__()
        self.verbose = verbose
        self._called_in_fit = False

    def _new_bar(self) -> None:
        self.bar = Progbar(self.params["steps"], verbose=self.verbose)

    def on_train_begin(self, logs=None):
        self._called_in_fit = True

    def on_epoch_begin(self, epoch, logs=None):
        print(f"Epoch {epoch + 1}/{self.params['epochs']}")
        self._new_bar()

    def on_train_batch_end(self, batch, logs=None):
        self.bar.update(batch + 1, logs)

    def on_epoch_end(self, epoch, logs=None):
        self.bar.update(self.params["steps"], logs, finalize=True)

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._new_bar()

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self.bar.update(batch + 1, logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self.bar.update(self.params["steps"], logs, finalize=True)

    def on_predict_begin(self, logs=None):
        self._new_bar()

    def on_predict_batch_end(self, batch, logs=None):
        self.bar.update(batch + 1)

    def on_predict_end(self, logs=None):
        self.bar.update(self.params["steps"], finalize=True)


class EarlyStopping(Callback):
    """Stop training when a monitored quantity has stopped improving (Keras 3 semantics).

    At each epoch end from `start_from_epoch` on: when restoring and no snapshot exists yet, the
    current weights are snapshotted; `wait += 1`; if the value beats `best` by more than
    `min_delta` it becomes `best` (snapshotted) and `wait` resets to 0, but only if it also beats
    `baseline`; otherwise training stops once `wait >= patience` (never after the first epoch).
    With `restore_best_weights=True`, the best weights are restored when training ends, whether
    or not the stop triggered.

    Args:
        monitor: the log key to watch. Defaults to "val_loss".
        min_delta: the smallest change counted as an improvement. Defaults to 0.
        patience: epochs without improvement before stopping. Defaults to 0.
        verbose: 1 prints when it stops and restores. Defaults to 0.
        mode: "min", "max" or "auto" (max for accuracy-like names, min for losses).
            Defaults to "auto".
        baseline: a value the monitor must beat for `wait` to reset. Defaults to None.
        restore_best_weights: restore the weights of the best epoch at the end.
            Defaults to False.
        start_from_epoch: epochs to wait before monitoring at all. Defaults to 0.
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0, patience: int = 0,
                 verbose: int = 0, mode: str = "auto", baseline: "float | None" = None,
                 restore_best_weights: bool = False, start_from_epoch: int = 0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"EarlyStopping expected mode 'auto', 'min' or 'max', got {mode!r}.")
        if not isinstance(patience, (int, np.integer)) or patience < 0:
            raise ValueError(f"EarlyStopping expected patience >= 0, got patience={patience!r}.")
        self.monitor, self.mode, self.baseline = monitor, mode, baseline
        self.min_delta = abs(min_delta)
        self.patience, self.verbose = int(patience), verbose
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch
        if mode == "auto":
            name = monitor.removeprefix("val_")
            mode = "max" if "acc" in name or name.startswith("fmeasure") else "min"
        self._maximize = mode == "max"
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best, self.best_weights = None, None

    def _is_improvement(self, value: float, reference: "float | None") -> bool:
        if reference is None:
            return True
        # Keras's operations: the shifted value is formed in Python floats, then `ops.less` /
        # `ops.greater` compare in float32 (the dtype Keras gives Python floats), so values
        # equal to float32 precision are ties, never improvements.
        if self._maximize:
            return bool(np.float32(value - self.min_delta) > np.float32(reference))
        return bool(np.float32(value + self.min_delta) < np.float32(reference))

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best, self.best_weights = None, None

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(
                f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {','.join(logs or {})}",
                stacklevel=2,
            )
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class TerminateOnNaN(Callback):
    """Stop training when a batch's logged loss is NaN or infinite (Keras's callback).

    `fit` already does this by default, and better: it checks each batch's loss before the
    update, so NaN never reaches the weights. This class exists so Keras code that lists it
    ports unchanged.
    """

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class ModelCheckpoint(Callback):
    """Save the model (or its weights) every epoch or every `save_freq` batches, or only when
    `monitor` improves (Keras 3).

    Each save goes through `model.save` / `model.save_weights`, so it is atomic: a crash
    mid-save keeps the previous checkpoint intact. The suffix chooses the format, as Keras
    requires: ".keras" (Keras's archive, which Keras loads), ".weights.h5" with
    `save_weights_only=True`; tinynn also accepts ".npz", its own archive, which keeps the random
    generators too, so that training resumed from it with `fit(..., initial_epoch=...)`
    continues exactly.

    Args:
        filepath: where to save; may hold `{epoch}` (1-based), `{batch}` (1-based, when saving
            every `save_freq` batches) and log keys, e.g. "ckpt-{epoch:02d}-{val_loss:.3f}.keras".
        monitor: the log key compared when `save_best_only`. Defaults to "val_loss".
        verbose: 1 prints each save. Defaults to 0.
        save_best_only: save only when `monitor` beats the best value so far (NaN never does;
            when `monitor` is missing from the logs, Keras warns and saves). Defaults to False.
        save_weights_only: save only the weights, `model.save_weights(filepath)`; the filepath
            must then end in ".weights.h5". Defaults to False.
        mode: "min", "max" or "auto" (max for accuracy-like names). Defaults to "auto".
        save_freq: "epoch", or an integer: save after every that many batches (counted across
            epochs, as Keras does). Defaults to "epoch".
        initial_value_threshold: the value to beat for the first save. Defaults to None.
    """

    def __init__(self, filepath, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False,
                 mode: str = "auto", save_freq="epoch",
                 initial_value_threshold: "float | None" = None):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"ModelCheckpoint expected mode 'auto', 'min' or 'max', got {mode!r}.")
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(
                save_freq, (int, np.integer)) or save_freq <= 0):
            raise ValueError(f"Unrecognized save_freq: {save_freq!r}. Expected save_freq are "
                             "'epoch' or positive integer values.")
        self.filepath, self.monitor, self.verbose = str(filepath), monitor, verbose
        if save_weights_only and not self.filepath.endswith(".weights.h5"):
            raise ValueError("When using `save_weights_only=True` in `ModelCheckpoint`, the "
                             "filepath provided must end in `.weights.h5` (Keras weights "
                             f"format). Received: filepath={self.filepath}")
        if not save_weights_only and not self.filepath.endswith((".keras", ".npz")):
            raise ValueError("The filepath provided must end in `.keras` (Keras model format) "
                             "or `.npz` (tinynn's, for an exact training resume). Received: "
                             f"filepath={self.filepath}")
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.save_freq = save_freq if save_freq == "epoch" else int(save_freq)
        if mode == "auto":
            name = monitor.removeprefix("val_")
            mode = "max" if "acc" in name or name.startswith("fmeasure") else "min"
        self._better = np.greater if mode == "max" else np.less
        self.best = (initial_value_threshold if initial_value_threshold is not None
                     else (-np.inf if mode == "max" else np.inf))
        self._epoch, self._batches_since_save, self._last_batch = 0, 0, None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        # batches counted across epochs: a batch index that did not grow starts a new epoch
        new_epoch = self._last_batch is None or batch <= self._last_batch
        self._batches_since_save += batch + 1 if new_epoch else batch - self._last_batch
        self._last_batch = batch
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _save(self, epoch: int, batch: "int | None", logs) -> None:
        logs = logs or {}
        fields = dict(logs) if batch is None or "batch" in logs else {**logs, "batch": batch + 1}
        try:
            path = self.filepath.format(epoch=epoch + 1, **fields)
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(
                f"ModelCheckpoint filepath {self.filepath!r} cannot be formatted with epoch and "
                f"the logs {sorted(fields)}: {e!r}."
            ) from e
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"Can save best model only with {self.monitor} available.",
                              stacklevel=2)
            elif not self._better(current, self.best):
                if self.verbose > 0:
                    print(f"Epoch {epoch + 1}: {self.monitor} did not improve from "
                          f"{self.best:.5f}")
                return
            else:
                if self.verbose > 0:
                    print(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to "
                          f"{current:.5f}, saving model to {path}")
                self.best = current
        elif self.verbose > 0:
            print(f"Epoch {epoch + 1}: saving model to {path}")
        folder = os.path.dirname(path)
        if folder:  # Keras creates the checkpoint's folder ("training_1/cp.weights.h5")
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
        if self.verbose > 0:
            print(f"Epoch {epoch + 1}: finished saving model to {path}")  # as Keras 3.15
