"""Hyperparameter search for MLPs: grid and random search, in the spirit of KerasTuner.

    from tinynn import tuning
    hp = tuning.HyperParameters()
    hp.Int("layers", 1, 3)
    hp.Choice("units", [64, 128, 256, 512])
    hp.Choice("activation", ["relu", "tanh"])
    hp.Float("dropout", 0.0, 0.5, step=0.1)
    hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")
    hp.Choice("batch_size", [32, 64, 128])

    tuner = tuning.RandomSearch(hp, max_trials=10, seed=42)    # or tuning.GridSearch(hp)
    tuner.search(x_train, y_train, epochs=20, validation_split=0.1, patience=3)
    print(tuner.results)                                       # sorted by val_accuracy
    model, test = tuner.retrain_best(x_train, y_train, x_test, y_test, epochs=30)

Each trial builds a fresh model from its configuration (`build_mlp`, or your own
`build_model(config)` returning a compiled Sequential), trains it with
`EarlyStopping(monitor="val_loss", restore_best_weights=True)` on the validation split and scores
its best epoch by validation accuracy. Everything is reproducible from `seed`: the configurations
drawn, and trial i's weights, dropout masks and shuffling (seeded with `seed + i`).
"""

import csv
import itertools
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinynn import callbacks, layers, optimizers, utils
from tinynn.models import Sequential

# What `build_mlp` uses for a hyperparameter the space leaves out.
DEFAULTS = {"layers": 2, "units": 128, "activation": "relu", "dropout": 0.0,
            "learning_rate": 1e-3, "batch_size": 32}


# ----- the space ------------------------------------------------------------------------------

@dataclass
class _Param:
    name: str
    values: "list | None" = None  # a finite set (Choice, Int, stepped Float)
    low: float = 0.0  # otherwise a continuous range [low, high]
    high: float = 0.0
    log: bool = False

    def grid(self) -> list:
        if self.values is None:
            raise ValueError(f"Hyperparameter '{self.name}' is continuous, so a grid cannot list "
                             "it: give it a step, or use hp.Choice with the values to try.")
        return self.values

    def sample(self, rng: np.random.Generator):
        if self.values is not None:
            return self.values[int(rng.integers(len(self.values)))]
        if self.log:  # uniform in log space: 1e-4..1e-3 as likely as 1e-3..1e-2
            return float(np.exp(rng.uniform(np.log(self.low), np.log(self.high))))
        return float(rng.uniform(self.low, self.high))


class HyperParameters:
    """The search space, declared one hyperparameter per line, with KerasTuner's method names.

    Each method returns the hyperparameter's default (its first value, or `low`), so a
    space can also be read as a configuration.
    """

    def __init__(self):
        self.space: dict[str, _Param] = {}

    def _add(self, param: _Param):
        if param.name in self.space:
            raise ValueError(f"Hyperparameter '{param.name}' is declared twice.")
        self.space[param.name] = param
        return param.values[0] if param.values else param.low

    def Choice(self, name: str, values: list):
        """One of a list of values, e.g. `hp.Choice("activation", ["relu", "tanh"])`."""
        if not values:
            raise ValueError(f"hp.Choice('{name}', ...) needs at least one value.")
        return self._add(_Param(name, list(values)))

    def Int(self, name: str, min_value: int, max_value: int, step: int = 1):
        """An integer from min_value to max_value inclusive, every `step`. Defaults to step 1."""
        if max_value < min_value or step < 1:
            raise ValueError(f"hp.Int('{name}', {min_value}, {max_value}, step={step}) is empty.")
        return self._add(_Param(name, list(range(min_value, max_value + 1, step))))

    def Float(self, name: str, min_value: float, max_value: float, step: "float | None" = None,
              sampling: str = "linear"):
        """A float in [min_value, max_value].

        Args:
            step: if given, only min_value, min_value + step, ... (so a grid can list them).
                Defaults to None (continuous).
            sampling: "linear" or "log" (uniform in log space, for learning rates; needs
                min_value > 0). Defaults to "linear".
        """
        if sampling not in ("linear", "log") or max_value < min_value:
            raise ValueError(f"hp.Float('{name}', {min_value}, {max_value}, "
                             f"sampling={sampling!r}): need min <= max and linear or log.")
        if sampling == "log" and min_value <= 0:
            raise ValueError(f"hp.Float('{name}', sampling='log') needs min_value > 0.")
        if step is not None:
            n = int(np.floor((max_value - min_value) / step + 1e-9)) + 1
            return self._add(_Param(name, [round(min_value + i * step, 12) for i in range(n)]))
        return self._add(_Param(name, low=float(min_value), high=float(max_value),
                                log=sampling == "log"))


