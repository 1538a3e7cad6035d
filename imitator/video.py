"""MP4 writing with PyAV (no system ffmpeg): H.264 video + AAC speech that browsers play.

    write_mp4("out.mp4", frames, fps=30, audio=audio)   # frames: any iterable of (H, W, 3) uint8
    write_mp4("out.mp4", planes, fps=30, audio=audio, pixel_format="yuv420p")  # (H * 3 / 2, W) uint8 each

The audio is cut or padded with silence to the video's length (frames / fps), so both streams end together.
Frames are drawn from their iterable in a background thread while the encoder works on earlier ones:
rendering (OpenGL on llvmpipe) and H.264 encoding (x264, which runs without the GIL) overlap.
"""
from __future__ import annotations

import itertools
import os
import queue
import threading
from contextlib import closing
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .audio import SAMPLE_RATE


@dataclass(frozen=True)
class VideoOptions:
    crf: int = 20                 # x264 quality: lower is better and bigger; 18-23 is visually clean
    preset: str = "ultrafast"     # against "veryfast": 0.1 s less CPU per 5 s, closer to the frames (PSNR 42.8
                                  # vs 41.5 dB), 3x the bytes (about 60 kB/s); docs/benchmarks.md
    audio_bitrate: int = 96_000   # AAC, mono speech
    aac_coder: str = "fast"       # FFmpeg's AAC coder: "fast" took 18 ms of CPU per 5 s against 60 ms for the
                                  # default "twoloop", with no loss on speech (jfk.flac decoded back: SNR
                                  # 50.9 vs 46.7 dB); docs/benchmarks.md
    prefetch: int = 8             # frames made ahead in a background thread (0: make them in the caller)


def _rate(fps: float) -> Fraction:
    """A frame rate as a fraction: NTSC rates given as decimals (23.976, 29.97, 59.94) become n*1000/1001."""
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    exact = Fraction(fps).limit_denominator(1000)
    ntsc = Fraction(round(fps * 1.001) * 1000, 1001)
    return ntsc if exact.denominator > 1 and abs(float(ntsc) - fps) < 0.005 else exact


PIXEL_FORMATS = ("rgb24", "yuv420p")


