"""More of Keras 3's callbacks: learning-rate control, CSV logging, lambdas, and backup/restore
for resuming after a crash. Exported as `tinynn.callbacks.X`, where Keras users look for them.

Keras keeps the learning rate in a variable of dtype floatx, so every value it reads back is
rounded to floatx (float32 by default: 0.1 reads as 0.10000000149011612). These callbacks round
the same way when they set and read the rate, so their decisions and logs equal Keras's.
"""

import collections.abc
import csv
import json
import os
import shutil
import warnings

import numpy as np

from tinynn import config, io, saving
from tinynn.callbacks import Callback

__all__ = ["BackupAndRestore", "CSVLogger", "LambdaCallback", "LearningRateScheduler",
           "ReduceLROnPlateau", "SwapEMAWeights"]


def _read_lr(optimizer) -> float:
    """The optimizer's learning rate as Keras reads its floatx variable."""
    if not hasattr(optimizer, "learning_rate"):
        raise ValueError('Optimizer must have a "learning_rate" attribute.')
    return float(np.asarray(optimizer.learning_rate, dtype=config.floatx()))


def _set_lr(optimizer, value) -> None:
    """Assign as Keras assigns its variable: rounded to floatx. A LearningRateSchedule-driven
    optimizer raises TypeError (its rate is not settable), as in Keras."""
    optimizer.learning_rate = float(np.asarray(value, dtype=config.floatx()))


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of every epoch: lr = schedule(epoch, lr) (Keras 3).

    `schedule` receives the 0-based epoch and the current rate (as the optimizer's floatx
    variable holds it) and must return a float; a one-argument `schedule(epoch)` (Keras's old
    form) is called when the two-argument call raises TypeError. At each epoch end the rate is
    added to the logs as "learning_rate" (so History and CSVLogger record it).

    Args:
        schedule: function (epoch, lr) -> new learning rate (a float).
        verbose: 1 prints each new rate. Defaults to 0.
    """

    def __init__(self, schedule, verbose: int = 0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        try:
            lr = self.schedule(epoch, _read_lr(optimizer))
        except TypeError:  # Keras's fallback for schedule(epoch)
            lr = self.schedule(epoch)
        if not isinstance(lr, (float, np.float32, np.float64)):
            raise ValueError(f"The output of the `schedule` function should be a float. Got: {lr}")
        _set_lr(optimizer, lr)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}  # as Keras: an empty dict is replaced, so the key is lost there
        logs["learning_rate"] = _read_lr(self.model.optimizer)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by `factor` when `monitor` has not improved for `patience`
    epochs (Keras 3's decision logic, step by step).

    At each epoch end: log "learning_rate"; then, if `monitor` is in the logs,
        1. in cooldown (counter > 0): counter -= 1, wait = 0;
        2. an improvement (value - min_delta < best in "min" mode, value - min_delta > best in
           "max" mode, with min_delta signed so it always asks for more; compared in float32
           like Keras; the first value always is one): best = value, wait = 0;
        3. otherwise, unless still in cooldown: wait += 1; once wait >= patience, if
           float32(lr) > float32(min_lr): lr = max(lr * factor, min_lr), counter = cooldown,
           wait = 0.
    A missing `monitor` warns. `on_train_begin` resets best, wait and the counter.

    Args:
        monitor: the log key to watch. Defaults to "val_loss".
        factor: new_lr = lr * factor; must be < 1. Defaults to 0.1.
        patience: epochs without improvement before a reduction. Defaults to 10.
        verbose: 1 prints each reduction. Defaults to 0.
        mode: "min", "max" or "auto" (max for accuracy-like names, min for losses); an
            unknown mode warns and becomes "auto", as in Keras. Defaults to "auto".
        min_delta: the smallest change counted as an improvement. Defaults to 1e-4.
        cooldown: epochs after a reduction during which wait stays 0. Defaults to 0.
        min_lr: the rate is never reduced below this. Defaults to 0.0.
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: int = 0, mode: str = "auto", min_delta: float = 1e-4,
                 cooldown: int = 0, min_lr: float = 0.0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"ReduceLROnPlateau mode '{mode}' is unknown, fallback to auto mode.",
                          stacklevel=2)
            mode = "auto"
        if factor >= 1.0:
            raise ValueError("ReduceLROnPlateau does not support a factor >= 1.0. "
                             f"Received factor={factor}")
        self.monitor, self.mode, self.min_delta = monitor, mode, abs(min_delta)
        self.factor, self.min_lr, self.patience = factor, min_lr, patience
        self.verbose, self.cooldown = verbose, cooldown
        if mode == "auto":
            name = monitor.removeprefix("val_")
            mode = "max" if "acc" in name or name.startswith("fmeasure") else "min"
        self._maximize = mode == "max"
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _is_improvement(self, value: float) -> bool:
        if self.best is None:
            return True
        # Keras: `ops.less/greater(value - min_delta, best)`, Python floats compared in float32
        if self._maximize:
            return bool(np.float32(value - self.min_delta) > np.float32(self.best))
        return bool(np.float32(value + self.min_delta) < np.float32(self.best))

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        optimizer = self.model.optimizer
        logs["learning_rate"] = _read_lr(optimizer)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` "
                          f"which is not available. Available metrics are: "
                          f"{','.join(list(logs.keys()))}.", stacklevel=2)
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current):
            self.best, self.wait = current, 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = _read_lr(optimizer)
                if np.float32(old_lr) > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    _set_lr(optimizer, new_lr)
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate "
                              f"to {new_lr}.")
                    self.cooldown_counter, self.wait = self.cooldown, 0


class CSVLogger(Callback):
    """Write each epoch's logs as a row of a CSV file (Keras 3's format, byte for byte).

    The columns are "epoch" (0-based) and the first epoch's log keys, sorted; when none starts
    with "val_", a "val_<key>" column is added for each (filled with "NA" when absent, as are
    keys missing from a later epoch). Rows end in "\\r\\n" (the csv module's excel dialect, as
    Keras); a 1-D array is written as "[a, b]" in quotes. The file is flushed after every row,
    so a crash loses at most the epoch in progress.

    Args:
        filename: the CSV file, e.g. "run/log.csv".
        separator: the string between fields. Defaults to ",".
        append: append to an existing file (writing the header only if it is empty), e.g. when
            resuming training; False overwrites it. Defaults to False.
    """

    def __init__(self, filename, separator: str = ",", append: bool = False):
        super().__init__()
        self.filename, self.sep, self.append = os.fspath(filename), separator, append
        self.keys, self.writer, self.csv_file, self.append_header = None, None, None, True

    def on_train_begin(self, logs=None):
        if self.append and os.path.exists(self.filename):
            with open(self.filename) as f:
                self.append_header = not f.readline()
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, "a" if self.append else "w")  # noqa: SIM115
        self.keys, self.writer = None, None

    @staticmethod
    def _cell(value):
        if isinstance(value, str):
            return value
        if isinstance(value, np.ndarray) and value.ndim == 0:
            return value
        if isinstance(value, collections.abc.Iterable):
            return f'"[{", ".join(map(str, value))}]"'
        return value

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(k.startswith("val_") for k in self.keys):
                self.keys += [f"val_{k}" for k in self.keys]
        if self.writer is None:
            self.writer = csv.writer(self.csv_file, delimiter=self.sep)
            if self.append_header:
                self.writer.writerow(["epoch", *self.keys])
        self.writer.writerow([epoch, *(self._cell(logs.get(k, "NA")) for k in self.keys)])
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


class LambdaCallback(Callback):
    """A callback made of functions, e.g. `LambdaCallback(on_epoch_end=lambda epoch, logs:
    print(logs["loss"]))` (Keras 3).

    Each function replaces the hook of the same name and takes the same positional arguments:
    `(epoch, logs)` for epoch hooks, `(logs)` for train begin/end, `(batch, logs)` for batch
    hooks. Any other hook (e.g. `on_test_end=...`) can be given as a keyword.

    Args:
        on_epoch_begin, on_epoch_end, on_train_begin, on_train_end, on_train_batch_begin,
        on_train_batch_end: the functions. Each defaults to None (the hook does nothing).
        **kwargs: other hooks, by name.
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None,
                 **kwargs):
        super().__init__()
        self.__dict__.update(kwargs)
        hooks = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end,
                     on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end)
        for name, function in hooks.items():
            if function is not None:
                setattr(self, name, function)


