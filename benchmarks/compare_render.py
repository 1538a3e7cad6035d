"""Render speed of this checkout against another checkout's renderer, measured in one process, alternating.

    python -m benchmarks.compare_render OTHER_PACKAGE_PARENT [--rounds 15] [--frames 30]

OTHER_PACKAGE_PARENT holds a copy of another version of the package renamed `imitator_base` (e.g. from
`git archive 286e236 imitator | tar -x` then `mv imitator imitator_base`). On a shared, loaded machine two
separate benchmark runs minutes apart are not comparable; alternating short batches in one process and
keeping each side's fastest batch is. Prints the best ms per 512x512 frame for each side, each with its
default anti-aliasing (4x MSAA before issue 17's last step, FXAA since)."""
from __future__ import annotations

import argparse
import importlib
import sys
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("other")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--frames", type=int, default=30)
    args = ap.parse_args()
    sys.path.insert(0, args.other)
    from benchmarks.speed_render import demo_sequences

    _, personal = demo_sequences(args.frames / 30)
    renderers = {name: importlib.import_module(f"{name}.render").Renderer() for name in ("imitator_base", "imitator")}
    for r in renderers.values():
        r.render_frames(personal[:2])  # compile shaders, paint the neutral texture
    # Wall time, and CPU time of the whole process (all of llvmpipe's threads): the second depends far less
    # on what else runs on the machine.
    best = {(name, clock): np.inf for name in renderers for clock in ("wall", "cpu")}
    for _ in range(args.rounds):
        for name, r in renderers.items():
            wall, cpu = time.perf_counter(), time.process_time()
            r.render_frames(personal)
            best[name, "wall"] = min(best[name, "wall"], (time.perf_counter() - wall) / len(personal))
            best[name, "cpu"] = min(best[name, "cpu"], (time.process_time() - cpu) / len(personal))
    for name in renderers:
        print(f"{name:14s} wall {1000 * best[name, 'wall']:.1f} ms/frame, CPU {1000 * best[name, 'cpu']:.1f} ms/frame; "
              f"best of {args.rounds} batches of {len(personal)} frames")
    for clock in ("wall", "cpu"):
        print(f"this checkout / other, {clock}: {best['imitator', clock] / best['imitator_base', clock]:.2f}x per frame")


if __name__ == "__main__":
    main()
