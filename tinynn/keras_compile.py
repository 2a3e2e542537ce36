"""Keras 3's "compile_config" of a `.keras` file: the optimizer, the loss and the metrics of a
compiled tinynn model in Keras's JSON schema, and back (`tinynn.keras_config` does the model).

Keras writes what `compile` was given: an object as {"module", "class_name", "config",
"registered_name"} (`keras.losses.BinaryCrossentropy`, `keras.metrics.Precision`, ...), a name
("accuracy", "mae") as the string, a function as {"module": "builtins", "class_name":
"function", "config": its name}. tinynn's losses and metrics have Keras's class and argument
names, so their configs travel as they are, plus the arguments Keras has and tinynn does not, at
the value that switches them off (`ignore_class: None`); on reading, a file that sets one to
anything else is refused, naming it.

Reading never imports a module named in the file (see `tinynn.keras_config`): a function is
found by its name in `custom_objects`, else among `tinynn.metrics`'s own functions.
"""

import inspect

import numpy as np

from tinynn import losses, metrics, optimizers
from tinynn.keras_config import (
    _construct,
    _is_builtin,
    _object_spec,
    _resolve,
    _tinynn_config,
)

# Keras arguments that tinynn's twin does not have, with the value at which they do nothing.
_OPTIMIZER_EXTRAS = {
    "weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
    "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
    "loss_scale_factor": None, "gradient_accumulation_steps": None}
_OPTIMIZER_CLASS_EXTRAS = {"Adam": {"amsgrad": False}}
_LOSS_EXTRAS = {"reduction": "sum_over_batch_size", "dtype": None}
_LOSS_CLASS_EXTRAS = {"SparseCategoricalCrossentropy": {"ignore_class": None}}
_METRIC_CLASS_EXTRAS = {"SparseCategoricalCrossentropy": {"ignore_class": None}}


# ----- tinynn -> Keras -------------------------------------------------------------------------

def _optimizer_to_keras(opt, dtype: str) -> dict:
    config = dict(opt.get_config())
    # Keras keeps the learning rate in a variable of the float type, and writes its value
    head = {"name": config.pop("name"),
            "learning_rate": float(np.dtype(dtype).type(config.pop("learning_rate")))}
    if not _is_builtin(type(opt)):
        return _object_spec(opt, "keras.optimizers", {**head, **config})
    return _object_spec(opt, "keras.optimizers", {
        **head, **_OPTIMIZER_EXTRAS, **config,
        **_OPTIMIZER_CLASS_EXTRAS.get(type(opt).__name__, {})})


def _loss_to_keras(loss) -> dict:
    config = dict(loss.get_config())
    if not _is_builtin(type(loss)):
        return _object_spec(loss, "keras.losses", config)
    head = {"name": config.pop("name"),
            "reduction": config.pop("reduction", _LOSS_EXTRAS["reduction"])}
    return _object_spec(loss, "keras.losses", {
        **head, **config, **_LOSS_CLASS_EXTRAS.get(type(loss).__name__, {})})


def _function_spec(name: str) -> dict:
    return {"module": "builtins", "class_name": "function", "config": name,
            "registered_name": "function"}


def _metric_to_keras(metric):
    """A compile metric as Keras writes it: a name as the string, an object by its config, a
    function by its name."""
    if isinstance(metric, str):
        return metric
    if isinstance(metric, metrics.Metric):
        config = dict(metric.get_config())
        if _is_builtin(type(metric)):
            config.update(_METRIC_CLASS_EXTRAS.get(type(metric).__name__, {}))
        return _object_spec(metric, "keras.metrics", config)
    return _function_spec(metric.__name__)


def compile_to_keras(model, dtype: str) -> dict:
    """The "compile_config" of a model whose weights are `dtype` ({} when not compiled)."""
    if model.loss is None:
        return {}
    return {"optimizer": _optimizer_to_keras(model.optimizer, dtype),
            "loss": _loss_to_keras(model.loss), "loss_weights": None,
            "metrics": [_metric_to_keras(m) for m in model._metric_specs] or None,
            "weighted_metrics": [_metric_to_keras(m) for m in model._weighted_metric_specs]
            or None, "run_eagerly": False,
            "steps_per_execution": 1, "jit_compile": False}


