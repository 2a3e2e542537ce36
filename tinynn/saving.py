"""Saving and loading models, in tinynn's own format and in Keras's, chosen by the file's suffix.

- `name.keras`: Keras 3's archive (`tinynn.keras_format`), which `keras.models.load_model` opens;
  `tinynn.models.load_model` opens the ones Keras writes (for the layers tinynn has).
- `name.weights.h5`: Keras's weights file, by `model.save_weights` / `model.load_weights`.
- any other name (`name.npz`): tinynn's own archive (below), which also keeps the random
  generators' states, so that training resumed from it continues exactly.
- `name.h5` / `name.hdf5` (Keras's legacy HDF5 model format): refused with a clear error.

Everything here is derived from what the classes declare: a layer's `get_config` and its
weights (`add_weight`), an optimizer's `get_config` and slots, a loss's `get_config`. There is
no list of classes to keep in step: classes are found as `tinynn.serialization` finds them
(tinynn's own `Layer`, `Optimizer`, `Loss` or `Metric` subclasses, or registered with
`@register_keras_serializable()`, or `custom_objects=`).

Loading runs no code from the file: it calls only the `from_config` (constructors) of classes
that are tinynn's own, registered, or passed in `custom_objects`. `tinynn.io` reads and verifies
the bytes.
"""

import json
import os

import numpy as np

from tinynn import config, io, keras_format, losses, metrics, npz_state, optimizers, utils
from tinynn.archive import open_regular
from tinynn.layers import Layer, checking_weights
from tinynn.serialization import (  # noqa: F401  (re-exported: tinynn.saving is the public name)
    builtin_class,
    builtin_classes,
    deserialize_keras_object,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
    serialize_keras_object,
)

_LEGACY_H5 = (".h5", ".hdf5")


# ----- optimizers: a learning-rate schedule is a nested object ---------------------------------

def _serialize_optimizer(opt) -> dict:
    """The optimizer's spec; a schedule learning_rate nested as its own spec (Keras's form)."""
    spec = serialize_keras_object(opt)
    schedule = getattr(opt, "_learning_rate", None)
    if isinstance(schedule, optimizers.schedules.LearningRateSchedule):
        spec["config"]["learning_rate"] = {"module": spec["config"]["learning_rate"].get(
            "module"), **serialize_keras_object(schedule)}
    return spec


def _deserialize_optimizer(spec: dict, custom_objects: "dict | None" = None):
    """The inverse: the nested schedule is found like any class (tinynn's own subclasses of
    LearningRateSchedule, the registry, custom_objects), then the optimizer."""
    cfg = spec.get("config") if isinstance(spec, dict) else None
    if isinstance(cfg, dict) and isinstance(cfg.get("learning_rate"), dict):
        schedule = deserialize_keras_object(cfg["learning_rate"],
                                            optimizers.schedules.LearningRateSchedule,
                                            custom_objects, "the learning-rate schedule")
        spec = {**spec, "config": {**cfg, "learning_rate": schedule}}
    return deserialize_keras_object(spec, optimizers.Optimizer, custom_objects, "the optimizer")


# ----- saving ----------------------------------------------------------------------------------

