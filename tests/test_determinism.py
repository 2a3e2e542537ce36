"""Same seed, same result, bit for bit: twice in one process and across two processes, on each
backend that `tinynn.backend.available()` reports (just NumPy when there is no switch)."""

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import hashlib, json, sys
import numpy as np
import tinynn as keras

def run(seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((6,)), keras.layers.Dense(16, activation="relu"),
        keras.layers.Dropout(0.3), keras.layers.Dense(4, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int) + 2 * (x[:, 1] > 0)
    history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.2, verbose=0)
    digest = hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights())).hexdigest()
    return {"weights": digest, "history": history.history}

seed = int(sys.argv[1])
print(json.dumps([run(seed), run(seed)]))
"""


def backends() -> list[str]:
    """The backends to test: `tinynn.backend.available()` once the switch exists, else NumPy."""
    try:
        backend = importlib.import_module("tinynn.backend")
    except ImportError:
        return ["numpy"]
    return list(backend.available())


def run_process(seed: int, backend: str) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TINYNN_BACKEND": backend}
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(seed)], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout)  # JSON keeps floats exactly (shortest round-trip repr)


@pytest.mark.parametrize("backend", backends())
def test_same_seed_is_bit_identical_in_one_and_in_two_processes(backend):
    first, second = run_process(7, backend), run_process(7, backend)
    assert first[0] == first[1], "two runs in one process differ"
    assert first == second, "two processes differ"
    assert len(first[0]["history"]["val_loss"]) == 3
    other = run_process(8, backend)[0]
    assert other["weights"] != first[0]["weights"] and other["history"] != first[0]["history"]


def test_hypothesis_runs_the_derandomized_profile_unless_asked_otherwise(pytestconfig):
    """`make test` must pass or fail the same way every run (root conftest.py)."""
    from hypothesis import settings

    ci = settings.get_profile("ci")
    assert ci.derandomize and ci.database is None and ci.deadline is None
    asked = pytestconfig.getoption("hypothesis_profile", None)
    if os.environ.get("TINYNN_HYPOTHESIS", "ci") == "ci" and asked in (None, "ci"):
        assert settings.default.derandomize and settings.default.database is None
