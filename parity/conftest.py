"""Fixtures for the Keras parity suite.

TensorFlow is imported once per session, lazily (inside the `keras` fixture), after the
environment variables that make it deterministic on CPU. A missing TensorFlow is a failure that
names the fix, never a skip: a parity suite that silently skips proves nothing.
"""

import os

import numpy as np
import pytest

import tinynn

# Must be set before TensorFlow is first imported: oneDNN reorders float sums nondeterministically.
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

INSTALL = ('TensorFlow is required by the parity suite: pip install tensorflow-cpu '
           '(or pip install -e ".[test]").')


@pytest.fixture(scope="session")
def keras():
    """Keras 3 on the TensorFlow backend, deterministic on CPU. Fails loudly when missing."""
    try:
        import keras as keras_module
        import tensorflow as tf
    except ImportError as e:
        pytest.fail(f"{INSTALL}\n{e}")
    if keras_module.backend.backend() != "tensorflow":
        pytest.fail("The parity suite compares against Keras's TensorFlow backend; "
                    f"KERAS_BACKEND is {keras_module.backend.backend()!r}.")
    tf.config.experimental.enable_op_determinism()
    return keras_module


@pytest.fixture(scope="session")
def tf(keras):
    import tensorflow as tf_module
    return tf_module


@pytest.fixture(scope="session")
def full(request) -> bool:
    """True under `pytest parity/ --full` (the option lives in the root conftest.py)."""
    return bool(request.config.getoption("--full"))


def _precision(keras, dtype: str):
    """Set both frameworks' float type, restore float32 afterwards. Keras caches its default
    dtype policy on first use, so `set_floatx` alone would not reach layers created later."""
    def set_both(value: str) -> None:
        keras.config.set_floatx(value)
        keras.config.set_dtype_policy(value)
        tinynn.config.set_floatx(value)

    set_both(dtype)
    yield dtype
    set_both("float32")


@pytest.fixture(params=["float64", "float32"])
def floatx(request, keras):
    """Run the test in both precisions."""
    yield from _precision(keras, request.param)


@pytest.fixture(scope="session")
def fashion(fashion_uint8):
    """Real Fashion-MNIST as float64 in [0, 1] (cast per test); the root conftest loads it and
    fails, never skips, when it is absent."""
    (x, y), (xt, yt) = fashion_uint8
    return (x / 255.0, y.astype(np.int64)), (xt / 255.0, yt.astype(np.int64))


_FIGURES: list[str] = []


@pytest.fixture(scope="session")
def report():
    """`report("name", value)` records a measured figure, printed in the terminal summary so
    every number in parity/README.md can be read off a run."""
    def record(name: str, value) -> None:
        _FIGURES.append(f"{name}: {value}")
    return record


def pytest_terminal_summary(terminalreporter):
    if _FIGURES:
        terminalreporter.section("parity figures measured in this run")
        for line in _FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture
def floatx64(keras):
    yield from _precision(keras, "float64")


@pytest.fixture
def floatx32(keras):
    yield from _precision(keras, "float32")
