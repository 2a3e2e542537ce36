"""Guards that keep a model consistent when training goes wrong: a non-finite loss or Ctrl-C.

`fit` uses both:

- `check_loss(values)` runs after the forward pass and before any gradient is applied. A NaN or
  infinite batch loss raises `NonFiniteLoss`, so the step that would write NaN into the weights
  never happens and the model keeps the weights that produced the last finite loss. It costs one
  sum over the batch's per-sample losses.
- `InterruptGuard` postpones Ctrl-C (SIGINT) to the end of the current training step, so an
  interrupt can never leave an optimizer step half applied (some parameters updated, others
  not). A second Ctrl-C while one is pending interrupts at once. The guard is only installed in
  the main thread and only when SIGINT has Python's default handler; otherwise
  KeyboardInterrupt arrives wherever it lands, as usual.
"""

import signal
import threading

import numpy as np


class NonFiniteLoss(ArithmeticError):
    """Raised inside a training step whose batch loss is NaN or infinite, before the update."""

    def __init__(self, value: float):
        super().__init__(f"batch loss is {value}")
        self.value = value


def check_loss(values: np.ndarray) -> None:
    """Raise `NonFiniteLoss` when the sum of the per-sample losses is NaN or infinite."""
    total = values.sum(dtype=np.float64)
    if not np.isfinite(total):
        raise NonFiniteLoss(float(total))


def all_finite(arrays: list[np.ndarray]) -> bool:
    """True when every element of every array is finite."""
    return all(bool(np.isfinite(a).all()) for a in arrays)


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
