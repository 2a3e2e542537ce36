"""Metrics, as per-sample values that `fit` and `evaluate` average over the epoch."""

import numpy as np


def sparse_categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """1.0 where argmax(y_pred) equals the integer label, else 0.0.

    Shapes: y_true (N,), y_pred (N, C) -> (N,).
    """
    y = np.asarray(y_true).reshape(-1)
    return (np.argmax(y_pred, axis=-1) == y).astype(np.float64)


_METRICS = {
    "accuracy": sparse_categorical_accuracy,
    "acc": sparse_categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
}


def get(identifier):
    """Resolve a metric name (with a sparse categorical loss, "accuracy" means argmax accuracy)."""
    if isinstance(identifier, str) and identifier in _METRICS:
        return _METRICS[identifier]
    if identifier is sparse_categorical_accuracy:
        return identifier
    raise ValueError(
        f"Unknown metric {identifier!r}. Known metrics: {', '.join(sorted(_METRICS))}."
    )