def _prepare(frame: np.ndarray, pixel_format: str = "rgb24") -> np.ndarray:
    """Check an (H, W, 3) uint8 frame; yuv420p needs even sides, so odd ones repeat their last row/column.
    A yuv420p frame is already the encoder's: packed planes (H * 3 / 2, W) uint8 with even H and W."""
    frame = np.asarray(frame)
    if pixel_format == "yuv420p":
        if frame.dtype != np.uint8 or frame.ndim != 2 or frame.shape[0] % 3 or frame.shape[1] % 2 \
                or (frame.shape[0] // 3) % 2:
            raise ValueError(f"yuv420p frames are (H * 3 / 2, W) uint8 with even H and W, got {frame.shape} "
                             f"{frame.dtype}")
        return frame
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frames must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
    h, w = frame.shape[:2]
    if h % 2 or w % 2:
        frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return frame


def write_mp4(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float,
              audio: np.ndarray | None = None, sample_rate: int = SAMPLE_RATE,
              options: VideoOptions = VideoOptions(), pixel_format: str = "rgb24") -> int:
    """Encode `frames` ((H, W, 3) uint8, all one size) at `fps` with `audio` ((N,) float32 at `sample_rate`,
    or None for a silent video) into an mp4 at `path`. Returns the number of frames written.
    pixel_format "yuv420p": the frames are already the encoder's planes ((H * 3 / 2, W) uint8: Y, U, V;
    e.g. `Renderer.iter_frames_yuv420`), which skips the RGB -> YUV conversion (about 1 ms a 512x512 frame).

    Frames are consumed one at a time (a generator of rendered frames never sits in memory whole), and
    audio is muxed alongside them, so the file is interleaved for streaming."""
    if pixel_format not in PIXEL_FORMATS:
        raise ValueError(f"pixel_format is one of {PIXEL_FORMATS}, got {pixel_format!r}")
    if not options.prefetch:
        return _write(path, iter(frames), fps, audio, sample_rate, options, pixel_format)
    with closing(prefetched(frames, options.prefetch)) as ahead:  # on an error, stops the producer thread too
        return _write(path, ahead, fps, audio, sample_rate, options, pixel_format)


def prefetched(items: Iterable, depth: int) -> Iterator:
    """`items` produced by a background thread, at most `depth` ahead of the consumer; the producer's
    exceptions are raised in the consumer, and closing the returned generator stops the producer."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                q.put(entry, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((done, None))
        except BaseException as e:  # handed to the consumer, which raises it
            put((done, e))

    worker = threading.Thread(target=produce, name="imitator-frames", daemon=True)
    worker.start()
    try:
        while True:
            item, error = q.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        worker.join()


def _write(path, frames: Iterator[np.ndarray], fps: float, audio: np.ndarray | None, sample_rate: int,
           options: VideoOptions, pixel_format: str) -> int:
    import av

    first = next(frames, None)
    if first is None:
        raise ValueError("no frames to write")
    shape = _prepare(first, pixel_format).shape
    height, width = (shape[0] * 2 // 3, shape[1]) if pixel_format == "yuv420p" else shape[:2]
    rate = _rate(fps)
    samples_per_frame = sample_rate / float(rate)
    n, sent = 0, 0  # frames and audio samples encoded so far
    with av.open(os.fspath(path), mode="w", options={"movflags": "+faststart"}) as container:
        video = container.add_stream("libx264", rate=rate, options={"crf": str(options.crf), "preset": options.preset})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = None
        if audio is not None:
            audio = np.asarray(audio, dtype=np.float32).reshape(-1)
            sound = container.add_stream("aac", rate=sample_rate, layout="mono",
                                         options={"aac_coder": options.aac_coder})
            sound.bit_rate = options.audio_bitrate
        for frame in itertools.chain([first], frames):
            frame = _prepare(frame, pixel_format)
            if frame.shape[:2] != shape[:2]:
                raise ValueError(f"frame {n} is {frame.shape[1]}x{frame.shape[0]}, the first was "
                                 f"{shape[1]}x{shape[0]} ({pixel_format})")
            vf = av.VideoFrame.from_ndarray(frame, format=pixel_format)
            vf.pts, vf.time_base = n, 1 / rate
            container.mux(video.encode(vf))
            n += 1
            if sound is not None:
                sent = _send_audio(container, sound, audio, sent, round(n * samples_per_frame), sample_rate)
        container.mux(video.encode())
        if sound is not None:
            container.mux(sound.encode())
    return n


def _send_audio(container, stream, audio: np.ndarray, start: int, stop: int, sample_rate: int) -> int:
    """Encode audio samples [start, stop), padding past the end of `audio` with silence. Returns `stop`."""
    import av

    if stop <= start:
        return start
    chunk = audio[start:stop]
    if len(chunk) < stop - start:
        chunk = np.pad(chunk, (0, stop - start - len(chunk)))
    af = av.AudioFrame.from_ndarray(chunk[None], format="flt", layout="mono")
    af.sample_rate = sample_rate
    af.pts = start
    af.time_base = Fraction(1, sample_rate)
    container.mux(stream.encode(af))
    return stop


@dataclass(frozen=True)
class VideoInfo:
    duration: float  # seconds (the longest stream)
    has_video: bool
    has_audio: bool


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read a video's container header only (milliseconds), so bad input is refused before tracking."""
    import av

    from .errors import UnreadableVideoError

    name = os.path.basename(os.fspath(path))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path}")
    try:
        with av.open(os.fspath(path)) as c:
            durations = [float(s.duration * s.time_base) for s in c.streams if s.duration and s.time_base]
            duration = max(durations, default=(c.duration or 0) / 1e6)
            return VideoInfo(duration, bool(c.streams.video), bool(c.streams.audio))
    except (av.error.FFmpegError, UnicodeDecodeError) as e:
        raise UnreadableVideoError(f"{name} is not a video we can read ({e.__class__.__name__})") from e


BROWSER_CODECS = {"h264", "vp8", "vp9", "av1"}  # what Chromium, Firefox and Safari all play in <video>


def playable_in_browsers(path: str | os.PathLike, folder: str | os.PathLike) -> Path:
    """`path` itself if browsers play its video codec, else an H.264 + AAC copy in `folder` (MPEG-4 Part 2
    from older cameras and phones otherwise shows a blank preview)."""
    import av

    from .audio import decode_audio

    path = Path(path)
    info = probe_video(path)
    with av.open(str(path)) as c:
        stream = c.streams.video[0] if c.streams.video else None
        if stream is None or stream.codec_context.name in BROWSER_CODECS:
            return path
        fps = float(stream.guessed_rate or stream.average_rate or 30)  # AVI can report its time base as average
    out = Path(folder) / f"{path.stem}.mp4"
    sound, rate = decode_audio(path) if info.has_audio else (None, SAMPLE_RATE)
    with av.open(str(path)) as c:
        write_mp4(out, (f.to_ndarray(format="rgb24") for f in c.decode(video=0)), fps, sound, rate)
    return out
