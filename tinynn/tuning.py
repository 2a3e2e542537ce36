"""Hyperparameter search, written as in KerasTuner and run by Optuna.

    def build_model(hp):                      # define-by-run: the code is the search space
        model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten()])
        for _ in range(hp.Int("layers", 1, 3)):
            model.add(keras.layers.Dense(hp.Choice("units", [64, 128, 256, 512]),
                                         activation=hp.Choice("activation", ["relu", "tanh"])))
        model.add(keras.layers.Dense(10, activation="softmax"))
        lr = hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")
        model.compile(optimizer=keras.optimizers.Adam(lr), metrics=["accuracy"],
                      loss="sparse_categorical_crossentropy")
        hp.Choice("batch_size", [32, 64, 128])  # a hyperparameter of this name is fit's batch_size
        return model

    tuner = tuning.Tuner(build_model, max_trials=12, seed=42)   # TPE; or sampler="random"/"grid"
    results = tuner.search(x, y, epochs=8, patience=2, validation_split=0.1)
    print(results)                         # best first; results.to_csv(path); plot_trials(results)
    model, test = tuner.retrain_best(x, y, x_test, y_test, epochs=30)

Each `hp.Int / Float / Choice / Boolean` call is answered by the running Optuna trial
(`trial.suggest_int / suggest_float / suggest_categorical`), so conditions and loops in
`build_model` shape the space. Every trial trains a fresh model with
`EarlyStopping(monitor="val_loss", restore_best_weights=True)` and is scored by its best epoch's
`val_accuracy`; a `PruningCallback` reports `val_accuracy` to Optuna after every epoch and stops a
trial the pruner gives up on. Trial n is seeded with `seed + n` (weights, dropout, shuffling).

Parallel workers: give every process the same `storage` and `study_name`. A file path is an
Optuna JournalStorage (processes on one machine); a database URL ("sqlite:///study.db",
"postgresql://user@host/db") reaches processes on any machines. Worker `i` of `n` runs its share
of `max_trials`; the trials, numbered by the storage, are all in one study.

Optuna is an optional dependency (`pip install "tinynn[tune]"`), imported when a search starts.
"""

import csv
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tinynn import callbacks, utils

NAN = float("nan")


def _optuna():
    try:
        import optuna
    except ImportError:
        raise ImportError('tinynn.tuning runs on Optuna, an optional dependency: pip install '
                          '"tinynn[tune]" (or pip install optuna).') from None
    return optuna


# ----- the space: KerasTuner's hp, answered by an Optuna trial -------------------------------

def _numeric(name, kind, low, high, step, sampling):
    """Check KerasTuner's numeric arguments; return the values a grid lists (a list, or a range
    for integers) or None when the range is continuous."""
    where = f"hp.{kind}('{name}', {low}, {high}, step={step}, sampling={sampling!r})"
    if sampling not in ("linear", "log"):
        raise ValueError(f"{where}: sampling must be 'linear' or 'log' (Optuna has no "
                         "'reverse_log').")
    if low > high:
        raise ValueError(f"{where}: min_value must be <= max_value.")
    if kind == "Int" and not all(float(v).is_integer() for v in (low, high, step or 1)):
        raise ValueError(f"{where}: min_value, max_value and step must be integers.")
    if sampling == "log":
        if low <= 0:
            raise ValueError(f"{where}: log sampling needs min_value > 0.")
        if step is None:
            return None
        if step <= 1:
            raise ValueError(f"{where}: with log sampling, step is a ratio and must be > 1.")
        n = int(math.log(high / low, step) + 1e-9) + 1  # min_value * step**k <= max_value
        values = [low * step**k for k in range(n)]
    elif step is not None and step <= 0:
        raise ValueError(f"{where}: step must be > 0.")
    elif kind == "Int":
        return range(int(low), int(high) + 1, int(step or 1))
    elif step is None:
        return None
    else:
        values = [low + k * step for k in range(int((high - low) / step + 1e-9) + 1)]
    return [int(round(v)) if kind == "Int" else round(v, 12) for v in values]


