"""`tinynn.utils.to_categorical`, as `keras.utils.to_categorical` (checked against it in
parity/test_losses_metrics_keras.py)."""

import numpy as np
import pytest

from tinynn.utils import to_categorical


def test_one_hot_rows_as_float64():
    out = to_categorical([0, 2, 1], 4)
    np.testing.assert_array_equal(out, [[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0]])
    assert out.dtype == np.float64


def test_shapes_classes_and_casting_like_keras():
    assert to_categorical(np.array([[1], [2]]), 4).shape == (2, 4)  # (n, 1) loses its last axis
    assert to_categorical(np.array([[1, 2], [0, 1]]), 3).shape == (2, 2, 3)
    assert to_categorical([1, 3]).shape == (2, 4)  # num_classes defaults to max + 1
    np.testing.assert_array_equal(to_categorical([1.7, 2.2], 3), [[0, 1, 0], [0, 0, 1]])
    np.testing.assert_array_equal(to_categorical([-1], 3), [[0, 0, 1]])  # NumPy's, so Keras's


def test_a_label_beyond_num_classes_is_named():
    with pytest.raises(IndexError, match="label 5, outside \\[0, 3\\) for num_classes=3"):
        to_categorical([1, 5], 3)
