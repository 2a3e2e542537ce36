"""Conversion between tinynn and Keras Sequential models, weights included.

`from_keras(keras_model)` rebuilds a Keras Sequential in tinynn; `to_keras(model)` does the
reverse (and compiles the Keras model like the tinynn one, optimizer state not included). This is
also the way out for users who outgrow one machine: export to Keras and use TensorFlow's own
distribution tools. Keras is imported only when `to_keras` is called, never at `import tinynn`.

Supported layers: Dense, Dropout, Flatten, Activation, Softmax (last axis), ReLU, LeakyReLU,
ELU, PReLU, GaussianNoise, GaussianDropout, Normalization (any axis), BatchNormalization and
LayerNormalization (last axis, no constraints, no renorm), with their Keras arguments (configs
map by name; initializers and the regularizers L1, L2, L1L2 travel as their Keras names or
configs). Weights travel in Keras's order (kernel (n_in, units), then bias, per Dense; gamma,
beta, moving_mean, moving_variance per BatchNormalization; mean, variance, count per
Normalization).
"""

from tinynn import activations, initializers, regularizers, saving
from tinynn import layers as tl

# The constructor arguments read from a Keras layer's config, by class name; the same names
# are tinynn's arguments. Dropout-like layers keep their own random streams (no seed copied).
_NORMALIZATION = ("epsilon", "center", "scale", "beta_regularizer", "gamma_regularizer",
                  "beta_constraint", "gamma_constraint")
_ARGUMENTS = {
    "Dense": ("units", "activation", "use_bias", "kernel_initializer", "bias_initializer",
              "kernel_regularizer", "bias_regularizer", "kernel_constraint", "bias_constraint"),
    "Dropout": ("rate",),
    "Flatten": (),
    "Activation": ("activation",),
    "Softmax": ("axis",),
    "ReLU": ("max_value", "negative_slope", "threshold"),
    "LeakyReLU": ("negative_slope",),
    "ELU": ("alpha",),
    "PReLU": ("alpha_initializer", "alpha_regularizer", "alpha_constraint", "shared_axes"),
    "GaussianNoise": ("stddev",),
    "GaussianDropout": ("rate",),
    "BatchNormalization": ("momentum", *_NORMALIZATION),
    "LayerNormalization": ("rms_scaling", *_NORMALIZATION),
    "Normalization": ("axis", "mean", "variance", "invert"),
}
# Keras arguments tinynn does not have: refused unless at their "off" value.
_ABSENT = ("renorm", "synchronized")
SUPPORTED = ", ".join(_ARGUMENTS)


def _activation_name(layer, config: dict) -> str:
    """The tinynn name of a Keras layer's activation (Keras saves it by name, e.g. "silu")."""
    name = config["activation"]
    try:
        return activations.get(name if isinstance(name, str) else repr(name))
    except ValueError:
        raise ValueError(
            f"from_keras: layer '{layer.name}' uses activation {name!r}, which tinynn does not "
            f"have (known: {', '.join(sorted(activations._FORWARD_BACKWARD))})."
        ) from None


def _unsupported(layer, direction: str) -> TypeError:
    return TypeError(
        f"{direction}: layer '{layer.name}' of type {type(layer).__name__} has no equivalent in "
        f"the other framework. Supported layers: {SUPPORTED}."
    )


def _regularizer(layer, attribute: str):
    """The tinynn twin of a Keras layer's regularizer (None, L1, L2 or L1L2), by class name."""
    reg = getattr(layer, attribute, None)
    if reg is None:
        return None
    kind = type(reg).__name__
    if kind not in ("L1", "L2", "L1L2"):
        raise ValueError(f"from_keras: layer '{layer.name}' has {attribute}={reg!r}; tinynn has "
                         "the regularizers L1, L2 and L1L2.")
    return regularizers.get({"class_name": kind, "config": reg.get_config()})


def _layer_from_keras(layer) -> tl.Layer:
    converted = _converted_layer(layer)
    converted.activity_regularizer = _regularizer(layer, "activity_regularizer")
    converted.trainable = layer.trainable  # a frozen BatchNormalization runs in inference mode
    return converted


def _converted_layer(layer) -> tl.Layer:
    kind = type(layer).__name__
    if kind not in _ARGUMENTS:
        raise _unsupported(layer, "from_keras")
    config = layer.get_config()
    extra = [name for name in _ABSENT if config.get(name) not in (None, False)]
    axis = config.get("axis", -1)
    last = len(layer.input.shape) - 1
    if kind in ("BatchNormalization", "LayerNormalization") and axis not in (-1, [-1], last,
                                                                              [last]):
        extra.append(f"axis={axis} (tinynn normalizes along the last axis only)")
    if extra:
        raise ValueError(f"from_keras: {kind} layer '{layer.name}' uses {', '.join(extra)}, "
                         "which tinynn does not have.")
    kwargs = {name: config[name] for name in _ARGUMENTS[kind]}
    for name in ("kernel_regularizer", "bias_regularizer", "beta_regularizer",
                 "gamma_regularizer"):
        if name in kwargs:
            kwargs[name] = _regularizer(layer, name)
    if "activation" in kwargs:
        kwargs["activation"] = _activation_name(layer, config)
    for name in ("kernel_initializer", "bias_initializer", "alpha_initializer"):
        if name in kwargs:
            kwargs[name] = initializers.get(kwargs[name])
    if kind == "Softmax" and kwargs["axis"] in ([-1], (-1,)):
        kwargs["axis"] = -1
    cls = saving.get_registered_object(kind, base=tl.Layer)
    try:
        return cls(**kwargs)
    except (ValueError, NotImplementedError) as e:
        raise ValueError(f"from_keras: layer '{layer.name}' ({kind}) cannot be rebuilt in "
                         f"tinynn: {e}") from None


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
        weighted_metrics=[metric(m) for m in model._weighted_metric_specs] or None,
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
    for layer in keras_model.layers:  # Keras's Normalization reads set_weights' values only then
        if hasattr(layer, "finalize_state"):
            layer.finalize_state()
    if model.loss is not None:
        _compile_like(keras, keras_model, model)
    return keras_model
