"""What tracking returns and how it is configured: TrackConfig, TrackResult (saved as .npz), PreviewFrame."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

Progress = Callable[[float, str], None]
FORMAT_VERSION = 1


@dataclass(frozen=True)
class TrackConfig:
    fps: float = 30.0                  # output frame rate
    detect_max_side: int = 1280        # frames are downscaled to this longest side before detection
    max_faces: int = 2                 # faces MediaPipe looks for; the largest one is kept
    interpupillary_mm: float = 63.0    # the scale convention: iris centre to iris centre
    min_seconds: float = 1.0           # shorter videos are refused
    max_gap_seconds: float = 0.5       # gaps without a face up to this long are interpolated
    min_face_fraction: float = 0.5     # fewer frames with a face than this fraction is an error
    depth_scale: float | None = None   # multiplies MediaPipe's z; None = estimate from head rotation
    smooth_frames: float = 1.5         # temporal smoothing (Gaussian sigma, frames); 0 = off
    smooth_keep_mm: float = 1.0        # ... but frames whose mouth/eye opening differs by >> this don't mix
    rigid_smooth_frames: float = 2.0   # the rigid vertices only move by noise: smooth them more
    template_fraction: float = 0.2     # the template is the median of this fraction of least-open frames


@dataclass
class TrackResult:
    vertices: np.ndarray      # (T, 468, 3) float32, mm, head pose removed
    template: np.ndarray      # (468, 3) float32, mm: the person's neutral face
    faces: np.ndarray         # (F, 3) int32
    fps: float
    valid: np.ndarray         # (T,) bool: face seen, or inside a gap short enough to interpolate
    detected: np.ndarray      # (T,) bool: face seen near this frame (no interpolation across a gap)
    audio: np.ndarray         # (N,) float32 mono 16 kHz, sample 0 at frame 0; empty without an audio track
    metadata: dict = field(default_factory=dict)
    preview: PreviewFrame | None = None  # one video frame with its landmarks; not saved
    texture_frame: PreviewFrame | None = None  # the frame for the face texture (478 landmarks); not saved

    @property
    def warnings(self) -> list[str]:
        return self.metadata.get("warnings", [])

    @property
    def has_audio(self) -> bool:
        return len(self.audio) > 0

    def save(self, path: str | os.PathLike) -> None:
        np.savez(path, vertices=self.vertices.astype(np.float32), template=self.template.astype(np.float32),
                 faces=self.faces.astype(np.int32), fps=np.float32(self.fps), valid=self.valid,
                 detected=self.detected, audio=self.audio.astype(np.float32),
                 metadata=np.array(json.dumps(self.metadata)))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "TrackResult":
        with np.load(path, allow_pickle=False) as z:
            return cls(vertices=z["vertices"], template=z["template"], faces=z["faces"], fps=float(z["fps"]),
                       valid=z["valid"], detected=z["detected"], audio=z["audio"],
                       metadata=json.loads(str(z["metadata"])))


@dataclass
class PreviewFrame:
    image: np.ndarray         # (H, W, 3) uint8 RGB, upright
    pixels: np.ndarray        # (468, 2) landmark positions in `image` pixels ((478, 2) with the irises)
    frame_index: int          # index into TrackResult.vertices
