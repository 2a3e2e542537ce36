"""`tinynn.tuning`: the space, grid and random configurations, reproducibility from a seed, and
a tiny real search that must find the obviously better configuration."""

import csv

import numpy as np
import pytest

from tinynn import tuning


def _space():
    hp = tuning.HyperParameters()
    hp.Int("layers", 1, 3)
    hp.Choice("units", [16, 32, 64])
    hp.Choice("activation", ["relu", "tanh"])
    hp.Float("dropout", 0.0, 0.5, step=0.1)
    hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")
    hp.Choice("batch_size", [32, 64])
    return hp


def test_space_declarations_return_defaults_and_check_their_arguments():
    hp = tuning.HyperParameters()
    assert hp.Int("layers", 1, 3) == 1
    assert hp.Float("dropout", 0.0, 0.3, step=0.1) == 0.0
    assert hp.space["dropout"].values == [0.0, 0.1, 0.2, 0.3]
    assert hp.Choice("activation", ["tanh", "relu"]) == "tanh"
    with pytest.raises(ValueError, match="twice"):
        hp.Int("layers", 1, 2)
    with pytest.raises(ValueError, match="min_value > 0"):
        hp.Float("lr", 0.0, 1.0, sampling="log")
    with pytest.raises(ValueError, match="empty"):
        hp.Int("units", 5, 4)


def test_grid_lists_every_combination_and_refuses_continuous_ranges():
    hp = tuning.HyperParameters()
    hp.Int("layers", 1, 2)
    hp.Choice("units", [8, 16, 32])
    configs = tuning.GridSearch(hp).configurations()
    assert len(configs) == 6 and len({tuple(c.items()) for c in configs}) == 6
    assert configs[0] == {"layers": 1, "units": 8}
    hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")
    with pytest.raises(ValueError, match="continuous"):
        tuning.GridSearch(hp).configurations()


def test_random_configurations_are_reproducible_in_range_and_distinct():
    a = tuning.RandomSearch(_space(), max_trials=20, seed=3).configurations()
    b = tuning.RandomSearch(_space(), max_trials=20, seed=3).configurations()
    c = tuning.RandomSearch(_space(), max_trials=20, seed=4).configurations()
    assert a == b and a != c
    assert len({tuple(x.items()) for x in a}) == 20
    lrs = np.array([x["learning_rate"] for x in a])
    assert lrs.min() >= 1e-4 and lrs.max() <= 1e-2
    assert ((lrs < 1e-3).mean() > 0.2) and ((lrs > 1e-3).mean() > 0.2)  # log-uniform
    # a finite space runs out instead of looping forever
    hp = tuning.HyperParameters()
    hp.Choice("units", [8, 16])
    assert len(tuning.RandomSearch(hp, max_trials=5).configurations()) == 2


def test_build_mlp_follows_the_config():
    model = tuning.build_mlp({"layers": 3, "units": 20, "dropout": 0.2, "activation": "tanh"},
                             (28, 28), 10)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Flatten"] + ["Dense", "Dropout"] * 3 + ["Dense"]
    assert model.layers[1].units == 20 and model.layers[1].activation == "tanh"
    assert model.optimizer.learning_rate == tuning.DEFAULTS["learning_rate"]
    with pytest.raises(ValueError, match="build_model"):
        tuning.build_mlp({"momentum": 0.9}, (4,), 2)


def test_results_sort_print_and_write_csv_atomically(tmp_path):
    results = tuning.Results()
    for i, (acc, loss) in enumerate([(0.7, 0.9), (0.9, 0.4), (0.9, 0.3)]):
        results.trials.append(tuning.Trial(i, {"units": 8 * (i + 1)}, i, acc, loss, 4, 2, 1.0))
    assert [t.number for t in results.sorted()] == [2, 1, 0]  # ties: lower val_loss first
    assert results.best.number == 2
    lines = str(results).splitlines()
    assert "val_accuracy" in lines[0] and len(lines) == 4
    path = results.to_csv(tmp_path / "out" / "trials.csv")
    rows = list(csv.DictReader(path.open()))
    assert [int(r["trial"]) for r in rows] == [3, 2, 1] and rows[0]["units"] == "24"
    assert [p.name for p in path.parent.iterdir()] == ["trials.csv"]


def test_tiny_search_finds_the_better_configuration_and_is_reproducible(fashion, capsys):
    """lr 1e-5 barely moves in 3 epochs; lr 3e-3 learns. The search must rank it first,
    report one line per trial, and give the same numbers when run again."""
    (x, y), (xt, yt) = fashion
    x, y = x[:2000], y[:2000]
    hp = tuning.HyperParameters()
    hp.Choice("learning_rate", [1e-5, 3e-3])
    hp.Choice("units", [32])
    hp.Int("layers", 1, 1)
    tuner = tuning.GridSearch(hp, seed=5)
    results = tuner.search(x, y, epochs=3, patience=1, validation_split=0.2)
    out = capsys.readouterr().out
    assert out.count("trial ") == 2 and "best so far" in out
    best, worst = results.sorted()
    assert best.config["learning_rate"] == 3e-3
    assert best.val_accuracy > worst.val_accuracy + 0.1, str(results)
    assert best.val_accuracy > 0.6
    again = tuning.GridSearch(hp, seed=5, verbose=False).search(x, y, epochs=3, patience=1,
                                                              validation_split=0.2)
    assert [(t.val_accuracy, t.val_loss) for t in again.trials] == \
        [(t.val_accuracy, t.val_loss) for t in results.trials]
    model, test = tuner.retrain_best(x, y, xt[:1000], yt[:1000], epochs=2, patience=1)
    assert test["config"] == best.config and 0.6 < test["test_accuracy"] <= 1
