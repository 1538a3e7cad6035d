"""Redraw only what moved. The camera stays put for a whole sequence, and while a face speaks the forehead,
nose and cheeks barely move (half of the vertices move less than 0.0001 mm from one frame to the next), so
each frame redraws only the box around the triangles whose vertices moved (or turned, or changed shade)
since the image last showed them; the rest of the image is kept from earlier frames."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .camera import Camera
from .crop import MARGIN, Crop

# Below these a vertex counts as still: 0.005 mm is 1/100 of a pixel at 512x512, and 0.001 in a normal or a
# shade changes a pixel by about a quarter of a level.
STILL_MM = 0.005
STILL_NORMAL = 0.001
STILL_SHADE = 0.001


@dataclass
class Shown:
    """What the image shows of each vertex of the avatar: where it was, its normal and its colour when it
    was last drawn."""

    positions: np.ndarray  # (V', 3)
    normals: np.ndarray    # (V', 3)
    colors: np.ndarray     # (V', 4)

    @classmethod
    def of(cls, positions: np.ndarray, normals: np.ndarray, colors: np.ndarray) -> "Shown":
        return cls(positions.copy(), normals.copy(), colors.copy())

    def changed(self, positions: np.ndarray, normals: np.ndarray, colors: np.ndarray) -> np.ndarray:
        """(V',) True where a vertex differs from what is shown by more than the STILL_ thresholds."""
        return ((np.abs(positions - self.positions).max(-1) > STILL_MM)
                | (np.abs(normals - self.normals).max(-1) > STILL_NORMAL)
                | (np.abs(colors - self.colors).max(-1) > STILL_SHADE))

    def update(self, which: np.ndarray, positions: np.ndarray, normals: np.ndarray, colors: np.ndarray) -> None:
        self.positions[which], self.normals[which], self.colors[which] = \
            positions[which], normals[which], colors[which]


def moved_box(changed: np.ndarray, faces: np.ndarray, shown: Shown, positions: np.ndarray, camera: Camera,
              crop: Crop, reach: int = 0) -> tuple[int, int, int, int] | None:
    """(x, y, width, height) in the crop's pixels (y down) holding every triangle with a changed vertex,
    where the image shows it and where it is now; None when nothing changed. reach: pixels more on every
    side, for a post pass whose output pixels read that far around them (FXAA)."""
    touched = np.unique(faces[changed[faces].any(1)])
    if not len(touched):
        return None
    points = np.concatenate([shown.positions[touched], positions[touched]])
    pixels = camera.project_in_front(points, crop.frame_width, crop.frame_height)
    if pixels is None:  # behind the camera: redraw it all
        return 0, 0, crop.width, crop.height
    pixels = pixels - [crop.x, crop.y]
    lo = np.clip(np.floor(pixels.min(0)).astype(int) - MARGIN - reach, 0, [crop.width, crop.height])
    hi = np.clip(np.ceil(pixels.max(0)).astype(int) + MARGIN + reach, 0, [crop.width, crop.height])
    if (hi <= lo).any():
        return None
    return int(lo[0]), int(lo[1]), int(hi[0] - lo[0]), int(hi[1] - lo[1])
