"""The tasks beyond sparse classification, inside `fit` and `evaluate`, against Keras with the
weights copied across (`tinynn.models.from_keras`):

- the loss of a final sigmoid or softmax computed from its logits, as Keras's TensorFlow
  backend does (extreme logits, every cross-entropy, from_logits=True, a final Dropout), for
  the loss, cross-entropy metrics and the gradient that trains;
- whole training runs for binary, one-hot categorical (with label smoothing) and regression
  tasks: the per-epoch logs and the weights;
- the names fit and evaluate log for string and object metrics, and evaluate's list order;
- metrics over many weighted batches in Keras's default float32;
- a 1-D x for a one-feature model; `to_categorical`.

Tolerances: float64 rtol 1e-10 on losses, logs and weights (the brief's bound); float32 rtol
2e-5 (a few float32 steps in a different summation order, as test_ops.py), AUC included:
Keras's own tests allow 1e-3 for AUC, the measured difference is ~1e-7 (Keras keeps its counts
in float32, tinynn in float64).
"""

import warnings

import numpy as np
import pytest

import tinynn

TOL = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=2e-5, atol=1e-6)}


def close(actual, expected, dtype, what):
    np.testing.assert_allclose(np.asarray(actual, np.float64), np.asarray(expected, np.float64),
                               **TOL[dtype], err_msg=f"{what} ({dtype})")


def twins(keras, build, metrics_k=(), metrics_t=(), loss="binary_crossentropy", lr=0.05,
          loss_t=None):
    """A compiled Keras model from `build(keras)` and its tinynn copy (same weights)."""
    k_model = build(keras)
    k_model.compile(optimizer=keras.optimizers.SGD(lr), loss=loss, metrics=list(metrics_k))
    t_model = tinynn.models.from_keras(k_model)
    t_model.compile(optimizer=tinynn.optimizers.SGD(lr), loss=loss_t or loss,
                    metrics=list(metrics_t or metrics_k))
    return k_model, t_model


def extreme(model, scale=40.0, seed=0):
    """Scale the last Dense's kernel so that some logits are beyond +-30 (probabilities round
    to 0 or 1 and Keras's clip would matter if the loss used them)."""
    dense = [layer for layer in model.layers if type(layer).__name__ == "Dense"][-1]
    kernel, bias = dense.get_weights()
    rng = np.random.default_rng(seed)
    dense.set_weights([rng.normal(size=kernel.shape).astype(kernel.dtype) * scale, bias])


# ----- cross-entropy from the logits of a final sigmoid or softmax ------------------------------

def _binary(keras, tail):
    def build(k):
        return k.Sequential([k.Input((3,)), k.layers.Dense(4, activation="tanh"), *tail(k)])
    return build


