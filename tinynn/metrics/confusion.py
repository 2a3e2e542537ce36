"""Metrics counted from the confusion matrix at thresholds: TruePositives ... FalseNegatives,
Precision, Recall and AUC, as in `keras.metrics`.

At a threshold t a prediction p counts as positive when p > t, and a target as positive when it
is nonzero. Each update adds the (weighted) counts of a batch; results are computed from the
counts, so they are exact over the whole epoch.

With evenly spaced thresholds (AUC's default: 200 of them from 0 to 1) the counts are found as
Keras finds them: predictions clipped to [0, 1] fall into buckets b = ceil(p (T - 1)) - 1, a
weighted histogram of the buckets is summed from the top down (count above threshold i = sum of
buckets >= i). Otherwise each threshold is compared directly.
"""

import numpy as np

from tinynn import activations, config
from tinynn.loss_functions import squeeze_or_expand_to_same_rank
from tinynn.metrics.base import Metric

NEG_INF = -1e10  # Keras's threshold when only the top k predictions may count as positive


def _thresholds(thresholds, default: float) -> list:
    values = [default] if thresholds is None else list(np.atleast_1d(thresholds))
    bad = [t for t in values if t is None or not (0 <= t <= 1)] if thresholds is not None else []
    if bad:
        raise ValueError(f"Threshold values must be in [0, 1]. Received: {bad}")
    return [float(t) for t in values]


def evenly_distributed(thresholds) -> bool:
    """Keras's test: at least 3 thresholds, within eps of i / (T - 1)."""
    t = np.asarray(thresholds, dtype=np.float64)
    if len(t) < 3:
        return False
    even = np.arange(len(t), dtype=np.float32) / (len(t) - 1)
    return bool(np.allclose(t, even, atol=config.epsilon()))


def confusion_counts(y_true, y_pred, thresholds, sample_weight=None, *, dtype,
                     evenly: bool = False, multi_label: bool = False, label_weights=None,
                     top_k: "int | None" = None, class_id: "int | None" = None):
    """Weighted (tp, fp, tn, fn) at each threshold: arrays of shape (T,), or (T, labels) with
    multi_label. y_true and y_pred are matched as Keras matches them; sample_weight is
    broadcast over y_pred's entries; label_weights weight the entries' last axis."""
    P = np.asarray(y_pred).astype(dtype)
    T = np.asarray(y_true).astype(dtype)
    P, T = squeeze_or_expand_to_same_rank(P, T)
    W = np.ones_like(P)
    if sample_weight is not None:
        S = np.asarray(sample_weight, dtype)[..., None]
        W = np.broadcast_to(squeeze_or_expand_to_same_rank(T, S, expand_rank_1=False)[1],
                            P.shape).astype(dtype)
    if top_k is not None:  # keep the k largest of each row, the rest become NEG_INF
        keep = np.zeros(P.shape, bool)
        np.put_along_axis(keep, np.argsort(-P, axis=-1, kind="stable")[..., :top_k], True, -1)
        P = np.where(keep, P, NEG_INF).astype(dtype)
    if class_id is not None:
        if P.ndim == 1:
            raise ValueError("When class_id is provided, y_pred must be a 2D array with shape "
                             f"(num_samples, num_classes), found shape: {P.shape}")
        P, T, W = P[..., class_id, None], T[..., class_id, None], W[..., class_id, None]
    if label_weights is not None and not multi_label:
        W = W * np.broadcast_to(np.asarray(label_weights, dtype), P.shape)
    if multi_label:
        P, T, W = P.reshape(len(P), -1), T.reshape(len(T), -1), W.reshape(len(W), -1)
    else:
        P, T, W = P.reshape(-1, 1), T.reshape(-1, 1), W.reshape(-1, 1)
    positive = T.astype(bool)
    thresholds = np.asarray(thresholds, dtype)
    n = len(thresholds)
    if evenly:
        buckets = np.ceil(np.clip(P, 0, 1) * dtype(n - 1)) - 1
        if thresholds[0] < 0 or thresholds[-1] > 1:  # AUC's -eps and 1 + eps end points
            buckets = np.maximum(buckets, 0)
        buckets = buckets.astype(np.intp)

        def above(mask):  # weighted count of predictions above each threshold, per label
            hist = np.zeros((n, P.shape[1]))
            for j in range(P.shape[1]):
                ok = buckets[:, j] >= 0  # bucket -1 (p = 0 without the -eps end point) drops
                hist[:, j] = np.bincount(buckets[ok, j], (W[:, j] * mask[:, j])[ok], n)
            return np.cumsum(hist[::-1], axis=0)[::-1]

        tp, fp = above(positive), above(~positive)
        tn = (W * ~positive).sum(axis=0, dtype=np.float64) - fp
        fn = (W * positive).sum(axis=0, dtype=np.float64) - tp
    else:
        is_pos = P[None] > thresholds.reshape(-1, 1, 1)  # (T, samples, labels)

        def count(label, pred):
            return np.where(label & pred, W, 0).sum(axis=1, dtype=np.float64)

        tp, fn = count(positive, is_pos), count(positive, ~is_pos)
        fp, tn = count(~positive, is_pos), count(~positive, ~is_pos)
    if not multi_label:
        tp, fp, tn, fn = (a[:, 0] for a in (tp, fp, tn, fn))
    return tp, fp, tn, fn


