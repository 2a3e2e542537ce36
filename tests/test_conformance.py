"""The conformance suite (scikit-learn's `check_estimator` spirit): every layer, loss, metric,
optimizer and activation tinynn exports is discovered, not listed, and goes through the same
battery.

A new class is covered by existing. A student's own layer joins by being registered below, as a
user would register it for saving. Keras equality for the same classes is in
parity/test_conformance_keras.py.
"""

import inspect

import numpy as np
import pytest

import tinynn
from tinynn import activations, backend, layers, losses, metrics, optimizers, saving
from tinynn.gradient_check import assert_grad_close, numerical_grad


@saving.register_keras_serializable(package="tests")
class StudentDense(layers.Layer):
    """A dense layer written the way a student would: Y = X @ W + b.

    Backward: dW = X.T @ dY, db = sum_rows(dY), dX = dY @ W.T.
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight((input_shape[-1], self.units), "glorot_uniform", name="kernel")
        self.b = self.add_weight((self.units,), "zeros", name="bias")

    def forward(self, X, training=False):
        self.X = X
        return X @ self.w + self.b

    def backward(self, dZ):
        X = self.X
        self.grads["kernel"] = X.T @ dZ  # the natural line: it must reach the optimizer
        self.grads["bias"] = dZ.sum(axis=0)
        return dZ @ self.w.T

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@saving.register_keras_serializable(package="tests")
class Center(layers.Layer):
    """Y = X - mean + b: in training the batch mean, which also updates a moving mean (a weight
    the optimizer must not touch); at inference the moving mean. A student's BatchNorm, halved.

    Backward (training): dX = dY - mean_rows(dY), db = sum_rows(dY).
    """

    def __init__(self, momentum: float = 0.9, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum

    def build(self, input_shape):
        self.add_weight((input_shape[-1],), "zeros", name="bias")
        self.add_weight((input_shape[-1],), "zeros", trainable=False, name="moving_mean")

    def forward(self, X, training=False):
        mean = X.mean(axis=0) if training else self.params["moving_mean"]
        if training:
            m = self.momentum
            self.params["moving_mean"] = m * self.params["moving_mean"] + (1 - m) * mean
        self.training = training
        return X - mean + self.params["bias"]

    def backward(self, dY):
        self.grads["bias"] = dY.sum(axis=0)
        return dY - dY.mean(axis=0) if self.training else dY

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum}


# every layer exported as tinynn.layers.X (wherever it is defined), as keras.layers.X
LAYERS = [c for c in saving.builtin_classes(layers.Layer)
          if getattr(layers, c.__name__, None) is c and c is not layers.InputLayer] + [
    StudentDense, Center]
LOSSES = saving.builtin_classes(losses.Loss)
METRICS = saving.builtin_classes(metrics.Metric)
OPTIMIZERS = saving.builtin_classes(optimizers.Optimizer)
ACTIVATIONS = sorted({name for name in dir(activations)
                      if callable(getattr(activations, f"{name}_backward", None))})

# Sample values for constructor arguments without a default, by parameter name: a new class
# whose arguments are all named here (or have defaults) is covered with no change to this file.
SAMPLE_ARGUMENTS = {"units": 3, "rate": 0.3, "activation": "tanh", "stddev": 0.4,
                    "fn": metrics.mean_absolute_error, "scale": 0.5, "target_shape": (-1,)}


def make(cls, **overrides):
    kwargs = {}
    for p in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) or p.default is not p.empty:
            continue
        assert p.name in SAMPLE_ARGUMENTS, (
            f"{cls.__name__}.__init__ needs {p.name!r}: add a sample value to SAMPLE_ARGUMENTS")
        kwargs[p.name] = SAMPLE_ARGUMENTS[p.name]
    return cls(**{**kwargs, **overrides})


def sample_input(rng, n=5):
    return rng.normal(size=(n, 2, 3))


def with_seed(cls):
    return {"seed": 7} if "seed" in inspect.signature(cls.__init__).parameters else {}


def test_discovery_finds_the_known_classes():
    """A guard on the discovery itself: it must see at least what tinynn had when it was written."""
    names = {c.__name__ for c in LAYERS}
    assert {"Dense", "Dropout", "Flatten", "Activation", "ReLU", "Softmax", "StudentDense",
            "LeakyReLU", "ELU", "PReLU", "GaussianNoise", "GaussianDropout",
            "BatchNormalization", "LayerNormalization"} <= names
    assert {"Adam", "SGD", "RMSprop", "AdamW", "Nadam", "Adamax", "Adagrad", "Adadelta",
            "Lion"} <= {c.__name__ for c in OPTIMIZERS}
    assert {"SparseCategoricalCrossentropy", "CategoricalCrossentropy", "BinaryCrossentropy",
            "MeanSquaredError", "MeanAbsoluteError", "Huber"} <= {c.__name__ for c in LOSSES}
    assert {"AUC", "Precision", "Recall", "RootMeanSquaredError", "BinaryAccuracy", "Mean",
            "SparseCategoricalAccuracy"} <= {c.__name__ for c in METRICS}
    assert {"relu", "tanh", "sigmoid", "softmax", "linear", "elu", "selu", "gelu", "silu",
            "swish", "leaky_relu", "relu6", "softplus", "softsign", "hard_sigmoid",
            "exponential"} <= set(ACTIVATIONS)


# ----- layers ----------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", LAYERS, ids=lambda c: c.__name__)
def test_layer_gradcheck_float64(cls):
    rng = np.random.default_rng(0)
    layer = make(cls, **with_seed(cls))
    X = sample_input(rng)
    if not isinstance(layer, layers.Flatten) and not isinstance(layer, layers.Dropout):
        X = X.reshape(len(X), -1)
    result = tinynn.gradcheck(layer, X, verbose=False)
    assert result.passed, result
    assert {r.param for r in result.rows} == {*layer.grads, "input"}


@pytest.mark.parametrize("cls", LAYERS, ids=lambda c: c.__name__)
def test_layer_config_round_trip(cls):
    layer = make(cls, **with_seed(cls))
    config = layer.get_config()
    twin = cls.from_config(config)
    assert type(twin) is cls and twin.get_config() == config
    spec = saving.serialize_keras_object(layer)
    assert saving.deserialize_keras_object(spec, layers.Layer).get_config() == config


@pytest.mark.parametrize("name", ["m.npz", "m.keras"])  # tinynn's format, Keras's
@pytest.mark.parametrize("cls", LAYERS, ids=lambda c: c.__name__)
def test_layer_saves_and_loads_inside_a_model(cls, tmp_path, name):
    tinynn.utils.set_random_seed(0)
    model = tinynn.Sequential([tinynn.Input((6,)), make(cls, **with_seed(cls)),
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(1).normal(size=(16, 6)).astype("float32")
    y = np.arange(16) % 3
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    model.save(tmp_path / name)
    loaded = tinynn.models.load_model(tmp_path / name)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    assert [a.get_config() for a in loaded.layers] == [b.get_config() for b in model.layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.optimizer.iterations == model.optimizer.iterations
    for slot, arrays in model.optimizer.slots().items():  # the optimizer's state came back
        for a, b in zip(loaded.optimizer.slots()[slot], arrays, strict=True):
            np.testing.assert_array_equal(a, b)
    if name.endswith(".npz"):  # random generators too: training goes on identically
        a = model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0).history
        b = loaded.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0).history
        assert a == b


@pytest.mark.parametrize("cls", LAYERS, ids=lambda c: c.__name__)
def test_layer_backends_agree(cls):
    """The numba backend (a kernel where one exists, else the reference) equals the NumPy one."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(5, 6)).astype("float32")
    dY = None
    results = []
    for name in ("numpy", "numba"):
        backend.set_backend(name)
        try:
            tinynn.utils.set_random_seed(0)
            layer = make(cls, **with_seed(cls))
            Y = layer(X, training=True)
            dY = rng.normal(size=Y.shape).astype("float32") if dY is None else dY
            dX = layer.backward(dY)
            results.append([Y, dX, *(layer.grads[k] for k in layer.grads)])
        finally:
            backend.set_backend("numba")
    for got, want in zip(*results, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls", LAYERS, ids=lambda c: c.__name__)
def test_layer_trains_what_its_gradients_say(cls):
    """After one SGD step in `fit`, every trainable weight moved by exactly -lr * its gradient:
    the gradient the layer wrote is the one the optimizer applied."""
    tinynn.utils.set_random_seed(0)
    layer = make(cls, **with_seed(cls))
    model = tinynn.Sequential([tinynn.Input((6,)), layer, layers.Dense(3)])
    model.compile(optimizer=optimizers.SGD(0.1),
                  loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(2).normal(size=(8, 6)).astype("float32")
    y = np.arange(8) % 3
    before = [w.copy() for w in layer.trainable_weights]

    def freeze_noise():  # a random layer draws the same noise in both passes
        if isinstance(getattr(layer, "_rng", None), np.random.Generator):
            layer._rng = np.random.default_rng(0)

    freeze_noise()
    model._backward(model._forward(x, training=True), y)
    expected = [w - np.float32(0.1) * g for w, g in zip(before, layer.gradients, strict=True)]
    freeze_noise()
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for got, want, old in zip(layer.trainable_weights, expected, before, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
        assert not np.array_equal(got, old), "a weight did not move"


# ----- losses, optimizers, activations ---------------------------------------------------------

# Non-default sample values for options a loss or metric may take, by parameter name: each one a
# class's constructor has gives a variant of it (and all together one more), so the options are
# checked too. A new class is covered with no change here.
OPTIONS = {"from_logits": True, "label_smoothing": 0.2, "delta": 0.5, "threshold": 0.3, "k": 2,
           "thresholds": [0.25, 0.5, 0.75], "num_thresholds": 13, "curve": "PR"}


def variants(cls) -> list[dict]:
    """{} and one dict per option of OPTIONS the constructor takes (and all of them)."""
    params = inspect.signature(cls.__init__).parameters
    found = [{name: value} for name, value in OPTIONS.items() if name in params]
    return [{}, *found, *([{k: v for d in found for k, v in d.items()}] if len(found) > 1
                          else [])]


def cases(classes):
    return [pytest.param(cls, kw, id=f"{cls.__name__}-{kw}") for cls in classes
            for kw in variants(cls)]


def sample_targets(cls, rng, n=6, c=4, soft=True):
    """Targets a loss or metric takes, derived from what it declares: integer labels for
    `sparse_labels`, else values shaped like the predictions (probability rows: valid for
    every dense loss; one-hot rows with soft=False)."""
    if cls.sparse_labels:
        return rng.integers(0, c, size=n)
    return activations.softmax(rng.normal(size=(n, c))) if soft \
        else np.eye(c)[rng.integers(0, c, size=n)]


def sample_predictions(rng, from_logits=False, n=6, c=4):
    Z = rng.normal(size=(n, c)) * 2
    return Z if from_logits else activations.softmax(Z)


@pytest.mark.parametrize("cls,options", cases(LOSSES))
def test_loss_gradient_and_config(cls, options):
    rng = np.random.default_rng(0)
    loss = make(cls, **options)
    P = sample_predictions(rng, options.get("from_logits", False))
    y = sample_targets(cls, rng)
    assert loss.call(y, P).shape == (6,)
    numeric = numerical_grad(lambda: loss(y, P), P)
    assert_grad_close(loss.gradient(y, P), numeric, f"{cls.__name__} d loss / d y_pred")
    assert cls.from_config(loss.get_config()).get_config() == loss.get_config()
    assert losses.get(loss) is loss


@pytest.mark.parametrize("reduction", losses.REDUCTIONS)
@pytest.mark.parametrize("cls", LOSSES, ids=lambda c: c.__name__)
def test_loss_weighted_gradient_for_every_reduction(cls, reduction):
    """weighted_gradient is the derivative of what calling the loss returns (summed for
    reduction "none"), with sample weights."""
    rng = np.random.default_rng(1)
    loss = make(cls, reduction=reduction)
    P, y = sample_predictions(rng), sample_targets(cls, rng)
    w = rng.uniform(0.1, 2.0, size=6)
    numeric = numerical_grad(lambda: float(np.sum(loss(y, P, sample_weight=w))), P)
    assert_grad_close(loss.weighted_gradient(y, P, sample_weight=w), numeric,
                      f"{cls.__name__} reduction={reduction}")
    unweighted = float(np.sum(loss(y, P)))
    assert unweighted == pytest.approx(float(np.sum(loss(y, P, sample_weight=np.ones(6)))))


def metric_batch(cls, rng, options, n=6):
    """The arguments of one update_state: (y_true, y_pred), or (values,) for a Mean or Sum."""
    if "y_true" not in inspect.signature(cls.update_state).parameters:
        return (rng.normal(size=n),)
    return (sample_targets(cls, rng, n=n, soft=False),
            sample_predictions(rng, options.get("from_logits", False), n=n))


@pytest.mark.parametrize("cls,options", cases(METRICS))
def test_metric_config_state_and_reset(cls, options):
    """Config round trip; two weighted updates equal one update with both batches (the state
    is exact over an epoch, not a mean of batch results); reset_state starts again."""
    rng = np.random.default_rng(0)
    metric = make(cls, **options)
    config = metric.get_config()
    assert cls.from_config(config).get_config() == config
    a, b = metric_batch(cls, rng, options), metric_batch(cls, rng, options)
    wa, wb = rng.uniform(0.1, 2, size=6), rng.uniform(0.1, 2, size=6)
    fresh = np.asarray(make(cls, **options).result())
    metric.update_state(*a, sample_weight=wa)
    metric.update_state(*b, sample_weight=wb)
    once = make(cls, **options)
    once.update_state(*(np.concatenate([u, v]) for u, v in zip(a, b, strict=True)),
                      sample_weight=np.concatenate([wa, wb]))
    np.testing.assert_allclose(metric.result(), once.result(), rtol=1e-12, atol=1e-15)
    metric.reset_state()
    np.testing.assert_array_equal(np.asarray(metric.result()), fresh)
    assert metrics.get(metric) is metric


@pytest.mark.parametrize("cls", [c for c in METRICS
                                 if "y_true" in inspect.signature(c.update_state).parameters],
                         ids=lambda c: c.__name__)
def test_metric_logs_in_fit_and_saves_with_the_model(cls, tmp_path):
    tinynn.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 5)).astype("float32")
    y = sample_targets(cls, rng, n=24, soft=False)
    metric = make(cls)
    # Flatten passes on a new array, so cross-entropy metrics see the probabilities, not the
    # softmax's input (see test_models.py for that)
    model = tinynn.Sequential([tinynn.Input((5,)), layers.Dense(4, activation="softmax"),
                               layers.Flatten()])
    loss = "sparse_categorical_crossentropy" if cls.sparse_labels else "categorical_crossentropy"
    model.compile(optimizer="adam", loss=loss, metrics=[metric])
    logs = model.fit(x, y, batch_size=8, epochs=1, verbose=0).history
    assert set(logs) == {"loss", metric.name}
    check = make(cls)
    check.update_state(y, model.predict(x, verbose=0))
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0, return_dict=True)[metric.name],
                               check.result(), rtol=1e-6)
    for name in ("m.npz", "m.keras"):  # tinynn's format and Keras's
        model.save(tmp_path / name)
        loaded = tinynn.models.load_model(tmp_path / name)
        (spec,) = loaded._metric_specs
        assert type(spec) is cls and spec.get_config() == metric.get_config(), name
        np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0, return_dict=True)[spec.name],
                                   check.result(), rtol=1e-6, err_msg=name)