class BackupAndRestore(Callback):
    """Back up the training state every epoch (or every `save_freq` batches) and, when `fit`
    starts again after a crash, restore it and continue from the epoch after the backup
    (Keras 3's protocol).

    Each backup is `model.save` to a tinynn `.npz` archive in `backup_dir`: the weights, the
    optimizer (learning rate, step count, slots) and the random generators, so resumed training
    is bit-identical to an uninterrupted run. A small `training_metadata.json` (epoch, batch,
    file) is written after the archive, both atomically, so a crash mid-save leaves the previous
    backup usable. `on_train_begin` restores the backup if one exists and makes `fit` start at
    its epoch. When training ends normally (all epochs run, or `model.stop_training` set), the
    folder is deleted if `delete_checkpoint`; a Ctrl-C, which tinynn's `fit` also ends with
    `on_train_end`, keeps it.

    As in Keras, a backup taken mid-epoch (integer `save_freq`) restores that moment's weights
    but restarts the epoch it was taken in from its first batch.

    Args:
        backup_dir: a folder used only by this callback.
        save_freq: "epoch", or an integer: back up every that many batches (counted across
            epochs). Defaults to "epoch".
        double_checkpoint: keep the previous backup too, and fall back to it when the latest
            cannot be read. Defaults to False.
        delete_checkpoint: delete `backup_dir` when training ends normally. Defaults to True.
    """

    _METADATA = "training_metadata.json"

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint: bool = False,
                 delete_checkpoint: bool = True):
        super().__init__()
        if not backup_dir:
            raise ValueError("Empty `backup_dir` argument passed")
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(
                save_freq, (int, np.integer)) or save_freq <= 0):
            raise ValueError("Invalid value for argument `save_freq`. Received: "
                             f"save_freq={save_freq}. Expected either 'epoch' or a positive "
                             "integer value (tinynn has no preemption checkpointing, so not "
                             "False).")
        self.backup_dir, self.save_freq = os.fspath(backup_dir), save_freq
        self.double_checkpoint, self.delete_checkpoint = double_checkpoint, delete_checkpoint
        self._current_epoch, self._last_batch_seen, self._batches_since_save = 0, 0, 0
        self._saves = 0

    def _path(self, name: str) -> str:
        return os.path.join(self.backup_dir, name)

    def _metadata(self) -> "dict | None":
        path = self._path(self._METADATA)
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)

    def on_train_begin(self, logs=None):
        if not self.model.built:
            raise ValueError("To use the BackupAndRestore callback, your model must be built "
                             f"before you call `fit()`. Model {self.model.name} is unbuilt. "
                             "Build it by starting it with an Input or calling it on data.")
        meta = self._metadata()
        if meta is None:
            return
        candidates = [meta, *([meta["previous"]] if meta.get("previous") else [])]
        for i, backup in enumerate(candidates):
            try:
                saving.load_training_state(self.model, self._path(backup["file"]))
            except (OSError, ValueError):
                if i + 1 == len(candidates):
                    raise
                continue
            self._current_epoch = backup["epoch"]
            self._saves = meta["saves"]
            self.model._initial_epoch = backup["epoch"]
            return

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch, self._last_batch_seen = epoch + 1, 0
        if self.save_freq == "epoch":
            self._save()

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        # Keras's count across epochs: a batch index that did not grow starts a new epoch
        new_epoch = batch <= self._last_batch_seen
        self._batches_since_save += batch + 1 if new_epoch else batch - self._last_batch_seen
        self._last_batch_seen = batch
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save()

    def _save(self) -> None:
        os.makedirs(self.backup_dir, exist_ok=True)
        old = self._metadata()
        name = f"backup-{self._saves}.npz"
        self.model.save(self._path(name))
        self._saves += 1
        backup = {"epoch": self._current_epoch, "batch": self._last_batch_seen, "file": name}
        previous = ({k: old[k] for k in ("epoch", "batch", "file")}
                    if self.double_checkpoint and old else None)
        meta = {**backup, "saves": self._saves, "previous": previous}
        io.atomic_write(self._path(self._METADATA),
                        lambda f: f.write(json.dumps(meta).encode("utf-8")))
        keep = {name, *([previous["file"]] if previous else [])}
        for stale in os.listdir(self.backup_dir):  # older archives, no longer referenced
            if stale.startswith("backup-") and stale.endswith(".npz") and stale not in keep:
                os.remove(self._path(stale))

    def on_train_end(self, logs=None):
        finished = (self.model.stop_training
                    or self._current_epoch >= self.params.get("epochs", 0))
        if finished and self.delete_checkpoint and os.path.exists(self.backup_dir):
            shutil.rmtree(self.backup_dir)


