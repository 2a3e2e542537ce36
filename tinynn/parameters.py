"""One flat array for all of a model's parameters, and one for their gradients.

Each layer keeps its own `params[name]` and `grads[name]`, but after `pack` they are views
(reshaped slices) of the two flat arrays. Nothing changes for the layers, but the optimizer can
then update the whole model with one call, in one pass over memory: at batch 32 that pass is one
of the largest costs of a step (see benchmarks/README.md).
"""

import numpy as np


def pack(layers) -> "tuple[np.ndarray, np.ndarray] | tuple[None, None]":
    """Move the layers' parameters into one flat array and point their gradients into another.

    Returns (flat_params, flat_grads), or (None, None) when the parameters do not share one
    dtype (then the optimizer updates them array by array).
    """
    views = [(layer, name) for layer in layers for name in layer.params]
    dtypes = {layer.params[name].dtype for layer, name in views}
    if len(dtypes) != 1:
        return None, None
    size = sum(layer.params[name].size for layer, name in views)
    flat_params = np.empty(size, dtypes.pop())
    flat_grads = np.zeros_like(flat_params)
    start = 0
    for layer, name in views:
        p = layer.params[name]
        end = start + p.size
        flat_params[start:end] = p.reshape(-1)
        layer.params[name] = flat_params[start:end].reshape(p.shape)
        layer.grads[name] = flat_grads[start:end].reshape(p.shape)
        start = end
    return flat_params, flat_grads