# ----- building and training one trial --------------------------------------------------------

def build_mlp(config: dict, input_shape: tuple, n_classes: int) -> Sequential:
    """Flatten, then `layers` x [Dense(units, activation), Dropout(dropout)], then a softmax
    Dense; compiled with Adam(learning_rate), sparse categorical cross-entropy and accuracy."""
    unknown = set(config) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"build_mlp does not know the hyperparameters {sorted(unknown)}; it "
                         f"knows {sorted(DEFAULTS)}. Pass your own build_model(config).")
    c = {**DEFAULTS, **config}
    model = Sequential([layers.Input(input_shape), layers.Flatten()])
    for _ in range(c["layers"]):
        model.add(layers.Dense(c["units"], activation=c["activation"]))
        if c["dropout"] > 0:
            model.add(layers.Dropout(c["dropout"]))
    model.add(layers.Dense(n_classes, activation="softmax"))
    model.compile(optimizer=optimizers.Adam(learning_rate=c["learning_rate"]),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@dataclass
class Trial:
    """One configuration and how its best epoch scored on the validation data."""

    number: int
    config: dict
    seed: int
    val_accuracy: float = float("nan")
    val_loss: float = float("nan")
    epochs: int = 0
    best_epoch: int = 0
    seconds: float = 0.0


def _fmt(value, key: str = "") -> str:
    if key in ("val_accuracy", "val_loss"):
        return f"{value:.4f}"
    if key == "seconds":
        return f"{value:.1f}"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


@dataclass
class Results:
    """The trials, best first (by validation accuracy, then lower validation loss)."""

    trials: list[Trial] = field(default_factory=list)

    def sorted(self) -> list[Trial]:
        return sorted(self.trials, key=lambda t: (-t.val_accuracy, t.val_loss, t.number))

    @property
    def best(self) -> Trial:
        return self.sorted()[0]

    def rows(self) -> list[dict]:
        """One dict per trial, best first: rank, trial (counted from 1, as in the progress lines
        and the plot), the hyperparameters, the scores."""
        return [{"rank": rank, "trial": t.number + 1, **t.config,
                 "val_accuracy": round(t.val_accuracy, 6), "val_loss": round(t.val_loss, 6),
                 "epochs": t.epochs, "best_epoch": t.best_epoch, "seconds": round(t.seconds, 2)}
                for rank, t in enumerate(self.sorted(), start=1)]

    def __str__(self) -> str:
        rows = self.rows()
        if not rows:
            return "(no trials)"
        head = list(rows[0])
        cells = [[_fmt(r[k], k) for k in head] for r in rows]
        widths = [max(len(h), *(len(c[j]) for c in cells)) for j, h in enumerate(head)]
        lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True))]
        lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
        return "\n".join(lines)

    def to_csv(self, path) -> Path:
        """Write the table, best first, atomically (a temporary file renamed into place)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = self.rows()
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["rank"])
                writer.writeheader()
                writer.writerows(rows)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        return path


# ----- the tuners -----------------------------------------------------------------------------

class Tuner:
    """Base tuner: `search` trains one model per configuration from `configurations()`.

    Args:
        hyperparameters: the `HyperParameters` space.
        build_model: `build_model(config) -> compiled Sequential`. Defaults to `build_mlp` for
            the data's input shape and number of classes.
        seed: seeds the configurations and every trial. Defaults to 0.
        verbose: print a line per trial. Defaults to True.
    """

    def __init__(self, hyperparameters: HyperParameters, build_model=None, seed: int = 0,
                 verbose: bool = True):
        self.hp, self.build_model, self.seed, self.verbose = (
            hyperparameters, build_model, int(seed), verbose)
        self.results = Results()

    def configurations(self) -> list[dict]:
        raise NotImplementedError

    def _build(self, config: dict, x, y) -> Sequential:
        if self.build_model is not None:
            return self.build_model(dict(config))
        return build_mlp(config, x.shape[1:], int(np.max(y)) + 1)

    def _train(self, config, seed, x, y, epochs, patience, validation_split, validation_data):
        utils.set_random_seed(seed)
        model = self._build(config, x, y)
        stop = callbacks.EarlyStopping(monitor="val_loss", patience=patience,
                                       restore_best_weights=True)
        history = model.fit(x, y, epochs=epochs, batch_size=config.get("batch_size", 32),
                            validation_split=validation_split, validation_data=validation_data,
                            callbacks=[stop], verbose=0)
        return model, history.history, stop.best_epoch

    def search(self, x, y, epochs: int = 10, patience: int = 3, validation_split: float = 0.1,
               validation_data=None) -> Results:
        """Train one model per configuration; results accumulate in `self.results`.

        Args:
            x, y: training data; the last `validation_split` of it validates (as in `fit`).
            epochs: the most epochs per trial. Defaults to 10.
            patience: EarlyStopping patience on val_loss. Defaults to 3.
            validation_split: Defaults to 0.1.
            validation_data: (x_val, y_val) instead of the split. Defaults to None.
        """
        configs = self.configurations()
        best = float("-inf")
        for i, config in enumerate(configs):
            number = len(self.results.trials)
            trial = Trial(number, dict(config), self.seed + number)
            start = time.perf_counter()
            _, history, best_epoch = self._train(config, trial.seed, x, y, epochs, patience,
                                                 validation_split, validation_data)
            trial.seconds = time.perf_counter() - start
            if "val_accuracy" not in history:
                raise ValueError("Tuning scores trials by val_accuracy: compile the model with "
                                 "metrics=['accuracy'].")
            trial.epochs, trial.best_epoch = len(history["val_loss"]), best_epoch + 1
            trial.val_accuracy = float(history["val_accuracy"][best_epoch])
            trial.val_loss = float(history["val_loss"][best_epoch])
            self.results.trials.append(trial)
            best = max(best, trial.val_accuracy)
            if self.verbose:
                settings = " ".join(f"{k}={_fmt(v)}" for k, v in config.items())
                print(f"trial {i + 1}/{len(configs)}  {settings} | val_accuracy "
                      f"{trial.val_accuracy:.4f} val_loss {trial.val_loss:.4f} | {trial.epochs} "
                      f"epochs (best {trial.best_epoch}) {trial.seconds:.1f}s | best so far "
                      f"{best:.4f}", flush=True)
        return self.results

    def retrain_best(self, x, y, x_test, y_test, epochs: int = 30, patience: int = 5,
                     validation_split: float = 0.1):
        """Train the best configuration again (same seed, more epochs), test it once.

        Returns:
            (model, {"test_loss": ..., "test_accuracy": ..., "config": ..., "history": ...}).
        """
        if not self.results.trials:
            raise RuntimeError("retrain_best needs results: call search() first.")
        trial = self.results.best
        model, history, _ = self._train(trial.config, trial.seed, x, y, epochs, patience,
                                        validation_split, None)
        loss, acc = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
        return model, {"test_loss": float(loss), "test_accuracy": float(acc),
                       "config": dict(trial.config), "history": history}


class GridSearch(Tuner):
    """Every combination of the values of every hyperparameter, in declaration order."""

    def configurations(self):
        names = list(self.hp.space)
        grids = [self.hp.space[n].grid() for n in names]
        return [dict(zip(names, values, strict=True)) for values in itertools.product(*grids)]


class RandomSearch(Tuner):
    """`max_trials` configurations drawn independently from the space (repeats are redrawn).

    Args:
        hyperparameters: the space.
        max_trials: how many configurations to train. Defaults to 10.
        **kwargs: as `Tuner` (build_model, seed, verbose).
    """

    def __init__(self, hyperparameters: HyperParameters, max_trials: int = 10, **kwargs):
        super().__init__(hyperparameters, **kwargs)
        self.max_trials = int(max_trials)

    def configurations(self):
        rng = np.random.default_rng(self.seed)
        configs, seen = [], set()
        for _ in range(100 * self.max_trials):
            if len(configs) == self.max_trials:
                break
            config = {n: p.sample(rng) for n, p in self.hp.space.items()}
            key = tuple(config.items())
            if key not in seen:  # a finite space may run out: then fewer trials
                seen.add(key)
                configs.append(config)
        return configs
