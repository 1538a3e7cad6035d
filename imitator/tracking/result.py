"""What tracking returns and how it is configured: TrackConfig, TrackResult (saved as .npz), PreviewFrame."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..audio import SAMPLE_RATE
from ..errors import TrackedFileError
from ..limits import Limits
from ..limits import current as current_limits

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
    def warnings(self) -> list[Notice]:
        """What the user should know about this result (two faces, face lost, truncated file ...)."""
        return [Notice.from_json(w) for w in self.metadata.get("warnings", [])]

    @property
    def has_audio(self) -> bool:
        return len(self.audio) > 0

    def save(self, path: str | os.PathLike) -> None:
        np.savez(path, vertices=self.vertices.astype(np.float32), template=self.template.astype(np.float32),
                 faces=self.faces.astype(np.int32), fps=np.float32(self.fps), valid=self.valid,
                 detected=self.detected, audio=self.audio.astype(np.float32),
                 metadata=np.array(json.dumps(self.metadata)))

    @classmethod
    def load(cls, path: str | os.PathLike, limits: Limits | None = None) -> "TrackResult":
        """Read a tracked .npz. Every array's shape and dtype is checked from its header before it is
        decompressed (a small compressed file can claim gigabytes), and its values after."""
        return _load_tracked(path, limits or current_limits())


@dataclass(frozen=True)
class Notice:
    """A structured warning: `code` for programs (two_faces, face_lost, truncated, no_audio, silent_audio),
    `message` for people. str() is the message."""
    code: str
    message: str

    def __str__(self) -> str:
        return self.message

    @classmethod
    def from_json(cls, value) -> "Notice":
        return cls(value.get("code", "other"), value.get("message", "")) if isinstance(value, dict) \
            else cls("other", str(value))  # files written before warnings had codes


@dataclass
class PreviewFrame:
    image: np.ndarray         # (H, W, 3) uint8 RGB, upright
    pixels: np.ndarray        # (468, 2) landmark positions in `image` pixels ((478, 2) with the irises)
    frame_index: int          # index into TrackResult.vertices


_TRACKED_ARRAYS = {  # name: (dtype kinds, shape with -1 for T and -2 for audio samples)
    "vertices": ("f", (-1, 468, 3)), "template": ("f", (468, 3)), "faces": ("iu", (None, 3)), "fps": ("f", ()),
    "valid": ("b", (-1,)), "detected": ("b", (-1,)), "audio": ("f", (-2,)), "metadata": ("U", ()),
}


def _load_tracked(path, limits: Limits) -> TrackResult:
    import zipfile

    name = os.path.basename(os.fspath(path))
    max_frames = int(limits.max_video_seconds * 60) + 1  # up to 60 fps
    max_samples = int(limits.max_audio_seconds * SAMPLE_RATE) + 1
    try:
        with zipfile.ZipFile(path) as z:
            headers = {}
            for info in z.infolist():
                key = info.filename.removesuffix(".npy")
                if key not in _TRACKED_ARRAYS:
                    continue
                with z.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    shape, _, dtype = np.lib.format._read_array_header(f, version)
                headers[key] = (shape, dtype)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise TrackedFileError(f"{name} is not a tracked .npz from `imitator track` ({e.__class__.__name__})") from e
    missing = sorted(set(_TRACKED_ARRAYS) - set(headers))
    if missing:
        raise TrackedFileError(f"{name} is not a tracked .npz from `imitator track`: it lacks {missing}")
    for key, (kinds, want) in _TRACKED_ARRAYS.items():
        shape, dtype = headers[key]
        sizes = {-1: max_frames, -2: max_samples}
        ok = dtype.kind in kinds and len(shape) == len(want) and all(
            (w is None and s <= 10 * max_frames) or (w in sizes and s <= sizes[w]) or s == w
            for s, w in zip(shape, want))
        if not ok:
            raise TrackedFileError(f"{name}: array '{key}' is {dtype} {shape}; expected {kinds} {want} "
                                   f"(at most {max_frames} frames and {limits.max_audio_seconds:g} s of audio)")
    try:
        with np.load(path, allow_pickle=False) as z:
            result = TrackResult(vertices=z["vertices"], template=z["template"], faces=z["faces"],
                                 fps=float(z["fps"]), valid=z["valid"], detected=z["detected"], audio=z["audio"],
                                 metadata=json.loads(str(z["metadata"])))
    except (ValueError, OSError, json.JSONDecodeError, RecursionError) as e:
        raise TrackedFileError(f"{name}: a tracked array could not be read ({e.__class__.__name__})") from e
    t = len(result.vertices)
    if not (len(result.valid) == len(result.detected) == t) or not 1 <= result.fps <= 240:
        raise TrackedFileError(f"{name}: its arrays disagree on the number of frames, or its fps is absurd")
    if not (np.isfinite(result.vertices).all() and np.isfinite(result.template).all()
            and np.isfinite(result.audio).all()) or not isinstance(result.metadata, dict):
        raise TrackedFileError(f"{name} holds NaN or infinite values, or damaged metadata")
    return result
