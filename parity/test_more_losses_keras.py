"""The rest of `keras.losses` against Keras: MeanAbsolutePercentageError, MeanSquaredLogarithmic-
Error, LogCosh, Poisson, KLDivergence, Hinge, SquaredHinge, CategoricalHinge, CosineSimilarity.
Values and gradients (Keras's through `tf.GradientTape`) for every reduction, with and without
sample weights, targets (N, k), (N,) against (N, 1), and the edges of each formula: targets 0
(MAPE's eps floor), predictions below eps and exactly eps (MSLE's and KLD's floors, where
TensorFlow's maximum and clip pass the gradient on ties), errors of +-1000 (LogCosh's
overflow-free form), 0/1 and -1/1 hinge targets and hinge margins of exactly 0, ties in the
categorical hinge's max, prediction rows of norm below eps (CosineSimilarity's floor). Also the
functions, the string names and a few fit epochs on each.

Tolerances as test_losses_keras.py: float64 rtol 1e-10 atol 1e-12; float32 rtol 1e-6 atol 1e-6
(MAPE's values are percentages up to 1e9 at a zero target: rtol carries them).
"""

import numpy as np
import pytest
from test_losses_keras import REDUCTIONS, close, keras_value_and_gradient

import tinynn
from tinynn import losses

NAMES = ["MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "LogCosh", "Poisson",
         "KLDivergence", "Hinge", "SquaredHinge", "CategoricalHinge", "CosineSimilarity"]


def cases(name: str, dtype: str, rng) -> list:
    """(what, y_true, y_pred) pairs for the loss `name`, edges included."""
    n, k = 8, 4
    P = rng.normal(size=(n, k)).astype(dtype)
    T = rng.normal(size=(n, k)).astype(dtype)
    positive = rng.uniform(0.05, 3.0, size=(n, k)).astype(dtype)
    out = [("normal", T, P), ("(N,) vs (N, 1)", T[:, 0], P[:, :1])]
    if name == "MeanAbsolutePercentageError":
        T0 = T.copy()
        T0[0, :2] = 0  # |T| floored at eps
        out.append(("zero targets", T0, P))
    if name == "MeanSquaredLogarithmicError":
        P2 = positive.copy()
        P2[0, 0], P2[1, 1], P2[2, 2] = 0.0, np.float32(1e-7), -0.5
        out += [("positive", positive[::-1].copy(), positive), ("below eps", positive, P2)]
    if name == "Poisson":
        counts = rng.integers(0, 5, size=(n, k)).astype(dtype)
        out = [("counts", counts, positive), ("(N,) vs (N, 1)", counts[:, 0], positive[:, :1])]
    if name == "KLDivergence":
        soft = np.exp(T) / np.exp(T).sum(-1, keepdims=True)
        Q = np.exp(P) / np.exp(P).sum(-1, keepdims=True)
        Q[0, 0], Q[1, 1] = 1e-9, 1e-7
        Q[2] = [1.0, 0.0, 0.0, 0.0]
        out = [("distributions", soft.astype(dtype), Q.astype(dtype)),
               ("one-hot", np.eye(k, dtype=dtype)[rng.integers(0, k, n)], Q.astype(dtype))]
    if name in ("Hinge", "SquaredHinge"):
        binary = rng.integers(0, 2, size=(n, k)).astype(dtype)
        signs = 2 * binary - 1
        P3 = P.copy()
        P3[0, 0], P3[1, 1] = signs[0, 0], signs[1, 1]  # margin exactly 0
        out = [("0/1 targets", binary, P3), ("-1/1 targets", signs, P3),
               ("(N,) 0/1 vs (N, 1)", binary[:, 0], P[:, :1])]
    if name == "CategoricalHinge":
        onehot = np.eye(k, dtype=dtype)[rng.integers(0, k, n)]
        tied = P.copy()
        for i in range(n):  # two wrong classes sharing the max
            wrong = np.flatnonzero(onehot[i] == 0)[:2]
            tied[i, wrong] = tied[i].max() + 0.5
        out = [("one-hot", onehot, P), ("ties in the max", onehot, tied),
               ("far inside the margin", onehot, (onehot * 5).astype(dtype))]
    if name == "CosineSimilarity":
        tiny = P.copy()
        tiny[0] = 1e-9  # norm below eps: the factor is 1 / eps
        out.append(("a row of norm below eps", T, tiny))
    if name == "LogCosh":
        big = P.copy()
        big[0] = [1000.0, -1000.0, 30.0, -1e-6]
        out.append(("errors of +-1000", T, big))
    return out


@pytest.mark.parametrize("name", NAMES)
def test_values_and_gradients_match_keras(keras, tf, floatx, name):
    rng = np.random.default_rng(NAMES.index(name))
    ours_cls, theirs_cls = getattr(losses, name), getattr(keras.losses, name)
    for what, y, P in cases(name, floatx, rng):
        w = rng.uniform(0.1, 2.0, size=len(P)).astype(floatx)
        for reduction in REDUCTIONS:
            for weights in (None, w):
                value, grad = keras_value_and_gradient(tf, theirs_cls(reduction=reduction), y, P,
                                                       weights)
                ours = ours_cls(reduction=reduction)
                label = f"{name} {what} reduction={reduction} weighted={weights is not None}"
                close(ours(y, P, sample_weight=weights), value, floatx, label + " value")
                got = ours.weighted_gradient(y, P, sample_weight=weights)
                assert got.shape == P.shape and got.dtype == P.dtype, label
                if name == "CosineSimilarity" and P.shape[-1] == 1 and floatx == "float32":
                    # one output: p_hat = sign(p), the gradient is 0 and both frameworks give
                    # float32 rounding noise of size 2**-24 / |p| (measured up to 4e-6)
                    np.testing.assert_allclose(got, grad, atol=2e-5, err_msg=label)
                    continue
                close(got, grad, floatx, label + " gradient")
        # the function of the same name in both
        function = losses.get(name).name if name != "LogCosh" else "log_cosh"
        close(getattr(losses, function)(y, P), getattr(keras.losses, function)(y, P), floatx,
              f"{name} {what}: the function {function}")


