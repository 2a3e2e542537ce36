"""Keras 3's JSON schema for a Sequential: tinynn's configs to Keras's `config.json`, and back.

A `.keras` file's `config.json` is what Keras's `serialize_keras_object(model)` writes (and
`model.to_json()`): every object as {"module", "class_name", "config", "registered_name"}, plus
"build_config" for layers built from an input shape and "compile_config" for the model (written
and read by `tinynn.keras_compile`).
tinynn's classes already use Keras's class and argument names (`get_config`), so translating is
mostly adding what Keras adds:

- a dtype policy in every layer: {"class_name": "DTypePolicy", "config": {"name": "float32"}};
- initializers as objects: "glorot_uniform" <-> {"class_name": "GlorotUniform", ...};
- the arguments tinynn's twin does not have, at the value that switches them off
  (`kernel_regularizer: None`, `noise_shape: None`, `clipnorm: None`, ...). They are written as
  Keras writes them; on reading, a file that sets one to anything else is refused, naming it,
  rather than loaded into a model that would compute something else.

Reading never imports a module named in the file. A class is tinynn's own twin of a Keras
built-in (`module` "keras..." and no `registered_name`), or a user's class found by its
`registered_name` among those registered with `register_keras_serializable` or passed in
`custom_objects`. Only their `from_config` (the constructor) ever runs.
"""

import inspect

from tinynn import serialization
from tinynn.layers import Layer, snake_case

# Keras arguments that tinynn's twin does not have, with the value at which they do nothing.
_LAYER_EXTRAS = {
    "Dense": {"quantization_config": None},
    "Dropout": {"noise_shape": None},
    "Flatten": {"data_format": "channels_last"},
    "ReLU": {"max_value": None, "negative_slope": 0.0, "threshold": 0.0},
    "BatchNormalization": {"renorm": False, "renorm_clipping": None, "renorm_momentum": 0.99,
                           "synchronized": False},
}
_ANY_LAYER_EXTRAS = {"activity_regularizer": None, "autocast": True}  # Keras's Layer itself
_ANY_VALUE = {"ema_momentum", "ema_overwrite_frequency",  # read by Keras only when use_ema=True
              "renorm_momentum"}  # and only when renorm=True
_INPUT_EXTRAS = {"sparse": False, "ragged": False, "optional": False}
# Keras's stateless layers are built in their constructor, so Keras writes no "build_config"
_BUILT_AT_INIT = {"Activation", "Dropout", "ReLU", "Reshape", "Softmax"}
_VARIANCE_SCALING = {"seed": None, "input_axes": None, "output_axes": None}
_INITIALIZER_CONFIGS = {"GlorotUniform": _VARIANCE_SCALING, "HeUniform": _VARIANCE_SCALING,
                        "Zeros": {}, "Ones": {}}


def _spec(module, class_name: str, config, registered_name=None) -> dict:
    return {"module": module, "class_name": class_name, "config": config,
            "registered_name": registered_name}


def _is_builtin(cls: type) -> bool:
    return cls.__module__.startswith("tinynn.")


def _is_neutral(value, neutral) -> bool:
    """Whether a Keras argument is at the value that switches it off (None is None, False is
    False, 0 == 0.0; True is not 1)."""
    if neutral is None or isinstance(neutral, bool):
        return value is neutral
    if isinstance(neutral, str):
        return value == neutral
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == neutral


def _object_spec(obj, module: str, config: dict) -> dict:
    """A built-in class as Keras's class of the same name; a user's class by registered name."""
    cls = type(obj)
    if _is_builtin(cls):
        return _spec(module, cls.__name__, config)
    return _spec(None, cls.__name__, config, serialization.get_registered_name(cls))


def _policy(dtype: str) -> dict:
    return _spec("keras", "DTypePolicy", {"name": dtype})


# ----- tinynn -> Keras -------------------------------------------------------------------------

def _initializer_to_keras(name):
    if isinstance(name, dict):  # an initializer with arguments: Keras's spec of the same class
        return _spec("keras.initializers", name["class_name"], dict(name.get("config") or {}))
    class_name = "".join(part.capitalize() for part in str(name).split("_"))
    if class_name not in _INITIALIZER_CONFIGS:
        return name  # Keras also accepts the bare name
    return _spec("keras.initializers", class_name, dict(_INITIALIZER_CONFIGS[class_name]))


