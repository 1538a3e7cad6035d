"""The app's API before and after, on a shared machine: both trees' apps run at once and requests alternate
between them, so background load falls on both alike.

    python -m benchmarks.compare_app OTHER_TREE [--repeats 5]

OTHER_TREE is a checkout of another commit (e.g. `git archive 105fd15 | tar -x -C /tmp/before`). Per request:
the wall time from submitting 5 s of speech to /animate until the mp4 arrives, and the CPU seconds the
app's server process spent until then and until the downloads were made (all its threads: rendering, x264,
Gradio), which depend far less on the other jobs than wall time. The downloads start as the mp4 is sent,
so a little of their CPU falls before it arrives. Medians; one warm-up request per app first."""
from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

from benchmarks.common import ROOT, machine, with_app_running
from benchmarks.speed_app import api_request


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("other", help="a checkout of the commit to compare with")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    trees = {"before": Path(args.other).resolve(), "after": ROOT}
    results = {label: {"wall": [], "cpu to mp4": [], "cpu": []} for label in trees}

    def alternate(servers: dict[str, tuple[str, int]]) -> None:
        at_mp4: dict[str, float] = {}
        requests = {label: api_request(url, lambda pid=pid: at_mp4.update(cpu=cpu_seconds(pid)))
                    for label, (url, pid) in servers.items()}
        for round_ in range(args.repeats + 1):
            for label, request in requests.items():
                pid = servers[label][1]
                cpu = cpu_seconds(pid)
                wall = request()
                if round_:  # round 0 warms up
                    results[label]["wall"].append(wall)
                    results[label]["cpu to mp4"].append(at_mp4["cpu"] - cpu)
                    results[label]["cpu"].append(cpu_seconds(pid) - cpu)

    with_app_running(lambda url_b, pid_b: with_app_running(
        lambda url_a, pid_a: alternate({"before": (url_b, pid_b), "after": (url_a, pid_a)}),
        root=trees["after"], with_pid=True), root=trees["before"], with_pid=True)
    print(f"Machine: {machine()}. Load average at the end: {os.getloadavg()[0]:.1f}. Medians of {args.repeats} "
          f"requests per app, alternating.\n")
    print("| 5 s speech through /animate | submit -> mp4 (s) | server CPU to the mp4 (s) "
          "| server CPU, downloads too (s) |\n|---|---|---|---|")
    for label, r in results.items():
        cells = " | ".join(f"{statistics.median(r[k]):.3f}" for k in ("wall", "cpu to mp4", "cpu"))
        print(f"| {label} ({trees[label].name}) | {cells} |")


if __name__ == "__main__":
    main()
