"""What every benchmark shares: timing and a one-line description of the machine."""
from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def times_of(fn, repeats: int, clock=time.perf_counter) -> list[float]:
    """Seconds of each of `repeats` runs of fn(). clock=time.process_time counts this process's CPU time
    instead of wall time: on a shared machine with one thread, that is close to the wall time the run would
    take on an idle core."""
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return times


def best_of(fn, repeats: int, clock=time.perf_counter) -> float:
    """Fastest of `repeats` runs, in seconds: the least disturbed by other work on the machine."""
    return min(times_of(fn, repeats, clock))


def median_of(fn, repeats: int) -> float:
    """Median of `repeats` runs, in seconds: on a shared machine, what a person typically waits."""
    return statistics.median(times_of(fn, repeats))


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


def with_app_running(fn, root: Path = ROOT, with_pid: bool = False):
    """Start `root`/app.py (this tree's by default) on a free local port (bundled model, a temporary style
    folder), call fn(url) (fn(url, pid) with_pid: to read the server's CPU time), stop it."""
    import socket
    import subprocess
    import sys
    import tempfile
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "IMITATOR_STYLE_DIR": tempfile.mkdtemp(), "GRADIO_ANALYTICS_ENABLED": "False",
           "PYTHONPATH": str(root)}
    app = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=root, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        return fn(url, app.pid) if with_pid else fn(url)
    finally:
        app.terminate()
        app.wait(timeout=30)