class HyperParameters:
    """KerasTuner's `hp`: each method declares a hyperparameter and returns its value.

    Inside a search the Optuna trial answers; outside (`HyperParameters()`) each answers with
    its default, so `build_model(HyperParameters())` builds the default model, and
    `HyperParameters(values=config)` answers with the given values. A name declared again
    returns the value it already has (a loop can reuse "units"; name them "units_0", "units_1"
    for one per layer).

    Args:
        trial: the `optuna.Trial` that answers. Defaults to None.
        values: answers fixed in advance, by name. Defaults to none.
    """

    def __init__(self, trial=None, values: "dict | None" = None):
        self.trial = trial
        self.values: dict = dict(values or {})  # name -> value, in declaration order
        self.space: dict = {}  # name -> the values a grid lists (None: a continuous range)

    def _declare(self, name: str, grid, default, suggest):
        if name not in self.values:
            self.values[name] = default if self.trial is None else suggest(self.trial)
        self.space.setdefault(name, grid)
        return self.values[name]

    def get(self, name: str):
        """The value of an already declared hyperparameter."""
        return self.values[name]

    def Int(self, name: str, min_value: int, max_value: int, step: "int | None" = None,
            sampling: str = "linear", default: "int | None" = None) -> int:
        """An integer in [min_value, max_value], both included.

        Args:
            step: the distance between values ("linear") or their ratio ("log": 32, 64, 128, ...
                for step=2). Defaults to None: every integer.
            sampling: "linear" or "log" (uniform in log space). Defaults to "linear".
            default: the value outside a search. Defaults to min_value.
        """
        values = _numeric(name, "Int", min_value, max_value, step, sampling)

        def suggest(trial):
            if sampling == "log" and step is not None:  # Optuna steps only additively
                return trial.suggest_categorical(name, values)
            return trial.suggest_int(name, min_value, values[-1] if values else max_value,
                                     step=step or 1, log=sampling == "log")
        return self._declare(name, values, min_value if default is None else default, suggest)

    def Float(self, name: str, min_value: float, max_value: float, step: "float | None" = None,
              sampling: str = "linear", default: "float | None" = None) -> float:
        """A float in [min_value, max_value].

        Args:
            step: the distance between values ("linear") or their ratio ("log"). Defaults to
                None: continuous (a grid search then needs a step or a Choice).
            sampling: "linear" or "log" (uniform in log space, for learning rates). Defaults
                to "linear".
            default: the value outside a search. Defaults to min_value.
        """
        values = _numeric(name, "Float", min_value, max_value, step, sampling)

        def suggest(trial):
            if sampling == "log" and step is not None:
                return trial.suggest_categorical(name, values)
            high = values[-1] if values else max_value
            return trial.suggest_float(name, min_value, high, step=step, log=sampling == "log")
        return self._declare(name, values, min_value if default is None else default, suggest)

    def Choice(self, name: str, values: list, ordered: "bool | None" = None, default=None):
        """One of `values` (None, bool, int, float or str). `ordered` is accepted for KerasTuner
        code; Optuna's categorical sampling ignores order. `default` defaults to values[0]."""
        if not values:
            raise ValueError(f"hp.Choice('{name}', values=[]) needs at least one value.")
        values = list(values)
        return self._declare(name, values, values[0] if default is None else default,
                             lambda trial: trial.suggest_categorical(name, values))

    def Boolean(self, name: str, default: bool = False) -> bool:
        """True or False. Defaults to False outside a search."""
        return self._declare(name, [False, True], default,
                             lambda trial: trial.suggest_categorical(name, [False, True]))

    def Fixed(self, name: str, value):
        """A constant, recorded with the trial's other values but never searched."""
        return self.values.setdefault(name, value)


# ----- pruning --------------------------------------------------------------------------------

