"""`Sequential`: a stack of layers with Keras's `compile`, `fit`, `evaluate` and `predict`.

The loop is the textbook one. For each batch: forward through the layers, loss and its gradient,
backward through the layers in reverse, one optimizer step. Callbacks observe; `fit` owns the loop.
"""

import sys
import warnings

import numpy as np

from tinynn import backend, interop, losses, optimizers, safety, saving, utils
from tinynn.callbacks import CallbackList, History, ProgbarLogger
from tinynn.compile_utils import CompileMetrics
from tinynn.layers import InputLayer, Layer, _unique_name
from tinynn.progbar import Progbar
from tinynn.saving import load_model
from tinynn.summary import summary_table
from tinynn.validation import as_features as _as_features
from tinynn.validation import as_targets as _as_targets
from tinynn.validation import non_negative_int as _non_negative_int
from tinynn.validation import positive_int as _positive_int
from tinynn.validation import split_validation

__all__ = ["Sequential", "load_model", "save_model"]


def save_model(model: "Sequential", filepath, overwrite: bool = True,
               include_optimizer: bool = True) -> None:
    """`keras.models.save_model`: the same as `model.save(filepath)`."""
    saving.save_model(model, filepath, overwrite=overwrite, include_optimizer=include_optimizer)


class NotCompiledError(ValueError, RuntimeError):
    """`fit`/`evaluate` before `compile`: a ValueError as in Keras 3, and a RuntimeError as in
    earlier tinynn, so either `except` catches it."""


