"""`Sequential`: a stack of layers with Keras's `compile`, `fit`, `evaluate` and `predict`.

The loop is the textbook one. For each batch: forward through the layers, loss and its gradient,
backward through the layers in reverse, one optimizer step. Callbacks observe; `fit` owns the loop.
"""

import numpy as np

from tinynn import config, losses, optimizers, utils
from tinynn import metrics as metrics_module
from tinynn.callbacks import CallbackList, History, ProgbarLogger
from tinynn.layers import InputLayer, Layer, _unique_name
from tinynn.progbar import Progbar
from tinynn.summary import summary_table


def _as_features(x, argument: str) -> np.ndarray:
    """Convert inputs to a float array of floatx, refusing what would silently become garbage."""
    if x is None:
        raise ValueError(f"{argument} is required: pass a NumPy array of shape (samples, ...).")
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{argument} must hold numbers, got an array of dtype {x.dtype}.")
    if x.ndim < 2:
        raise ValueError(
            f"{argument} must have shape (samples, features...), got shape {x.shape}. "
            "For a single sample use x[None]; for one feature use x.reshape(-1, 1)."
        )
    if x.shape[0] == 0:
        raise ValueError(f"{argument} is empty (shape {x.shape}): there is nothing to process.")
    x = x.astype(config.floatx(), copy=False)
    if not np.isfinite(x).all():
        raise ValueError(f"{argument} contains NaN or infinite values.")
    return x


