"""Losses: Keras's values, shapes, reductions and options, and the clipping of probabilities."""

import numpy as np
import pytest

from tinynn import losses
from tinynn.gradient_check import assert_grad_close, numerical_grad


def test_probabilities_are_clipped_not_renormalised():
    """Keras: l = -log(clip(P)_y / sum_k clip(P)_k) with clip to [1e-7, 1 - 1e-7]. A row with
    entries above 1 is clipped before the implicit normalisation (the softmax of log C)."""
    P = np.array([[2.0, 1.0, 0.5, 0.5, 1.0], [0.5, 0.3, 0.1, 0.05, 0.0]])
    y = np.array([1, 4])
    C = np.clip(P, 1e-7, 1 - 1e-7)
    expected = -np.log(C[[0, 1], y] / C.sum(axis=1))
    np.testing.assert_allclose(losses.probs_cross_entropy(P, y), expected, rtol=1e-12)
    assert abs(expected[0] - np.log(4.0)) < 1e-6  # not log(5), which renormalising first gives


def test_clipped_probabilities_get_no_gradient():
    P = np.array([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5]])
    dP = losses.probs_cross_entropy_backward(P, np.array([0, 2]))
    assert (dP[0] == 0).all() and (dP[1] != 0).all()


# ----- the Keras losses: values from Keras's own docstrings, shapes, reductions, options -------

def test_keras_docstring_values():
    bce = losses.BinaryCrossentropy(from_logits=True)
    z = np.array([-18.6, 0.51, 2.94, -12.8])
    assert bce([0, 1, 0, 0], z) == pytest.approx(0.8654, abs=1e-4)
    y2, z2 = np.array([[0, 1], [0, 0]]), np.array([[-18.6, 0.51], [2.94, -12.8]])
    assert bce(y2, z2) == pytest.approx(0.8654, abs=1e-4)
    assert bce(y2, z2, sample_weight=[0.8, 0.2]) == pytest.approx(0.243, abs=1e-3)
    assert losses.BinaryCrossentropy(from_logits=True, reduction="sum")(y2, z2) == \
        pytest.approx(1.730, abs=1e-3)
    np.testing.assert_allclose(losses.BinaryCrossentropy(from_logits=True, reduction=None)(y2, z2),
                               [0.235, 1.496], atol=1e-3)
    y, p = np.array([[0, 1, 0], [0, 0, 1]]), np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
    cce = losses.CategoricalCrossentropy()
    assert cce(y, p) == pytest.approx(1.177, abs=1e-3)
    assert cce(y, p, sample_weight=np.array([0.3, 0.7])) == pytest.approx(0.814, abs=1e-3)
    assert losses.CategoricalCrossentropy(reduction="sum")(y, p) == pytest.approx(2.354, abs=1e-3)
    np.testing.assert_allclose(losses.CategoricalCrossentropy(reduction="none")(y, p),
                               [0.0513, 2.303], atol=1e-3)
    assert losses.SparseCategoricalCrossentropy()([1, 2], p) == pytest.approx(1.177, abs=1e-3)
    assert losses.MeanSquaredError()([1.0, 0.0, 1.0], [0.9, 0.1, 0.8]) == pytest.approx(0.02)
    np.testing.assert_allclose(losses.huber([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]).mean(),
                               0.155, atol=1e-3)
    np.testing.assert_allclose(
        losses.binary_crossentropy([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]), [0.916, 0.714],
        atol=1e-3)


def test_regression_losses_average_the_outputs_of_each_sample():
    """A multi-output regression (N, k): one value per sample, the mean over its k outputs."""
    T = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]])
    P = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 0.0]])
    np.testing.assert_allclose(losses.MeanSquaredError().call(T, P), [14 / 3, 3.0])
    np.testing.assert_allclose(losses.MeanAbsoluteError().call(T, P), [2.0, 1.0])
    np.testing.assert_allclose(losses.Huber(delta=1.0).call(T, P), [(0.5 + 1.5 + 2.5) / 3, 2.5 / 3])
    np.testing.assert_allclose(losses.MeanSquaredError().gradient(T, P), 2 * (P - T) / 6)


@pytest.mark.parametrize("cls", [losses.MeanSquaredError, losses.MeanAbsoluteError,
                                 losses.Huber, losses.BinaryCrossentropy])
def test_targets_n_and_n_by_1_are_matched_as_keras_matches_them(cls):
    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.95, size=(5, 1))
    y = rng.integers(0, 2, size=5).astype(float)
    loss = cls()
    assert loss.call(y, p).shape == (5,)
    np.testing.assert_array_equal(loss.call(y, p), loss.call(y[:, None], p))
    np.testing.assert_array_equal(loss.gradient(y, p), loss.gradient(y[:, None], p))
    assert loss.gradient(y, p).shape == (5, 1)
    # y_pred (N,) against y_true (N, 1): the gradient keeps y_pred's shape
    assert loss.gradient(y[:, None], p[:, 0]).shape == (5,)


def test_keras_functions_do_not_match_shapes_for_cross_entropy():
    with pytest.raises(ValueError, match="same shape.*y_true \\(3,\\) and y_pred \\(3, 1\\)"):
        losses.binary_crossentropy(np.zeros(3), np.full((3, 1), 0.5))
    with pytest.raises(ValueError, match="categorical_crossentropy expects y_true and y_pred"):
        losses.categorical_crossentropy(np.array([0, 1]), np.full((2, 3), 1 / 3))


