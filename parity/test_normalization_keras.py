"""BatchNormalization, LayerNormalization and the regularizers against Keras 3.

- Layers: forward, dX and the weight gradients (Keras through `tf.GradientTape`) in training and
  inference mode, and the moving statistics after the call: float64 within 1e-10, float32
  within 1e-6 (atol and rtol).
- Training: a small Dense+BatchNormalization model trained one epoch in both frameworks from the
  same weights without shuffling: moving statistics within 1e-6.
- Regularized training: per-batch logged loss, epoch loss, val_loss, evaluate and final weights
  over an epoch, with kernel, bias and activity penalties.
- Facts about Keras that tinynn follows (or refuses to follow silently), asserted on Keras itself
  so a new Keras version that changes them fails here first.
Tolerances and measured figures: parity/README.md.
"""

import numpy as np
import pytest

import tinynn

TOL = {"float64": 1e-10, "float32": 1e-6}


def assert_close(ours, keras_value, floatx, what):
    """Within TOL[floatx], relative to each entry and to the array's scale (max(1, max |x|)):
    dgamma and dbeta are sums over the batch that can cancel to a small result, whose error is
    that of terms of the array's size, not of the result (parity/README.md)."""
    keras_value = np.asarray(keras_value)
    tol = TOL[floatx]
    np.testing.assert_allclose(ours, keras_value, rtol=tol,
                               atol=tol * max(1.0, float(np.abs(keras_value).max())),
                               err_msg=what)


def _layer_pair(keras, name, kwargs, n_features, rng):
    """The tinynn layer and the Keras layer built from its config, with the same weights
    (random gamma, beta and moving statistics)."""
    ours = getattr(tinynn.layers, name)(**kwargs)
    ours.build((None, n_features))
    ours.built = True
    theirs = getattr(keras.layers, name).from_config(ours.get_config())
    theirs.build((None, n_features))
    weights = []
    for w_name, w in zip(ours.weight_names, ours.get_weights(), strict=True):
        noise = rng.uniform(0.5, 1.5, w.shape) if "variance" in w_name else rng.normal(size=w.shape)
        weights.append((w + noise).astype(w.dtype))
    theirs.set_weights(weights)
    ours.set_weights(weights)
    return ours, theirs


CASES = [
    ("BatchNormalization", {}),
    ("BatchNormalization", {"momentum": 0.9, "epsilon": 1e-5, "center": False}),
    ("BatchNormalization", {"scale": False}),
    ("LayerNormalization", {}),
    ("LayerNormalization", {"epsilon": 1e-5, "scale": False}),
    ("LayerNormalization", {"center": False}),
]


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{k}" for n, k in CASES])
@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
def test_layer_forward_and_gradients_equal_keras(keras, tf, floatx, report, name, kwargs,
                                                 training):
    rng = np.random.default_rng(0)
    ours, theirs = _layer_pair(keras, name, kwargs, 64, rng)
    X = (rng.normal(loc=2.0, scale=3.0, size=(32, 64))).astype(floatx)
    dY = rng.normal(size=X.shape).astype(floatx)
    Xt = tf.constant(X)
    with tf.GradientTape() as tape:
        tape.watch(Xt)
        Yt = theirs(Xt, training=training)
        objective = tf.reduce_sum(Yt * dY)
    grads = tape.gradient(objective, [Xt, *theirs.trainable_weights])
    Y = ours(X, training=training)
    dX = ours.backward(dY)
    pairs = [("Y", Y, Yt), ("dX", dX, grads[0]),
             *((k, ours.grads[k], g) for k, g in zip(ours.grads, grads[1:], strict=True)),
             *((f"{k} after", a, b) for k, a, b in zip(ours.weight_names, ours.get_weights(),
                                                        theirs.get_weights(), strict=True))]
    worst = max(float(np.abs(np.asarray(a) - np.asarray(b)).max()
                      / max(1.0, float(np.abs(np.asarray(b)).max()))) for _, a, b in pairs)
    report(f"{name}{kwargs} {'training' if training else 'inference'} {floatx}",
           f"max |diff| / max(1, max |Keras|) {worst:.1e}")
    for what, a, b in pairs:
        assert np.asarray(a).dtype == np.dtype(floatx), what
        assert_close(a, b, floatx, what)


