"""Before and after on the same machine in one run: the waits a person feels, timed with an older commit's
code (--before, a checkout such as `git worktree add --detach ../before 286e236`) and with this tree.

    .venv/bin/python -m benchmarks.speed_today --before ../before [--rounds 2] [--repeats 3] [--no-app]

Each round runs speed_probe.py once per tree, alternating, so background load falls on both alike; the app
is started from each tree in turn and timed through its API (submit 5 s of speech -> the mp4 is ready).
Cells are medians over all repeats. Prints a Markdown table with the ratio before / after."""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks.common import machine, with_app_running
from benchmarks.speed_app import api_times

HERE = Path(__file__).resolve().parent
NOW = HERE.parent


def probe(tree: Path, repeats: int) -> dict[str, list[float]]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, str(HERE / "speed_probe.py"), "--repeats", str(repeats)], cwd=tree,
                         env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True, help="a checkout of the commit to compare with")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-app", action="store_true")
    args = ap.parse_args()
    trees = {"before": Path(args.before).resolve(), "after": NOW}
    times: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
    for _ in range(args.rounds):
        for label, tree in trees.items():
            for what, ts in probe(tree, args.repeats).items():
                times[label].setdefault(what, []).extend(ts)
    if not args.no_app:
        for _ in range(args.rounds):
            for label, tree in trees.items():
                ts = with_app_running(lambda url: api_times(url, args.repeats)[0], root=tree)  # the default client
                times[label].setdefault("5 s speech -> playable mp4 through the app's API", []).extend(ts)
    load = os.getloadavg()[0]
    print(f"Machine: {machine()}. Load average at the end: {load:.1f}. Before: {trees['before'].name} "
          f"({_commit(trees['before'])}); after: this tree ({_commit(NOW)}). Medians of "
          f"{args.rounds} rounds x {args.repeats} repeats.\n")
    print("| what | before (s) | after (s) | before / after |\n|---|---|---|---|")
    for what, after in times["after"].items():
        before = times["before"].get(what)
        if not before:
            continue
        b, a = statistics.median(before), statistics.median(after)
        print(f"| {what} | {b:.3f} | {a:.3f} | {b / a:.1f}x |")


def _commit(tree: Path) -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=tree, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


if __name__ == "__main__":
    main()