def layer_to_keras(layer, dtype: str, input_shape: tuple) -> dict:
    """Keras's spec of one layer of a model computing in `dtype`, built for `input_shape`."""
    if hasattr(layer, "layers"):
        raise ValueError(f"layer '{layer.name}' is a nested model, which tinynn cannot write "
                         "in Keras's format.")
    kind, config = type(layer).__name__, dict(layer.get_config())
    keras_config = {"name": config.pop("name", layer.name),
                    "trainable": config.pop("trainable", layer.trainable), "dtype": _policy(dtype)}
    keras_config.update({key: _initializer_to_keras(value) if key.endswith("_initializer")
                         else value for key, value in config.items()})
    if _is_builtin(type(layer)):
        for key, neutral in _LAYER_EXTRAS.get(kind, {}).items():
            keras_config.setdefault(key, neutral)  # what tinynn has is written as it is
    spec = _object_spec(layer, "keras.layers", keras_config)
    if kind not in _BUILT_AT_INIT:
        spec["build_config"] = {"input_shape": [None, *input_shape[1:]]}
    return spec


def model_to_keras(model, dtype: str) -> dict:
    """The `config.json` of a built Sequential whose weights are `dtype`, its "compile_config"
    left empty (`tinynn.keras_compile.compile_to_keras` gives it)."""
    shape = (None, *model.input_shape[1:])
    specs = [_spec("keras.layers", "InputLayer", {
        "batch_shape": list(shape), "dtype": dtype, "sparse": False, "ragged": False,
        "name": "input_layer", "optional": False})]
    for layer in model.layers:
        specs.append(layer_to_keras(layer, dtype, shape))
        shape = layer.compute_output_shape(shape)
    spec = _spec("keras", "Sequential", {
        "name": model.name, "trainable": model.trainable, "dtype": _policy(dtype),
        "layers": specs, "build_input_shape": [None, *model.input_shape[1:]]})
    spec["build_config"] = {"input_shape": [None, *model.input_shape[1:]]}
    spec["compile_config"] = {}  # filled by tinynn.keras_compile.compile_to_keras
    return spec


# ----- Keras -> tinynn -------------------------------------------------------------------------

def _resolve(spec, base: type, custom_objects, what: str) -> type:
    """The class a spec names, found without importing anything (see the module docstring)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str) \
            or not isinstance(spec.get("config", {}), dict):
        raise ValueError(f"{what} is not a serialized Keras object: {str(spec)[:200]}.")
    class_name, module = spec["class_name"], spec.get("module")
    registered = spec.get("registered_name")
    if registered or not (isinstance(module, str) and module.split(".")[0] == "keras"):
        name = registered if isinstance(registered, str) else class_name
        cls = serialization.get_registered_object(name, custom_objects)
        if isinstance(cls, type) and issubclass(cls, base):
            return cls
        raise ValueError(
            f"{what} is of class {class_name!r} (module {module!r}, registered as "
            f"{registered!r}), which is neither a Keras built-in nor registered. tinynn never "
            "imports a module named in a file: if it is your own class, decorate it with "
            f"@tinynn.saving.register_keras_serializable() or pass custom_objects={{{name!r}: "
            f"{class_name}}}.")
    cls = serialization.builtin_class(base, class_name)
    if cls is None:
        known = ", ".join(c.__name__ for c in serialization.builtin_classes(base)
                          if c.__name__ not in ("InputLayer", "Sequential"))
        raise ValueError(f"{what} is a Keras {class_name}, which tinynn does not have. tinynn "
                         f"has: {known}.")
    return cls


def _accepted(cls: type) -> set[str]:
    """The keyword arguments `cls(...)` accepts: its `__init__`'s, and its bases' as long as
    each passes `**kwargs` on."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" not in klass.__dict__:
            continue
        params = list(inspect.signature(klass.__dict__["__init__"]).parameters.values())[1:]
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return names


