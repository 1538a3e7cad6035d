"""Audio in: any common audio file (or the audio track of a video) -> mono float32 at 16 kHz.

The format is judged by the file's content, never its name: libsndfile sniffs headers (wav, flac, ogg,
mp3 ...), and anything it can't read goes to FFmpeg's prober through PyAV (webm, m4a, mp4, mov ...).
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, field

import numpy as np
import soundfile as sf
import soxr

from .errors import (AudioTooLongError, AudioTooShortError, BadSampleRateError, InvalidAudioSamplesError,
                     NoAudioStreamError, SilentAudioError, UnsupportedAudioError)
from .limits import current as current_limits

SAMPLE_RATE = 16000
MIN_RATE, MAX_RATE = 4_000, 768_000  # telephone speech .. the highest rate audio hardware records
MAX_CHANNELS = 32
MAX_PEAK = 100.0  # float audio is nominally within +-1; 40 dB beyond that is not a recording but garbage


def _default_max_seconds() -> float:
    return current_limits().max_audio_seconds


@dataclass(frozen=True)
class AudioLimits:
    min_seconds: float = 0.3
    # A cap keeps one upload from holding a server for long: IMITATOR_MAX_AUDIO_SECONDS (imitator/limits.py).
    max_seconds: float | None = field(default_factory=_default_max_seconds)
    # Below this RMS (dBFS) there is no speech to animate: a muted track is about -90 dB, speech -15..-40.
    silence_dbfs: float = -60.0


def load_audio(source: str | os.PathLike | bytes, limits: AudioLimits | None = None,
               check: bool = True) -> np.ndarray:
    """Decode `source` (a path or the file's bytes) to mono float32 at 16 kHz and check it against `limits`
    (default: AudioLimits(), whose length cap comes from the environment).

    The length cap is applied from the header before decoding, and again while decoding, so no file can
    make this hold more than max_seconds of audio. check=False skips the content checks (length floor,
    silence, sample values) for callers that handle them themselves, e.g. the tracker."""
    limits = limits or AudioLimits()
    audio = _resample_16k(*decode_audio(source, limits, check))
    if check:
        check_audio(audio, limits, name=_name(source))
    return audio


def decode_audio(source: str | os.PathLike | bytes, limits: AudioLimits | None = None,
                 check: bool = True) -> tuple[np.ndarray, int]:
    """(mono float32 samples, sample rate) at the file's own rate, length-capped as in load_audio: what
    videos keep as their soundtrack (imitator.pipeline.animate keeps it for the mp4)."""
    audio, rate = _decode(source, (limits or AudioLimits()).max_seconds)
    audio = _mono(audio)
    if check:
        check_samples(audio, _name(source))  # before resampling: NaN would spread over the whole signal
    return audio, int(rate)


def to_mono_16k(audio: np.ndarray, rate: int) -> np.ndarray:
    """Samples already in memory, (N,) or (N, channels), integer PCM or float, at `rate` -> mono float32 at
    16 kHz, unchecked (a decoded soundtrack kept for the video: imitator.pipeline; a dataset's stored audio:
    imitator.data.vocaset)."""
    return _resample_16k(_mono(_to_float(np.asarray(audio))), rate)


def _mono(audio: np.ndarray) -> np.ndarray:
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    return np.ascontiguousarray(audio, dtype=np.float32)


def _resample_16k(audio: np.ndarray, rate: int) -> np.ndarray:
    if rate != SAMPLE_RATE and len(audio):
        audio = soxr.resample(audio, rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    return audio


def check_samples(audio: np.ndarray, name: str = "the audio") -> None:
    """NaN, inf or absurd sample values make every vertex NaN downstream: refuse them here."""
    if not np.isfinite(audio).all():
        bad = int((~np.isfinite(audio)).sum())
        raise InvalidAudioSamplesError(f"{name} has {bad} NaN or infinite samples; it is not a usable recording")
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak > MAX_PEAK:
        raise InvalidAudioSamplesError(f"{name} has samples up to {peak:.3g} (full scale is 1.0); it is not a "
                                       "usable recording")


def check_audio(audio: np.ndarray, limits: AudioLimits | None = None, name: str = "the audio") -> None:
    limits = limits or AudioLimits()
    check_samples(audio, name)
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


def _decode(source, max_seconds: float | None) -> tuple[np.ndarray, int]:
    data = bytes(source) if isinstance(source, (bytes, bytearray)) else None
    if data is None and not os.path.isfile(source):
        raise FileNotFoundError(f"no such file: {source}")
    name = _name(source)
    try:  # a file object makes libsndfile detect the format from the header, whatever the name says
        with (io.BytesIO(data) if data is not None else open(source, "rb")) as f, sf.SoundFile(f) as snd:
            rate, channels, frames = snd.samplerate, snd.channels, snd.frames
            _check_header(name, rate, channels, frames / rate if 0 < frames < 2**62 else None, max_seconds)
            cap = int(max_seconds * rate) + 1 if max_seconds is not None else -1
            audio = snd.read(frames=cap, dtype="float32", always_2d=True)  # at most the cap, whatever it says
        _check_decoded_length(name, len(audio), rate, max_seconds)
        return audio, rate
    except (sf.LibsndfileError, RuntimeError, TypeError):
        pass
    return _decode_with_av(io.BytesIO(data) if data is not None else os.fspath(source), name, max_seconds)


def _check_header(name: str, rate, channels: int, seconds: float | None, max_seconds: float | None) -> None:
    """What the header claims, judged before a single sample is decoded."""
    if not rate or not MIN_RATE <= rate <= MAX_RATE:
        raise BadSampleRateError(f"{name} claims a sample rate of {rate} Hz; audio between {MIN_RATE} and "
                                 f"{MAX_RATE} Hz is supported")
    if not 1 <= channels <= MAX_CHANNELS:
        raise UnsupportedAudioError(f"{name} claims {channels} audio channels; at most {MAX_CHANNELS} are supported")
    if max_seconds is not None and seconds is not None and seconds > max_seconds:
        raise AudioTooLongError(f"{name} is {seconds:.0f} s long; the limit is {max_seconds:.0f} s "
                                "(split it, or raise IMITATOR_MAX_AUDIO_SECONDS)")


def _check_decoded_length(name: str, n: int, rate: int, max_seconds: float | None) -> None:
    if max_seconds is not None and n > max_seconds * rate:
        raise AudioTooLongError(f"{name} is longer than the limit of {max_seconds:.0f} s "
                                "(split it, or raise IMITATOR_MAX_AUDIO_SECONDS)")


def _decode_with_av(source, name: str, max_seconds: float | None) -> tuple[np.ndarray, int]:
    import av  # imported here: PyAV loads FFmpeg's libraries, only needed for non-libsndfile formats

    try:
        container = av.open(source)
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError, OSError) as e:
        raise UnsupportedAudioError(f"{name} is not an audio or video file we can read ({e.__class__.__name__})") from e
    with container:
        streams = container.streams.audio
        if not streams:
            kind = "video" if container.streams.video else "file"
            raise NoAudioStreamError(f"{name}: this {kind} has no audio track")
        stream = streams[0]
        codec = stream.codec_context
        if codec is None:  # a damaged header can leave a stream without a decoder
            raise UnsupportedAudioError(f"{name}: the audio track has no decodable codec")
        rate = getattr(stream, "rate", None) or codec.sample_rate
        claimed = container.duration / 1e6 if container.duration and container.duration > 0 else None
        _check_header(name, rate, max(codec.channels or 1, 1), claimed, max_seconds)
        chunks, total = [], 0
        try:
            for frame in container.decode(stream):
                a = frame.to_ndarray()
                # Planar frames are (channels, n); packed ones are (1, n * channels), interleaved.
                a = a if frame.format.is_planar else a.reshape(-1, len(frame.layout.channels)).T
                chunks.append(_to_float(a))
                total += a.shape[1]
                _check_decoded_length(name, total, rate, max_seconds)  # the header may have lied
        except (av.error.FFmpegError, ValueError) as e:
            if not chunks:
                raise UnsupportedAudioError(
                    f"{name}: the audio track could not be decoded ({e.__class__.__name__})") from e
            # A damaged tail: keep what decoded (callers learn of truncation from the length they get).
        if len({c.shape[0] for c in chunks}) > 1:
            raise UnsupportedAudioError(f"{name}: the audio track changes its channel count mid-stream")
    if not chunks:
        raise NoAudioStreamError(f"{name}: the audio track is empty")
    return np.concatenate(chunks, axis=1).T, int(rate)


def _to_float(a: np.ndarray) -> np.ndarray:
    if np.issubdtype(a.dtype, np.integer):
        return a.astype(np.float32) / float(np.iinfo(a.dtype).max + 1)
    return a.astype(np.float32)
