"""Losses, as in `keras.losses`: each a `Loss` with its per-sample values and its gradient.

A loss object compares targets `y_true` with predictions `y_pred` of shape (N, k):
`call(y_true, y_pred)` gives one value per sample, shape (N,), and `gradient(y_true, y_pred)`
the gradient of their mean with respect to y_pred, shape (N, k). Calling the object,
`loss(y_true, y_pred, sample_weight=None)`, weights and reduces the per-sample values as
Keras's `reduction` says: "sum_over_batch_size" (the default: sum(w * l) / N), "sum",
"mean_with_sample_weight" (sum(w * l) / sum(w)) or "none"/None (the weighted values).

The math is in `tinynn.loss_functions` and re-exported here: the textbook functions
(`softmax_cross_entropy`, `sigmoid_cross_entropy`, ...) and Keras's per-sample functions
(`binary_crossentropy(y_true, y_pred)`, `mean_squared_error`, ...). Probabilities are clipped to
[eps, 1 - eps] (eps = 1e-7) before a log, as Keras clips them; a clipped entry gets gradient 0.
"""

import numpy as np

from tinynn import config
from tinynn.activations import sigmoid
from tinynn.loss_functions import (  # noqa: F401 (re-exported: keras.losses has them)
    as_pair,
    binary_crossentropy,
    categorical_crossentropy,
    categorical_hinge,
    categorical_hinge_rows,
    check_axis,
    clip,
    cosine_similarity,
    cosine_similarity_rows,
    hinge,
    hinge_terms,
    huber,
    huber_terms,
    inside_clip,
    kl_divergence,
    kl_divergence_terms,
    log_cosh,
    log_cosh_terms,
    log_softmax,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_absolute_percentage_error_terms,
    mean_squared_error,
    mean_squared_logarithmic_error,
    mean_squared_logarithmic_error_terms,
    poisson,
    poisson_terms,
    probs_cross_entropy,
    probs_cross_entropy_backward,
    sigmoid_cross_entropy,
    smooth_labels,
    softmax_cross_entropy,
    softmax_cross_entropy_backward,
    sparse_categorical_crossentropy,
    squared_hinge,
    squared_hinge_terms,
    squeeze_or_expand_to_same_rank,
)

# ----- Loss objects ---------------------------------------------------------------------------

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


