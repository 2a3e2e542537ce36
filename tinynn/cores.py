"""Whether a process may take two cores now: other processes' CPU use, read from /proc/stat.

The fused training engine (`tinynn.engine`) asks `CoreWatch.two_cores()` before each call and
runs its numba code on one thread when the answer is no.
"""

import os
import time


class CoreWatch:
    """Whether the fused step may take two cores: it may unless other processes kept at least
    a core busy (of this machine's `os.cpu_count()`) over the last `interval` seconds.

    Why: the step meets at a barrier a dozen times (after each product shared by the two
    cores, after Adam). On a machine where another process runs, one of the two threads is
    often descheduled and the other waits: measured 2026-12-07 on 2 cores beside another
    training, 18-46 s an epoch instead of 1.9, worse than layer by layer (11-43 s). On one core
    the step runs the same code, the same bits, about 1.6x slower than on two when quiet.
    Others' use is the machine's busy time in /proc/stat minus this process's own CPU time
    (`os.times`), both since the last look; where /proc/stat cannot be read, two cores."""

    def __init__(self, interval: float = 0.2, read_stat=None, clock=time.monotonic,
                 own_time=None, cpus: "int | None" = None):
        self.interval, self._clock = interval, clock
        self._read_stat = read_stat or _machine_busy_seconds
        self._own_time = own_time or (lambda: sum(os.times()[:2]))
        self.cpus = cpus or os.cpu_count() or 1
        self._last = None  # (time, machine busy s, own s)
        self.two = True

    def two_cores(self) -> bool:
        """Look again if `interval` has passed since the last look; the decision."""
        now = self._clock()
        if self._last is not None and now - self._last[0] < self.interval:
            return self.two
        busy, own = self._read_stat(), self._own_time()
        if busy is None or self.cpus < 2:
            self.two = self.cpus >= 2
            return self.two
        if self._last is not None:
            elapsed = now - self._last[0]
            others = ((busy - self._last[1]) - (own - self._last[2])) / max(elapsed, 1e-9)
            self.two = self.cpus - others >= 1.75  # two cores free, give or take a quarter
        self._last = (now, busy, own)
        return self.two


def _machine_busy_seconds() -> "float | None":
    """All CPUs' busy time since boot (the first line of /proc/stat), or None."""
    try:
        with open("/proc/stat", "rb") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != b"cpu" or len(fields) < 8:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, *rest = (int(v) for v in fields[1:])
    steal = rest[0] if rest else 0
    return (user + nice + system + irq + softirq + steal) / _CLOCK_TICKS


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