CASES = {
    "Dense(1, sigmoid) + binary_crossentropy": (
        lambda k: [k.layers.Dense(1, activation="sigmoid")], "binary_crossentropy", 1,
        ["binary_crossentropy", "accuracy"]),
    "Dense(1) + Activation(sigmoid) + BinaryCrossentropy(from_logits=True)": (
        lambda k: [k.layers.Dense(1), k.layers.Activation("sigmoid")],
        "from_logits", 1, ["binary_crossentropy"]),
    "Dense(3, softmax) + categorical_crossentropy": (
        lambda k: [k.layers.Dense(3, activation="softmax")], "categorical_crossentropy", 3,
        ["categorical_crossentropy", "accuracy"]),
    "Dense(3) + Softmax() + binary_crossentropy": (
        lambda k: [k.layers.Dense(3), k.layers.Softmax()], "binary_crossentropy", 3,
        ["binary_crossentropy", "categorical_accuracy"]),
    "Dense(3, softmax) + sparse_categorical_crossentropy": (
        lambda k: [k.layers.Dense(3, activation="softmax")], "sparse_categorical_crossentropy",
        0, ["sparse_categorical_crossentropy", "accuracy"]),
    "Dense(1, sigmoid) + mse, cross-entropy metric": (
        lambda k: [k.layers.Dense(1, activation="sigmoid")], "mse", 1,
        ["binary_crossentropy"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_loss_metrics_and_training_from_the_logits(keras, floatx, case, report):
    tail, loss, units, metric_names = CASES[case]
    rng = np.random.default_rng(1)
    x = rng.normal(size=(24, 3)).astype(floatx)
    if units == 0:
        y = rng.integers(0, 3, size=24)
    elif units == 1:
        y = rng.integers(0, 2, size=(24, 1)).astype(floatx)
    else:
        y = np.eye(3, dtype=floatx)[rng.integers(0, 3, size=24)]
    k_loss = keras.losses.BinaryCrossentropy(from_logits=True) if loss == "from_logits" else loss
    t_loss = tinynn.losses.BinaryCrossentropy(from_logits=True) if loss == "from_logits" \
        else loss
    keras.utils.set_random_seed(0)
    k_model = _binary(keras, tail)(keras)
    extreme(k_model)
    k_model, t_model = twins(keras, lambda k: k_model, metric_names, loss=k_loss, loss_t=t_loss)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras's and ours: from_logits=True on a sigmoid
        k_logs = k_model.evaluate(x, y, verbose=0, return_dict=True)
        t_logs = t_model.evaluate(x, y, verbose=0, return_dict=True)
        assert list(t_logs) == list(k_logs)
        for key in k_logs:
            close(t_logs[key], k_logs[key], floatx, f"{case}: evaluate {key}")
        # the logits matter here: the same cross-entropy of the clipped probabilities differs
        ce = metric_names[0]
        from_probabilities = tinynn.metrics.get(ce)
        from_probabilities.update_state(y, k_model.predict(x, verbose=0))
        assert abs(k_logs[ce] - from_probabilities.result()) > 0.01 * k_logs[ce]
        k_hist = k_model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
        t_hist = t_model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    assert list(t_hist) == list(k_hist)
    for key in k_hist:
        close(t_hist[key], k_hist[key], floatx, f"{case}: fit {key}")
    for a, b in zip(t_model.get_weights(), k_model.get_weights(), strict=True):
        close(a, b, floatx, f"{case}: weights after 6 steps")
    report(f"logits in fit, {case} ({floatx}): evaluate loss", f"{k_logs['loss']:.6g}")


def test_a_final_dropout_passes_the_logits_on_at_inference_only(keras, floatx64):
    """Keras measured: evaluate computes from the logit (the inference Dropout returns its
    input tensor), fit from the clipped probability (training dropout makes a new tensor)."""
    def build(k):
        model = k.Sequential([k.Input((1,)), k.layers.Dense(1, activation="sigmoid"),
                              k.layers.Dropout(1e-9)])
        model.layers[0].set_weights([np.zeros((1, 1)), np.array([100.0])])
        return model
    k_model, t_model = twins(keras, build, lr=1e-30)
    x, y = np.ones((1, 1)), np.zeros((1, 1))
    assert k_model.evaluate(x, y, verbose=0) == pytest.approx(100.0)
    assert t_model.evaluate(x, y, verbose=0) == pytest.approx(100.0)
    k_loss = k_model.fit(x, y, verbose=0).history["loss"]
    close(t_model.fit(x, y, verbose=0).history["loss"], k_loss, "float64", "fit loss")
    assert k_loss[0] == pytest.approx(-np.log(1e-7), rel=1e-6)


# ----- whole runs for each task --------------------------------------------------------------

TASKS = {
    "binary, targets (N,)": (1, "sigmoid", "binary_crossentropy", "binary", ["accuracy"]),
    "binary, label smoothing": (1, "sigmoid", "smoothed_bce", "binary", ["accuracy", "auc"]),
    "categorical one-hot, label smoothing": (4, "softmax", "smoothed_cce", "one-hot",
                                             ["accuracy", "categorical_crossentropy"]),
    "multi-output regression, mse": (3, None, "mse", "regression", ["mae"]),
    "regression, mae": (1, None, "mae", "regression1", ["mse"]),
    "regression, huber": (2, None, "huber", "regression", ["root_mean_squared_error"]),
}


def _task_loss(module, name):
    if name == "smoothed_bce":
        return module.losses.BinaryCrossentropy(label_smoothing=0.1)
    if name == "smoothed_cce":
        return module.losses.CategoricalCrossentropy(label_smoothing=0.1)
    return name


@pytest.mark.parametrize("task", list(TASKS))
def test_training_runs_like_keras(keras, floatx64, task, report):
    units, activation, loss, targets, metric_names = TASKS[task]
    rng = np.random.default_rng(3)
    x = rng.normal(size=(48, 5))
    w = rng.normal(size=(5, max(units, 1)))
    if targets == "binary":
        y = (x @ w[:, 0] > 0).astype(np.float64)
    elif targets == "one-hot":
        y = np.eye(units)[np.argmax(x @ w, axis=1)]
    elif targets == "regression1":
        y = x @ w[:, 0] + 0.1
    else:
        y = x @ w + 0.1
    keras.utils.set_random_seed(0)
    k_model, t_model = twins(
        keras, lambda k: k.Sequential([k.Input((5,)), k.layers.Dense(6, activation="tanh"),
                                       k.layers.Dense(units, activation=activation)]),
        metric_names, loss=_task_loss(keras, loss), loss_t=_task_loss(tinynn, loss))
    k_hist = k_model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0,
                         validation_split=0.25).history
    t_hist = t_model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0,
                         validation_split=0.25).history
    assert list(t_hist) == list(k_hist)
    for key in k_hist:
        close(t_hist[key], k_hist[key], "float64", f"{task}: {key}")
    for a, b in zip(t_model.get_weights(), k_model.get_weights(), strict=True):
        close(a, b, "float64", f"{task}: weights")
    worst = max(float(np.max(np.abs(np.subtract(t_hist[k], k_hist[k]))
                             / np.maximum(np.abs(k_hist[k]), 1e-12))) for k in k_hist)
    report(f"float64 training, {task}: max relative difference of the logs", f"{worst:.1e}")


# ----- logged names and evaluate's order ------------------------------------------------------

def _named(module, cls, name, **kw):
    return getattr(module.metrics, cls)(name=name, **kw)


LOG_CASES = {
    "regression": (2, None, "mse", lambda m: [
        "mae", "mse", "mean_absolute_error", "mean_squared_error", "MAE",
        m.metrics.MeanAbsoluteError(), m.metrics.RootMeanSquaredError(),
        "root_mean_squared_error"]),
    "binary": (1, "sigmoid", "binary_crossentropy", lambda m: [
        "accuracy", "acc", "binary_accuracy", "AUC", "auc", _named(m, "AUC", "roc"),
        _named(m, "Precision", "precision"), _named(m, "Recall", "rec"), "precision"]),
    "sparse": (4, "softmax", "sparse_categorical_crossentropy", lambda m: [
        "sparse_categorical_accuracy", "accuracy", "sparse_top_k_categorical_accuracy",
        _named(m, "SparseTopKCategoricalAccuracy", "top2", k=2),
        _named(m, "SparseCategoricalAccuracy", "sca")]),
    "sparse, labels (N, 1)": (4, "softmax", "sparse_categorical_crossentropy", lambda m: [
        "accuracy", "sparse_categorical_crossentropy"]),
    "categorical": (4, "softmax", "categorical_crossentropy", lambda m: [
        "accuracy", "categorical_accuracy", "top_k_categorical_accuracy",
        "categorical_crossentropy", "CategoricalAccuracy"]),
}


@pytest.mark.parametrize("case", list(LOG_CASES))
def test_logged_names_values_and_evaluate_order(keras, floatx32, case):
    """float32: TensorFlow's top-k has no float64 kernel, so a float64 Keras program cannot log
    top-k metrics at all."""
    units, activation, loss, metric_list = LOG_CASES[case]
    rng = np.random.default_rng(4)
    x = rng.normal(size=(40, 3)).astype("float32")
    if loss == "sparse_categorical_crossentropy":
        y = rng.integers(0, units, size=(40, 1) if "(N, 1)" in case else 40)
    elif loss == "categorical_crossentropy":
        y = np.eye(units, dtype="float32")[rng.integers(0, units, size=40)]
    elif loss == "binary_crossentropy":
        y = rng.integers(0, 2, size=40).astype("float32")
    else:
        y = rng.normal(size=(40, units)).astype("float32")
    keras.utils.set_random_seed(0)
    k_model, t_model = twins(
        keras, lambda k: k.Sequential([k.Input((3,)), k.layers.Dense(units,
                                                                     activation=activation)]),
        metric_list(keras), metric_list(tinynn), loss=loss)
    k_hist = k_model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0,
                         validation_split=0.25).history
    t_hist = t_model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0,
                         validation_split=0.25).history
    assert list(t_hist) == list(k_hist)
    for key in k_hist:
        close(t_hist[key], k_hist[key], "float32", f"{case}: fit {key}")
    k_list, t_list = k_model.evaluate(x, y, verbose=0), t_model.evaluate(x, y, verbose=0)
    assert len(t_list) == len(k_list)
    close(t_list, k_list, "float32", f"{case}: evaluate list")
    k_dict = k_model.evaluate(x, y, verbose=0, return_dict=True)
    assert list(t_model.evaluate(x, y, verbose=0, return_dict=True)) == list(k_dict)