class PruningCallback(callbacks.Callback):
    """Reports `monitor` to an Optuna trial after every epoch (`trial.report(value, epoch)`) and
    stops training when the trial's pruner gives up on it (`trial.should_prune()`).

    It only sets `model.stop_training`, so `on_train_end` still runs (EarlyStopping restores its
    best weights); the search then raises `optuna.TrialPruned`.

    Args:
        trial: the `optuna.Trial` (anything with `report(value, step)` and `should_prune()`).
        monitor: the log to report. Defaults to "val_accuracy".
    """

    def __init__(self, trial, monitor: str = "val_accuracy"):
        super().__init__()
        self.trial, self.monitor = trial, monitor
        self.pruned_epoch: int | None = None  # the epoch (from 0) after which it stopped

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise ValueError(f"PruningCallback reports {self.monitor!r}, but the epoch logs "
                             f"have only {sorted(logs)}: compile with metrics=['accuracy'] "
                             "and give fit validation data.")
        self.trial.report(float(logs[self.monitor]), step=epoch)
        if self.trial.should_prune():
            self.pruned_epoch = epoch
            self.model.stop_training = True


# ----- results --------------------------------------------------------------------------------

@dataclass
class Trial:
    """One trial: its configuration, how its best epoch scored, and how it ended."""

    number: int
    config: dict
    seed: int
    val_accuracy: float = NAN
    val_loss: float = NAN
    epochs: int = 0
    best_epoch: int = 0
    seconds: float = 0.0
    state: str = "complete"  # or "pruned", "running", "fail"
    worker: int = 0


def _fmt(value, key: str = "") -> str:
    if key in ("val_accuracy", "val_loss"):
        return f"{value:.4f}"
    if key == "seconds":
        return f"{value:.1f}"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


