"""`layer.kernel`, `layer.bias` (and the normalization layers' weights) as Keras Variables:
views of the arrays the optimizer updates, with `assign` and `numpy`."""

import numpy as np
import pytest

import tinynn
from tinynn.variables import Variable


def model():
    return tinynn.Sequential([tinynn.layers.Input((3,)), tinynn.layers.Dense(4),
                              tinynn.layers.BatchNormalization(),
                              tinynn.layers.Dense(1, activation="sigmoid")])


def test_assign_writes_into_the_array_fit_trains():
    m = model()
    out = m.layers[-1]
    out.bias.assign([np.log(0.25)])  # TensorFlow's imbalanced-data tutorial
    assert out.params["bias"][0] == np.float32(np.log(0.25))
    assert m.weights[-1][0] == np.float32(np.log(0.25))
    m.compile(optimizer="sgd", loss="binary_crossentropy")
    before = out.bias.numpy()
    m.fit(np.ones((8, 3), np.float32), np.zeros(8), epochs=1, batch_size=8, verbose=0)
    assert out.bias.numpy()[0] < before[0]  # trained from the assigned value
    out.kernel.assign_add(np.ones((4, 1)))
    out.kernel.assign_sub(np.ones((4, 1)) * 0.5)
    np.testing.assert_allclose(out.kernel.numpy(), m.get_weights()[-2])


def test_assign_checks_the_shape_and_the_dtype():
    m = model()
    with pytest.raises(ValueError, match=r"variable.shape=\(1,\), Received: value.shape=\(2,\)"):
        m.layers[-1].bias.assign([1.0, 2.0])
    with pytest.raises(TypeError, match="dense.*kernel|kernel"):
        m.layers[0].kernel.assign(np.full((3, 4), "a"))


def test_numpy_is_a_copy_and_arithmetic_gives_plain_arrays():
    m = model()
    k = m.layers[0].kernel
    assert isinstance(k, Variable) and k.path == f"{m.layers[0].name}/kernel" and k.trainable
    copy = k.numpy()
    copy[...] = 7
    assert not np.any(m.layers[0].params["kernel"] == 7)
    assert type(k.numpy()) is np.ndarray
    assert type(np.ones((2, 3)) @ k) is np.ndarray and type(k + 1) is np.ndarray
    assert type(k.sum()) is not Variable
    assert "Variable path=" in repr(k)


def test_normalization_weights_and_missing_ones():
    m = model()
    bn = m.layers[1]
    assert bn.gamma.shape == (4,) and bn.gamma.trainable
    assert not bn.moving_mean.trainable and not bn.moving_variance.trainable
    bn.moving_variance.assign(np.full(4, 4.0))
    np.testing.assert_array_equal(bn.get_weights()[3], np.full(4, 4.0, np.float32))
    assert tinynn.layers.Dense(2, use_bias=False).bias is None
    assert tinynn.layers.Dense(2).kernel is None  # not built yet
    frozen = tinynn.layers.Dense(2)
    frozen.build((None, 3))
    frozen.trainable = False
    assert not frozen.kernel.trainable
