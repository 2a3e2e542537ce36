"""Every loss against Keras's: values and gradients (Keras side through `tf.GradientTape`) for
every reduction, with and without sample weights, from probabilities and from logits, with label
smoothing, targets (N,) and (N, 1); extreme logits and probabilities at exactly 0 and 1; the
Keras functions; and TensorFlow's one different gradient, measured.

Tolerances: float64 rtol 1e-10 (the brief's bound; measured ~1e-15), float32 rtol 1e-6 with
atol 1e-6 on gradients (a handful of float32 roundings in a different order; clipped
probabilities' log terms are ~16, so float32's 6e-8 relative precision gives ~1e-6 absolute).
"""

import numpy as np
import pytest

import tinynn
from tinynn import activations, losses

TOL = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=1e-6, atol=1e-6)}
REDUCTIONS = ["sum_over_batch_size", "sum", "mean_with_sample_weight", None]


def close(actual, expected, dtype, what):
    np.testing.assert_allclose(np.asarray(actual, np.float64), np.asarray(expected, np.float64),
                               **TOL[dtype], err_msg=f"{what} ({dtype})")


def keras_value_and_gradient(tf, loss, y, P, sample_weight=None):
    """Keras's loss value and d sum(value) / d y_pred (tape.gradient sums a vector)."""
    Pt = tf.constant(P)
    with tf.GradientTape() as tape:
        tape.watch(Pt)
        value = loss(y, Pt, sample_weight=sample_weight)
    return value.numpy(), tape.gradient(value, Pt).numpy()


def compare(keras, tf, dtype, cls, options, y, P, what):
    rng = np.random.default_rng(7)
    weights = rng.uniform(0.1, 2.0, size=len(P)).astype(dtype)
    for reduction in REDUCTIONS:
        for w in (None, weights):
            ours = cls(**options, reduction=reduction)
            theirs = getattr(keras.losses, cls.__name__)(**options, reduction=reduction)
            value, grad = keras_value_and_gradient(tf, theirs, y, P, w)
            label = f"{what} {cls.__name__}{options} reduction={reduction} weighted={w is not None}"
            close(ours(y, P, sample_weight=w), value, dtype, label + " value")
            got = ours.weighted_gradient(y, P, sample_weight=w)
            assert got.shape == P.shape and got.dtype == P.dtype, label
            close(got, grad, dtype, label + " gradient")


def dense_cases(rng, dtype, n=9, c=4):
    """(name, y_true, P for probabilities, Z for logits) with targets that are one-hot,
    probability rows, and binary multi-label."""
    Z = (rng.normal(size=(n, c)) * 3).astype(dtype)
    one_hot = np.eye(c, dtype=dtype)[rng.integers(0, c, n)]
    soft = activations.softmax(rng.normal(size=(n, c))).astype(dtype)
    multi = rng.integers(0, 2, size=(n, c)).astype(dtype)
    return [("one-hot", one_hot, Z), ("soft", soft, Z), ("multi-label", multi, Z)]


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.15])
def test_cross_entropies(keras, tf, floatx, from_logits, label_smoothing):
    rng = np.random.default_rng(0)
    options = dict(from_logits=from_logits, label_smoothing=label_smoothing)
    for name, y, Z in dense_cases(rng, floatx):
        P = Z if from_logits else activations.softmax(Z).astype(floatx)
        compare(keras, tf, floatx, losses.BinaryCrossentropy, options, y, P, name)
        if name != "multi-label":  # rows not summing to 1: see the test below
            compare(keras, tf, floatx, losses.CategoricalCrossentropy, options, y, P, name)
        sigmoid = Z if from_logits else activations.sigmoid(Z).astype(floatx)
        compare(keras, tf, floatx, losses.BinaryCrossentropy, options, y, sigmoid,
                f"{name} sigmoid")
    labels = rng.integers(0, 4, size=9)
    Z = (rng.normal(size=(9, 4)) * 3).astype(floatx)
    P = Z if from_logits else activations.softmax(Z).astype(floatx)
    for y in (labels, labels[:, None]):
        compare(keras, tf, floatx, losses.SparseCategoricalCrossentropy,
                dict(from_logits=from_logits), y, P, f"labels {y.shape}")


@pytest.mark.parametrize("cls,options", [
    (losses.MeanSquaredError, {}), (losses.MeanAbsoluteError, {}), (losses.Huber, {}),
    (losses.Huber, {"delta": 0.4}), (losses.BinaryCrossentropy, {}),
    (losses.BinaryCrossentropy, {"from_logits": True})])
def test_one_output_targets_n_and_n_by_1_and_multi_output(keras, tf, floatx, cls, options):
    """Keras matches y_true (N,) with y_pred (N, 1) (and (N, 1) with (N,)); a multi-output
    regression (N, k) averages each sample's outputs."""
    rng = np.random.default_rng(1)
    y = rng.uniform(0, 1, size=9).astype(floatx)
    z = rng.normal(size=(9, 1)).astype(floatx) * 2
    p = z if options.get("from_logits") or cls is not losses.BinaryCrossentropy \
        else activations.sigmoid(z).astype(floatx)
    for yt, P, what in ((y, p, "y (N,) p (N,1)"), (y[:, None], p, "y (N,1) p (N,1)"),
                        (y[:, None], p[:, 0], "y (N,1) p (N,)")):
        compare(keras, tf, floatx, cls, options, yt, P, what)
    Y = rng.uniform(0, 1, size=(9, 3)).astype(floatx)
    Z = rng.normal(size=(9, 3)).astype(floatx) * 2
    P = Z if options.get("from_logits") or cls is not losses.BinaryCrossentropy \
        else activations.sigmoid(Z).astype(floatx)
    compare(keras, tf, floatx, cls, options, Y, P, "multi-output")


