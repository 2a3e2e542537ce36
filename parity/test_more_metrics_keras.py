"""The regression, probabilistic and hinge metrics of `keras.metrics` against Keras:
MeanAbsolutePercentageError, MeanSquaredLogarithmicError, LogCoshError, Poisson, KLDivergence,
Hinge, SquaredHinge, CategoricalHinge, CosineSimilarity and R2Score (every class_aggregation,
num_regressors with its two fallbacks and their warnings, a constant target column), updated
over several weighted and unweighted batches; then the names and values `fit` logs for them
by string and by object.

float64 (Keras's state in float64 too): rtol 1e-10 atol 1e-12; R2Score's adjusted score goes
through Keras's float32 n and p, exact for these integer counts.
"""

import warnings

import numpy as np
import pytest

import tinynn
from tinynn import metrics

TOL = dict(rtol=1e-10, atol=1e-12)
NAMES = ["MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "LogCoshError",
         "Poisson", "KLDivergence", "Hinge", "SquaredHinge", "CategoricalHinge",
         "CosineSimilarity"]


def batches(name: str, rng, n=(7, 5, 9), k=3):
    """Three (y_true, y_pred) batches suited to the metric."""
    out = []
    for size in n:
        P = rng.uniform(0.05, 2.0, size=(size, k))
        if name == "KLDivergence":
            T = rng.dirichlet(np.ones(k), size=size)
            P = rng.dirichlet(np.ones(k), size=size)
        elif name in ("Hinge", "SquaredHinge"):
            T, P = rng.integers(0, 2, size=(size, k)).astype(float), rng.normal(size=(size, k))
        elif name == "CategoricalHinge":
            T, P = np.eye(k)[rng.integers(0, k, size)], rng.normal(size=(size, k))
        elif name == "Poisson":
            T = rng.integers(0, 5, size=(size, k)).astype(float)
        else:
            T = rng.uniform(0.05, 2.0, size=(size, k)) * rng.choice([-1, 1], size=(size, k)) \
                if name in ("LogCoshError", "CosineSimilarity") else rng.uniform(0, 2, (size, k))
        out.append((T, P))
    return out


def run(metric, data, weights):
    for (T, P), w in zip(data, weights, strict=True):
        metric.update_state(T, P, sample_weight=w)
    return np.asarray(metric.result())


@pytest.mark.parametrize("name", NAMES)
def test_metric_matches_keras(keras, floatx64, name):
    rng = np.random.default_rng(NAMES.index(name))
    data = batches(name, rng)
    for weighted in (False, True):
        weights = [rng.uniform(0.1, 2, len(T)) if weighted else None for T, _ in data]
        ours, theirs = getattr(metrics, name)(), getattr(keras.metrics, name)()
        assert ours.name == theirs.name
        np.testing.assert_allclose(run(ours, data, weights), run(theirs, data, weights), **TOL,
                                   err_msg=f"{name} weighted={weighted}")
        ours.reset_state(), theirs.reset_state()
        np.testing.assert_allclose(run(ours, data[:1], weights[:1]),
                                   run(theirs, data[:1], weights[:1]), **TOL,
                                   err_msg=f"{name} after reset_state")
    # (N,) targets with (N, 1) predictions, where the metric matches the ranks as Keras does
    if name not in ("Poisson", "KLDivergence", "Hinge", "SquaredHinge", "CategoricalHinge"):
        T, P = data[0][0][:, 0], data[0][1][:, :1]
        np.testing.assert_allclose(getattr(metrics, name)()(T, P),
                                   getattr(keras.metrics, name)()(T, P), **TOL)


R2_CASES = [dict(), dict(class_aggregation=None),
            dict(class_aggregation="variance_weighted_average"), dict(num_regressors=2),
            dict(num_regressors=62), dict(num_regressors=63), dict(num_regressors=100)]


@pytest.mark.parametrize("options", R2_CASES, ids=str)
def test_r2_score_matches_keras(keras, floatx64, options):
    """Two batches of 7 and 14 samples x 3 outputs (n = 63 entries: p = 62 divides by zero,
    p = 63 and 100 exceed n - 1: both fall back with a warning), weighted and not, and a
    constant target column (its score is 0, Keras's where(isinf))."""
    rng = np.random.default_rng(4)
    T = [rng.normal(size=(7, 3)), rng.normal(size=(14, 3))]
    P = [t + rng.normal(scale=0.5, size=t.shape) for t in T]
    for weighted in (False, True):
        w = [rng.uniform(0.1, 2, len(t)) if weighted else None for t in T]
        results = []
        for module in (metrics, keras.metrics):
            m = module.R2Score(**options)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                results.append((run(m, list(zip(T, P, strict=True)), w),
                                sorted(str(c.message) for c in caught if "R2" in str(c.message))))
        (ours, ours_warn), (theirs, theirs_warn) = results
        np.testing.assert_allclose(ours, theirs, **TOL, err_msg=f"{options} weighted={weighted}")
        assert ours_warn == theirs_warn
    constant = [np.column_stack([t[:, :2], np.full(len(t), 1.5)]) for t in T]
    ours, theirs = metrics.R2Score(class_aggregation=None), keras.metrics.R2Score(
        class_aggregation=None)
    data = list(zip(constant, P, strict=True))
    np.testing.assert_allclose(run(ours, data, [None, None]), run(theirs, data, [None, None]),
                               **TOL)
    assert run(metrics.R2Score(class_aggregation=None), data, [None, None])[2] == 0.0
    theirs_config = keras.metrics.R2Score(**options).get_config()
    assert metrics.R2Score(**options).get_config() == {**theirs_config, "dtype": None}


