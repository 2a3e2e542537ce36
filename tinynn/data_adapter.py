"""How `fit` and `evaluate` walk through NumPy arrays, as Keras 3's array data adapter and
`EpochIterator` do (`keras/src/trainers/data_adapters/`, `keras/src/trainers/epoch_iterator.py`).

Three questions, answered here so that the training loop in `models.py` only runs steps:

1. **Which samples count how much?** `as_sample_weight` checks a `sample_weight` array (one
   weight per sample); `class_weight_to_sample_weight` turns `class_weight={class: weight}`
   into one, from each sample's integer label (a one-hot row's argmax, a 0/1 target rounded).
   Keras refuses the two together; the validation set never gets class weights.
2. **Which samples are held out?** `validation_arrays`: `validation_data=(x, y)` or
   `(x, y, sample_weight)`, else the last `validation_split` fraction of x, y and the weights,
   taken before any shuffling.
3. **Which samples does each step take?** `EpochIterator`: batches of `batch_size` samples in
   one pass over the data (shuffled per pass), `steps_per_epoch` steps per epoch. With
   `steps_per_epoch` smaller than a pass, the next epoch continues where the last one stopped;
   when a pass runs out before the epoch's steps are done, the epoch ends early with Keras's
   warning ("Your input ran out of data; ...") and the next epoch starts a new pass. Training
   itself goes on for every epoch.
"""

import math
import warnings
from collections.abc import Callable, Iterator

import numpy as np

from tinynn import config, utils
from tinynn.validation import as_array, as_features, positive_int

# Keras's words (EpochIterator._interrupted_warning); it is a UserWarning there too.
RAN_OUT_OF_DATA = (
    "Your input ran out of data; interrupting training. Make sure that your dataset or "
    "generator can generate at least `steps_per_epoch * epochs` batches. You may need to use "
    "the `.repeat()` function when building your dataset.")


# ----- 1. sample weights ----------------------------------------------------------------------

def as_sample_weight(sample_weight, n: int, argument: str = "sample_weight") -> "np.ndarray | None":
    """One weight per sample, shape (n,), in floatx; None stays None.

    Shapes (n,) and (n, 1) are accepted, as Keras accepts them for a model with one output.
    Weights may be negative or zero (Keras multiplies them in as they are), but not NaN or
    infinite: that would make the loss NaN on the first batch.
    """
    if sample_weight is None:
        return None
    try:
        w = as_array(sample_weight)
    except ValueError as e:  # ragged lists
        raise ValueError(f"{argument} must be an array of numbers, one per sample; converting "
                         f"it failed ({e}).") from None
    if w.dtype.kind not in "biuf":
        raise ValueError(f"{argument} must hold numbers, got an array of dtype {w.dtype}.")
    if w.ndim == 2 and w.shape[1] == 1:
        w = w[:, 0]
    if w.ndim != 1:
        raise ValueError(f"{argument} must hold one weight per sample, shape ({n},), got shape "
                         f"{w.shape}.")
    if w.shape[0] != n:
        raise ValueError(f"{argument} must have one weight per sample of x: x has {n} samples, "
                         f"{argument} has {w.shape[0]} (expected shape ({n},)).")
    with np.errstate(over="ignore"):
        w = w.astype(config.floatx(), copy=False)
    bad = ~np.isfinite(w)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{argument} contains {int(bad.sum())} NaN or infinite weights, the "
                         f"first at index {i}: {np.asarray(sample_weight).reshape(-1)[i]!r}.")
    return w


def check_class_weight(class_weight) -> "dict[int, float] | None":
    """`class_weight` as {integer class: float weight}, or a ValueError saying what is wrong.

    Keras looks each label up with `class_weight.get(label, 1.0)`: a key that is not an integer
    (the string "1", the float 1.5) silently matches nothing, so tinynn refuses it. Integral
    floats (1.0) match as in Keras. Missing classes weigh 1.
    """
    if class_weight is None:
        return None
    if not isinstance(class_weight, dict):
        raise ValueError("class_weight must be a dict mapping integer class labels to weights, "
                         f"e.g. {{0: 1.0, 1: 5.0}}; got {type(class_weight).__name__} "
                         f"{class_weight!r}.")
    checked = {}
    for key, weight in class_weight.items():
        integral = isinstance(key, (int, np.integer)) or (
            isinstance(key, (float, np.floating)) and math.isfinite(key) and key == round(key))
        if isinstance(key, bool) or not integral:
            raise ValueError(f"class_weight keys must be integer class labels, got the key "
                             f"{key!r} ({type(key).__name__}): Keras would silently ignore it.")
        if isinstance(weight, bool) or not isinstance(weight, (int, float, np.integer,
                                                               np.floating)):
            raise ValueError(f"class_weight[{key!r}] must be a number, got {weight!r}.")
        if not math.isfinite(weight):
            raise ValueError(f"class_weight[{key!r}] must be finite, got {weight!r}.")
        checked[int(key)] = float(weight)
    return checked


