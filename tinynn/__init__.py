"""tinynn: a from-scratch NumPy neural-network library with Keras's names.

    import tinynn as keras
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
"""

from tinynn import (
    activations,
    callbacks,
    config,
    datasets,
    diagnostics,
    graph,
    initializers,
    io,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    reports,
    saving,
    tuning,
    utils,
)
from tinynn.backend import get_backend, set_backend
from tinynn.gradient_check import gradcheck
from tinynn.layers import Input
from tinynn.models import Sequential

__version__ = "0.1.0"
__all__ = [
    "Input", "Sequential", "activations", "callbacks", "config", "datasets", "diagnostics",
    "get_backend", "gradcheck", "graph", "initializers", "io", "layers", "losses", "metrics",
    "models", "optimizers", "reports", "saving", "set_backend", "tuning", "utils",
]
