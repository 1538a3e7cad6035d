"""What every benchmark shares: timing and a one-line description of the machine."""
from __future__ import annotations

import os
import platform
import time


def best_of(fn, repeats: int, clock=time.perf_counter) -> float:
    """Fastest of `repeats` runs, in seconds: the least disturbed by other work on the machine.
    clock=time.process_time counts this process's CPU time instead of wall time: on a shared machine with
    one thread, that is close to the wall time the run would take on an idle core."""
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return min(times)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    import torch

    return f"{cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"
