"""Sequential on every task: binary and categorical classification with Keras's targets,
regression; cross-entropy from a final sigmoid's or softmax's logits; targets and inputs
checked per loss; the logs fit and evaluate give (names, order, exact over the epoch)."""

import warnings

import numpy as np
import pytest

import tinynn
from tinynn import layers, losses, metrics


def one_unit(activation="sigmoid", bias=100.0, after=()):
    """A model whose output is activation(bias) for any input (kernel 0)."""
    model = tinynn.Sequential([tinynn.Input((1,)), layers.Dense(1, activation=activation),
                               *after])
    model.layers[0].set_weights([np.zeros((1, 1), "float32"), np.array([bias], "float32")])
    return model


def three_units(logits=(0.0, 100.0, 0.0), activation="softmax"):
    model = tinynn.Sequential([tinynn.Input((1,)), layers.Dense(3, activation=activation)])
    model.layers[0].set_weights([np.zeros((1, 3), "float32"), np.array(logits, "float32")])
    return model


X1 = np.ones((1, 1), "float32")


# ----- the loss of a final sigmoid or softmax comes from its logits (Keras's TF backend) -------

@pytest.mark.parametrize("loss", ["binary_crossentropy", losses.BinaryCrossentropy()])
@pytest.mark.parametrize("y", [np.zeros(1), np.zeros((1, 1))])
def test_sigmoid_with_binary_crossentropy_uses_the_logit(loss, y):
    """KERAS_NOTES.md: logit 100 against label 0 is a loss of 100.0 (not the clipped 16.1),
    and its gradient sigmoid(100) - 0 = 1 trains the bias."""
    model = one_unit()
    model.compile(optimizer=tinynn.optimizers.SGD(0.5), loss=loss)
    assert model.evaluate(X1, y, verbose=0) == pytest.approx(100.0)
    assert model.fit(X1, y, verbose=0).history["loss"] == [pytest.approx(100.0)]
    assert model.layers[0].params["bias"][0] == pytest.approx(100.0 - 0.5)


def test_softmax_with_categorical_crossentropy_uses_the_logits():
    model = three_units()
    model.compile(optimizer="sgd", loss="categorical_crossentropy",
                  metrics=["categorical_crossentropy"])
    logs = model.evaluate(X1, np.array([[1.0, 0.0, 0.0]]), verbose=0, return_dict=True)
    assert logs == {"categorical_crossentropy": pytest.approx(100.0), "loss": pytest.approx(100.0)}


def test_any_cross_entropy_takes_the_logits_as_keras_does():
    """Measured in Keras 3.15: a softmax output with binary cross-entropy gives the sigmoid
    cross-entropy of the softmax's input ((log 2 + 100 + log 2) / 3 = 33.7954); a one-unit
    sigmoid with categorical or sparse cross-entropy gives 0."""
    model = three_units()
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    assert model.evaluate(X1, np.array([[1.0, 0, 0]]), verbose=0) == pytest.approx(
        (2 * np.log(2) + 100) / 3, rel=1e-6)
    model = one_unit()
    for loss in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        model.compile(optimizer="sgd", loss=loss)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)  # Keras's one-class warning
            assert model.evaluate(X1, np.zeros((1, 1)), verbose=0) == 0.0


def test_the_logits_pass_through_a_final_dropout_only_at_inference():
    """Keras measured: Dense(1, sigmoid) + Dropout: evaluate 100.0 (Dropout at inference passes
    the marked tensor on), fit 15.94 (training dropout makes a new tensor, so the clipped
    probability: -log(float32(1 - (1 - 1e-7))))."""
    model = one_unit(after=[layers.Dropout(1e-6)])
    model.compile(optimizer=tinynn.optimizers.SGD(1e-30), loss="binary_crossentropy")
    assert model.evaluate(X1, np.zeros((1, 1)), verbose=0) == pytest.approx(100.0)
    assert model.fit(X1, np.zeros((1, 1)), verbose=0).history["loss"] == [
        pytest.approx(15.942385, rel=1e-6)]


def test_from_logits_true_on_a_sigmoid_output_warns_and_still_uses_the_logit():
    model = one_unit()
    model.compile(optimizer="sgd", loss=losses.BinaryCrossentropy(from_logits=True))
    with pytest.warns(UserWarning, match="from_logits=True.*sigmoid.*Was this intended"):
        assert model.evaluate(X1, np.zeros(1), verbose=0) == pytest.approx(100.0)


