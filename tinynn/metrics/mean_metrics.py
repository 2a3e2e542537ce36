"""Metrics that are means of per-sample values: accuracies, regression errors, cross-entropies.

Each is a function giving one value per sample, as `keras.metrics.binary_accuracy` etc., and a
class averaging it over the samples seen (`MeanMetricWrapper`), as `keras.metrics.BinaryAccuracy`.
Targets (N,) and predictions (N, 1) are matched as Keras matches them (y_true becomes (N, 1)).
"""

import warnings

import numpy as np

from tinynn import losses
from tinynn.loss_functions import squeeze_or_expand_to_same_rank
from tinynn.metrics.base import Mean, Metric, snake_case

# ----- per-sample functions ---------------------------------------------------------------------

def _pair(y_true, y_pred):
    P = np.asarray(y_pred)
    T = np.asarray(y_true)
    return squeeze_or_expand_to_same_rank(T, P)


def accuracy(y_true, y_pred) -> np.ndarray:
    """1.0 where y_pred equals y_true exactly, else 0.0 (elementwise)."""
    T, P = _pair(y_true, y_pred)
    return (T == P).astype(np.float64)


def binary_accuracy(y_true, y_pred, threshold: float = 0.5) -> np.ndarray:
    """1.0 where [y_pred > threshold] equals y_true, else 0.0 (elementwise; Mean averages the
    entries of a sample)."""
    T, P = _pair(y_true, y_pred)
    return (T == (P > threshold).astype(T.dtype)).astype(np.float64)


def categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """1.0 where argmax(y_pred) equals argmax(y_true) (one-hot targets), else 0.0. Shape (N,)."""
    return (np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)).astype(np.float64)


def sparse_categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """1.0 where argmax(y_pred) equals the integer label, else 0.0.

    Shapes: y_true (N,) or (N, 1), y_pred (N, C) -> (N,).
    """
    y = np.asarray(y_true)
    if y.ndim == np.ndim(y_pred) and y.shape[-1] == 1:
        y = y[..., 0]
    return (np.argmax(y_pred, axis=-1) == y).astype(np.float64)


def in_top_k(labels: np.ndarray, P: np.ndarray, k: int) -> np.ndarray:
    """TensorFlow's `in_top_k`: a label counts as in the top k when fewer than k classes score
    strictly higher (so ties at the boundary all count) and its score is finite."""
    labels = np.asarray(labels).astype(np.intp).reshape(-1)
    P = np.asarray(P).reshape(-1, np.shape(P)[-1])
    valid = (labels >= 0) & (labels < P.shape[-1])
    score = P[np.arange(len(labels)), np.where(valid, labels, 0)]
    higher = (P > score[:, None]).sum(axis=-1)
    return valid & np.isfinite(score) & (higher < k)


def top_k_categorical_accuracy(y_true, y_pred, k: int = 5) -> np.ndarray:
    """1.0 where the class argmax(y_true) is among the k highest of y_pred, else 0.0."""
    return in_top_k(np.argmax(y_true, axis=-1), y_pred, k).astype(np.float64)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k: int = 5,
                                      from_sorted_ids: bool = False) -> np.ndarray:
    """1.0 where the integer label is among the k highest of y_pred, else 0.0. With
    from_sorted_ids, y_pred holds class ids sorted by score and the first k are checked."""
    y = np.asarray(y_true).reshape(-1)
    if from_sorted_ids:
        return (np.asarray(y_pred)[:, :k] == y[:, None]).any(axis=1).astype(np.float64)
    return in_top_k(y, y_pred, k).astype(np.float64)