class Loss:
    """Base class: `call(y_true, y_pred)` gives per-sample losses, `gradient` the gradient of
    their mean w.r.t. y_pred; `loss(y_true, y_pred, sample_weight)` weights and reduces them.

    A subclass defines `call` and `gradient`, and lists its constructor arguments in
    `get_config`. The class attribute `sparse_labels` says what y_true holds, and `fit`
    checks targets by it: True for one integer class index per sample, False for values shaped
    like y_pred; None (undeclared, the default for a loss of one's own) accepts either, integer
    labels of shape (N,) or (N, 1) when the model has more than one output unit.

    Args:
        name: Defaults to the snake_case class name.
        reduction: "sum_over_batch_size", "sum", "mean", "mean_with_sample_weight" or
            "none"/None. Defaults to "sum_over_batch_size".
    """

    sparse_labels: "bool | None" = None

    def __init__(self, name: "str | None" = None, reduction="sum_over_batch_size"):
        if reduction not in REDUCTIONS:
            raise ValueError(f"Invalid value for argument `reduction`. Expected one of "
                             f"{list(REDUCTIONS)}. Received: reduction={reduction!r}")
        self.name = name or "".join("_" + c.lower() if c.isupper() else c
                                    for c in type(self).__name__).lstrip("_")
        self.reduction = reduction

    def call(self, y_true, y_pred) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must define call(y_true, y_pred).")

    def gradient(self, y_true, y_pred) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must define gradient(y_true, y_pred).")

    @staticmethod
    def _per_value_weights(values: np.ndarray, sample_weight):
        """Keras multiplies values by sample_weight with their ranks matched (squeeze or
        expand), then broadcast. Returns (values * weights, W): W, shaped like `values`, is
        d sum(values * weights) / d values (weights summed where they broadcast a value)."""
        V, S = squeeze_or_expand_to_same_rank(values, np.asarray(sample_weight, values.dtype))
        weighted = V * S
        W = np.broadcast_to(S, weighted.shape)
        W = W.sum(axis=tuple(range(W.ndim - V.ndim))) if W.ndim > V.ndim else W
        spread = tuple(i for i, d in enumerate(V.shape) if d == 1 and W.shape[i] > 1)
        return weighted, (W.sum(axis=spread, keepdims=True) if spread else W).reshape(
            values.shape)

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The loss of a batch: the per-sample values times `sample_weight` (default 1),
        reduced as `reduction` says; a float, or an array for reduction "none"/None."""
        P = np.asarray(y_pred)
        values = self.call(y_true, P.astype(config.floatx()) if P.dtype.kind != "f" else P)
        if sample_weight is not None:
            values = self._per_value_weights(values, sample_weight)[0]
        return self.reduce_values(values, sample_weight)

    def reduce_values(self, values: np.ndarray, sample_weight=None):
        """Keras's reduction of (already weighted) per-sample values: their sum, or the sum
        divided by their number ("sum_over_batch_size", "mean") or by sum(sample_weight)
        ("mean_with_sample_weight"); unchanged for "none"/None."""
        if self.reduction in ("none", None) or values.size == 0:
            return values
        if values.ndim == 0:
            return float(values)
        total = values.sum()
        if self.reduction == "sum":
            return float(total)
        if self.reduction == "mean_with_sample_weight" and sample_weight is not None:
            divisor = np.sum(np.asarray(sample_weight, values.dtype))
        else:
            divisor = values.size
        return float(total / divisor) if divisor else 0.0  # divide_no_nan, as Keras

    def sample_weight_factors(self, values: np.ndarray, sample_weight) -> tuple:
        """(c, g), both shaped like `values`: how sample weights w enter this loss and its
        gradient. The weighted loss is the *unweighted* reduction of c * values, and its
        gradient is `gradient` (that of the mean) with sample i's row scaled by g_i:

            "sum_over_batch_size", "mean":  c = w,             g = w      (loss sum(w l) / n)
            "mean_with_sample_weight":      c = n w / sum(w),  g = c      (sum(w l) / sum(w))
            "sum", "none"/None:             c = w,             g = n w    (sum(w l))

        with n the number of values (the batch's samples: Keras divides by them, not by the
        weights, unless the reduction says so) and 0 for c where sum(w) = 0 (divide_no_nan).
        (Weights that broadcast each value to several, shape (n, k), make Keras divide by n k:
        c = k w then.) `fit` keeps c * values as a batch's per-sample losses, so that their
        running mean is Keras's logged loss.
        """
        weighted, W = self._per_value_weights(values, sample_weight)
        n = values.size
        if self.reduction in ("sum", "none", None):
            return W, W * n
        if self.reduction == "mean_with_sample_weight":
            divisor = np.sum(np.asarray(sample_weight, values.dtype))
        else:
            divisor = weighted.size
        if divisor != n:
            W = W * (n / divisor) if divisor else W * 0
        return W, W

    def weighted_gradient(self, y_true, y_pred, sample_weight=None) -> np.ndarray:
        """d loss(y_true, y_pred, sample_weight) / d y_pred, for any reduction (for "none",
        of the sum of the values). Each value l_i depends on its own row of y_pred only, so
        this is `gradient` (the mean's, dl_i / n) with row i scaled by g_i of
        `sample_weight_factors` (n for "sum" without weights)."""
        G = self.gradient(y_true, y_pred)
        mean = self.reduction in ("sum_over_batch_size", "mean", "mean_with_sample_weight")
        if sample_weight is None and mean:
            return G
        values = self.call(y_true, y_pred)
        if sample_weight is None:
            g = np.full(values.shape, values.size, G.dtype)
        else:
            g = self.sample_weight_factors(values, sample_weight)[1]
        return (G * g.reshape(g.shape + (1,) * (G.ndim - g.ndim))).astype(G.dtype, copy=False)

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict) -> "Loss":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.get_config()}>"


class _Regression(Loss):
    """Losses that are a term per entry (`_per_sample(T, P)` gives the terms and their
    derivatives d term / d P), averaged over the last axis per sample (summed when
    `_over_outputs` is "sum")."""

    sparse_labels = False
    _over_outputs = "mean"

    def _per_sample(self, T, P):
        raise NotImplementedError

    def call(self, y_true, y_pred) -> np.ndarray:
        """Per-sample losses, shape (N,)."""
        T, P = as_pair(y_true, y_pred)
        terms = self._per_sample(T, P)[0]
        return np.sum(terms, axis=-1) if self._over_outputs == "sum" else np.mean(terms, axis=-1)

    def gradient(self, y_true, y_pred) -> np.ndarray:
        """d mean-loss / d y_pred: the elementwise derivative / (k N) (/ N when summed), in
        y_pred's shape."""
        T, P = as_pair(y_true, y_pred)
        D = self._per_sample(T, P)[1]
        n = P.size if self._over_outputs == "mean" else np.prod(P.shape[:-1])
        return (D / (n if P.ndim else 1)).reshape(np.shape(y_pred)).astype(P.dtype)


class _RowLoss(Loss):
    """Losses of a whole row of outputs at once: `_rows(T, P)` gives the per-sample values and
    d value_i / d P_i, row by row."""

    sparse_labels = False

    def _rows(self, T, P):
        raise NotImplementedError

    def call(self, y_true, y_pred) -> np.ndarray:
        return self._rows(*as_pair(y_true, y_pred))[0]

    def gradient(self, y_true, y_pred) -> np.ndarray:
        """d mean-loss / d y_pred = the rows' derivatives / N."""
        T, P = as_pair(y_true, y_pred)
        dP = self._rows(T, P)[1]
        n = np.prod(P.shape[:-1]) if P.ndim > 1 else 1
        return (dP / n).reshape(np.shape(y_pred)).astype(P.dtype)


class MeanSquaredError(_Regression):
    """`keras.losses.MeanSquaredError` ("mse"): per sample, the mean over the k outputs.

    Forward:  l_i = (1/k) sum_j (P_ij - T_ij)**2;  L = mean_i l_i.
    Backward: dP = 2 (P - T) / (k N).
    A target (N,) meets a prediction (N, 1) as (N, 1), as in Keras.

    Args:
        reduction: Defaults to "sum_over_batch_size".
        name: Defaults to "mean_squared_error".
    """

    def __init__(self, reduction="sum_over_batch_size", name: str = "mean_squared_error"):
        super().__init__(name, reduction)

    def _per_sample(self, T, P):
        E = P - T
        return np.square(E), 2 * E


class MeanAbsoluteError(_Regression):
    """`keras.losses.MeanAbsoluteError` ("mae").

    Forward:  l_i = (1/k) sum_j |P_ij - T_ij|;  L = mean_i l_i.
    Backward: dP = sign(P - T) / (k N)  (0 where P = T, as TensorFlow's).

    Args:
        reduction: Defaults to "sum_over_batch_size".
        name: Defaults to "mean_absolute_error".
    """

    def __init__(self, reduction="sum_over_batch_size", name: str = "mean_absolute_error"):
        super().__init__(name, reduction)

    def _per_sample(self, T, P):
        E = P - T
        return np.abs(E), np.sign(E)


class Huber(_Regression):
    """`keras.losses.Huber`: quadratic for small errors, linear for large ones.

    Forward:  for e = P - T: h(e) = e**2 / 2 if |e| <= delta else delta |e| - delta**2 / 2;
              l_i = (1/k) sum_j h(e_ij);  L = mean_i l_i.
    Backward: dP = h'(e) / (k N), h'(e) = e if |e| <= delta else delta sign(e).

    Args:
        delta: where the quadratic becomes linear. Defaults to 1.0.
        reduction: Defaults to "sum_over_batch_size".
        name: Defaults to "huber_loss".
    """

    def __init__(self, delta: float = 1.0, reduction="sum_over_batch_size",
                 name: str = "huber_loss"):
        super().__init__(name, reduction)
        self.delta = float(delta)

    def get_config(self) -> dict:
        return {**super().get_config(), "delta": self.delta}

    def _per_sample(self, T, P):
        return huber_terms(P - T, self.delta)


class MeanAbsolutePercentageError(_Regression):
    """`keras.losses.MeanAbsolutePercentageError` ("mape"): the error as a percentage of the
    target.

    Forward:  l_i = (100/k) sum_j |T_ij - P_ij| / max(|T_ij|, eps);  L = mean_i l_i.
    Backward: dP = 100 sign(P - T) / max(|T|, eps) / (k N).
    A target near 0 makes the loss huge (the eps floor keeps it finite).

    Args:
        reduction: Defaults to "sum_over_batch_size".
        name: Defaults to "mean_absolute_percentage_error".
    """

    def __init__(self, reduction="sum_over_batch_size",
                 name: str = "mean_absolute_percentage_error"):
        super().__init__(name, reduction)

    def _per_sample(self, T, P):
        return mean_absolute_percentage_error_terms(T, P)


class MeanSquaredLogarithmicError(_Regression):
    """`keras.losses.MeanSquaredLogarithmicError` ("msle"): the squared error of log(1 + y),
    for positive targets spanning orders of magnitude.

    Forward:  d_ij = log(max(P_ij, eps) + 1) - log(max(T_ij, eps) + 1);
              l_i = (1/k) sum_j d_ij**2;  L = mean_i l_i   (eps a float32 1e-7, as Keras).
    Backward: dP = 2 d / (max(P, eps) + 1) / (k N) where P >= eps, else 0.

    Args:
        reduction: Defaults to "sum_over_batch_size".
        name: Defaults to "mean_squared_logarithmic_error".
    """

    def __init__(self, reduction="sum_over_batch_size",
                 name: str = "mean_squared_logarithmic_error"):
        super().__init__(name, reduction)

    def _per_sample(self, T, P):
        return mean_squared_logarithmic_error_terms(T, P)


class LogCosh(_Regression):
    """`keras.losses.LogCosh`: about e**2 / 2 for small errors e = P - T, |e| - log 2 for large
    ones (like Huber, but smooth everywhere).

    Forward:  l_i = (1/k) sum_j log cosh(e_ij), as e + softplus(-2 e) - log 2;  L = mean_i l_i.
    Backward: dP = tanh(e) / (k N).

    Args:
        reduction: Defaults to "sum_over_batch_size".
        name: Defaults to "log_cosh".
    """

    def __init__(self, reduction="sum_over_batch_size", name: str = "log_cosh"):
        super().__init__(name, reduction)

    def _per_sample(self, T, P):
        return log_cosh_terms(T, P)


class Poisson(_Regression):
    """`keras.losses.Poisson`: the negative log-likelihood of counts T under a Poisson rate P
    (up to a term constant in P).

    Forward:  l_i = (1/k) sum_j (P_ij - T_ij log(P_ij + eps));  L = mean_i l_i.
    Backward: dP = (1 - T / (P + eps)) / (k N).

    Args:
        reduction: Defaults to "sum_over_batch_size".
        name: Defaults to "poisson".
    """

    def __init__(self, reduction="sum_over_batch_size", name: str = "poisson"):
        super().__init__(name, reduction)

    def _per_sample(self, T, P):
        return poisson_terms(T, P)


class KLDivergence(_Regression):
    """`keras.losses.KLDivergence` ("kld"): KL(T || P) of two distributions over the last axis.

    Forward:  T', P' = clip(T, eps, 1), clip(P, eps, 1);
              l_i = sum_j T'_ij log(T'_ij / P'_ij)  (a sum over the k outputs, not a mean);
              L = mean_i l_i.
    Backward: dP = -T' / P' / N where eps <= P <= 1, else 0.

    Args:
        reduction: Defaults to "sum_over_batch_size".
        name: Defaults to "kl_divergence".
    """

    _over_outputs = "sum"

    def __init__(self, reduction="sum_over_batch_size", name: str = "kl_divergence"):
        super().__init__(name, reduction)

    def _per_sample(self, T, P):
        return kl_divergence_terms(T, P)


class Hinge(_Regression):
    """`keras.losses.Hinge`: the SVM's loss for targets -1/1 (a batch of 0/1 targets is
    turned into -1/1 first, as Keras does).

    Forward:  t = 2 T - 1 if every target is 0 or 1, else T;
              l_i = (1/k) sum_j max(1 - t_ij P_ij, 0);  L = mean_i l_i.
    Backward: dP = -t / (k N) where 1 - t P >= 0, else 0.

    Args:
        reduction: Defaults to "sum_over_batch_size".
        name: Defaults to "hinge".
    """

    def __init__(self, reduction="sum_over_batch_size", name: str = "hinge"):
        super().__init__(name, reduction)

    def _per_sample(self, T, P):
        return hinge_terms(T, P)


class SquaredHinge(_Regression):
    """`keras.losses.SquaredHinge`: the hinge loss squared (targets as in `Hinge`).

    Forward:  l_i = (1/k) sum_j max(1 - t_ij P_ij, 0)**2;  L = mean_i l_i.
    Backward: dP = -2 t max(1 - t P, 0) / (k N).

    Args:
        reduction: Defaults to "sum_over_batch_size".
        name: Defaults to "squared_hinge".
    """

    def __init__(self, reduction="sum_over_batch_size", name: str = "squared_hinge"):
        super().__init__(name, reduction)

    def _per_sample(self, T, P):
        return squared_hinge_terms(T, P)


class CategoricalHinge(_RowLoss):
    """`keras.losses.CategoricalHinge`: a multi-class hinge for one-hot targets T.

    Forward:  pos_i = sum_j T_ij P_ij,  neg_i = max_j (1 - T_ij) P_ij;
              l_i = max(neg_i - pos_i + 1, 0);  L = mean_i l_i.
    Backward: where neg - pos + 1 >= 0: dP = (-T + (1 - T) [j at the max] / #ties) / N.

    Args:
        reduction: Defaults to "sum_over_batch_size".
        name: Defaults to "categorical_hinge".
    """

    def __init__(self, reduction="sum_over_batch_size", name: str = "categorical_hinge"):
        super().__init__(name, reduction)

    def _rows(self, T, P):
        return categorical_hinge_rows(T, P)


class CosineSimilarity(_RowLoss):
    """`keras.losses.CosineSimilarity`: minus the cosine of the angle between each target row
    and prediction row (-1 when they point the same way; 0 for orthogonal or zero rows).

    Forward:  t_hat = T / |T|, p_hat = P / |P| (norms floored at eps);
              l_i = -sum_j t_hat_ij p_hat_ij;  L = mean_i l_i.
    Backward: with r = 1 / |p|:  dp = (-r t_hat + r**3 (t_hat . p) p) / N.
    (Keras's config of this loss does not keep `axis`; tinynn takes the last axis only.)

    Args:
        axis: only -1. Defaults to -1.
        reduction: Defaults to "sum_over_batch_size".
        name: Defaults to "cosine_similarity".
    """

    def __init__(self, axis: int = -1, reduction="sum_over_batch_size",
                 name: str = "cosine_similarity"):
        check_axis(axis, "CosineSimilarity")
        super().__init__(name, reduction)
        self.axis = axis

    def _rows(self, T, P):
        return cosine_similarity_rows(T, P)


class BinaryCrossentropy(Loss):
    """`keras.losses.BinaryCrossentropy`: one independent yes/no per output unit.

    Forward, targets T smoothed to T' = T (1 - s) + s / 2, k output units:
        from probabilities P:  C = clip(P, eps, 1 - eps),
                               l_i = -(1/k) sum_j T'_ij log C_ij + (1 - T'_ij) log(1 - C_ij)
        from logits Z:         l_i = (1/k) sum_j max(Z, 0) - Z T' + log(1 + exp(-|Z|))
    Backward (of L = mean_i l_i):
        from probabilities:    dP = (-T' / C + (1 - T') / (1 - C)) / (k N)  (0 where clipped)
        from logits:           dZ = (sigmoid(Z) - T') / (k N)
    A target (N,) meets a prediction (N, 1) as (N, 1), as in Keras.

    Args:
        from_logits: whether predictions are logits rather than probabilities. Defaults to
            False.
        label_smoothing: s in [0, 1], squeezing targets towards 0.5. Defaults to 0.
        axis: only -1. Defaults to -1.
        reduction: Defaults to "sum_over_batch_size".
        name: Defaults to "binary_crossentropy".
    """

    sparse_labels = False

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction="sum_over_batch_size", name: str = "binary_crossentropy"):
        super().__init__(name, reduction)
        check_axis(axis, "BinaryCrossentropy")
        self.from_logits, self.label_smoothing, self.axis = bool(from_logits), label_smoothing, -1

    def get_config(self) -> dict:
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}

    def call(self, y_true, y_pred) -> np.ndarray:
        """Per-sample losses, shape (N,)."""
        T, P = as_pair(y_true, y_pred)
        return binary_crossentropy(T, P, self.from_logits, self.label_smoothing)

    def gradient(self, y_true, y_pred) -> np.ndarray:
        """d mean-loss / d y_pred, in y_pred's shape."""
        T, P = as_pair(y_true, y_pred)
        if self.label_smoothing:
            T = T * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        if self.from_logits:
            D = sigmoid(P) - T
        else:
            C = clip(P)
            D = np.where(inside_clip(P), -T / C + (1 - T) / (1 - C), 0)
        return (D / P.size).reshape(np.shape(y_pred)).astype(P.dtype, copy=False)