def save_model(model, filepath: "str | os.PathLike", overwrite: bool = True,
               include_optimizer: bool = True) -> None:
    """Save architecture, weights and (optionally) the training state to one file, atomically.

    The suffix chooses the format, as in Keras: "model.keras" writes Keras 3's archive (which
    `keras.models.load_model` opens); ".h5"/".hdf5", Keras's legacy format, is refused; any
    other name (e.g. "model.npz") writes tinynn's own archive, used exactly as given, which
    also keeps the random generators so that resumed training continues exactly.

    Args:
        model: a built `Sequential`.
        filepath: the file to write.
        overwrite: replace an existing file. Defaults to True.
        include_optimizer: also save the optimizer's state (iterations, learning rate, slots)
            and, in tinynn's format, the random generators (tinynn's global one, which shuffles,
            and each Dropout's). Defaults to True.
    """
    if not model.built:
        raise ValueError(f"Cannot save model '{model.name}': it is not built yet (call it on "
                         "data or start it with an Input).")
    name = str(os.fspath(filepath))
    if name.endswith(_LEGACY_H5):
        raise ValueError(
            "tinynn does not write Keras's legacy HDF5 model format ('.h5'). Use a `.keras` "
            "extension for the Keras format (Keras 3 recommends it), `.npz` for tinynn's own "
            "(exact training resume), or model.save_weights('name.weights.h5') for the weights "
            f"alone. Received: filepath={name}")
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{filepath} exists and overwrite=False.")
    if name.endswith(".keras"):
        keras_format.save_model(model, filepath, include_optimizer, overwrite)
        return
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
    # a tinynn.Model is saved as the Sequential it is (see tinynn.functional)
    class_name = getattr(model, "saved_class_name", None) or type(model).__name__
    header = {"model": {"class_name": class_name, "name": model.name,
                        "input_shape": [int(d) for d in model.input_shape[1:]],
                        "layers": [serialize_keras_object(layer) for layer in model.layers]},
              "dtype": weights[0].dtype.name if weights else config.floatx(),
              "compile": None, "training_state": None}
    opt = model.optimizer
    if model.loss is not None:
        header["compile"] = {"optimizer": _serialize_optimizer(opt),
                             "loss": serialize_keras_object(model.loss),
                             "metrics": [_serialize_metric(m) for m in model._metric_specs],
                             "weighted_metrics": [_serialize_metric(m)
                                                  for m in model._weighted_metric_specs]}
        if include_optimizer:
            slots = {slot: [add("optimizer", "optimizer", a, slot=slot) for a in state]
                     for slot, state in opt.slots().items()}
            header["training_state"] = {
                "iterations": int(opt._iterations), "slots": slots,
                "rng": {"global": utils.rng().bit_generator.state,
                        "layers": {name: g.bit_generator.state
                                   for name, g in npz_state.generators(model).items()}},
            }
    try:
        json.dumps(header, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"Cannot save model '{model.name}': a get_config() returned something "
                         f"JSON cannot hold ({e}). Configs must be numbers, strings, lists, "
                         "dicts, booleans or None.") from e
    io.write_archive(filepath, header, arrays, entries, overwrite)


# ----- loading ---------------------------------------------------------------------------------

def _build(reader, arch: dict, dtype: str, custom_objects, check):
    built = []
    for i, spec in enumerate(arch["layers"]):
        try:  # checked here too: a nested model (or a layer of one's own) may build at once
            with config.floatx_scope(dtype), checking_weights(check):
                built.append(deserialize_keras_object(spec, Layer, custom_objects, f"layer {i}"))
        except io.ModelFileError:
            raise
        except ValueError as e:
            raise reader.error(str(e)) from e
    shape = arch["input_shape"]
    if not shape or not all(type(d) is int and d > 0 for d in shape):
        raise reader.error(f"invalid input_shape {shape!r}.")
    model_cls = builtin_class(Layer, str(arch.get("class_name", "Sequential")))
    if model_cls is None or not hasattr(model_cls, "compile"):
        raise reader.error(f"unknown model class {arch.get('class_name')!r}.")
    try:
        with config.floatx_scope(dtype), checking_weights(check):
            model = model_cls(built, name=str(arch["name"]))
            model.build((None, *shape))
    except io.ModelFileError:
        raise
    except ValueError as e:
        raise reader.error(f"the architecture does not build: {e}") from e
    return model


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
        fn = (custom_objects or {}).get(name) or get_custom_objects().get(name)
        if fn is None:
            raise ValueError(f"metric {i} is the function {name!r}: pass it to load_model as "
                             f"custom_objects={{{name!r}: {name}}}.")
        return fn
    return deserialize_keras_object(spec, metrics.Metric, custom_objects, f"metric {i}")


def compile_like(model, source) -> None:
    """Compile `model` with fresh copies of `source`'s optimizer (its config, not its state),
    loss and metrics, through the same configs a saved file holds (`clone_model` uses it)."""
    specs = source._metric_specs
    functions = {m.__name__: m for m in specs
                 if callable(m) and not isinstance(m, (str, metrics.Metric))}
    model.compile(
        optimizer=_deserialize_optimizer(_serialize_optimizer(source.optimizer), None),
        loss=deserialize_keras_object(serialize_keras_object(source.loss), losses.Loss, None,
                                      "the loss"),
        metrics=[_deserialize_metric(_serialize_metric(m), functions, i)
                 for i, m in enumerate(specs)])


