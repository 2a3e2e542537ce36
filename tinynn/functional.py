"""`Model`: Keras's two other ways to make a model, for models that are chains of layers.

The functional API names the tensors between the layers,

    inputs = tinynn.Input((784,))
    x = tinynn.layers.Dense(64, activation="relu")(inputs)
    outputs = tinynn.layers.Dense(10)(x)
    model = tinynn.Model(inputs=inputs, outputs=outputs)

and subclassing writes the forward pass as a method,

    class MLP(tinynn.Model):
        def __init__(self):
            super().__init__()
            self.hidden = tinynn.layers.Dense(64, activation="relu")
            self.out = tinynn.layers.Dense(10)

        def call(self, inputs, training=False):
            return self.out(self.hidden(inputs))

Both describe the same thing as `Sequential([Input((784,)), Dense(64, ...), Dense(10)])` when
each layer feeds the next, and that is what a `Model` is here: a Sequential whose layers come
from the chain of `outputs` (see `layers.KerasTensor`), or from running `call` once on an Input
of the first data's shape (with training=True and with training=False: the two chains must be
the same). Branches, merges and arithmetic between layers have no backward pass in tinynn and
are refused with an error saying so. A Model saves and loads as the Sequential it is.
"""

import inspect

from tinynn.layers import InputLayer, KerasTensor, _unique_name, snake_case
from tinynn.models import Sequential


class Model(Sequential):
    """`keras.Model`: `Model(inputs=Input(...), outputs=tensor)` (the functional API) or a
    subclass defining `call(inputs)` (see the module docstring). Everything else, from
    `compile` and `fit` to `save`, is Sequential's.

    Args:
        inputs: the `Input` the chain starts from (or a list holding it).
        outputs: the KerasTensor it ends in (or a list holding it).
        name: Defaults to "functional" (numbered) for the functional API, to the snake_case
            class name for a subclass, as in Keras.
    """

    saved_class_name = "Sequential"  # what model files record: it loads as a Sequential

    def __init__(self, inputs=None, outputs=None, name: "str | None" = None, **kwargs):
        for key in kwargs:
            if key != "trainable":
                raise TypeError(f"Model got an unexpected keyword argument {key!r}.")
        if inputs is None and outputs is None:  # a subclass: layers come from tracing call()
            if type(self).call is Model.call:
                raise TypeError("Model() needs inputs= and outputs= (the functional API), or a "
                                "subclass that defines call(inputs).")
            self._traced = False
            super().__init__(name=name or _unique_name(snake_case(type(self).__name__)))
            return
        inputs, outputs = _single(inputs, "inputs"), _single(outputs, "outputs")
        if not isinstance(inputs, InputLayer):
            raise TypeError(f"Model inputs must be tinynn.Input(...), got {inputs!r}.")
        if not isinstance(outputs, KerasTensor):
            raise TypeError("Model outputs must be the result of layers called on the Input "
                            f"(a KerasTensor), got {outputs!r}.")
        if outputs.chain[0] is not inputs:
            raise ValueError(f"Model outputs {outputs!r} do not come from these inputs "
                             f"('{inputs.name}'): its chain starts at '{outputs.chain[0].name}'.")
        self._traced = True  # before the layers are added: they need no tracing
        super().__init__(list(outputs.chain), name=name or _unique_name("functional"))

    def call(self, inputs, training: bool = False):
        """The forward pass of a subclass, written with its layers (see the module docstring)."""
        raise NotImplementedError

    def build(self, input_shape: tuple) -> None:
        """Build for inputs shaped `input_shape` ((None, features)); a subclass traces its
        `call` first, as `model.build(input_shape)` does in Keras."""
        if not self._traced:
            self._trace(tuple(input_shape))
        super().build(input_shape)

    def _ensure_built(self, x) -> None:
        if not self._traced:
            self._trace((None, *x.shape[1:]))
        super()._ensure_built(x)

    def _trace(self, input_shape: tuple) -> None:
        """Run `call` on an Input of this shape and adopt the chain of layers it applies."""
        chains = []
        takes_training = "training" in inspect.signature(self.call).parameters
        for training in (False, True):
            inputs = InputLayer(input_shape[1:])
            out = self.call(inputs, training=training) if takes_training else self.call(inputs)
            out = _single(out, f"{type(self).__name__}.call's result")
            if not isinstance(out, KerasTensor) or out.chain[0] is not inputs:
                raise TypeError(f"{type(self).__name__}.call must return the result of its "
                                f"layers applied to the inputs, got {out!r}.")
            chains.append(out.chain[1:])
            if not takes_training:
                break
        if len(chains) == 2 and [id(c) for c in chains[0]] != [id(c) for c in chains[1]]:
            raise ValueError(f"{type(self).__name__}.call applies different layers with "
                             "training=True and training=False; tinynn runs one chain of "
                             "layers in both (Dropout already does nothing at inference).")
        self._traced = True
        self.input_shape = (None, *input_shape[1:])
        for layer in chains[0]:
            self.add(layer)


def _single(value, what: str):
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise ValueError(f"{what}: tinynn models have one input and one output, got "
                             f"{len(value)}.")
        return value[0]
    if isinstance(value, dict):
        raise ValueError(f"{what}: tinynn models have one input and one output, not a dict.")
    return value
