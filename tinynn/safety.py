"""Guards that keep a model consistent when training goes wrong: a non-finite loss, gradient or
update, or Ctrl-C.

`fit` uses them in every step:

- `check_loss(values)` runs after the forward pass, before any update. A NaN or infinite batch
  loss raises `NonFiniteLoss`. It costs one sum over the batch's per-sample losses.
- `apply_update(optimizer, grads, weights)` applies the optimizer's step so that weights and
  optimizer state never become NaN or infinite. A finite loss can still come with a NaN or
  infinite gradient (an overflow in backward), or with a finite gradient so large that the
  update overflows: one sample at 1e22 gives gradients near 1e22, whose squares (Adam's and
  RMSprop's second moments) are infinite in float32; SGD(1e6) multiplies them further. So the
  gradient's squared norm is computed first (`ops.squared_norm`: its numba kernel takes 20 us
  for the seed MLP's 567k parameters, about 3% of a step at batch 32).
  If it is finite, and learning_rate * max(2 * norm, 1) is below sqrt(float max) (1.8e19 in
  float32), the update is finite by construction and is applied at once: every g**2 is finite,
  so the optimizers' moments and accumulators are; their steps are learning_rate times a
  constant of the hyperparameters (about (1 - beta_1) / sqrt(1 - beta_2) for Adam and
  1 / sqrt(1 - rho) for RMSprop: 3.2 with the defaults; 1 for Lion and Adagrad; |g| /
  sqrt(epsilon) at most for centered RMSprop), SGD's is learning_rate * |g|; and a finite
  weight plus a step that small cannot overflow (the gap between the two largest floats is
  2e31 in float32). With gradient accumulation the update uses g plus the accumulated
  gradients, so those are in the norm (hence 2 * norm); weight decay needs learning_rate *
  weight_decay <= 1. One case remains, as in Keras: centered RMSprop's v - a**2 + epsilon can
  round below zero after hundreds of nearly constant gradients, and its square root is NaN;
  `stop_message` checks the weights when training stops and says so if that happened.
  Otherwise either the gradient is not finite (`NonFiniteGradient`, nothing applied) or it is
  huge: then the weights and optimizer state are copied, the step applied and checked, and
  undone if anything became non-finite (`NonFiniteUpdate`).
- `InterruptGuard` postpones Ctrl-C (SIGINT) to the end of the current training step, so an
  interrupt can never leave an optimizer step half applied (some parameters updated, others
  not). A second Ctrl-C while one is pending interrupts at once. The guard is only installed in
  the main thread and only when SIGINT has Python's default handler; otherwise
  KeyboardInterrupt arrives wherever it lands, as usual.
"""

import math
import signal
import threading

import numpy as np

from tinynn import backend


class NonFiniteStep(ArithmeticError):
    """A training step stopped before its update was kept: something became NaN or infinite.
    `what` is "loss", "gradient" or "update"; `value` the offending number."""

    what = "step"

    def __init__(self, value: float, detail: str = ""):
        super().__init__(f"{self.what} is {value}" + (f" ({detail})" if detail else ""))
        self.value, self.detail = value, detail


class NonFiniteLoss(NonFiniteStep):
    """The batch loss is NaN or infinite (raised before the update)."""

    what = "loss"


class NonFiniteGradient(NonFiniteStep):
    """The loss is finite but some gradient entry is NaN or infinite (raised before the
    update)."""

    what = "gradient"


class NonFiniteUpdate(NonFiniteStep):
    """The gradient is finite but the update made a weight or optimizer state non-finite; the
    update was undone before this was raised."""

    what = "update"


def check_loss(values: np.ndarray) -> None:
    """Raise `NonFiniteLoss` when the sum of the per-sample losses is NaN or infinite."""
    total = values.sum(dtype=np.float64)
    if not np.isfinite(total):
        raise NonFiniteLoss(float(total))


def all_finite(arrays: list[np.ndarray]) -> bool:
    """True when every element of every array is finite."""
    return all(bool(np.isfinite(a).all()) for a in arrays)


_SQRT_MAX = {t: math.sqrt(float(np.finfo(t).max)) for t in "efdg"}  # by dtype.char