def _compile(reader, model, cfg: dict, custom_objects) -> None:
    try:
        optimizer = _deserialize_optimizer(cfg["optimizer"], custom_objects)
        loss = deserialize_keras_object(cfg["loss"], losses.Loss, custom_objects, "the loss")
        model.compile(optimizer=optimizer, loss=loss,
                      metrics=[_deserialize_metric(m, custom_objects, i)
                               for i, m in enumerate(cfg["metrics"])],
                      weighted_metrics=[_deserialize_metric(m, custom_objects, i)  # not in
                                        for i, m in enumerate(cfg.get("weighted_metrics")
                                                              or [])])  # older files
    except io.ModelFileError:
        raise
    except ValueError as e:
        raise reader.error(f"invalid compile settings: {e}") from e


def load_model(filepath: "str | os.PathLike", custom_objects: "dict | None" = None,
               compile: bool = True, safe_mode: bool = True, restore_random_state: bool = True):
    """Load a model saved by `model.save` (tinynn's or Keras's `.keras`); never runs code from
    the file, and checks every array before using it.

    A `.keras` archive (from Keras or tinynn) is read as Keras reads it; anything else as
    tinynn's own archive (a `.keras` name holding one, written by tinynn 0.1, included).

    Args:
        filepath: the file written by `model.save` / `save_model`, or by Keras's `model.save`.
        custom_objects: {"ClassName": class} for your own layers, losses or optimizers that are
            not registered with `register_keras_serializable`. Defaults to none.
        compile: compile the model with the saved optimizer, loss and metrics, and restore the
            optimizer state when the file has one. Defaults to True.
        safe_mode: accepted for Keras compatibility; tinynn never runs code from a file, so
            loading is always safe. Defaults to True.
        restore_random_state: when a tinynn archive holds a training state, also set tinynn's
            global random generator (which `fit` shuffles with) back to its state at saving
            time, so that `fit(..., initial_epoch=k)` continues exactly like the uninterrupted
            run. The Dropout layers' own generators are always restored with the state. (A
            `.keras` file holds no random state.) Defaults to True.

    Returns:
        A `Sequential` whose predictions are bit-identical to the saved model's.
    """
    name = str(os.fspath(filepath))
    if name.endswith(_LEGACY_H5):
        hint = (" It holds weights only: build the model and call model.load_weights(...)."
                if name.endswith(".weights.h5") else "")
        raise ValueError(f"Cannot load model file {name}: tinynn does not read Keras's legacy "
                         f"HDF5 model format ('.h5'); save the model as '.keras' instead.{hint}")
    # the format is told from the file opened once, regular and without blocking: a FIFO
    # swapped in after a check by path would block a reader that opened the path again
    with open_regular(name) as f:
        names = keras_format.zip_names(f) or []
    if keras_format.CONFIG in names or (name.endswith(".keras") and "header.npy" not in names):
        return keras_format.load_model(filepath, custom_objects, compile)
    with io.open_archive(filepath) as reader:
        header = reader.header()
        reader.verify()
        with npz_state.malformed_header(reader):
            stored = npz_state.stored_weights(reader, header)
            model = _build(reader, header["model"], header["dtype"], custom_objects,
                           npz_state.weight_check(reader, stored))
            npz_state.set_weights(reader, model, stored)
            if compile and header["compile"] is not None:
                _compile(reader, model, header["compile"], custom_objects)
                if header["training_state"] is not None:
                    npz_state.training_state(reader, model, header["training_state"],
                                    restore_random_state)()
    return model