def _divide(a, b):
    """a / b, 0 where b == 0 (Keras's divide_no_nan)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b != 0)


class _ConfusionMetric(Metric):
    """Counts kept per threshold; subclasses say which counts and how to combine them."""

    _counts: tuple = ("tp", "fp", "tn", "fn")

    def __init__(self, thresholds=None, name=None, dtype=None, top_k=None, class_id=None):
        super().__init__(name, dtype)
        self.init_thresholds, self.top_k, self.class_id = thresholds, top_k, class_id
        self.thresholds = _thresholds(thresholds, 0.5 if top_k is None else NEG_INF)
        self._evenly = evenly_distributed(self.thresholds)
        self.reset_state()

    def reset_state(self) -> None:
        for name in self._counts:
            setattr(self, name, np.zeros(len(self.thresholds)))

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        counts = confusion_counts(y_true, y_pred, self.thresholds, sample_weight,
                                  dtype=np.dtype(self.dtype or config.floatx()).type,
                                  evenly=self._evenly, top_k=self.top_k, class_id=self.class_id)
        for name, value in zip(("tp", "fp", "tn", "fn"), counts, strict=True):
            if name in self._counts:
                setattr(self, name, getattr(self, name) + value)

    def _value(self) -> np.ndarray:
        raise NotImplementedError

    def result(self):
        value = self._value()
        return float(value[0]) if len(self.thresholds) == 1 else value

    def get_config(self) -> dict:
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_ConfusionMetric):
    """The (weighted) number of positive targets predicted positive (p > threshold).

    Args:
        thresholds: a float or a list of floats in [0, 1]; one result per threshold.
            Defaults to 0.5.
        name: Defaults to "true_positives" (numbered: "true_positives_1", ...).
        dtype: Defaults to None.
    """

    _counts = ("tp",)

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(thresholds, name, dtype)

    def _value(self):
        return self.tp


class FalsePositives(TruePositives):
    """The (weighted) number of negative targets predicted positive. Args as TruePositives."""

    _counts = ("fp",)

    def _value(self):
        return self.fp


class TrueNegatives(TruePositives):
    """The (weighted) number of negative targets predicted negative. Args as TruePositives."""

    _counts = ("tn",)

    def _value(self):
        return self.tn


class FalseNegatives(TruePositives):
    """The (weighted) number of positive targets predicted negative. Args as TruePositives."""

    _counts = ("fn",)

    def _value(self):
        return self.fn


class Precision(_ConfusionMetric):
    """tp / (tp + fp): of the predicted positives, the fraction that are positive.

    Args:
        thresholds: a float or a list of floats in [0, 1]. Defaults to 0.5 (or, with top_k,
            -1e10: the top k predictions are the positives).
        top_k: only the k highest predictions of a row may count as positive. Defaults to None.
        class_id: only this class (last-axis index) is counted. Defaults to None.
        name: Defaults to "precision" (numbered).
        dtype: Defaults to None.
    """

    _counts = ("tp", "fp")

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(thresholds, name, dtype, top_k, class_id)

    def _value(self):
        return _divide(self.tp, self.tp + self.fp)

    def get_config(self) -> dict:
        return {**super().get_config(), "top_k": self.top_k, "class_id": self.class_id}


class Recall(Precision):
    """tp / (tp + fn): of the positive targets, the fraction predicted positive. Args as
    Precision (name defaults to "recall")."""

    _counts = ("tp", "fn")

    def _value(self):
        return _divide(self.tp, self.tp + self.fn)


class AUC(Metric):
    """Area under the ROC curve (or the precision-recall curve), from counts at thresholds.

    Thresholds t_0 = -eps < t_1 < ... < t_{T-1} = 1 + eps (evenly spaced in between). With
    rates at each threshold, ROC: x = fp / (fp + tn), y = tp / (tp + fn); PR: x = recall,
    y = precision. The area is sum_i (x_i - x_{i+1}) h_i, with h_i the mean of y_i and y_{i+1}
    ("interpolation"), their minimum ("minoring") or maximum ("majoring"). PR with
    "interpolation" interpolates tp and the predicted positives p = tp + fp linearly between
    thresholds instead (Davis & Goadrich), which integrates to
    sum_i s_i (dtp_i + c_i log(p_i / p_{i+1})) / (tp_{i+1} + fn_{i+1}), s_i = dtp_i / dp_i,
    c_i = tp_{i+1} - s_i p_{i+1}.

    Args:
        num_thresholds: Defaults to 200.
        curve: "ROC", "PR" or "PRGAIN". Defaults to "ROC".
        summation_method: "interpolation", "minoring" or "majoring". Defaults to
            "interpolation".
        name: Defaults to "auc" (numbered).
        dtype: Defaults to None.
        thresholds: explicit thresholds in [0, 1] (the end points are added). Defaults to None.
        multi_label: one AUC per label (last axis), then their mean. Defaults to False.
        num_labels: accepted with multi_label (the counts are shaped on first use anyway).
            Defaults to None.
        label_weights: weights of the labels. Defaults to None.
        from_logits: apply a sigmoid to y_pred first. Defaults to False.
    """

    def __init__(self, num_thresholds: int = 200, curve: str = "ROC",
                 summation_method: str = "interpolation", name=None, dtype=None, thresholds=None,
                 multi_label: bool = False, num_labels=None, label_weights=None,
                 from_logits: bool = False):
        curves = {"roc": "ROC", "pr": "PR", "prgain": "PRGAIN"}
        if str(curve).lower() not in curves or str(curve) not in (*curves, *curves.values()):
            raise ValueError(f'Invalid AUC curve value: "{curve}". Expected values are '
                             '["PR", "ROC", "PRGAIN"]')
        methods = ("interpolation", "majoring", "minoring")
        if str(summation_method).lower() not in methods:
            raise ValueError(f'Invalid AUC summation method value: "{summation_method}". '
                             f"Expected values are {list(methods)}")
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(float(t) for t in thresholds)
            self.num_thresholds = len(inner) + 2
            self._evenly = evenly_distributed([0.0, *inner, 1.0])
        else:
            if num_thresholds <= 1:
                raise ValueError("Argument `num_thresholds` must be an integer > 1. "
                                 f"Received: num_thresholds={num_thresholds}")
            self.num_thresholds = int(num_thresholds)
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._evenly = True
        eps = config.epsilon()
        self.thresholds = [0.0 - eps, *inner, 1.0 + eps]
        self.curve = curves[str(curve).lower()]
        self.summation_method = str(summation_method).lower()
        super().__init__(name, dtype)
        if not multi_label and num_labels:
            raise ValueError("`num_labels` is needed only when `multi_label` is True.")
        self.multi_label, self.num_labels = bool(multi_label), num_labels
        self.label_weights = None if label_weights is None else list(label_weights)
        self.from_logits = bool(from_logits)
        self.reset_state()

    def reset_state(self) -> None:
        self.tp = self.fp = self.tn = self.fn = 0.0  # arrays after the first update

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        P = np.asarray(y_pred)
        if self.multi_label and P.ndim != 2:
            raise ValueError("`y_pred` must have rank 2 when `multi_label=True`. Found rank "
                             f"{P.ndim}. Full shape received for `y_pred`: {P.shape}")
        if self.from_logits:
            P = activations.sigmoid(P)
        counts = confusion_counts(
            y_true, P, self.thresholds, sample_weight,
            dtype=np.dtype(self.dtype or config.floatx()).type, evenly=self._evenly,
            multi_label=self.multi_label,
            label_weights=None if self.multi_label else self.label_weights)
        self.tp, self.fp, self.tn, self.fn = (old + new for old, new in zip(
            (self.tp, self.fp, self.tn, self.fn), counts, strict=True))

    def _by_label(self, areas: np.ndarray) -> float:
        """Sum over thresholds; with multi_label, the (label-weighted) mean over labels."""
        areas = areas.sum(axis=0)
        if not self.multi_label:
            return float(areas)
        if self.label_weights is None:
            return float(np.mean(areas))
        w = np.asarray(self.label_weights, np.float64)
        return float(_divide((areas * w).sum(), w.sum()))

    def _interpolate_pr_auc(self) -> float:
        tp, fp, fn = self.tp, self.fp, self.fn
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _divide(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        ratio = np.where((p[:-1] > 0) & (p[1:] > 0), _divide(p[:-1], np.maximum(p[1:], 0)), 1)
        areas = _divide(slope * (dtp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0))
        return self._by_label(areas)

    def result(self) -> float:
        if np.ndim(self.tp) == 0:
            return 0.0
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc()
        tp, fp, tn, fn = self.tp, self.fp, self.tn, self.fn
        recall = _divide(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, _divide(tp, tp + fp)
        else:  # PRGAIN, with Keras's guards for no true positives and negative gains
            scale = _divide(tp + fn, tn + fp)
            recall_gain = np.where(tp == 0, 0, 1 - scale * _divide(fn, tp))
            x = np.maximum(recall_gain, 0)
            y = np.where(tp == 0, 1, 1 - scale * _divide(fp, tp))
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return self._by_label((x[:-1] - x[1:]) * heights)

    def get_config(self) -> dict:
        config_ = {**super().get_config(), "num_thresholds": self.num_thresholds,
                   "curve": self.curve, "summation_method": self.summation_method,
                   "multi_label": self.multi_label, "num_labels": self.num_labels,
                   "label_weights": self.label_weights, "from_logits": self.from_logits}
        if self._init_from_thresholds:
            config_["thresholds"] = self.thresholds[1:-1]
        return config_
