"""The regression, probabilistic and hinge losses and metrics against their textbook formulas
(Keras itself: parity/test_more_losses_keras.py, parity/test_more_metrics_keras.py), R2Score
against scikit-learn's r2_score, and the names they go by."""

import warnings

import numpy as np
import pytest
from sklearn.metrics import r2_score

from tinynn import losses, metrics

RNG = np.random.default_rng(0)
T = RNG.uniform(0.5, 2.0, size=(6, 3))
P = RNG.uniform(0.5, 2.0, size=(6, 3))


@pytest.mark.parametrize("loss,expected", [
    (losses.MeanAbsolutePercentageError(), np.mean(100 * np.abs((T - P) / T))),
    (losses.MeanSquaredLogarithmicError(), np.mean((np.log1p(P) - np.log1p(T)) ** 2)),
    (losses.LogCosh(), np.mean(np.log(np.cosh(P - T)))),
    (losses.Poisson(), np.mean(P - T * np.log(P + 1e-7))),
    (losses.KLDivergence(), np.mean(np.sum(np.clip(T / 2, 0, 1) * np.log(np.clip(T / 2, 0, 1)
                                                                       / np.clip(P / 2, 0, 1)),
                                           axis=-1))),
    (losses.CosineSimilarity(), -np.mean(np.sum(T * P, -1) / np.linalg.norm(T, axis=-1)
                                         / np.linalg.norm(P, axis=-1))),
])
def test_values_are_the_textbook_formulas(loss, expected):
    y, p = (T / 2, P / 2) if isinstance(loss, losses.KLDivergence) else (T, P)
    assert loss(y, p) == pytest.approx(expected, rel=1e-7)


def test_hinge_turns_a_batch_of_0_1_targets_into_signs():
    t01 = np.array([[0.0, 1.0], [1.0, 0.0]])
    p = np.array([[0.3, -0.2], [2.0, 0.5]])
    signs = 2 * t01 - 1
    by_hand = np.mean(np.maximum(1 - signs * p, 0))
    assert losses.Hinge()(t01, p) == pytest.approx(by_hand)
    assert losses.Hinge()(signs, p) == pytest.approx(by_hand)
    assert losses.SquaredHinge()(t01, p) == pytest.approx(np.mean(np.maximum(1 - signs * p, 0)
                                                                  ** 2))
    # a batch that is not all 0/1 is taken as it is
    other = np.array([[0.0, 2.0], [1.0, 0.0]])
    assert losses.Hinge()(other, p) == pytest.approx(np.mean(np.maximum(1 - other * p, 0)))


def test_categorical_hinge_by_hand_and_its_gradient_shares_ties():
    onehot = np.array([[0.0, 1.0, 0.0]])
    p = np.array([[0.9, 0.5, 0.9]])  # the two wrong classes tie at the max
    assert losses.CategoricalHinge()(onehot, p) == pytest.approx(0.9 - 0.5 + 1)
    np.testing.assert_allclose(losses.CategoricalHinge().gradient(onehot, p), [[0.5, -1, 0.5]])


def test_cosine_similarity_metric_is_minus_the_loss():
    assert metrics.CosineSimilarity()(T, P) == pytest.approx(-losses.CosineSimilarity()(T, P))


@pytest.mark.parametrize("aggregation,multioutput", [
    ("uniform_average", "uniform_average"), ("variance_weighted_average", "variance_weighted"),
    (None, "raw_values")])
def test_r2_score_equals_scikit_learn(aggregation, multioutput):
    """Over two batches and with weights: the same as scikit-learn on all the samples at once
    (so the state is sums over the samples, not a mean of batch scores)."""
    y, p = RNG.normal(size=(30, 3)), RNG.normal(size=(30, 3))
    w = RNG.uniform(0.1, 2.0, size=30)
    for weights in (None, w):
        m = metrics.R2Score(class_aggregation=aggregation)
        m.update_state(y[:11], p[:11], None if weights is None else weights[:11])
        m.update_state(y[11:], p[11:], None if weights is None else weights[11:])
        np.testing.assert_allclose(m.result(), r2_score(y, p, sample_weight=weights,
                                                        multioutput=multioutput), rtol=1e-12)


def test_adjusted_r2_and_its_fallbacks():
    y, p = RNG.normal(size=(10, 1)), RNG.normal(size=(10, 1))
    plain = r2_score(y, p)
    m = metrics.R2Score(num_regressors=3)
    m.update_state(y, p)
    assert m.result() == pytest.approx(1 - (1 - plain) * 9 / 6)
    for p_count, message in ((9, "Division by zero"), (12, "More independent predictors")):
        m = metrics.R2Score(num_regressors=p_count)
        m.update_state(y, p)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert m.result() == pytest.approx(plain)
        assert message in str(caught[0].message)
    with pytest.raises(ValueError, match="class_aggregation"):
        metrics.R2Score(class_aggregation="median")
    with pytest.raises(ValueError, match="R2Score expects 2D inputs"):
        metrics.R2Score().update_state(np.zeros(4), np.zeros(4))


@pytest.mark.parametrize("name,cls", [
    ("mape", metrics.MeanAbsolutePercentageError), ("MSLE", metrics.MeanSquaredLogarithmicError),
    ("log_cosh_error", metrics.LogCoshError), ("r2_score", metrics.R2Score),
    ("CosineSimilarity", metrics.CosineSimilarity), ("kl_divergence", metrics.KLDivergence)])
def test_metric_names(name, cls):
    assert type(metrics.get(name)) is cls


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
def test_f1_score_equals_scikit_learn(average):
    """Argmax predictions of one-hot targets, over two batches: scikit-learn's f1_score on all
    the samples (to Keras's eps of 1e-7 in the divisions)."""
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, 50)
    P = rng.dirichlet(np.ones(4), size=50)
    m = metrics.F1Score(average=average)
    m.update_state(np.eye(4)[labels[:20]], P[:20])
    m.update_state(np.eye(4)[labels[20:]], P[20:])
    np.testing.assert_allclose(m.result(), f1_score(labels, P.argmax(1), average=average),
                               rtol=1e-5)
