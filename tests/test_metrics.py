"""Metrics: Keras's docstring values, the state kept over batches, names, and how `compile`
resolves a name ("accuracy" from the shapes)."""

import numpy as np
import pytest

from tinynn import metrics


def test_keras_docstring_values():
    m = metrics.BinaryAccuracy()
    m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
    assert m.result() == pytest.approx(0.75)
    m.reset_state()
    m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]], sample_weight=[1, 0, 0, 1])
    assert m.result() == pytest.approx(0.5)
    m = metrics.CategoricalAccuracy()
    m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]],
                   sample_weight=[0.7, 0.3])
    assert m.result() == pytest.approx(0.3)
    m = metrics.SparseCategoricalAccuracy()
    m.update_state([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]])
    assert m.result() == pytest.approx(0.5)
    m = metrics.TopKCategoricalAccuracy(k=1)
    m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    assert m.result() == pytest.approx(0.5)
    m = metrics.AUC(num_thresholds=3)
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    assert m.result() == pytest.approx(0.75)
    m.reset_state()
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9], sample_weight=[1, 0, 0, 1])
    assert m.result() == pytest.approx(1.0)
    for cls in (metrics.Precision, metrics.Recall):
        m = cls()
        m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
        assert m.result() == pytest.approx(2 / 3)
    m = metrics.Precision(top_k=2)
    m.update_state([0, 0, 1, 1], [1, 1, 1, 1])
    assert m.result() == pytest.approx(0.0)
    m = metrics.TruePositives()
    m.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
    assert m.result() == 1.0
    m = metrics.RootMeanSquaredError()
    m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    assert m.result() == pytest.approx(0.5)


def test_state_covers_every_sample_not_a_mean_of_batches():
    """Two batches with errors 1 and 3: RMSE sqrt((1 + 9) / 2), not (1 + 3) / 2; precision
    from the summed counts, not the mean of the batch precisions."""
    m = metrics.RootMeanSquaredError()
    m.update_state([[0.0], [0.0]], [[1.0], [1.0]])
    m.update_state([[0.0], [0.0]], [[3.0], [3.0]])
    assert m.result() == pytest.approx(np.sqrt(5.0))
    p = metrics.Precision()
    p.update_state([1, 0, 0, 0], [1, 1, 1, 1])  # 1/4
    p.update_state([1], [1])  # 1/1
    assert p.result() == pytest.approx(2 / 5)


def test_auc_is_the_trapezoid_of_the_roc_points():
    """At thresholds -eps, 0.5, 1 + eps with one positive scored 0.7 and one negative 0.2:
    ROC points (1, 1), (0, 1), (0, 0): area 1. Swapped scores give 0; all ties 0.5."""
    for pred, expected in [([0.7, 0.2], 1.0), ([0.2, 0.7], 0.0), ([0.5, 0.5], 0.5)]:
        m = metrics.AUC(num_thresholds=3)
        m.update_state([1, 0], pred)
        assert m.result() == pytest.approx(expected), pred
    # with the default 200 thresholds, a separable batch has area 1 and PR area 1 too
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 100)
    score = np.where(y == 1, rng.uniform(0.6, 1, 100), rng.uniform(0, 0.4, 100))
    for curve in ("ROC", "PR"):
        m = metrics.AUC(curve=curve)
        m.update_state(y, score)
        assert m.result() == pytest.approx(1.0), curve


