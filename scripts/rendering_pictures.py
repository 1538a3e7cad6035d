"""The pictures of docs/rendering.md: for each video, the video frame the face texture came from next to our
render of the person's style (at rest and speaking), and the generic model's neutral face.

    IMITATOR_STYLE_DIR=styles_dir python scripts/rendering_pictures.py VIDEO... [--speech jfk.flac] [--out docs/images]

Each VIDEO must have a style of the same name (its file stem) made first with
`python -m imitator create-style VIDEO --name STEM`. The video is tracked again here, only to show the frame.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from imitator.pipeline import animate
from imitator.render import RenderOptions, Renderer
from imitator.style_store import load_style
from imitator.topology import lip_distance

PANEL = 320


def face_crop(image: np.ndarray, pixels: np.ndarray, size: int = PANEL) -> np.ndarray:
    """A square crop around the landmarks, framed like our renders (the face spans ~72 % of the height)."""
    lo, hi = pixels[:468].min(0), pixels[:468].max(0)
    centre, side = (lo + hi) / 2, (hi - lo).max() / 0.72
    box = (*(centre - side / 2).round().astype(int), *(centre + side / 2).round().astype(int))
    return np.asarray(Image.fromarray(image).crop(box).resize((size, size), Image.LANCZOS))


def labelled(panels: list[np.ndarray], labels: list[str]) -> Image.Image:
    strip = Image.fromarray(np.concatenate(panels, axis=1))
    draw, font = ImageDraw.Draw(strip), ImageFont.load_default(size=15)
    for i, text in enumerate(labels):
        x = i * PANEL + 8
        box = draw.textbbox((x, 6), text, font=font)
        draw.rectangle((box[0] - 4, box[1] - 3, box[2] + 4, box[3] + 3), fill=(0, 0, 0))
        draw.text((x, 6), text, font=font, fill=(235, 235, 235))
    return strip


def speaking_frame(anim) -> int:
    """A frame with the mouth well open (the 90th percentile of the lip distance), eyes open."""
    d = lip_distance(anim.vertices)
    return int(np.argsort(d)[int(0.9 * (len(d) - 1))])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("videos", nargs="+")
    ap.add_argument("--speech", default="../shared/data/audio/jfk.flac")
    ap.add_argument("--out", default="docs/images")
    args = ap.parse_args()
    from imitator.tracking import track_video

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with Renderer(RenderOptions(width=PANEL, height=PANEL)) as renderer:
        for video in args.videos:
            name = Path(video).stem
            frame = track_video(video).texture_frame
            style = load_style(name)
            anim = animate(args.speech, style=style)
            k = speaking_frame(anim)
            camera = renderer.camera(anim.vertices)
            panels = [face_crop(frame.image, frame.pixels),
                      renderer.render(style.template.numpy(), camera, texture=anim.texture),
                      renderer.render(anim.vertices[k], camera, texture=anim.texture)]
            path = out / f"likeness_{name}.png"
            labelled(panels, ["video frame", f"style {name!r}, at rest", "speaking (jfk.flac)"]).save(path, optimize=True)
            print(f"wrote {path}")
        anim = animate(args.speech)
        camera = renderer.camera(anim.vertices)
        k = speaking_frame(anim)
        from imitator.pipeline import default_model

        panels = [renderer.render(default_model().template.cpu().numpy(), camera),
                  renderer.render(anim.vertices[k], camera)]
        path = out / "likeness_generic.png"
        labelled(panels, ["generic model, at rest", "speaking (jfk.flac)"]).save(path, optimize=True)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
