"""The same model built twice: once in Keras, once in tinynn, with Keras's weights copied across.

Only tinynn's public API is used here (`Sequential`, `layers`, `optimizers`, `get_weights`,
`set_weights`, `fit` callbacks), so internals can change without touching the parity suite.
"""

import numpy as np

import tinynn

SEED_UNITS = (512, 256, 128)  # the seed MLP: 784-512-256-128-10, ReLU, softmax output,
# Dropout(0.3) after the 512 and 256 layers when training with dropout


def keras_seed_mlp(keras, dropout: float = 0.0, record_steps: bool = False):
    """The seed MLP in Keras. With `record_steps`, the model keeps each training step's loss
    (the exact mean over the batch, before Keras folds it into the epoch's running mean) in
    `model.step_losses`, read by `KerasStepRecorder` after every batch."""
    import tensorflow as tf

    layers = [keras.Input((28, 28)), keras.layers.Flatten()]
    for units in SEED_UNITS:
        layers.append(keras.layers.Dense(units, activation="relu"))
        if dropout and units != SEED_UNITS[-1]:  # the seed program: none after the 128 layer
            layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(10, activation="softmax"))
    if not record_steps:
        return keras.Sequential(layers)

    # Kept outside the model so Keras does not track it as a weight.
    last = tf.Variable(0.0, dtype=keras.config.floatx(), trainable=False)

    class StepLossSequential(keras.Sequential):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            loss = super().compute_loss(x, y, y_pred, sample_weight, training=training)
            if training:
                last.assign(loss)
            return loss

    model = StepLossSequential(layers)
    model.last_step_loss = lambda: float(last.numpy())
    return model


def tinynn_seed_mlp(dropout: float = 0.0) -> tinynn.Sequential:
    """The seed MLP in tinynn, built (weights in tinynn's floatx)."""
    layers = [tinynn.Input((28, 28)), tinynn.layers.Flatten()]
    for units in SEED_UNITS:
        layers.append(tinynn.layers.Dense(units, activation="relu"))
        if dropout and units != SEED_UNITS[-1]:
            layers.append(tinynn.layers.Dropout(dropout))
    layers.append(tinynn.layers.Dense(10, activation="softmax"))
    return tinynn.Sequential(layers)


def keras_step_recorder(keras, model):
    """A Keras callback collecting `model.last_step_loss()` after every training batch."""

    class Recorder(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.losses: list[float] = []

        def on_train_batch_end(self, batch, logs=None):
            self.losses.append(model.last_step_loss())

    return Recorder()


class TinynnStepRecorder(tinynn.callbacks.Callback):
    """Per-step losses from tinynn's running mean: with m_k the mean over the first k batches
    of sizes n_1..n_k, the loss of batch k is (S_k m_k - S_{k-1} m_{k-1}) / n_k, S_k = sum n_i.
    The running mean is kept in float64, so this recovers each step to ~1e-13."""

    def __init__(self, batch_size: int, n_samples: int):
        super().__init__()
        self.batch_size, self.n_samples = batch_size, n_samples
        self.losses: list[float] = []
        self._seen, self._total = 0, 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._seen, self._total = 0, 0.0

    def on_train_batch_end(self, batch, logs=None):
        n = min(self.batch_size, self.n_samples - self._seen)
        total = logs["loss"] * (self._seen + n)
        self.losses.append((total - self._total) / n)
        self._seen, self._total = self._seen + n, total


def max_weight_difference(a: list, b: list) -> float:
    """max over all arrays of max |a - b| (the two lists in Keras's weight order)."""
    return max(float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))
               for x, y in zip(a, b, strict=True))


def steps_within(a, b, tol: float) -> int:
    """Number of leading steps whose losses agree within `tol` (absolute)."""
    bad = np.flatnonzero(np.abs(np.asarray(a) - np.asarray(b)) > tol)
    return int(bad[0]) if bad.size else len(a)


def keras_apply_all(keras, optimizer, variables, gradient_lists) -> None:
    """Apply each list of gradients in turn with a Keras optimizer, as `fit` runs it: inside
    one `tf.function`, traced once. Eagerly, 200 steps cost ~3 s a test (TensorFlow's per-op
    dispatch); traced, ~0.5 s. The float64 results equal the eager ones to 1 ulp."""
    import tensorflow as tf
    step = tf.function(lambda grads: optimizer.apply(grads, variables))
    for grads in gradient_lists:
        step([tf.constant(g) for g in grads])