def labels_for_class_weight(y: np.ndarray) -> np.ndarray:
    """Each sample's integer class, as Keras's `class_weight_to_sample_weights` reads it: the
    labels themselves; for targets (n, k) with k > 1 the argmax of each row (one-hot); for (n, 1)
    (a 0/1 target) the value rounded (half to even, NumPy's `round`)."""
    y = np.asarray(y)
    if y.ndim > 2:
        raise ValueError(f"class_weight needs one class per sample; targets of shape {y.shape} "
                         "have more. Pass sample_weight instead.")
    if y.ndim == 2:
        y = np.argmax(y, axis=-1) if y.shape[-1] != 1 else y[:, 0]
    return np.round(y).astype(np.int64)


def class_weight_to_sample_weight(y: np.ndarray, class_weight: dict) -> np.ndarray:
    """w_i = class_weight.get(class of sample i, 1.0), shape (n,), in floatx."""
    labels = labels_for_class_weight(y)
    classes, inverse = np.unique(labels, return_inverse=True)
    table = np.array([class_weight.get(int(c), 1.0) for c in classes], dtype=config.floatx())
    return table[inverse.reshape(-1)]


def training_weights(y: np.ndarray, sample_weight, class_weight) -> "np.ndarray | None":
    """The training samples' weights: from `sample_weight` or from `class_weight` (Keras
    refuses both at once: "You cannot `class_weight` and `sample_weight` at the same time.")."""
    if sample_weight is not None and class_weight is not None:
        raise ValueError("fit() takes class_weight or sample_weight, not both (Keras: \"You "
                         "cannot `class_weight` and `sample_weight` at the same time.\"). To "
                         "combine them, multiply them yourself: sample_weight=sample_weight * "
                         "tinynn.data_adapter.class_weight_to_sample_weight(y, class_weight).")
    if class_weight is None:
        return sample_weight
    return class_weight_to_sample_weight(y, class_weight)


# ----- 2. the validation set --------------------------------------------------------------------

Arrays = tuple  # (x, y, sample_weight or None)


def unpack_validation_data(validation_data) -> tuple:
    """(x_val, y_val, sample_weight_val) from a tuple or list of two or three."""
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        got = (f"a {type(validation_data).__name__} of length {len(validation_data)}"
               if isinstance(validation_data, (tuple, list))
               else type(validation_data).__name__)
        raise ValueError("validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                         f"val_sample_weight), got {got}.")
    x_val, y_val, *rest = validation_data
    return x_val, y_val, rest[0] if rest else None


def validation_arrays(x: np.ndarray, y: np.ndarray, sample_weight: "np.ndarray | None",
                      validation_data, validation_split: float,
                      targets: Callable) -> "tuple[Arrays, Arrays | None]":
    """fit's training and validation arrays: `validation_data` checked and converted (the
    targets by `targets(y, n, argument)`), or the last `validation_split` fraction of x, y and
    sample_weight, taken before any shuffling as in Keras. Returns ((x, y, w), validation or
    None)."""
    if validation_data is not None:
        x_val, y_val, w_val = unpack_validation_data(validation_data)
        x_val = as_features(x_val, "validation_data[0]", x.shape[1:])
        if x_val.shape[1:] != x.shape[1:]:
            raise ValueError(
                f"validation_data[0] must have samples shaped like x's, {x.shape[1:]}, got "
                f"shape {x_val.shape}.")
        y_val = targets(y_val, x_val.shape[0], "validation_data[1]")
        w_val = as_sample_weight(w_val, x_val.shape[0], "validation_data[2]")
        return (x, y, sample_weight), (x_val, y_val, w_val)
    if not validation_split:
        return (x, y, sample_weight), None
    if not isinstance(validation_split, (int, float, np.floating)) or not 0 < validation_split < 1:
        raise ValueError(f"validation_split must be in [0, 1), got validation_split="
                         f"{validation_split!r}.")
    n = x.shape[0]
    split = int(np.floor(n * (1.0 - validation_split)))
    if split == 0 or split == n:
        raise ValueError(f"validation_split={validation_split} of {n} samples leaves {split} "
                         f"for training and {n - split} for validation; both must be non-empty.")
    w, w_val = (None, None) if sample_weight is None else (sample_weight[:split],
                                                           sample_weight[split:])
    return (x[:split], y[:split], w), (x[split:], y[split:], w_val)


