"""A Keras-style progress bar:

    12/1688 ━━━━━━━━━━━━━━━━━━━━ 7s 4ms/step - accuracy: 0.4100 - loss: 1.6300
"""

import os
import sys
import time

import numpy as np


def _format_time(seconds: float) -> str:
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(round(seconds))}s"


def _format_per_step(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


def _dynamic_display(stream) -> bool:
    """Whether `stream` can redraw a line in place: a terminal, or standard output/error in a
    Jupyter kernel or PyCharm, which are no tty but render the carriage return.

    Keras (`keras/src/utils/progbar.py`, `_dynamic_display`) tests `sys.stdout.isatty()`,
    `"ipykernel" in sys.modules` and `"PYCHARM_HOSTED" in os.environ` the same way, and also
    `"posix" in sys.modules`; that module is loaded by every Python on Linux and macOS, so Keras
    redraws even into a file or a pipe. tinynn leaves that test out and keeps logs one line per
    epoch.
    """
    if hasattr(stream, "isatty") and stream.isatty():
        return True
    console = stream is sys.stdout or stream is sys.stderr
    return console and ("ipykernel" in sys.modules or "PYCHARM_HOSTED" in os.environ)


class Progbar:
    """Progress over `target` steps.

    Args:
        target: total number of steps.
        width: characters in the bar. Defaults to 20.
        verbose: 1 redraws one line (on a terminal, in Jupyter or PyCharm; elsewhere prints once
            at the end), 2 prints one summary line at the end. Defaults to 1.
        interval: minimum seconds between redraws. Defaults to 0.05.
    """

    def __init__(self, target: int, width: int = 20, verbose: int = 1, interval: float = 0.05,
                 stream=None):
        self.target, self.width, self.verbose, self.interval = target, width, verbose, interval
        self.stream = stream or sys.stdout
        self.interactive = _dynamic_display(self.stream)
        self.start = time.perf_counter()
        self._last_draw = 0.0

    def update(self, current: int, values: "dict[str, float] | None" = None,
               finalize: bool = False) -> None:
        now = time.perf_counter()
        if not finalize and (self.verbose != 1 or not self.interactive
                             or now - self._last_draw < self.interval):
            return
        self._last_draw = now
        elapsed = now - self.start
        per_step = elapsed / max(current, 1)
        # a metric with one value per class (F1Score(average=None)) shows their mean, as Keras
        metrics = "".join(f" - {k}: {float(np.mean(v)):.4f}"
                          for k, v in sorted((values or {}).items()))
        digits = len(str(self.target))
        if self.verbose == 2:
            line = f"{current}/{self.target} - {_format_time(elapsed)} - " \
                   f"{_format_per_step(per_step)}{metrics}"
        else:
            filled = int(self.width * current / max(self.target, 1))
            bar = "\u2501" * filled + " " * (self.width - filled) if self.interactive \
                else "\u2501" * self.width
            shown = elapsed if finalize else per_step * (self.target - current)
            line = f"{current:>{digits}}/{self.target} {bar} {_format_time(shown)} " \
                   f"{_format_per_step(per_step)}{metrics}"
        end = "\n" if finalize else ""
        prefix = "\r" if self.interactive and self.verbose == 1 else ""
        self.stream.write(f"{prefix}{line}\x1b[K{end}" if self.interactive else f"{line}{end}")
        self.stream.flush()
