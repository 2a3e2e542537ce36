"""Optimizers with Keras 3's update formulas, defaults and common arguments. The optimizer owns
the update.

    tinynn.optimizers.Adam(learning_rate=5e-4, clipnorm=1.0)
    tinynn.optimizers.AdamW(learning_rate=schedules.CosineDecay(1e-3, decay_steps=10_000))

`base.py` holds the `Optimizer` class (Keras's common arguments, the order of one step);
the rules are grouped by family: `sgd.py` (SGD, Lion), `adam.py` (Adam, AdamW, Nadam, Adamax),
`adaptive.py` (RMSprop, Adagrad, Adadelta); `schedules.py` has the learning-rate schedules.
"""

from tinynn.optimizers import schedules
from tinynn.optimizers.adam import Adam, Adamax, AdamW, Nadam
from tinynn.optimizers.adaptive import Adadelta, Adagrad, RMSprop
from tinynn.optimizers.base import Optimizer
from tinynn.optimizers.sgd import SGD, Lion

__all__ = ["SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "Lion", "Nadam", "Optimizer",
           "RMSprop", "get", "schedules"]


def _all_optimizers() -> dict[str, type]:
    """Every tinynn Optimizer subclass, by lower-case class name (Keras's string names)."""
    found, stack = {}, [Optimizer]
    while stack:
        for cls in stack.pop().__subclasses__():
            stack.append(cls)
            if cls.__module__.startswith("tinynn."):
                found[cls.__name__.lower()] = cls
    return found


def get(identifier) -> Optimizer:
    """Resolve an optimizer given by name (Keras defaults) or as an object."""
    if isinstance(identifier, Optimizer):
        return identifier
    known = _all_optimizers()
    if isinstance(identifier, str) and identifier.lower() in known:
        return known[identifier.lower()]()
    raise ValueError(
        f"Unknown optimizer {identifier!r}. Known optimizers: {', '.join(sorted(known))} "
        "(or an instance such as tinynn.optimizers.Adam(learning_rate=5e-4))."
    )