# ----- 3. steps ---------------------------------------------------------------------------------

def optional_positive_int(value, argument: str) -> "int | None":
    """None, or `value` as a positive int (a ValueError naming `argument` otherwise). Keras
    takes 0 to mean None; tinynn refuses it."""
    return None if value is None else positive_int(value, argument)


def check_validation_freq(validation_freq) -> "int | list[int]":
    """A positive int (validate every that many epochs) or a list of epochs (counted from 1)."""
    if isinstance(validation_freq, list):
        for epoch in validation_freq:
            positive_int(epoch, "each epoch in validation_freq")
        return validation_freq
    if isinstance(validation_freq, bool) or not isinstance(validation_freq, (int, np.integer)) \
            or validation_freq < 1:
        raise ValueError("validation_freq must be a positive integer (validate every that many "
                         "epochs) or a list of epochs counted from 1, e.g. [1, 5, 10]; got "
                         f"validation_freq={validation_freq!r}.")
    return int(validation_freq)


def should_validate(epoch: int, validation_freq: "int | list[int]") -> bool:
    """Whether epoch (counted from 0) ends with a validation pass, as Keras's `_should_eval`."""
    if isinstance(validation_freq, list):
        return epoch + 1 in validation_freq
    return (epoch + 1) % validation_freq == 0


class EpochIterator:
    """The sample indices of each step, epoch after epoch, as Keras's `EpochIterator` over an
    array adapter.

    Args:
        n: number of samples.
        batch_size: samples per step. Defaults to ceil(n / steps) when `steps` is given (one
            pass per epoch), else 32, as in Keras.
        steps: steps per epoch. Defaults to one pass over the data.
        shuffle: a new random order (from `tinynn.utils.rng()`) for each pass. Defaults to
            False.

    `epoch()` gives one epoch's index arrays. A pass has `num_batches` = ceil(n / batch_size)
    batches, the last one smaller when batch_size does not divide n. With `steps` set, the
    epochs go through the pass in turn, and an epoch whose pass runs out first stops early with
    the warning `RAN_OUT_OF_DATA`; the next epoch starts a new pass.
    """

    def __init__(self, n: int, batch_size: "int | None" = None, steps: "int | None" = None,
                 shuffle: bool = False):
        self.n, self.steps, self.shuffle = n, steps, shuffle
        self.batch_size = batch_size or (-(-n // steps) if steps else 32)
        self.num_batches = -(-n // self.batch_size)
        self._order: np.ndarray | None = None  # the current pass's sample order
        self._taken = 0  # batches of the current pass taken so far

    @property
    def steps_per_epoch(self) -> int:
        """The steps an epoch asks for: what callbacks get as `params["steps"]`."""
        return self.steps or self.num_batches

    def epoch(self) -> Iterator[np.ndarray]:
        """One epoch's batches, as arrays of sample indices."""
        if self._order is None or self.steps is None:
            self._new_pass()
        for _ in range(self.steps_per_epoch):
            if self._taken >= self.num_batches:  # only with steps > what is left of the pass
                warnings.warn(RAN_OUT_OF_DATA, UserWarning, stacklevel=4)
                break
            start = self._taken * self.batch_size
            self._taken += 1
            yield self._order[start:start + self.batch_size]
        if self._taken >= self.num_batches:
            self._order = None  # the next epoch starts a new pass

    def _new_pass(self) -> None:
        # drawn when the epoch's first batch is asked for: after on_epoch_begin, as before
        self._order = utils.rng().permutation(self.n) if self.shuffle else np.arange(self.n)
        self._taken = 0