def same_errors(keras, name: str, cases: tuple) -> None:
    """Each bad argument set raises a ValueError with Keras's message in both."""
    for kwargs in cases:
        with pytest.raises(ValueError) as theirs:
            getattr(keras.metrics, name)(**kwargs)
        with pytest.raises(ValueError) as ours:
            getattr(metrics, name)(**kwargs)
        assert str(ours.value) == str(theirs.value)


def test_r2_score_bad_arguments_as_keras(keras):
    same_errors(keras, "R2Score", (dict(class_aggregation="median"), dict(num_regressors=-1)))


def test_fit_logs_the_new_metrics_as_keras(keras, floatx64):
    """A regression model compiled with the new metrics by name and as objects: History keys
    and values equal after 2 epochs with validation."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 4))
    y = np.abs(x @ rng.normal(size=(4, 2))) + 0.2
    chosen = ["mape", "msle", "MAPE", "mean_squared_logarithmic_error", "poisson",
              "cosine_similarity", "log_cosh_error", "r2_score"]
    keras.utils.set_random_seed(0)
    k_model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6, activation="tanh"),
                                keras.layers.Dense(2, activation="softplus")])
    t_model = tinynn.models.from_keras(k_model)  # the same weights, before either trains
    histories = []
    for module, model in ((keras, k_model), (tinynn, t_model)):
        objects = [module.metrics.R2Score(class_aggregation="variance_weighted_average"),
                   module.metrics.LogCoshError(name="lc"), module.metrics.KLDivergence()]
        model.compile(optimizer=module.optimizers.SGD(0.05), loss="mse",
                      metrics=chosen + objects)
        histories.append(model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0,
                                   validation_split=0.25).history)
    k_hist, t_hist = histories
    assert list(t_hist) == list(k_hist)
    for key in k_hist:
        np.testing.assert_allclose(t_hist[key], k_hist[key], **TOL, err_msg=key)


F_CASES = [dict(), dict(average="micro"), dict(average="macro"), dict(average="weighted"),
           dict(threshold=0.4), dict(average="macro", threshold=0.25),
           dict(beta=2.0, average="weighted"), dict(beta=0.5, threshold=0.6)]


@pytest.mark.parametrize("options", F_CASES, ids=str)
def test_f_scores_match_keras(keras, floatx64, options):
    """Three batches of one-hot (and multi-label) targets against probability rows, with ties
    in a row's max and an all-zero row (not a positive under argmax), weighted and not."""
    rng = np.random.default_rng(7)
    data = []
    for size in (9, 6, 11):
        T = np.eye(4)[rng.integers(0, 4, size)]
        T[0] = [1, 0, 1, 0]  # multi-label row
        P = rng.dirichlet(np.ones(4), size=size)
        P[1] = [0.4, 0.4, 0.1, 0.1]  # a tie for the max
        P[2] = 0.0
        data.append((T, P))
    name = "F1Score" if "beta" not in options else "FBetaScore"
    for weighted in (False, True):
        w = [rng.uniform(0.1, 2, len(T)) if weighted else None for T, _ in data]
        ours, theirs = getattr(metrics, name)(**options), getattr(keras.metrics, name)(**options)
        np.testing.assert_allclose(run(ours, data, w), run(theirs, data, w), **TOL,
                                   err_msg=f"{name}{options} weighted={weighted}")
    assert ours.get_config() == {**theirs.get_config(), "dtype": None}


def test_f_score_bad_arguments_as_keras(keras):
    same_errors(keras, "FBetaScore", (dict(average="samples"), dict(beta=1), dict(beta=-1.0),
                                      dict(threshold=1), dict(threshold=1.5)))


def test_fit_logs_f_scores_as_keras(keras, floatx64):
    """F1Score with average=None logs one value per class (History holds the arrays), as
    Keras; the others one number."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 5)), np.eye(3)[rng.integers(0, 3, 40)]
    keras.utils.set_random_seed(0)
    k_model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="softmax")])
    t_model = tinynn.models.from_keras(k_model)
    histories = []
    for module, model in ((keras, k_model), (tinynn, t_model)):
        model.compile(optimizer=module.optimizers.SGD(0.1), loss="categorical_crossentropy",
                      metrics=[module.metrics.F1Score(),
                               module.metrics.F1Score(average="macro", name="f1m"),
                               module.metrics.FBetaScore(beta=2.0, average="weighted",
                                                         threshold=0.4)])
        histories.append(model.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False,
                                   validation_split=0.25).history)
    k_hist, t_hist = histories
    assert list(t_hist) == list(k_hist)
    for key in k_hist:
        np.testing.assert_allclose(np.asarray(t_hist[key], np.float64),
                                   np.asarray(k_hist[key], np.float64), **TOL, err_msg=key)
    assert np.shape(t_hist["f1_score"]) == (2, 3)