@dataclass
class Results:
    """The trials, best first: completed trials by validation accuracy (then lower validation
    loss), then pruned ones, then any unfinished."""

    trials: list[Trial] = field(default_factory=list)

    @classmethod
    def from_study(cls, study) -> "Results":
        """Every trial of an Optuna study that tinynn ran, from whichever worker."""
        trials = []
        for t in study.get_trials(deepcopy=False):
            a = t.user_attrs
            trials.append(Trial(t.number, a.get("config", dict(t.params)), a.get("seed", 0),
                                a.get("val_accuracy", NAN), a.get("val_loss", NAN),
                                a.get("epochs", 0), a.get("best_epoch", 0), a.get("seconds", 0.0),
                                t.state.name.lower(), a.get("worker", 0)))
        return cls(trials)

    def sorted(self) -> list[Trial]:
        order = {"complete": 0, "pruned": 1}
        return sorted(self.trials, key=lambda t: (order.get(t.state, 2), -t.val_accuracy,
                                                  t.val_loss, t.number))

    @property
    def best(self) -> Trial:
        done = [t for t in self.sorted() if t.state == "complete"]
        if not done:
            raise RuntimeError("No trial has completed yet: nothing to call best.")
        return done[0]

    def rows(self) -> list[dict]:
        """One dict per trial, best first: rank, trial (counted from 1, as in the progress lines
        and the plot), the hyperparameters, the scores, how it ended and which worker ran it."""
        return [{"rank": rank, "trial": t.number + 1, **t.config,
                 "val_accuracy": round(t.val_accuracy, 6), "val_loss": round(t.val_loss, 6),
                 "epochs": t.epochs, "best_epoch": t.best_epoch, "seconds": round(t.seconds, 2),
                 "state": t.state, "worker": t.worker}
                for rank, t in enumerate(self.sorted(), start=1)]

    def __str__(self) -> str:
        rows = self.rows()
        if not rows:
            return "(no trials)"
        head = list(dict.fromkeys(k for r in rows for k in r))  # conditional names included
        cells = [[_fmt(r[k], k) if k in r else "-" for k in head] for r in rows]
        widths = [max(len(h), *(len(c[j]) for c in cells)) for j, h in enumerate(head)]
        lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True))]
        lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
        return "\n".join(lines)

    def to_csv(self, path) -> Path:
        """Write the table, best first, atomically (a temporary file renamed into place)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = self.rows()
        fieldnames = list(dict.fromkeys(k for r in rows for k in r)) or ["rank"]
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=fieldnames)
                writer.writeheader()
                writer.writerows(rows)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        return path


# ----- the tuner ------------------------------------------------------------------------------

class Tuner:
    """An Optuna study of `hypermodel(hp)`: each trial builds, trains and scores one model.

    Args:
        hypermodel: `build_model(hp) -> compiled Sequential` with metrics=["accuracy"].
        max_trials: trials in the whole search, all workers together. Defaults to None: the
            whole grid for sampler="grid", else 10.
        sampler: "tpe" (Optuna's TPESampler; the first third of the trials are random),
            "random", "grid" (every combination, the values found by calling `hypermodel` once
            with the defaults), or an Optuna sampler. Defaults to "tpe".
        pruner: "median" (Optuna's MedianPruner: once 3 trials have completed, stop a trial
            whose best val_accuracy after its 3rd or a later epoch is below the median of the
            completed trials at that epoch), "none", or an Optuna pruner. Defaults to "median".
        seed: seeds trial n's model (seed + n) and the sampler (worker i: seed + i, so workers
            draw different configurations; the grid's order: seed). Defaults to 0.
        storage: None (this process's memory), a file path (a JournalStorage: processes on one
            machine) or a database URL (processes anywhere). Defaults to None.
        study_name: an existing study of this name in `storage` is continued. Defaults to
            "tinynn".
        worker: this process's index among `workers`, from 0. Defaults to 0.
        workers: processes sharing `storage`; each runs its share of `max_trials` (the first
            `max_trials % workers` one more). Defaults to 1.
        verbose: print a line per trial (Optuna's own log lines are silenced). Defaults to True.
    """

    def __init__(self, hypermodel, max_trials: "int | None" = None, sampler="tpe",
                 pruner="median", seed: int = 0, storage=None, study_name: str = "tinynn",
                 worker: int = 0, workers: int = 1, verbose: bool = True):
        if not 0 <= worker < workers:
            raise ValueError(f"Tuner expected 0 <= worker < workers, got worker={worker}, "
                             f"workers={workers}.")
        self.hypermodel, self.seed, self.verbose = hypermodel, int(seed), verbose
        self.worker, self.workers = worker, workers
        optuna = _optuna()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        grid = None
        if sampler == "grid":
            grid = self._grid()
            max_trials = max_trials or math.prod(len(v) for v in grid.values())
        self.max_trials = int(max_trials or 10)
        samplers = {
            "tpe": lambda: optuna.samplers.TPESampler(
                seed=self.seed + worker, n_startup_trials=max(1, self.max_trials // 3)),
            "random": lambda: optuna.samplers.RandomSampler(seed=self.seed + worker),
            "grid": lambda: optuna.samplers.GridSampler(grid, seed=self.seed),
        }
        pruners = {"median": lambda: optuna.pruners.MedianPruner(n_startup_trials=3,
                                                                 n_warmup_steps=2),
                   "none": optuna.pruners.NopPruner}
        if isinstance(storage, (str, os.PathLike)) and "://" not in str(storage):
            Path(storage).parent.mkdir(parents=True, exist_ok=True)
            journal = getattr(optuna.storages, "journal", None)  # Optuna >= 4; 3.x's name:
            backend = journal.JournalFileBackend if journal else optuna.storages.JournalFileStorage
            storage = optuna.storages.JournalStorage(backend(str(storage)))
        self.study = optuna.create_study(
            storage=storage, study_name=study_name, direction="maximize", load_if_exists=True,
            sampler=samplers[sampler]() if isinstance(sampler, str) else sampler,
            pruner=pruners[pruner]() if isinstance(pruner, str) else pruner)

    def _grid(self) -> dict:
        hp = HyperParameters()
        self.hypermodel(hp)
        for name, values in hp.space.items():
            if values is None:
                raise ValueError(f"Hyperparameter '{name}' is continuous, so a grid cannot list "
                                 "it: give it a step, or use hp.Choice with the values to try.")
        return {name: list(values) for name, values in hp.space.items()}

    @property
    def results(self) -> Results:
        """Every trial in the study so far, from every worker."""
        return Results.from_study(self.study)

    def _train(self, hp, seed, x, y, epochs, patience, validation_split, validation_data,
               extra_callbacks=()):
        utils.set_random_seed(seed)
        model = self.hypermodel(hp)
        stop = callbacks.EarlyStopping(monitor="val_loss", patience=patience,
                                       restore_best_weights=True)
        history = model.fit(x, y, epochs=epochs, batch_size=hp.values.get("batch_size", 32),
                            validation_split=validation_split, validation_data=validation_data,
                            callbacks=[stop, *extra_callbacks], verbose=0).history
        if "val_accuracy" not in history:
            raise ValueError("Tuning scores trials by val_accuracy: compile the model with "
                             "metrics=['accuracy'].")
        return model, history, stop.best_epoch

    def _objective(self, trial, x, y, fit_args):
        optuna = _optuna()
        start = time.perf_counter()
        hp, prune = HyperParameters(trial), PruningCallback(trial)
        _, history, best = self._train(hp, self.seed + trial.number, x, y, *fit_args, [prune])
        record = {"config": hp.values, "seed": self.seed + trial.number,
                  "val_accuracy": float(history["val_accuracy"][best]),
                  "val_loss": float(history["val_loss"][best]), "epochs": len(history["loss"]),
                  "best_epoch": best + 1, "seconds": time.perf_counter() - start,
                  "worker": self.worker}
        for key, value in record.items():
            trial.set_user_attr(key, value)
        if self.verbose:
            self._report(trial.number, record, prune.pruned_epoch)
        if prune.pruned_epoch is not None:
            raise optuna.TrialPruned(f"val_accuracy below the median at epoch "
                                     f"{prune.pruned_epoch + 1}")
        return record["val_accuracy"]

    def _report(self, number, r, pruned_epoch):
        done = [t.val_accuracy for t in self.results.trials if t.state == "complete"]
        best = max([*done, r["val_accuracy"] if pruned_epoch is None else -1.0])
        settings = " ".join(f"{k}={_fmt(v)}" for k, v in r["config"].items())
        end = "" if pruned_epoch is None else f" | pruned after epoch {pruned_epoch + 1}"
        sys.stdout.write(  # one write per line: workers sharing a terminal do not interleave
            f"[worker {self.worker}] trial {number + 1}/{self.max_trials}  {settings} | "
            f"val_accuracy {r['val_accuracy']:.4f} val_loss {r['val_loss']:.4f} | {r['epochs']} "
            f"epochs (best {r['best_epoch']}) {r['seconds']:.1f}s{end} | best so far "
            f"{best:.4f}\n")
        sys.stdout.flush()

    def search(self, x, y, epochs: int = 10, patience: int = 3, validation_split: float = 0.1,
               validation_data=None) -> Results:
        """Run this worker's share of the trials; return every trial in the study.

        Args:
            x, y: training data; the last `validation_split` of it validates (as in `fit`).
            epochs: the most epochs per trial. Defaults to 10.
            patience: EarlyStopping patience on val_loss. Defaults to 3.
            validation_split: Defaults to 0.1.
            validation_data: (x_val, y_val) instead of the split. Defaults to None.
        """
        share = self.max_trials // self.workers + (self.worker < self.max_trials % self.workers)
        fit_args = (epochs, patience, validation_split, validation_data)
        self.study.optimize(lambda trial: self._objective(trial, x, y, fit_args), n_trials=share)
        return self.results

    def retrain_best(self, x, y, x_test, y_test, epochs: int = 30, patience: int = 5,
                     validation_split: float = 0.1):
        """Train the best configuration again (its seed, more epochs) and test it once.

        Returns:
            (model, {"test_loss": ..., "test_accuracy": ..., "config": ..., "history": ...}).
        """
        if not self.study.trials:
            raise RuntimeError("retrain_best needs results: call search() first.")
        best = self.results.best
        model, history, _ = self._train(HyperParameters(values=best.config), best.seed, x, y,
                                        epochs, patience, validation_split, None)
        loss, acc = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
        return model, {"test_loss": float(loss), "test_accuracy": float(acc),
                       "config": dict(best.config), "history": history}


class RandomSearch(Tuner):
    """KerasTuner's name for `Tuner(hypermodel, sampler="random", ...)`."""

    def __init__(self, hypermodel, max_trials: int = 10, **kwargs):
        super().__init__(hypermodel, max_trials, sampler="random", **kwargs)


class GridSearch(Tuner):
    """KerasTuner's name for `Tuner(hypermodel, sampler="grid", ...)`: every combination."""

    def __init__(self, hypermodel, max_trials: "int | None" = None, **kwargs):
        super().__init__(hypermodel, max_trials, sampler="grid", **kwargs)