def _as_labels(y, n: int, n_classes: int, argument: str) -> np.ndarray:
    """Integer class labels of shape (n,) in [0, n_classes); (n, 1) is accepted like Keras."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(
            f"{argument} must hold one integer label per sample, i.e. shape ({n},), "
            f"got shape {y.shape}."
        )
    if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        y = y.astype(np.int64)
    if y.dtype.kind not in "iub":
        raise TypeError(f"{argument} must hold integer class labels, got dtype {y.dtype}.")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(
            f"{argument} must hold labels in [0, {n_classes}) for a model with {n_classes} "
            f"outputs, got labels from {y.min()} to {y.max()}."
        )
    return y.astype(np.intp)


def _positive_int(value, argument: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{argument} must be a positive integer, got {argument}={value!r}.")
    return int(value)


class Sequential:
    """A linear stack of layers: `Sequential([Input((28, 28)), Flatten(), Dense(10)])`.

    Args:
        layers: list of layers (an `Input` first fixes the input shape). Defaults to none;
            add more with `add`.
        name: Defaults to "sequential", numbered like Keras's.
    """

    def __init__(self, layers: "list[Layer] | None" = None, name: "str | None" = None):
        self.name = name or _unique_name("sequential")
        self.layers: list[Layer] = []
        self.input_shape: tuple | None = None
        self.built = False
        self.optimizer = self.loss = None
        self.metrics_names: list[str] = []
        self.stop_training = False
        self.history = History()
        for layer in layers or []:
            self.add(layer)

    # ----- construction ------------------------------------------------------------------------

    def add(self, layer: Layer) -> None:
        """Append a layer (an `Input` is accepted only first)."""
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expected a tinynn layer, got {layer!r}.")
        if isinstance(layer, InputLayer) or (not self.layers and layer.input_shape):
            if self.layers:
                raise ValueError("An Input can only be the first element of a Sequential.")
            self.input_shape = (None, *layer.input_shape)
            if isinstance(layer, InputLayer):
                return
        self.layers.append(layer)
        self.built = False
        if self.input_shape is not None:
            self.build(self.input_shape)

    def build(self, input_shape: tuple) -> None:
        """Build every layer for inputs shaped `(None, *input_shape[1:])`."""
        shape = (None, *input_shape[1:])
        self.input_shape = shape
        for layer in self.layers:
            if not layer.built:
                layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.output_shape = shape
        self.built = True

    def _ensure_built(self, x: np.ndarray) -> None:
        if not self.layers:
            raise ValueError(f"Model '{self.name}' has no layers; add some before using it.")
        if not self.built:
            self.build((None, *x.shape[1:]))
        elif tuple(x.shape[1:]) != tuple(self.input_shape[1:]):
            raise ValueError(
                f"Model '{self.name}' expects samples of shape {tuple(self.input_shape[1:])}, "
                f"got input of shape {x.shape}."
            )

    # ----- weights -----------------------------------------------------------------------------

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        """All parameters in Keras's order: for each layer, kernel then bias."""
        return [p for layer in self.layers for p in layer.params.values()]

    @property
    def weights(self) -> list[np.ndarray]:
        return self.trainable_weights

    def get_weights(self) -> list[np.ndarray]:
        """Copies of all parameters in Keras's order."""
        return [p.copy() for p in self.trainable_weights]

    def set_weights(self, weights: list) -> None:
        """Overwrite all parameters (in place) from a list in Keras's order."""
        if not self.built:
            raise ValueError(f"Model '{self.name}' is not built yet: call it on data first.")
        own = self.trainable_weights
        if len(weights) != len(own):
            raise ValueError(
                f"set_weights expected {len(own)} arrays for model '{self.name}', "
                f"got {len(weights)}."
            )
        start = 0
        for layer in self.layers:
            n = len(layer.params)
            layer.set_weights(weights[start:start + n])
            start += n

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self.layers)

    def summary(self, print_fn=print) -> None:
        """Print a Keras-style table of layers, output shapes and parameter counts."""
        print_fn(summary_table(self))

    # ----- compile -----------------------------------------------------------------------------

    def compile(self, optimizer="adam", loss=None, metrics: "list | None" = None) -> None:
        """Choose the optimizer, the loss and the metrics.

        Args:
            optimizer: a name ("adam", "sgd") or an optimizer object. Defaults to "adam"
                (Keras's default, "rmsprop", is not implemented).
            loss: "sparse_categorical_crossentropy" or a loss object.
            metrics: list of metric names, e.g. ["accuracy"]. Defaults to none.
        """
        if loss is None:
            raise ValueError(
                "compile expected a loss, e.g. loss='sparse_categorical_crossentropy'."
            )
        self.optimizer = optimizers.get(optimizer)
        self.loss = losses.get(loss)
        metrics = list(metrics or [])
        self._metric_fns = [metrics_module.get(m) for m in metrics]
        self.metrics_names = ["loss", *metrics]

    def _check_compiled(self, method: str) -> None:
        if self.loss is None:
            raise RuntimeError(f"You must call compile() before {method}().")

    def _uses_logits(self) -> bool:
        """Keras computes a probability loss from the logits when the model ends in a softmax."""
        last = self.layers[-1]
        return (not self.loss.from_logits and getattr(last, "activation", None) == "softmax"
                and hasattr(last, "backward_from_logits"))

    # ----- one batch ---------------------------------------------------------------------------

    def _forward(self, X: np.ndarray, training: bool) -> np.ndarray:
        for layer in self.layers:
            X = layer.forward(X, training=training)
        return X

    def _loss_values(self, Y: np.ndarray, y: np.ndarray) -> np.ndarray:
        if self._uses_logits():
            return losses.softmax_cross_entropy(self.layers[-1]._Z, y)
        return self.loss.call(y, Y)

    def _backward(self, Y: np.ndarray, y: np.ndarray) -> None:
        *rest, last = self.layers
        if self._uses_logits():
            dX = last.backward_from_logits(losses.softmax_cross_entropy_backward(last._Z, y))
        else:
            dX = last.backward(self.loss.gradient(y, Y))
        for layer in reversed(rest):
            dX = layer.backward(dX)

    def _train_step(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Forward, loss, backward, optimizer step. Returns (per-sample losses, predictions)."""
        Y = self._forward(X, training=True)
        values = self._loss_values(Y, y)
        self._backward(Y, y)
        grads = [layer.grads[k] for layer in self.layers for k in layer.params]
        self.optimizer.apply(self.trainable_weights, grads)
        return values, Y

    # ----- the loops ---------------------------------------------------------------------------

    def _prepare(self, x, y, method: str):
        self._check_compiled(method)
        x = _as_features(x, "x")
        self._ensure_built(x)
        if y is None:
            raise ValueError(f"{method}() requires y, the integer labels of x.")
        y = _as_labels(y, x.shape[0], self.output_shape[-1], "y")
        return x, y

    def _run_batches(self, x, y, batch_size: int, order: np.ndarray, step,
                     on_batch_begin=None, on_batch_end=None):
        """Apply `step` to each batch; return the running means {name: value}.

        The loss is averaged per sample, so the last, smaller batch weighs less (as in Keras).
        `on_batch_end(i, logs)` returning True stops the loop.
        """
        sums, seen, logs = np.zeros(len(self.metrics_names)), 0, {}
        for i, start in enumerate(range(0, len(order), batch_size)):
            if on_batch_begin is not None:
                on_batch_begin(i)
            idx = order[start:start + batch_size]
            values, Y = step(x[idx], y[idx])
            sums[0] += values.sum(dtype=np.float64)
            for j, fn in enumerate(self._metric_fns, start=1):
                sums[j] += fn(y[idx], Y).sum()
            seen += len(idx)
            logs = {name: float(s / seen) for name, s in zip(self.metrics_names, sums, strict=True)}
            if on_batch_end is not None and on_batch_end(i, logs):
                break
        return logs

    def _test_step(self, X, y):
        Y = self._forward(X, training=False)
        return self._loss_values(Y, y), Y

    def fit(self, x=None, y=None, batch_size: "int | None" = None, epochs: int = 1,
            verbose="auto", callbacks=None, validation_split: float = 0.0,
            validation_data=None, shuffle: bool = True, initial_epoch: int = 0) -> History:
        """Train for `epochs` passes over (x, y) in mini-batches.

        Args:
            x: inputs, shape (samples, ...).
            y: integer labels, shape (samples,) or (samples, 1).
            batch_size: samples per gradient step. Defaults to 32.
            epochs: index of the last epoch. Defaults to 1.
            verbose: 0 silent, 1 progress bar, 2 one line per epoch. Defaults to "auto" (1).
            callbacks: list of Callback objects. Defaults to none.
            validation_split: fraction of the data, taken from the end before any shuffling,
                used only for validation. Defaults to 0.
            validation_data: (x_val, y_val), used instead of validation_split.
            shuffle: shuffle the training samples each epoch. Defaults to True.
            initial_epoch: epoch to start at (to resume). Defaults to 0.

        Returns:
            The `History` callback; `history.history` maps log names to per-epoch lists.
        """
        x, y = self._prepare(x, y, "fit")
        batch_size = 32 if batch_size is None else _positive_int(batch_size, "batch_size")
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"epochs must be a non-negative integer, got epochs={epochs!r}.")
        verbose = 1 if verbose == "auto" else verbose
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data must be a tuple (x_val, y_val).")
            x_val = _as_features(validation_data[0], "validation_data[0]")
            y_val = _as_labels(validation_data[1], x_val.shape[0], self.output_shape[-1],
                               "validation_data[1]")
        elif validation_split:
            if not 0 < validation_split < 1:
                raise ValueError(
                    "validation_split must be in [0, 1), "
                    f"got validation_split={validation_split!r}."
                )
            split = int(np.floor(x.shape[0] * (1.0 - validation_split)))
            if split == 0 or split == x.shape[0]:
                raise ValueError(
                    f"validation_split={validation_split} of {x.shape[0]} samples leaves "
                    f"{split} for training and {x.shape[0] - split} for validation; both "
                    "must be non-empty."
                )
            x, x_val, y, y_val = x[:split], x[split:], y[:split], y[split:]
        else:
            x_val = y_val = None

        steps = -(-x.shape[0] // batch_size)
        self.history = History()
        extra = [ProgbarLogger(verbose)] if verbose else []
        cbs = CallbackList([*(callbacks or []), self.history, *extra], self,
                           {"epochs": epochs, "steps": steps, "verbose": verbose})
        self.stop_training = False
        cbs.call("on_train_begin", None)
        logs = {}
        for epoch in range(initial_epoch, epochs):
            cbs.call("on_epoch_begin", epoch, None)
            order = utils.rng().permutation(x.shape[0]) if shuffle else np.arange(x.shape[0])

            def batch_end(i, batch_logs):
                cbs.call("on_train_batch_end", i, batch_logs)
                return self.stop_training

            logs = self._run_batches(x, y, batch_size, order, self._train_step,
                                     lambda i: cbs.call("on_train_batch_begin", i, None),
                                     batch_end)
            if x_val is not None:
                val = self._run_batches(x_val, y_val, batch_size, np.arange(x_val.shape[0]),
                                        self._test_step)
                logs.update({f"val_{k}": v for k, v in val.items()})
            cbs.call("on_epoch_end", epoch, logs)
            if self.stop_training:
                break
        cbs.call("on_train_end", logs)
        return self.history

    def evaluate(self, x=None, y=None, batch_size: "int | None" = None, verbose="auto",
                 return_dict: bool = False):
        """Loss and metrics on (x, y), without dropout.

        Returns:
            `loss` alone without metrics, else `[loss, metric...]`; a dict when return_dict.
        """
        x, y = self._prepare(x, y, "evaluate")
        batch_size = 32 if batch_size is None else _positive_int(batch_size, "batch_size")
        bar = Progbar(-(-x.shape[0] // batch_size), verbose=1 if verbose == "auto" else verbose)
        logs = self._run_batches(x, y, batch_size, np.arange(x.shape[0]), self._test_step,
                                 on_batch_end=lambda i, logs: bar.update(i + 1, logs))
        if verbose:
            bar.update(bar.target, logs, finalize=True)
        if return_dict:
            return logs
        values = [logs[name] for name in self.metrics_names]
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size: "int | None" = None, verbose="auto") -> np.ndarray:
        """The model's outputs for x, computed in batches, without dropout."""
        x = _as_features(x, "x")
        self._ensure_built(x)
        batch_size = 32 if batch_size is None else _positive_int(batch_size, "batch_size")
        bar = Progbar(-(-x.shape[0] // batch_size), verbose=1 if verbose == "auto" else verbose)
        outputs = []
        for i, start in enumerate(range(0, x.shape[0], batch_size)):
            outputs.append(self._forward(x[start:start + batch_size], training=False))
            bar.update(i + 1)
        if verbose:
            bar.update(bar.target, finalize=True)
        return np.concatenate(outputs)

    def to_keras(self):
        """This model as a `keras.Sequential` with the same weights (see `tinynn.interop`)."""
        from tinynn import interop
        return interop.to_keras(self)

    def __call__(self, x, training: bool = False) -> np.ndarray:
        """One forward pass over all of x (no batching), as `model(x)` in Keras."""
        x = _as_features(x, "x")
        self._ensure_built(x)
        return self._forward(x, training=training)


def from_keras(keras_model) -> Sequential:
    """A tinynn Sequential with a Keras Sequential's layers and weights (see `tinynn.interop`)."""
    from tinynn import interop
    return interop.from_keras(keras_model)
