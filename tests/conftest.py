"""Shared fixtures: the real Fashion-MNIST data (fails loudly when absent), hypothesis profiles."""

import os

import numpy as np
import pytest
from hypothesis import settings

import tinynn

settings.register_profile("ci", deadline=None, max_examples=40, derandomize=True)
settings.register_profile("dev", deadline=None, max_examples=100)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(scope="session")
def fashion():
    """The real data as float32 in [0, 1]. Absent data is a failure with the fix, never a skip."""
    try:
        (x, y), (xt, yt) = tinynn.datasets.fashion_mnist.load_data()
    except FileNotFoundError as e:
        pytest.fail(f"Real Fashion-MNIST is required: `apt-get install -y dataset-fashion-mnist` "
                    f"(or `make test`, which installs it).\n{e}")
    return (x / np.float32(255), y), (xt / np.float32(255), yt)


@pytest.fixture
def float64():
    """Build weights in float64 inside the test, float32 again afterwards."""
    tinynn.config.set_floatx("float64")
    yield
    tinynn.config.set_floatx("float32")
