"""The quiet-window gate of `train_speed.py`: how much CPU did *other* processes use?

The machine's busy time comes from the first line of /proc/stat (jiffies summed over all cores);
our own CPU time comes from `resource.getrusage` of this process and of its waited-for children
(the worker that was timed). Others' CPU = busy delta - our delta. The pure functions
(`parse_proc_stat_cpu`, `busy_jiffies`, `others_cores`, `is_quiet`, `is_contaminated`) take
numbers, not files, so tests/test_benchmark_helpers.py checks them with synthetic inputs.
"""

import os
import resource
import time

# Default thresholds, in cores (1.0 = one core busy all the time).
QUIET_CORES = 0.10  # the gate opens when others used less than this over the window
CONTAMINATED_CORES = 0.15  # a run is contaminated when others used more than this on average


def parse_proc_stat_cpu(text: str) -> "list[int]":
    """The aggregate "cpu" line of /proc/stat as integers (user, nice, system, idle, iowait, irq,
    softirq, steal, guest, guest_nice; older kernels give fewer fields).

    Raises:
        ValueError: no aggregate "cpu " line in `text`.
    """
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            return [int(f) for f in fields[1:]]
    raise ValueError("no aggregate 'cpu' line in /proc/stat text")


def busy_jiffies(fields: "list[int]") -> int:
    """Busy time = user + nice + system + irq + softirq + steal (idle and iowait excluded;
    guest and guest_nice are already counted inside user and nice, so not added again)."""
    padded = list(fields) + [0] * (8 - len(fields))
    user, nice, system, _idle, _iowait, irq, softirq, steal = padded[:8]
    return user + nice + system + irq + softirq + steal


def others_cores(busy_delta_jiffies: int, ours_delta_s: float, wall_s: float,
                 hz: int = 100) -> float:
    """Average number of cores that other processes kept busy over `wall_s` seconds.

    others = busy_delta / hz - ours_delta, clipped at 0 (jiffy and rusage accounting disagree
    by a tick or so), divided by the wall time.
    """
    if wall_s <= 0:
        return 0.0
    return max(0.0, busy_delta_jiffies / hz - ours_delta_s) / wall_s


def is_quiet(cores: float, threshold: float = QUIET_CORES) -> bool:
    """The gate's test on one window: others below `threshold` cores."""
    return cores < threshold


def is_contaminated(cores: float, threshold: float = CONTAMINATED_CORES) -> bool:
    """A timed run's test: others used more than `threshold` cores on average."""
    return cores > threshold


# ----- sampling the real machine -------------------------------------------------------------

def _own_cpu_s() -> float:
    """CPU seconds of this process plus its terminated, waited-for children."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        total += r.ru_utime + r.ru_stime
    return total


class Sample:
    """A snapshot: wall clock, machine busy jiffies, our own CPU seconds."""

    def __init__(self):
        with open("/proc/stat") as f:
            self.busy = busy_jiffies(parse_proc_stat_cpu(f.read()))
        self.ours = _own_cpu_s()
        self.wall = time.perf_counter()

    def others_since(self, earlier: "Sample") -> float:
        """Cores used by other processes between `earlier` and this sample."""
        return others_cores(self.busy - earlier.busy, self.ours - earlier.ours,
                            self.wall - earlier.wall, os.sysconf("SC_CLK_TCK"))


def wait_for_quiet(window_s: float = 2.0, timeout_s: float = 60.0,
                   threshold: float = QUIET_CORES) -> "tuple[bool, float, float]":
    """Wait until a `window_s` window in which others used < `threshold` cores, at most
    `timeout_s` seconds. Returns (quiet, waited seconds, others' cores in the last window)."""
    start = time.perf_counter()
    while True:
        before = Sample()
        time.sleep(window_s)
        cores = Sample().others_since(before)
        waited = time.perf_counter() - start
        if is_quiet(cores, threshold) or waited >= timeout_s:
            return is_quiet(cores, threshold), waited, cores