# ----- metrics over many batches in Keras's default float32 -------------------------------------

def test_metrics_over_many_weighted_batches_in_float32(keras, floatx32, report):
    rng = np.random.default_rng(5)
    pairs = [(name, getattr(tinynn.metrics, cls)(**kw), getattr(keras.metrics, cls)(**kw))
             for name, cls, kw in [
                 ("AUC", "AUC", {}), ("AUC PR", "AUC", {"curve": "PR"}),
                 ("AUC 50 thresholds minoring", "AUC",
                  {"num_thresholds": 50, "summation_method": "minoring"}),
                 ("Precision at 3 thresholds", "Precision", {"thresholds": [0.2, 0.5, 0.8]}),
                 ("Recall", "Recall", {}), ("BinaryAccuracy", "BinaryAccuracy", {}),
                 ("BinaryCrossentropy", "BinaryCrossentropy", {})]]
    for _ in range(8):
        y = rng.integers(0, 2, size=(250, 1)).astype("float32")
        p = np.clip(0.3 * y + rng.uniform(0, 0.7, size=(250, 1)), 0, 1).astype("float32")
        w = rng.uniform(0, 2, size=250).astype("float32")
        for _, ours, theirs in pairs:
            ours.update_state(y, p, sample_weight=w)
            theirs.update_state(y, p, sample_weight=w)
    for name, ours, theirs in pairs:
        got, want = np.asarray(ours.result()), np.asarray(theirs.result())
        diff = float(np.max(np.abs(got - want)))
        report(f"float32 metric over 2,000 weighted samples, |tinynn - Keras|, {name}", diff)
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6, err_msg=name)


