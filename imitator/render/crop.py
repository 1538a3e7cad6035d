"""The part of the frame a sequence can touch: llvmpipe's cost grows with pixels, and the face covers about
half of the frame, so only this box is drawn; the rest of the frame is the background, drawn once."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from .camera import Camera

MARGIN = 2  # pixels around the projected vertices: a triangle's MSAA samples lie inside the pixels it touches
STEP = 32   # box sides round up to a multiple of this, so one sequence after another reuses framebuffers


@dataclass(frozen=True)
class Crop:
    """A box of the frame in image pixels (x right, y down from the top-left), and the frame's size."""

    x: int
    y: int
    width: int
    height: int
    frame_width: int
    frame_height: int

    @classmethod
    def full(cls, width: int, height: int) -> "Crop":
        return cls(0, 0, width, height, width, height)

    @property
    def is_full(self) -> bool:
        return (self.width, self.height) == (self.frame_width, self.frame_height)

    @property
    def viewport(self) -> tuple[int, int, int, int]:
        """The GL viewport (origin at the bottom-left) that draws the whole frame shifted so that this box
        lands on a framebuffer of the box's size: the projection and every pixel centre stay as they are in
        the full frame, so the box's pixels equal the full render's."""
        return (-self.x, self.y + self.height - self.frame_height, self.frame_width, self.frame_height)

    def paste(self, box: np.ndarray, frame: np.ndarray) -> np.ndarray:
        """Write `box` ((height, width, 3), rows top-down) into `frame` in place; returns `frame`."""
        frame[self.y:self.y + self.height, self.x:self.x + self.width] = box
        return frame


def fit_crop(camera: Camera, meshes: Iterable[np.ndarray], width: int, height: int,
             margin: int = MARGIN, step: int = STEP) -> Crop:
    """The smallest box (sides rounded up to `step`, within the frame) holding every vertex of `meshes`
    (arrays (..., 3) in world mm) seen through `camera`; the whole frame when a vertex is behind the camera."""
    lo, hi = np.array([np.inf, np.inf]), np.array([-np.inf, -np.inf])
    for points in meshes:
        pixels = camera.project_in_front(points, width, height)
        if pixels is None:
            return Crop.full(width, height)
        lo, hi = np.minimum(lo, pixels.min(0)), np.maximum(hi, pixels.max(0))
    if not np.isfinite(lo).all():
        return Crop.full(width, height)
    frame = np.array([width, height])
    lo = np.clip(np.floor(lo).astype(int) - margin, 0, frame)
    lo -= lo % 2  # even: the frame's 2x2 chroma blocks of YUV 4:2:0 video stay whole inside the box
    hi = np.clip(np.ceil(hi).astype(int) + margin, 0, frame)
    size = np.minimum(-(-np.maximum(hi - lo, 1) // step) * step, frame)
    lo = np.minimum(lo, frame - size)  # grown past the right or bottom edge: slide back inside
    return Crop(int(lo[0]), int(lo[1]), int(size[0]), int(size[1]), width, height)
