"""Sequential: construction, summary, weights, fit/evaluate/predict semantics, bad input."""

import io
import re
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

import tinynn
from tinynn import layers


def seed_mlp():
    return tinynn.Sequential([
        tinynn.Input((28, 28)), layers.Flatten(),
        layers.Dense(512, activation="relu"), layers.Dropout(0.3),
        layers.Dense(256, activation="relu"), layers.Dropout(0.3),
        layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax"),
    ])


def small(seed=0, n=40, compile=True):
    tinynn.utils.set_random_seed(seed)
    model = tinynn.Sequential([tinynn.Input((4,)), layers.Dense(8, activation="tanh"),
                               layers.Dense(3, activation="softmax")])
    if compile:
        model.compile(optimizer=tinynn.optimizers.Adam(0.01),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    return model, x, (x[:, 0] > 0).astype(int) + (x[:, 1] > 1)


def test_seed_mlp_summary_and_counts():
    model = seed_mlp()
    assert model.count_params() == 567_434
    out = io.StringIO()
    with redirect_stdout(out):
        model.summary()
    text = out.getvalue()
    assert "Total params: 567,434" in text
    assert re.search(r"dense\S* \(Dense\)\s+│ \(None, 512\)\s+│\s+401,920", text)
    assert "(None, 784)" in text


def test_flatten_input_shape_and_add_are_equivalent_to_input():
    a = tinynn.Sequential([layers.Flatten(input_shape=(28, 28)), layers.Dense(10)])
    b = tinynn.Sequential()
    b.add(tinynn.Input((28, 28)))
    b.add(layers.Flatten())
    b.add(layers.Dense(10))
    assert a.count_params() == b.count_params() == 7850
    assert [w.shape for w in a.get_weights()] == [(784, 10), (10,)]
    c = tinynn.Sequential()  # the Keras guide to callbacks: Dense(1, input_dim=784)
    c.add(layers.Dense(1, input_dim=784))
    assert c.input_shape == (None, 784) and c.count_params() == 785
    assert layers.Dense(1, input_dim=3, input_shape=(5,)).input_shape == (3,)  # as in Keras


def test_unbuilt_model_builds_on_first_data():
    model = tinynn.Sequential([layers.Dense(5), layers.Dense(2, activation="softmax")])
    assert model.predict(np.ones((3, 7)), verbose=0).shape == (3, 2)
    assert model.count_params() == 7 * 5 + 5 + 5 * 2 + 2


def test_weights_in_keras_order_and_set_weights_round_trip():
    model, x, _ = small()
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(4, 8), (8,), (8, 3), (3,)]
    new = [np.full_like(w, i) for i, w in enumerate(weights)]
    model.set_weights(new)
    for got, want in zip(model.get_weights(), new, strict=True):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="set_weights expected 4 arrays"):
        model.set_weights(new[:3])


def test_predict_probabilities_and_call():
    model, x, _ = small()
    probs = model.predict(x, batch_size=7, verbose=0)
    assert probs.shape == (40, 3) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(model(x), probs, rtol=1e-6)


