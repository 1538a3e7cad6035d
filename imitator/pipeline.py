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

from .adapt import AdaptConfig, AdaptResult, adapt, fit_summary
from .audio import AudioLimits, check_audio, load_audio
from .checkpoint import load_model
from .errors import ImitatorError, NoAudioStreamError
from .inference import audio_features
from .model import Imitator
from .styles import Style, StyleMeta, check_name, load_style, save_style
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


@functools.lru_cache(maxsize=2)
def default_model(path: str | None = None) -> Imitator:
    """Loaded once per process (the app and the CLI call this for every request), on the GPU if any.
    Default: $IMITATOR_MODEL if set, else the bundled model."""
    path = path or os.environ.get("IMITATOR_MODEL") or None
    return load_model(path, device="cuda" if torch.cuda.is_available() else "cpu")


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
        st = style if isinstance(style, Style) else load_style(style, model_id=getattr(model, "model_id", None),
                                                                 user_dir=user_dir)
        vector, basis, template = apply_style(model, st)
        label = st.name
    with torch.inference_mode():
        visemes = model.viseme_decoder(audio_features(model, audio))
        verts = model.decode_motion(visemes, vector, template, basis=basis)[0].cpu().numpy()
        generic = model.decode_motion(visemes, None, template)[0].cpu().numpy() if compare_generic else None
    return Animation(verts.astype(np.float32), get_topology(model.cfg.topology).faces, model.cfg.fps, audio, label,
                     generic)


def render_video(anim: Animation, path: str | os.PathLike) -> Path:
    """The animation as an H.264 + AAC mp4 with its speech; side by side with the generic motion if present."""
    from .render import shared_renderer
    from .video import write_mp4

    renderer = shared_renderer()
    if anim.generic is not None:
        frames = renderer.iter_side_by_side(anim.generic, anim.vertices, labels=("generic", anim.style))
    else:
        frames = renderer.iter_frames(anim.vertices)
    write_mp4(path, frames, anim.fps, anim.audio)
    return Path(path)


def apply_style(model: Imitator, style: Style):
    """A style file -> (style vector, deformation basis, template) for Imitator.decode_motion."""
    device = model.template.device
    basis = None
    if style.basis_weight_delta is not None:
        basis = torch.nn.Linear(model.cfg.d_model, 3 * model.cfg.n_vertices).to(device)
        generic = model.motion_decoder.basis
        with torch.no_grad():
            basis.weight.copy_(generic.weight + style.basis_weight_delta.to(device))
            basis.bias.copy_(generic.bias + style.basis_bias_delta.to(device))
    if style.template.shape != (model.cfg.n_vertices, 3):
        raise ImitatorError(f"style {style.name!r} has {style.template.shape[0]} vertices; "
                            f"the model has {model.cfg.n_vertices}")
    return style.vector.to(device)[None], basis, style.template.to(device)


def style_from_adaptation(model: Imitator, result: AdaptResult, name: str, description: str = "",
                          source: str = "") -> Style:
    generic = model.motion_decoder.basis
    meta = StyleMeta(name=name, description=description, source=source,
                     model_id=getattr(model, "model_id", ""), fit=result.fit)
    return Style(meta, result.template.cpu(), result.style.cpu(),
                 (result.basis.weight - generic.weight).detach().cpu(),
                 (result.basis.bias - generic.bias).detach().cpu())


def create_style(video: str | os.PathLike, name: str, model: Imitator | None = None,
                 progress: Progress | None = None, config: AdaptConfig = AdaptConfig(),
                 description: str = "", user_dir: str | os.PathLike | None = None, save: bool = True,
                 overwrite: bool = False, preview: str | os.PathLike | None = None,
                 transcript: str = "") -> Style:
    """A talking-head video (or a tracked .npz from `imitator track`) -> a saved style.

    Progress: tracking takes the first half of the bar, the two adaptation stages the second.
    preview: also write a PNG of the tracked mesh over a video frame (not for .npz input).
    transcript: the words spoken, if known; otherwise Whisper transcribes them to find the lip closures.

    Where a closure is labelled, the reference is made contact-true before fitting (imitator.contact): the
    tracker's inner lips rarely meet even when the lips are shut, and a style fitted to that gap would never
    close the mouth on m, b and p."""
    from .contact import close_lips
    from .lips import label_frames, label_reference
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

    lip_weights, lip_note, closed = None, "lip-contact term off", 0
    if config.lip_weight:
        report(0.5, "finding lip closures (m, b, p) in the speech")
        lip_weights, lip_note = label_reference(vertices, audio, model.cfg.fps, transcript=transcript)
        if lip_weights is not None:
            contact = close_lips(vertices, tracked.template, label_frames(lip_weights))
            vertices, closed = contact.vertices, len(contact.corrected)
    result = adapt(model, audio, vertices, tracked.template, config, on_step, lip_weights=lip_weights)
    result.fit.update(lip_labels=lip_note, closures_made_contact_true=closed)
    source = f"{path.name} sha256:{_file_hash(path)}"
    style = style_from_adaptation(model, result, name, description, source)
    if save:
        save_style(style, user_dir, overwrite=overwrite)
    report(1.0, f"style {name!r} ready: {fit_summary(result.fit)}")
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
    per_frame = 16000 / tracked.fps
    audio = tracked.audio[int(first * per_frame): int((first + length) * per_frame)]
    return tracked.vertices[first:first + length], audio


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]
