"""Anti-aliasing on llvmpipe: what each mode costs and how far its frames are from 4x MSAA (the reference).

    python -m benchmarks.compare_antialias [--style STYLE.safetensors] [--rounds 5] [--images DIR]

Renders the bundled model's 5 s of speech (with blinks; a style's face texture if given, else the neutral
one) with antialias "msaa" (4 samples), "fxaa" (at the edges), "fxaa-full" (every pixel) and "none", alternating whole sequences in one process and
keeping each mode's fastest CPU time (all of llvmpipe's threads). Prints ms per frame and, against MSAA,
PSNR and SSIM over the face's box. --images writes zoomed side-by-side crops (lips, face outline, eye:
MSAA | FXAA at the edges | FXAA everywhere | none) to look at."""
from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

import numpy as np

MODES = ("msaa", "fxaa", "fxaa-full", "none")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of the luma of two (..., H, W, 3) images, 7x7 box windows (Wang et al. 2004 constants)."""
    from scipy.ndimage import uniform_filter

    luma = lambda im: im.astype(np.float64) @ [0.299, 0.587, 0.114]  # noqa: E731
    x, y = luma(a), luma(b)
    size = (1,) * (x.ndim - 2) + (7, 7)
    mx, my = uniform_filter(x, size), uniform_filter(y, size)
    vx = uniform_filter(x * x, size) - mx * mx
    vy = uniform_filter(y * y, size) - my * my
    cxy = uniform_filter(x * y, size) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    return float(np.mean((2 * mx * my + c1) * (2 * cxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2))))


def speech_vertices() -> np.ndarray:
    from benchmarks.speed_app import five_seconds_of_speech
    from imitator import animate, load_model
    from imitator.pipeline import with_blinks

    return with_blinks(animate(five_seconds_of_speech(), model=load_model())).vertices


def zoomed(frames: dict[str, np.ndarray], boxes: dict[str, tuple[int, int, int]], zoom: int = 4) -> np.ndarray:
    """Rows: one per box (x, y, size); columns: the modes; each crop enlarged `zoom` times (nearest)."""
    rows = []
    for x, y, s in boxes.values():
        crops = [np.kron(f[y:y + s, x:x + s], np.ones((zoom, zoom, 1), np.uint8)) for f in frames.values()]
        rows.append(np.concatenate([np.pad(c, ((2, 2), (2, 2), (0, 0)), constant_values=255) for c in crops], 1))
    return np.concatenate(rows, 0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--style", type=Path, default=None, help="a style's .safetensors: render with its face")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--images", type=Path, default=None)
    args = ap.parse_args()
    from imitator.render import RenderOptions, Renderer

    texture = None
    if args.style:
        from safetensors.numpy import load_file

        texture = load_file(args.style)["texture"]
    vertices = speech_vertices()
    renderers = {m: Renderer(dataclasses.replace(RenderOptions(), antialias=m)) for m in MODES}
    frames = {m: r.render_frames(vertices, texture=texture) for m, r in renderers.items()}
    best = {m: np.inf for m in MODES}
    for _ in range(args.rounds):
        for m, r in renderers.items():
            cpu = time.process_time()
            for _ in r.iter_frames(vertices, texture=texture):
                pass
            best[m] = min(best[m], (time.process_time() - cpu) / len(vertices))
    crop = renderers["msaa"]._crop(vertices, renderers["msaa"].avatar.rest_face(vertices),
                                   renderers["msaa"].camera(vertices))
    box = (slice(None), slice(crop.y, crop.y + crop.height), slice(crop.x, crop.x + crop.width))
    print(f"{len(vertices)} frames 512x512, load average {os.getloadavg()[0]:.1f}, LP_NUM_THREADS="
          f"{os.environ.get('LP_NUM_THREADS', 'default')}; best of {args.rounds}\n")
    print("| antialias | CPU ms/frame | PSNR vs MSAA (dB) | SSIM vs MSAA | pixels > 8 levels off (%) |\n|---|---|---|---|---|")
    for m in MODES:
        a, b = frames[m][box], frames["msaa"][box]
        off = 100 * (np.abs(a.astype(int) - b).max(-1) > 8).mean()
        print(f"| {m} | {1000 * best[m]:.2f} | {psnr(a, b):.1f} | {ssim(a, b):.4f} | {off:.2f} |")
    if args.images:
        from PIL import Image

        args.images.mkdir(parents=True, exist_ok=True)
        t = int(np.argmax(np.abs(frames["msaa"].astype(int) - frames["msaa"][0]).mean((1, 2, 3))))  # mouth widest
        camera = renderers["msaa"].camera(vertices)
        from imitator.topology import MEDIAPIPE_468

        px = camera.project(vertices[t], 512, 512)
        lips = px[MEDIAPIPE_468.lip_outer].mean(0)
        left_cheek = px[np.argmin(px[:, 0])]
        eye = px[33]  # an outer eye corner (MediaPipe index 33)
        boxes = {"lips": (int(lips[0]) - 48, int(lips[1]) - 48, 96), "outline": (int(left_cheek[0]) - 24, int(left_cheek[1]) - 48, 96),
                 "eye": (int(eye[0]) - 16, int(eye[1]) - 48, 96)}
        picked = {m: frames[m][t] for m in MODES}
        Image.fromarray(zoomed(picked, boxes)).save(args.images / "antialias_zoom.png")
        Image.fromarray(np.concatenate(list(picked.values()), 1)).save(args.images / "antialias_frames.png")
        print(f"\nframe {t}: {args.images}/antialias_zoom.png (rows lips, outline, eye; columns {', '.join(MODES)})")


if __name__ == "__main__":
    main()