# ----- Keras -> tinynn -------------------------------------------------------------------------

def _optimizer_from_keras(spec, custom_objects):
    if isinstance(spec, str):
        return optimizers.get(spec)
    cls = _resolve(spec, optimizers.Optimizer, custom_objects, "the optimizer")
    config = dict(spec.get("config") or {})
    what = f"the optimizer ({cls.__name__})"
    if isinstance(config.get("learning_rate"), dict):
        raise ValueError(f"{what} has the learning-rate schedule "
                         f"{config['learning_rate'].get('class_name')!r}; tinynn's learning "
                         "rates are numbers.")
    extras = ({**_OPTIMIZER_EXTRAS, **_OPTIMIZER_CLASS_EXTRAS.get(cls.__name__, {})}
              if _is_builtin(cls) else {})
    return _construct(cls, _tinynn_config(cls, config, extras, what), what)


def _loss_from_keras(spec, custom_objects):
    if isinstance(spec, str):
        return losses.get(spec)
    cls = _resolve(spec, losses.Loss, custom_objects, "the loss")
    what = f"the loss ({cls.__name__})"
    extras = ({**_LOSS_EXTRAS, **_LOSS_CLASS_EXTRAS.get(cls.__name__, {})}
              if _is_builtin(cls) else {})
    return _construct(cls, _tinynn_config(cls, dict(spec.get("config") or {}), extras, what),
                      what)


def _metric_function(name, custom_objects, what: str):
    """A metric function saved by name: from custom_objects, else tinynn.metrics's own."""
    fn = (custom_objects or {}).get(name) if isinstance(name, str) else None
    if fn is None and isinstance(name, str) and name in metrics.__all__:
        fn = getattr(metrics, name)
        fn = fn if inspect.isfunction(fn) else None
    if not callable(fn) or inspect.isclass(fn):
        raise ValueError(f"{what} is the function {str(name)[:100]!r}, which is not one of "
                         "tinynn.metrics's functions: if it is your own, pass it to load_model "
                         f"as custom_objects={{{str(name)[:100]!r}: {str(name)[:100]}}}.")
    return fn


def _metric_from_keras(spec, custom_objects, i: int):
    what = f"metric {i}"
    if isinstance(spec, str):
        return spec  # compile checks the name
    if isinstance(spec, dict) and spec.get("class_name") == "function":
        return _metric_function(spec.get("config"), custom_objects, what)
    cls = _resolve(spec, metrics.Metric, custom_objects, what)
    what = f"{what} ({cls.__name__})"
    extras = (_METRIC_CLASS_EXTRAS.get(cls.__name__, {}) if _is_builtin(cls) else {})
    return _construct(cls, _tinynn_config(cls, dict(spec.get("config") or {}), extras, what),
                      what)


def compile_from_keras(model, compile_config, custom_objects=None) -> None:
    """`model.compile(...)` as Keras's "compile_config" says."""
    if not isinstance(compile_config, dict):
        raise ValueError(f"its compile_config is not an object: {str(compile_config)[:100]}.")
    if compile_config.get("loss_weights") is not None:
        raise ValueError("it is compiled with loss_weights, which tinynn does not have.")
    compiled_metrics, weighted = ([], [])
    for key, compiled in (("metrics", compiled_metrics), ("weighted_metrics", weighted)):
        specs = compile_config.get(key) or []
        if not isinstance(specs, list):
            raise ValueError(f"its {key} {str(specs)[:100]} are not a list (of names, metric "
                             "objects or functions).")
        compiled += [_metric_from_keras(m, custom_objects, i) for i, m in enumerate(specs)]
    optimizer = _optimizer_from_keras(compile_config.get("optimizer"), custom_objects)
    loss = _loss_from_keras(compile_config.get("loss"), custom_objects)
    try:
        model.compile(optimizer=optimizer, loss=loss, metrics=compiled_metrics,
                      weighted_metrics=weighted)
    except (TypeError, ValueError) as e:
        raise ValueError(f"invalid compile settings: {e}") from e