class MeanMetricWrapper(Mean):
    """The mean of a per-sample function: `MeanMetricWrapper(fn)` averages fn(y_true, y_pred)
    over every sample seen (weighted by sample_weight).

    Args:
        fn: `fn(y_true, y_pred, **kwargs)` -> one value per sample.
        name: Defaults to fn's name.
        dtype: Defaults to None.
        **kwargs: passed on to fn.
    """

    def __init__(self, fn, name: "str | None" = None, dtype=None, **kwargs):
        super().__init__(name if name is not None else snake_case(fn.__name__), dtype)
        self._fn, self._fn_kwargs = fn, kwargs

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        super().update_state(self._fn(y_true, y_pred, **self._fn_kwargs), sample_weight)

    def get_config(self) -> dict:
        """The arguments; a MeanMetricWrapper itself also gives fn, by name in Keras's format
        for a function (tinynn's and Keras's own functions are found again by it); its
        subclasses fix their fn."""
        config = {**super().get_config(), **self._fn_kwargs}
        if type(self) is not MeanMetricWrapper:
            return config
        return {**config, "fn": {"module": "builtins", "class_name": "function",
                                 "config": self._fn.__name__, "registered_name": "function"}}

    @classmethod
    def from_config(cls, config: dict) -> "MeanMetricWrapper":
        config = dict(config)
        fn = config.get("fn")
        name = fn.get("config") if isinstance(fn, dict) else fn
        if isinstance(name, str):
            if name not in _FUNCTIONS:
                raise ValueError(f"MeanMetricWrapper: unknown function {name!r}; known: "
                                 f"{', '.join(sorted(_FUNCTIONS))}. Pass your own function as "
                                 "fn=.")
            config["fn"] = _FUNCTIONS[name]
        return cls(**config)


# ----- accuracies -------------------------------------------------------------------------------

