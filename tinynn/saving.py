"""Saving and loading models, and Keras's registry of serializable classes.

Everything here is derived from what the classes declare: a layer's `get_config` and its
weights (`add_weight`), an optimizer's `get_config` and slots, a loss's `get_config`. There is
no list of classes to keep in step: a built-in class is found among the subclasses of `Layer`,
`Optimizer`, `Loss` or `Metric` defined in tinynn, and a user's own class is found in the registry
(`@register_keras_serializable()`) or in `custom_objects=` given to `load_model`, as in Keras.

Loading runs no code from the file: it calls only the `from_config` (constructors) of classes
that are tinynn's own, registered, or passed in `custom_objects`. `tinynn.io` reads and verifies
the bytes.
"""

import contextlib
import json
import os
from collections.abc import Iterator

import numpy as np

from tinynn import config, io, losses, metrics, optimizers, utils
from tinynn.layers import Layer

_CUSTOM_OBJECTS: dict[str, type] = {}
_CUSTOM_NAMES: dict[type, str] = {}


# ----- the registry ----------------------------------------------------------------------------

def register_keras_serializable(package: str = "Custom", name: "str | None" = None):
    """Class decorator: make a user's layer (loss, optimizer) loadable by name, as in Keras.

        @tinynn.saving.register_keras_serializable(package="my_project")
        class Scale(tinynn.layers.Layer): ...

    Args:
        package: a namespace for the name. Defaults to "Custom".
        name: Defaults to the class name. The registered name is "package>name".
    """
    if not isinstance(package, str) or ">" in package:
        raise ValueError(f"register_keras_serializable expected a package name without '>', "
                         f"got package={package!r}.")

    def decorator(cls: type) -> type:
        if not isinstance(cls, type) or not hasattr(cls, "get_config"):
            raise TypeError(f"register_keras_serializable expected a class with get_config(), "
                            f"got {cls!r}.")
        registered = f"{package}>{name or cls.__name__}"
        previous = _CUSTOM_OBJECTS.get(registered)
        if previous is not None and previous.__qualname__ != cls.__qualname__:
            raise ValueError(f"{registered} has already been registered to {previous}.")
        _CUSTOM_OBJECTS[registered] = cls  # the same class defined again (a re-run cell) wins
        _CUSTOM_NAMES[cls] = registered
        return cls

    return decorator


def get_registered_name(obj) -> str:
    """"package>name" for a registered class (or an instance of one), else its class name."""
    cls = obj if isinstance(obj, type) else type(obj)
    return _CUSTOM_NAMES.get(cls, cls.__name__)


def get_custom_objects() -> dict[str, type]:
    """The registry itself: {"package>name": class}."""
    return _CUSTOM_OBJECTS


def _subclasses(base: type) -> Iterator[type]:
    for cls in base.__subclasses__():
        yield cls
        yield from _subclasses(cls)


def builtin_classes(base: type) -> list[type]:
    """tinynn's own public subclasses of `base` (discovered, not listed), by name."""
    found = {cls for cls in _subclasses(base)
             if cls.__module__.startswith("tinynn.") and not cls.__name__.startswith("_")}
    return sorted(found, key=lambda cls: cls.__name__)


def _builtin(base: type, class_name: str) -> "type | None":
    """tinynn's own subclass of `base` with this name."""
    return next((cls for cls in builtin_classes(base) if cls.__name__ == class_name), None)


def get_registered_object(name: str, custom_objects: "dict | None" = None,
                          base: type = object) -> "type | None":
    """The class for a serialized name: from `custom_objects`, then the registry, then tinynn's
    own subclasses of `base`. None if there is none."""
    for table in (custom_objects or {}, _CUSTOM_OBJECTS):
        cls = table.get(name) or table.get(name.rsplit(">", 1)[-1])
        if isinstance(cls, type) and issubclass(cls, base):
            return cls
    return _builtin(base, name.rsplit(">", 1)[-1]) if base is not object else None


def serialize_keras_object(obj) -> dict:
    """{"class_name", "config"} (plus "registered_name" for a registered class), as in Keras."""
    spec = {"class_name": type(obj).__name__, "config": obj.get_config()}
    if type(obj) in _CUSTOM_NAMES:
        spec["registered_name"] = _CUSTOM_NAMES[type(obj)]
    return spec


def deserialize_keras_object(spec: dict, base: type, custom_objects: "dict | None" = None,
                             what: str = "object"):
    """A new object from `serialize_keras_object`'s output. Only classes that are tinynn's own
    subclasses of `base`, registered, or in `custom_objects` are ever constructed."""
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str):
        raise ValueError(f"{what} is not a serialized object: {spec!r}.")
    name = spec.get("registered_name") or spec["class_name"]
    cls = get_registered_object(name, custom_objects, base)
    if cls is None:
        raise ValueError(
            f"{what} has unknown type {spec['class_name']!r}. If it is your own class, decorate it "
            f"with @tinynn.saving.register_keras_serializable() or pass "
            f"custom_objects={{{spec['class_name']!r}: {spec['class_name']}}}."
        )
    cfg = spec.get("config", {})
    if not isinstance(cfg, dict):
        raise ValueError(f"{what} ({cls.__name__}) has no config.")
    try:
        return cls.from_config(cfg)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what} ({cls.__name__}) has an invalid config {cfg}: {e}") from e


