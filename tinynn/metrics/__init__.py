"""Metrics, as in `keras.metrics`: objects with `update_state(y_true, y_pred, sample_weight)`,
`result()` and `reset_state()`, and the per-sample functions they average.

`compile(metrics=[...])` takes metric objects, names ("mae", "binary_accuracy", "auc",
"Precision", ...) and functions, as Keras does; a name gives the metric of that name logged under
the name exactly as written ("mae" logs "mae", "mean_absolute_error" logs
"mean_absolute_error"). "accuracy" (or "acc") is chosen from the shapes on the first batch, as
Keras 3 chooses it (`keras/src/trainers/compile_utils.py`): binary accuracy for a prediction
with one unit, sparse categorical accuracy for integer labels (y_true of lower rank, or with a
last axis of 1), categorical accuracy otherwise.
"""

import inspect

from tinynn.loss_functions import (  # keras.metrics has these functions too
    binary_crossentropy,
    categorical_crossentropy,
    categorical_hinge,
    hinge,
    kl_divergence,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    poisson,
    sparse_categorical_crossentropy,
    squared_hinge,
)
from tinynn.metrics.base import Mean, Metric, Sum, snake_case
from tinynn.metrics.confusion import (
    AUC,
    FalseNegatives,
    FalsePositives,
    Precision,
    Recall,
    TrueNegatives,
    TruePositives,
)
from tinynn.metrics.f_score import F1Score, FBetaScore
from tinynn.metrics.mean_metrics import (
    Accuracy,
    BinaryAccuracy,
    BinaryCrossentropy,
    CategoricalAccuracy,
    CategoricalCrossentropy,
    CategoricalHinge,
    CosineSimilarity,
    Hinge,
    KLDivergence,
    LogCoshError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanMetricWrapper,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
    R2Score,
    RootMeanSquaredError,
    SparseCategoricalAccuracy,
    SparseCategoricalCrossentropy,
    SparseTopKCategoricalAccuracy,
    SquaredHinge,
    TopKCategoricalAccuracy,
    accuracy,
    binary_accuracy,
    categorical_accuracy,
    cosine_similarity,
    sparse_categorical_accuracy,
    sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)

__all__ = [
    "AUC", "Accuracy", "BinaryAccuracy", "BinaryCrossentropy", "CategoricalAccuracy",
    "CategoricalCrossentropy", "CategoricalHinge", "CosineSimilarity", "F1Score", "FBetaScore",
    "FalseNegatives", "FalsePositives", "Hinge", "KLDivergence", "LogCoshError", "Mean",
    "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanMetricWrapper", "MeanSquaredError",
    "MeanSquaredLogarithmicError", "Metric", "Poisson", "Precision", "R2Score", "Recall",
    "RootMeanSquaredError", "SparseCategoricalAccuracy", "SparseCategoricalCrossentropy",
    "SparseTopKCategoricalAccuracy", "SquaredHinge", "Sum", "TopKCategoricalAccuracy",
    "TrueNegatives", "TruePositives", "accuracy", "binary_accuracy", "binary_crossentropy",
    "categorical_accuracy", "categorical_crossentropy", "categorical_hinge", "check",
    "cosine_similarity", "for_compile", "get", "hinge", "kl_divergence", "log_cosh",
    "mean_absolute_error", "mean_absolute_percentage_error", "mean_squared_error",
    "mean_squared_logarithmic_error", "poisson", "sparse_categorical_accuracy",
    "sparse_categorical_crossentropy", "sparse_top_k_categorical_accuracy", "squared_hinge",
    "top_k_categorical_accuracy",
]

_CLASSES = [Mean, Sum, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
            TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, MeanSquaredError,
            MeanAbsoluteError, RootMeanSquaredError, BinaryCrossentropy, CategoricalCrossentropy,
            SparseCategoricalCrossentropy, TruePositives, FalsePositives, TrueNegatives,
            FalseNegatives, Precision, Recall, AUC, MeanAbsolutePercentageError,
            MeanSquaredLogarithmicError, LogCoshError, Poisson, KLDivergence, Hinge,
            SquaredHinge, CategoricalHinge, CosineSimilarity, R2Score, FBetaScore, F1Score]
# Keras's table: class names, their snake_case, and the short aliases.
_METRICS = {cls.__name__: cls for cls in _CLASSES}
_METRICS.update({snake_case(cls.__name__): cls for cls in _CLASSES})
_METRICS.update({"bce": BinaryCrossentropy, "BCE": BinaryCrossentropy, "mse": MeanSquaredError,
                 "MSE": MeanSquaredError, "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
                 "mape": MeanAbsolutePercentageError, "MAPE": MeanAbsolutePercentageError,
                 "msle": MeanSquaredLogarithmicError, "MSLE": MeanSquaredLogarithmicError})
_ACCURACY = ("accuracy", "acc")


def _known() -> str:
    return ", ".join(sorted({*_METRICS, *_ACCURACY}, key=str.lower))


def check(identifier) -> None:
    """Refuse, at `compile`, what `get` could never resolve (the error lists the known names)."""
    if isinstance(identifier, Metric) or (callable(identifier) and not isinstance(identifier,
                                                                                  str)):
        return
    if isinstance(identifier, str) and (identifier in _METRICS
                                        or identifier.lower() in _ACCURACY):
        return
    raise ValueError(f"Unknown metric {identifier!r}. Known metrics: {_known()} (or a "
                     "tinynn.metrics.Metric object, or a function fn(y_true, y_pred) giving one "
                     "value per sample).")


def get(identifier) -> Metric:
    """A metric object from an object, a name or a function, as `keras.metrics.get` (so
    "accuracy" is `Accuracy`, exact equality; `compile`'s "accuracy" is `for_compile`'s)."""
    check(identifier)
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        return _METRICS[identifier]()
    if inspect.isclass(identifier) and issubclass(identifier, Metric):
        return identifier()
    return MeanMetricWrapper(identifier)


def for_compile(identifier, y_true_shape: tuple, y_pred_shape: tuple) -> Metric:
    """The metric `compile(metrics=[identifier])` means for targets and predictions of these
    shapes, named as Keras names it: a name as written, an object by its own name."""
    if isinstance(identifier, str) and identifier.lower() in _ACCURACY:
        binary = y_pred_shape[-1] == 1
        sparse = len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1
                                                           and y_pred_shape[-1] > 1)
        cls = BinaryAccuracy if binary else SparseCategoricalAccuracy if sparse \
            else CategoricalAccuracy
        return cls(name=identifier)
    metric = get(identifier)
    if isinstance(identifier, str):
        metric.name = identifier
    return metric
