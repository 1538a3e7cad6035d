"""Video -> stabilised, metric, per-frame 3D face meshes (MediaPipe 468 topology) and the aligned audio.

Stages, top to bottom: decode and detect (`_detect`), fix the depth scale, remove head pose (similarity
Procrustes of the rigid vertices to a reference), resample to a fixed frame rate and fill short gaps,
convert to millimetres, smooth, turn to a frontal canonical frame, and pick the neutral template.

Conventions (also in docs/tracking.md): x to the subject's left (image right), y up, z toward the camera;
millimetres, with the distance between the two iris centres fixed to `TrackConfig.interpupillary_mm`
(63 mm, the adult mean); origin at the template's nose-bridge vertex 168.
"""
from __future__ import annotations

import json
import os
from contextlib import closing
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from .errors import FaceLostError, NoAudioStreamError, NoFaceError, UnreadableVideoError, VideoTooShortError
from .texture import frame_score
from .topology import MEDIAPIPE_468, lip_distance

Progress = Callable[[float, str], None]

_IRIS_CENTRES = (468, 473)  # refined landmarks: subject's right and left iris centre
_NOSE_BRIDGE = 168
_EYELIDS = ((159, 145), (386, 374))  # upper and lower eyelid midpoints: right eye, left eye
_FORMAT_VERSION = 1


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


@dataclass
class _Detections:
    times: np.ndarray         # (N,) seconds from the first frame, of the frames that were looked at
    landmarks: np.ndarray     # (N, 478, 3) x, y in pixels of the upright frame, z in the same units
    found: np.ndarray         # (N,) bool
    duration: float           # seconds covered by the video stream
    source: dict              # what we learned about the file
    audio_offset: float       # audio start minus first video frame, seconds
    preview: tuple[np.ndarray, np.ndarray, float] | None  # (image, (468, 2) pixels, time) of one frame
    texture_frame: tuple[np.ndarray, np.ndarray, float] | None = None  # (image, (478, 2) pixels, time)


def track_video(path: str | os.PathLike, progress: Progress | None = None,
                config: TrackConfig = TrackConfig()) -> TrackResult:
    """Track the largest face in a video. Raises an ImitatorError subclass for unusable input."""
    progress = progress or (lambda fraction, message: None)
    det = _detect(path, config, lambda f, m: progress(0.9 * f, m))
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
    vertices, detected = _resample(det.times[det.found], stable, grid, config.fps)
    valid, gaps = _gaps(detected, config.max_gap_seconds * config.fps)
    if valid.mean() < config.min_face_fraction:
        longest = max((b - a for a, b in gaps), default=0) / config.fps
        raise FaceLostError(f"the face in {name} is visible in only {100 * valid.mean():.0f}% of "
                            f"{n_out} frames (longest gap {longest:.1f} s); "
                            f"at least {100 * config.min_face_fraction:.0f}% is needed")

    mm = config.interpupillary_mm / np.median(
        np.linalg.norm(vertices[valid][:, _IRIS_CENTRES[0]] - vertices[valid][:, _IRIS_CENTRES[1]], axis=-1))
    vertices = vertices[:, :468] * mm
    vertices = smooth(vertices, config.smooth_frames, config.smooth_keep_mm, config.rigid_smooth_frames)
    template = neutral_template(vertices[valid], config.template_fraction)
    rotation, origin = _canonical_frame(template)
    vertices = (vertices - origin) @ rotation.T
    template = (template - origin) @ rotation.T

    progress(0.95, "extracting audio")
    audio, warnings = _extract_audio(path, det.audio_offset, n_out / config.fps)
    warnings += [f"no face from {a / config.fps:.2f} s to {b / config.fps:.2f} s (frames {a}-{b - 1}): "
                 "marked invalid" for a, b in gaps if b - a > config.max_gap_seconds * config.fps]
    metadata = {
        "format_version": _FORMAT_VERSION, "topology": MEDIAPIPE_468.name, "source": det.source,
        "units": "mm", "axes": "x subject's left, y up, z toward camera",
        "scale_convention": f"iris centre distance = {config.interpupillary_mm} mm",
        "depth_scale": float(depth_scale), "mm_per_unit": float(mm),
        "frames_looked_at": int(len(det.found)), "frames_with_face": int(det.found.sum()),
        "gaps": [[int(a), int(b)] for a, b in gaps], "audio_sample_rate": 16000,
        "audio_offset_s": float(det.audio_offset),
        "config": asdict(config), "warnings": warnings,
    }
    preview, texture_frame = [
        None if found is None else PreviewFrame(found[0], found[1], int(np.clip(round(found[2] * config.fps), 0, n_out - 1)))
        for found in (det.preview, det.texture_frame)]
    progress(1.0, "done")
    return TrackResult(vertices=vertices.astype(np.float32), template=template.astype(np.float32),
                       faces=MEDIAPIPE_468.faces, fps=float(config.fps), valid=valid, detected=detected,
                       audio=audio, metadata=metadata, preview=preview, texture_frame=texture_frame)


