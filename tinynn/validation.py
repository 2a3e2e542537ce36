"""Input checks for `fit`, `evaluate` and `predict`: convert what Keras accepts (lists, any
integer or float dtype, labels shaped (n, 1), targets shaped (n,) for one output, a 1-D x for
a one-feature model) and refuse, with a message naming the argument, what was expected and what
was received, anything that would otherwise become a NumPy error deep inside or silent
garbage."""

import numbers

import numpy as np

from tinynn import config


def as_array(data) -> np.ndarray:
    """`np.asarray(data)`, with what pandas hands over made numeric as Keras makes it: a
    DataFrame mixing float and bool columns (`pd.get_dummies` gives bools) becomes an array of
    dtype object holding Python numbers and bools, converted here to float64. An object array
    holding anything else (strings, None) is returned as it is, for the caller's dtype check
    to refuse. Ragged lists raise numpy's ValueError."""
    x = np.asarray(data.to_numpy() if hasattr(data, "to_numpy") and hasattr(data, "dtypes")
                   else data)
    if x.dtype == object and x.size and all(isinstance(v, (numbers.Real, np.bool_))
                                            for v in x.flat):
        x = x.astype(np.float64)
    return x


def adjust_rank(x: np.ndarray, sample_shape: tuple) -> np.ndarray:
    """Keras's rule for inputs one rank off the model's (`Functional._adjust_input_rank`): a
    missing last axis of size 1 is added ((n,) for samples of shape (1,)), an extra last axis of
    size 1 is dropped."""
    if x.ndim == len(sample_shape) and sample_shape and sample_shape[-1] == 1:
        return x[..., None]
    if x.ndim == len(sample_shape) + 2 and x.shape[-1] == 1:
        return x[..., 0]
    return x


def as_features(x, argument: str, sample_shape: "tuple | None" = None) -> np.ndarray:
    """Convert inputs to a float array of floatx, refusing what would silently become garbage.
    With the model's `sample_shape` known, inputs one rank off are adjusted as Keras does."""
    if x is None:
        raise ValueError(f"{argument} is required: pass a NumPy array of shape (samples, ...).")
    try:
        x = as_array(x)
    except ValueError as e:  # ragged nested lists
        raise ValueError(
            f"{argument} must be a rectangular array of numbers; converting it failed ({e}). "
            "Check that every sample has the same shape."
        ) from None
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{argument} must hold numbers, got an array of dtype {x.dtype}.")
    if sample_shape is not None:
        x = adjust_rank(x, tuple(sample_shape))
    if x.ndim < 2:
        raise ValueError(
            f"{argument} must have shape (samples, features...), got shape {x.shape}. "
            "For a single sample use x[None]; for one feature use x.reshape(-1, 1)."
        )
    if x.shape[0] == 0:
        raise ValueError(f"{argument} is empty (shape {x.shape}): there is nothing to process.")
    with np.errstate(over="ignore"):
        converted = x.astype(config.floatx(), copy=False)
    finite = np.isfinite(converted)
    if not finite.all():
        where = tuple(int(i) for i in np.argwhere(~finite)[0])
        overflow = " (too large for " + config.floatx() + ")" if np.isfinite(x[where]) else ""
        raise ValueError(
            f"{argument} contains {int((~finite).sum())} NaN or infinite values, the first at "
            f"index {where}: {x[where].item()!r}{overflow}. Clean or rescale the data first."
        )
    return converted


