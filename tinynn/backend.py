"""Which implementation of the operations runs: "numba" (fast kernels, the default) or "numpy"
(the readable reference in `tinynn.ops`). Both have the same functions with the same signatures.

    tinynn.set_backend("numpy")        # or: TINYNN_BACKEND=numpy python train.py

numba is imported, and kernels compiled (or loaded from numba's cache), on first use, never at
`import tinynn`. If numba cannot be imported, tinynn warns once and runs the reference.
"""

import os
import warnings
from types import ModuleType

from tinynn import naming

BACKENDS = ("numba", "numpy")
_name = os.environ.get("TINYNN_BACKEND", "numba").lower()
_ops: "ModuleType | None" = None


def set_backend(name: str) -> None:
    """Choose the backend for everything computed from now on.

    Args:
        name: "numba" or "numpy".
    """
    global _name, _ops
    if name not in BACKENDS:
        raise ValueError(f"set_backend expected one of {BACKENDS}, got {name!r}.")
    _name, _ops = name, None


def get_backend() -> str:
    """The backend actually in use ("numpy" if numba was asked for but cannot be imported)."""
    return "numba" if ops().__name__ == "tinynn.kernels" else "numpy"


def available() -> list[str]:
    """The backends that can run here."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return ["numpy"]
    return list(BACKENDS)


def ops() -> ModuleType:
    """The module of operations for the current backend: `tinynn.kernels` or `tinynn.ops`."""
    global _ops
    if _ops is None:
        if _name not in BACKENDS:
            raise ValueError(f"TINYNN_BACKEND must be one of {BACKENDS}, got {_name!r}.")
        if _name == "numba":
            try:
                from tinynn import kernels
                _ops = kernels
            except ImportError as e:
                warnings.warn(f"numba is not available ({e}); tinynn runs on the NumPy "
                              "reference path. `pip install numba` for the fast kernels.",
                              stacklevel=2)
                from tinynn import ops as reference
                _ops = reference
        else:
            from tinynn import ops as reference
            _ops = reference
    return _ops


def clear_session() -> None:
    """As `keras.backend.clear_session()`: automatic names start again ("dense", not
    "dense_7"), which programs that build many models in a loop (K-fold, tuning) call for.
    tinynn keeps no graph or session state, so there is nothing else to free."""
    naming.reset()