def _initializer_from_keras(value, what: str):
    if not isinstance(value, dict):
        return value
    config = value.get("config") or {}
    if not isinstance(value.get("class_name"), str) or not isinstance(config, dict):
        raise ValueError(f"{what} is {str(value)[:200]}, not a serialized initializer.")
    if all(v is None for k, v in config.items() if k != "seed"):
        return snake_case(value["class_name"])  # its seed only mattered before the weights existed
    return {"class_name": value["class_name"], "config": config}


def _tinynn_config(cls: type, config: dict, extras: dict, what: str) -> dict:
    """Keras's config for `cls`, less the arguments tinynn does not have (each at its neutral
    value, else an error naming it)."""
    accepted, out = _accepted(cls), {}
    for key, value in config.items():
        if key in accepted:
            out[key] = (_initializer_from_keras(value, f"{what} {key}")
                        if key.endswith("_initializer") else value)
        elif key in extras:
            if key not in _ANY_VALUE and not _is_neutral(value, extras[key]):
                raise ValueError(f"{what} sets {key}={value!r}; tinynn's {cls.__name__} has no "
                                 f"{key!r} (only {key}={extras[key]!r} can be read).")
        else:
            raise ValueError(f"{what} has the argument {key}={value!r}, which tinynn's "
                             f"{cls.__name__} does not have.")
    return out


def _construct(cls: type, config: dict, what: str):
    try:
        return cls.from_config(config)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what} has an invalid config {config}: {e}") from e


def dtype_of(policy, what: str) -> "str | None":
    """"float32"/"float64" from a Keras dtype (policy object or name); None if unset."""
    if policy is None:
        return None
    name = policy
    if isinstance(policy, dict) and policy.get("class_name") in ("DTypePolicy",
                                                                "FloatDTypePolicy"):
        name = (policy.get("config") or {}).get("name")
    if name not in ("float32", "float64"):
        raise ValueError(f"{what} computes in {str(name)[:100]!r}; tinynn computes in float32 or "
                         "float64 only (no mixed precision).")
    return name


def _input_shape(spec: dict, what: str) -> tuple:
    config = spec.get("config") or {}
    for key, neutral in _INPUT_EXTRAS.items():
        if config.get(key, neutral) != neutral:
            raise ValueError(f"{what} sets {key}={config[key]!r}; tinynn reads dense inputs only.")
    shape = config.get("batch_shape", config.get("batch_input_shape"))
    return _shape(shape, what)


def _shape(batch_shape, what: str) -> tuple:
    if not isinstance(batch_shape, list) or len(batch_shape) < 2 or not all(
            isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in batch_shape[1:]):
        raise ValueError(f"{what} has an invalid input shape {str(batch_shape)[:100]}.")
    return tuple(batch_shape[1:])


