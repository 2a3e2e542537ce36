"""Keras's registry of serializable classes, and objects to and from `{"class_name", "config"}`.

As `keras.saving` does: a built-in class is found among the subclasses of `Layer`, `Optimizer`,
`Loss` or `Metric` defined in tinynn (discovered, never listed), a user's own class in the
registry (`@register_keras_serializable()`) or in the `custom_objects` given to a loader.
Deserializing only ever calls `from_config` (the constructor) of such a class: nothing named in
a file is imported or run. `tinynn.saving` re-exports everything here.
"""

from collections.abc import Iterator

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


def builtin_class(base: type, class_name: str) -> "type | None":
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
    return builtin_class(base, name.rsplit(">", 1)[-1]) if base is not object else None


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