class Accuracy(MeanMetricWrapper):
    """How often y_pred equals y_true exactly (`metrics=["accuracy"]` in `compile` means one of
    the three accuracies below instead, chosen from the shapes, as in Keras).

    Args:
        name: Defaults to "accuracy".
        dtype: Defaults to None.
    """

    def __init__(self, name: str = "accuracy", dtype=None):
        super().__init__(accuracy, name, dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often [y_pred > threshold] equals the 0/1 target.

    Args:
        name: Defaults to "binary_accuracy".
        dtype: Defaults to None.
        threshold: Defaults to 0.5.
    """

    def __init__(self, name: str = "binary_accuracy", dtype=None, threshold: float = 0.5):
        super().__init__(binary_accuracy, name, dtype, threshold=threshold)
        self.threshold = threshold


class CategoricalAccuracy(MeanMetricWrapper):
    """How often argmax(y_pred) equals argmax(y_true), for one-hot targets.

    Args:
        name: Defaults to "categorical_accuracy".
        dtype: Defaults to None.
    """

    def __init__(self, name: str = "categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name, dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often argmax(y_pred) equals the integer label.

    Args:
        name: Defaults to "sparse_categorical_accuracy".
        dtype: Defaults to None.
    """

    sparse_labels = True

    def __init__(self, name: str = "sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name, dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the target class (argmax of a one-hot y_true) is among the k highest scores.

    Args:
        k: Defaults to 5.
        name: Defaults to "top_k_categorical_accuracy".
        dtype: Defaults to None.
    """

    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name, dtype, k=k)
        self.k = k


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label is among the k highest scores.

    Args:
        k: Defaults to 5.
        name: Defaults to "sparse_top_k_categorical_accuracy".
        dtype: Defaults to None.
        from_sorted_ids: y_pred holds class ids sorted by score. Defaults to False.
    """

    sparse_labels = True

    def __init__(self, k: int = 5, name: str = "sparse_top_k_categorical_accuracy", dtype=None,
                 from_sorted_ids: bool = False):
        super().__init__(sparse_top_k_categorical_accuracy, name, dtype, k=k,
                         from_sorted_ids=from_sorted_ids)
        self.k, self.from_sorted_ids = k, from_sorted_ids


# ----- regression -------------------------------------------------------------------------------

class MeanSquaredError(MeanMetricWrapper):
    """The mean over samples of mean((y_true - y_pred)**2, axis=-1).

    Args:
        name: Defaults to "mean_squared_error".
        dtype: Defaults to None.
    """

    def __init__(self, name: str = "mean_squared_error", dtype=None):
        super().__init__(losses.mean_squared_error, name, dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    """The mean over samples of mean(|y_true - y_pred|, axis=-1).

    Args:
        name: Defaults to "mean_absolute_error".
        dtype: Defaults to None.
    """

    def __init__(self, name: str = "mean_absolute_error", dtype=None):
        super().__init__(losses.mean_absolute_error, name, dtype)


class RootMeanSquaredError(Mean):
    """sqrt of the mean squared error over every sample seen: not a mean of batch RMSEs, which
    is why `fit` keeps metric state over the epoch.

    Args:
        name: Defaults to "root_mean_squared_error".
        dtype: Defaults to None.
    """

    def __init__(self, name: str = "root_mean_squared_error", dtype=None):
        super().__init__(name, dtype)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        T, P = _pair(y_true, y_pred)
        super().update_state(np.square(P - T.astype(P.dtype)), sample_weight)

    def result(self) -> float:
        return float(np.sqrt(super().result()))


class MeanAbsolutePercentageError(MeanMetricWrapper):
    """The mean over samples of 100 mean(|y_true - y_pred| / max(|y_true|, eps), axis=-1).

    Args:
        name: Defaults to "mean_absolute_percentage_error".
        dtype: Defaults to None.
    """

    def __init__(self, name: str = "mean_absolute_percentage_error", dtype=None):
        super().__init__(losses.mean_absolute_percentage_error, name, dtype)


class MeanSquaredLogarithmicError(MeanMetricWrapper):
    """The mean over samples of mean((log(y_pred + 1) - log(y_true + 1))**2, axis=-1).

    Args:
        name: Defaults to "mean_squared_logarithmic_error".
        dtype: Defaults to None.
    """

    def __init__(self, name: str = "mean_squared_logarithmic_error", dtype=None):
        super().__init__(losses.mean_squared_logarithmic_error, name, dtype)


class LogCoshError(MeanMetricWrapper):
    """The mean over samples of mean(log(cosh(y_pred - y_true)), axis=-1).

    Args:
        name: Defaults to "logcosh".
        dtype: Defaults to None.
    """

    def __init__(self, name: str = "logcosh", dtype=None):
        super().__init__(losses.log_cosh, name, dtype)


class Poisson(MeanMetricWrapper):
    """The mean over samples of mean(y_pred - y_true log(y_pred + eps), axis=-1).

    Args:
        name: Defaults to "poisson".
        dtype: Defaults to None.
    """

    def __init__(self, name: str = "poisson", dtype=None):
        super().__init__(losses.poisson, name, dtype)


class KLDivergence(MeanMetricWrapper):
    """The mean over samples of sum(y_true log(y_true / y_pred), axis=-1), both clipped to
    [eps, 1].

    Args:
        name: Defaults to "kl_divergence".
        dtype: Defaults to None.
    """

    def __init__(self, name: str = "kl_divergence", dtype=None):
        super().__init__(losses.kl_divergence, name, dtype)


class Hinge(MeanMetricWrapper):
    """The mean hinge loss, mean(max(1 - t y_pred, 0), axis=-1), a batch of 0/1 targets
    turned into t = -1/1.

    Args:
        name: Defaults to "hinge".
        dtype: Defaults to None.
    """

    def __init__(self, name: str = "hinge", dtype=None):
        super().__init__(losses.hinge, name, dtype)


class SquaredHinge(MeanMetricWrapper):
    """The mean squared hinge loss, mean(max(1 - t y_pred, 0)**2, axis=-1).

    Args:
        name: Defaults to "squared_hinge".
        dtype: Defaults to None.
    """

    def __init__(self, name: str = "squared_hinge", dtype=None):
        super().__init__(losses.squared_hinge, name, dtype)


class CategoricalHinge(MeanMetricWrapper):
    """The mean categorical hinge loss, max(max((1 - T) P) - sum(T P) + 1, 0), one-hot T.

    Args:
        name: Defaults to "categorical_hinge".
        dtype: Defaults to None.
    """

    def __init__(self, name: str = "categorical_hinge", dtype=None):
        super().__init__(losses.categorical_hinge, name, dtype)


class R2Score(Metric):
    """The coefficient of determination R^2 = 1 - SS_res / SS_tot of each output column, over
    every sample seen (state: weighted sums, not a mean of batch scores), as Keras's R2Score.

    Per output j, with weights w (default 1):
        SS_res_j = sum_i w_i (T_ij - P_ij)**2
        SS_tot_j = sum_i w_i T_ij**2 - (sum_i w_i T_ij)**2 / sum_i w_i
        R2_j = 1 - SS_res_j / SS_tot_j   (0 where that is infinite: a constant target)
    then aggregated: "uniform_average" (the mean over j), "variance_weighted_average"
    (weighted by SS_tot_j) or None (the per-output scores). With `num_regressors` p > 0 the
    adjusted score 1 - (1 - R2)(n - 1) / (n - p - 1), n counting every entry of y_true seen
    (N k, as Keras counts), unless p >= n - 1 (a warning, then the plain score).

    Args:
        class_aggregation: "uniform_average", "variance_weighted_average" or None. Defaults
            to "uniform_average".
        num_regressors: p, the model's independent variables, for the adjusted score.
            Defaults to 0.
        name: Defaults to "r2_score".
        dtype: Defaults to None.
    """

    AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")

    def __init__(self, class_aggregation="uniform_average", num_regressors: int = 0,
                 name: str = "r2_score", dtype=None):
        if class_aggregation not in self.AGGREGATIONS:
            raise ValueError(f"Invalid value for argument `class_aggregation`. Expected one of "
                             f"{self.AGGREGATIONS}. Received: class_aggregation="
                             f"{class_aggregation}")
        if num_regressors < 0:
            raise ValueError("Invalid value for argument `num_regressors`. Expected a value "
                             f">= 0. Received: num_regressors={num_regressors}")
        super().__init__(name, dtype)
        self.class_aggregation, self.num_regressors = class_aggregation, num_regressors
        self.reset_state()

    def reset_state(self) -> None:
        self.sum = self.squared_sum = self.residual = self.count = 0.0  # arrays once updated
        self.num_samples = 0

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        T, P = _pair(y_true, y_pred)
        T, P = T.astype(np.float64), P.astype(np.float64)
        if T.ndim != 2 or P.ndim != 2:
            raise ValueError("R2Score expects 2D inputs with shape (batch_size, output_dim). "
                             f"Received input shapes: y_pred.shape={P.shape} and "
                             f"y_true.shape={T.shape}.")
        W = np.ones_like(T) if sample_weight is None else np.asarray(sample_weight, np.float64)
        W = np.broadcast_to(W[:, None] if W.ndim == 1 else W, T.shape)
        self.sum = self.sum + np.sum(W * T, axis=0)
        self.squared_sum = self.squared_sum + np.sum(T * W * T, axis=0)
        self.residual = self.residual + np.sum(np.square(T - P) * W, axis=0)
        self.count = self.count + np.sum(W, axis=0)
        self.num_samples += T.size

    def result(self):
        """The score so far (0.0 before any update: Keras has no state to read then)."""
        if not self.num_samples:
            return 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            total = self.squared_sum - self.sum * (self.sum / self.count)
            raw = 1 - self.residual / total
        raw = np.where(np.isinf(raw), 0.0, raw)
        if self.class_aggregation == "uniform_average":
            score = np.mean(raw)
        elif self.class_aggregation == "variance_weighted_average":
            score = np.sum(total * raw) / np.sum(total)
        else:
            score = raw
        n, p = self.num_samples, self.num_regressors
        if p and p > n - 1:
            warnings.warn("More independent predictors than datapoints in adjusted R2 score. "
                          "Falling back to standard R2 score.", stacklevel=2)
        elif p and p == n - 1:
            warnings.warn("Division by zero in Adjusted R2 score. Falling back to standard R2 "
                          "score.", stacklevel=2)
        elif p:
            score = 1.0 - (1.0 - score) * (n - 1.0) / (n - p - 1.0)
        return float(score) if np.ndim(score) == 0 else np.asarray(score)

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype,
                "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}


def cosine_similarity(y_true, y_pred, axis: int = -1) -> np.ndarray:
    """Per-sample sum(l2_normalize(y_true) * l2_normalize(y_pred)): +1 for the same direction
    (`keras.metrics.cosine_similarity`; the loss of that name is its negative)."""
    return -losses.cosine_similarity(y_true, y_pred, axis)


class CosineSimilarity(MeanMetricWrapper):
    """The mean cosine similarity of target and prediction rows (higher is better).

    Args:
        name: Defaults to "cosine_similarity".
        dtype: Defaults to None.
        axis: only -1. Defaults to -1.
    """

    def __init__(self, name: str = "cosine_similarity", dtype=None, axis: int = -1):
        losses.check_axis(axis, "CosineSimilarity")
        super().__init__(cosine_similarity, name, dtype, axis=axis)
        self.axis = axis


# ----- cross-entropies --------------------------------------------------------------------------

class _CrossentropyMetric(MeanMetricWrapper):
    """The mean of a cross-entropy loss's per-sample values. In `fit`, when the model ends in a
    sigmoid or softmax, the values come from that activation's input, as Keras's TensorFlow
    backend computes them."""

    _loss_class: type = losses.Loss

    def __init__(self, name, dtype, **kwargs):
        loss = self._loss_class(**kwargs)
        super().__init__(loss.call, name, dtype)
        self._kwargs = kwargs
        self._from_logits_loss = self._loss_class(**{**kwargs, "from_logits": True})
        for key, value in kwargs.items():
            setattr(self, key, value)

    def _update_from_model(self, y_true, y_pred, logits, sample_weight=None) -> None:
        if logits is None:
            super()._update_from_model(y_true, y_pred, None, sample_weight)
        else:
            Mean.update_state(self, self._from_logits_loss.call(y_true, logits), sample_weight)

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, **self._kwargs}


class BinaryCrossentropy(_CrossentropyMetric):
    """The mean binary cross-entropy (see `tinynn.losses.BinaryCrossentropy`).

    Args:
        name: Defaults to "binary_crossentropy".
        dtype: Defaults to None.
        from_logits: Defaults to False.
        label_smoothing: Defaults to 0.
    """

    _loss_class = losses.BinaryCrossentropy

    def __init__(self, name: str = "binary_crossentropy", dtype=None, from_logits: bool = False,
                 label_smoothing: float = 0):
        super().__init__(name, dtype, from_logits=from_logits, label_smoothing=label_smoothing)


class CategoricalCrossentropy(_CrossentropyMetric):
    """The mean categorical cross-entropy (see `tinynn.losses.CategoricalCrossentropy`).

    Args:
        name: Defaults to "categorical_crossentropy".
        dtype: Defaults to None.
        from_logits: Defaults to False.
        label_smoothing: Defaults to 0.
        axis: only -1. Defaults to -1.
    """

    _loss_class = losses.CategoricalCrossentropy

    def __init__(self, name: str = "categorical_crossentropy", dtype=None,
                 from_logits: bool = False, label_smoothing: float = 0, axis: int = -1):
        super().__init__(name, dtype, from_logits=from_logits, label_smoothing=label_smoothing,
                         axis=axis)


class SparseCategoricalCrossentropy(_CrossentropyMetric):
    """The mean sparse categorical cross-entropy (integer labels).

    Args:
        name: Defaults to "sparse_categorical_crossentropy".
        dtype: Defaults to None.
        from_logits: Defaults to False.
        axis: only -1. Defaults to -1.
    """

    sparse_labels = True
    _loss_class = losses.SparseCategoricalCrossentropy

    def __init__(self, name: str = "sparse_categorical_crossentropy", dtype=None,
                 from_logits: bool = False, axis: int = -1):
        losses.check_axis(axis, "SparseCategoricalCrossentropy")
        super().__init__(name, dtype, from_logits=from_logits)
        self.axis = axis

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


_FUNCTIONS = {fn.__name__: fn for fn in (
    accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
    top_k_categorical_accuracy, sparse_top_k_categorical_accuracy, losses.mean_squared_error,
    losses.mean_absolute_error, losses.binary_crossentropy, losses.categorical_crossentropy,
    losses.sparse_categorical_crossentropy, losses.huber, losses.mean_absolute_percentage_error,
    losses.mean_squared_logarithmic_error, losses.log_cosh, losses.poisson, losses.kl_divergence,
    losses.hinge, losses.squared_hinge, losses.categorical_hinge, cosine_similarity)}
