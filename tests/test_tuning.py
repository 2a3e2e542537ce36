"""`tinynn.tuning` on Optuna: KerasTuner's `hp` mapped onto `trial.suggest_*`, the samplers, the
pruning callback (scripted, then a real clearly-worse trial), results, and two worker processes
sharing one study."""

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinynn as keras
from tinynn import tuning

try:
    import optuna
except ImportError:  # never a skip: the test extra installs it
    pytest.fail('tinynn.tuning needs Optuna: pip install -e ".[test]" (or "tinynn[tune]").',
                pytrace=False)
ROOT = Path(__file__).resolve().parents[1]


class RecordingTrial:
    """Answers every suggestion with its lower end and records the call."""

    def __init__(self):
        self.calls = []

    def suggest_int(self, name, low, high, step=1, log=False):
        self.calls.append(("int", name, low, high, step, log))
        return low

    def suggest_float(self, name, low, high, step=None, log=False):
        self.calls.append(("float", name, low, high, step, log))
        return low

    def suggest_categorical(self, name, choices):
        self.calls.append(("categorical", name, list(choices)))
        return choices[0]


def test_hp_maps_kerastuner_arguments_onto_optuna_suggestions():
    trial = RecordingTrial()
    hp = tuning.HyperParameters(trial)
    hp.Int("layers", 1, 3)
    hp.Int("n", 6, 13, step=3)  # KerasTuner: 6, 9, 12 (max_value included only if reached)
    hp.Int("batch", 2, 32, step=2, sampling="log")  # a ratio: 2, 4, 8, 16, 32
    hp.Int("units", 16, 1024, sampling="log")
    hp.Float("dropout", 0.0, 0.5, step=0.1)
    hp.Float("lr", 1e-4, 1e-2, sampling="log")
    hp.Float("decay", 1e-4, 1e-1, step=10, sampling="log")
    hp.Choice("activation", ["relu", "tanh"])
    hp.Boolean("bias")
    assert hp.Fixed("momentum", 0.9) == 0.9
    assert hp.Int("layers", 1, 3) == 1 and len(trial.calls) == 9  # the same name: same value
    assert trial.calls == [
        ("int", "layers", 1, 3, 1, False), ("int", "n", 6, 12, 3, False),
        ("categorical", "batch", [2, 4, 8, 16, 32]), ("int", "units", 16, 1024, 1, True),
        ("float", "dropout", 0.0, 0.5, 0.1, False), ("float", "lr", 1e-4, 1e-2, None, True),
        ("categorical", "decay", [1e-4, 1e-3, 1e-2, 1e-1]),
        ("categorical", "activation", ["relu", "tanh"]), ("categorical", "bias", [False, True]),
    ]
    assert list(hp.values) == ["layers", "n", "batch", "units", "dropout", "lr", "decay",
                               "activation", "bias", "momentum"]


def test_hp_outside_a_search_answers_defaults_or_given_values_and_checks_arguments():
    hp = tuning.HyperParameters()
    assert hp.Int("layers", 1, 3) == 1 and hp.Float("lr", 1e-4, 1e-2, sampling="log") == 1e-4
    assert hp.Choice("act", ["tanh", "relu"]) == "tanh" and hp.Boolean("bias") is False
    assert hp.Int("units", 8, 64, default=32) == 32 and hp.get("units") == 32
    assert list(hp.space["layers"]) == [1, 2, 3] and hp.space["lr"] is None
    given = tuning.HyperParameters(values={"layers": 3})
    assert given.Int("layers", 1, 3) == 3 and given.Int("units", 8, 64) == 8
    for bad, match in [(lambda: hp.Int("a", 5, 4), "min_value must be <= max_value"),
                       (lambda: hp.Float("b", 0.0, 1.0, sampling="log"), "min_value > 0"),
                       (lambda: hp.Float("c", 1.0, 9.0, sampling="reverse_log"), "reverse_log"),
                       (lambda: hp.Int("d", 1, 64, step=1, sampling="log"), "ratio"),
                       (lambda: hp.Int("e", 1, 2.5), "integers"),
                       (lambda: hp.Float("f", 0.0, 1.0, step=0), "step must be > 0"),
                       (lambda: hp.Choice("g", []), "at least one value")]:
        with pytest.raises(ValueError, match=match):
            bad()


