"""The two things people do with imitator, as plain functions that the CLI, the app and the tests share:

    create_style(video, name)   video -> tracked meshes + audio -> two-stage adaptation -> style file
    animate(audio, style)       audio -> meshes in that style (numpy), ready to render or export
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
from contextlib import closing
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .adapt import AdaptConfig, adapt, fit_summary
from .audio import SAMPLE_RATE, AudioLimits, check_audio, decode_audio, load_audio, to_mono_16k
from .blinks import BlinkConfig, apply_blinks, blink_closure
from .export import GlbOptions
from .checkpoint import load_model
from .errors import ImitatorError, ModelOutputError, NoAudioStreamError, OutputWriteError, VideoTooShortError
from .inference import features, with_closures
from .lazy import cached_once
from .limits import check_upload
from .model import Imitator
from .progress import Progress, StageBar
from .style_store import StyleNameTakenError, check_name, list_styles, load_style, save_style
from .styles import Style
from .topology import get_topology

MIN_SELFIE_SECONDS = 3.0  # under this a style learns from too few mouth shapes (5-10 s is best)


@dataclass
class Animation:
    vertices: np.ndarray  # (T, V, 3) float32, mm
    faces: np.ndarray  # (F, 3) int32
    fps: float
    audio: np.ndarray  # (N,) float32, 16 kHz: the speech the animation says
    style: str
    generic: np.ndarray | None = None  # (T, V, 3): the generic model's motion on the same face, if asked
    texture: np.ndarray | None = None  # (S, S, 3) uint8 face texture (imitator.texture); None = the neutral one
    topology: str = "mediapipe468"  # the mesh's topology (imitator.topology), for the renderer
    sound: np.ndarray | None = None  # the speech at its own sample rate, for the video's soundtrack
    sound_rate: int = SAMPLE_RATE
    speech_name: str = "speech"  # the speech file's name without extension, for download names


def default_model(path: str | None = None) -> Imitator:
    """load_model(path), loaded once per process: the app and the CLI call this for every request, and
    concurrent first calls share one load. None: $IMITATOR_MODEL if set, else the bundled model."""
    return _load_model_once(path if path is not None else os.environ.get("IMITATOR_MODEL") or None)


@cached_once
def _load_model_once(path: str | None) -> Imitator:
    return load_model(path)


default_model.cache_clear = _load_model_once.cache_clear  # type: ignore[attr-defined] (tests)


def animate(audio: np.ndarray | str | os.PathLike, style: str | Style | None = None,
            model: Imitator | None = None, user_dir: str | os.PathLike | None = None,
            compare_generic: bool = False, owner: str | None = None) -> Animation:
    """Speech (16 kHz samples or any audio/video file) -> meshes. style: a style name, a Style, a training
    style name of the model, or None for the model's generic (mean) style on its mean face.
    compare_generic: also decode the generic style on the same face (for side-by-side videos).
    owner: whose styles a style name means (the app's session token; None: the local user's)."""
    model = model or default_model()
    sound, sound_rate, speech_name, file_name = None, SAMPLE_RATE, "speech", "the audio"
    if not isinstance(audio, np.ndarray):
        if not isinstance(audio, (bytes, bytearray)):
            check_upload(audio)
            speech_name, file_name = Path(audio).stem, Path(audio).name
        sound, sound_rate = decode_audio(audio)
        audio = to_mono_16k(sound, sound_rate)
    check_audio(audio, name=file_name)
    label = "generic"
    vector, basis, template, texture = None, None, None, None
    if isinstance(style, str) and style in model.cfg.style_names:
        vector, label = style, style
    elif style is not None:
        st = style if isinstance(style, Style) else load_style(style, model_id=model.model_id or None,
                                                                 user_dir=user_dir, owner=owner)
        vector, basis, template = st.apply(model)
        label = st.name
        texture = st.texture.numpy() if st.texture is not None else None
    with torch.inference_mode():
        feats = features(model, audio)
        visemes = model.visemes(feats, vector)
        verts = with_closures(model, feats, model.motion(visemes, vector, template, basis)[0].cpu().numpy(), template)
        generic = None
        if compare_generic:  # Imitator's visemes do not depend on the style: decode them once
            generic_visemes = model.visemes(feats) if model.style_in_visemes else visemes
            generic = with_closures(model, feats, model.motion(generic_visemes, None, template)[0].cpu().numpy(),
                                    template)
    if not np.isfinite(verts).all() or (generic is not None and not np.isfinite(generic).all()):
        raise ModelOutputError(f"the model produced NaN or infinite vertices with style {label!r}; "
                               "the style or the model checkpoint is damaged")
    return Animation(verts.astype(np.float32), get_topology(model.cfg.topology).faces, model.cfg.fps, audio, label,
                     generic, texture, topology=model.cfg.topology, sound=sound, sound_rate=sound_rate,
                     speech_name=speech_name)


def with_blinks(anim: Animation, config: BlinkConfig = BlinkConfig()) -> Animation:
    """The animation with eye blinks added (the same blinks on its generic comparison); unchanged on a
    topology without eyelid contours (e.g. FLAME built from its region file)."""
    topology = get_topology(anim.topology)
    if len(topology.left_eye) < 3 or len(topology.right_eye) < 3:
        return anim
    closure = blink_closure(len(anim.vertices), anim.fps, config)
    generic = apply_blinks(anim.generic, closure, topology) if anim.generic is not None else None
    return dataclasses.replace(anim, vertices=apply_blinks(anim.vertices, closure, topology), generic=generic)


def render_video(anim: Animation, path: str | os.PathLike, blinks: bool = True,
                 progress: Progress | None = None) -> Path:
    """The animation as an H.264 + AAC mp4 with its speech at the speech's own sample rate; side by side with
    the generic motion if present. blinks: add eye blinks (the model does not move the eyes).
    progress: reported every 10 frames (about every 0.3 s here)."""
    from .render import shared_renderer
    from .video import VideoOptions, prefetched, write_mp4

    anim = with_blinks(anim) if blinks else anim
    renderer = shared_renderer(mesh=get_topology(anim.topology))
    if anim.generic is not None:
        frames = renderer.iter_side_by_side(anim.generic, anim.vertices, labels=("generic", anim.style),
                                            texture=anim.texture)
        pixel_format = "rgb24"
    else:  # converted to the encoder's YUV by the renderer, only where a frame was redrawn
        frames = renderer.iter_frames_yuv420(anim.vertices, texture=anim.texture)
        pixel_format = "yuv420p"
    bar = StageBar(progress, {"rendering": 1.0})
    sound, rate = (anim.sound, anim.sound_rate) if anim.sound is not None else (anim.audio, SAMPLE_RATE)
    options = VideoOptions()
    try:  # frames rendered in a background thread while x264 encodes; progress reported from this thread
        with closing(prefetched(frames, options.prefetch)) as ahead:
            write_mp4(path, bar.counted("rendering", ahead, len(anim.vertices), every=10), anim.fps, sound, rate,
                      options=dataclasses.replace(options, prefetch=0), pixel_format=pixel_format)
    except OSError as e:  # disk full, folder gone: the user's to fix, not a crash
        raise OutputWriteError(f"could not write the video to {path}: {e.strerror or e}") from e
    return Path(path)


def export_animation(anim: Animation, npz=None, glb=None, obj_zip=None, blinks: bool = False,
                     glb_options: GlbOptions = GlbOptions(), progress: Progress | None = None) -> list[str]:
    """Write the animation's meshes to the given files (NPZ: the meshes; GLB and OBJ zip: the textured
    avatar). blinks: add eye blinks to the meshes (off by default: exported motion is the model's own).
    progress: reported before each file. Returns notes for people (e.g. frames left out of the GLB)."""
    from . import export
    from .texture import neutral_texture

    anim = with_blinks(anim) if blinks else anim
    texture = anim.texture if anim.texture is not None else neutral_texture()
    writers = {npz: lambda p: export.save_npz(p, anim.vertices, anim.faces, anim.fps),
               obj_zip: lambda p: export.save_obj_zip(p, anim.vertices, anim.faces, anim.fps, texture=texture),
               glb: lambda p: export.save_glb(p, anim.vertices, anim.faces, anim.fps, glb_options, texture=texture)}
    todo = [(path, write) for path, write in writers.items() if path]
    bar, notes = StageBar(progress, {"exporting": 1.0}), []
    for done, (path, write) in enumerate(todo):
        bar.update("exporting", done, len(todo), unit="files", note=f"writing {Path(path).suffix.lstrip('.').upper()}",
                   estimate=False)
        note = write(path)
        notes += [note] if note else []
    bar.update("exporting", len(todo), len(todo), unit="files")
    return notes


def download_stem(anim: Animation) -> str:
    """File names people recognise: the style and the speech, e.g. 'Ava - bob_bought_a_map'."""
    return f"{anim.style} - {anim.speech_name}".replace("/", "_").replace("\\", "_")


def export_downloads(anim: Animation, folder: str | os.PathLike,
                     progress: Progress | None = None) -> tuple[dict[str, Path], list[str]]:
    """NPZ, a zip of OBJs and an animated GLB in `folder`, named after the style and the speech."""
    folder, stem = Path(folder), download_stem(anim)
    paths = {"npz": folder / f"{stem}.npz", "obj_zip": folder / f"{stem} (OBJ).zip", "glb": folder / f"{stem}.glb"}
    return paths, export_animation(anim, progress=progress, **paths)


def create_style(video: str | os.PathLike, name: str, model: Imitator | None = None,
                 progress: Progress | None = None, config: AdaptConfig = AdaptConfig(),
                 description: str = "", user_dir: str | os.PathLike | None = None, save: bool = True,
                 overwrite: bool = False, preview: str | os.PathLike | None = None,
                 transcript: str = "", owner: str | None = None) -> Style:
    """A talking-head video (or a tracked .npz from `imitator track`) -> a saved style.

    The name, the video's length and its audio track are checked before the minute of tracking.
    Progress: tracking takes the first half of the bar, the two adaptation stages the second.
    preview: also write a PNG of the tracked mesh over a video frame (not for .npz input).
    transcript: the words spoken, if known; otherwise Whisper transcribes them to find the lip closures.
    owner: whose style folder it is saved in (the app's session token; None: the local user's).
    What the user should know (two faces, face lost, truncated file) is in style.meta.fit["warnings"].

    Where a closure is labelled, the reference is made contact-true before fitting (imitator.contact): the
    tracker's inner lips rarely meet even when the lips are shut, and a style fitted to that gap would never
    close the mouth on m, b and p."""
    from .align import language_warning
    from .contact import close_lips
    from .lips import label_frames, label_heard, listen
    from .texture import texture_of
    from .tracking import TrackResult, save_preview, track_video

    name = check_name(name)
    path = Path(video)
    check_upload(path)
    if save:
        check_name_free(name, user_dir, owner, overwrite)
    if path.suffix.lower() != ".npz":
        check_selfie(path)
    model = model or default_model()
    report = progress or (lambda fraction, message: None)
    heard = None  # words and phone timing of the whole soundtrack, found while the face is tracked
    if path.suffix.lower() == ".npz":
        tracked = TrackResult.load(path)
    else:
        soundtrack = _soundtrack(path)  # decoded once, for the words and for the tracker
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imitator-words")
        if soundtrack is not None and config.lip_weight:
            heard = pool.submit(listen, soundtrack, transcript)
        try:
            tracked = track_video(path, progress=lambda f, m: report(0.5 * f, m), soundtrack=soundtrack)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)  # on an error, don't wait for the words
    if not tracked.has_audio:
        raise NoAudioStreamError(f"{path.name} has no audio track: a style is learned from the face moving "
                                 "with its speech, so the video must have sound")
    check_audio(tracked.audio, AudioLimits(min_seconds=1.0), name=path.name)
    if preview is not None and tracked.preview is not None:
        save_preview(tracked, preview)
    vertices, audio = _longest_valid_run(tracked)
    warnings = [str(w) for w in tracked.warnings] + [w for w in [_stretch_warning(tracked, len(vertices))] if w]
    total = config.stage1_steps + (config.stage2_steps if config.stages == "both" else 0)
    offset = {"stage 1": 0, "stage 2": config.stage1_steps, "basis only": 0}

    def on_step(stage: str, step: int, steps: int, loss: float) -> None:
        report(0.5 + 0.5 * (offset[stage] + step) / total, f"{stage}: step {step}, loss {loss:.3f} mm²")

    lip_weights, lip_note, closed = None, "lip-contact term off", 0
    if config.lip_weight:
        report(0.5, "finding lip closures (m, b, p) in the speech")
        if heard is not None and len(vertices) == len(tracked.vertices):  # the run is the whole clip
            # the tracker shifted the audio so that its sample 0 plays with frame 0: phones follow it
            words = heard.result().shifted(float(tracked.metadata.get("audio_offset_s", 0.0)))
        else:  # a .npz, or the face was lost for a while: listen to the frames used only
            words = listen(audio, transcript)
        warnings += [w for w in [language_warning(words.score)] if w]
        lip_weights, lip_note = label_heard(vertices, words, model.cfg.fps)
        if lip_weights is not None:
            contact = close_lips(vertices, tracked.template, label_frames(lip_weights))
            vertices, closed = contact.vertices, len(contact.corrected)
    result = adapt(model, audio, vertices, tracked.template, config, on_step, lip_weights=lip_weights)
    result.fit.update(lip_labels=lip_note, closures_made_contact_true=closed, warnings=warnings)
    source = f"{path.name} sha256:{_file_hash(path)}"
    style = Style.from_adaptation(model, result, name, description, source)
    style.texture = texture_of(tracked)  # a picture of the face, kept in the style's file
    if save:
        save_style(style, user_dir, overwrite=overwrite, owner=owner)
    report(1.0, f"style {name!r} ready: {fit_summary(result.fit)}")
    return style


def _soundtrack(path: Path) -> np.ndarray | None:
    """The video's audio at 16 kHz, or None when there is none (the tracker then says so)."""
    try:
        return load_audio(path, check=False)
    except ImitatorError:
        return None


def check_name_free(name: str, user_dir=None, owner: str | None = None, overwrite: bool = False) -> None:
    """Refuse a preset's name, or one of the owner's own styles unless asked to overwrite it."""
    for entry in list_styles(user_dir, owner=owner):
        if entry.name == name and (entry.kind == "preset" or not overwrite):
            what = "a bundled preset" if entry.kind == "preset" else "one of your styles"
            raise StyleNameTakenError(f"{name!r} is already the name of {what}; choose another name"
                                      + ("" if entry.kind == "preset" else ", or ask to replace it"))


def check_selfie(path: Path) -> None:
    """Length and sound from the file header, so that a bad video is refused in milliseconds, not after
    a minute of tracking."""
    from .video import probe_video

    info = probe_video(path)
    if not info.has_audio:
        raise NoAudioStreamError(f"{path.name} has no audio track: a style is learned from the face moving "
                                 "with its speech, so the video must have sound")
    if info.duration < MIN_SELFIE_SECONDS:
        raise VideoTooShortError(f"{path.name} is {info.duration:.1f} s long; a style needs at least "
                                 f"{MIN_SELFIE_SECONDS:g} s of you talking (5-10 s is best)")


def picture_note(style: Style) -> str:
    """What a new style holds besides motion, in words for the CLI and the app."""
    if style.texture is None:
        return "This style has no picture of the face (made from tracked meshes): it shows the neutral face."
    return (f"The style {style.name!r} keeps a picture of the face from the video (in its style file), so renders "
            "and exports show that face; deleting the style deletes the picture.")


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


def _stretch_warning(tracked, n_used: int) -> str | None:
    """Say so when the face was lost mid-video and the longest stretch is much less than all there was."""
    n_valid = int(np.sum(tracked.valid))
    if n_used >= 0.8 * n_valid:
        return None
    return (f"the face was lost mid-video: only the longest unbroken stretch, {n_used / tracked.fps:.1f} s of "
            f"{n_valid / tracked.fps:.1f} s with a face, is used")


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]
