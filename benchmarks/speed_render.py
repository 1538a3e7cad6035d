"""Speed of rendering, mp4 writing and export on this machine, for 5 s of animation (150 frames at 30 fps).

    .venv/bin/python -m benchmarks.speed_render [--seconds 5] [--repeats 3] [--images docs/images]

The animation is the procedural viseme rig on a shipped face (a generic and a livelier "personal" style),
so nothing needs a trained model. Prints a Markdown table. With --images it also saves the pictures used in
docs/rendering.md: one frame, a side by side and an error heat map, at the widest mouth opening."""
from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time

import numpy as np

from benchmarks.common import best_of, cpu_name
from imitator.audio import SAMPLE_RATE
from imitator.data.faces import load_faces
from imitator.data.rig import VisemeRig
from imitator.data.speaker import SpeakerTraits
from imitator.data.articulation import Articulation
from imitator.export import save_glb, save_npz, save_obj_zip
from imitator.render import RenderOptions, Renderer
from imitator.texture import neutral_texture
from imitator.topology import MEDIAPIPE_468
from imitator.video import VideoOptions, write_mp4

FPS = 30


def demo_sequences(seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """(generic, personal) (T, 468, 3) mm: a jaw opening at syllable rate, rounding and spreading."""
    t = np.arange(int(seconds * FPS)) / FPS
    zero = np.zeros_like(t)
    art = Articulation(jaw=np.clip(np.sin(2 * np.pi * 2 * t), 0, None) ** 1.5,
                       round=0.3 * np.clip(np.sin(2 * np.pi * 0.7 * t), 0, None),
                       spread=0.4 * np.clip(-np.sin(2 * np.pi * 0.7 * t), 0, None),
                       labiodental=zero, closure=zero, closure_frames=np.zeros(0, int), closure_intervals=[])
    rig = VisemeRig(load_faces()["retalking_2"])
    generic = rig.animate(art, SpeakerTraits(jitter=0.0))
    personal = rig.animate(art, SpeakerTraits(jaw=1.5, lips=1.4, smile=0.4, asymmetry=0.2, jitter=0.0))
    return generic, personal


def save_images(folder: str, renderer: Renderer, generic: np.ndarray, personal: np.ndarray) -> None:
    from PIL import Image

    k = int(np.argmax(np.linalg.norm(personal - personal[:1], axis=-1).mean(1)))  # widest opening
    os.makedirs(folder, exist_ok=True)
    pictures = {
        "render_frame.png": renderer.render(personal[k], renderer.camera(personal)),
        "render_side_by_side.png": renderer.side_by_side(generic[k:k + 1], personal[k:k + 1])[0],
        "render_error.png": renderer.error_map(personal[k:k + 1], generic[k:k + 1])[0],
    }
    for name, image in pictures.items():
        Image.fromarray(image).save(os.path.join(folder, name))
        print(f"wrote {os.path.join(folder, name)}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--images", help="folder to save the documentation pictures in")
    args = ap.parse_args()

    generic, personal = demo_sequences(args.seconds)
    n = len(personal)
    t = np.arange(int(args.seconds * SAMPLE_RATE)) / SAMPLE_RATE
    audio = (0.1 * np.sin(2 * np.pi * 150 * t)).astype(np.float32)
    rows = []

    start = time.perf_counter()
    renderer = Renderer()
    rows.append(("renderer start (GL context, shaders)", "", f"{time.perf_counter() - start:.2f} s"))
    renderer.render(personal[0])  # first draw compiles the shaders' machine code (and paints the neutral texture)
    gl = renderer.gl_renderer
    frames = renderer.render_frames(personal)
    for label, fn, count in [
        ("render 512x512, FXAA (default)", lambda: renderer.render_frames(personal), n),
        ("render side by side 1024x512", lambda: renderer.side_by_side(generic, personal), n),
        ("render error map 512x512", lambda: renderer.error_map(personal, generic), n),
    ]:
        s = best_of(fn, args.repeats)
        rows.append((label, f"{count / s:.0f} frames/s", f"{s:.2f} s"))
    msaa = RenderOptions(antialias="msaa")
    for label, options in (("render 512x512, no anti-aliasing", RenderOptions(antialias="none")),
                           ("render 512x512, 4x MSAA (before)", msaa),
                           ("render 512x512, 4x MSAA, face box, every pixel every frame",
                            dataclasses.replace(msaa, redraw_moved=False)),
                           ("render 512x512, 4x MSAA, whole frame every frame (before)",
                            dataclasses.replace(msaa, crop=False, redraw_moved=False))):
        with Renderer(options) as other:
            s = best_of(lambda: other.render_frames(personal), args.repeats)
            rows.append((label, f"{n / s:.0f} frames/s", f"{s:.2f} s"))

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")
        s = best_of(lambda: write_mp4(out + ".mp4", frames, FPS, audio), args.repeats)
        rows.append((f"write mp4 (H.264 + AAC), {n} frames", f"{n / s:.0f} frames/s", f"{s:.2f} s"))
        before = VideoOptions(preset="fast", prefetch=0)  # the settings before issue 17
        s = best_of(lambda: write_mp4(out + "_f.mp4", frames, FPS, audio, options=before), args.repeats)
        rows.append(("write mp4, preset fast (before)", f"{n / s:.0f} frames/s", f"{s:.2f} s"))
        rows.append(("  mp4 size, fast", "", f"{os.path.getsize(out + '_f.mp4') / 1e6:.2f} MB"))
        s = best_of(lambda: write_mp4(out + "_f.mp4", renderer.iter_frames(personal), FPS, audio, options=before),
                    args.repeats)
        rows.append(("render + write mp4, one after the other, fast (before)", f"{n / s:.0f} frames/s", f"{s:.2f} s"))
        s = best_of(lambda: write_mp4(out + "_v.mp4", frames, FPS, audio, options=VideoOptions(preset="veryfast")),
                    args.repeats)
        rows.append(("write mp4, preset veryfast (before the crop)", f"{n / s:.0f} frames/s", f"{s:.2f} s"))
        rows.append(("  mp4 size, veryfast", "", f"{os.path.getsize(out + '_v.mp4') / 1e6:.2f} MB"))
        preset = VideoOptions().preset
        s = best_of(lambda: write_mp4(out + ".mp4", renderer.iter_frames(personal), FPS, audio), args.repeats)
        rows.append((f"render + write mp4, overlapped, {preset}, RGB frames (swscale)", f"{n / s:.0f} frames/s",
                     f"{s:.2f} s"))
        planes = list(renderer.iter_frames_yuv420(personal))
        s = best_of(lambda: write_mp4(out + "_y.mp4", planes, FPS, audio, pixel_format="yuv420p"), args.repeats)
        rows.append((f"write mp4 from the renderer's YUV 4:2:0, {n} frames", f"{n / s:.0f} frames/s", f"{s:.2f} s"))
        s = best_of(lambda: write_mp4(out + ".mp4", renderer.iter_frames_yuv420(personal), FPS, audio,
                                      pixel_format="yuv420p"), args.repeats)
        rows.append((f"render + write mp4, overlapped, {preset}, YUV from the renderer (default)",
                     f"{n / s:.0f} frames/s", f"{s:.2f} s"))
        rows.append((f"  mp4 size, {preset} (default)", "", f"{os.path.getsize(out + '.mp4') / 1e6:.2f} MB"))
        for label, fn, ext in [("export NPZ", save_npz, ".npz"), ("export OBJ zip", save_obj_zip, ".zip"),
                               ("export GLB (morph targets)", save_glb, ".glb")]:
            s = best_of(lambda: fn(out + ext, personal, MEDIAPIPE_468.faces, FPS), args.repeats)
            rows.append((label, f"{os.path.getsize(out + ext) / 1e6:.2f} MB", f"{s:.2f} s"))
        face = neutral_texture()
        for label, fn, ext in [("export OBJ zip, textured avatar", save_obj_zip, "_t.zip"),
                               ("export GLB, textured avatar", save_glb, "_t.glb")]:
            s = best_of(lambda: fn(out + ext, personal, MEDIAPIPE_468.faces, FPS, texture=face), args.repeats)
            rows.append((label, f"{os.path.getsize(out + ext) / 1e6:.2f} MB", f"{s:.2f} s"))

    print(f"\nMachine: {cpu_name()}, {os.cpu_count()} cores, OpenGL renderer: {gl}; "
          f"{n} frames ({args.seconds:g} s at {FPS} fps), best of {args.repeats}\n")
    print("| step | rate / size | time |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if args.images:
        save_images(args.images, renderer, generic, personal)
    renderer.close()


if __name__ == "__main__":
    main()
