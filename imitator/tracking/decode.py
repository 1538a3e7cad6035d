"""Decoding: video frames (upright, prefetched) through MediaPipe FaceMesh -> raw landmarks per frame, and
the audio track cut to the video's span."""
from __future__ import annotations

import os
from contextlib import closing
from dataclasses import dataclass, field

import numpy as np

from ..audio import SAMPLE_RATE, AudioLimits, load_audio, rms_dbfs
from ..errors import FrameTooLargeError, NoAudioStreamError, UnreadableVideoError, VideoTooLongError
from ..limits import Limits
from ..texture import frame_score
from .result import Notice, Progress, TrackConfig

TWO_FACES_AREA_RATIO = 0.5  # a second face at least half the size of the largest one may be the speaker
STILL_IMAGE_CODECS = {"png", "mjpeg", "bmp", "tiff", "webp", "gif", "jpeg2000", "apng"}


@dataclass
class Detections:
    times: np.ndarray         # (N,) seconds from the first frame, of the frames that were looked at
    landmarks: np.ndarray     # (N, 478, 3) x, y in pixels of the upright frame, z in the same units
    found: np.ndarray         # (N,) bool
    duration: float           # seconds covered by the video stream
    source: dict              # what we learned about the file
    audio_offset: float       # audio start minus first video frame, seconds
    preview: tuple[np.ndarray, np.ndarray, float] | None  # (image, (468, 2) pixels, time) of one frame
    warnings: list[Notice] = field(default_factory=list)
    texture_frame: tuple[np.ndarray, np.ndarray, float] | None = None  # (image, (478, 2) pixels, time)


def detect(path, config: TrackConfig, progress: Progress, limits: Limits) -> Detections:
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
        _check_video_header(name, container, stream, limits)
        claimed = container.duration / 1e6 if container.duration and container.duration > 0 else None
        rate = float(stream.average_rate or stream.guessed_rate or config.fps)
        expected = stream.frames or int((container.duration or 0) / 1e6 * rate) or None
        audio_start = None
        if container.streams.audio:
            a = container.streams.audio[0]
            audio_start = float(a.start_time * a.time_base) if a.start_time is not None else 0.0

        times, landmarks, found = [], [], []
        preview, best, seen = None, -np.inf, {"decoded": 0, "max_seconds": limits.max_video_seconds}
        two_faces = 0
        texture_frame, best_texture = None, -np.inf
        try:
            # Decoding runs in a second thread: PyAV and MediaPipe both release the GIL, so they overlap.
            # closing(): on an error here the thread stops before the container closes under it.
            with closing(_prefetch(_upright_frames(container, stream, rate, config, seen))) as frames:
                for t, image, n_decoded in frames:
                    result = mesh.process(image)
                    lm, rivals = _largest_face(result.multi_face_landmarks, image.shape[1], image.shape[0])
                    two_faces += rivals
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
            if not times:
                raise UnreadableVideoError(f"{name}: the video could not be decoded ({e.__class__.__name__})") from e
            seen["damaged"] = True  # a damaged tail: use what decoded, and say so below
        if seen["decoded"] == 0:
            raise UnreadableVideoError(f"{name}: the video stream has no frames")
        span = seen["last"] - seen["first"]
        # The last frame lasts one frame interval; with a variable rate, a typical short one.
        frame_time = float(np.percentile(np.diff(seen["times"]), 25)) if seen["decoded"] > 1 else 1.0 / rate
        source = {"file": name, "width": seen["width"], "height": seen["height"], "rotation": seen["rotation"],
                  "frames": seen["decoded"], "average_fps": rate, "codec": stream.codec_context.name}
        warnings = []
        decoded_seconds = span + frame_time
        if seen.get("damaged") or (claimed and decoded_seconds < 0.9 * claimed - 0.5):
            warnings.append(Notice("truncated", f"{name} seems truncated or damaged: "
                                   + (f"its header says {claimed:.1f} s, but " if claimed else "")
                                   + f"only {decoded_seconds:.1f} s could be decoded; only that part is used"))
        if two_faces >= max(3, 0.2 * len(times)):
            warnings.append(Notice("two_faces", f"{name} shows two faces of similar size in {two_faces} of "
                                   f"{len(times)} frames; the larger one is tracked, which may not be the speaker"))
    # A preview keeps the frame at detection size; the landmarks are in its pixels too.
    return Detections(times=np.asarray(times), landmarks=np.stack(landmarks), found=np.asarray(found),
                       duration=float(span + frame_time), source=source,
                       audio_offset=(audio_start - seen["first"]) if audio_start is not None else 0.0,
                       preview=preview, texture_frame=texture_frame, warnings=warnings)


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
        if t - seen["first"] > seen["max_seconds"]:  # the header may have understated the length
            raise VideoTooLongError(f"the video is longer than the limit of {seen['max_seconds']:g} s "
                                    "(trim it, or raise IMITATOR_MAX_VIDEO_SECONDS)")
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