def load_training_state(model, filepath: "str | os.PathLike") -> None:
    """Load a tinynn archive written by `model.save(...npz)` into `model` itself: its weights,
    the optimizer's learning rate (when a number), step count and slots, and the random
    generators (the global one `fit` shuffles with, and each Dropout's). Then training the model
    continues exactly as the saved run would have. Layers are matched by position, as Keras's
    `load_weights` does, so a rebuilt model with other automatic names fits. Used by
    `tinynn.callbacks.BackupAndRestore`.

    Args:
        model: a built, compiled model with the file's architecture.
        filepath: an archive written by `model.save` with its training state.
    """
    io.check_regular(os.fspath(filepath))
    with io.open_archive(filepath) as reader:
        header = reader.header()
        with npz_state.malformed_header(reader):
            saved_layers = [spec["config"]["name"] for spec in header["model"]["layers"]]
            if len(saved_layers) != len(model.layers):
                raise reader.error(f"it holds {len(saved_layers)} layers, the model "
                                   f"{len(model.layers)}.")
            state = header["training_state"]
            if state is None or model.optimizer is None:
                raise reader.error("it holds no training state (saved before compile, or with "
                                   "include_optimizer=False), or the model is not compiled.")
            names = dict(zip(saved_layers, (layer.name for layer in model.layers),
                             strict=True))
            stored = {names.get(layer, layer): weights
                      for layer, weights in npz_state.stored_weights(reader, header).items()}
            rng = {**state["rng"], "layers": {names.get(k, k): v
                                              for k, v in state["rng"]["layers"].items()}}
            restore = npz_state.training_state(reader, model, {**state, "rng": rng}, True)
            learning_rate = header["compile"]["optimizer"]["config"]["learning_rate"]
            if not isinstance(learning_rate, dict) and (
                    type(learning_rate) not in (int, float) or not learning_rate >= 0):
                raise reader.error(f"invalid learning_rate {learning_rate!r}.")
            reader.verify()  # all of it, before the model is changed
            npz_state.set_weights(reader, model, stored)
            if not isinstance(learning_rate, dict) and not isinstance(
                    model.optimizer._learning_rate, optimizers.schedules.LearningRateSchedule):
                model.optimizer.learning_rate = learning_rate
            restore()


# ----- weights only (Keras's format) -----------------------------------------------------------

def save_weights(model, filepath: "str | os.PathLike", overwrite: bool = True) -> None:
    """`model.save_weights`: the weights (and optimizer variables) in Keras's `.weights.h5`
    layout, which Keras's `model.load_weights` reads. Written atomically.

    Args:
        model: a built model.
        filepath: must end in ".weights.h5", as Keras requires.
        overwrite: replace an existing file. Defaults to True.
    """
    name = str(os.fspath(filepath))
    if not name.endswith(".weights.h5"):
        raise ValueError(f"The filename must end in `.weights.h5`. Received: filepath={name}")
    if not model.built:
        raise ValueError("You are saving a model that has not yet been built. Try building the "
                         "model first by calling it on some data or by using `build()`.")
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{filepath} exists and overwrite=False.")
    keras_format.save_weights(model, filepath, overwrite)


def load_weights(model, filepath: "str | os.PathLike", skip_mismatch: bool = False) -> None:
    """`model.load_weights`, as in Keras 3: from a `.weights.h5` file or a `.keras` archive
    (Keras's or tinynn's). Layers are matched by their position among layers of the same class,
    not by name; layers without weights can be added or removed. The optimizer's variables are
    loaded too when the optimizer is built and the file has as many (Keras warns and skips
    them otherwise, e.g. into a compiled model that has not trained yet).

    Args:
        model: a built model with the file's architecture.
        filepath: a ".weights.h5" or ".keras" file.
        skip_mismatch: skip (with a warning) layers whose weights do not match instead of
            raising. Defaults to False.
    """
    name = str(os.fspath(filepath))
    if not model.built:
        raise ValueError("You are loading weights into a model that has not yet been built. Try "
                         "building the model first by calling it on some data or by using "
                         "`build()`.")
    if name.endswith((".weights.h5", ".keras")):
        keras_format.load_weights(model, filepath, skip_mismatch)
        return
    raise ValueError(f"File format not supported: filepath={name}. tinynn's load_weights reads "
                     "`.keras` files and `.weights.h5` files (Keras's legacy '.h5' format is "
                     "not supported); for a tinynn '.npz' model file use "
                     "tinynn.models.load_model.")
