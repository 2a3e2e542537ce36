"""tinynn: a from-scratch NumPy neural-network library with Keras's names.

    import tinynn as keras
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
"""

from tinynn import (
    activation_layers,
    activations,
    callbacks,
    callbacks_extra,
    config,
    constraints,
    data_adapter,
    datasets,
    diagnostics,
    functional,
    graph,
    initializers,
    io,
    layers,
    losses,
    metrics,
    models,
    noise_layers,
    normalization,
    optimizers,
    preprocessing,
    regularizers,
    reports,
    reshaping,
    saving,
    tuning,
    utils,
)
from tinynn.backend import get_backend, set_backend
from tinynn.functional import Model
from tinynn.gradient_check import gradcheck
from tinynn.layers import Input
from tinynn.models import Sequential

# Layers defined in their own modules (which import tinynn.layers for `Layer`) are exported
# where Keras users look for them: tinynn.layers.LeakyReLU is keras.layers.LeakyReLU.
for _module in (activation_layers, noise_layers, normalization, preprocessing, reshaping):
    for _name in _module.__all__:
        setattr(layers, _name, getattr(_module, _name))
for _name in callbacks_extra.__all__:  # tinynn.callbacks.CSVLogger is keras.callbacks.CSVLogger
    setattr(callbacks, _name, getattr(callbacks_extra, _name))
models.Model = Model  # keras.models.Model is keras.Model
del _module, _name

__version__ = "0.1.0"
__all__ = [
    "Input", "Model", "Sequential", "activations", "callbacks", "config", "constraints",
    "data_adapter", "datasets", "diagnostics", "get_backend", "functional", "gradcheck", "graph",
    "initializers", "io", "layers", "losses", "metrics", "models", "normalization", "optimizers",
    "regularizers", "reports", "saving", "set_backend", "tuning", "utils",
]
