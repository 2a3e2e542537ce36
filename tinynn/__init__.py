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
    initializers,
    io,
    layers,
    losses,
    metrics,
    models,
    normalization,
    optimizers,
    regularizers,
    reports,
    saving,
    tuning,
    utils,
)
from tinynn.backend import get_backend, set_backend
from tinynn.gradient_check import gradcheck
from tinynn.layers import Input
from tinynn.models import Sequential

# keras.layers.BatchNormalization: the normalization layers live in their own module (layers.py
# would pass a screenful too many), and are found where a Keras user looks for them.
layers.BatchNormalization = normalization.BatchNormalization
layers.LayerNormalization = normalization.LayerNormalization

__version__ = "0.1.0"
__all__ = [
    "Input", "Sequential", "activations", "callbacks", "config", "datasets", "get_backend",
    "gradcheck", "initializers", "io", "layers", "losses", "metrics", "models", "normalization",
    "optimizers", "regularizers", "reports", "saving", "set_backend", "tuning", "utils",
]