def _largest_face(faces, width: int, height: int) -> tuple[np.ndarray | None, bool]:
    """(478, 3) landmarks of the largest face (x right, y down, z away from camera, all in pixels), and
    whether another face is nearly as large (then the tracked face may not be the one speaking)."""
    if not faces:
        return None, False
    arrays = [np.array([(p.x * width, p.y * height, p.z * width) for p in f.landmark], np.float32)
              for f in faces]
    areas = sorted(((np.ptp(a[:, 0]) * np.ptp(a[:, 1]), i) for i, a in enumerate(arrays)), reverse=True)
    rival = len(areas) > 1 and areas[1][0] >= TWO_FACES_AREA_RATIO * areas[0][0]
    return arrays[areas[0][1]], bool(rival)


def _check_video_header(name: str, container, stream, limits: Limits) -> None:
    """Refuse, before decoding, what the header already says is too long, too large, or not a video."""
    if stream.codec_context is None:  # a damaged header can leave a stream without a decoder
        raise UnreadableVideoError(f"{name}: the video stream has no decodable codec")
    if container.format.name.endswith("_pipe") or container.format.name == "image2" or (
            stream.codec_context.name in STILL_IMAGE_CODECS and (stream.frames or 0) <= 1):
        raise UnreadableVideoError(f"{name} is a still image, not a video: a style is learned from a face "
                                   "talking, so upload a video with sound")
    width, height = stream.codec_context.width or 0, stream.codec_context.height or 0
    if width * height > limits.max_video_pixels:
        raise FrameTooLargeError(f"{name} has {width}x{height} frames; the limit is {limits.max_video_pixels:,} "
                                 "pixels per frame (IMITATOR_MAX_VIDEO_PIXELS): scale it down")
    durations = [container.duration / 1e6 if container.duration else 0.0]
    if stream.duration and stream.time_base:
        durations.append(float(stream.duration * stream.time_base))
    if max(durations) > limits.max_video_seconds:
        raise VideoTooLongError(f"{name} is {max(durations):.0f} s long; the limit is {limits.max_video_seconds:g} s "
                                "(trim it, or raise IMITATOR_MAX_VIDEO_SECONDS)")


def extract_audio(path, offset: float, seconds: float,
                  audio: np.ndarray | None = None) -> tuple[np.ndarray, list[Notice]]:
    """The audio track at 16 kHz (`audio` if already decoded), shifted so sample 0 plays with frame 0 and
    cut to the video's length."""
    try:
        audio = load_audio(path, check=False) if audio is None else audio
    except NoAudioStreamError:
        return np.zeros(0, np.float32), [Notice("no_audio", "no audio track: the face is tracked, but creating a "
                                                "style from this video needs its speech")]
    shift = int(round(offset * SAMPLE_RATE))
    audio = np.concatenate([np.zeros(shift, np.float32), audio]) if shift > 0 else audio[-shift:]
    n = int(round(seconds * SAMPLE_RATE))
    audio = np.pad(audio[:n], (0, max(0, n - len(audio))))
    warnings = []
    if rms_dbfs(audio) < AudioLimits().silence_dbfs:
        warnings.append(Notice("silent_audio", f"the audio track is silent ({rms_dbfs(audio):.0f} dBFS): "
                               "creating a style needs speech"))
    return audio.astype(np.float32), warnings
