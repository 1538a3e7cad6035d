"""Video -> stabilised, metric, per-frame 3D face meshes (MediaPipe 468 topology) and the aligned audio.

Stages, top to bottom (`track_video` below): decode and detect (`decode`), fix the depth scale, remove
head pose (similarity Procrustes of the rigid vertices to a reference), resample to a fixed frame rate and
fill short gaps, convert to millimetres, smooth, turn to a frontal canonical frame, and pick the neutral
template.

Conventions (also in docs/tracking.md): x to the subject's left (image right), y up, z toward the camera;
millimetres, with the distance between the two iris centres fixed to `TrackConfig.interpupillary_mm`
(63 mm, the adult mean); origin at the template's nose-bridge vertex 168.

Modules: result (TrackConfig, TrackResult), decode (video and audio in), geometry (alignment maths),
smoothing (time), preview (the picture for people).
"""
from __future__ import annotations

import os
from dataclasses import asdict

import numpy as np

from ..audio import SAMPLE_RATE
from ..errors import FaceLostError, NoFaceError, VideoTooShortError
from ..limits import Limits
from ..limits import current as current_limits
from ..topology import MEDIAPIPE_468
from .decode import detect, extract_audio
from .geometry import IRIS_CENTRES, canonical_frame, estimate_depth_scale, neutral_template, stabilise
from .preview import save_preview
from .result import FORMAT_VERSION, Notice, PreviewFrame, Progress, TrackConfig, TrackResult
from .smoothing import find_gaps, resample, smooth

__all__ = ["track_video", "TrackConfig", "TrackResult", "Notice", "PreviewFrame", "save_preview", "smooth", "stabilise",
           "estimate_depth_scale", "neutral_template"]


def track_video(path: str | os.PathLike, progress: Progress | None = None,
                config: TrackConfig = TrackConfig(), limits: Limits | None = None,
                soundtrack: np.ndarray | None = None) -> TrackResult:
    """Track the largest face in a video. Raises an ImitatorError subclass for unusable input.
    limits (default: from the environment) caps the video's length and frame size, from its header first.
    soundtrack: the video's audio track, already decoded (16 kHz mono, as load_audio gives), so a caller
    that needs it earlier decodes it once; None decodes it here."""
    progress = progress or (lambda fraction, message: None)
    det = detect(path, config, lambda f, m: progress(0.9 * f, m), limits or current_limits())
    name = os.path.basename(os.fspath(path))
    if det.duration < config.min_seconds:
        raise VideoTooShortError(f"{name} is {det.duration:.2f} s long; at least {config.min_seconds:g} s "
                                 "of a talking face is needed")
    if not det.found.any():
        raise NoFaceError(f"no face found in {name}: looked at {len(det.found)} frames")

    progress(0.9, "stabilising")
    # image axes -> ours: y up, z toward the camera
    points = det.landmarks[det.found] * np.array([1, -1, -1], np.float32)
    depth_scale = config.depth_scale or estimate_depth_scale(points)
    points[..., 2] *= depth_scale
    stable = stabilise(points, MEDIAPIPE_468.rigid)

    n_out = max(int(round(det.duration * config.fps)), 1)
    grid = np.arange(n_out) / config.fps
    vertices, detected = resample(det.times[det.found], stable, grid, config.fps)
    valid, gaps = find_gaps(detected, config.max_gap_seconds * config.fps)
    if valid.mean() < config.min_face_fraction:
        longest = max((b - a for a, b in gaps), default=0) / config.fps
        raise FaceLostError(f"the face in {name} is visible in only {100 * valid.mean():.0f}% of "
                            f"{n_out} frames (longest gap {longest:.1f} s); "
                            f"at least {100 * config.min_face_fraction:.0f}% is needed")

    mm = config.interpupillary_mm / np.median(
        np.linalg.norm(vertices[valid][:, IRIS_CENTRES[0]] - vertices[valid][:, IRIS_CENTRES[1]], axis=-1))
    vertices = vertices[:, :468] * mm
    vertices = smooth(vertices, config.smooth_frames, config.smooth_keep_mm, config.rigid_smooth_frames)
    template = neutral_template(vertices[valid], config.template_fraction)
    rotation, origin = canonical_frame(template)
    vertices = (vertices - origin) @ rotation.T
    template = (template - origin) @ rotation.T

    progress(0.95, "extracting audio")
    audio, warnings = extract_audio(path, det.audio_offset, n_out / config.fps, soundtrack)
    warnings += det.warnings
    warnings += [Notice("face_lost", f"no face from {a / config.fps:.2f} s to {b / config.fps:.2f} s "
                                     f"(frames {a}-{b - 1}): those frames are not used")
                 for a, b in gaps if b - a > config.max_gap_seconds * config.fps]
    metadata = {
        "format_version": FORMAT_VERSION, "topology": MEDIAPIPE_468.name, "source": det.source,
        "units": "mm", "axes": "x subject's left, y up, z toward camera",
        "scale_convention": f"iris centre distance = {config.interpupillary_mm} mm",
        "depth_scale": float(depth_scale), "mm_per_unit": float(mm),
        "frames_looked_at": int(len(det.found)), "frames_with_face": int(det.found.sum()),
        "gaps": [[int(a), int(b)] for a, b in gaps], "audio_sample_rate": SAMPLE_RATE,
        "audio_offset_s": float(det.audio_offset),
        "config": asdict(config), "warnings": [asdict(w) for w in warnings],
    }
    preview, texture_frame = [
        None if found is None else PreviewFrame(found[0], found[1], int(np.clip(round(found[2] * config.fps), 0, n_out - 1)))
        for found in (det.preview, det.texture_frame)]
    progress(1.0, "done")
    return TrackResult(vertices=vertices.astype(np.float32), template=template.astype(np.float32),
                       faces=MEDIAPIPE_468.faces, fps=float(config.fps), valid=valid, detected=detected,
                       audio=audio, metadata=metadata, preview=preview, texture_frame=texture_frame)