class SwapEMAWeights(Callback):
    """Evaluate with the moving average of the weights that `use_ema=True` keeps (Keras 3).

    While a validation pass, `evaluate` or `predict` runs, the model holds the averages a and
    the optimizer holds the trained weights w (the two are swapped before and swapped back
    after), so `val_loss` measures the averaged model while training goes on with w. With
    `swap_on_epoch=True` the swap also brackets every epoch's end: callbacks that read the
    weights in `on_epoch_end` (ModelCheckpoint) see the averages; after the last epoch the
    averages stay in the model, as `finalize_variable_values` leaves them anyway.

    One difference to Keras 3.15: its `on_predict_end` tests the wrong flag and leaves the
    averages in the model after `predict`; here predict swaps back, as evaluate does.

    Args:
        swap_on_epoch: also swap at each epoch's end (and back at the next epoch's start).
            Defaults to False.
    """

    def __init__(self, swap_on_epoch: bool = False):
        super().__init__()
        self.swap_on_epoch = bool(swap_on_epoch)
        self._averages_in_model = False

    def _swap(self) -> None:
        opt = self.model.optimizer
        if not getattr(opt, "use_ema", False):  # Keras's message
            raise ValueError("SwapEMAWeights must be used when `use_ema=True` is set on the "
                             f"optimizer. Received: use_ema={getattr(opt, 'use_ema', None)}")
        if not opt.built:  # no step yet: no averages, nothing to swap
            return
        for w, a in zip(self.model.trainable_weights, opt.averages, strict=True):
            held = w.copy()
            w[...] = a
            a[...] = held

    def _to_averages(self) -> None:
        if not self._averages_in_model:
            self._swap()
            self._averages_in_model = True

    def _to_weights(self) -> None:
        if self._averages_in_model:
            self._swap()
            self._averages_in_model = False

    def on_epoch_begin(self, epoch, logs=None):
        if self.swap_on_epoch:
            self._to_weights()

    def on_epoch_end(self, epoch, logs=None):
        if self.swap_on_epoch:
            self._to_averages()
            if epoch == self.params["epochs"] - 1 and self.model.optimizer.built:
                # fit's finalize_variable_values will set w <- a: make a the averages too
                for w, a in zip(self.model.trainable_weights, self.model.optimizer.averages,
                                strict=True):
                    a[...] = w

    def on_test_begin(self, logs=None):
        self._to_averages()

    def on_test_end(self, logs=None):
        self._to_weights()

    def on_predict_begin(self, logs=None):
        self._to_averages()

    def on_predict_end(self, logs=None):
        self._to_weights()
