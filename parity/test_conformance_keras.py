"""The conformance suite's Keras half: every tinynn layer, loss, metric and optimizer that has
a Keras class of the same name is discovered (not listed) and compared with it, the Keras object
built from the tinynn object's own config, as `to_keras` builds it. A new class with a Keras twin
is covered by existing.

In float64 with the weights copied across: layer outputs and gradients within rtol 1e-12, in
inference mode and (every layer without a random `seed`) in training mode, and the layer's
weights after the call (BatchNormalization's moving statistics)
(a few dozen roundings in short sums, as in test_ops.py); per-sample losses and their gradients
within rtol 1e-12, for every option a loss takes; metrics after three weighted updates within
rtol 1e-12; optimizers after 20 steps within rtol 1e-12 (test_init_optim.py's bound for 200
steps).
"""

import inspect

import numpy as np
import pytest

import tinynn
from tinynn import activations, layers, losses, metrics, optimizers, saving

SAMPLE_ARGUMENTS = {"units": 3, "rate": 0.3, "activation": "tanh", "stddev": 0.4,
                    "fn": metrics.mean_absolute_error, "scale": 0.5, "target_shape": (-1,)}
TOL = dict(rtol=1e-12, atol=1e-13)


def make(cls, **overrides):
    """An instance with sample values for the arguments without defaults."""
    kwargs = {p.name: SAMPLE_ARGUMENTS[p.name]
              for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
              if p.default is p.empty and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    return cls(**{**kwargs, **overrides})


def twins(base, keras_module_name):
    import keras
    module = getattr(keras, keras_module_name)
    return [cls for cls in saving.builtin_classes(base)
            if hasattr(module, cls.__name__) and cls.__name__ not in ("InputLayer", "Sequential")]


def _names(base, module_name):
    try:
        return twins(base, module_name)
    except ImportError:  # collected without TensorFlow: the keras fixture fails loudly instead
        return saving.builtin_classes(base)


@pytest.fixture
def float64(keras):
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    tinynn.config.set_floatx("float64")
    yield
    keras.config.set_floatx("float32")
    keras.config.set_dtype_policy("float32")
    tinynn.config.set_floatx("float32")


def test_discovery_sees_the_twins(keras):
    assert {"Dense", "Dropout", "Flatten", "Activation", "ReLU", "Softmax", "LeakyReLU", "ELU",
            "PReLU", "GaussianNoise", "GaussianDropout", "BatchNormalization",
            "LayerNormalization"} <= {
        c.__name__ for c in twins(layers.Layer, "layers")}
    assert {"Adam", "SGD", "RMSprop", "AdamW", "Nadam", "Adamax", "Adagrad", "Adadelta",
            "Lion"} <= {c.__name__ for c in twins(optimizers.Optimizer, "optimizers")}
    assert {"SparseCategoricalCrossentropy", "CategoricalCrossentropy", "BinaryCrossentropy",
            "MeanSquaredError", "MeanAbsoluteError", "Huber"} <= {
        c.__name__ for c in twins(losses.Loss, "losses")}
    assert {"AUC", "Precision", "Recall", "TruePositives", "RootMeanSquaredError",
            "BinaryAccuracy", "SparseTopKCategoricalAccuracy"} <= {
        c.__name__ for c in twins(metrics.Metric, "metrics")}


def _modes(classes):
    """(class, training) pairs: every layer in inference mode, and in training mode unless it is
    random (has a `seed`: Keras's random stream cannot be reproduced outside TensorFlow)."""
    return [(cls, training) for cls in classes for training in (False, True)
            if not training or "seed" not in inspect.signature(cls.__init__).parameters]


@pytest.mark.parametrize("cls,training", _modes(_names(layers.Layer, "layers")),
                         ids=lambda v: v.__name__ if isinstance(v, type) else
                         ("training" if v else "inference"))
def test_layer_equals_keras(keras, tf, float64, cls, training):
    rng = np.random.default_rng(0)
    ours = make(cls)
    X = rng.normal(size=(5, 6))
    ours.build((None, 6))
    ours.built = True
    theirs = getattr(keras.layers, cls.__name__).from_config(
        {**ours.get_config(), "dtype": "float64"})
    theirs.build((None, 6))
    theirs.set_weights([w + rng.normal(size=w.shape) * 0.1 for w in ours.get_weights()])
    if hasattr(theirs, "finalize_state"):  # Keras's Normalization reads set_weights' values
        theirs.finalize_state()  # only after this (loading calls it); tinynn's reads them live
    ours.set_weights(theirs.get_weights())
    Y = ours.forward(X, training=training)
    dY = rng.normal(size=Y.shape)
    Xt = tf.constant(X)
    with tf.GradientTape() as tape:
        tape.watch(Xt)
        Yt = theirs(Xt, training=training)
        objective = tf.reduce_sum(Yt * dY)
    grads = tape.gradient(objective, [Xt, *theirs.trainable_weights])
    np.testing.assert_allclose(Y, Yt.numpy(), **TOL, err_msg="forward")
    ours.compute_input_grad = True
    np.testing.assert_allclose(ours.backward(dY), grads[0].numpy(), **TOL, err_msg="dX")
    for name, g in zip(ours.grads, grads[1:], strict=True):
        np.testing.assert_allclose(ours.grads[name], g.numpy(), **TOL, err_msg=name)
    # state the call changed (e.g. BatchNormalization's moving statistics) changed alike
    for name, a, b in zip(ours.weight_names, ours.get_weights(), theirs.get_weights(),
                          strict=True):
        np.testing.assert_allclose(a, b, **TOL, err_msg=f"{name} after the call")


# Non-default sample values for options, by parameter name (as tests/test_conformance.py): each
# option a class takes gives a variant, and all of them together one more.
OPTIONS = {"from_logits": True, "label_smoothing": 0.2, "delta": 0.5, "threshold": 0.3, "k": 2,
           "thresholds": [0.25, 0.5, 0.75], "num_thresholds": 13, "curve": "PR"}


def variants(cls) -> list[dict]:
    params = inspect.signature(cls.__init__).parameters
    found = [{name: value} for name, value in OPTIONS.items() if name in params]
    return [{}, *found, *([{k: v for d in found for k, v in d.items()}] if len(found) > 1
                          else [])]


def cases(base, module_name):
    return [pytest.param(cls, kw, id=f"{cls.__name__}-{kw}")
            for cls in _names(base, module_name) for kw in variants(cls)]


def sample_targets(cls, rng, n=8, c=4, soft=True):
    """Integer labels for a class declaring `sparse_labels`, else probability rows (one-hot
    with soft=False)."""
    if cls.sparse_labels:
        return rng.integers(0, c, size=n)
    return activations.softmax(rng.normal(size=(n, c))) if soft \
        else np.eye(c)[rng.integers(0, c, size=n)]


@pytest.mark.parametrize("cls,options", cases(losses.Loss, "losses"))
def test_loss_equals_keras(keras, tf, float64, cls, options):
    """Per-sample values and d loss / d y_pred (Keras's by tf.GradientTape, mean reduction)."""
    rng = np.random.default_rng(1)
    ours = make(cls, **options)
    theirs = getattr(keras.losses, cls.__name__).from_config(
        {**ours.get_config(), "reduction": None})
    Z = rng.normal(size=(8, 4)) * 3
    P = Z if options.get("from_logits") else activations.softmax(Z)
    y = sample_targets(cls, rng)
    np.testing.assert_allclose(ours.call(y, P), np.asarray(theirs(y, P)), **TOL)
    Pt = tf.constant(P)
    with tf.GradientTape() as tape:
        tape.watch(Pt)
        mean = tf.reduce_mean(theirs(y, Pt))
    np.testing.assert_allclose(ours.gradient(y, P), tape.gradient(mean, Pt).numpy(), **TOL)


def _metric_batches(cls, rng, options, n=8):
    if "y_true" not in inspect.signature(cls.update_state).parameters:
        return [(rng.normal(size=n),) for _ in range(3)]
    return [(sample_targets(cls, rng, n, soft=False),
             rng.normal(size=(n, 4)) * 2 if options.get("from_logits")
             else activations.softmax(rng.normal(size=(n, 4)) * 2)) for _ in range(3)]


@pytest.mark.parametrize("cls,options", cases(metrics.Metric, "metrics"))
def test_metric_equals_keras(keras, tf, float64, cls, options):
    """Three weighted updates, the Keras metric built from our config; float64 state on both
    sides (Keras keeps it in floatx). TensorFlow's in_top_k has no float64 kernel, so where
    Keras refuses float64 predictions both sides get them as float32 (rtol 1e-6)."""
    rng = np.random.default_rng(2)
    ours = make(cls, **options)
    theirs = getattr(keras.metrics, cls.__name__).from_config(ours.get_config())
    batches = _metric_batches(cls, rng, options)
    weights = [rng.uniform(0.1, 2.0, size=len(b[0])) for b in batches]
    tol = TOL
    try:
        theirs.update_state(*batches[0], sample_weight=weights[0])
    except tf.errors.InvalidArgumentError as e:
        assert "double tensor" in str(e), e
        batches = [(*b[:-1], b[-1].astype(np.float32)) for b in batches]
        tol = dict(rtol=1e-6, atol=1e-7)
        theirs.reset_state()
        theirs.update_state(*batches[0], sample_weight=weights[0])
    ours.update_state(*batches[0], sample_weight=weights[0])
    for batch, w in zip(batches[1:], weights[1:], strict=True):
        ours.update_state(*batch, sample_weight=w)
        theirs.update_state(*batch, sample_weight=w)
    np.testing.assert_allclose(ours.result(), np.asarray(theirs.result()), **tol)


@pytest.mark.parametrize("cls", _names(optimizers.Optimizer, "optimizers"),
                         ids=lambda c: c.__name__)
def test_optimizer_equals_keras(keras, float64, cls):
    rng = np.random.default_rng(2)
    ours = make(cls)
    theirs = getattr(keras.optimizers, cls.__name__).from_config(ours.get_config())
    start = [rng.normal(size=s) for s in ((4, 3), (3,))]
    variables = [w.copy() for w in start]
    k_variables = [keras.Variable(w.copy(), dtype="float64") for w in start]
    for _ in range(20):
        grads = [rng.normal(size=w.shape) for w in start]
        ours.apply([g.copy() for g in grads], variables)
        theirs.apply([g.copy() for g in grads], k_variables)
    for a, b in zip(variables, k_variables, strict=True):
        np.testing.assert_allclose(a, b.numpy(), **TOL)
    assert not np.array_equal(variables[0], start[0])


@pytest.mark.parametrize("cls", _names(optimizers.Optimizer, "optimizers"),
                         ids=lambda c: c.__name__)
def test_to_keras_compiles_with_every_optimizer(keras, cls):
    """Interop builds the Keras optimizer from the tinynn config (RMSprop, compile's default,
    once failed here)."""
    model = tinynn.Sequential([tinynn.Input((4,)), layers.Dense(3, activation="softmax")])
    ours = make(cls, learning_rate=0.0123)
    model.compile(optimizer=ours, loss="sparse_categorical_crossentropy")
    exported = model.to_keras().optimizer
    assert type(exported).__name__ == cls.__name__
    config = exported.get_config()
    for key, value in ours.get_config().items():
        assert config[key] == pytest.approx(value), key