def test_the_edges_are_reached(floatx):
    """The edge cases above really reach the floors and ties they are meant for (else the
    comparisons there would test nothing new)."""
    rng = np.random.default_rng(0)
    eps = np.float32(1e-7)
    msle = dict((w, P) for w, _, P in cases("MeanSquaredLogarithmicError", floatx, rng))
    assert (msle["below eps"] < eps).any() and (msle["below eps"] == eps).any()
    hinge = dict((w, (y, P)) for w, y, P in cases("Hinge", floatx, rng))
    y, P = hinge["-1/1 targets"]
    assert (1 - y * P == 0).any()
    y, P = {w: (y, P) for w, y, P in cases("CategoricalHinge", floatx, rng)}["ties in the max"]
    Q = (1 - y) * P
    assert ((Q == Q.max(-1, keepdims=True)).sum(-1) == 2).all()


@pytest.mark.parametrize("alias,cls", [
    ("mape", "MeanAbsolutePercentageError"), ("MAPE", "MeanAbsolutePercentageError"),
    ("mean_absolute_percentage_error", "MeanAbsolutePercentageError"),
    ("msle", "MeanSquaredLogarithmicError"), ("MSLE", "MeanSquaredLogarithmicError"),
    ("kld", "KLDivergence"), ("KLD", "KLDivergence"), ("kl_divergence", "KLDivergence"),
    ("log_cosh", "LogCosh"), ("poisson", "Poisson"), ("hinge", "Hinge"),
    ("squared_hinge", "SquaredHinge"), ("categorical_hinge", "CategoricalHinge"),
    ("cosine_similarity", "CosineSimilarity"), ("LogCosh", "LogCosh")])
def test_names_resolve_as_in_keras(keras, floatx64, alias, cls):
    """Keras's get gives a function (per-sample values) for a function's name or alias and an
    object for a class name; tinynn's gives the loss object: the values agree either way."""
    rng = np.random.default_rng(1)
    y, P = rng.uniform(0.1, 1, size=(6, 3)), rng.uniform(0.1, 1, size=(6, 3))
    ours, theirs = losses.get(alias), keras.losses.get(alias)
    assert type(ours).__name__ == cls
    if hasattr(theirs, "get_config"):
        close(ours(y, P), theirs(y, P), "float64", alias)
    else:
        close(ours.call(y, P), theirs(y, P), "float64", alias)


@pytest.mark.parametrize("name", NAMES)
def test_config_matches_keras(keras, name):
    theirs = getattr(keras.losses, name)(reduction="sum").get_config()
    ours = getattr(losses, name)(reduction="sum").get_config()
    assert ours == {k: v for k, v in theirs.items() if k != "dtype"}


FIT = {  # loss: (output activation, targets)
    "mape": (None, "positive"), "msle": ("softplus", "positive"), "log_cosh": (None, "normal"),
    "poisson": ("softplus", "counts"), "kld": ("softmax", "soft"), "hinge": ("tanh", "signs"),
    "squared_hinge": ("tanh", "binary"), "categorical_hinge": (None, "onehot"),
    "cosine_similarity": (None, "normal"),
}


@pytest.mark.parametrize("loss", list(FIT))
def test_fit_matches_keras(keras, floatx64, loss):
    """3 epochs of SGD in batches of 16 (the last one 8) with each loss, Keras's weights
    copied: History and weights equal."""
    activation, kind = FIT[loss]
    rng = np.random.default_rng(5)
    x = rng.normal(size=(40, 5))
    raw = x @ rng.normal(size=(5, 3))
    y = {"positive": np.abs(raw) + 0.5, "normal": raw,
         "counts": rng.poisson(np.exp(raw / 3)).astype(np.float64),
         "soft": np.exp(raw) / np.exp(raw).sum(-1, keepdims=True),
         "signs": np.sign(raw), "binary": (raw > 0).astype(np.float64),
         "onehot": np.eye(3)[np.argmax(raw, -1)]}[kind]
    keras.utils.set_random_seed(0)
    k_model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="tanh"),
                                keras.layers.Dense(3, activation=activation)])
    k_model.compile(optimizer=keras.optimizers.SGD(0.05), loss=loss, metrics=["mae"])
    t_model = tinynn.models.from_keras(k_model)
    t_model.compile(optimizer=tinynn.optimizers.SGD(0.05), loss=loss, metrics=["mae"])
    k_hist = k_model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history
    t_hist = t_model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history
    assert list(t_hist) == list(k_hist)
    for key in k_hist:
        close(t_hist[key], k_hist[key], "float64", f"{loss}: History[{key!r}]")
    assert abs(k_hist["loss"][-1] - k_hist["loss"][0]) > 1e-4, f"{loss}: training moved"
    for a, b in zip(t_model.get_weights(), k_model.get_weights(), strict=True):
        close(a, b, "float64", f"{loss}: weights")
