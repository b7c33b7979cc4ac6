"""Run pytest and report how long Python's cyclic garbage collector ran: ``python -m benchmarks.gcprobe ARGS``.

Prints ``gcprobe: <seconds> <collections gen0,gen1,gen2> <tracked objects at exit>`` on stderr at exit.
"""

from __future__ import annotations

import atexit
import gc
import sys
import time

_spent = [0.0, 0.0]
_collections = [0, 0, 0]


def _callback(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _spent[1] = time.perf_counter()
    else:
        _spent[0] += time.perf_counter() - _spent[1]
        _collections[info["generation"]] += 1


def _report() -> None:
    counts = ",".join(map(str, _collections))
    print(f"gcprobe: {_spent[0]:.3f} {counts} {len(gc.get_objects())}", file=sys.stderr)


def parse(stderr: str) -> tuple[float, str, int] | None:
    """(seconds, collections per generation, objects) from a run's stderr."""
    for line in stderr.splitlines():
        if line.startswith("gcprobe: "):
            seconds, counts, objects = line.split()[1:4]
            return float(seconds), counts, int(objects)
    return None


if __name__ == "__main__":
    import pytest

    gc.callbacks.append(_callback)
    atexit.register(_report)
    sys.exit(pytest.main(sys.argv[1:]))