def test_label_smoothing():
    p = np.array([[0.2, 0.7, 0.1]])
    y = np.array([[0.0, 1.0, 0.0]])
    smooth = y * 0.7 + 0.3 / 3
    assert losses.CategoricalCrossentropy(label_smoothing=0.3)(y, p) == pytest.approx(
        -np.sum(smooth * np.log(p)))
    q = np.array([[0.9]])
    t = 1 * 0.7 + 0.15  # toward 0.5
    assert losses.BinaryCrossentropy(label_smoothing=0.3)([[1.0]], q) == pytest.approx(
        -(t * np.log(0.9) + (1 - t) * np.log(0.1)))


def test_categorical_crossentropy_normalises_probability_rows_unlike_sparse():
    """Keras's categorical cross-entropy divides each row by its sum before clipping; the
    sparse one clips and takes the log-softmax of the log (see the test at the top)."""
    P = np.array([[0.4, 0.6, 1.0]])
    assert losses.CategoricalCrossentropy()([[0, 1, 0]], P) == pytest.approx(-np.log(0.3))


def test_clipped_probabilities_are_finite_and_get_no_gradient():
    P = np.array([[0.0, 1.0], [0.3, 0.7]])
    T = np.array([[1.0, 0.0], [1.0, 0.0]])
    bce = losses.BinaryCrossentropy()
    values = bce.call(T, P)
    assert np.isfinite(values).all() and values[0] == pytest.approx(-np.log(1e-7), rel=1e-6)
    G = bce.gradient(T, P)
    assert (G[0] == 0).all() and (G[1] != 0).all()


def test_reductions_and_sample_weights():
    y, p = np.array([[1.0], [0.0], [2.0]]), np.zeros((3, 1))  # three samples, one output
    w = np.array([1.0, 3.0, 0.5])
    mse = losses.MeanSquaredError
    assert mse()(y, p, sample_weight=w) == pytest.approx((1 + 0 + 2) / 3)
    assert mse(reduction="sum")(y, p, sample_weight=w) == pytest.approx(3.0)
    assert mse(reduction="mean_with_sample_weight")(y, p, sample_weight=w) == pytest.approx(
        3.0 / 4.5)
    np.testing.assert_allclose(mse(reduction=None)(y, p, sample_weight=w), [1, 0, 2])
    np.testing.assert_allclose(mse(reduction="none")(y, p), [1, 0, 4])
    assert mse()(y, p, sample_weight=2.0) == pytest.approx(2 * 5 / 3)  # a scalar weight
    assert mse()(y, p, sample_weight=w[:, None]) == mse()(y, p, sample_weight=w)  # (N, 1)


def test_a_one_dimensional_prediction_is_one_sample_as_in_keras():
    """Keras's docstring example MeanSquaredError()([1, 0, 1], [.9, .1, .8]) = 0.02: 1-D
    arrays are one sample with three outputs; weights of three values then broadcast it."""
    mse = losses.MeanSquaredError()
    y, p, w = np.array([1.0, 0.0, 2.0]), np.zeros(3), np.array([1.0, 3.0, 0.5])
    assert mse(y, p) == pytest.approx(5 / 3)
    assert mse(y, p, sample_weight=w) == pytest.approx(5 / 3 * 4.5 / 3)
    numeric = numerical_grad(lambda: mse(y, p, sample_weight=w), p)
    assert_grad_close(mse.weighted_gradient(y, p, sample_weight=w), numeric, "1-D MSE")


def test_categorical_gradient_from_logits_is_the_true_derivative_for_any_targets():
    """d/dZ of -sum_j t_j log softmax(Z)_j is sum(t) softmax(Z) - t; TensorFlow's kernel gives
    softmax(Z) - t, the same when the targets sum to 1 (one-hot, smoothed)."""
    Z = np.array([[0.3, -1.0, 2.0]])
    T = np.array([[0.5, 0.5, 0.5]])
    S = np.exp(Z) / np.exp(Z).sum()
    np.testing.assert_allclose(losses.CategoricalCrossentropy(from_logits=True).gradient(T, Z),
                               1.5 * S - T, rtol=1e-12)


def test_one_output_categorical_crossentropy_warns_like_keras():
    with pytest.warns(SyntaxWarning, match="Consider using 'binary_crossentropy'"):
        losses.CategoricalCrossentropy().call(np.ones((2, 1)), np.full((2, 1), 0.5))


def test_bad_arguments_and_names():
    with pytest.raises(ValueError, match="Invalid value for argument `reduction`.*auto"):
        losses.MeanSquaredError(reduction="auto")
    with pytest.raises(ValueError, match="only axis=-1"):
        losses.CategoricalCrossentropy(axis=1)
    with pytest.raises(ValueError, match="Known losses:.*binary_crossentropy.*mse"):
        losses.get("focal")
    with pytest.raises(ValueError, match="Loss subclass with call\\(\\) and gradient\\(\\)"):
        losses.get(lambda y_true, y_pred: y_pred)
    for name, cls in [("mse", losses.MeanSquaredError), ("MSE", losses.MeanSquaredError),
                      ("mae", losses.MeanAbsoluteError), ("bce", losses.BinaryCrossentropy),
                      ("huber", losses.Huber), ("Huber", losses.Huber),
                      ("categorical_crossentropy", losses.CategoricalCrossentropy),
                      (losses.binary_crossentropy, losses.BinaryCrossentropy),
                      (losses.MeanAbsoluteError, losses.MeanAbsoluteError),
                      ("mape", losses.MeanAbsolutePercentageError), ("KLD", losses.KLDivergence),
                      ("msle", losses.MeanSquaredLogarithmicError), ("hinge", losses.Hinge),
                      (losses.log_cosh, losses.LogCosh),
                      ("cosine_similarity", losses.CosineSimilarity)]:
        assert type(losses.get(name)) is cls, name
    assert losses.Huber(delta=2.0).get_config() == {
        "name": "huber_loss", "reduction": "sum_over_batch_size", "delta": 2.0}