class Sequential(Layer):
    """A linear stack of layers: `Sequential([Input((28, 28)), Flatten(), Dense(10)])`.

    As in Keras, a model is itself a layer: forward runs the layers in order, backward runs
    their backward passes in reverse, and its weights are theirs, layer by layer.

    Args:
        layers: list of layers (an `Input` first fixes the input shape). Defaults to none;
            add more with `add`.
        name: Defaults to "sequential", numbered like Keras's.
    """

    def __init__(self, layers: "list[Layer] | None" = None, name: "str | None" = None):
        super().__init__(name=name or _unique_name("sequential"))
        self.layers: list[Layer] = []
        self.input_shape: tuple | None = None
        self.built = False
        self.optimizer = self.loss = None
        self.metrics_names: list[str] = []
        self._compiled: CompileMetrics | None = None
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
                layer.built = True  # as Keras does, whether or not build() said so
            shape = layer.compute_output_shape(shape)
        self.output_shape = shape
        # Below (and including) the first layer with parameters, nobody needs d loss / d input.
        first = next((i for i, layer in enumerate(self.layers) if layer.trainable_weights),
                     len(self.layers))
        for i, layer in enumerate(self.layers):
            layer.compute_input_grad = i > first
        self.built = True

    def _ensure_built(self, x: np.ndarray) -> None:
        if not self.layers:
            raise ValueError(f"Model '{self.name}' has no layers; add some before using it.")
        if not self.built:
            self.build((None, *x.shape[1:]))
        elif tuple(x.shape[1:]) != tuple(self.input_shape[1:]):
            expected = tuple(self.input_shape[1:])
            # samples of features fed images: (N, 28, 28) into a model starting with Dense(784)
            hint = " Did you forget a Flatten layer?" if len(expected) == 1 and x.ndim > 2 else ""
            raise ValueError(
                f"Model '{self.name}' expects samples of shape {expected}, "
                f"got input of shape {x.shape}.{hint}"
            )

    # ----- weights -----------------------------------------------------------------------------

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        """The weights `fit` updates, in Keras's order: layer by layer, in creation order."""
        return [w for layer in self.layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        return [w for layer in self.layers for w in layer.non_trainable_weights]

    @property
    def weights(self) -> list[np.ndarray]:
        """All weights in Keras's order: for each layer, its trainable then its other weights."""
        return [w for layer in self.layers for w in layer.weights]

    @property
    def gradients(self) -> list[np.ndarray]:
        """The gradient buffers of `trainable_weights`, in the same order: exactly the arrays the
        optimizer reads in `fit`."""
        return [g for layer in self.layers for g in layer.gradients]

    def get_weights(self) -> list[np.ndarray]:
        """Copies of all weights in Keras's order."""
        return [w.copy() for w in self.weights]

    def set_weights(self, weights: list) -> None:
        """Overwrite all weights (in place) from a list in Keras's order."""
        if not self.built:
            raise ValueError(f"Model '{self.name}' is not built yet: call it on data first.")
        if not isinstance(weights, (list, tuple)):
            raise TypeError(f"Model '{self.name}' set_weights expected a list of arrays, got "
                            f"{type(weights).__name__}.")
        own = self.weights
        if len(weights) != len(own):
            raise ValueError(
                f"set_weights expected {len(own)} arrays for model '{self.name}', "
                f"got {len(weights)}."
            )
        start = 0
        for layer in self.layers:
            n = len(layer.weights)
            layer.set_weights(list(weights[start:start + n]))
            start += n

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self.layers)

    def get_config(self) -> dict:
        """Keras's Sequential config: the name and each layer's class and config."""
        layers = [saving.serialize_keras_object(layer) for layer in self.layers]
        if self.input_shape is not None:
            layers.insert(0, {"class_name": "InputLayer",
                              "config": {"shape": list(self.input_shape[1:]), "batch_size": None,
                                         "name": "input_layer"}})
        return {"name": self.name, "trainable": self.trainable, "layers": layers}

    @classmethod
    def from_config(cls, config: dict, custom_objects: "dict | None" = None) -> "Sequential":
        layers = [saving.deserialize_keras_object(spec, Layer, custom_objects, f"layer {i}")
                  for i, spec in enumerate(config["layers"])]
        return cls(layers, name=config.get("name"))

    def summary(self, print_fn=print) -> None:
        """Print a Keras-style table of layers, output shapes and parameter counts."""
        print_fn(summary_table(self))

    def save(self, filepath, overwrite: bool = True, include_optimizer: bool = True) -> None:
        """Save architecture, weights and optimizer state to one file, atomically.

        Reload with `tinynn.models.load_model(filepath)`; see `tinynn.saving.save_model`.
        """
        saving.save_model(self, filepath, overwrite=overwrite,
                          include_optimizer=include_optimizer)

    # ----- compile -----------------------------------------------------------------------------

    def compile(self, optimizer="rmsprop", loss=None, metrics: "list | None" = None) -> None:
        """Choose the optimizer, the loss and the metrics.

        Args:
            optimizer: a name ("adam", "rmsprop", "sgd") or an optimizer object. Defaults to
                "rmsprop", as in Keras.
            loss: a name ("sparse_categorical_crossentropy", "categorical_crossentropy",
                "binary_crossentropy", "mse", "mae", "huber", ...) or a loss object.
            metrics: list of metric names ("accuracy", "mae", "auc", ...), metric objects or
                functions, logged under the names Keras logs them under. Defaults to none.
        """
        if loss is None:
            raise ValueError(
                "compile expected a loss, e.g. loss='sparse_categorical_crossentropy'."
            )
        self.optimizer = optimizers.get(optimizer)
        self.loss = losses.get(loss)
        self._compiled = CompileMetrics(self.loss, metrics)  # the logs of fit and evaluate
        self.metrics_names = self._compiled.names
        # Keras's TensorFlow backend computes a cross-entropy from the logits of a final
        # sigmoid or softmax: this twin of the loss takes them (see _logits_layer).
        self._logits_loss = (type(self.loss).from_config({**self.loss.get_config(),
                                                          "from_logits": True})
                             if hasattr(self.loss, "from_logits") else None)
        self._warned_from_logits = False

    def _check_compiled(self, method: str) -> None:
        # Keras 3.15 raises ValueError("You must call `compile()` before using the model.") from
        # fit, evaluate, train_on_batch and test_on_batch; we add which method and the fix.
        if self.loss is None:
            raise NotCompiledError(
                f"You must call `compile()` before using the model: {method}() needs the loss it "
                f"sets, e.g. model.compile(loss='sparse_categorical_crossentropy').")

    def _logits_layer(self, Y: np.ndarray) -> "Layer | None":
        """The layer whose sigmoid or softmax produced the output Y (with only weightless
        layers after it), else None: cross-entropies take that activation's input, `_Z`.

        Keras's TensorFlow backend marks a sigmoid's or softmax's output with its input (the
        tensor attribute `_keras_logits`) and its cross-entropies (binary, categorical,
        sparse; losses and metrics) read the mark and compute from the logits: no clipping,
        exact gradients. The mark stays on an array passed on unchanged (Dropout at inference),
        and Keras reads it whatever `from_logits` says and whichever cross-entropy it is (a
        softmax with binary cross-entropy gives the sigmoid cross-entropy of the softmax's
        input). So here: the layer whose activation output *is* Y.
        """
        for layer in reversed(self.layers):
            if getattr(layer, "_A", None) is Y and hasattr(layer, "backward_from_logits") \
                    and getattr(layer, "activation", None) in ("sigmoid", "softmax"):
                return layer
            if layer.trainable_weights:
                return None
        return None

    def _loss_logits_layer(self, Y: np.ndarray) -> "Layer | None":
        """`_logits_layer` when the loss is a cross-entropy (it has `from_logits`), else None."""
        if self._logits_loss is None:
            return None
        source = self._logits_layer(Y)
        if source is not None and self.loss.from_logits and not self._warned_from_logits:
            self._warned_from_logits = True
            warnings.warn(
                f"The loss {self.loss.name} has from_logits=True, but the model's output comes "
                f"from a {source.activation} (layer '{source.name}') and so is not logits. As "
                f"Keras does, the loss is computed from that {source.activation}'s input. Was "
                "this intended?", stacklevel=4)
        return source

    # ----- one batch ---------------------------------------------------------------------------

    def _forward(self, X: np.ndarray, training: bool) -> np.ndarray:
        for layer in self.layers:
            X = layer.forward(X, training=training)
        return X

    def forward(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        """Y = layer_n(... layer_1(X)), as a layer of a bigger model."""
        return self._forward(X, training)

    def backward(self, dY: np.ndarray) -> np.ndarray:
        """dX = layer_1.backward(... layer_n.backward(dY)): the chain rule, layer by layer."""
        for layer in reversed(self.layers):
            if dY is None:
                break
            dY = layer.backward(dY)
        return dY

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        for layer in self.layers:
            input_shape = layer.compute_output_shape(input_shape)
        return input_shape

    def _loss_values(self, Y: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-sample losses of the last forward pass (output Y, targets y)."""
        source = self._loss_logits_layer(Y)
        if source is not None:
            return self._logits_loss.call(y, source._Z)
        return self.loss.call(y, Y)

    def _backward(self, Y: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Backpropagate the loss of the last forward pass through every layer, filling each
        layer's `grads`. Returns the per-sample losses, computed on the way."""
        source = self._loss_logits_layer(Y)
        if source is not None:  # start from d loss / d logits, below the sigmoid or softmax
            loss, below = self._logits_loss, self.layers[:self.layers.index(source)]
            if type(loss) is losses.SparseCategoricalCrossentropy \
                    and loss.reduction in ("sum_over_batch_size", "mean"):
                # fused: loss and dZ = (softmax(Z) - onehot(y)) / N together
                values, dZ = backend.ops().softmax_cross_entropy_with_gradient(source._Z, y)
            else:
                values, dZ = loss.call(y, source._Z), loss.weighted_gradient(y, source._Z)
            dX = source.backward_from_logits(dZ)
        else:
            *below, last = self.layers
            values = self.loss.call(y, Y)
            dX = last.backward(self.loss.weighted_gradient(y, Y))
        for layer in reversed(below):
            if dX is None:  # the layers below only lead to the data
                break
            dX = layer.backward(dX)
        return values

    def _train_step(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Forward, loss, backward, optimizer step. Returns (per-sample losses, predictions)."""
        Y = self._forward(X, training=True)
        values = self._backward(Y, y)
        safety.check_loss(values)  # a NaN/inf loss stops here, before any weight changes
        self.optimizer.apply(self.gradients, self.trainable_weights)
        return values, Y

    # ----- the loops ---------------------------------------------------------------------------

    def _inputs(self, x, argument: str = "x") -> np.ndarray:
        """x as floatx, one rank off adjusted to the model's input as Keras adjusts it."""
        return _as_features(x, argument, self.input_shape[1:] if self.built else None)

    def _as_targets(self, y, n: int, argument: str = "y") -> np.ndarray:
        """y as the loss takes it: integer labels for a sparse loss, else values shaped like the
        output ((n,) accepted for one output unit)."""
        return _as_targets(y, n, self.output_shape, self.loss, argument)

    def _prepare(self, x, y, method: str):
        self._check_compiled(method)
        x = self._inputs(x)
        self._ensure_built(x)
        if y is None:
            raise ValueError(f"{method}() requires y, the targets of x.")
        y = self._as_targets(y, x.shape[0])
        self._compiled.build(y.shape, (y.shape[0], *self.output_shape[1:]))  # once, as Keras
        return x, y

    @property
    def _metric_specs(self) -> list:
        """compile's metrics as given (names, objects, functions): what saving keeps."""
        return self._compiled.specs if self._compiled is not None else []

    def _update_metrics(self, y: np.ndarray, Y: np.ndarray, values: np.ndarray) -> None:
        """Add a batch to the logs: the loss's running mean and every metric; cross-entropy
        metrics get the logits of a final sigmoid or softmax, as in Keras."""
        source = self._logits_layer(Y) if self._compiled.metrics else None
        self._compiled.update(y, Y, values, None if source is None else source._Z)

    def _run_batches(self, x, y, batch_size: int, order: np.ndarray, step,
                     on_batch_begin=None, on_batch_end=None):
        """Apply `step` to each batch; return the logs {name: value} over the batches so far.

        The metrics are reset first and updated batch by batch (`_update_metrics`), so each
        logged value covers every sample seen so far; the loss is averaged per sample, so the
        last, smaller batch weighs less (as in Keras). `on_batch_end(i, logs)` returning True
        stops the loop.
        """
        self._compiled.reset()
        logs = {}
        for i, start in enumerate(range(0, len(order), batch_size)):
            if on_batch_begin is not None:
                on_batch_begin(i)
            idx = order[start:start + batch_size]
            values, Y = step(x[idx], y[idx])
            self._update_metrics(y[idx], Y, values)
            logs = self._compiled.results()
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
            y: targets: integer labels (samples,) for sparse_categorical_crossentropy, else
                values shaped like the model's output ((samples,) for one output unit).
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

        A NaN or infinite batch loss stops training before that batch's update (a
        RuntimeWarning names the epoch and batch). Ctrl-C waits for the current step to finish;
        then `on_train_end` runs and the KeyboardInterrupt is re-raised, `model.history` holding
        the completed epochs.
        """
        x, y = self._prepare(x, y, "fit")
        batch_size = 32 if batch_size is None else _positive_int(batch_size, "batch_size")
        epochs = _non_negative_int(epochs, "epochs")
        initial_epoch = _non_negative_int(initial_epoch, "initial_epoch")
        if callbacks is not None and not isinstance(callbacks, (list, tuple)):
            raise TypeError(f"callbacks must be a list of Callback objects, got {callbacks!r}.")
        verbose = 1 if verbose == "auto" else verbose
        x, y, x_val, y_val = split_validation(x, y, validation_data, validation_split,
                                              self._as_targets)

        steps = -(-x.shape[0] // batch_size)
        self.history = History()
        extra = [ProgbarLogger(verbose)] if verbose else []
        cbs = CallbackList([*(callbacks or []), self.history, *extra], self,
                           {"epochs": epochs, "steps": steps, "verbose": verbose})
        self.stop_training = False
        cbs.call("on_train_begin", None)
        logs, epoch, where = {}, initial_epoch, {"batch": 0}
        try:
            with safety.InterruptGuard() as guard:
                for epoch in range(initial_epoch, epochs):
                    cbs.call("on_epoch_begin", epoch, None)
                    order = (utils.rng().permutation(x.shape[0]) if shuffle
                             else np.arange(x.shape[0]))

                    def batch_begin(i):
                        where["batch"] = i
                        cbs.call("on_train_batch_begin", i, None)

                    def batch_end(i, batch_logs):
                        cbs.call("on_train_batch_end", i, batch_logs)
                        guard.check()  # a Ctrl-C lands here, between two whole steps
                        return self.stop_training

                    logs = self._run_batches(x, y, batch_size, order, self._train_step,
                                             batch_begin, batch_end)
                    if x_val is not None:
                        val = self._run_batches(x_val, y_val, batch_size,
                                                np.arange(x_val.shape[0]), self._test_step)
                        logs.update({f"val_{k}": v for k, v in val.items()})
                    cbs.call("on_epoch_end", epoch, logs)
                    guard.check()
                    if self.stop_training:
                        break
        except safety.NonFiniteLoss as e:
            self.stop_training = True
            warnings.warn(
                f"Invalid loss ({e.value}) at epoch {epoch + 1}/{epochs}, batch "
                f"{where['batch'] + 1}/{steps}: training stopped before applying that batch's "
                f"update. The model keeps the weights that gave the last finite loss; History "
                f"has the {len(self.history.epoch)} completed epoch(s). Try a smaller "
                "learning_rate or check the data for extreme values.",
                RuntimeWarning, stacklevel=2,
            )
        except KeyboardInterrupt:
            cbs.call("on_train_end", logs)
            print(f"\nTraining interrupted at epoch {epoch + 1}/{epochs}, batch "
                  f"{where['batch'] + 1}/{steps}. The model holds the weights after the last "
                  f"whole step; model.history has the {len(self.history.epoch)} completed "
                  "epoch(s).", file=sys.stderr)
            raise
        cbs.call("on_train_end", logs)
        return self.history

    def evaluate(self, x=None, y=None, batch_size: "int | None" = None, verbose="auto",
                 return_dict: bool = False):
        """Loss and metrics on (x, y), without dropout.

        Returns:
            `loss` alone without metrics, else `[loss, metric...]` in compile's order (as Keras
            orders it: names repeated in compile appear again, then the remaining logs by
            name); a dict when return_dict.
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
        values = self._compiled.in_order(logs)
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size: "int | None" = None, verbose="auto") -> np.ndarray:
        """The model's outputs for x, computed in batches, without dropout."""
        x = self._inputs(x)
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
        return interop.to_keras(self)

    def __call__(self, x, training: bool = False) -> np.ndarray:
        """One forward pass over all of x (no batching), as `model(x)` in Keras."""
        x = self._inputs(x)
        self._ensure_built(x)
        return self._forward(x, training=training)


def from_keras(keras_model) -> Sequential:
    """A tinynn Sequential with a Keras Sequential's layers and weights (see `tinynn.interop`)."""
    return interop.from_keras(keras_model)