def test_auc_buckets_predictions_exactly_at_thresholds_like_strict_comparison():
    """The bucket method counts p > t_i; a prediction exactly at a threshold is below it, and
    0 and 1 fall inside the -eps and 1 + eps end points."""
    m = metrics.AUC(num_thresholds=3)
    m.update_state([1, 0, 1], [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(m.tp, [2, 1, 0])
    np.testing.assert_array_equal(m.fp, [1, 0, 0])
    np.testing.assert_array_equal(m.fn, [0, 1, 2])


def test_top_k_counts_ties_at_the_boundary_like_tensorflow():
    """TensorFlow's in_top_k: fewer than k classes strictly above the label's score."""
    P = np.array([[0.3, 0.3, 0.3, 0.1], [0.4, 0.3, 0.2, 0.1], [np.nan, 0.2, 0.3, 0.1]])
    np.testing.assert_array_equal(metrics.sparse_top_k_categorical_accuracy([2, 2, 0], P, k=1),
                                  [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(
        metrics.sparse_top_k_categorical_accuracy([3, 0], [[3, 1, 2], [1, 2, 3]], k=2,
                                                  from_sorted_ids=True), [1.0, 0.0])


def test_mean_and_sum_weights():
    m = metrics.Mean()
    m.update_state([1.0, 2.0, 3.0], sample_weight=[1.0, 0.0, 1.0])
    assert m.result() == pytest.approx(2.0) and m.count == 2.0
    m.update_state([[1.0, 3.0]])  # one sample of two values: its mean
    assert m.result() == pytest.approx(6.0 / 3)
    s = metrics.Sum()
    s.update_state([1.0, 3.0, 5.0, 7.0], sample_weight=[1, 1, 0, 0])
    assert s.result() == 4.0
    assert metrics.Mean().result() == 0.0  # nothing seen: 0, as Keras's divide_no_nan


def test_names_as_keras_gives_them():
    assert metrics.BinaryAccuracy().name == "binary_accuracy"
    assert metrics.RootMeanSquaredError().name == "root_mean_squared_error"
    first, second = metrics.AUC(), metrics.AUC()  # Keras numbers metrics created without a name
    assert second.name.startswith("auc_") and first.name != second.name
    assert metrics.Precision(name="p").name == "p"
    assert [metrics.snake_case(n) for n in ("AUC", "TruePositives",
                                            "SparseTopKCategoricalAccuracy")] == [
        "auc", "true_positives", "sparse_top_k_categorical_accuracy"]


@pytest.mark.parametrize("y_true,y_pred,expected", [
    ((8,), (8, 1), metrics.BinaryAccuracy),
    ((8, 1), (8, 1), metrics.BinaryAccuracy),
    ((8,), (8, 10), metrics.SparseCategoricalAccuracy),
    ((8, 1), (8, 10), metrics.SparseCategoricalAccuracy),
    ((8, 10), (8, 10), metrics.CategoricalAccuracy),
    ((8, 3), (8, 3), metrics.CategoricalAccuracy),  # e.g. multi-label binary targets: as Keras
])
def test_compile_accuracy_is_chosen_from_the_shapes_as_keras_chooses(y_true, y_pred, expected):
    for name in ("accuracy", "acc", "Accuracy"):
        metric = metrics.for_compile(name, y_true, y_pred)
        assert type(metric) is expected and metric.name == name


def test_compile_names_are_logged_as_written_and_objects_by_their_name():
    assert metrics.for_compile("mae", (4, 1), (4, 1)).name == "mae"
    assert type(metrics.for_compile("mae", (4, 1), (4, 1))) is metrics.MeanAbsoluteError
    assert metrics.for_compile("mean_absolute_error", (4, 1), (4, 1)).name == \
        "mean_absolute_error"
    assert type(metrics.for_compile("AUC", (4, 1), (4, 1))) is metrics.AUC
    m = metrics.Precision(name="prec")
    assert metrics.for_compile(m, (4, 1), (4, 1)) is m
    wrapped = metrics.for_compile(metrics.binary_accuracy, (4, 1), (4, 1))
    assert wrapped.name == "binary_accuracy"
    assert type(metrics.get("accuracy")) is metrics.Accuracy  # keras.metrics.get's meaning


def test_unknown_metric_lists_the_known_ones():
    with pytest.raises(ValueError, match="Unknown metric 'f1'.*accuracy.*auc.*mae"):
        metrics.check("f1")
    with pytest.raises(ValueError, match="Unknown metric 3"):
        metrics.get(3)


def test_cross_entropy_metrics_take_logits_from_the_model():
    """`fit` hands a cross-entropy metric the input of a final sigmoid: a logit of 100 against
    a target 0 is a loss of 100, not the clipped 16.1 of the probability 1."""
    m = metrics.BinaryCrossentropy()
    m._update_from_model(np.zeros((1, 1)), np.ones((1, 1)), logits=np.full((1, 1), 100.0))
    assert m.result() == pytest.approx(100.0)
    m = metrics.BinaryCrossentropy()
    m._update_from_model(np.zeros((1, 1)), np.ones((1, 1)), logits=None)
    assert m.result() == pytest.approx(-np.log(1e-7), rel=1e-6)
    acc = metrics.BinaryAccuracy()
    acc._update_from_model(np.zeros((1, 1)), np.ones((1, 1)), logits=np.full((1, 1), -5.0))
    assert acc.result() == 0.0  # other metrics see the output


def test_mean_metric_wrapper_round_trips_tinynn_functions_by_name():
    m = metrics.MeanMetricWrapper(metrics.sparse_top_k_categorical_accuracy, k=2)
    config = m.get_config()
    assert config["fn"]["config"] == "sparse_top_k_categorical_accuracy" and config["k"] == 2
    twin = metrics.MeanMetricWrapper.from_config(config)
    twin.update_state([0, 1], [[0.1, 0.5, 0.4], [0.2, 0.5, 0.3]])
    assert twin.result() == 0.5
    with pytest.raises(ValueError, match="unknown function 'mine'"):
        metrics.MeanMetricWrapper.from_config({**config, "fn": "mine"})