def test_fit_learns_and_evaluate_matches_history_semantics():
    model, x, y = small(n=200)
    history = model.fit(x, y, epochs=15, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    loss, acc = model.evaluate(x, y, verbose=0)
    assert acc > 0.9
    probs = model.predict(x, verbose=0)
    np.testing.assert_allclose(loss, -np.mean(np.log(probs[np.arange(200), y])), rtol=1e-5)
    np.testing.assert_allclose(acc, np.mean(probs.argmax(1) == y))
    assert model.evaluate(x, y, verbose=0, return_dict=True) == {"loss": loss, "accuracy": acc}


def test_validation_split_takes_the_last_fraction_before_shuffling():
    model, x, y = small(n=50)
    seen = []

    class Spy(tinynn.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(logs["val_loss"])

    model.fit(x, y, epochs=1, validation_split=0.2, callbacks=[Spy()], verbose=0)
    assert seen[0] == pytest.approx(model.evaluate(x[40:], y[40:], verbose=0)[0], rel=1e-12)
    model.fit(x, y, epochs=1, validation_data=(x[:5], y[:5]), callbacks=[Spy()], verbose=0)
    assert seen[1] == pytest.approx(model.evaluate(x[:5], y[:5], verbose=0)[0], rel=1e-12)


def test_running_loss_is_weighted_by_batch_size():
    """The epoch loss is the mean over samples: a last batch of 1 sample weighs 1/41."""
    model, x, y = small(n=41)
    model.compile(optimizer=tinynn.optimizers.SGD(learning_rate=1e-12),  # weights ~frozen
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=1, batch_size=20, shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx(model.evaluate(x, y, verbose=0)[0],
                                                       rel=1e-6)


def test_same_seed_same_training_bitwise():
    runs = []
    for _ in range(2):
        model, x, y = small(seed=3)
        model.fit(x, y, epochs=2, batch_size=8, verbose=0)
        runs.append(model.get_weights())
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_float64_model(float64):
    model, x, y = small()
    model.fit(x, y, epochs=1, verbose=0)
    assert all(w.dtype == np.float64 for w in model.get_weights())
    assert model.predict(x, verbose=0).dtype == np.float64


def test_from_logits_loss_and_linear_output():
    model = tinynn.Sequential([tinynn.Input((4,)), layers.Dense(3)])
    model.compile(loss=tinynn.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    _, x, y = small()
    history = model.fit(x, y, epochs=20, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


class MeanSquaredProbability(tinynn.losses.Loss):
    """A loss of one's own (no from_logits attribute): mean over classes of (P - onehot)**2."""

    def call(self, y_true, y_pred):
        onehot = np.eye(y_pred.shape[1])[np.asarray(y_true).reshape(-1)]
        return ((y_pred - onehot) ** 2).mean(axis=1)

    def gradient(self, y_true, y_pred):
        onehot = np.eye(y_pred.shape[1])[np.asarray(y_true).reshape(-1)]
        return 2 * (y_pred - onehot) / y_pred.size


class NoisyCrossEntropy(tinynn.losses.SparseCategoricalCrossentropy):
    """A subclass redefining the gradient: the fused logits path must not bypass it."""

    def gradient(self, y_true, y_pred):
        return 2 * super().gradient(y_true, y_pred)


@pytest.mark.parametrize("loss,correct", [(MeanSquaredProbability(), True),
                                          (NoisyCrossEntropy(), False)],
                         ids=["own_loss", "subclass"])
def test_a_loss_of_ones_own_after_softmax_is_called_as_written(loss, correct):
    """Only tinynn's own cross-entropy is replaced by the fused loss-from-logits path: a loss of
    one's own is called, and its gradient used (gradcheck sees the subclass's doubled one)."""
    model, x, y = small()
    model.compile(loss=loss)
    assert model._logits_loss is None  # never the fused loss-from-logits path
    Y = model._forward(x[:8], training=True)
    np.testing.assert_allclose(model._backward(Y, y[:8]), loss.call(y[:8], Y))
    assert tinynn.gradcheck(model, x[:6], y[:6], verbose=False).passed is correct


def test_separate_softmax_layer_trains_like_dense_softmax():
    _, x, y = small()
    results = []
    for last in ([layers.Dense(3, activation="softmax")], [layers.Dense(3), layers.Softmax()]):
        tinynn.utils.set_random_seed(5)
        model = tinynn.Sequential([tinynn.Input((4,)), *last])
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=2, shuffle=False, verbose=0)
        results.append(model.get_weights())
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("call,error,match", [
    (lambda m, x, y: m.fit(x, y[:-1], verbose=0), ValueError, "x has 40, y has 39"),
    (lambda m, x, y: m.fit(x, np.eye(3)[y], verbose=0), ValueError, "one-hot.*y.argmax"),
    (lambda m, x, y: m.fit(x, y - 1, verbose=0), ValueError, "labels from -1 to 1"),
    (lambda m, x, y: m.fit(x, y + 3, verbose=0), ValueError, "labels in \\[0, 3\\)"),
    (lambda m, x, y: m.fit(x, y + 0.5, verbose=0), TypeError,
     "integer class labels.*40 non-integer values such as \\d.5"),
    (lambda m, x, y: m.fit(x, y.astype(str), verbose=0), TypeError, "integer class labels"),
    (lambda m, x, y: m.fit(np.where(x > 1, np.nan, x), y, verbose=0), ValueError, "NaN"),
    (lambda m, x, y: m.fit(np.where(x > 1, -np.inf, x), y, verbose=0), ValueError,
     "infinite values, the first at index \\(\\d+, \\d\\): -inf"),
    (lambda m, x, y: m.predict(x.astype(np.float64) * 1e300, verbose=0), ValueError,
     "too large for float32"),
    (lambda m, x, y: m.fit([[1, 2, 3, 4], [1, 2]], y[:2], verbose=0), ValueError,
     "x must be a rectangular array"),
    (lambda m, x, y: m.fit(x.astype(str).astype(object), y, verbose=0), TypeError,
     "x must hold numbers, got an array of dtype object"),
    (lambda m, x, y: m.fit(x[:0], y[:0], verbose=0), ValueError, "empty"),
    (lambda m, x, y: m.fit(x[0], y, verbose=0), ValueError, "shape \\(samples"),
    (lambda m, x, y: m.fit(x, y, batch_size=0, verbose=0), ValueError, "batch_size"),
    (lambda m, x, y: m.fit(x, y, epochs=-1, verbose=0), ValueError, "epochs"),
    (lambda m, x, y: m.fit(x, y, validation_split=1.0, verbose=0), ValueError, "validation_split"),
    (lambda m, x, y: m.fit(x, y, validation_split=-0.1, verbose=0), ValueError,
     "validation_split"),
    (lambda m, x, y: m.fit(x, y, validation_split="0.1", verbose=0), ValueError,
     "validation_split"),
    (lambda m, x, y: m.fit(x, y, validation_data=(x[:, :2], y), verbose=0), ValueError,
     "validation_data\\[0\\] must have samples shaped like x's, \\(4,\\)"),
    (lambda m, x, y: m.fit(x, y, callbacks=tinynn.callbacks.History(), verbose=0), TypeError,
     "callbacks must be a list"),
    (lambda m, x, y: m.fit(x, y, initial_epoch=-1, verbose=0), ValueError, "initial_epoch"),
    (lambda m, x, y: m.evaluate(x, y, batch_size=0, verbose=0), ValueError, "batch_size=0"),
    (lambda m, x, y: m.predict(x, batch_size=-2, verbose=0), ValueError, "batch_size=-2"),
    (lambda m, x, y: m.set_weights([np.zeros((4, 8))] * 4), ValueError,
     "weight 'bias' has shape \\(8,\\), got \\(4, 8\\)"),
    (lambda m, x, y: m.set_weights([w.astype(str) for w in m.get_weights()]), TypeError,
     "weight 'kernel' must hold numbers"),
    (lambda m, x, y: m.set_weights(m.get_weights()[0]), TypeError, "list of arrays"),
    (lambda m, x, y: m.fit(x[:1], y[:1], validation_split=0.5, verbose=0), ValueError,
     "validation_split"),
    (lambda m, x, y: m.fit(x.astype(str), y, verbose=0), TypeError, "must hold numbers"),
    (lambda m, x, y: m.predict(np.ones((2, 5)), verbose=0), ValueError, "samples of shape"),
])
def test_bad_input_gets_clear_errors(call, error, match):
    model, x, y = small()
    with pytest.raises(error, match=match):
        call(model, x, y)


def test_fit_before_compile_and_unknown_names():
    model, x, y = small(compile=False)
    for error in (ValueError, RuntimeError):  # Keras 3 raises ValueError, tinynn did RuntimeError
        with pytest.raises(error, match="^You must call `compile\\(\\)` before using the model: "
                                        "fit\\(\\) needs"):
            model.fit(x, y)
        with pytest.raises(error, match="compile.*evaluate\\(\\)"):
            model.evaluate(x, y)
    with pytest.raises(tinynn.models.NotCompiledError):
        model.fit(x, y)
    with pytest.raises(ValueError, match="Known optimizers: adadelta, adagrad, adam, .*, sgd"):
        model.compile(optimizer="adagard", loss="sparse_categorical_crossentropy")
    with pytest.raises(TypeError, match="metrics to be a list"):
        model.compile(loss="sparse_categorical_crossentropy", metrics="accuracy")
    with pytest.raises(ValueError, match="Known losses"):
        model.compile(loss="dice")  # not in tinynn
    with pytest.raises(ValueError, match="Known metrics"):
        model.compile(loss="sparse_categorical_crossentropy", metrics=["f1"])


def test_compile_defaults_to_rmsprop_like_keras():
    model, _, _ = small(compile=False)
    model.compile(loss="sparse_categorical_crossentropy")
    assert type(model.optimizer) is tinynn.optimizers.RMSprop
    assert (model.optimizer.learning_rate, model.optimizer.rho) == (0.001, 0.9)


def test_labels_shaped_n_by_1_and_lists_are_accepted():
    model, x, y = small()
    model.fit(x.tolist(), y[:, None], epochs=1, verbose=0)
    model.fit(x.astype(np.float64), y.astype(np.uint8), epochs=1, verbose=0)
    model.fit((x * 50 + 100).astype(np.uint8), y.astype(np.int8), epochs=1, verbose=0)
    assert model.predict(x.astype(np.uint8), verbose=0).dtype == np.float32


@pytest.mark.parametrize("verbose,pattern", [
    (1, r"Epoch 1/2\n.*3/3 ━+ \S+ \S+/step - accuracy: [\d.]+ - loss: [\d.]+\nEpoch 2/2"),
    (2, r"Epoch 2/2\n3/3 - \S+ - \S+/step - accuracy: [\d.]+ - loss: [\d.]+\n"),
])
def test_progress_output(verbose, pattern, capsys):
    model, x, y = small()
    model.fit(x, y, epochs=2, batch_size=16, verbose=verbose)
    assert re.search(pattern, capsys.readouterr().out)


def test_verbose_0_is_silent(capsys):
    model, x, y = small()
    model.fit(x, y, epochs=2, verbose=0)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    assert capsys.readouterr().out == ""


def test_3d_input_into_dense_suggests_flatten():
    # Dense acts on the last axis, as in Keras: images give one row of scores per image row,
    # which the classification loss refuses (Keras: "Argument `output` must have rank ...")
    model = tinynn.Sequential([tinynn.Input((28, 28)), layers.Dense(10)])
    assert model.output_shape == (None, 28, 10)
    model.compile(loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"^Model 'sequential_\d+' outputs shape \(None, 28, "
                       r"10\), but the loss SparseCategoricalCrossentropy needs one row of class "
                       r"scores per sample, shape \(batch, classes\). Did you forget a Flatten "
                       r"layer\?$"):
        model.evaluate(np.zeros((4, 28, 28)), np.zeros(4, dtype=int), verbose=0)
    model = tinynn.Sequential([layers.Dense(10, activation="softmax")])  # built by fit
    model.compile(loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="Did you forget a Flatten layer"):
        model.fit(np.zeros((4, 28, 28)), np.zeros(4, dtype=int), verbose=0)
    assert model.predict(np.zeros((2, 28, 28)), verbose=0).shape == (2, 28, 10)  # as Keras
    # built for 784 features, then fed images: the model itself gives the hint
    model = tinynn.Sequential([tinynn.Input((784,)), layers.Dense(10, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy")
    images, labels = np.zeros((64, 28, 28)), np.zeros(64, dtype=int)
    for call in (lambda: model.fit(images, labels, verbose=0),
                 lambda: model.evaluate(images, labels, verbose=0),
                 lambda: model.predict(images, verbose=0)):
        with pytest.raises(ValueError, match="^Model 'sequential_\\d+' expects samples of shape "
                           "\\(784,\\), got input of shape \\(64, 28, 28\\). Did you forget a "
                           "Flatten layer\\?$"):
            call()
    with pytest.raises(ValueError, match="got input of shape \\(64, 783\\).$"):  # no hint
        model.predict(np.zeros((64, 783)), verbose=0)


def test_readme_quotes_the_model_errors_exactly():
    readme = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text().split())
    model = tinynn.Sequential([tinynn.Input((784,)), layers.Dense(10, activation="softmax")],
                              name="sequential")  # the README's is a session's first model
    images, labels = np.zeros((64, 28, 28)), np.zeros(64, dtype=int)
    for compile_first in (False, True):
        if compile_first:
            model.compile(loss="sparse_categorical_crossentropy")
        with pytest.raises(ValueError) as error:
            model.fit(images, labels, verbose=0)
        assert str(error.value) in readme, str(error.value)
    no_flatten = tinynn.Sequential([tinynn.Input((28, 28)), layers.Dense(10)], name="sequential")
    no_flatten.compile(loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError) as error:
        no_flatten.fit(images, labels, verbose=0)
    assert str(error.value) in readme, str(error.value)


def test_metric_given_as_function_is_named_like_keras():
    model, x, y = small(compile=False)
    model.compile(loss="sparse_categorical_crossentropy",
                  metrics=[tinynn.metrics.sparse_categorical_accuracy])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "sparse_categorical_accuracy"]


def test_fit_reshuffles_the_data_every_epoch_even_when_seeded():
    """shuffle=True means a new order each epoch, each sample once per epoch, also after
    `set_random_seed`. (Keras 3.15 on TensorFlow repeats the first epoch's order in every epoch
    once seeded, against its own documentation; see parity/README.md.)"""
    tinynn.utils.set_random_seed(0)
    n = 40
    x, y = np.arange(n, dtype=np.float32).reshape(n, 1), np.arange(n) % 2
    model = tinynn.Sequential([tinynn.Input((1,)), layers.Dense(2, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy")
    orders, step = [], model._train_step

    def recording_step(X, y_batch, sample_weight=None):
        orders[-1].extend(X[:, 0].astype(int).tolist())
        return step(X, y_batch, sample_weight)

    class NewEpoch(tinynn.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            orders.append([])

    model._train_step = recording_step
    model.fit(x, y, epochs=3, batch_size=8, callbacks=[NewEpoch()], verbose=0)
    assert len(orders) == 3 and all(sorted(o) == list(range(n)) for o in orders)
    assert len({tuple(o) for o in orders}) == 3, "the same order was used in two epochs"


def test_a_model_nested_in_another_as_in_the_tensorflow_beginner_tutorial(tmp_path):
    """TensorFlow's "basic classification" tutorial: train on logits, then wrap the model with
    `Sequential([model, layers.Softmax()])`. The outer model takes the inner one's input shape,
    predicts softmax(inner logits), trains the inner weights exactly as the same layers laid out
    flat would, and saves and loads like any model."""
    def inner(seed):
        tinynn.utils.set_random_seed(seed)
        return tinynn.Sequential([layers.Flatten(input_shape=(4, 2)), layers.Dense(6, "relu"),
                                  layers.Dense(3)])

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 4, 2)).astype(np.float32), rng.integers(0, 3, 40)
    model = inner(0)
    probability_model = tinynn.Sequential([model, layers.Softmax()])
    assert probability_model.input_shape == (None, 4, 2)
    assert probability_model.output_shape == (None, 3)
    logits = model.predict(x, verbose=0)
    expected = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(probability_model.predict(x, verbose=0),
                               expected / expected.sum(1, keepdims=True), rtol=1e-6)

    flat = inner(0)
    flat = tinynn.Sequential([*[layer for layer in flat.layers], layers.Softmax()])
    for m in (probability_model, flat):
        m.compile(optimizer=tinynn.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
        m.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    assert not np.allclose(model.get_weights()[0], inner(0).get_weights()[0])  # it trained
    for a, b in zip(probability_model.get_weights(), flat.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)

    probability_model.save(tmp_path / "nested.npz")
    loaded = tinynn.models.load_model(tmp_path / "nested.npz")
    assert [type(layer).__name__ for layer in loaded.layers] == ["Sequential", "Softmax"]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0),
                                  probability_model.predict(x, verbose=0))