@pytest.mark.filterwarnings("ignore:.*rms_scaling")
def test_layer_normalization_rms_scaling_equals_keras(keras, tf, floatx64):
    rng = np.random.default_rng(1)
    ours, theirs = _layer_pair(keras, "LayerNormalization", {"rms_scaling": True}, 8, rng)
    X, dY = rng.normal(size=(6, 8)), rng.normal(size=(6, 8))
    Xt = tf.constant(X)
    with tf.GradientTape() as tape:
        tape.watch(Xt)
        objective = tf.reduce_sum(theirs(Xt) * dY)
    grads = tape.gradient(objective, [Xt, *theirs.trainable_weights])
    assert_close(ours(X), theirs(X), "float64", "Y")
    assert_close(ours.backward(dY), grads[0], "float64", "dX")
    assert_close(ours.grads["gamma"], grads[1], "float64", "gamma")


def _batch_log(base):
    """A callback (Keras's or tinynn's `Callback` as `base`) recording the logged loss after
    every batch."""
    class BatchLog(base):
        def __init__(self):
            super().__init__()
            self.losses = []

        def on_train_batch_end(self, batch, logs=None):
            self.losses.append(logs["loss"])

    return BatchLog()


def _epoch_in_both(keras, floatx, t_model, optimizer, n=640, val=0):
    rng = np.random.default_rng(7)
    x = rng.normal(loc=1.0, scale=2.0, size=(n + val, 20)).astype(floatx)
    y = (x[:, :3].argmax(axis=1) + (x[:, 3] > 2)) % 3
    t_model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    k_model = t_model.to_keras()  # same layers, weights and optimizer settings
    k_log, t_log = _batch_log(keras.callbacks.Callback), _batch_log(tinynn.callbacks.Callback)
    fit = dict(batch_size=32, epochs=1, shuffle=False, verbose=0)
    if val:
        fit["validation_data"] = (x[n:], y[n:])
    k_hist = k_model.fit(x[:n], y[:n], callbacks=[k_log], **fit).history
    t_hist = t_model.fit(x[:n], y[:n], callbacks=[t_log], **fit).history
    return k_model, (k_hist, k_log.losses), (t_hist, t_log.losses), (x, y)


def test_batchnorm_moving_statistics_after_an_epoch_equal_keras(keras, floatx, report):
    """20 inputs -> Dense(32, relu) -> BatchNormalization -> Dense(3, softmax), SGD 0.05,
    640 samples in 20 batches of 32, no shuffling, Keras's initial weights copied."""
    tinynn.utils.set_random_seed(3)
    L = tinynn.layers
    t_model = tinynn.Sequential([tinynn.Input((20,)), L.Dense(32, activation="relu"),
                                 L.BatchNormalization(momentum=0.9),
                                 L.Dense(3, activation="softmax")])
    k_model, (k_hist, k_batches), (t_hist, t_batches), _ = _epoch_in_both(
        keras, floatx, t_model, tinynn.optimizers.SGD(0.05))
    k_bn, t_bn = k_model.layers[1], t_model.layers[1]
    diffs = {name: float(np.abs(a - b).max()) for name, a, b in zip(
        t_bn.weight_names, t_bn.get_weights(), k_bn.get_weights(), strict=True)}
    report(f"BN after one epoch {floatx}",
           ", ".join(f"{k} {v:.1e}" for k, v in diffs.items())
           + f"; epoch loss {t_hist['loss'][0]:.7f} vs Keras {k_hist['loss'][0]:.7f}")
    assert not np.allclose(t_bn.params["moving_mean"], 0)  # it did move
    for name, a, b in zip(t_bn.weight_names, t_bn.get_weights(), k_bn.get_weights(),
                          strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6, err_msg=name)
    np.testing.assert_allclose(t_batches, k_batches, rtol=1e-6)


