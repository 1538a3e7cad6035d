"""Every supported container/codec loads (made here with PyAV), judged by content; bad input gets its own error."""
import shutil

import av
import numpy as np
import pytest

from conftest import shared_file, speechlike
from imitator.audio import SAMPLE_RATE, AudioLimits, load_audio
from imitator.errors import (AudioTooLongError, AudioTooShortError, NoAudioStreamError, SilentAudioError,
                             UnsupportedAudioError)

SECONDS = 1.5


def write_media(path, audio, rate=44100, fmt=None, codec="pcm_s16le", channels=2, video=False):
    """Encode `audio` (mono float, at `rate`) with PyAV, optionally with a video track."""
    with av.open(str(path), "w", format=fmt) as out:
        if video:
            vs = out.add_stream("libx264" if fmt != "webm" else "libvpx", rate=25)
            vs.width, vs.height, vs.pix_fmt = 64, 64, "yuv420p"
        a = out.add_stream(codec, rate=rate, layout="stereo" if channels == 2 else "mono")
        fmt_name = a.codec_context.codec.audio_formats[0].name
        frame_size = a.codec_context.frame_size or 1024
        data = np.stack([audio] * channels)
        for start in range(0, data.shape[1], frame_size):
            chunk = data[:, start:start + frame_size]
            if chunk.shape[1] < frame_size and a.codec_context.frame_size:
                chunk = np.pad(chunk, ((0, 0), (0, frame_size - chunk.shape[1])))
            frame = av.AudioFrame.from_ndarray(_as_format(chunk, fmt_name), format=fmt_name,
                                               layout=a.layout.name)
            frame.rate = rate
            frame.pts = start
            out.mux(a.encode(frame))
        out.mux(a.encode(None))
        if video:
            for i in range(int(SECONDS * 25)):
                img = np.full((64, 64, 3), i * 5 % 255, np.uint8)
                out.mux(vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
            out.mux(vs.encode(None))
    return path


def _as_format(chunk, fmt_name):
    planar = fmt_name.endswith("p")
    base = fmt_name.rstrip("p")
    x = chunk if planar else chunk.T.reshape(1, -1)
    if base == "s16":
        return (np.clip(x, -1, 1) * 32767).astype(np.int16)
    if base == "s32":
        return (np.clip(x, -1, 1) * 2147483647).astype(np.int32)
    return x.astype(np.float32)


CASES = [  # (file name, container, audio codec, with video)
    ("a.wav", "wav", "pcm_s16le", False),
    ("a.flac", "flac", "flac", False),
    ("a.mp3", "mp3", "libmp3lame", False),
    ("a.ogg", "ogg", "libopus", False),
    ("a.webm", "webm", "libopus", False),
    ("a.m4a", "ipod", "aac", False),
    ("v.mp4", "mp4", "aac", True),
    ("v.mov", "mov", "aac", True),
    ("v.webm", "webm", "libopus", True),
]


@pytest.mark.parametrize("name,fmt,codec,video", CASES, ids=[c[0] for c in CASES])
def test_formats_load_as_mono_16k(tmp_path, name, fmt, codec, video):
    rate = 48000 if codec == "libopus" else 44100
    src = speechlike(SECONDS, sr=rate)
    path = write_media(tmp_path / name, src, rate=rate, fmt=fmt, codec=codec, video=video)
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) / SAMPLE_RATE - SECONDS) < 0.1  # codec padding is at most a few frames
    assert 0.05 < np.abs(audio).max() < 1.0


def test_format_judged_by_content_not_name(tmp_path):
    path = write_media(tmp_path / "really_flac.mp3", speechlike(1.0), rate=SAMPLE_RATE, fmt="flac", codec="flac")
    wrong = tmp_path / "named.wav"
    shutil.copy(write_media(tmp_path / "x.ogg", speechlike(1.0, sr=48000), fmt="ogg", codec="libopus", rate=48000), wrong)
    assert abs(len(load_audio(path)) - SAMPLE_RATE) < 1600  # codec frame padding
    assert abs(len(load_audio(wrong)) - SAMPLE_RATE) < 2000


def test_bytes_input_and_resampling_preserve_pitch(tmp_path):
    rate = 22050
    t = np.arange(rate) / rate
    path = write_media(tmp_path / "tone.wav", (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate=rate)
    audio = load_audio(path.read_bytes())
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / len(audio) - 440) < 3


def test_shared_wav_named_mp3_loads():
    audio = load_audio(shared_file("audio", "wav_named_mp3.mp3"))
    assert abs(len(audio) / SAMPLE_RATE - 6.32) < 0.05


def test_video_without_audio(tmp_path):
    path = tmp_path / "silent_film.mp4"
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = 64, 64, "yuv420p"
        for i in range(10):
            out.mux(vs.encode(av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")))
        out.mux(vs.encode(None))
    with pytest.raises(NoAudioStreamError, match="no audio track"):
        load_audio(path)


def test_silent_audio(tmp_path):
    path = write_media(tmp_path / "quiet.wav", np.zeros(SAMPLE_RATE, np.float32), rate=SAMPLE_RATE)
    with pytest.raises(SilentAudioError, match="silent"):
        load_audio(path)


def test_too_short(tmp_path):
    path = write_media(tmp_path / "blip.wav", speechlike(0.2), rate=SAMPLE_RATE)
    with pytest.raises(AudioTooShortError, match="0.20 s"):
        load_audio(path)


def test_too_long_is_configurable(tmp_path):
    path = write_media(tmp_path / "long.wav", speechlike(3.0), rate=SAMPLE_RATE)
    with pytest.raises(AudioTooLongError, match="limit is 2 s"):
        load_audio(path, AudioLimits(max_seconds=2.0))
    assert len(load_audio(path, AudioLimits(max_seconds=5.0))) == 48000


def test_not_audio(tmp_path):
    path = tmp_path / "notes.mp3"
    path.write_text("this is not audio at all\n" * 100)
    with pytest.raises(UnsupportedAudioError, match="not an audio or video file"):
        load_audio(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_audio(tmp_path / "nope.wav")