class CategoricalCrossentropy(Loss):
    """`keras.losses.CategoricalCrossentropy`: one-hot (or probability) targets T (N, C).

    Forward, targets smoothed to T' = T (1 - s) + s / C:
        from logits Z:         l_i = -sum_j T'_ij log softmax(Z_i)_j
        from probabilities P:  Q = P / rowsum(P), C = clip(Q, eps, 1 - eps),
                               l_i = -sum_j T'_ij log C_ij
    Backward (of L = mean_i l_i), with t_i = sum_j T'_ij (1 for one-hot targets):
        from logits:           dZ = (t_i softmax(Z_i) - T'_i) / N
        from probabilities:    g = -T' / C (0 where clipped), dP = (g - rowsum(g Q)) / (rowsum(P) N)
    By default TensorFlow's fused kernel gives (softmax(Z) - T') / N from logits, which assumes
    t_i = 1 (with op determinism enabled it gives the derivative above); the two differ only
    for targets whose rows do not sum to 1.

    Args:
        from_logits: whether predictions are logits rather than probabilities. Defaults to
            False.
        label_smoothing: s in [0, 1]. Defaults to 0.
        axis: only -1. Defaults to -1.
        reduction: Defaults to "sum_over_batch_size".
        name: Defaults to "categorical_crossentropy".
    """

    sparse_labels = False

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction="sum_over_batch_size", name: str = "categorical_crossentropy"):
        super().__init__(name, reduction)
        check_axis(axis, "CategoricalCrossentropy")
        self.from_logits, self.label_smoothing, self.axis = bool(from_logits), label_smoothing, -1

    def get_config(self) -> dict:
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}

    def call(self, y_true, y_pred) -> np.ndarray:
        """Per-sample losses, shape (N,)."""
        T, P = as_pair(y_true, y_pred)
        return categorical_crossentropy(T, P, self.from_logits, self.label_smoothing)

    def gradient(self, y_true, y_pred) -> np.ndarray:
        """d mean-loss / d y_pred, shape (N, C)."""
        T, P = as_pair(y_true, y_pred)
        T = smooth_labels(T, self.label_smoothing)
        n = max(P.size // P.shape[-1], 1)
        if self.from_logits:
            D = T.sum(axis=-1, keepdims=True) * np.exp(log_softmax(P)) - T
        else:
            S = P.sum(axis=-1, keepdims=True)
            Q = P / S
            G = np.where(inside_clip(Q), -T / clip(Q), 0)
            D = (G - (G * Q).sum(axis=-1, keepdims=True)) / S
        return (D / n).reshape(np.shape(y_pred)).astype(P.dtype, copy=False)


class SparseCategoricalCrossentropy(Loss):
    """`keras.losses.SparseCategoricalCrossentropy`: integer labels, the mean of the per-sample
    losses.

    Forward, for N samples with labels y_i:
        from logits Z:         L = mean_i (logsumexp(Z_i) - Z_i[y_i])
        from probabilities P:  L = mean_i -log(P_i[y_i] / s_i),   s_i = sum_j P_ij (1 for softmax)
    Backward (`gradient`):
        from logits:           dZ = (softmax(Z) - onehot(y)) / N
        from probabilities:    dP_ij = (1 / s_i - [j = y_i] / P_ij) / N
    (probabilities are clipped to [1e-7, 1 - 1e-7] like Keras; a clipped entry gets gradient 0).

    Args:
        from_logits: whether predictions are logits rather than probabilities. Defaults to False.
        reduction: Defaults to "sum_over_batch_size".
        name: Defaults to "sparse_categorical_crossentropy".
    """

    sparse_labels = True

    def __init__(self, from_logits: bool = False, reduction="sum_over_batch_size",
                 name: str = "sparse_categorical_crossentropy"):
        super().__init__(name, reduction)
        self.from_logits = bool(from_logits)

    def get_config(self) -> dict:
        return {**super().get_config(), "from_logits": self.from_logits}

    def call(self, y_true, y_pred) -> np.ndarray:
        """Per-sample losses, shape (N,)."""
        return sparse_categorical_crossentropy(y_true, y_pred, from_logits=self.from_logits)

    def gradient(self, y_true, y_pred) -> np.ndarray:
        """d mean-loss / d y_pred, shape (N, C)."""
        y = np.asarray(y_true).reshape(-1)
        if self.from_logits:
            return softmax_cross_entropy_backward(y_pred, y)
        return probs_cross_entropy_backward(y_pred, y)


# Keras's names: the classes', the functions' and its short aliases.
_LOSSES = {
    "binary_crossentropy": BinaryCrossentropy, "bce": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError, "huber": Huber,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mape": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "msle": MeanSquaredLogarithmicError,
    "log_cosh": LogCosh, "poisson": Poisson, "kl_divergence": KLDivergence, "kld": KLDivergence,
    "hinge": Hinge, "squared_hinge": SquaredHinge, "categorical_hinge": CategoricalHinge,
    "cosine_similarity": CosineSimilarity,
}
_LOSSES.update({name.upper(): cls for name, cls in list(_LOSSES.items()) if len(name) <= 4})
_LOSSES.update({cls.__name__: cls for cls in set(_LOSSES.values())})
_FUNCTIONS = {binary_crossentropy: BinaryCrossentropy,
              categorical_crossentropy: CategoricalCrossentropy,
              sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
              mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError,
              huber: Huber, mean_absolute_percentage_error: MeanAbsolutePercentageError,
              mean_squared_logarithmic_error: MeanSquaredLogarithmicError, log_cosh: LogCosh,
              poisson: Poisson, kl_divergence: KLDivergence, hinge: Hinge,
              squared_hinge: SquaredHinge, categorical_hinge: CategoricalHinge,
              cosine_similarity: CosineSimilarity}


def get(identifier) -> Loss:
    """Resolve a loss given as a loss object, a name ("mse", "binary_crossentropy",
    "BinaryCrossentropy", ...) or one of this module's loss functions."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier) and identifier in _FUNCTIONS:
        return _FUNCTIONS[identifier]()
    if isinstance(identifier, str) and identifier in _LOSSES:
        return _LOSSES[identifier]()
    raise ValueError(
        f"Unknown loss {identifier!r}. Known losses: {', '.join(sorted(_LOSSES))} "
        "(or a tinynn.losses.Loss object, e.g. tinynn.losses.BinaryCrossentropy(from_logits="
        "True)). A plain Python function cannot be a loss here: tinynn needs its gradient, so "
        "write a Loss subclass with call() and gradient()."
    )