def apply_update(optimizer, grads: list[np.ndarray], weights: list[np.ndarray]) -> None:
    """`optimizer.apply(grads, weights)`, never leaving a NaN or infinity in the weights or the
    optimizer state: raises `NonFiniteGradient` (nothing applied) or `NonFiniteUpdate` (the
    update undone, the optimizer's step counters too). See the module docstring for why the
    fast path, taken when the gradient's squared norm is finite and moderate, needs no check."""
    # with gradient accumulation the update uses g plus the accumulated gradients: both count
    pending = getattr(optimizer, "gradient_accumulators", None) \
        if getattr(optimizer, "gradient_accumulation_steps", None) else None
    pending = pending or []
    square = backend.ops().squared_norm([*grads, *pending] if pending else grads)
    rate = getattr(optimizer, "learning_rate", 1.0)
    decay = getattr(optimizer, "weight_decay", None) or 0.0
    if math.isfinite(square) and weights and isinstance(rate, (int, float)) \
            and rate * max(2 * math.sqrt(square), 1.0) <= _SQRT_MAX[weights[0].dtype.char] \
            and rate * decay <= 1:
        optimizer.apply(grads, weights)  # finite by construction (module docstring)
        return
    if not all_finite(grads):
        bad = sum(int((~np.isfinite(g)).sum()) for g in grads)
        raise NonFiniteGradient(square, f"{bad} gradient entries are NaN or infinite")
    if not optimizer.built:
        optimizer.build(weights)
    state = optimizer.variables
    saved = [a.copy() for a in (*weights, *state)]
    attributes = dict(vars(optimizer))  # the step counters (and any other scalar state)
    with np.errstate(over="ignore", invalid="ignore"):
        optimizer.apply(grads, weights)
    if all_finite(weights) and all_finite(state):
        return
    broken = [name for name, arrays in optimizer.slots().items() if not all_finite(arrays)]
    broken = "the weights" if not all_finite(weights) else \
        f"the optimizer's {' and '.join(broken)}"
    for array, before in zip((*weights, *state), saved, strict=True):
        array[...] = before
    vars(optimizer).clear()
    vars(optimizer).update(attributes)
    top = max(float(np.abs(g).max()) for g in (*grads, *pending) if g.size)
    what = "the gradient plus the accumulated gradients" if pending else "the gradient"
    raise NonFiniteUpdate(top, f"{what}, finite but as large as {top:.3g}, made {broken} "
                          "non-finite")


def stop_message(error: NonFiniteStep, epoch: int, epochs: int, batch: int, steps: int,
                 last_update: "tuple[int, int] | None", weights: list[np.ndarray],
                 state: list[np.ndarray], completed_epochs: int, use_ema: bool = False) -> str:
    """fit's warning when `error` stopped training: what went wrong where, and exactly what the
    model now holds (checked here, once: the weights and optimizer state after the last applied
    step, finite or not; with `use_ema`, fit then sets the weights to their moving averages, as
    at the end of any fit). Epochs and batches are counted from 1, as in Keras's logs."""
    where = f"at epoch {epoch + 1}/{epochs}, batch {batch + 1}/{steps}"
    if isinstance(error, NonFiniteLoss):
        what = f"Invalid loss ({error.value}) {where}: training stopped before applying that " \
               "batch's update."
    elif isinstance(error, NonFiniteGradient):
        what = f"Invalid gradient {where}: the loss was finite but {error.detail}; training " \
               "stopped before applying that batch's update."
    else:
        what = f"Invalid update {where}: {error.detail}; the update was undone and training " \
               "stopped."
    last = ("before the first step of this fit" if last_update is None
            else f"after the last applied step, epoch {last_update[0] + 1} batch "
                 f"{last_update[1] + 1}")
    if all_finite(weights) and all_finite(state):
        largest = max((float(np.abs(w).max()) for w in weights if w.size), default=0.0)
        held = (f"The model keeps its weights and optimizer state as they were {last}, all "
                f"finite (largest |weight| {largest:.3g})"
                + ("; they give this batch that loss." if isinstance(error, NonFiniteLoss)
                   else "."))
    else:
        bad = sum(int((~np.isfinite(a)).sum()) for a in (*weights, *state))
        held = (f"The model's weights and optimizer state are those {last}, and {bad} of their "
                "values are NaN or infinite: that update overflowed and could not be undone.")
    if use_ema:
        held += (" As use_ema=True, fit now sets the weights to their moving averages, as at the "
                 "end of any fit.")
    return (f"{what} {held} History has the {completed_epochs} completed epoch(s). Try a "
            "smaller learning_rate or check the data for extreme values.")


class InterruptGuard:
    """Context manager that turns SIGINT into a flag checked at safe points by `check()`.

    Usage:
        with InterruptGuard() as guard:
            for step in steps:
                run(step)        # not interrupted half-way
                guard.check()    # raises KeyboardInterrupt here if Ctrl-C was pressed
    """

    def __init__(self):
        self.pending = False
        self._previous = None

    def _handler(self, signum, frame):
        if self.pending:  # a second Ctrl-C: the user really wants out now
            raise KeyboardInterrupt
        self.pending = True

    def __enter__(self) -> "InterruptGuard":
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def check(self) -> None:
        """Raise the postponed KeyboardInterrupt, if any."""
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        if exc_type is None:
            self.check()  # Ctrl-C after the last safe point still interrupts
