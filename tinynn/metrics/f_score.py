"""F-scores, as `keras.metrics.FBetaScore` and `keras.metrics.F1Score`: precision and recall
per class, counted over every sample seen, combined into

    F_beta = (1 + beta**2) P R / (beta**2 P + R)

For multi-class (one-hot or probability rows, argmax) and multi-label (each output thresholded)
classification: y_true and y_pred have shape (N, classes).
"""

import numpy as np

from tinynn import config
from tinynn.metrics.base import Metric


class FBetaScore(Metric):
    """The F-beta score of each class (or their average), over every sample seen.

    A prediction row becomes 0/1 per class: with `threshold` None, 1 for the row's largest
    entries (ties all count; not for an entry of 0, |p| <= 1e-9), else p > threshold. Then per
    class, with weights w (default 1),

        TP = sum w pred true,  FP = sum w pred (1 - true),  FN = sum w (1 - pred) true,
        P = TP / (TP + FP + eps),  R = TP / (TP + FN + eps),
        F = (1 + beta**2) P R / (beta**2 P + R + eps)       (eps = 1e-7, as Keras)

    `average`: None gives F per class; "micro" counts TP, FP, FN over all classes first;
    "macro" is the mean of the per-class F; "weighted" their mean weighted by each class's
    (weighted) number of true samples.

    Args:
        average: None, "micro", "macro" or "weighted". Defaults to None.
        beta: how many times recall matters more than precision (a float > 0). Defaults to 1.0.
        threshold: a float in (0, 1], or None for the row's argmax. Defaults to None.
        name: Defaults to "fbeta_score".
        dtype: Defaults to None.
    """

    def __init__(self, average=None, beta: float = 1.0, threshold=None,
                 name: str = "fbeta_score", dtype=None):
        if average not in (None, "micro", "macro", "weighted"):  # Keras's messages
            raise ValueError("Invalid `average` argument value. Expected one of: {None, "
                             f"'micro', 'macro', 'weighted'}}. Received: average={average}")
        if not isinstance(beta, float):
            raise ValueError("Invalid `beta` argument value. It should be a Python float. "
                             f"Received: beta={beta} of type '{type(beta)}'")
        if beta <= 0.0:
            raise ValueError(f"Invalid `beta` argument value. It should be > 0. Received: "
                             f"beta={beta}")
        if threshold is not None and not isinstance(threshold, float):
            raise ValueError("Invalid `threshold` argument value. It should be a Python float. "
                             f"Received: threshold={threshold} of type '{type(threshold)}'")
        if threshold is not None and not 0.0 < threshold <= 1.0:
            raise ValueError("Invalid `threshold` argument value. It should verify "
                             f"0 < threshold <= 1. Received: threshold={threshold}")
        super().__init__(name, dtype)
        self.average, self.beta, self.threshold = average, beta, threshold
        self.reset_state()

    def reset_state(self) -> None:
        self.true_positives = self.false_positives = self.false_negatives = 0.0
        self.intermediate_weights = 0.0
        self._seen = False

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        T, P = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
        if T.ndim != 2 or P.ndim != 2:
            raise ValueError(f"{type(self).__name__} expects 2D inputs with shape (batch_size, "
                             f"output_dim). Received input shapes: y_pred.shape={P.shape} and "
                             f"y_true.shape={T.shape}.")
        if self.threshold is None:
            pred = (P >= P.max(axis=-1, keepdims=True)) & (np.abs(P) > 1e-9)
        else:
            pred = P > self.threshold
        pred = pred.astype(np.float64)
        w = None if sample_weight is None else np.asarray(sample_weight, np.float64)[:, None]
        axis = None if self.average == "micro" else 0

        def weighted_sum(values):
            return np.sum(values if w is None else values * w, axis=axis)

        self.true_positives = self.true_positives + weighted_sum(pred * T)
        self.false_positives = self.false_positives + weighted_sum(pred * (1 - T))
        self.false_negatives = self.false_negatives + weighted_sum((1 - pred) * T)
        self.intermediate_weights = self.intermediate_weights + weighted_sum(T)
        self._seen = True

    def result(self):
        """The score: a float, or one per class for average=None (0.0 before any update)."""
        if not self._seen:
            return 0.0
        eps = config.epsilon()
        tp = np.asarray(self.true_positives, np.float64)
        precision = tp / (tp + self.false_positives + eps)
        recall = tp / (tp + self.false_negatives + eps)
        b2 = self.beta ** 2
        score = precision * recall / (b2 * precision + recall + eps) * (1 + b2)
        if self.average == "weighted":
            weights = self.intermediate_weights / (np.sum(self.intermediate_weights) + eps)
            return float(np.sum(score * weights))
        if self.average is not None:
            return float(np.mean(score))
        return score

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "average": self.average,
                "beta": self.beta, "threshold": self.threshold}


class F1Score(FBetaScore):
    """The F1 score, 2 P R / (P + R): `FBetaScore` with beta = 1 (see there).

    Args:
        average: None, "micro", "macro" or "weighted". Defaults to None.
        threshold: a float in (0, 1], or None for the row's argmax. Defaults to None.
        name: Defaults to "f1_score".
        dtype: Defaults to None.
    """

    def __init__(self, average=None, threshold=None, name: str = "f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["beta"]
        return config