def model_dtype(spec) -> str:
    """The one float type of a Keras Sequential's config (tinynn has one per model)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
        raise ValueError("it does not describe a model (an object with a \"config\").")
    config = spec["config"]
    found = {dtype_of(config.get("dtype"), "the model")}
    for i, layer in enumerate(config.get("layers") or []):
        dtype = (layer.get("config") or {}).get("dtype") if isinstance(layer, dict) else None
        found.add(dtype_of(dtype, f"layer {i}"))
    found.discard(None)
    if len(found) > 1:
        raise ValueError(f"its layers compute in different float types {sorted(found)}; a tinynn "
                         "model has one.")
    return found.pop() if found else "float32"


def functional_as_sequential(spec: dict) -> dict:
    """The Sequential config a Keras functional model's config describes when its graph is a
    chain: an InputLayer first, each other layer called once on the previous layer's output
    (`inbound_nodes`: one node, one `__keras_tensor__` argument whose `keras_history` names the
    previous layer), the model's input the first layer and its output the last. Anything else
    (branches, merges, shared layers, several inputs or outputs) is a ValueError naming the
    layer: tinynn's models are chains."""
    config = spec.get("config")
    specs = config.get("layers") if isinstance(config, dict) else None
    if not isinstance(specs, list) or not specs or not all(isinstance(x, dict) for x in specs):
        raise ValueError("the functional model has no list of layers.")
    names = [str((x.get("config") or {}).get("name", x.get("name"))) for x in specs]
    if specs[0].get("class_name") != "InputLayer":
        raise ValueError("the functional model does not start with an InputLayer.")

    def one_ref(value, what):
        ref = value[0] if isinstance(value, list) and len(value) == 1 and isinstance(
            value[0], list) else value
        if not (isinstance(ref, list) and len(ref) == 3 and ref[1:] == [0, 0]):
            raise ValueError(f"the functional model's {what} {str(value)[:80]} is not one "
                             "tensor: tinynn's models have one input and one output.")
        return ref[0]

    if one_ref(config.get("input_layers"), "input") != names[0]:
        raise ValueError("the functional model's input is not its first layer.")
    if one_ref(config.get("output_layers"), "output") != names[-1]:
        raise ValueError("the functional model's output is not its last layer: tinynn reads "
                         "chains of layers only.")
    chain = [dict(specs[0])]
    for i in range(1, len(specs)):
        nodes = specs[i].get("inbound_nodes")
        node = nodes[0] if isinstance(nodes, list) and len(nodes) == 1 else None
        args = node.get("args") if isinstance(node, dict) else None
        tensor = args[0] if isinstance(args, list) and len(args) == 1 else None
        history = (tensor.get("config") or {}).get("keras_history") if isinstance(
            tensor, dict) and tensor.get("class_name") == "__keras_tensor__" else None
        kwargs = node.get("kwargs") if isinstance(node, dict) else None
        if history != [names[i - 1], 0, 0] or not isinstance(kwargs, dict) or set(kwargs) - {
                "training"}:
            raise ValueError(f"layer {i} ('{names[i]}') of the functional model is not called "
                             f"once on the output of layer {i - 1} ('{names[i - 1]}'): tinynn "
                             "reads functional models that are chains of layers only.")
        chain.append({k: v for k, v in specs[i].items() if k != "inbound_nodes"})
    return {**spec, "class_name": "Sequential",
            "config": {"name": config.get("name", "functional"),
                       "trainable": config.get("trainable", True), "layers": chain}}


def model_from_keras(spec, custom_objects=None):
    """An unbuilt tinynn Sequential and its input shape, from Keras's `config.json` (call it in
    `config.floatx_scope(model_dtype(spec))`); a functional model that is a chain of layers
    is read as the Sequential it is (`functional_as_sequential`)."""
    if spec.get("class_name") == "Functional":
        spec = functional_as_sequential(spec)
    if spec.get("class_name") != "Sequential":
        raise ValueError(f"it holds a Keras {str(spec.get('class_name'))[:50]!r} model; tinynn "
                         "reads Sequential models, and functional models that are chains.")
    config = spec["config"]
    if config.get("trainable", True) is not True:
        raise ValueError("the model is saved with trainable=False, which tinynn's Sequential "
                         "does not have (freeze its layers instead).")
    specs = config.get("layers")
    if not isinstance(specs, list):
        raise ValueError("the model has no list of layers.")
    shape, built = None, []
    for i, layer_spec in enumerate(specs):
        what = f"layer {i}"
        if isinstance(layer_spec, dict) and layer_spec.get("class_name") == "InputLayer":
            if i != 0:
                raise ValueError(f"{what} is an InputLayer; it can only come first.")
            shape = _input_shape(layer_spec, what)
            continue
        cls = _resolve(layer_spec, Layer, custom_objects, what)
        keras_config = dict(layer_spec.get("config") or {})
        keras_config.pop("dtype", None)  # checked by model_dtype
        what = f"layer {i} ('{keras_config.get('name')}', {cls.__name__})"
        extras = {**_ANY_LAYER_EXTRAS,
                  **(_LAYER_EXTRAS.get(cls.__name__, {}) if _is_builtin(cls) else {})}
        built.append(_construct(cls, _tinynn_config(cls, keras_config, extras, what), what))
    if shape is None:
        shape = _shape(config.get("build_input_shape")
                       or (spec.get("build_config") or {}).get("input_shape"), "the model")
    model_cls = serialization.builtin_class(Layer, "Sequential")
    return model_cls(built, name=str(config.get("name", "sequential"))), shape
