"""The metric protocol, as in `keras.metrics.Metric`, and the running means most metrics are.

A metric keeps state over batches: `update_state(y_true, y_pred, sample_weight=None)` adds a
batch, `result()` reads the value so far, `reset_state()` starts again. `fit` and `evaluate`
reset every metric at the start of an epoch (and of the validation pass) and log `result()`
after each batch, so a metric that is not a mean of per-sample values (RMSE, AUC, precision)
is right over the whole epoch, not just averaged batch by batch.

State is accumulated in float64 (Keras keeps it in floatx, float32 by default).
"""

import re

import numpy as np

from tinynn import naming
from tinynn.loss_functions import squeeze_or_expand_to_same_rank


def snake_case(name: str) -> str:
    """Keras's `to_snake_case`: "AUC" -> "auc", "TruePositives" -> "true_positives"."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def auto_name(class_name: str) -> str:
    """Keras's names for metrics created without one: auc, auc_1, auc_2, ... in this process."""
    return naming.unique_name(snake_case(class_name))


class Metric:
    """Base class: subclass it with `update_state`, `result` and `reset_state` (and call
    `reset_state()` at the end of `__init__`), and list the constructor's arguments in
    `get_config`, as in Keras. Calling a metric, `m(y_true, y_pred)`, updates it and returns
    the result.

    Set the class attribute `sparse_labels = True` when y_true holds integer class indices
    (shape (N,)) rather than values shaped like y_pred; the tests choose targets by it.

    Args:
        name: the key `fit` logs it under. Defaults to the snake_case class name, numbered
            like Keras's ("auc", "auc_1", ...) for metrics whose Keras default name is None.
        dtype: accepted for Keras compatibility; results are float64.
    """

    sparse_labels = False

    def __init__(self, name: "str | None" = None, dtype=None):
        self.name = name if name is not None else auto_name(type(self).__name__)
        self.dtype = dtype

    def update_state(self, *args, **kwargs) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define update_state.")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__} must define result().")

    def reset_state(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define reset_state().")

    def _update_from_model(self, y_true, y_pred, logits, sample_weight=None) -> None:
        """How `fit` updates a metric. `logits` is the input of the model's final sigmoid or
        softmax (else None): Keras's TensorFlow backend hands it to cross-entropy metrics,
        which override this; every other metric sees y_pred. `sample_weight` is given to
        `compile(weighted_metrics=...)`'s metrics only."""
        if sample_weight is None:
            self.update_state(y_true, y_pred)
        else:
            self.update_state(y_true, y_pred, sample_weight=sample_weight)

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict) -> "Metric":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


def _samplewise(values, sample_weight, reduce):
    """Keras's `reduce_to_samplewise_values`: weights matched to the values' rank (squeeze or
    expand), values reduced over their extra axes, then one value (and weight) per sample."""
    values = np.asarray(values, dtype=np.float64)
    weights = None
    if sample_weight is not None:
        weights = np.asarray(sample_weight, dtype=np.float64)
        values, weights = squeeze_or_expand_to_same_rank(values, weights)
        if values.ndim > weights.ndim:
            values = reduce(values, axis=tuple(range(weights.ndim, values.ndim)))
        weights = np.broadcast_to(weights, values.shape)
        values = values * weights
        if weights.ndim > 1:
            weights = reduce(weights, axis=tuple(range(1, weights.ndim)))
    if values.ndim > 1:
        values = reduce(values, axis=tuple(range(1, values.ndim)))
    return values, weights


class Mean(Metric):
    """The weighted mean of the values given: total / count, total = sum(w * v),
    count = sum(w) (the number of values without weights).

    `update_state(values, sample_weight=None)`; a value of shape (N, k) counts as one sample,
    the mean of its k entries.

    Args:
        name: Defaults to "mean".
        dtype: Defaults to None.
    """

    def __init__(self, name: str = "mean", dtype=None):
        super().__init__(name, dtype)
        self.reset_state()

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None) -> None:
        if sample_weight is None and isinstance(values, np.ndarray) and values.ndim == 1:
            self.total += values.sum(dtype=np.float64)  # the common case, once per batch in fit
            self.count += values.shape[0]
            return
        values, weights = _samplewise(values, sample_weight, np.mean)
        self.total += values.sum(dtype=np.float64)
        if weights is not None:
            self.count += weights.sum()
        else:
            self.count += values.shape[0] if values.ndim else 1

    def result(self) -> float:
        return float(self.total / self.count) if self.count else 0.0


class Sum(Mean):
    """The weighted sum of the values given: sum(w * v).

    Args:
        name: Defaults to "sum".
        dtype: Defaults to None.
    """

    def __init__(self, name: str = "sum", dtype=None):
        super().__init__(name, dtype)

    def update_state(self, values, sample_weight=None) -> None:
        self.total += _samplewise(values, sample_weight, np.sum)[0].sum()

    def result(self) -> float:
        return float(self.total)
