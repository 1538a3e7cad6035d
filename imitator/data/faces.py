"""Face shapes for synthetic identities: real faces tracked from video, then varied.

The real shapes ship with the package (`faces.npz`: one neutral template per source video, MediaPipe 468,
millimetres), so the corpus can be regenerated without the videos. To rebuild that file from videos:

    python -m imitator.data.faces /path/to/videos/*.mp4
"""
from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

import numpy as np

from ..topology import MEDIAPIPE_468, Topology

_ASSET = "faces.npz"


def load_faces() -> dict[str, np.ndarray]:
    """The shipped real face templates, {source video name: (468, 3) float32 mm}, in a fixed order."""
    with (resources.files("imitator.data") / _ASSET).open("rb") as f, np.load(f, allow_pickle=False) as z:
        return {k: z[k].astype(np.float32) for k in sorted(z.files)}


def track_faces(videos: list[str | Path]) -> dict[str, np.ndarray]:
    """Neutral templates of the faces in `videos` (videos where tracking fails are skipped, with a note)."""
    from ..tracking import track_video

    faces = {}
    for path in videos:
        try:
            faces[Path(path).stem] = track_video(path).template.astype(np.float32)
        except ValueError as e:  # the tracker's user errors: no face, too short, unreadable
            print(f"skipping {path}: {e}", file=sys.stderr)
    return faces


def vary_face(faces: list[np.ndarray], i: int, rng: np.random.Generator, blend: bool,
              topology: Topology = MEDIAPIPE_468) -> tuple[np.ndarray, dict]:
    """A new face from real face `i`, (with `blend`, mixed with another), rescaled in width, height and
    depth, with the mouth made wider or narrower. Returns the face and how it was made."""
    recipe: dict = {"faces": [i], "weights": [1.0]}
    face = faces[i].astype(np.float64)
    if blend and len(faces) > 1:
        j = int((i + 1 + rng.integers(len(faces) - 1)) % len(faces))
        w = float(rng.uniform(0.3, 0.7))
        face = (1 - w) * face + w * faces[j]
        recipe = {"faces": [i, j], "weights": [1 - w, w]}
    scale = rng.uniform([0.92, 0.93, 0.88], [1.08, 1.07, 1.12])
    centre = face.mean(0)
    face = centre + (face - centre) * scale
    # Mouth width: stretch x around the mouth centre, fading out over a few centimetres.
    mouth = face[topology.lip_inner].mean(0)
    d = np.linalg.norm(face - mouth, axis=1)
    width = float(rng.uniform(0.9, 1.12))
    face[:, 0] += (width - 1) * (face[:, 0] - mouth[0]) * np.exp(-(d / 30.0) ** 2)
    recipe.update(scale=[float(s) for s in scale], mouth_width=width)
    return face.astype(np.float32), recipe


def main(argv: list[str]) -> None:
    faces = track_faces(argv)
    if not faces:
        sys.exit("no face could be tracked")
    out = Path(str(resources.files("imitator.data"))) / _ASSET
    np.savez(out, **faces)
    print(f"wrote {len(faces)} faces to {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
