"""Shared fixtures: the real Fashion-MNIST data (fails loudly when absent). The hypothesis
profiles are registered in the root conftest.py, for tests/ and parity/ alike."""

import numpy as np
import pytest

import tinynn


@pytest.fixture(scope="session")
def fashion(fashion_uint8):
    """The real data as float32 in [0, 1] (loaded by the root conftest: absent data fails)."""
    (x, y), (xt, yt) = fashion_uint8
    return (x / np.float32(255), y), (xt / np.float32(255), yt)


@pytest.fixture
def float64():
    """Build weights in float64 inside the test, float32 again afterwards."""
    tinynn.config.set_floatx("float64")
    yield
    tinynn.config.set_floatx("float32")
