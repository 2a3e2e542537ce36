"""Sparse categorical cross-entropy, on logits or on probabilities, and its gradients.

For one sample with logits z, probabilities p = softmax(z) and integer label y:
    loss = -log p_y = logsumexp(z) - z_y,        d loss / dz = p - onehot(y).
The batch loss is the mean over the N samples, so the batch gradient is (p - onehot(y)) / N.
"""

import numpy as np

from tinynn import config


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


def _clip(P: np.ndarray) -> np.ndarray:
    """Keras's treatment of probabilities: clip to [eps, 1 - eps] (no renormalisation first)."""
    eps = config.epsilon()
    return np.clip(P, eps, 1 - eps)


def probs_cross_entropy(P: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-sample loss from probabilities, exactly as Keras's sparse cross-entropy:
    L = log(clip(P, eps, 1 - eps)), then the cross-entropy of the logits L, i.e.
    l_i = -log(clip(P)_iy / sum_k clip(P)_ik) (= -log p_y for a row summing to 1, unclipped)."""
    return softmax_cross_entropy(np.log(_clip(P)), y)


def probs_cross_entropy_backward(P: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Gradient of the mean `probs_cross_entropy` w.r.t. P, by the chain rule through its steps:
    dL = (softmax(L) - onehot(y)) / N; through the log dC = dL / C with C = clip(P); through
    the clip dP = dC where eps <= P <= 1 - eps (bounds included, as TensorFlow's), else 0."""
    eps = config.epsilon()
    C = _clip(P)
    dL = softmax_cross_entropy_backward(np.log(C), y)
    inside = (P >= eps) & (P <= 1 - eps)
    return np.where(inside, dL / C, 0).astype(P.dtype, copy=False)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False) -> np.ndarray:
    """Per-sample loss, as `keras.losses.sparse_categorical_crossentropy`.

    Args:
        y_true: integer labels, shape (N,) or (N, 1).
        y_pred: probabilities (or logits when from_logits=True), shape (N, C).
        from_logits: whether y_pred are logits. Defaults to False.
    """
    y = np.asarray(y_true).reshape(-1)
    P = np.asarray(y_pred)
    return softmax_cross_entropy(P, y) if from_logits else probs_cross_entropy(P, y)


class Loss:
    """Base class: `call(y_true, y_pred)` gives per-sample losses, `gradient` the mean loss's
    gradient w.r.t. y_pred; `loss(y_true, y_pred)` is their mean, as Keras's default reduction.

    Args:
        name: Defaults to the snake_case class name.
    """

    def __init__(self, name: "str | None" = None):
        self.name = name or "".join("_" + c.lower() if c.isupper() else c
                                    for c in type(self).__name__).lstrip("_")

    def call(self, y_true, y_pred) -> np.ndarray:
        raise NotImplementedError

    def gradient(self, y_true, y_pred) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, y_true, y_pred) -> float:
        """The mean loss over the batch."""
        return float(np.mean(self.call(y_true, y_pred)))

    def get_config(self) -> dict:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> "Loss":
        return cls(**config)


class SparseCategoricalCrossentropy(Loss):
    """`keras.losses.SparseCategoricalCrossentropy`: the mean of the per-sample losses.

    Forward, for N samples with labels y_i:
        from logits Z:         L = mean_i (logsumexp(Z_i) - Z_i[y_i])
        from probabilities P:  L = mean_i -log(P_i[y_i] / s_i),   s_i = sum_j P_ij (1 for softmax)
    Backward (`gradient`):
        from logits:           dZ = (softmax(Z) - onehot(y)) / N
        from probabilities:    dP_ij = (1 / s_i - [j = y_i] / P_ij) / N
    (probabilities are clipped to [1e-7, 1 - 1e-7] like Keras; a clipped entry gets gradient 0).

    Args:
        from_logits: whether predictions are logits rather than probabilities. Defaults to False.
        name: Defaults to "sparse_categorical_crossentropy".
    """

    def __init__(self, from_logits: bool = False, name: str = "sparse_categorical_crossentropy"):
        super().__init__(name)
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


_LOSSES = {"sparse_categorical_crossentropy": SparseCategoricalCrossentropy}


def get(identifier) -> Loss:
    """Resolve a loss given by name or as a loss object."""
    if isinstance(identifier, Loss):
        return identifier
    if identifier is sparse_categorical_crossentropy:
        return SparseCategoricalCrossentropy()
    if isinstance(identifier, str) and identifier in _LOSSES:
        return _LOSSES[identifier]()
    raise ValueError(
        f"Unknown loss {identifier!r}. Known losses: {', '.join(sorted(_LOSSES))} "
        "(or a tinynn.losses.SparseCategoricalCrossentropy object)."
    )