def as_labels(y, n: int, n_classes: int, argument: str) -> np.ndarray:
    """Integer class labels of shape (n,) in [0, n_classes); (n, 1) is accepted like Keras.

    The range is checked on the values as given, before any conversion: a float label of 1e20
    cast to int64 first would wrap around to -9223372036854775808."""
    try:
        y = as_array(y)
    except ValueError as e:  # ragged nested lists
        raise ValueError(f"{argument} must be an array of integer labels, one per sample; "
                         f"converting it failed ({e}).") from None
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 1 and y.shape[0] != n:
        raise ValueError(
            f"x and {argument} must have the same number of samples: x has {n}, {argument} has "
            f"{y.shape[0]} (expected shape ({n},))."
        )
    if y.ndim == 2 and y.shape[0] == n and y.shape[1] == n_classes:
        raise ValueError(
            f"{argument} looks one-hot encoded (shape {y.shape}), but the loss takes integer "
            f"labels of shape ({n},): pass {argument}.argmax(axis=1), or use "
            "loss='categorical_crossentropy', which takes one-hot targets."
        )
    if y.ndim != 1:
        raise ValueError(
            f"{argument} must hold one integer label per sample, i.e. shape ({n},), "
            f"got shape {y.shape}."
        )
    if y.dtype.kind == "f":
        bad = y[~(np.isfinite(y) & (y == np.round(y)))]
        if bad.size:
            raise TypeError(f"{argument} must hold integer class labels, got dtype {y.dtype} "
                            f"with {bad.size} non-integer values such as {bad[0].item()!r}.")
    elif y.dtype.kind not in "iub":
        raise TypeError(f"{argument} must hold integer class labels, got dtype {y.dtype}.")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(
            f"{argument} must hold labels in [0, {n_classes}) for a model with {n_classes} "
            f"outputs, got labels from {y.min().item()!r} to {y.max().item()!r}."
        )
    return y.astype(np.intp)


def as_targets(y, n: int, output_shape: tuple, loss, argument: str) -> np.ndarray:
    """The targets `loss` takes, for a model whose output has shape `output_shape` (None first).

    Integer class labels of shape (n,) for a loss with `sparse_labels` (see `as_labels`);
    otherwise float values shaped like the output, (n, k), where (n,) is accepted for one
    output unit (Keras matches it with (n, 1)), kept in the shape given. A loss that does not
    declare `sparse_labels` (None: a loss of one's own) takes either: labels shaped (n,) or
    (n, 1) for a model with more than one output unit, else values.
    """
    sparse = getattr(loss, "sparse_labels", None)
    if sparse:
        return as_labels(y, n, output_shape[-1], argument)
    if y is None:
        raise ValueError(f"{argument} is required: the targets of x.")
    if sparse is None and output_shape[-1] != 1:  # a loss of one's own: labels, or values
        try:
            shape = np.shape(y)
        except ValueError:  # ragged: as_labels says so
            shape = (n,)
        if len(shape) in (1, 2) and shape[1:] in ((), (1,)):
            return as_labels(y, n, output_shape[-1], argument)
    y = as_array(y)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{argument} must hold numbers, got an array of dtype {y.dtype}.")
    name = getattr(loss, "name", type(loss).__name__)
    expected = (n, *output_shape[1:])
    if y.ndim == 0 or y.shape[0] != n:
        got = "a scalar" if y.ndim == 0 else f"{y.shape[0]}"
        raise ValueError(f"x and {argument} must have the same number of samples: x has {n}, "
                         f"{argument} has {got} (expected shape {expected}).")
    k = expected[-1]
    one_output = len(expected) == 2 and k == 1
    if y.shape != expected and not (one_output and y.ndim == 1):
        if len(expected) == 2 and y.ndim <= 2 and y.size == n and k > 1 \
                and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            raise ValueError(
                f"{argument} holds one integer per sample (shape {y.shape}), but the loss "
                f"{name} expects targets of shape {expected}, one value per output unit. For "
                f"integer class labels use loss='sparse_categorical_crossentropy', or one-hot "
                f"encode them: tinynn.utils.to_categorical({argument}, {k}).")
        also = f", or ({n},) for a model with one output" if one_output else ""
        raise ValueError(f"{argument} must have shape {expected}, one value per output unit "
                         f"of the model{also}, for the loss {name}; got shape {y.shape}.")
    with np.errstate(over="ignore"):
        converted = y.astype(config.floatx(), copy=False)
    if not np.all(np.isfinite(converted)):
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(converted))[0])
        raise ValueError(f"{argument} contains NaN or infinite values, the first at index "
                         f"{where}: {y[where].item()!r}. Clean the targets first.")
    return converted


def positive_int(value, argument: str) -> int:
    """`value` as an int, or a ValueError naming `argument` unless it is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{argument} must be a positive integer, got {argument}={value!r}.")
    return int(value)


def non_negative_int(value, argument: str) -> int:
    """`value` as an int, or a ValueError naming `argument` unless it is an integer >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{argument} must be a non-negative integer, got {argument}={value!r}.")
    return int(value)