@pytest.mark.parametrize("cls,options", cases(LOSSES))
def test_loss_saves_with_the_model_in_both_formats(cls, options, tmp_path):
    """Every loss, with every option it takes and a non-default reduction, travels through
    tinynn's `.npz` and Keras's `.keras`: the same class and config, the same evaluate."""
    tinynn.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 5)).astype("float32")
    y = sample_targets(cls, rng, n=12, soft=False)
    loss = make(cls, **options, reduction="sum")
    activation = "linear" if options.get("from_logits") else "softmax"
    model = tinynn.Sequential([tinynn.Input((5,)), layers.Dense(4, activation=activation)])
    model.compile(optimizer="sgd", loss=loss, metrics=["accuracy"])
    want = model.evaluate(x, y, verbose=0, return_dict=True)
    for name in ("m.npz", "m.keras"):
        model.save(tmp_path / name)
        loaded = tinynn.models.load_model(tmp_path / name)
        assert type(loaded.loss) is cls and loaded.loss.get_config() == loss.get_config(), name
        assert loaded.evaluate(x, y, verbose=0, return_dict=True) == pytest.approx(want), name


@pytest.mark.parametrize("cls", OPTIMIZERS, ids=lambda c: c.__name__)
def test_optimizer_config_and_backends(cls):
    opt = make(cls)
    assert cls.from_config(opt.get_config()).get_config() == opt.get_config()
    rng = np.random.default_rng(0)
    start = [rng.normal(size=s).astype("float32") for s in ((4, 3), (3,))]
    grads = [[rng.normal(size=w.shape).astype("float32") for w in start] for _ in range(3)]
    results = []
    for name in ("numpy", "numba"):
        backend.set_backend(name)
        try:
            variables, opt = [w.copy() for w in start], cls.from_config(opt.get_config())
            for g in grads:
                opt.apply(g, variables)
            results.append(variables)
        finally:
            backend.set_backend("numba")
    assert opt.iterations == 3 and set(cls.slot_names) <= set(opt.slots())
    for got, want in zip(*results, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert not np.array_equal(results[0][0], start[0])


@pytest.mark.parametrize("cls", OPTIMIZERS, ids=lambda c: c.__name__)
def test_optimizer_saves_and_resumes_inside_a_model(cls, tmp_path):
    """Its config and every slot travel in the file: the loaded model trains on exactly like
    the original (with the common arguments that add state: EMA and accumulation)."""
    x = np.random.default_rng(1).normal(size=(24, 6)).astype("float32")
    y = np.arange(24) % 3
    tinynn.utils.set_random_seed(0)
    model = tinynn.Sequential([tinynn.Input((6,)), layers.Dense(4, activation="tanh"),
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer=make(cls, use_ema=True, gradient_accumulation_steps=2),
                  loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)  # 3 calls: an accumulation under way
    model.save(tmp_path / "m.npz")
    loaded = tinynn.models.load_model(tmp_path / "m.npz")
    assert type(loaded.optimizer) is cls
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    a = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    b = loaded.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    assert a == b
    for w, v in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(w, v)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_backward_is_its_derivative(name):
    rng = np.random.default_rng(0)
    forward, backward = activations.forward_backward(name)
    Z = rng.normal(size=(4, 5)) + 0.05  # away from relu's kink at exactly 0
    R = rng.normal(size=Z.shape)
    numeric = numerical_grad(lambda: float((forward(Z) * R).sum()), Z)
    assert_grad_close(backward(R, Z, forward(Z)), numeric, f"{name}'")


# ----- the student's layer, beyond the battery -------------------------------------------------

def test_student_dense_trains_with_fit_exactly_like_dense(tmp_path):
    x = np.random.default_rng(0).normal(size=(64, 6)).astype("float32")
    y = np.arange(64) % 3

    def run(hidden):
        tinynn.utils.set_random_seed(5)
        model = tinynn.Sequential([tinynn.Input((6,)), hidden, layers.Activation("tanh"),
                                   layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        history = model.fit(x, y, batch_size=8, epochs=3, verbose=0)
        return model, history.history["loss"]

    student, student_loss = run(StudentDense(4))
    dense, dense_loss = run(layers.Dense(4))
    np.testing.assert_allclose(student_loss, dense_loss, rtol=1e-5)
    for a, b in zip(student.get_weights(), dense.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert student_loss[-1] < student_loss[0]
    # `self.w` from add_weight stays the array the optimizer updates
    assert student.layers[0].w is student.layers[0].params["kernel"]
    student.save(tmp_path / "s.npz")
    loaded = tinynn.models.load_model(tmp_path / "s.npz",
                                      custom_objects={"StudentDense": StudentDense})
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), student.predict(x, verbose=0))


class ForgetsToStore(StudentDense):
    """A student bug: the gradients are computed, but kept in attributes the optimizer never
    reads."""

    def backward(self, dZ):
        self.dW, self.db = self.X.T @ dZ, dZ.sum(axis=0)
        return dZ @ self.w.T

    def get_config(self):
        return super().get_config()


def test_gradcheck_fails_when_the_optimizer_would_apply_another_gradient():
    tinynn.utils.set_random_seed(0)
    model = tinynn.Sequential([tinynn.Input((6,)), ForgetsToStore(4),
                               layers.Dense(3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(5, 6))
    y = np.arange(5) % 3
    result = tinynn.gradcheck(model, x, y, verbose=False)
    assert not result.passed
    assert {(r.layer, r.param) for r in result.failures} == {
        (model.layers[0].name, "kernel"), (model.layers[0].name, "bias")}
    # the same model with the gradients stored passes
    model = tinynn.Sequential([tinynn.Input((6,)), StudentDense(4),
                               layers.Dense(3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy")
    assert tinynn.gradcheck(model, x, y, verbose=False).passed


def test_assigning_to_params_or_grads_writes_in_place_and_checks_shapes():
    layer = StudentDense(2)
    layer(np.ones((1, 3)))
    kernel = layer.params["kernel"]
    layer.params["kernel"] = np.full((3, 2), 0.5)
    assert layer.params["kernel"] is kernel and layer.w is kernel and (kernel == 0.5).all()
    with pytest.raises(ValueError, match="student_dense.*weight 'kernel' has shape \\(3, 2\\)"):
        layer.params["kernel"] = np.ones((2, 2))
    with pytest.raises(KeyError, match="add_weight"):
        layer.grads["gamma"] = np.ones(2)


def test_a_model_stays_trainable_after_gradcheck_and_set_weights():
    x = np.random.default_rng(0).normal(size=(32, 6)).astype("float32")
    y = np.arange(32) % 3

    def model():
        tinynn.utils.set_random_seed(3)
        m = tinynn.Sequential([tinynn.Input((6,)), layers.Dense(5, activation="relu"),
                               layers.Dropout(0.2), layers.Dense(3, activation="softmax")])
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        return m

    checked = model()
    assert tinynn.gradcheck(checked, x[:4], y[:4], verbose=False).passed
    checked.fit(x, y, epochs=2, batch_size=8, verbose=0)
    plain = model()
    plain.fit(x, y, epochs=2, batch_size=8, verbose=0)
    for a, b in zip(checked.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # gradcheck changed nothing, not even the RNG
    before = plain.get_weights()
    plain.set_weights([w * 0.5 for w in before])
    halved = plain.get_weights()
    plain.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert all(not np.array_equal(a, b) for a, b in zip(plain.get_weights(), halved,
                                                         strict=True))


def test_non_trainable_weights_are_saved_and_never_touched_by_the_optimizer(tmp_path):
    tinynn.utils.set_random_seed(0)
    center = Center()
    model = tinynn.Sequential([tinynn.Input((4,)), center, layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert center.weight_names == ["bias", "moving_mean"]
    assert len(model.trainable_weights) == 3 and len(model.non_trainable_weights) == 1
    x = np.random.default_rng(0).normal(loc=2.0, size=(64, 4)).astype("float32")
    y = np.arange(64) % 3
    model.fit(x, y, epochs=1, batch_size=64, shuffle=False, verbose=0)
    # one step: the moving mean is exactly the layer's own update, nothing from Adam
    np.testing.assert_allclose(center.params["moving_mean"], 0.1 * x.mean(axis=0), rtol=1e-6)
    assert all(len(slot) == 3 for slot in model.optimizer.slots().values())
    lines = []
    model.summary(print_fn=lines.append)
    assert "Trainable params: 19 " in lines[0] and "Non-trainable params: 4 " in lines[0]
    for name in ("c.npz", "c.keras"):
        model.save(tmp_path / name)
        loaded = tinynn.models.load_model(tmp_path / name)
        np.testing.assert_array_equal(loaded.layers[0].params["moving_mean"],
                                      center.params["moving_mean"])
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    fresh = tinynn.Sequential([tinynn.Input((4,)), Center(), layers.Dense(3)])
    fresh.load_weights(tmp_path / "c.keras")  # Keras's order: trainable, then the others
    np.testing.assert_array_equal(fresh.layers[0].params["moving_mean"],
                                  center.params["moving_mean"])