def _detect(path, config: TrackConfig, progress: Progress) -> _Detections:
    """Decode every frame (PyAV), upright it, and run MediaPipe FaceMesh on frames at most ~fps apart."""
    import av
    import mediapipe as mp

    path = os.fspath(path)
    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path}")
    try:
        container = av.open(path)
    except (av.error.FFmpegError, UnicodeDecodeError) as e:
        raise UnreadableVideoError(f"{name} is not a video we can read ({e.__class__.__name__})") from e
    with container, mp.solutions.face_mesh.FaceMesh(static_image_mode=False, refine_landmarks=True,
                                                    max_num_faces=config.max_faces) as mesh:
        if not container.streams.video:
            raise UnreadableVideoError(f"{name} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or stream.guessed_rate or config.fps)
        expected = stream.frames or int((container.duration or 0) / 1e6 * rate) or None
        audio_start = None
        if container.streams.audio:
            a = container.streams.audio[0]
            audio_start = float(a.start_time * a.time_base) if a.start_time is not None else 0.0

        times, landmarks, found = [], [], []
        preview, best, seen = None, -np.inf, {"decoded": 0}
        texture_frame, best_texture = None, -np.inf
        try:
            # Decoding runs in a second thread: PyAV and MediaPipe both release the GIL, so they overlap.
            # closing(): on an error here the thread stops before the container closes under it.
            with closing(_prefetch(_upright_frames(container, stream, rate, config, seen))) as frames:
                for t, image, n_decoded in frames:
                    result = mesh.process(image)
                    lm = _largest_face(result.multi_face_landmarks, image.shape[1], image.shape[0])
                    times.append(t)
                    found.append(lm is not None)
                    landmarks.append(lm if lm is not None else np.zeros((478, 3), np.float32))
                    score = -abs(t - 0.5 * (expected or n_decoded) / rate)  # the preview shows the middle frame
                    if lm is not None and score > best:
                        best, preview = score, (image, lm[:468, :2].copy(), t)
                    if lm is not None and (texture_score := frame_score(image, lm)) > best_texture:
                        best_texture, texture_frame = texture_score, (image, lm[:, :2].copy(), t)
                    if expected and len(times) % 10 == 0:
                        progress(min(n_decoded / expected, 1.0), f"tracking frame {n_decoded}/{expected}")
        except av.error.FFmpegError as e:
            raise UnreadableVideoError(f"{name}: the video could not be decoded ({e})") from e
        if seen["decoded"] == 0:
            raise UnreadableVideoError(f"{name}: the video stream has no frames")
        span = seen["last"] - seen["first"]
        # The last frame lasts one frame interval; with a variable rate, a typical short one.
        frame_time = float(np.percentile(np.diff(seen["times"]), 25)) if seen["decoded"] > 1 else 1.0 / rate
        source = {"file": name, "width": seen["width"], "height": seen["height"], "rotation": seen["rotation"],
                  "frames": seen["decoded"], "average_fps": rate, "codec": stream.codec_context.name}
    # A preview keeps the frame at detection size; the landmarks are in its pixels too.
    return _Detections(times=np.asarray(times), landmarks=np.stack(landmarks), found=np.asarray(found),
                       duration=float(span + frame_time), source=source,
                       audio_offset=(audio_start - seen["first"]) if audio_start is not None else 0.0,
                       preview=preview, texture_frame=texture_frame)


def _upright_frames(container, stream, rate: float, config: TrackConfig, seen: dict):
    """Yield (seconds since the first frame, upright RGB image, frames decoded so far) for frames at least
    0.75 output frames apart (a closer frame adds nothing after resampling). `seen` collects the first and
    last frame times and the stream's displayed size and rotation."""
    last_used = -np.inf
    for n, frame in enumerate(container.decode(stream), start=1):
        t = frame.time if frame.time is not None else (n - 1) / rate
        if n == 1:
            seen.update(first=t, rotation=int(frame.rotation or 0), width=frame.width, height=frame.height)
        seen.update(last=t, decoded=n)
        seen.setdefault("times", []).append(t)
        if t - seen["first"] - last_used >= 0.75 / config.fps:
            last_used = t - seen["first"]
            yield last_used, _upright_rgb(frame, config.detect_max_side), n


def _prefetch(iterable, size: int = 8):
    """Iterate `iterable` in a background thread, `size` items ahead; its exceptions surface here."""
    import queue
    import threading

    items: queue.Queue = queue.Queue(size)
    done = object()
    stop = threading.Event()

    def work():
        try:
            for item in iterable:
                if stop.is_set():
                    return
                items.put(item)
            items.put(done)
        except BaseException as e:  # handed to the consumer, which re-raises it
            items.put(e)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        while (item := items.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                items.get_nowait()
            except queue.Empty:
                thread.join(0.01)


def _upright_rgb(frame, max_side: int) -> np.ndarray:
    """The frame as displayed (rotation metadata applied), RGB, longest side at most `max_side`."""
    scale = min(1.0, max_side / max(frame.width, frame.height))
    w, h = int(round(frame.width * scale)) // 2 * 2, int(round(frame.height * scale)) // 2 * 2
    image = frame.to_ndarray(format="rgb24", width=w, height=h)
    quarter_turns = int(round((frame.rotation or 0) / 90)) % 4  # display matrix: counter-clockwise degrees
    return np.ascontiguousarray(np.rot90(image, quarter_turns)) if quarter_turns else image


def _largest_face(faces, width: int, height: int) -> np.ndarray | None:
    """(478, 3) landmarks of the largest face: x right, y down, z away from camera, all in pixels."""
    if not faces:
        return None
    arrays = [np.array([(p.x * width, p.y * height, p.z * width) for p in f.landmark], np.float32)
              for f in faces]
    areas = [np.ptp(a[:, 0]) * np.ptp(a[:, 1]) for a in arrays]
    return arrays[int(np.argmax(areas))]


def similarity_transforms(src: np.ndarray, dst: np.ndarray):
    """Umeyama: per frame n, the scale s, rotation R and shift t minimising |s R src[n] + t - dst|^2.

    src: (N, K, 3), dst: (K, 3) -> s (N,), R (N, 3, 3), t (N, 3)."""
    mu_src, mu_dst = src.mean(1, keepdims=True), dst.mean(0)
    a, b = src - mu_src, dst - mu_dst
    u, sv, vt = np.linalg.svd(np.einsum("ki,nkj->nij", b, a) / src.shape[1])
    d = np.sign(np.linalg.det(u @ vt))
    flip = np.stack([np.ones_like(d), np.ones_like(d), d], -1)  # never a reflection
    rotation = (u * flip[:, None, :]) @ vt
    scale = (sv * flip).sum(-1) / (a ** 2).sum((1, 2)) * src.shape[1]
    shift = mu_dst - scale[:, None] * np.einsum("nij,nj->ni", rotation, mu_src[:, 0])
    return scale, rotation, shift


def stabilise(points: np.ndarray, rigid: np.ndarray, iterations: int = 3) -> np.ndarray:
    """Remove head pose and distance to the camera: align every frame's rigid vertices to their median shape.

    points: (N, P, 3) -> same shape. The reference is refined by generalised Procrustes (align all to the
    reference, take the per-vertex median as the new reference), so no single frame's noise sets it."""
    reference = points[len(points) // 2, rigid]
    for _ in range(iterations):
        scale, rotation, shift = similarity_transforms(points[:, rigid], reference)
        aligned = scale[:, None, None] * np.einsum("nij,npj->npi", rotation, points) + shift[:, None]
        reference = np.median(aligned[:, rigid], axis=0)
    return aligned


def estimate_depth_scale(points: np.ndarray, candidates=np.arange(0.5, 1.625, 0.05), max_frames: int = 60) -> float:
    """The factor on MediaPipe's z that makes the rigid vertices most rigid across head rotations.

    With the wrong depth scale a turned head is not a rotated copy of a frontal one, so the Procrustes
    residual of the rigid set grows. The residual is measured in x and y only: z is the coordinate being
    scaled, and its own noise would favour small factors. A curve too flat to show a minimum (a head that
    hardly turns) is no evidence, and the factor stays 1."""
    pick = np.linspace(0, len(points) - 1, min(len(points), max_frames)).astype(int)
    rigid = points[pick][:, MEDIAPIPE_468.rigid].astype(np.float64)
    residual = []
    for c in candidates:
        aligned = stabilise(rigid * np.array([1.0, 1.0, c]), np.arange(rigid.shape[1]), iterations=2)
        residual.append(np.sqrt(np.mean((aligned - np.median(aligned, 0))[..., :2] ** 2)))
    residual = np.asarray(residual)
    best = int(np.argmin(residual))
    around = residual[np.abs(candidates - candidates[best]).round(3) == 0.3]
    return float(candidates[best]) if len(around) and around.min() > 1.02 * residual[best] else 1.0


def _resample(times: np.ndarray, values: np.ndarray, grid: np.ndarray, fps: float):
    """Linear interpolation of per-frame values onto `grid` times; also whether a sample is within a frame."""
    idx = np.clip(np.searchsorted(times, grid), 1, len(times) - 1) if len(times) > 1 else np.zeros(len(grid), int)
    if len(times) == 1:
        out = np.repeat(values, len(grid), axis=0)
    else:
        t0, t1 = times[idx - 1], times[idx]
        w = np.clip((grid - t0) / np.maximum(t1 - t0, 1e-9), 0.0, 1.0)[:, None, None]
        out = (1 - w) * values[idx - 1] + w * values[idx]
    nearest = np.min(np.abs(times[None, :] - grid[:, None]), axis=1)
    return out, nearest <= 1.0 / fps


def _gaps(detected: np.ndarray, max_len: float):
    """Runs of frames without a face, [start, end); frames in runs up to `max_len` long count as valid."""
    valid = detected.copy()
    gaps = []
    edges = np.flatnonzero(np.diff(np.r_[1, detected.astype(np.int8), 1]))
    for a, b in zip(edges[::2], edges[1::2]):
        gaps.append((int(a), int(b)))
        if b - a <= max_len:
            valid[a:b] = True
    return valid, gaps


def smooth(vertices: np.ndarray, sigma: float, keep_mm: float, rigid_sigma: float) -> np.ndarray:
    """Temporal smoothing that keeps lip closures and blinks.

    A plain low-pass filter lifts a 1-2 frame lip closure by millimetres (measured: docs/tracking.md). Here
    each frame averages its neighbours with a Gaussian weight in time times a Gaussian weight on how much
    the mouth and eye openings differ (a bilateral filter, range sigma `keep_mm`): jitter between similar
    frames is averaged away, a closure is not mixed with the open frames around it. The rigid vertices
    carry no expression, so they get a plain, stronger Gaussian."""
    from scipy.ndimage import gaussian_filter1d

    out = vertices.copy()
    if sigma > 0:
        openings = np.stack([lip_distance(vertices)] + [
            np.linalg.norm(vertices[:, upper] - vertices[:, lower], axis=-1) for upper, lower in _EYELIDS], 1)
        n, radius = len(vertices), int(np.ceil(3 * sigma))
        frames = np.arange(n)
        total, weight = np.zeros_like(vertices), np.zeros(n)
        for offset in range(-radius, radius + 1):
            other = np.clip(frames + offset, 0, n - 1)
            w = np.exp(-offset ** 2 / (2 * sigma ** 2)
                       - np.sum((openings[other] - openings) ** 2, axis=1) / (2 * keep_mm ** 2))
            total += w[:, None, None] * vertices[other]
            weight += w
        out = total / weight[:, None, None]
    if rigid_sigma > 0:
        rigid = MEDIAPIPE_468.rigid
        out[:, rigid] = gaussian_filter1d(vertices[:, rigid], rigid_sigma, axis=0, mode="nearest")
    return out


def neutral_template(vertices: np.ndarray, fraction: float) -> np.ndarray:
    """The per-vertex median of the frames whose mouth is least open: the person's resting face."""
    distance = lip_distance(vertices)
    keep = np.argsort(distance)[:max(1, int(round(fraction * len(vertices))))]
    return np.median(vertices[keep], axis=0)


def _canonical_frame(template: np.ndarray):
    """Rotation (rows = new axes) and origin that put the template upright, frontal, nose bridge at 0."""
    x = template[263] - template[33]            # right eye outer corner -> left eye outer corner
    up = template[10] - template[152]           # chin -> top of forehead
    x /= np.linalg.norm(x)
    y = up - (up @ x) * x
    y /= np.linalg.norm(y)
    return np.stack([x, y, np.cross(x, y)]), template[_NOSE_BRIDGE].copy()


def _extract_audio(path, offset: float, seconds: float) -> tuple[np.ndarray, list[str]]:
    """The audio track at 16 kHz, shifted so sample 0 plays with frame 0 and cut to the video's length."""
    from .audio import SAMPLE_RATE, AudioLimits, load_audio, rms_dbfs

    try:
        audio = load_audio(path, limits=None)
    except NoAudioStreamError:
        return np.zeros(0, np.float32), ["no audio track: the face is tracked, but creating a style from "
                                         "this video needs its speech; give the audio as a separate file"]
    shift = int(round(offset * SAMPLE_RATE))
    audio = np.concatenate([np.zeros(shift, np.float32), audio]) if shift > 0 else audio[-shift:]
    n = int(round(seconds * SAMPLE_RATE))
    audio = np.pad(audio[:n], (0, max(0, n - len(audio))))
    warnings = []
    if rms_dbfs(audio) < AudioLimits().silence_dbfs:
        warnings.append(f"the audio track is silent ({rms_dbfs(audio):.0f} dBFS): creating a style needs speech")
    return audio.astype(np.float32), warnings


def save_preview(result: TrackResult, path: str | os.PathLike) -> None:
    """A PNG for people: the tracked mesh over one video frame, and the lip distance over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    if result.preview is None:
        raise ValueError("this result has no preview frame (results loaded from .npz do not keep one)")
    p = result.preview
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5.5), gridspec_kw={"width_ratios": [1, 1.4]})
    left.imshow(p.image)
    edges = p.pixels[np.r_[result.faces[:, [0, 1]], result.faces[:, [1, 2]], result.faces[:, [2, 0]]]]
    left.add_collection(LineCollection(edges, colors="lime", linewidths=0.3, alpha=0.8))
    lips = p.pixels[np.r_[MEDIAPIPE_468.lip_inner, MEDIAPIPE_468.lip_inner[:1]]]
    left.plot(lips[:, 0], lips[:, 1], color="red", linewidth=0.8)
    lo, hi = p.pixels.min(0), p.pixels.max(0)  # zoom on the face, with a margin of half its size
    margin = 0.5 * (hi - lo).max()
    left.set_xlim(max(lo[0] - margin, 0), min(hi[0] + margin, p.image.shape[1]))
    left.set_ylim(min(hi[1] + margin, p.image.shape[0]), max(lo[1] - margin, 0))
    left.set_title(f"{result.metadata.get('source', {}).get('file', '')}, frame {p.frame_index}")
    left.axis("off")
    seconds = np.arange(len(result.vertices)) / result.fps
    distance = lip_distance(result.vertices)
    right.plot(seconds, distance, color="black", linewidth=1)
    if not result.valid.all():
        right.fill_between(seconds, 0, distance.max(), where=~result.valid, color="red", alpha=0.2,
                           label="no face (invalid)")
    right.axvline(p.frame_index / result.fps, color="green", linestyle="--", label="frame shown")
    right.set_xlabel("time (s)")
    right.set_ylabel("lip distance (mm, inner lip mid points 13-14)")
    right.set_ylim(bottom=0)
    right.legend(loc="upper right")
    right.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
