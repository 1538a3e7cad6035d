"""Audio in: any common audio file (or the audio track of a video) -> mono float32 at 16 kHz.

The format is judged by the file's content, never its name: libsndfile sniffs headers (wav, flac, ogg,
mp3 ...), and anything it can't read goes to FFmpeg's prober through PyAV (webm, m4a, mp4, mov ...).
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import soxr

from .errors import (AudioTooLongError, AudioTooShortError, NoAudioStreamError, SilentAudioError,
                     UnsupportedAudioError)

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class AudioLimits:
    min_seconds: float = 0.3
    max_seconds: float | None = 600.0  # a cap keeps one upload from holding a server for long
    # Below this RMS (dBFS) there is no speech to animate: a muted track is about -90 dB, speech -15..-40.
    silence_dbfs: float = -60.0


def load_audio(source: str | os.PathLike | bytes, limits: AudioLimits | None = AudioLimits()) -> np.ndarray:
    """Decode `source` (a path or the file's bytes) to mono float32 at 16 kHz and check it against `limits`.

    limits=None skips the checks (for callers that handle silence themselves, e.g. the tracker)."""
    audio = to_model_rate(*decode_audio(source))
    if limits is not None:
        check_audio(audio, limits, name=_name(source))
    return audio


def decode_audio(source: str | os.PathLike | bytes) -> tuple[np.ndarray, int]:
    """(mono float32 samples, sample rate) at the file's own rate: what videos keep as their soundtrack."""
    audio, rate = _decode(source)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    return np.ascontiguousarray(audio, dtype=np.float32), int(rate)


def to_model_rate(audio: np.ndarray, rate: int) -> np.ndarray:
    if rate != SAMPLE_RATE and len(audio):
        audio = soxr.resample(audio, rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    return audio


def check_audio(audio: np.ndarray, limits: AudioLimits = AudioLimits(), name: str = "the audio") -> None:
    seconds = len(audio) / SAMPLE_RATE
    if seconds < limits.min_seconds:
        raise AudioTooShortError(f"{name} is {seconds:.2f} s long; at least {limits.min_seconds} s of speech is needed")
    if limits.max_seconds is not None and seconds > limits.max_seconds:
        raise AudioTooLongError(f"{name} is {seconds:.0f} s long; the limit is {limits.max_seconds:.0f} s "
                                "(split it, or raise the limit)")
    level = rms_dbfs(audio)
    if level < limits.silence_dbfs:
        raise SilentAudioError(f"{name} is silent (level {level:.0f} dBFS): no speech to animate")


def rms_dbfs(audio: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if len(audio) else 0.0
    return 20 * np.log10(max(rms, 1e-10))


def _name(source) -> str:
    return "the audio" if isinstance(source, (bytes, bytearray)) else os.path.basename(os.fspath(source))


def _decode(source) -> tuple[np.ndarray, int]:
    data = bytes(source) if isinstance(source, (bytes, bytearray)) else None
    if data is None and not os.path.isfile(source):
        raise FileNotFoundError(f"no such file: {source}")
    try:  # a file object makes libsndfile detect the format from the header, whatever the name says
        with (io.BytesIO(data) if data is not None else open(source, "rb")) as f:
            audio, rate = sf.read(f, dtype="float32", always_2d=True)
        return audio, rate
    except (sf.LibsndfileError, RuntimeError, TypeError):
        pass
    return _decode_with_av(io.BytesIO(data) if data is not None else os.fspath(source), _name(source))


def _decode_with_av(source, name: str) -> tuple[np.ndarray, int]:
    import av  # imported here: PyAV loads FFmpeg's libraries, only needed for non-libsndfile formats

    try:
        container = av.open(source)
    except (av.error.FFmpegError, UnicodeDecodeError) as e:
        raise UnsupportedAudioError(f"{name} is not an audio or video file we can read ({e.__class__.__name__})") from e
    with container:
        streams = container.streams.audio
        if not streams:
            kind = "video" if container.streams.video else "file"
            raise NoAudioStreamError(f"{name}: this {kind} has no audio track")
        stream = streams[0]
        chunks = []
        try:
            for frame in container.decode(stream):
                a = frame.to_ndarray()
                # Planar frames are (channels, n); packed ones are (1, n * channels), interleaved.
                a = a if frame.format.is_planar else a.reshape(-1, len(frame.layout.channels)).T
                chunks.append(_to_float(a))
        except av.error.FFmpegError as e:
            raise UnsupportedAudioError(f"{name}: the audio track could not be decoded ({e})") from e
        rate = stream.rate or stream.codec_context.sample_rate
    if not chunks:
        raise NoAudioStreamError(f"{name}: the audio track is empty")
    return np.concatenate(chunks, axis=1).T, int(rate)


def _to_float(a: np.ndarray) -> np.ndarray:
    if np.issubdtype(a.dtype, np.integer):
        return a.astype(np.float32) / float(np.iinfo(a.dtype).max + 1)
    return a.astype(np.float32)
