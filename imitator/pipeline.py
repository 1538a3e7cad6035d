"""The two things people do with imitator, as plain functions that the CLI, the app and the tests share:

    create_style(video, name)   video -> tracked meshes + audio -> two-stage adaptation -> style file
    animate(audio, style)       audio -> meshes in that style (numpy), ready to render or export
"""
from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .adapt import AdaptConfig, adapt
from .audio import SAMPLE_RATE, AudioLimits, check_audio, load_audio
from .checkpoint import load_model
from .errors import ImitatorError, NoAudioStreamError
from .inference import features
from .model import Imitator
from .style_store import check_name, load_style, save_style
from .styles import Style
from .topology import get_topology

Progress = Callable[[float, str], None]


@dataclass
class Animation:
    vertices: np.ndarray  # (T, V, 3) float32, mm
    faces: np.ndarray  # (F, 3) int32
    fps: float
    audio: np.ndarray  # (N,) float32, 16 kHz: the speech the animation says
    style: str
    generic: np.ndarray | None = None  # (T, V, 3): the generic model's motion on the same face, if asked
    topology: str = "mediapipe468"  # the mesh's topology (imitator.topology), for the renderer


@functools.lru_cache(maxsize=2)
def default_model(path: str | None = None) -> Imitator:
    """load_model(path), loaded once per process: the app and the CLI call this for every request."""
    return load_model(path)


def animate(audio: np.ndarray | str | os.PathLike, style: str | Style | None = None,
            model: Imitator | None = None, user_dir: str | os.PathLike | None = None,
            compare_generic: bool = False) -> Animation:
    """Speech (16 kHz samples or any audio/video file) -> meshes. style: a style name, a Style, a training
    style name of the model, or None for the model's generic (mean) style on its mean face.
    compare_generic: also decode the generic style on the same face (for side-by-side videos)."""
    model = model or default_model()
    if not isinstance(audio, np.ndarray):
        audio = load_audio(audio)
    else:
        check_audio(audio)
    label = "generic"
    vector, basis, template = None, None, None
    if isinstance(style, str) and style in model.cfg.style_names:
        vector, label = style, style
    elif style is not None:
        st = style if isinstance(style, Style) else load_style(style, model_id=model.model_id or None,
                                                                 user_dir=user_dir)
        vector, basis, template = st.apply(model)
        label = st.name
    with torch.inference_mode():
        feats = features(model, audio)
        visemes = model.visemes(feats, vector)
        verts = model.motion(visemes, vector, template, basis)[0].cpu().numpy()
        generic = None
        if compare_generic:  # Imitator's visemes do not depend on the style: decode them once
            generic_visemes = model.visemes(feats) if model.style_in_visemes else visemes
            generic = model.motion(generic_visemes, None, template)[0].cpu().numpy()
    return Animation(verts.astype(np.float32), get_topology(model.cfg.topology).faces, model.cfg.fps, audio, label,
                     generic, model.cfg.topology)


def render_video(anim: Animation, path: str | os.PathLike) -> Path:
    """The animation as an H.264 + AAC mp4 with its speech; side by side with the generic motion if present."""
    from .render import shared_renderer
    from .video import write_mp4

    renderer = shared_renderer(mesh=get_topology(anim.topology))
    if anim.generic is not None:
        frames = renderer.iter_side_by_side(anim.generic, anim.vertices, labels=("generic", anim.style))
    else:
        frames = renderer.iter_frames(anim.vertices)
    write_mp4(path, frames, anim.fps, anim.audio)
    return Path(path)


def create_style(video: str | os.PathLike, name: str, model: Imitator | None = None,
                 progress: Progress | None = None, config: AdaptConfig = AdaptConfig(),
                 description: str = "", user_dir: str | os.PathLike | None = None, save: bool = True,
                 overwrite: bool = False, preview: str | os.PathLike | None = None,
                 transcript: str = "") -> Style:
    """A talking-head video (or a tracked .npz from `imitator track`) -> a saved style.

    Progress: tracking takes the first half of the bar, the two adaptation stages the second.
    preview: also write a PNG of the tracked mesh over a video frame (not for .npz input).
    transcript: the words spoken, if known; otherwise Whisper transcribes them to find the lip closures."""
    from .lips import label_reference
    from .tracking import TrackResult, save_preview, track_video

    name = check_name(name)
    model = model or default_model()
    report = progress or (lambda fraction, message: None)
    path = Path(video)
    if path.suffix.lower() == ".npz":
        tracked = TrackResult.load(path)
    else:
        tracked = track_video(path, progress=lambda f, m: report(0.5 * f, m))
    if not tracked.has_audio:
        raise NoAudioStreamError(f"{path.name} has no audio track: a style is learned from the face moving "
                                 "with its speech, so the video must have sound")
    check_audio(tracked.audio, AudioLimits(min_seconds=1.0), name=path.name)
    if preview is not None and tracked.preview is not None:
        save_preview(tracked, preview)
    vertices, audio = _longest_valid_run(tracked)
    total = config.stage1_steps + (config.stage2_steps if config.stages == "both" else 0)
    offset = {"stage 1": 0, "stage 2": config.stage1_steps, "basis only": 0}

    def on_step(stage: str, step: int, steps: int, loss: float) -> None:
        report(0.5 + 0.5 * (offset[stage] + step) / total, f"{stage}: step {step}, loss {loss:.3f} mm²")

    lip_weights, lip_note = None, "lip-contact term off"
    if config.lip_weight:
        report(0.5, "finding lip closures (m, b, p) in the speech")
        lip_weights, lip_note = label_reference(vertices, audio, model.cfg.fps, transcript=transcript)
    result = adapt(model, audio, vertices, tracked.template, config, on_step, lip_weights=lip_weights)
    result.fit["lip_labels"] = lip_note
    source = f"{path.name} sha256:{_file_hash(path)}"
    style = Style.from_adaptation(model, result, name, description, source)
    if save:
        save_style(style, user_dir, overwrite=overwrite)
    report(1.0, f"style {name!r} ready (fit error {result.fit['fit_l2_mm']:.2f} mm)")
    return style


def _longest_valid_run(tracked) -> tuple[np.ndarray, np.ndarray]:
    """Frames of the longest stretch where the face was tracked, and the audio under them."""
    valid = np.asarray(tracked.valid, bool)
    best, start = (0, 0), None
    for i, v in enumerate(np.append(valid, False)):
        if v and start is None:
            start = i
        elif not v and start is not None:
            best = max(best, (i - start, start))
            start = None
    length, first = best
    if length < tracked.fps:  # under a second of usable face
        raise ImitatorError(f"the face was tracked for only {length / tracked.fps:.1f} s in a row; "
                            "at least 1 s is needed to learn a style")
    per_frame = SAMPLE_RATE / tracked.fps
    audio = tracked.audio[int(first * per_frame): int((first + length) * per_frame)]
    return tracked.vertices[first:first + length], audio


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]
