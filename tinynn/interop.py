"""Conversion between tinynn and Keras Sequential models, weights included.

`from_keras(keras_model)` rebuilds a Keras Sequential in tinynn; `to_keras(model)` does the
reverse (and compiles the Keras model like the tinynn one, optimizer state not included). This is
also the way out for users who outgrow one machine: export to Keras and use TensorFlow's own
distribution tools. Keras is imported only when `to_keras` is called, never at `import tinynn`.

Supported layers: Dense, Dropout, Flatten, ReLU (default arguments), Activation, Softmax (last
axis). Weights travel in Keras's order (kernel (n_in, units), then bias, per Dense).
"""

from tinynn import layers as tl
from tinynn import saving

SUPPORTED = "Dense, Dropout, Flatten, ReLU, Activation, Softmax"


def _activation_name(layer) -> str:
    """The name of a Keras activation function, e.g. keras.activations.relu -> "relu"."""
    fn = layer.activation
    name = getattr(fn, "__name__", repr(fn))
    try:
        tl.Activation(name)
    except ValueError:
        raise ValueError(
            f"from_keras: layer '{layer.name}' uses activation {name!r}, which tinynn does not "
            "have (known: linear, relu, sigmoid, softmax, tanh)."
        ) from None
    return name


def _unsupported(layer, direction: str) -> TypeError:
    return TypeError(
        f"{direction}: layer '{layer.name}' of type {type(layer).__name__} has no equivalent in "
        f"the other framework. Supported layers: {SUPPORTED}."
    )


def _layer_from_keras(layer) -> tl.Layer:
    kind = type(layer).__name__
    if kind == "Dense":
        return tl.Dense(layer.units, activation=_activation_name(layer), use_bias=layer.use_bias)
    if kind == "Dropout":
        return tl.Dropout(layer.rate)
    if kind == "Flatten":
        return tl.Flatten()
    if kind == "Activation":
        return tl.Activation(_activation_name(layer))
    if kind == "ReLU":
        if layer.max_value is not None or layer.negative_slope or layer.threshold:
            raise ValueError(
                f"from_keras: ReLU layer '{layer.name}' has max_value={layer.max_value}, "
                f"negative_slope={layer.negative_slope}, threshold={layer.threshold}; tinynn's "
                "ReLU is max(x, 0) only."
            )
        return tl.ReLU()
    if kind == "Softmax":
        if layer.axis not in (-1, [-1]):
            raise ValueError(f"from_keras: Softmax layer '{layer.name}' uses axis={layer.axis}; "
                             "tinynn supports only the last axis.")
        return tl.Softmax()
    raise _unsupported(layer, "from_keras")


def from_keras(keras_model):
    """A tinynn Sequential with the architecture and weights of a Keras Sequential.

    Weights are converted to tinynn's floatx (`tinynn.config.set_floatx`).

    Args:
        keras_model: a built `keras.Sequential` of supported layers.

    Returns:
        The tinynn model (not compiled).
    """
    if type(keras_model).__name__ != "Sequential" or not hasattr(keras_model, "layers"):
        raise TypeError(f"from_keras expected a keras.Sequential model, got {type(keras_model)}.")
    if not keras_model.built:
        raise ValueError("from_keras needs a built Keras model: give it an Input first.")
    converted = [_layer_from_keras(layer) for layer in keras_model.layers]
    # tinynn's Sequential, found as a file's would be (this module sits below models.py)
    Sequential = saving.get_registered_object("Sequential", base=tl.Layer)  # noqa: N806
    model = Sequential([tl.Input(tuple(keras_model.input_shape[1:])), *converted],
                       name=keras_model.name)
    model.set_weights(keras_model.get_weights())
    return model


def _layer_to_keras(keras, layer, dtype: str):
    """The Keras layer built from the tinynn layer's config (same class name, same arguments)."""
    kind = type(layer).__name__
    if kind not in SUPPORTED.split(", "):
        raise _unsupported(layer, "to_keras")
    return getattr(keras.layers, kind).from_config({**layer.get_config(), "dtype": dtype})


def _compile_like(keras, keras_model, model) -> None:
    """Compile the Keras model with the same loss, metrics and optimizer, each built from its
    tinynn config (the names and arguments are Keras's)."""
    opt, loss = model.optimizer, model.loss

    def metric(m):  # a name as written; an object rebuilt from its config; a function by name
        if isinstance(m, str):
            return m
        if hasattr(m, "get_config") and hasattr(keras.metrics, type(m).__name__):
            return getattr(keras.metrics, type(m).__name__).from_config(m.get_config())
        return getattr(m, "name", None) or m.__name__

    keras_model.compile(
        optimizer=getattr(keras.optimizers, type(opt).__name__).from_config(opt.get_config()),
        loss=getattr(keras.losses, type(loss).__name__).from_config(loss.get_config()),
        metrics=[metric(m) for m in model._metric_specs],
    )


def to_keras(model):
    """A `keras.Sequential` with the architecture and weights of a built tinynn model.

    The Keras layers use the dtype of the tinynn weights (float32 or float64). A compiled
    tinynn model gives a compiled Keras model (same loss, metrics and optimizer settings; the
    optimizer's moments are not carried over).
    """
    import keras  # lazily: importing TensorFlow takes seconds and is optional

    if not model.built:
        raise ValueError(f"to_keras: model '{model.name}' is not built yet: give it an Input.")
    weights = model.get_weights()
    dtype = str(weights[0].dtype) if weights else "float32"
    keras_model = keras.Sequential(
        [keras.Input(model.input_shape[1:], dtype=dtype),
         *(_layer_to_keras(keras, layer, dtype) for layer in model.layers)],
        name=model.name,
    )
    keras_model.set_weights(weights)
    if model.loss is not None:
        _compile_like(keras, keras_model, model)
    return keras_model
