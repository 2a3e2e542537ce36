"""The math of tinynn's losses, as pure functions: cross-entropy on logits and on
probabilities with their gradients, Keras's rule matching target and prediction ranks, and the
per-sample loss functions of `keras.losses` (`binary_crossentropy(y_true, y_pred)`, ...).
`tinynn.losses` builds the `Loss` classes on them and re-exports them.

Probabilities are clipped to [eps, 1 - eps] (eps = 1e-7) before a log, as Keras clips them; a
clipped entry gets gradient 0.
"""

import warnings

import numpy as np

from tinynn import config

# ----- the math: cross-entropy on logits Z and on probabilities P -----------------------------

def log_softmax(Z: np.ndarray) -> np.ndarray:
    """log softmax(Z) = Z - logsumexp(Z), shifted by the row max so exp never overflows."""
    S = Z - Z.max(axis=-1, keepdims=True)
    return S - np.log(np.exp(S).sum(axis=-1, keepdims=True))


def _rows(y: np.ndarray):
    return np.arange(y.shape[0]), y.astype(np.intp, copy=False)


def softmax_cross_entropy(Z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-sample loss from logits: l_i = logsumexp(Z_i) - Z_i[y_i].  Z (N, C), y (N,) -> (N,)."""
    return -log_softmax(Z)[_rows(y)]


def softmax_cross_entropy_backward(Z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Gradient of the mean loss w.r.t. the logits: dZ = (softmax(Z) - onehot(y)) / N."""
    dZ = np.exp(log_softmax(Z))
    dZ[_rows(y)] -= 1
    return dZ / Z.shape[0]


def clip(P: np.ndarray) -> np.ndarray:
    """Keras's treatment of probabilities: clip to [eps, 1 - eps] (no renormalisation first)."""
    eps = config.epsilon()
    return np.clip(P, eps, 1 - eps)


def inside_clip(P: np.ndarray) -> np.ndarray:
    """Where the clip lets the gradient through: eps <= P <= 1 - eps, bounds included, as TF's."""
    eps = config.epsilon()
    return (P >= eps) & (P <= 1 - eps)


def probs_cross_entropy(P: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-sample loss from probabilities, exactly as Keras's sparse cross-entropy:
    L = log(clip(P, eps, 1 - eps)), then the cross-entropy of the logits L, i.e.
    l_i = -log(clip(P)_iy / sum_k clip(P)_ik) (= -log p_y for a row summing to 1, unclipped)."""
    return softmax_cross_entropy(np.log(clip(P)), y)


def probs_cross_entropy_backward(P: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Gradient of the mean `probs_cross_entropy` w.r.t. P, by the chain rule through its steps:
    dL = (softmax(L) - onehot(y)) / N; through the log dC = dL / C with C = clip(P); through
    the clip dP = dC where eps <= P <= 1 - eps (bounds included, as TensorFlow's), else 0."""
    C = clip(P)
    dL = softmax_cross_entropy_backward(np.log(C), y)
    return np.where(inside_clip(P), dL / C, 0).astype(P.dtype, copy=False)


def sigmoid_cross_entropy(Z: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Elementwise -T log s(Z) - (1 - T) log(1 - s(Z)), s the sigmoid, computed stably as
    max(Z, 0) - Z T + log(1 + exp(-|Z|)) (TensorFlow's sigmoid_cross_entropy_with_logits).
    Its derivative is s(Z) - T."""
    return np.maximum(Z, 0) - Z * T + np.log1p(np.exp(-np.abs(Z)))


# ----- Keras's shape rule and its functions ---------------------------------------------------

def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1: bool = True):
    """Keras's rule for targets and predictions whose ranks differ by one: the one with a last
    axis of size 1 loses it, except that a 1-D partner gains one instead (expand_rank_1), so
    y_true (N,) meets y_pred (N, 1) as (N, 1)."""
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        return (x1, x2[..., None]) if x2.ndim == 1 and expand_rank_1 else (x1[..., 0], x2)
    if x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        return (x1[..., None], x2) if x1.ndim == 1 and expand_rank_1 else (x1, x2[..., 0])
    return x1, x2


def as_pair(y_true, y_pred, squeeze: bool = True):
    """(y_true, y_pred) as arrays of y_pred's float dtype, ranks matched as Keras matches them."""
    P = np.asarray(y_pred)
    if P.dtype.kind != "f":
        P = P.astype(config.floatx())
    T = np.asarray(y_true).astype(P.dtype, copy=False)
    return squeeze_or_expand_to_same_rank(T, P) if squeeze else (T, P)


def check_same_shape(T, P, name: str) -> None:
    """Keras's check in its cross-entropy functions: the shapes must be equal."""
    if T.shape != P.shape:
        raise ValueError(f"{name} expects y_true and y_pred of the same shape, got y_true "
                         f"{T.shape} and y_pred {P.shape}.")


def mean_squared_error(y_true, y_pred) -> np.ndarray:
    """Per-sample mean((y_true - y_pred)**2, axis=-1), as `keras.losses.mean_squared_error`."""
    T, P = as_pair(y_true, y_pred)
    return np.mean(np.square(T - P), axis=-1)


def mean_absolute_error(y_true, y_pred) -> np.ndarray:
    """Per-sample mean(|y_true - y_pred|, axis=-1), as `keras.losses.mean_absolute_error`."""
    T, P = as_pair(y_true, y_pred)
    return np.mean(np.abs(T - P), axis=-1)


def huber_terms(E: np.ndarray, delta: float):
    """Elementwise Huber loss of errors E, and its derivative."""
    A = np.abs(E)
    d = np.asarray(delta, E.dtype)
    quadratic = A <= d
    half = np.asarray(0.5, E.dtype)
    values = np.where(quadratic, half * np.square(E), d * A - half * np.square(d))
    return values, np.where(quadratic, E, d * np.sign(E))


def huber(y_true, y_pred, delta: float = 1.0) -> np.ndarray:
    """Per-sample Huber loss, as `keras.losses.huber`: for each error e = y_pred - y_true,
    e**2 / 2 where |e| <= delta, else delta * |e| - delta**2 / 2; then the mean over the last
    axis."""
    T, P = as_pair(y_true, y_pred)
    return np.mean(huber_terms(P - T, delta)[0], axis=-1)


def binary_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0,
                        axis: int = -1) -> np.ndarray:
    """Per-sample binary cross-entropy, as `keras.losses.binary_crossentropy`: targets smoothed
    to t (1 - s) + s / 2, the elementwise cross-entropy, then the mean over the last axis.
    y_true and y_pred must have the same shape (the `BinaryCrossentropy` class matches
    (N,) with (N, 1) first, this function does not, as in Keras)."""
    check_axis(axis, "binary_crossentropy")
    T, P = as_pair(y_true, y_pred, squeeze=False)
    check_same_shape(T, P, "binary_crossentropy")
    if label_smoothing:
        T = T * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        return np.mean(sigmoid_cross_entropy(P, T), axis=-1)
    C = clip(P)
    return np.mean(-(T * np.log(C) + (1 - T) * np.log(1 - C)), axis=-1)


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False,
                             label_smoothing: float = 0.0, axis: int = -1) -> np.ndarray:
    """Per-sample categorical cross-entropy, as `keras.losses.categorical_crossentropy`:
    targets smoothed to t (1 - s) + s / C, then from logits -sum_j t_j log softmax(Z)_j, from
    probabilities -sum_j t_j log clip(P_j / sum_k P_k) (Keras normalises the rows first, unlike
    the sparse loss)."""
    check_axis(axis, "categorical_crossentropy")
    T, P = as_pair(y_true, y_pred, squeeze=False)
    check_same_shape(T, P, "categorical_crossentropy")
    if P.shape[-1] == 1:
        warnings.warn("In loss categorical_crossentropy, expected y_pred.shape to be "
                      f"(batch_size, num_classes) with num_classes > 1. Received: y_pred.shape="
                      f"{P.shape}. Consider using 'binary_crossentropy' if you only have 2 "
                      "classes.", SyntaxWarning, stacklevel=2)
    T = smooth_labels(T, label_smoothing)
    if from_logits:
        return -np.sum(T * log_softmax(P), axis=-1)
    return -np.sum(T * np.log(clip(P / P.sum(axis=-1, keepdims=True))), axis=-1)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False,
                                    axis: int = -1) -> np.ndarray:
    """Per-sample loss, as `keras.losses.sparse_categorical_crossentropy`.

    Args:
        y_true: integer labels, shape (N,) or (N, 1).
        y_pred: probabilities (or logits when from_logits=True), shape (N, C).
        from_logits: whether y_pred are logits. Defaults to False.
    """
    check_axis(axis, "sparse_categorical_crossentropy")
    y = np.asarray(y_true).reshape(-1)
    P = np.asarray(y_pred)
    return softmax_cross_entropy(P, y) if from_logits else probs_cross_entropy(P, y)


def smooth_labels(T, label_smoothing):
    """Categorical label smoothing: T (1 - s) + s / C, C the number of classes."""
    return T * (1.0 - label_smoothing) + label_smoothing / T.shape[-1] if label_smoothing else T


def check_axis(axis, name):
    """tinynn's cross-entropies take the classes on the last axis only."""
    if axis != -1:
        raise ValueError(f"{name} supports only axis=-1 (the class axis), got axis={axis!r}.")


# ----- the other losses of keras.losses: elementwise terms with their derivatives -------------
#
# Each `*_terms(T, P)` gives the loss of every entry and its derivative d term / d P, both in
# P's shape; the Keras function of the same name reduces the terms over the last axis. As in
# Keras, `poisson`, `kl_divergence` and the hinge functions do not match the ranks of y_true
# and y_pred (a target (N,) against (N, 1) broadcasts to (N, N) there too); the loss classes
# do, as Keras's `LossFunctionWrapper` does.

def keras_epsilon32(dtype) -> np.ndarray:
    """`ops.convert_to_tensor(backend.epsilon())` without a dtype: a float32 1e-7
    (1.0000000116860974e-07), then cast to the predictions' dtype, as Keras's MSLE uses it."""
    return np.asarray(np.float32(config.epsilon()), dtype)


def mean_absolute_percentage_error_terms(T: np.ndarray, P: np.ndarray):
    """100 |T - P| / max(|T|, eps) and its derivative 100 sign(P - T) / max(|T|, eps)."""
    D = np.maximum(np.abs(T), np.asarray(config.epsilon(), P.dtype))
    return 100.0 * np.abs((T - P) / D), 100.0 * np.sign(P - T) / D


def mean_squared_logarithmic_error_terms(T: np.ndarray, P: np.ndarray):
    """(log(max(P, eps) + 1) - log(max(T, eps) + 1))**2, eps a float32 1e-7 as in Keras; the
    derivative 2 (difference) / (max(P, eps) + 1) where P >= eps (TensorFlow's maximum passes
    the gradient to its first argument on ties), else 0."""
    eps = keras_epsilon32(P.dtype)
    Pc = np.maximum(P, eps)
    E = np.log(Pc + 1.0) - np.log(np.maximum(T, eps) + 1.0)
    return np.square(E), np.where(P >= eps, 2 * E / (Pc + 1.0), 0.0)


def log_cosh_terms(T: np.ndarray, P: np.ndarray):
    """log cosh(e) for e = P - T, computed as Keras does, e + softplus(-2 e) - log 2 (no
    overflow for large |e|; log 2 rounded to float32 as Keras computes it, also in float64,
    so a float64 LogCosh is 1.9e-9 above the exact value at e = 0); its derivative
    1 - 2 sigmoid(-2 e) (= tanh(e), in the form TensorFlow's gradient of softplus takes, so the
    two agree where e is tiny)."""
    E = P - T
    log2 = np.asarray(np.log(np.float32(2.0)), P.dtype)  # Keras's ops.log(2.0): a float32
    sigmoid_minus_2e = np.exp(-np.logaddexp(0, 2.0 * E))  # 1 / (1 + exp(2 e)), no overflow
    return E + np.logaddexp(0, -2.0 * E) - log2, 1.0 - 2.0 * sigmoid_minus_2e


def poisson_terms(T: np.ndarray, P: np.ndarray):
    """P - T log(P + eps) and its derivative 1 - T / (P + eps)."""
    eps = np.asarray(config.epsilon(), P.dtype)
    return P - T * np.log(P + eps), 1.0 - T / (P + eps)


def kl_divergence_terms(T: np.ndarray, P: np.ndarray):
    """T' log(T' / P') with T', P' clipped to [eps, 1]; the derivative -T' / P' where
    eps <= P <= 1 (the clip passes the gradient inside its bounds, bounds included), else 0."""
    eps = config.epsilon()
    Tc, Pc = np.clip(T, eps, 1.0), np.clip(P, eps, 1.0)
    return Tc * np.log(Tc / Pc), np.where((P >= eps) & (P <= 1.0), -Tc / Pc, 0.0)


def hinge_labels(T: np.ndarray) -> np.ndarray:
    """Keras's `convert_binary_labels_to_hinge`: when every target of the batch is 0 or 1,
    they become -1 and 1 (2 T - 1); other targets (already -1/1) are left as they are."""
    return 2.0 * T - 1.0 if np.all((T == 0) | (T == 1)) else T


def hinge_terms(T: np.ndarray, P: np.ndarray):
    """max(1 - t P, 0) with t = hinge_labels(T); the derivative -t where 1 - t P >= 0 (ties
    go to the first argument of TensorFlow's maximum), else 0."""
    t = hinge_labels(T)
    M = 1.0 - t * P
    return np.maximum(M, 0.0), np.where(M >= 0, -t, 0.0)


def squared_hinge_terms(T: np.ndarray, P: np.ndarray):
    """max(1 - t P, 0)**2 and its derivative -2 t max(1 - t P, 0)."""
    t = hinge_labels(T)
    M = np.maximum(1.0 - t * P, 0.0)
    return np.square(M), -2.0 * t * M


def _reduce_last(terms, over: str) -> np.ndarray:
    return np.sum(terms, axis=-1) if over == "sum" else np.mean(terms, axis=-1)


def mean_absolute_percentage_error(y_true, y_pred) -> np.ndarray:
    """Per-sample 100 mean(|y_true - y_pred| / max(|y_true|, eps)), as Keras's."""
    return _reduce_last(mean_absolute_percentage_error_terms(*as_pair(y_true, y_pred))[0], "mean")


def mean_squared_logarithmic_error(y_true, y_pred) -> np.ndarray:
    """Per-sample mean((log(y_pred + 1) - log(y_true + 1))**2), both floored at eps."""
    return _reduce_last(mean_squared_logarithmic_error_terms(*as_pair(y_true, y_pred))[0], "mean")


def log_cosh(y_true, y_pred) -> np.ndarray:
    """Per-sample mean(log(cosh(y_pred - y_true))), as `keras.losses.log_cosh`."""
    return _reduce_last(log_cosh_terms(*as_pair(y_true, y_pred))[0], "mean")


def poisson(y_true, y_pred) -> np.ndarray:
    """Per-sample mean(y_pred - y_true log(y_pred + eps)), as `keras.losses.poisson`."""
    return _reduce_last(poisson_terms(*as_pair(y_true, y_pred, squeeze=False))[0], "mean")


def kl_divergence(y_true, y_pred) -> np.ndarray:
    """Per-sample sum(y_true log(y_true / y_pred)), both clipped to [eps, 1], as Keras's."""
    return _reduce_last(kl_divergence_terms(*as_pair(y_true, y_pred, squeeze=False))[0], "sum")


def hinge(y_true, y_pred) -> np.ndarray:
    """Per-sample mean(max(1 - t y_pred, 0)), 0/1 targets t turned into -1/1 (see
    `hinge_labels`), as `keras.losses.hinge`."""
    return _reduce_last(hinge_terms(*as_pair(y_true, y_pred, squeeze=False))[0], "mean")


def squared_hinge(y_true, y_pred) -> np.ndarray:
    """Per-sample mean(max(1 - t y_pred, 0)**2), as `keras.losses.squared_hinge`."""
    return _reduce_last(squared_hinge_terms(*as_pair(y_true, y_pred, squeeze=False))[0], "mean")


# ----- losses of whole rows: cosine similarity, categorical hinge -----------------------------

def l2_normalize(X: np.ndarray):
    """Keras's `ops.normalize(X, axis=-1)`: X * min(1 / sqrt(sum X**2), 1 / eps) per row; also
    returns the factor r and where it is the norm's (not the 1 / eps floor)."""
    R = 1.0 / np.sqrt(np.sum(np.square(X), axis=-1, keepdims=True))  # inf for a zero row
    cap = np.asarray(1.0 / config.epsilon(), X.dtype)
    by_norm = R <= cap
    R = np.minimum(R, cap)
    return X * R, R, by_norm


def cosine_similarity_rows(T: np.ndarray, P: np.ndarray):
    """Per-sample -sum(t_hat p_hat) (t_hat, p_hat the rows normalized by `l2_normalize`) and
    its derivative. With r = 1 / |p| and p_hat = r p:  d/dp = -r t_hat + r**3 (t_hat . p) p;
    where the row's norm is below eps the factor is the constant 1 / eps: d/dp = -t_hat / eps."""
    T_hat = l2_normalize(T)[0]
    P_hat, R, by_norm = l2_normalize(P)
    values = -np.sum(T_hat * P_hat, axis=-1)
    dot = np.sum(T_hat * P, axis=-1, keepdims=True)
    R = np.where(by_norm, R, 0)  # 0 * inf is avoided for zero rows: they take the other branch
    dP = np.where(by_norm, -R * T_hat + R**3 * dot * P, -T_hat / config.epsilon())
    return values, dP


def cosine_similarity(y_true, y_pred, axis: int = -1) -> np.ndarray:
    """Per-sample -sum(l2_normalize(y_true) * l2_normalize(y_pred)), as
    `keras.losses.cosine_similarity` (-1 for the same direction, 0 orthogonal or a zero row)."""
    check_axis(axis, "cosine_similarity")
    return cosine_similarity_rows(*as_pair(y_true, y_pred))[0]


def categorical_hinge_rows(T: np.ndarray, P: np.ndarray):
    """Per-sample max(neg - pos + 1, 0) with pos = sum(T P), neg = max((1 - T) P), and its
    derivative: where neg - pos + 1 >= 0, -T plus (1 - T) shared equally among the entries
    that reach the max (TensorFlow's reduce_max gradient), else 0."""
    pos = np.sum(T * P, axis=-1)
    Q = (1.0 - T) * P
    neg = np.max(Q, axis=-1)
    M = neg - pos + 1.0
    at_max = (Q == neg[..., None]).astype(P.dtype)
    dneg = at_max / at_max.sum(axis=-1, keepdims=True) * (1.0 - T)
    dP = np.where((M >= 0)[..., None], dneg - T, 0.0)
    return np.maximum(M, 0.0), dP


def categorical_hinge(y_true, y_pred) -> np.ndarray:
    """Per-sample categorical hinge, as `keras.losses.categorical_hinge` (one-hot y_true)."""
    T, P = as_pair(y_true, y_pred, squeeze=False)
    return categorical_hinge_rows(T, P)[0]