# ----- saving ----------------------------------------------------------------------------------

def _generators(model) -> dict:
    """Each layer's own random generator (Dropout's), by layer name."""
    return {layer.name: layer._rng for layer in model.layers
            if isinstance(getattr(layer, "_rng", None), np.random.Generator)}


def save_model(model, filepath: "str | os.PathLike", overwrite: bool = True,
               include_optimizer: bool = True) -> None:
    """Save architecture, weights and (optionally) the training state to one file, atomically.

    Args:
        model: a built `Sequential`.
        filepath: the file to write, used exactly as given (e.g. "model.npz").
        overwrite: replace an existing file. Defaults to True.
        include_optimizer: also save the compile settings' state needed to resume training
            exactly: the optimizer's iterations and slots, and the random generators (tinynn's
            global one, which shuffles, and each Dropout's). Defaults to True.
    """
    if not model.built:
        raise ValueError(f"Cannot save model '{model.name}': it is not built yet (call it on "
                         "data or start it with an Input).")
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{filepath} exists and overwrite=False.")
    arrays, entries = {}, []

    def add(prefix: str, role: str, a: np.ndarray, **where) -> str:
        key = f"{prefix}_{sum(e['role'] == role for e in entries)}"
        arrays[key] = a
        entries.append({"key": key, "role": role, **where})
        return key

    for layer in model.layers:
        for name, w in zip(layer.weight_names, layer.weights, strict=True):
            add("weight", "weight", w, layer=layer.name, name=name)
    weights = model.weights
    header = {"model": {"class_name": type(model).__name__, "name": model.name,
                        "input_shape": [int(d) for d in model.input_shape[1:]],
                        "layers": [serialize_keras_object(layer) for layer in model.layers]},
              "dtype": weights[0].dtype.name if weights else config.floatx(),
              "compile": None, "training_state": None}
    opt = model.optimizer
    if model.loss is not None:
        header["compile"] = {"optimizer": serialize_keras_object(opt),
                             "loss": serialize_keras_object(model.loss),
                             "metrics": [_serialize_metric(m) for m in model._metric_specs]}
        if include_optimizer:
            slots = {slot: [add("optimizer", "optimizer", a, slot=slot) for a in state]
                     for slot, state in opt.slots().items()}
            header["training_state"] = {
                "iterations": int(opt.iterations), "slots": slots,
                "rng": {"global": utils.rng().bit_generator.state,
                        "layers": {name: g.bit_generator.state
                                   for name, g in _generators(model).items()}},
            }
    try:
        json.dumps(header, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"Cannot save model '{model.name}': a get_config() returned something "
                         f"JSON cannot hold ({e}). Configs must be numbers, strings, lists, "
                         "dicts, booleans or None.") from e
    io.write_archive(filepath, header, arrays, entries)


# ----- loading ---------------------------------------------------------------------------------

@contextlib.contextmanager
def _floatx(dtype: str) -> Iterator[None]:
    previous = config.floatx()
    config.set_floatx(dtype)
    try:
        yield
    finally:
        config.set_floatx(previous)


def _build(reader, arch: dict, dtype: str, custom_objects):
    built = []
    for i, spec in enumerate(arch["layers"]):
        try:
            with _floatx(dtype):
                built.append(deserialize_keras_object(spec, Layer, custom_objects, f"layer {i}"))
        except ValueError as e:
            raise reader.error(str(e)) from e
    shape = arch["input_shape"]
    if not shape or not all(isinstance(d, int) and d > 0 for d in shape):
        raise reader.error(f"invalid input_shape {shape!r}.")
    model_cls = _builtin(Layer, str(arch.get("class_name", "Sequential")))
    if model_cls is None or not hasattr(model_cls, "compile"):
        raise reader.error(f"unknown model class {arch.get('class_name')!r}.")
    model = model_cls(built, name=str(arch["name"]))
    try:
        with _floatx(dtype):
            model.build((None, *shape))
    except ValueError as e:
        raise reader.error(f"the architecture does not build: {e}") from e
    return model


def _set_weights(reader, model, header: dict, arrays: dict) -> None:
    stored: dict[str, dict[str, np.ndarray]] = {}
    for e in header["arrays"]:
        if e["role"] == "weight":
            stored.setdefault(e["layer"], {})[e["name"]] = arrays[e["key"]]
    for layer in model.layers:
        got = stored.pop(layer.name, {})
        if list(got) != layer.weight_names:
            raise reader.error(f"the weights do not fit the architecture: layer '{layer.name}' "
                               f"has weights {layer.weight_names}, the file {list(got)}.")
        try:
            layer.set_weights(list(got.values()))
        except ValueError as e:
            raise reader.error(f"the weights do not fit the architecture: {e}") from e
    if stored:
        raise reader.error(f"it holds weights of layers the model does not have: {list(stored)}.")