def _data(n=64, features=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    return x, (x[:, 0] > 0).astype("int64")


def _tiny(hp):
    model = keras.Sequential([keras.Input((4,)),
                              keras.layers.Dense(hp.Choice("units", [2, 4, 8]), activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    lr = hp.Float("learning_rate", 1e-4, 1e-1, sampling="log")
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def test_samplers_grid_every_combination_random_reproducible_and_log_uniform(capsys):
    def grid_model(hp):
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(hp.Int("units", 1, 2)),
                                  keras.layers.Dense(2, activation="softmax")])
        model.compile(optimizer=keras.optimizers.SGD(hp.Choice("lr", [0.1, 0.01, 0.001])),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    x, y = _data()
    grid = tuning.GridSearch(grid_model, verbose=False)
    assert grid.max_trials == 6
    configs = [t.config for t in grid.search(x, y, epochs=1).trials]
    assert sorted((c["units"], c["lr"]) for c in configs) == sorted(
        (u, lr) for u in (1, 2) for lr in (0.1, 0.01, 0.001))
    with pytest.raises(ValueError, match="continuous"):
        tuning.GridSearch(_tiny)

    def draws(seed):
        tuner = tuning.RandomSearch(_tiny, max_trials=20, seed=seed, pruner="none")
        return [t.config for t in tuner.search(x, y, epochs=1).trials]
    a, b, c = draws(3), draws(3), draws(4)
    assert a == b and a != c and capsys.readouterr().out.count("[worker 0] trial ") == 60
    lrs = np.array([t["learning_rate"] for t in a])
    assert lrs.min() >= 1e-4 and lrs.max() <= 1e-1 and len(set(lrs)) == 20
    assert ((lrs < 3e-3).mean() > 0.2) and ((lrs > 3e-3).mean() > 0.2)  # log-uniform


def test_results_sort_print_and_write_csv_atomically(tmp_path):
    results = tuning.Results()
    for i, (acc, loss, state) in enumerate([(0.7, 0.9, "complete"), (0.9, 0.4, "complete"),
                                            (0.9, 0.3, "complete"), (0.95, 0.2, "pruned")]):
        results.trials.append(tuning.Trial(i, {"units": 8 * (i + 1)}, i, acc, loss, 4, 2, 1.0,
                                           state))
    # completed first, best first (ties: lower val_loss), then pruned ones
    assert [t.number for t in results.sorted()] == [2, 1, 0, 3]
    assert results.best.number == 2
    lines = str(results).splitlines()
    assert "val_accuracy" in lines[0] and "state" in lines[0] and len(lines) == 5
    assert lines[-1].split()[-2:] == ["pruned", "0"]
    path = results.to_csv(tmp_path / "out" / "trials.csv")
    rows = list(csv.DictReader(path.open()))
    assert [int(r["trial"]) for r in rows] == [3, 2, 1, 4] and rows[0]["units"] == "24"
    assert [p.name for p in path.parent.iterdir()] == ["trials.csv"]
    with pytest.raises(RuntimeError, match="completed"):
        _ = tuning.Results([tuning.Trial(0, {}, 0, state="pruned")]).best


class ScriptedTrial:
    """A trial whose pruner says "prune" from the given epoch on (Keras-test style)."""

    def __init__(self, prune_from: int):
        self.prune_from, self.reported = prune_from, []

    def report(self, value, step):
        self.reported.append((step, value))

    def should_prune(self):
        return len(self.reported) > self.prune_from


def test_pruning_callback_reports_every_epoch_and_stops_when_told():
    x, y = _data(80)
    model = _tiny(tuning.HyperParameters())
    trial = ScriptedTrial(prune_from=2)
    stop = keras.callbacks.EarlyStopping(patience=50, restore_best_weights=True)
    prune = tuning.PruningCallback(trial)
    history = model.fit(x, y, epochs=10, validation_split=0.25, callbacks=[stop, prune],
                        verbose=0).history
    assert len(history["loss"]) == 3 and prune.pruned_epoch == 2
    assert trial.reported == list(enumerate(history["val_accuracy"]))
    assert stop.best_weights is not None  # on_train_end still ran
    never = ScriptedTrial(prune_from=99)
    model.fit(x, y, epochs=4, validation_split=0.25, callbacks=[tuning.PruningCallback(never)],
              verbose=0)
    assert len(never.reported) == 4
    with pytest.raises(ValueError, match="val_accuracy"):
        model.fit(x, y, epochs=1, callbacks=[tuning.PruningCallback(never)], verbose=0)


def _fashion_model(hp):
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                              keras.layers.Dense(hp.Choice("units", [16, 32]), activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    lr = hp.Float("learning_rate", 1e-6, 1e-2, sampling="log")
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def test_pruning_stops_a_clearly_worse_trial(fashion, capsys):
    """Three trials with lr 3e-3 learn; a fourth with lr 1e-6 barely moves. The median pruner
    (3 completed trials, decisions from the 3rd epoch) must stop it after epoch 3 of 6; without
    a pruner the same trial runs all 6."""
    (x, y), _ = fashion
    x, y = x[:2000], y[:2000]
    script = [{"units": 32, "learning_rate": 3e-3}, {"units": 16, "learning_rate": 3e-3},
              {"units": 32, "learning_rate": 2e-3}, {"units": 32, "learning_rate": 1e-6}]
    tuner = tuning.Tuner(_fashion_model, max_trials=4, seed=7)
    for params in script:
        tuner.study.enqueue_trial(params)
    results = tuner.search(x, y, epochs=6, patience=2, validation_split=0.2)
    good, bad = results.trials[:3], results.trials[3]
    assert [t.config for t in results.trials] == script
    assert all(t.state == "complete" and t.val_accuracy > 0.7 for t in good), str(results)
    assert bad.state == "pruned" and bad.epochs == 3 and bad.val_accuracy < 0.5, str(results)
    assert "pruned after epoch 3" in capsys.readouterr().out

    unpruned = tuning.Tuner(_fashion_model, max_trials=1, seed=7, pruner="none")
    unpruned.study.enqueue_trial(script[3])
    alone = unpruned.search(x, y, epochs=6, patience=2, validation_split=0.2).trials[0]
    assert alone.state == "complete" and alone.epochs == 6


def test_tiny_search_finds_the_better_configuration_and_is_reproducible(fashion, capsys):
    """lr 1e-5 barely moves in 3 epochs; lr 3e-3 learns. The grid search must rank it first,
    report one line per trial, give the same numbers again, and retrain the winner."""
    (x, y), (xt, yt) = fashion
    x, y = x[:2000], y[:2000]

    def build(hp):
        model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                                  keras.layers.Dense(32, activation="relu"),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile(optimizer=keras.optimizers.Adam(hp.Choice("learning_rate", [1e-5, 3e-3])),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    tuner = tuning.GridSearch(build, seed=5)
    results = tuner.search(x, y, epochs=3, patience=1, validation_split=0.2)
    out = capsys.readouterr().out
    assert out.count("trial ") == 2 and "best so far" in out
    best, worst = results.sorted()
    assert best.config["learning_rate"] == 3e-3
    assert best.val_accuracy > worst.val_accuracy + 0.1, str(results)
    assert best.val_accuracy > 0.6
    again = tuning.GridSearch(build, seed=5, verbose=False).search(x, y, epochs=3, patience=1,
                                                                   validation_split=0.2)
    assert sorted((t.val_accuracy, t.val_loss) for t in again.trials) == \
        sorted((t.val_accuracy, t.val_loss) for t in results.trials)
    model, test = tuner.retrain_best(x, y, xt[:1000], yt[:1000], epochs=2, patience=1)
    assert test["config"] == best.config and 0.6 < test["test_accuracy"] <= 1


def test_two_worker_processes_share_one_study_and_no_trial_runs_twice(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "tune.py"), "--quick",
                          "--workers", "2", "--out", str(tmp_path)], env=env,
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    printed = {w: set() for w in ("0", "1")}  # trial numbers each worker says it ran
    for worker, number in re.findall(r"\[worker (\d)\] trial (\d+)/4 ", run.stdout):
        assert number not in printed["0"] | printed["1"], run.stdout
        printed[worker].add(number)
    assert len(printed["0"]) == len(printed["1"]) == 2, run.stdout

    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "study.journal")))
    study = optuna.load_study(study_name="fashion-seed42", storage=storage)
    trials = study.get_trials()
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    assert {str(t.number + 1) for t in trials if t.user_attrs["worker"] == 0} == printed["0"]
    assert {str(t.number + 1) for t in trials if t.user_attrs["worker"] == 1} == printed["1"]
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 4  # four configurations

    rows = list(csv.DictReader((tmp_path / "trials.csv").open()))
    assert sorted(r["worker"] for r in rows) == ["0", "0", "1", "1"]
    assert "4 trials by 2 worker(s)" in run.stdout and "test accuracy" in run.stdout
    assert (tmp_path / "trials.png").exists() and (tmp_path / "best_learning_curves.png").exists()


def test_import_tinynn_does_not_import_optuna():
    code = "import sys, tinynn; print('optuna' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.stdout.strip() == "False"
