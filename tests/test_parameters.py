"""`tinynn.parameters.pack`: parameters and gradients become views of two flat arrays."""

import numpy as np

import tinynn
from tinynn import parameters
from tinynn.layers import Dense


def test_pack_makes_every_parameter_and_gradient_a_view_of_the_flat_arrays():
    model = tinynn.Sequential([tinynn.Input((3,)), Dense(4, activation="relu"), Dense(2)])
    before = model.get_weights()
    flat_p, flat_g = parameters.pack(model.layers)
    assert flat_p.size == model.count_params() == 3 * 4 + 4 + 4 * 2 + 2
    # values kept, in Keras's order, and writing the flat array writes the layers
    np.testing.assert_array_equal(flat_p, np.concatenate([w.ravel() for w in before]))
    flat_p[:] = np.arange(flat_p.size)
    assert model.layers[1].params["bias"][0] == 3 * 4 + 4 + 4 * 2
    flat_g[:] = 1.0
    assert all((layer.grads[k] == 1).all() for layer in model.layers for k in layer.grads)


def test_pack_refuses_mixed_dtypes():
    model = tinynn.Sequential([tinynn.Input((3,)), Dense(2)])
    dense = model.layers[0]
    dense.params["bias"] = dense.params["bias"].astype(np.float64)
    assert parameters.pack(model.layers) == (None, None)
    assert dense.params["kernel"].dtype == np.float32  # left as it was
