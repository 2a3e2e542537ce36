"""The backprop lesson runs, in seconds, and every check it makes comes out right."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_backprop_lesson_runs_and_its_checks_pass(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    graph = tmp_path / "graph.png"
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "backprop.py"), "--graph",
                          str(graph)], env=env, capture_output=True, text=True, timeout=60,
                         check=False)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "gradcheck: PASSED" in out and "all 4 gradients pass" in out
    hand_vs_layer = re.findall(r"max \|by hand - layer\| = (\S+)", out)
    assert len(hand_vs_layer) == 4 and all(float(v) < 1e-12 for v in hand_vs_layer)
    adam = re.findall(r"max \|by hand - tinynn's Adam\| = ([0-9.e+-]+)", out)
    assert len(adam) == 2 and float(adam[-1]) < 1e-15
    assert re.search(r"after \S+: down", out)
    for shape_line in ("Z1   (4, 3)", "dW1  (5, 3)", "dX   (4, 5)"):
        assert shape_line in out
    # every intermediate array is printed with its numbers, not only its shape
    for name, rows, cols in (("X", 4, 5), ("Z1", 4, 3), ("A1", 4, 3), ("Z2", 4, 3), ("P", 4, 3),
                             ("dZ2", 4, 3), ("dW2", 3, 3), ("dA1", 4, 3), ("dZ1", 4, 3),
                             ("dW1", 5, 3), ("dX", 4, 5)):
        block = out[out.index(f"\n  {name:<4} ("):].splitlines()[2:2 + rows]
        assert all(len(re.findall(r"-?\d+\.\d*", line)) == cols for line in block), (name, block)
    backend = os.environ.get("TINYNN_BACKEND", "numba")
    assert out.startswith(f"Backend: {backend}.") and f"on the {backend} backend" in out
    steps = dict(re.findall(r"a gradient of (\S+) +moves its weight by (\S+) lr", out))
    assert steps == {"1": "1.00", "1e-05": "0.76", "1e-06": "0.24", "0": "0.00"}
    assert "epsilon-hat" in out and "whatever the size" not in out
    assert graph.read_bytes().startswith(b"\x89PNG")


def test_improved_recipe_is_the_stated_one(load_example):
    """The recipe README's flagship section states: He-initialized Dense without bias ->
    BatchNormalization -> ReLU (dropout after the first two), AdamW over a cosine decay."""
    import tinynn

    fashion = load_example("fashion")
    assert fashion.IMPROVED == {"epochs": 20, "batch_size": 128, "learning_rate": 0.0028,
                                "weight_decay": 0.046, "dropout": 0.1, "batchnorm": True}
    settings = {k: v for k, v in fashion.IMPROVED.items() if k not in ("epochs", "batch_size")}
    model = fashion.improved_model(8440, **settings)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Flatten"] + ["Dense", "BatchNormalization", "Activation", "Dropout"] * 2 \
        + ["Dense", "BatchNormalization", "Activation", "Dense"]
    hidden = [layer for layer in model.layers if type(layer).__name__ == "Dense"]
    assert [d.units for d in hidden] == [512, 256, 128, 10]
    for dense in hidden[:3]:
        config = dense.get_config()
        assert config["kernel_initializer"] == "he_normal" and config["use_bias"] is False
    assert {layer.get_config()["activation"] for layer in model.layers
            if type(layer).__name__ == "Activation"} == {"relu"}
    assert [layer.rate for layer in model.layers if type(layer).__name__ == "Dropout"] == [0.1] * 2
    optimizer = model.optimizer
    assert isinstance(optimizer, tinynn.optimizers.AdamW) and optimizer.weight_decay == 0.046
    schedule = optimizer.get_config()["learning_rate"]
    assert schedule["class_name"] == "CosineDecay"
    assert schedule["config"]["initial_learning_rate"] == 0.0028
    assert schedule["config"]["decay_steps"] == 8440
    # the seed recipe (make run) is untouched: the tutorial's layers and Adam(0.0005)
    seed = fashion.seed_model()
    assert [type(layer).__name__ for layer in seed.layers] == \
        ["Flatten", "Dense", "Dropout", "Dense", "Dropout", "Dense", "Dense"]
    assert type(seed.optimizer) is tinynn.optimizers.Adam
    assert seed.optimizer.get_config()["learning_rate"] == 0.0005
    assert fashion.SEED == {"epochs": 30, "batch_size": 32}


def test_improved_flagship_runs_on_a_subset(tmp_path):
    """examples/fashion.py --improved --quick: 6,000 images, 1 epoch; it learns and plots."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "fashion.py"), "--improved",
                          "--quick", "--epochs", "1", "--out", str(tmp_path)], env=env,
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "Improved recipe: {'learning_rate': 0.0028, 'weight_decay': 0.046, 'dropout': 0.1, " \
           "'batchnorm': True}, batch 128, cosine decay over 43 steps" in out
    assert "batch_normalization (BatchNormalization)" in out and "43/43" in out
    accuracy = float(re.search(r"test accuracy ([0-9.]+)%", out).group(1))
    assert accuracy > 60, out  # 10% is chance; one epoch on 5,400 images reaches ~75%
    assert (tmp_path / "learning_curves.png").read_bytes().startswith(b"\x89PNG")


def test_the_three_task_examples_train(load_example, capsys):
    """Regression, binary and one-hot classification, each a Keras program with the import
    changed, on scikit-learn's bundled tables: each learns (bounds far from chance, reached
    with every seed tried; parity/test_task_examples_keras.py runs them on Keras too)."""
    test_mae, baseline = load_example("regression").main(["--epochs", "40"])
    assert test_mae < 0.8 * baseline
    results = load_example("binary_classification").main(["--epochs", "10"])
    assert results["accuracy"] > 0.9 and results["auc"] > 0.95
    assert set(results) == {"loss", "accuracy", "precision", "recall", "auc"}
    loss, accuracy, top2 = load_example("multiclass").main(["--epochs", "10"])
    assert accuracy > 0.85 and top2 >= accuracy and loss < 0.6
    out = capsys.readouterr().out
    assert out.count("tinynn: ") == 3 and "predictions shaped (113, 1)" in out