def test_extreme_logits_and_probabilities(keras, tf, floatx):
    """Logits of +-1000 and rows with 2000 gaps, probabilities exactly 0, 1, eps and 1 - eps:
    finite, and Keras's values and gradients (zero where the clip holds)."""
    Z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 0.0, 1000.0], [30.0, -30.0, 1e-3]],
                 dtype=floatx)
    y = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=floatx)
    for cls in (losses.BinaryCrossentropy, losses.CategoricalCrossentropy):
        compare(keras, tf, floatx, cls, dict(from_logits=True), y, Z, "extreme logits")
        assert np.isfinite(cls(from_logits=True).call(y, Z)).all()
    eps = np.asarray(1e-7, floatx)
    P = np.array([[0.0, 1.0, eps], [1 - eps, 0.5, 0.0], [1.0, 0.0, 0.0]], dtype=floatx)
    for cls in (losses.BinaryCrossentropy, losses.CategoricalCrossentropy):
        compare(keras, tf, floatx, cls, {}, y, P, "probabilities at 0, 1, eps")
    compare(keras, tf, floatx, losses.SparseCategoricalCrossentropy, {},
            np.array([1, 0, 2]), P, "sparse at 0, 1, eps")


def test_keras_functions(keras, floatx):
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, size=(6, 3)).astype(floatx)
    P = rng.uniform(0.01, 0.99, size=(6, 3)).astype(floatx)
    Z = rng.normal(size=(6, 3)).astype(floatx) * 4
    pairs = [
        (losses.binary_crossentropy(y, P), keras.losses.binary_crossentropy(y, P)),
        (losses.binary_crossentropy(y, Z, from_logits=True, label_smoothing=0.1),
         keras.losses.binary_crossentropy(y, Z, from_logits=True, label_smoothing=0.1)),
        (losses.categorical_crossentropy(np.eye(3)[[0, 1, 2, 0, 1, 2]], P),
         keras.losses.categorical_crossentropy(np.eye(3)[[0, 1, 2, 0, 1, 2]].astype(floatx), P)),
        (losses.sparse_categorical_crossentropy([0, 1, 2, 0, 1, 2], Z, from_logits=True),
         keras.losses.sparse_categorical_crossentropy(np.array([0, 1, 2, 0, 1, 2]), Z,
                                                      from_logits=True)),
        (losses.mean_squared_error(y, Z), keras.losses.mean_squared_error(y, Z)),
        (losses.mean_absolute_error(y[:, 0], Z[:, :1]),
         keras.losses.mean_absolute_error(y[:, 0], Z[:, :1])),
        (losses.huber(y, Z, delta=0.7), keras.losses.huber(y, Z, delta=0.7)),
    ]
    for i, (ours, theirs) in enumerate(pairs):
        close(ours, theirs.numpy(), floatx, f"function {i}")


def test_tensorflow_categorical_gradient_for_targets_not_summing_to_one(keras, tf, floatx64,
                                                                         report):
    """Measured: for targets whose rows do not sum to 1, Keras's loss value from logits equals
    ours, and its gradient depends on TensorFlow's mode. By default TF's fused kernel gives
    softmax(Z) - T (it assumes sum(T) = 1); with op determinism enabled (as this suite runs) TF
    computes -sum(T log_softmax(Z)) by autodiff, whose gradient is the derivative,
    sum(T) softmax(Z) - T: ours. One-hot and smoothed targets sum to 1, so training with them
    is the same either way."""
    from tensorflow.python.framework import config as tf_config

    Z = np.array([[0.3, -1.0, 2.0], [1.0, 0.0, -1.0]])
    T = np.array([[0.5, 0.5, 0.5], [1.0, 1.0, 0.0]])
    S = activations.softmax(Z)
    ours = losses.CategoricalCrossentropy(from_logits=True, reduction="sum")
    theirs = keras.losses.CategoricalCrossentropy(from_logits=True, reduction="sum")
    close(ours.weighted_gradient(T, Z), T.sum(axis=1, keepdims=True) * S - T, "float64", "ours")
    assert tf_config.is_op_determinism_enabled()
    value, deterministic = keras_value_and_gradient(tf, theirs, T, Z)
    close(ours(T, Z), value, "float64", "value")
    close(deterministic, ours.weighted_gradient(T, Z), "float64", "TF, deterministic")
    tf_config.disable_op_determinism()
    try:
        value, fused = keras_value_and_gradient(tf, theirs, T, Z)
    finally:
        tf_config.enable_op_determinism()
    close(ours(T, Z), value, "float64", "value, fused kernel")
    close(fused, S - T, "float64", "TF's fused kernel")
    report("CCE from logits, targets not summing to 1: max |TF default gradient - derivative|",
           float(np.abs(fused - deterministic).max()))


def test_one_hot_and_integer_label_mistakes_are_errors_in_both(keras):
    """Keras 3.15 refuses integer labels with categorical cross-entropy and one-hot targets with
    the sparse one (ValueError at the first batch); tinynn refuses them before training, with
    the fix in the message."""
    x = np.zeros((6, 2), "float32")
    labels = np.arange(6) % 3
    for loss, y in (("categorical_crossentropy", labels),
                    ("sparse_categorical_crossentropy", np.eye(3)[labels])):
        k_model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3,
                                                                          activation="softmax")])
        k_model.compile(loss=loss)
        with pytest.raises(ValueError, match="rank"):
            k_model.evaluate(x, y, verbose=0)
        t_model = tinynn.models.from_keras(k_model)
        t_model.compile(loss=loss)
        with pytest.raises(ValueError, match="sparse_categorical_crossentropy|one-hot"):
            t_model.evaluate(x, y, verbose=0)
