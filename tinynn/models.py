"""`Sequential`: a stack of layers with Keras's `compile`, `fit`, `evaluate` and `predict`.

The loop is the textbook one. For each batch: forward through the layers, loss and its gradient,
backward through the layers in reverse, one optimizer step. Callbacks observe; `fit` owns the loop.
"""

import copy
import sys
import warnings

import numpy as np

from tinynn import (
    activations,
    backend,
    data_adapter,
    engine,
    interop,
    keras_format,
    losses,
    optimizers,
    safety,
    saving,
)
from tinynn.callbacks import CallbackList, History, ProgbarLogger
from tinynn.compile_utils import CompileMetrics
from tinynn.data_adapter import EpochIterator
from tinynn.layers import InputLayer, KerasTensor, Layer, _unique_name
from tinynn.saving import load_model
from tinynn.summary import summary_table
from tinynn.validation import as_features as _as_features
from tinynn.validation import as_targets as _as_targets
from tinynn.validation import non_negative_int as _non_negative_int
from tinynn.validation import positive_int as _positive_int

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
        self._jit_compile, self._engine = "auto", None  # see compile and tinynn.engine
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
        if any(other is layer for other in self.layers):
            # Keras accepts the same layer twice (shared weights); a tinynn layer keeps what its
            # backward needs from its last forward, so its second use would corrupt the first.
            raise ValueError(f"Layer '{layer.name}' is already in this model: a tinynn layer can "
                             "appear only once in a Sequential. Create a second layer.")
        if any(other.name == layer.name for other in self.layers):  # Keras 3.15's message:
            raise ValueError(
                "All layers added to a Sequential model should have unique names. Name "
                f"'{layer.name}' is already the name of a layer in this model. Update the "
                "`name` argument to pass a unique name.")
        if isinstance(layer, InputLayer) or (not self.layers and layer.input_shape):
            if self.layers:
                raise ValueError("An Input can only be the first element of a Sequential.")
            # a layer's input_shape is one sample's; a model's, as in Keras, has the batch first
            sample = layer.input_shape[1:] if isinstance(layer, Sequential) else layer.input_shape
            self.input_shape = (None, *sample)
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
    def weight_names(self) -> list[str]:
        """Names of `weights`, in the same order, as "layer/weight" (so a model nested in another
        is saved and loaded like any layer)."""
        return [f"{layer.name}/{n}" for layer in self.layers for n in layer.weight_names]

    @property
    def gradients(self) -> list[np.ndarray]:
        """The gradient buffers of `trainable_weights`, in the same order: exactly the arrays the
        optimizer reads in `fit`."""
        return [g for layer in self.layers for g in layer.gradients]

    # `losses` (from Layer), in Keras's order: every layer's activity penalty, then the weight
    # penalties in the order of `trainable_weights`.
    def _activity_losses(self) -> list:
        return [p for layer in self.layers for p in layer._activity_losses()]

    def _weight_penalties(self) -> list:
        return [p for layer in self.layers for p in layer._weight_penalties()]

    def _add_penalty_gradients(self) -> None:
        for layer in self.layers:
            layer._add_penalty_gradients()

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

    def get_layer(self, name: "str | None" = None, index: "int | None" = None) -> Layer:
        """The layer called `name`, or the one at `index` (Input not counted), as in Keras."""
        if index is not None and name is not None:
            raise ValueError("Provide only a layer name or a layer index at `get_layer`, "
                             f"got name={name!r} and index={index!r}.")
        if index is not None:
            if not -len(self.layers) <= index < len(self.layers):
                raise ValueError(f"Was asked to retrieve layer at index {index} but model only "
                                 f"has {len(self.layers)} layers.")
            return self.layers[index]
        if name is None:
            raise ValueError("Provide either a layer name or layer index at `get_layer`.")
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Existing layers are: "
                         f"{[layer.name for layer in self.layers]}.")

    def pop(self) -> Layer:
        """Remove the last layer and return it; the model's output becomes the layer's input.
        Compile again before training: the optimizer was built for the old weights."""
        if not self.layers:
            raise IndexError(f"Model '{self.name}' has no layers to pop.")
        layer = self.layers.pop()
        if self.input_shape is not None:
            self.build(self.input_shape)
        return layer

    def apply_constraints(self) -> None:
        """Every layer's weight constraints (see `Layer.apply_constraints`), nested models'
        too."""
        if self.trainable:
            for layer in self.layers:
                if layer.constraints or isinstance(layer, Sequential):
                    layer.apply_constraints()

    @property
    def trainable_variables(self) -> list[np.ndarray]:
        """Keras's other name for `trainable_weights`."""
        return self.trainable_weights

    @property
    def variables(self) -> list[np.ndarray]:
        """Keras's other name for `weights`."""
        return self.weights

    # ----- one batch at a time -----------------------------------------------------------------

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight: "dict | None" = None,
                       return_dict: bool = False):
        """One optimizer step on (x, y) taken as a single batch, as Keras 3's `train_on_batch`:
        returns that batch's loss (computed before the update) and metrics, as `evaluate`
        returns them (the metrics start afresh at every call). `sample_weight` and
        `class_weight` weigh the samples as in `fit`. A non-finite loss or gradient is not
        applied (RuntimeWarning), and its loss is returned."""
        x, y = self._prepare(x, y, "train_on_batch")
        weights = data_adapter.training_weights(
            y, data_adapter.as_sample_weight(sample_weight, x.shape[0]),
            data_adapter.check_class_weight(class_weight))
        self._compiled.reset()
        try:
            self._train_step(x, y, weights)
        except safety.NonFiniteStep as e:
            warnings.warn(f"train_on_batch: the {e.what} is not finite ({e}); the update was "
                          "not applied.", RuntimeWarning, stacklevel=2)
            return e.value if not return_dict else {"loss": e.value}
        return self._batch_results(return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict: bool = False):
        """Loss and metrics of (x, y) taken as one batch, without dropout (Keras 3's
        `test_on_batch`: the metrics start afresh at every call), weighted by `sample_weight`
        as in `evaluate`."""
        x, y = self._prepare(x, y, "test_on_batch")
        weights = data_adapter.as_sample_weight(sample_weight, x.shape[0])
        twin = self._inference_twin()
        twin._compiled = self._compiled.fresh()
        twin._test_step(x, y, weights)
        return twin._batch_results(return_dict)

    def predict_on_batch(self, x) -> np.ndarray:
        """The outputs for x in one forward pass, without dropout, as `predict_on_batch`."""
        x = self._inputs(x)
        self._ensure_built(x)
        return self._inference_twin()._forward(x, training=False)

    def _batch_results(self, return_dict: bool):
        logs = self._compiled.results()
        if return_dict:
            return logs
        values = self._compiled.in_order(logs)
        return values[0] if len(values) == 1 else values

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
        """Save architecture, weights and optimizer state to one file, atomically: "m.keras" in
        Keras 3's format, any other name (e.g. "m.npz") in tinynn's, which also resumes the
        random generators exactly.

        Reload with `tinynn.models.load_model(filepath)`; see `tinynn.saving.save_model`.
        """
        saving.save_model(self, filepath, overwrite=overwrite,
                          include_optimizer=include_optimizer)

    def save_weights(self, filepath, overwrite: bool = True) -> None:
        """Save the weights (and optimizer variables) to "name.weights.h5" in Keras's layout,
        which Keras's `load_weights` reads; see `tinynn.saving.save_weights`."""
        saving.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch: bool = False) -> None:
        """Load weights from a ".weights.h5" or ".keras" file (Keras's or tinynn's); see
        `tinynn.saving.load_weights`."""
        saving.load_weights(self, filepath, skip_mismatch=skip_mismatch)

    # ----- compile -----------------------------------------------------------------------------

    def compile(self, optimizer="rmsprop", loss=None, metrics: "list | None" = None,
                weighted_metrics: "list | None" = None, jit_compile="auto") -> None:
        """Choose the optimizer, the loss and the metrics.

        Args:
            optimizer: a name ("adam", "adamw", "sgd", ...: the class name in lower case) or
                an optimizer object. Defaults to "rmsprop", as in Keras.
            loss: a name ("sparse_categorical_crossentropy", "categorical_crossentropy",
                "binary_crossentropy", "mse", "mae", "huber", ...) or a loss object.
            metrics: list of metric names ("accuracy", "mae", "auc", ...), metric objects or
                functions, logged under the names Keras logs them under; never weighted by
                `sample_weight` or `class_weight`. Defaults to none.
            weighted_metrics: the same, weighted by `fit`'s and `evaluate`'s sample weights
                (or class weights); a name already taken is logged as "weighted_<name>", as
                in Keras. Defaults to none.
            jit_compile: "auto" or True: `fit` runs each training step as one fused numba
                call when the model is a chain it knows (`tinynn.engine`: Dense, Dropout,
                Flatten, softmax with sparse cross-entropy, Adam), with the same results as
                layer by layer; False: always layer by layer. Defaults to "auto" (Keras's
                name and default; there it means XLA).
        """
        if jit_compile not in ("auto", True, False):
            raise ValueError(f"compile expected jit_compile to be 'auto', True or False, got "
                             f"jit_compile={jit_compile!r}.")
        self._jit_compile = jit_compile
        if loss is None:
            raise ValueError(
                "compile expected a loss, e.g. loss='sparse_categorical_crossentropy'."
            )
        self.optimizer = optimizers.get(optimizer)
        self.loss = losses.get(loss)
        # the logs of fit and evaluate
        self._compiled = CompileMetrics(self.loss, metrics, weighted_metrics)
        self.metrics_names = self._compiled.names
        # Keras's TensorFlow backend computes a cross-entropy from the logits of a final
        # sigmoid or softmax: this twin of the loss takes them (see _logits_layer). Only for
        # tinynn's own cross-entropies: a loss of one's own, or a subclass that redefines
        # `call` or `gradient`, is always called as written.
        self._logits_loss = None
        if _own_cross_entropy(self.loss):
            self._logits_loss = copy.copy(self.loss)
            self._logits_loss.from_logits = True
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
        input). So here: the layer whose activation output *is* Y (a Dense layer's, for 2-D
        inputs: on more axes it returns its activation reshaped, a new array, and the loss is
        computed from the probabilities).
        """
        for layer in reversed(self.layers):
            if getattr(layer, "_A", None) is Y and hasattr(layer, "backward_from_logits") \
                    and getattr(layer, "activation", None) in ("sigmoid", "softmax"):
                return layer
            if layer.trainable_weights:
                return None
        return None

    def _loss_logits_layer(self, Y: np.ndarray) -> "Layer | None":
        """`_logits_layer` when the loss is tinynn's own cross-entropy, else None.

        Only for tinynn's own cross-entropies (`_logits_loss` is set): a loss of your own (or a
        subclass that redefines `call` or `gradient`) is always called as written."""
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
            X = layer._record_activity(layer.forward(X, training=training))
        return X

    def _inference_twin(self) -> "Sequential":
        """A shallow copy of this model whose layers are shallow copies too (nested models
        likewise): the same weight arrays, its own attributes. predict, evaluate, model(x) and
        the validation pass run on one, so what a layer keeps for its backward (`self._X`, a
        Dropout mask, an activity penalty) lands on the copy, and inference in another thread
        never overwrites what a training step's backward is about to read. ~1 us a layer,
        once per call."""
        twin = copy.copy(self)
        twin.layers = [layer._inference_twin() if isinstance(layer, Sequential)
                       else copy.copy(layer) for layer in self.layers]
        return twin

    def _adopt_activity_losses(self, twin: "Sequential") -> None:
        """After `model(x)` on `twin`: its activity penalties become this model's, so that
        `model.losses` reports that call's, as after Keras's `model(x)`. Only these values
        (not what backward reads: `_activity_Y`, the layers' inputs and masks) are written; a
        training step running meanwhile in another thread could log them in its loss."""
        for layer, used in zip(self.layers, twin.layers, strict=True):
            if isinstance(layer, Sequential):
                layer._adopt_activity_losses(used)
            layer._activity_loss = used._activity_loss

    def forward(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        """Y = layer_n(... layer_1(X)), as a layer of a bigger model."""
        return self._forward(X, training)

    def backward(self, dY: np.ndarray) -> np.ndarray:
        """dX = layer_1.backward(... layer_n.backward(dY)): the chain rule, layer by layer."""
        for layer in reversed(self.layers):
            if dY is None:
                break
            dY = layer.backward(layer._with_activity_gradient(dY))
        return dY

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        for layer in self.layers:
            input_shape = layer.compute_output_shape(input_shape)
        return input_shape

    def _with_penalties(self, values: np.ndarray) -> np.ndarray:
        """Per-sample losses plus the penalties P = sum(self.losses), shared out so that the
        loss's reduction of them is Keras 3's batch loss, reduced loss + P: P added to each
        value for a mean reduction, P / N for "sum" (and "none"), so the logged running mean
        is Keras's too."""
        penalties = self.losses
        if not penalties:
            return values
        P = sum(penalties)
        if self.loss.reduction not in ("sum_over_batch_size", "mean", "mean_with_sample_weight"):
            P = P / values.dtype.type(max(values.size, 1))
        return values + P

    def _loss_values(self, Y: np.ndarray, y: np.ndarray, sample_weight=None) -> np.ndarray:
        """Per-sample losses of the last forward pass (output Y, targets y), weighted as
        `Loss.sample_weight_factors` says, penalties included."""
        source = self._loss_logits_layer(Y)
        if source is not None:
            values = self._logits_loss.call(y, source._Z.reshape(Y.shape))
        else:
            values = self.loss.call(y, Y)
        if sample_weight is not None:
            values = values * self.loss.sample_weight_factors(values, sample_weight)[0]
        return self._with_penalties(values)

    def _backward(self, Y: np.ndarray, y: np.ndarray, sample_weight=None) -> np.ndarray:
        """Backpropagate the loss of the last forward pass (weighted by `sample_weight`, the
        batch's weights, if given), plus the penalties, through every layer, filling each
        layer's `grads`. Returns the per-sample losses (weighted, penalties included), computed
        on the way."""
        source = self._loss_logits_layer(Y)
        if source is not None:  # start from d loss / d logits, below the sigmoid or softmax
            i = self.layers.index(source)
            loss, below, Z = self._logits_loss, self.layers[:i], source._Z.reshape(Y.shape)
            if type(loss) is losses.SparseCategoricalCrossentropy \
                    and loss.reduction in ("sum_over_batch_size", "mean"):
                # fused: loss and dZ = (softmax(Z) - onehot(y)) / N together
                values, dZ = backend.ops().softmax_cross_entropy_with_gradient(Z, y)
                if sample_weight is not None:  # d(sum(w l) / N) / dZ: row i times w_i
                    c, g = loss.sample_weight_factors(values, sample_weight)
                    values, dZ = values * c, dZ * g[:, None]
            else:
                values, dZ = loss.call(y, Z), loss.weighted_gradient(y, Z, sample_weight)
                if sample_weight is not None:
                    values = values * loss.sample_weight_factors(values, sample_weight)[0]
            # the activity penalties of the output Y (the source's, and those of the weightless
            # layers above it, which passed Y on unchanged) reach Z through the activation
            gs = [g for layer in self.layers[i:] if (g := layer._activity_gradient()) is not None]
            if gs:
                backward = activations.forward_backward(source.activation)[1]
                g = sum(gs).reshape(source._Z.shape)
                dZ = dZ + backward(g, source._Z, source._A).reshape(dZ.shape)
            dX = source.backward_from_logits(dZ)
        else:
            *below, last = self.layers
            values = self.loss.call(y, Y)
            dY = self.loss.weighted_gradient(y, Y, sample_weight)
            if sample_weight is not None:
                values = values * self.loss.sample_weight_factors(values, sample_weight)[0]
            dX = last.backward(last._with_activity_gradient(dY))
        for layer in reversed(below):
            if dX is None:  # the layers below only lead to the data
                break
            dX = layer.backward(layer._with_activity_gradient(dX))
        self._add_penalty_gradients()  # dR/dW of each regularized weight
        return self._with_penalties(values)

    def _train_step(self, X: np.ndarray, y: np.ndarray,
                    sample_weight=None) -> tuple[np.ndarray, np.ndarray]:
        """Forward, loss, backward, optimizer step. Returns (per-sample losses, predictions).

        Inside `fit`, one fused call when `tinynn.engine` planned one for this model."""
        fused = self._engine
        if fused is not None and sample_weight is None:
            out = fused.step(X, y)
            if out is not None:
                self._update_metrics(y, out[1], out[0], None)
                return out
        Y = self._forward(X, training=True)
        values = self._backward(Y, y, sample_weight)
        safety.check_loss(values)  # a NaN/inf loss stops here, before any weight changes
        # a NaN/inf gradient too; an update that overflows is undone (see tinynn.safety)
        safety.apply_update(self.optimizer, self.gradients, self.trainable_weights)
        self.apply_constraints()  # W = constraint(W) after the step, as Keras's optimizer
        self._update_metrics(y, Y, values, sample_weight)  # Y from before the update, as Keras
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
        if len(self.output_shape) != 2 and getattr(self.loss, "sparse_labels", False):
            # Keras: "Argument `output` must have rank (ndim) `target.ndim - 1`": Dense acts on
            # the last axis, so images fed to Dense layers give one output per image row
            raise ValueError(
                f"Model '{self.name}' outputs shape {self.output_shape}, but the loss "
                f"{type(self.loss).__name__} needs one row of class scores per sample, shape "
                "(batch, classes). Did you forget a Flatten layer?"
            )
        if y is None:
            raise ValueError(f"{method}() requires y, the targets of x.")
        y = self._as_targets(y, x.shape[0])
        self._compiled.build(y.shape, (y.shape[0], *self.output_shape[1:]))  # once, as Keras
        return x, y

    @property
    def _metric_specs(self) -> list:
        """compile's metrics as given (names, objects, functions): what saving keeps."""
        return self._compiled.specs if self._compiled is not None else []

    @property
    def _weighted_metric_specs(self) -> list:
        """compile's weighted_metrics as given."""
        return self._compiled.weighted_specs if self._compiled is not None else []

    def _update_metrics(self, y: np.ndarray, Y: np.ndarray, values: np.ndarray,
                        sample_weight=None) -> None:
        """Add a batch to the logs: the loss's running mean and every metric (the weighted
        ones with `sample_weight`); cross-entropy metrics get the logits of a final sigmoid or
        softmax, as in Keras. Called by the steps, on the model that ran the forward pass (an
        inference twin shares `_compiled`), so that the logits are read from the layers that
        made Y."""
        self._compiled.build(y.shape, Y.shape)  # a step run outside fit or evaluate
        source = self._logits_layer(Y) if self._compiled.all_metrics else None
        self._compiled.update(y, Y, values, None if source is None else source._Z.reshape(Y.shape),
                              sample_weight)

    def _run_batches(self, data: tuple, batches, step, cbs: CallbackList, mode: str,
                     before_batch=None, after_batch=None) -> dict:
        """Apply `step(x, y, sample_weight)` to each batch of `data` = (x, y, sample weights or
        None), `batches` giving each batch's sample indices (an `EpochIterator.epoch()`),
        between the callbacks' `on_{mode}_batch_begin/end`; return the logs {name: value} over
        all the samples seen.

        The metrics are reset first and updated batch by batch by the step (`_update_metrics`),
        so each logged value covers every sample seen so far; the loss is averaged per sample,
        so the last, smaller batch weighs less (as in Keras). The running logs (sorted by name,
        as Keras's are) are built per batch only when some callback listens to
        `on_{mode}_batch_end`. `before_batch(i)` runs before the batch's hooks; `after_batch(i)`
        after them, and returning True stops the loop.
        """
        begin, end = cbs.listeners(f"on_{mode}_batch_begin"), cbs.listeners(f"on_{mode}_batch_end")
        x, y, w = data
        self._compiled.reset()
        # whole chunks of batches in one call each (tinynn.engine), when nobody must see the
        # model between two batches: no batch hooks but the progress bar's, which only prints
        # the logs and is handed each batch's logs after the chunk
        if mode == "train" and self._engine is not None and w is None and not begin \
                and all(type(getattr(hook, "__self__", None)) is ProgbarLogger for hook in end):

            def replay(i):
                logs = self._compiled.results()
                for hook in end:
                    hook(i, logs=logs)

            seen = self._engine.run_batches(x, y, batches, before_batch or _no_hook,
                                            after_batch or _no_hook, replay if end else None)
            return self._compiled.results() if seen else {}
        seen = 0
        for i, idx in enumerate(batches):
            if before_batch is not None:
                before_batch(i)
            if begin:
                logs = {}
                for hook in begin:
                    hook(i, logs=logs)
            step(x[idx], y[idx], None if w is None else w[idx])  # which updates the metrics
            seen += len(idx)
            if end:
                logs = self._compiled.results()
                for hook in end:
                    hook(i, logs=logs)
            if after_batch is not None and after_batch(i):
                break
        return self._compiled.results() if seen else {}

    def _test_loop(self, data: tuple, iterator: EpochIterator, cbs: CallbackList) -> dict:
        """Keras's evaluation pass over `data` = (x, y, sample weights or None), shared by
        `evaluate` and fit's validation: `on_test_begin`, the test batches (a callback may set
        `model.stop_evaluating`), `on_test_end` with the final logs, which are returned.

        It runs on an inference twin with its own metric objects (`CompileMetrics.fresh`), so
        an evaluation in another thread never mixes into a training epoch's running logs."""
        self.stop_evaluating = False
        cbs.call("on_test_begin")
        twin = self._inference_twin()
        twin._compiled = self._compiled.fresh()
        logs = twin._run_batches(data, iterator.epoch(), twin._test_step, cbs, "test",
                                 after_batch=lambda i: self.stop_evaluating)
        cbs.call("on_test_end", logs=logs)
        return logs

    def _test_step(self, X, y, sample_weight=None):
        Y = self._forward(X, training=False)
        values = self._loss_values(Y, y, sample_weight)
        self._update_metrics(y, Y, values, sample_weight)
        return values, Y

    def fit(self, x=None, y=None, batch_size: "int | None" = None, epochs: int = 1,
            verbose="auto", callbacks=None, validation_split: float = 0.0,
            validation_data=None, shuffle: bool = True, class_weight: "dict | None" = None,
            sample_weight=None, initial_epoch: int = 0, steps_per_epoch: "int | None" = None,
            validation_steps: "int | None" = None, validation_batch_size: "int | None" = None,
            validation_freq: "int | list[int]" = 1) -> History:
        """Train for `epochs` passes over (x, y) in mini-batches. The arguments are Keras's, in
        its order; how the data is walked through is `tinynn.data_adapter`'s.

        Args:
            x: inputs, shape (samples, ...).
            y: targets: integer labels (samples,) for sparse_categorical_crossentropy, else
                values shaped like the model's output ((samples,) for one output unit).
            batch_size: samples per gradient step. Defaults to 32, or to
                ceil(samples / steps_per_epoch) when that is given.
            epochs: index of the last epoch. Defaults to 1.
            verbose: 0 silent, 1 progress bar, 2 one line per epoch. Defaults to "auto" (1).
            callbacks: list of Callback objects. Defaults to none.
            validation_split: fraction of the data (and of sample_weight), taken from the end
                before any shuffling, used only for validation. Defaults to 0.
            validation_data: (x_val, y_val) or (x_val, y_val, val_sample_weight), used
                instead of validation_split.
            shuffle: shuffle the training samples each pass. Defaults to True.
            class_weight: {class: weight}; each training sample's loss is weighted by its
                class's weight (1 for classes not listed; not with sample_weight, as in Keras).
            sample_weight: one weight per sample, shape (samples,): the batch loss is
                sum(w * loss) / batch size. `compile`'s weighted_metrics see these weights.
            initial_epoch: epoch to start at (to resume). Defaults to 0.
            steps_per_epoch: batches per epoch; the next epoch continues the pass over the
                data, and an epoch that runs out of data ends early with Keras's warning.
                Defaults to one pass.
            validation_steps: batches per validation, from the start of the validation data
                each time. Defaults to all of it.
            validation_batch_size: Defaults to batch_size.
            validation_freq: validate every that many epochs, or at the epochs (from 1) in a
                list. Defaults to 1.

        Returns:
            The `History` callback; `history.history` maps log names to per-epoch lists.

        After the last epoch (when epochs > 0) the optimizer's `finalize_variable_values` runs,
        before the callbacks' `on_train_end`, as in Keras: with `use_ema=True` the weights
        become their moving average.

        A NaN or infinite batch loss or gradient stops training before that batch's update,
        and an update that would make a weight or the optimizer state non-finite is undone (a
        RuntimeWarning names the epoch and batch, and what the model holds). Ctrl-C waits for
        the current step to finish; then `on_train_end` runs and the KeyboardInterrupt is
        re-raised, `model.history` holding the completed epochs.
        """
        x, y = self._prepare(x, y, "fit")
        batch_size = data_adapter.optional_positive_int(batch_size, "batch_size")
        epochs = _non_negative_int(epochs, "epochs")
        initial_epoch = _non_negative_int(initial_epoch, "initial_epoch")
        steps_per_epoch = data_adapter.optional_positive_int(steps_per_epoch, "steps_per_epoch")
        validation_steps = data_adapter.optional_positive_int(validation_steps,
                                                              "validation_steps")
        validation_batch_size = data_adapter.optional_positive_int(validation_batch_size,
                                                                   "validation_batch_size")
        validation_freq = data_adapter.check_validation_freq(validation_freq)
        class_weight = data_adapter.check_class_weight(class_weight)
        _check_callbacks(callbacks)
        verbose = 1 if verbose == "auto" else verbose
        train, val = data_adapter.validation_arrays(
            x, y, data_adapter.as_sample_weight(sample_weight, x.shape[0]), validation_data,
            validation_split, self._as_targets)
        train = (*train[:2], data_adapter.training_weights(train[1], train[2], class_weight))

        iterator = EpochIterator(train[0].shape[0], batch_size, steps_per_epoch, shuffle)
        steps = iterator.steps_per_epoch
        self.history = History()
        extra = [ProgbarLogger(verbose)] if verbose else []
        cbs = CallbackList([*(callbacks or []), self.history, *extra], self,
                           {"epochs": epochs, "steps": steps, "verbose": verbose})
        self.stop_training, self._initial_epoch = False, None
        cbs.call("on_train_begin")
        # as Keras: a callback may move the start (BackupAndRestore, resuming after a crash)
        initial_epoch = self._initial_epoch or initial_epoch
        logs, epoch, where = {}, initial_epoch, {"batch": 0}
        try:
            self._engine = engine.plan(self, iterator.batch_size)  # None: layer by layer
            with safety.InterruptGuard() as guard:

                def before_batch(i):
                    where["batch"] = i

                def after_batch(i):
                    where["applied"] = (epoch, i)  # this batch's update is in the weights
                    guard.check()  # a Ctrl-C lands here, between two whole steps
                    return self.stop_training

                for epoch in range(initial_epoch, epochs):
                    cbs.call("on_epoch_begin", epoch)
                    if self._engine is not None and not self._engine.intact():
                        # a callback replaced some arrays
                        self._engine = engine.plan(self, iterator.batch_size)
                    logs = self._run_batches(train, iterator.epoch(), self._train_step, cbs,
                                             "train", before_batch, after_batch)
                    if val is not None and data_adapter.should_validate(epoch, validation_freq):
                        # on_test_* hooks fire here, before on_epoch_end
                        val_iterator = EpochIterator(val[0].shape[0],
                                                     validation_batch_size or batch_size,
                                                     validation_steps)
                        logs.update({f"val_{k}": v
                                     for k, v in self._test_loop(val, val_iterator, cbs).items()})
                    cbs.call("on_epoch_end", epoch, logs=logs)
                    guard.check()
                    if self.stop_training:
                        break
        except safety.NonFiniteStep as e:
            self.stop_training = True
            warnings.warn(safety.stop_message(
                e, epoch, epochs, where["batch"], steps, where.get("applied"), self.weights,
                self.optimizer.variables, len(self.history.epoch),
                getattr(self.optimizer, "use_ema", False)),
                RuntimeWarning, stacklevel=2)
        except KeyboardInterrupt:
            cbs.call("on_train_end", logs=logs)
            print(f"\\nTraining interrupted at epoch {epoch + 1}/{epochs}, batch "
                  f"{where['batch'] + 1}/{steps}. The model holds the weights after the last "
                  f"whole step; model.history has the {len(self.history.epoch)} completed "
                  "epoch(s).", file=sys.stderr)
            raise
        finally:
            self._engine = None
        if epochs > 0:  # as Keras: e.g. with use_ema, the weights become their moving average
            self.optimizer.finalize_variable_values(self.trainable_weights)
        cbs.call("on_train_end", logs=logs)  # the last epoch's logs, {} when none ran
        return self.history

    def evaluate(self, x=None, y=None, batch_size: "int | None" = None, verbose="auto",
                 sample_weight=None, steps: "int | None" = None, callbacks=None,
                 return_dict: bool = False):
        """Loss and metrics on (x, y), without dropout.

        Args:
            batch_size: Defaults to 32, or to ceil(samples / steps) when steps is given.
            sample_weight: one weight per sample, as in `fit`. Defaults to none.
            steps: evaluate this many batches from the start. Defaults to all of them.
            callbacks: list of Callback objects; their `on_test_*` hooks are called, as in
                Keras. Defaults to none.

        Returns:
            `loss` alone without metrics, else `[loss, metric...]` in compile's order (as Keras
            orders it: names repeated in compile appear again, then the remaining logs by
            name); a dict when return_dict.
        """
        x, y = self._prepare(x, y, "evaluate")
        iterator = EpochIterator(x.shape[0],
                                 data_adapter.optional_positive_int(batch_size, "batch_size"),
                                 data_adapter.optional_positive_int(steps, "steps"))
        data = (x, y, data_adapter.as_sample_weight(sample_weight, x.shape[0]))
        cbs = self._callback_list(callbacks, verbose, iterator.steps_per_epoch)
        logs = self._test_loop(data, iterator, cbs)
        if return_dict:
            return logs
        values = self._compiled.in_order(logs)
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size: "int | None" = None, verbose="auto",
                callbacks=None) -> np.ndarray:
        """The model's outputs for x, computed in batches, without dropout.

        `callbacks`: list of Callback objects; their `on_predict_*` hooks are called, as in
        Keras (`on_predict_batch_end` gets `{"outputs": the batch's outputs}`). Defaults to none.
        """
        x = self._inputs(x)
        self._ensure_built(x)
        batch_size = 32 if batch_size is None else _positive_int(batch_size, "batch_size")
        cbs = self._callback_list(callbacks, verbose, -(-x.shape[0] // batch_size))
        begin, end = cbs.listeners("on_predict_batch_begin"), cbs.listeners("on_predict_batch_end")
        self.stop_predicting = False
        cbs.call("on_predict_begin")
        outputs, twin = [], self._inference_twin()
        for i, start in enumerate(range(0, x.shape[0], batch_size)):
            if begin:
                logs = {}
                for hook in begin:
                    hook(i, logs=logs)
            outputs.append(twin._forward(x[start:start + batch_size], training=False))
            if end:
                logs = {"outputs": outputs[-1]}
                for hook in end:
                    hook(i, logs=logs)
            if self.stop_predicting:
                break
        cbs.call("on_predict_end")
        return np.concatenate(outputs)

    def _callback_list(self, callbacks, verbose, steps: int) -> CallbackList:
        """evaluate's and predict's callbacks, with a progress bar unless verbose is 0, and the
        params Keras gives them."""
        _check_callbacks(callbacks)
        verbose = 1 if verbose == "auto" else verbose
        extra = [ProgbarLogger(verbose)] if verbose else []
        return CallbackList([*(callbacks or []), *extra], self,
                            {"epochs": 1, "steps": steps, "verbose": verbose})

    def to_json(self) -> str:
        """The architecture and compile arguments (no weights) as Keras's JSON config, which
        `tinynn.models.model_from_json` and `keras.models.model_from_json` read."""
        return keras_format.to_json(self)

    def to_keras(self):
        """This model as a `keras.Sequential` with the same weights (see `tinynn.interop`)."""
        return interop.to_keras(self)

    def __call__(self, x, training: bool = False) -> np.ndarray:
        """One forward pass over all of x (no batching), as `model(x)` in Keras. Inference
        (training=False) runs on an inference twin (see `_inference_twin`). Called on an
        `Input` or a KerasTensor, it joins a functional model's chain instead, as a layer."""
        if isinstance(x, (KerasTensor, InputLayer)):
            return KerasTensor.of(self, x)
        x = self._inputs(x)
        self._ensure_built(x)
        if training:
            return self._forward(x, training=True)
        twin = self._inference_twin()
        Y = twin._forward(x, training=False)
        self._adopt_activity_losses(twin)  # model.losses: this call's penalties, as in Keras
        return Y


def _no_hook(i: int) -> bool:
    return False


def _check_callbacks(callbacks) -> None:
    if callbacks is not None and not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks must be a list of Callback objects, got {callbacks!r}.")


def _own_cross_entropy(loss) -> bool:
    """Whether `loss` is one of tinynn's cross-entropies with their own `call` and `gradient`
    (so that computing it from the logits instead changes nothing but the rounding)."""
    kind = type(loss)
    return any(issubclass(kind, base) and kind.call is base.call
               and kind.gradient is base.gradient
               for base in (losses.BinaryCrossentropy, losses.CategoricalCrossentropy,
                            losses.SparseCategoricalCrossentropy))


def model_from_json(json_string: str, custom_objects: "dict | None" = None) -> Sequential:
    """A model from `to_json`'s text (tinynn's or Keras's), with freshly initialized
    weights, compiled when the text holds compile arguments, as `keras.models.model_from_json`."""
    return keras_format.model_from_json(json_string, custom_objects)


def clone_model(model: Sequential) -> Sequential:
    """A new model with `model`'s layers (same classes, configs and names) and freshly
    initialized weights, compiled with a fresh copy of its optimizer, loss and metrics when
    `model` is compiled, as `keras.models.clone_model`. Copy the weights with
    `clone.set_weights(model.get_weights())`."""
    if not isinstance(model, Sequential):
        raise TypeError(f"clone_model expected a tinynn Sequential, got {model!r}.")
    clone = Sequential.from_config(model.get_config())
    if model.loss is not None:
        saving.compile_like(clone, model)
    return clone


def from_keras(keras_model) -> Sequential:
    """A tinynn Sequential with a Keras Sequential's layers and weights (see `tinynn.interop`)."""
    return interop.from_keras(keras_model)
