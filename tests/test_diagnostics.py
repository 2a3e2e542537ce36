"""`tinynn.diagnostics`: LayerMonitor records what it says (checked against direct computations)
without changing training by a bit; sanity_check passes a healthy model, fails a broken one by
the right check, and leaves the model as it was."""

import re

import numpy as np
import pytest

import tinynn
from tinynn import diagnostics, graph, layers


def data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5)


def mlp(seed=0, dropout=0.3):
    tinynn.utils.set_random_seed(seed)
    model = tinynn.Sequential([tinynn.Input((6,)), layers.Dense(16, activation="relu", name="h1"),
                               layers.Dropout(dropout), layers.Dense(8, name="h2"),
                               layers.Activation("tanh", name="t2"),
                               layers.Dense(3, activation="softmax", name="out")])
    model.compile(optimizer=tinynn.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    return model


def test_training_is_identical_with_and_without_the_monitor():
    x, y = data()
    runs = []
    for monitored in (False, True):
        model = mlp()
        callbacks = [diagnostics.LayerMonitor(x[:32], y[:32])] if monitored else []
        history = model.fit(x, y, epochs=3, batch_size=16, callbacks=callbacks, verbose=0)
        runs.append((model.get_weights(), history.history, tinynn.utils.rng().random()))
    for a, b in zip(runs[0][0], runs[1][0], strict=True):
        np.testing.assert_array_equal(a, b)
    assert runs[0][1:] == runs[1][1:]


def test_records_match_a_direct_computation():
    x, y = data()
    model = mlp()
    monitor = diagnostics.LayerMonitor(x[:40], y[:40], samples=10_000)
    model.fit(x, y, epochs=2, batch_size=16, callbacks=[monitor], verbose=0)
    assert monitor.epochs == [0, 1, 2]
    assert list(monitor.activations) == ["h1", "h2", "t2", "out"]
    assert monitor.gradient_of == {"h1": "output", "h2": "output", "t2": "output",
                                   "out": "logits"}
    assert set(monitor.dead) == {"h1"} and set(monitor.update_ratio) == {"h1", "h2", "out"}
    assert all(len(r) == 2 for r in monitor.update_ratio.values())
    # the last record is the model as it is now
    nodes = {n.name: n for n in graph.trace(model, x[:40], y[:40])}
    A1 = nodes["A1"].value
    np.testing.assert_allclose(np.sort(monitor.activations["h1"][-1]), np.sort(A1.ravel()))
    np.testing.assert_allclose(np.sort(monitor.gradients["out"][-1]),
                               np.sort(nodes["Z3"].grad.ravel()), rtol=1e-6)
    assert monitor.dead["h1"][-1] == pytest.approx(float((A1 <= 0).all(axis=0).mean()))


def test_dead_relus_are_counted():
    x, y = data()
    model = mlp()
    model.layers[0].params["bias"] = np.full(16, -100.0)  # every unit off for every sample
    model.layers[0].params["bias"][:4] = 100.0  # except four
    monitor = diagnostics.LayerMonitor(x[:32], y[:32])
    model.fit(x, y, epochs=1, batch_size=32, callbacks=[monitor], verbose=0)
    assert monitor.dead["h1"] == [0.75, 0.75]


def test_update_ratio_is_the_step_over_the_weight():
    """Drive the hooks by hand: a known change of the kernel between a batch's begin and end."""
    x, y = data()
    model = mlp()
    monitor = diagnostics.LayerMonitor(x[:8], y[:8], update_steps=1)
    monitor.set_model(model)
    monitor.set_params({"epochs": 1, "steps": 1, "verbose": 0})
    monitor.on_train_begin()
    W = model.layers[0].params["kernel"]
    before = W.copy()
    monitor.on_train_batch_begin(0)
    model.layers[0].params["kernel"] = W + 0.01
    monitor.on_train_batch_end(0)
    monitor.on_epoch_end(0)
    expected = 0.01 * np.sqrt(W.size) / np.linalg.norm(before)
    assert monitor.update_ratio["h1"] == [pytest.approx(expected, rel=1e-5)]
    assert monitor.update_ratio["h2"] == [0.0]


def test_the_monitor_plot_has_a_row_per_layer():
    """(Writing the PNG, and leaving pyplot alone, is tested with every plot in test_plotting.)"""
    x, y = data()
    monitor = diagnostics.LayerMonitor(x[:32], y[:32])
    mlp().fit(x, y, epochs=2, batch_size=16, callbacks=[monitor], verbose=0)
    fig = monitor.plot()
    assert len(fig.axes) == 2 * (4 + 1)
    assert fig.axes[0].get_title() == "h1: activations (0% of units dead at the end)"
    assert fig.axes[7].get_title() == "out: dL/d(logits)"


def test_sanity_check_passes_a_healthy_model_and_changes_nothing(capsys):
    x, y = data()
    model = mlp()
    weights, state = model.get_weights(), tinynn.utils.rng().bit_generator.state
    report = diagnostics.sanity_check(model, x, y, n_overfit=8)
    assert report.passed, str(report)
    out = capsys.readouterr().out
    assert out.count("PASS") == 2 and "log(3) = 1.0986" in out
    for a, b in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 0
    assert tinynn.utils.rng().bit_generator.state == state
    assert model.layers[1].rate == 0.3  # the copy's dropout was turned off, not the model's


def test_sanity_check_fails_an_overconfident_start():
    x, y = data()
    model = mlp()
    out = model.layers[-1]
    out.params["kernel"] = out.params["kernel"] * 50  # huge logits: a confident, wrong start
    report = diagnostics.sanity_check(model, x, y, verbose=False)
    assert [c.passed for c in report.checks] == [False, True]
    assert "off by" in report.checks[0].detail and not report.passed


class FrozenGradient(layers.Dense):
    """A broken backward: no gradient reaches the kernel, and none goes further down."""

    def backward(self, dY):
        super().backward(dY)
        self.grads["kernel"] = np.zeros_like(self.grads["kernel"])
        self.grads["bias"] = np.zeros_like(self.grads["bias"])
        return np.zeros_like(self._X)


def test_sanity_check_fails_a_model_that_cannot_learn():
    x, y = data()
    tinynn.utils.set_random_seed(0)
    model = tinynn.Sequential([tinynn.Input((6,)), layers.Dense(16, activation="relu"),
                               FrozenGradient(3, activation="softmax")])
    model.compile(optimizer=tinynn.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    report = diagnostics.sanity_check(model, x, y, max_steps=30, verbose=False)
    assert [c.passed for c in report.checks] == [True, False]
    assert "in 30 full-batch steps" in report.checks[1].detail


def test_the_flagship_example_runs(fashion_uint8, tmp_path):
    """examples/inside_training.py --quick: sanity checks pass, the monitor's figure is written.
    (A subprocess with one BLAS thread: on a shared machine, spinning BLAS threads made this
    run 10 times slower in-process.)"""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OPENBLAS_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, str(root / "examples" / "inside_training.py"),
                          "--quick", "--out", str(tmp_path)], env=env, capture_output=True,
                         text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert out.count("  PASS  ") == 2 and "FAIL" not in out
    for layer in ("dense_512", "dense_256", "dense_128"):
        assert re.search(rf"^{layer} +\d+\.\d% +\d+\.\d% +\d\.\de-0\d$", out, re.MULTILINE), out
    assert (tmp_path / "inside_training.png").read_bytes().startswith(b"\x89PNG")