def test_cross_entropy_metrics_read_the_logits_whatever_the_loss():
    model = one_unit()
    model.compile(optimizer="sgd", loss="mse",
                  metrics=["binary_crossentropy", metrics.BinaryCrossentropy(name="bce2"),
                           "accuracy"])
    logs = model.evaluate(X1, np.zeros((1, 1)), verbose=0, return_dict=True)
    assert logs == {"accuracy": 0.0, "bce2": pytest.approx(100.0),
                    "binary_crossentropy": pytest.approx(100.0), "loss": pytest.approx(1.0)}


def test_linear_output_or_a_layer_after_the_activation_means_probabilities():
    model = tinynn.Sequential([tinynn.Input((1,)), layers.Dense(1, activation="sigmoid"),
                               layers.Flatten()])
    model.layers[0].set_weights([np.zeros((1, 1), "float32"), np.array([100.0], "float32")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    assert model.evaluate(X1, np.zeros(1), verbose=0) == pytest.approx(15.942385, rel=1e-6)


# ----- the three tasks ---------------------------------------------------------------------------

def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, rng


def test_binary_classification_with_targets_n_or_n_by_1():
    x, _ = data()
    y = (x[:, 0] + x[:, 1] > 0).astype("float32")
    histories = []
    for targets in (y, y[:, None], y.astype(int).tolist()):
        tinynn.utils.set_random_seed(1)
        model = tinynn.Sequential([tinynn.Input((4,)), layers.Dense(8, activation="relu"),
                                   layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer=tinynn.optimizers.Adam(0.05), loss="binary_crossentropy",
                      metrics=["accuracy", metrics.AUC(name="auc")])
        histories.append(model.fit(x, targets, epochs=5, batch_size=16, verbose=0).history)
        assert type(model._compiled.metrics[0]) is metrics.BinaryAccuracy
    assert histories[0] == histories[1] == histories[2]
    assert histories[0]["accuracy"][-1] > 0.8 and histories[0]["auc"][-1] > 0.9


def test_categorical_with_one_hot_targets_trains_like_sparse_with_labels():
    x, rng = data()
    labels = rng.integers(0, 3, size=64)
    runs = []
    for loss, y in (("sparse_categorical_crossentropy", labels),
                    ("categorical_crossentropy", tinynn.utils.to_categorical(labels, 3))):
        tinynn.utils.set_random_seed(2)
        model = tinynn.Sequential([tinynn.Input((4,)), layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
        runs.append((model.fit(x, y, epochs=3, batch_size=16, shuffle=False,
                               verbose=0).history, model.get_weights()))
    (h1, w1), (h2, w2) = runs
    np.testing.assert_allclose(h1["loss"], h2["loss"], rtol=1e-6)
    assert h1["accuracy"] == h2["accuracy"]
    for a, b in zip(w1, w2, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_multi_output_regression_averages_each_samples_outputs():
    x, rng = data()
    y = x[:, :3] @ rng.normal(size=(3, 3)).astype("float32")
    tinynn.utils.set_random_seed(3)
    model = tinynn.Sequential([tinynn.Input((4,)), layers.Dense(3)])
    model.compile(optimizer=tinynn.optimizers.Adam(0.05), loss="mse",
                  metrics=["mae", metrics.RootMeanSquaredError()])
    history = model.fit(x, y, epochs=20, batch_size=16, verbose=0).history
    assert history["loss"][-1] < 0.05 * history["loss"][0]
    logs = model.evaluate(x, y, batch_size=7, verbose=0, return_dict=True)
    error = model.predict(x, verbose=0) - y
    assert logs["loss"] == pytest.approx(np.mean(error**2), rel=1e-5)
    assert logs["mae"] == pytest.approx(np.mean(np.abs(error)), rel=1e-5)
    # over all 64 samples, not the mean of the ten batches' RMSEs
    assert logs["root_mean_squared_error"] == pytest.approx(np.sqrt(np.mean(error**2)), rel=1e-5)
    assert tinynn.gradcheck(model, x[:5], y[:5], verbose=False).passed


@pytest.mark.parametrize("loss", ["mse", "mae", "huber", "binary_crossentropy"])
def test_one_output_regression_targets_n_and_n_by_1_and_gradcheck(loss):
    x, rng = data(n=32)
    y = rng.uniform(0, 1, size=32).astype("float32")
    activation = "sigmoid" if loss == "binary_crossentropy" else None
    results = []
    for targets in (y, y[:, None]):
        tinynn.utils.set_random_seed(4)
        model = tinynn.Sequential([tinynn.Input((4,)), layers.Dense(5, activation="tanh"),
                                   layers.Dense(1, activation=activation)])
        model.compile(optimizer="sgd", loss=loss)
        results.append(model.fit(x, targets, epochs=2, batch_size=8, verbose=0).history["loss"])
        assert tinynn.gradcheck(model, x[:4], targets[:4], verbose=False).passed
    assert results[0] == results[1]


def test_reduction_sum_trains_on_the_sum_and_logs_keras_batch_weighted_mean():
    """Keras 3.15 measured: MeanSquaredError(reduction="sum") logs sum_b(batch sum * batch
    size) / samples (6.855 in its run), and trains on the sum."""
    x, rng = data(n=20)
    y = rng.normal(size=20).astype("float32")
    model = tinynn.Sequential([tinynn.Input((4,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss=losses.MeanSquaredError(reduction="sum"))
    e = (model.predict(x, verbose=0)[:, 0] - y) ** 2
    expected = (e[:8].sum() * 8 + e[8:16].sum() * 8 + e[16:].sum() * 4) / 20
    assert model.evaluate(x, y, batch_size=8, verbose=0) == pytest.approx(expected, rel=1e-5)
    kernel = model.layers[0].params["kernel"].copy()
    model.fit(x[:8], y[:8], batch_size=8, epochs=1, verbose=0)
    prediction = x[:8] @ kernel  # before the step (the bias is 0)
    grad = x[:8].T @ (2 * (prediction[:, 0] - y[:8]))[:, None]  # of the sum, not the mean
    np.testing.assert_allclose(model.layers[0].params["kernel"], kernel - 0.01 * grad,
                               rtol=1e-4, atol=1e-6)


# ----- targets and inputs as Keras accepts them, and clear errors otherwise --------------------

@pytest.mark.parametrize("loss,y,match", [
    ("categorical_crossentropy", np.arange(8) % 3,
     "holds one integer per sample \\(shape \\(8,\\)\\), but the loss categorical_crossentropy "
     "expects targets of shape \\(8, 3\\).*sparse_categorical_crossentropy.*to_categorical"),
    ("categorical_crossentropy", (np.arange(8) % 3)[:, None], "to_categorical\\(y, 3\\)"),
    ("sparse_categorical_crossentropy", np.eye(3)[np.arange(8) % 3],
     "one-hot.*y.argmax\\(axis=1\\).*categorical_crossentropy"),
    ("mse", np.zeros((8, 2)), "y must have shape \\(8, 3\\).*for the loss mean_squared_error; "
                              "got shape \\(8, 2\\)"),
    ("mse", np.zeros(7), "x and y must have the same number of samples: x has 8, y has 7"),
    ("binary_crossentropy", np.where(np.eye(8, 3) > 0, np.nan, 0.0), "y contains NaN"),
    ("binary_crossentropy", np.array(["a"] * 8), "y must hold numbers"),
])
def test_targets_that_do_not_fit_the_loss_are_refused(loss, y, match):
    model = tinynn.Sequential([tinynn.Input((4,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss=loss)
    x = np.zeros((8, 4), "float32")
    with pytest.raises((ValueError, TypeError), match=match):
        model.fit(x, y, verbose=0)


def test_validation_targets_are_checked_the_same_way():
    model = tinynn.Sequential([tinynn.Input((4,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    x = np.zeros((8, 4), "float32")
    with pytest.raises(ValueError, match="validation_data\\[1\\] holds one integer per sample"):
        model.fit(x, np.eye(3)[np.arange(8) % 3], validation_data=(x, np.arange(8) % 3),
                  verbose=0)


def test_one_output_model_accepts_targets_n_only_for_one_unit():
    model = tinynn.Sequential([tinynn.Input((4,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.zeros((8, 4)), np.zeros(8), verbose=0)
    with pytest.raises(ValueError, match="must have shape \\(8, 1\\).*or \\(8,\\) for a model "
                                         "with one output"):
        model.fit(np.zeros((8, 4)), np.zeros((8, 2)), verbose=0)


def test_x_one_rank_off_is_adjusted_as_keras_adjusts_it():
    """Keras 3.15 measured: a 1-D x trains a model with Input((1,)) (and predicts (n, 1)); a
    model without an Input refuses it. A last axis of 1 is added or dropped the same way."""
    x = np.linspace(-1, 1, 20).astype("float32")
    model = tinynn.Sequential([tinynn.Input((1,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, 2 * x, verbose=0, validation_data=(x, 2 * x))
    assert model.predict(x, verbose=0).shape == (20, 1)
    assert model.evaluate(x, 2 * x, verbose=0) == model.evaluate(x[:, None], 2 * x, verbose=0)
    unbuilt = tinynn.Sequential([layers.Dense(1)])
    unbuilt.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="x must have shape \\(samples, features...\\)"):
        unbuilt.fit(x, x, verbose=0)
    images = np.zeros((5, 6, 6), "float32")
    for shape, fed in (((6, 6, 1), images), ((6, 6), images[..., None])):
        model = tinynn.Sequential([tinynn.Input(shape), layers.Flatten(), layers.Dense(2)])
        assert model.predict(fed, verbose=0).shape == (5, 2)


# ----- the logs: Keras's names and order ---------------------------------------------------------

def test_logged_names_are_keras_names_sorted_and_repeated_ones_numbered():
    x, rng = data(n=20)
    y = rng.normal(size=(20, 1)).astype("float32")
    model = tinynn.Sequential([tinynn.Input((4,)), layers.Dense(1)])
    specs = ["mae", "mse", "mean_absolute_error", "MAE", metrics.MeanAbsoluteError(),
             metrics.RootMeanSquaredError(), "root_mean_squared_error"]
    model.compile(optimizer="sgd", loss="mse", metrics=specs)
    history = model.fit(x, y, validation_split=0.25, verbose=0).history
    names = ["MAE", "loss", "mae", "mean_absolute_error", "mean_absolute_error_1", "mse",
             "root_mean_squared_error", "root_mean_squared_error_1"]
    assert list(history) == [*names, *(f"val_{n}" for n in names)]
    assert model.metrics_names == ["loss", "mae", "mse", "mean_absolute_error", "MAE",
                                   "mean_absolute_error_1", "root_mean_squared_error",
                                   "root_mean_squared_error_1"]
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    values = model.evaluate(x, y, verbose=0)
    # Keras's order: loss, each metric's name in compile order (repeats again), then the rest
    assert values == [logs[k] for k in ("loss", "mae", "mse", "mean_absolute_error", "MAE",
                                        "mean_absolute_error", "root_mean_squared_error",
                                        "root_mean_squared_error", "mean_absolute_error_1",
                                        "root_mean_squared_error_1")]


def test_a_custom_metric_function_is_logged_by_its_name_and_saved(tmp_path):
    def within_half(y_true, y_pred):
        return (np.abs(np.asarray(y_true).reshape(-1) - y_pred[:, 0]) < 0.5).astype(float)

    x, rng = data(n=16)
    model = tinynn.Sequential([tinynn.Input((4,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=[within_half])
    assert set(model.fit(x, np.zeros(16), verbose=0).history) == {"loss", "within_half"}
    model.save(tmp_path / "m.npz")
    with pytest.raises(ValueError, match="custom_objects=\\{'within_half': within_half\\}"):
        tinynn.models.load_model(tmp_path / "m.npz")
    loaded = tinynn.models.load_model(tmp_path / "m.npz",
                                      custom_objects={"within_half": within_half})
    assert loaded.metrics_names == ["loss", "within_half"]


def test_softmax_with_sparse_labels_keeps_the_fused_kernel(monkeypatch):
    """The flagship's step, layer by layer: loss and dZ = (softmax(Z) - onehot(y)) / N in one
    backend call (tests/test_engine.py checks the fused engine, which calls the same kernel)."""
    calls = []
    ops = tinynn.backend.ops()
    fused = ops.softmax_cross_entropy_with_gradient
    monkeypatch.setattr(ops, "softmax_cross_entropy_with_gradient",
                        lambda Z, y: calls.append(len(y)) or fused(Z, y))
    x, rng = data(n=40)
    model = tinynn.Sequential([tinynn.Input((4,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=False)
    model.fit(x, rng.integers(0, 3, size=40), batch_size=16, verbose=0)
    assert calls == [16, 16, 8]
