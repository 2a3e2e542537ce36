"""Keras's automatic names: dense, dense_1, dense_2, ... counted per prefix in this process,
and `keras.backend.clear_session()`'s reset of those counts."""

from collections import defaultdict

_COUNTS: defaultdict[str, int] = defaultdict(int)


def unique_name(prefix: str) -> str:
    """`prefix` the first time, then `prefix_1`, `prefix_2`, ..."""
    n = _COUNTS[prefix]
    _COUNTS[prefix] += 1
    return prefix if n == 0 else f"{prefix}_{n}"


def reset() -> None:
    """Start every count again (the next Dense is "dense")."""
    _COUNTS.clear()