def _serialize_metric(metric):
    """A compile metric as saved: a name stays a name, a metric object is serialized like a
    layer, a function is kept by its name (found again in custom_objects when loading)."""
    if isinstance(metric, str):
        return metric
    if isinstance(metric, metrics.Metric):
        return serialize_keras_object(metric)
    return {"function": metric.__name__}


def _deserialize_metric(spec, custom_objects, i: int):
    if isinstance(spec, str):
        return spec
    if isinstance(spec, dict) and "function" in spec:
        name = str(spec["function"])
        fn = (custom_objects or {}).get(name) or _CUSTOM_OBJECTS.get(name)
        if fn is None:
            raise ValueError(f"metric {i} is the function {name!r}: pass it to load_model as "
                             f"custom_objects={{{name!r}: {name}}}.")
        return fn
    return deserialize_keras_object(spec, metrics.Metric, custom_objects, f"metric {i}")


def _compile(reader, model, cfg: dict, custom_objects) -> None:
    try:
        optimizer = deserialize_keras_object(cfg["optimizer"], optimizers.Optimizer,
                                             custom_objects, "the optimizer")
        loss = deserialize_keras_object(cfg["loss"], losses.Loss, custom_objects, "the loss")
        model.compile(optimizer=optimizer, loss=loss,
                      metrics=[_deserialize_metric(m, custom_objects, i)
                               for i, m in enumerate(cfg["metrics"])])
    except ValueError as e:
        raise reader.error(f"invalid compile settings: {e}") from e


def _restore_training_state(reader, model, state: dict, arrays: dict,
                            restore_random_state: bool) -> None:
    opt = model.optimizer
    opt.iterations = int(state["iterations"])
    variables = model.trainable_weights
    if state["slots"]:
        opt.build(variables)
    own_slots = opt.slots()
    for slot, keys in state["slots"].items():
        if slot not in own_slots:
            raise reader.error(f"unknown optimizer state {slot!r} for {type(opt).__name__}.")
        own = own_slots[slot]
        saved = [arrays[k] for k in keys]
        if len(saved) == 1 and len(own) > 1 and saved[0].ndim == 1 \
                and saved[0].size == sum(o.size for o in own):
            # a file from tinynn 0.1, whose optimizer kept one flat array for all weights
            saved = np.split(saved[0], np.cumsum([o.size for o in own])[:-1])
        if len(saved) != len(own) or any(s.size != o.size for s, o in zip(saved, own,
                                                                          strict=True)):
            raise reader.error(f"optimizer state {slot!r} does not match the weights.")
        for s, o in zip(saved, own, strict=True):
            o[...] = s.reshape(o.shape)
    generators = [(g, state["rng"]["layers"].get(name), f"layer '{name}'")
                  for name, g in _generators(model).items()]
    if restore_random_state:
        generators.append((utils.rng(), state["rng"]["global"], "the global generator"))
    for rng, saved, what in generators:
        if saved is None:
            raise reader.error(f"no random state saved for {what}.")
        try:
            rng.bit_generator.state = saved
        except (TypeError, ValueError, KeyError) as e:
            raise reader.error(f"invalid random state for {what}: {e}") from e


def load_model(filepath: "str | os.PathLike", custom_objects: "dict | None" = None,
               compile: bool = True, safe_mode: bool = True, restore_random_state: bool = True):
    """Load a model saved by `model.save`, verifying every array; never runs code from the file.

    Args:
        filepath: the file written by `model.save` / `save_model`.
        custom_objects: {"ClassName": class} for your own layers, losses or optimizers that are
            not registered with `register_keras_serializable`. Defaults to none.
        compile: compile the model with the saved optimizer, loss and metrics, and restore the
            optimizer state when the file has one. Defaults to True.
        safe_mode: accepted for Keras compatibility; tinynn files never hold code, so loading
            is always safe. Defaults to True.
        restore_random_state: when the file holds a training state, also set tinynn's global
            random generator (which `fit` shuffles with) back to its state at saving time, so
            that `fit(..., initial_epoch=k)` continues exactly like the uninterrupted run. The
            Dropout layers' own generators are always restored with the state. Defaults to True.

    Returns:
        A `Sequential` whose predictions are bit-identical to the saved model's.
    """
    header, arrays, reader = io.read_archive(filepath)
    try:
        model = _build(reader, header["model"], header["dtype"], custom_objects)
        _set_weights(reader, model, header, arrays)
        if compile and header["compile"] is not None:
            _compile(reader, model, header["compile"], custom_objects)
            if header["training_state"] is not None:
                _restore_training_state(reader, model, header["training_state"], arrays,
                                        restore_random_state)
    except (KeyError, TypeError, AttributeError) as e:
        raise reader.error(f"its header is malformed ({type(e).__name__}: {e}).") from e
    return model
