"""Fixtures for the graders. `fashion_uint8` (the real Fashion-MNIST, loaded once) comes from the
repository's root conftest.py."""

import pytest

from exercises import grading


@pytest.fixture(scope="session")
def fashion_small(fashion_uint8):
    """6,000 training and 2,000 test images as float32 in [0, 1], with their labels."""
    return grading.fashion_subset(fashion_uint8)