# ----- inputs and utilities -------------------------------------------------------------------

def test_one_dimensional_x_for_a_one_feature_model(keras, floatx64):
    """Keras 3.15 measured: x of shape (n,) trains, evaluates and predicts a model whose Input
    is (1,)."""
    x = np.linspace(-1, 1, 24)
    y = 3 * x - 1
    keras.utils.set_random_seed(0)
    k_model, t_model = twins(keras, lambda k: k.Sequential([k.Input((1,)), k.layers.Dense(1)]),
                             loss="mse")
    close(t_model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"],
          k_model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"],
          "float64", "fit with 1-D x")
    close(t_model.evaluate(x, y, verbose=0), k_model.evaluate(x, y, verbose=0), "float64",
          "evaluate")
    close(t_model.predict(x, verbose=0), k_model.predict(x, verbose=0), "float64", "predict")


def test_to_categorical_equals_keras(keras):
    for args in ([[0, 2, 1, 2]], [[0, 2, 1], 5], [np.array([[1], [0], [3]])],
                 [np.array([[1, 2], [0, 1]]), 3], [[1.7, 2.2], 3], [[-1, 0], 3]):
        ours, theirs = tinynn.utils.to_categorical(*args), keras.utils.to_categorical(*args)
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        np.testing.assert_array_equal(ours, theirs)


def test_to_keras_compiles_with_the_same_loss_and_metrics(keras, floatx64):
    """Interop rebuilds the loss and every metric (names, objects from their configs,
    functions by name) in Keras: its evaluate logs what tinynn's does."""
    tinynn.utils.set_random_seed(0)
    model = tinynn.Sequential([tinynn.Input((3,)), tinynn.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss=tinynn.losses.BinaryCrossentropy(label_smoothing=0.1),
                  metrics=["accuracy", tinynn.metrics.AUC(name="roc", num_thresholds=50),
                           tinynn.metrics.binary_accuracy, "mse"])
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(30, 3)), rng.integers(0, 2, size=(30, 1)).astype(np.float64)
    exported = model.to_keras()
    ours = model.evaluate(x, y, verbose=0, return_dict=True)
    theirs = exported.evaluate(x, y, verbose=0, return_dict=True)
    assert list(ours) == list(theirs)
    for key in theirs:
        close(ours[key], theirs[key], "float64", key)
