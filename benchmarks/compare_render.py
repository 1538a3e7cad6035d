"""Render speed of this checkout against another checkout's renderer, measured in one process, alternating.

    python -m benchmarks.compare_render OTHER_PACKAGE_PARENT [--rounds 15] [--frames 30]
    python -m benchmarks.compare_render OTHER_PACKAGE_PARENT --speech --batches 1,4,8,16 [--encode]

OTHER_PACKAGE_PARENT holds a copy of another version of the package renamed `imitator_base` (e.g. from
`git archive 286e236 imitator | tar -x` then `mv imitator imitator_base`). On a shared, loaded machine two
separate benchmark runs minutes apart are not comparable; alternating short batches in one process and
keeping each side's fastest batch is. Prints the best ms per 512x512 frame for each side, each with its
default anti-aliasing (4x MSAA before issue 17's last step, FXAA since).

--speech renders the bundled model's output on 5 s of speech (with blinks, the neutral face) instead of the
procedural rig; --batches measures this checkout once per `RenderOptions.batch` (frames per trip through GL);
--encode also times what `render_video` does: YUV frames from the renderer, encoded by x264 on the other
thread (the other checkout needs `iter_frames_yuv420`)."""
from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def speech_vertices() -> tuple[np.ndarray, np.ndarray]:
    """The bundled model's (T, V, 3) output on 5 s of speech, with blinks as in videos, and the speech."""
    from benchmarks.speed_app import five_seconds_of_speech
    from imitator import animate, load_model
    from imitator.pipeline import with_blinks

    anim = with_blinks(animate(five_seconds_of_speech(), model=load_model()))
    return anim.vertices, anim.audio


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("other")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--speech", action="store_true", help="the bundled model's 5 s output, not the rig")
    ap.add_argument("--batches", default="", help="comma-separated RenderOptions.batch values for this checkout")
    ap.add_argument("--encode", action="store_true", help="also render + encode to mp4, overlapped")
    args = ap.parse_args()
    sys.path.insert(0, args.other)
    from benchmarks.speed_render import demo_sequences
    from imitator.render import RenderOptions
    from imitator.video import write_mp4

    if args.speech:
        frames, audio = speech_vertices()
    else:
        frames, audio = demo_sequences(args.frames / 30)[1], None
    renderers = {"imitator_base": importlib.import_module("imitator_base.render").Renderer()}
    for batch in [int(b) for b in args.batches.split(",") if b] or [None]:
        options = RenderOptions() if batch is None else RenderOptions(batch=batch)
        renderers["imitator" if batch is None else f"imitator, batch {batch}"] = \
            importlib.import_module("imitator.render").Renderer(options)
    for r in renderers.values():
        r.render_frames(frames[:2])  # compile shaders, paint the neutral texture
    tmp = Path(tempfile.mkdtemp())
    steps = {"render": lambda r: r.render_frames(frames)}
    if args.encode:
        steps["render + encode"] = lambda r: write_mp4(tmp / "v.mp4", r.iter_frames_yuv420(frames), 30, audio,
                                                       pixel_format="yuv420p")
    # Wall time, and CPU time of the whole process (all of llvmpipe's threads): the second depends far less
    # on what else runs on the machine.
    times = {(name, step): [] for name in renderers for step in steps}
    for _ in range(args.rounds):
        for name, r in renderers.items():
            for step, run in steps.items():
                wall, cpu = time.perf_counter(), time.process_time()
                run(r)
                times[name, step].append((time.perf_counter() - wall, time.process_time() - cpu))
    n = len(frames)
    print(f"{n} frames a batch, {args.rounds} rounds alternating; ms per frame: best (median)")
    print("| renderer | " + " | ".join(f"{step}: wall | {step}: CPU" for step in steps) + " |")
    print("|---|" + "---|---|" * len(steps))
    for name in renderers:
        cells = []
        for step in steps:
            for clock in (0, 1):
                values = [t[clock] * 1000 / n for t in times[name, step]]
                cells.append(f"{min(values):.2f} ({statistics.median(values):.2f})")
        print(f"| {name} | " + " | ".join(cells) + " |")
    base = min(t[1] for t in times["imitator_base", "render"])
    for name in list(renderers)[1:]:
        print(f"{name} / other, render CPU: {min(t[1] for t in times[name, 'render']) / base:.2f}x per frame")


if __name__ == "__main__":
    main()