def test_regularized_training_and_logged_loss_equal_keras(keras, floatx, report):
    """Kernel L2, bias L1, activity L1L2 on the hidden layer, kernel L1 and activity L2 on the
    softmax output, Adam: every per-batch logged loss, the epoch loss, val_loss, evaluate and
    the final weights."""
    tinynn.utils.set_random_seed(4)
    L, R = tinynn.layers, tinynn.regularizers
    t_model = tinynn.Sequential([
        tinynn.Input((20,)),
        L.Dense(16, activation="tanh", kernel_regularizer=R.L2(0.01), bias_regularizer=R.L1(0.05),
                activity_regularizer=R.L1L2(0.001, 0.002)),
        L.Dense(3, activation="softmax", kernel_regularizer="l1", activity_regularizer="l2"),
    ])
    k_model, (k_hist, k_batches), (t_hist, t_batches), (x, y) = _epoch_in_both(
        keras, floatx, t_model, tinynn.optimizers.Adam(0.01), val=96)
    weight_diff = max(float(np.abs(a - b).max()) for a, b in zip(
        t_model.get_weights(), k_model.get_weights(), strict=True))
    t_eval = t_model.evaluate(x[640:], y[640:], verbose=0)
    k_eval = k_model.evaluate(x[640:], y[640:], verbose=0)
    report(f"regularized epoch {floatx}",
           f"logged loss {t_hist['loss'][0]:.7f} vs Keras {k_hist['loss'][0]:.7f}; "
           f"per-batch max rel diff {np.max(np.abs(np.subtract(t_batches, k_batches)) / np.abs(k_batches)):.1e}; "  # noqa: E501
           f"val_loss {t_hist['val_loss'][0]:.7f} vs {k_hist['val_loss'][0]:.7f}; "
           f"weights max |diff| {weight_diff:.1e}")
    tol = dict(rtol=1e-6) if floatx == "float32" else dict(rtol=1e-10)
    np.testing.assert_allclose(t_batches, k_batches, **tol)
    np.testing.assert_allclose(t_hist["loss"], k_hist["loss"], **tol)
    np.testing.assert_allclose(t_hist["val_loss"], k_hist["val_loss"], **tol)
    np.testing.assert_allclose(t_eval, k_eval, **tol)
    for a, b in zip(t_model.get_weights(), k_model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5 if floatx == "float32" else 1e-10,
                                   atol=1e-6 if floatx == "float32" else 1e-12)
    # the penalties are a sizeable share of the loss, so the comparison above sees them
    t_model.predict(x[:640], batch_size=640, verbose=0)
    assert float(sum(t_model.losses)) > 1e3 * TOL[floatx] * t_eval


# ----- Keras facts that tinynn's behaviour rests on ---------------------------------------------

def test_keras_penalty_facts(keras, floatx64):
    R = keras.regularizers
    assert R.L1().get_config() == {"l1": 0.009999999776482582}  # float32-rounded factor
    assert R.L2().get_config() == {"l2": 0.01} and R.L1L2().get_config() == {"l1": 0, "l2": 0}
    assert R.l1_l2 is R.L1L2 and R.get("l1l2").get_config() == {"l1": 0, "l2": 0}
    with pytest.raises(ValueError, match="Could not interpret regularizer identifier: l1_l2"):
        R.get("l1_l2")
    with pytest.raises(ValueError):
        tinynn.regularizers.get("l1_l2")  # tinynn refuses it too (and says why)
    dense = keras.layers.Dense(5, kernel_initializer="ones", kernel_regularizer=R.L1(0.01),
                               activity_regularizer=R.L2(0.01))
    dense(np.ones((5, 5)) * 2)
    # activity penalty divided by the batch size (5): 0.01 * 25 * 100 / 5 = 5.0
    np.testing.assert_allclose([float(v) for v in dense.losses], [5.0, 0.25], rtol=1e-7)


def test_keras_frozen_batchnorm_runs_in_inference_mode_in_fit(keras, floatx64):
    bn = keras.layers.BatchNormalization()
    model = keras.Sequential([keras.Input((4,)), bn, keras.layers.Dense(2)])
    bn.trainable = False
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(True))
    x = np.random.default_rng(0).normal(loc=3.0, size=(16, 4))
    model.fit(x, np.arange(16) % 2, epochs=1, shuffle=False, verbose=0)
    assert [w.numpy().tolist() for w in bn.weights] == [[1.0] * 4, [0.0] * 4, [0.0] * 4,
                                                        [1.0] * 4]
    np.testing.assert_allclose(bn(x, training=True).numpy(), x / np.sqrt(1 + 1e-3), rtol=1e-12)
