"""MP4 writing: decode what we wrote with PyAV and check streams, timing, size and colours."""
from __future__ import annotations

import struct
import threading
from fractions import Fraction

import av
import numpy as np
import pytest

from imitator.audio import SAMPLE_RATE
from imitator.video import prefetched, write_mp4


def colour_frames(n: int, height: int = 96, width: int = 128):
    """A generator (as the renderer gives) of frames that cycle red, green, blue."""
    colours = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200]], np.uint8)
    for i in range(n):
        yield np.broadcast_to(colours[i % 3], (height, width, 3)).copy()


def tone(seconds: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * 220 * np.arange(int(seconds * sr)) / sr)).astype(np.float32)


def probe(path):
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        info = {"codec": v.codec_context.name, "pix_fmt": v.codec_context.pix_fmt, "size": (v.width, v.height),
                "rate": v.average_rate, "video_s": float(v.duration * v.time_base),
                "audio": [(a.codec_context.name, float(a.duration * a.time_base), a.rate) for a in c.streams.audio]}
        info["frames"] = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    return info


def top_level_atoms(path) -> list[str]:
    data, atoms, i = open(path, "rb").read(), [], 0
    while i < len(data):
        size, kind = struct.unpack(">I4s", data[i:i + 8])
        atoms.append(kind.decode())
        i += size
    return atoms


@pytest.mark.parametrize("audio_seconds", [2.5, 0.4])  # longer than the video: cut; shorter: padded
def test_mp4_with_audio_round_trip(tmp_path, audio_seconds):
    path = tmp_path / "out.mp4"
    assert write_mp4(path, colour_frames(45), fps=30, audio=tone(audio_seconds)) == 45
    info = probe(path)
    assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p" and info["size"] == (128, 96)
    assert info["rate"] == 30 and len(info["frames"]) == 45
    assert info["video_s"] == pytest.approx(1.5, abs=1e-3)
    (codec, audio_s, rate), = info["audio"]
    assert codec == "aac" and rate == SAMPLE_RATE
    assert abs(audio_s - info["video_s"]) < 0.05
    # Colours survive (RGB order, not BGR): frame 0 red, 1 green, 2 blue.
    for i, channel in enumerate((0, 1, 2)):
        mean = info["frames"][i].reshape(-1, 3).mean(0)
        assert mean.argmax() == channel and mean[channel] > 170, mean
    atoms = top_level_atoms(path)
    assert atoms.index("moov") < atoms.index("mdat")  # faststart: browsers can play before the download ends


def test_mp4_without_audio_and_odd_size(tmp_path):
    path = tmp_path / "silent.mp4"
    write_mp4(path, colour_frames(10, height=75, width=101), fps=25)
    info = probe(path)
    assert info["audio"] == [] and info["rate"] == 25 and len(info["frames"]) == 10
    assert info["size"] == (102, 76)  # yuv420p needs even sides: the edge is repeated


def test_ntsc_rate(tmp_path):
    path = tmp_path / "ntsc.mp4"
    write_mp4(path, colour_frames(30), fps=29.97, audio=tone(1.0))
    info = probe(path)
    assert info["rate"] == Fraction(30000, 1001)
    assert info["video_s"] == pytest.approx(30 * 1001 / 30000, abs=1e-3)
    assert abs(info["audio"][0][1] - info["video_s"]) < 0.05


def test_bad_frames(tmp_path):
    with pytest.raises(ValueError, match="no frames"):
        write_mp4(tmp_path / "a.mp4", [], fps=30)
    frames = [np.zeros((64, 64, 3), np.uint8), np.zeros((32, 64, 3), np.uint8)]
    with pytest.raises(ValueError, match="first was 64x64"):
        write_mp4(tmp_path / "b.mp4", frames, fps=30)
    with pytest.raises(ValueError, match="uint8"):
        write_mp4(tmp_path / "c.mp4", [np.zeros((64, 64, 3), np.float32)], fps=30)


def test_yuv420p_frames_are_encoded_as_given(tmp_path):
    """Frames already in the encoder's planes (what Renderer.iter_frames_yuv420 gives) decode to the same
    picture as the RGB frames they were converted from (x264 at crf 20: a few levels)."""
    rgb = [np.ascontiguousarray(np.roll(f, 8 * i, axis=1)) for i, f in enumerate(colour_frames(12, 96, 128))]
    rgb = [np.clip(f.astype(int) + np.linspace(0, 50, 128, dtype=int)[None, :, None], 0, 255).astype(np.uint8)
           for f in rgb]  # a ramp: the planes must keep their layout, not only the mean colour
    planes = [av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv420p").to_ndarray() for f in rgb]
    assert planes[0].shape == (144, 128)
    write_mp4(tmp_path / "yuv.mp4", planes, fps=30, audio=tone(0.4), pixel_format="yuv420p")
    write_mp4(tmp_path / "rgb.mp4", rgb, fps=30, audio=tone(0.4))
    yuv, ref = probe(tmp_path / "yuv.mp4"), probe(tmp_path / "rgb.mp4")
    assert yuv["size"] == (128, 96) and len(yuv["frames"]) == 12 and yuv["audio"]
    for a, b, original in zip(yuv["frames"], ref["frames"], rgb):
        assert np.array_equal(a, b)  # the same planes reach x264 either way
        assert np.abs(a.astype(int) - original).mean() < 3


def test_bad_yuv420p_frames(tmp_path):
    with pytest.raises(ValueError, match="pixel_format is one of"):
        write_mp4(tmp_path / "a.mp4", [np.zeros((96, 64), np.uint8)], fps=30, pixel_format="nv12")
    for shape in ((64, 64, 3), (95, 64), (96, 63), (99, 64)):  # RGB, not a multiple of 3, odd width, odd height
        with pytest.raises(ValueError, match=r"yuv420p frames are \(H \* 3 / 2, W\)"):
            write_mp4(tmp_path / "b.mp4", [np.zeros(shape, np.uint8)], fps=30, pixel_format="yuv420p")


def test_prefetched_keeps_order_and_runs_ahead_in_another_thread():

    made = []

    def numbers():
        for i in range(20):
            made.append(threading.current_thread().name)
            yield i

    ahead = prefetched(numbers(), depth=4)
    assert next(ahead) == 0
    for _ in range(100):  # the producer fills the queue while the consumer waits
        if len(made) >= 5:
            break
        threading.Event().wait(0.01)
    assert 5 <= len(made) <= 6 and made[0] != threading.current_thread().name
    assert list(ahead) == list(range(1, 20))


def test_prefetched_raises_the_producers_error_and_stops_when_closed():

    def failing():
        yield 1
        raise RuntimeError("renderer broke")

    ahead = prefetched(failing(), depth=2)
    assert next(ahead) == 1
    with pytest.raises(RuntimeError, match="renderer broke"):
        next(ahead)
    produced = []

    def endless():
        while True:
            produced.append(1)
            yield np.zeros(1)

    ahead = prefetched(endless(), depth=2)
    next(ahead)
    ahead.close()  # joins the producer: it must not run on
    n = len(produced)
    threading.Event().wait(0.2)
    assert len(produced) == n <= 4


def test_encoding_error_stops_the_frame_thread(tmp_path):
    frames = [np.zeros((64, 64, 3), np.uint8)] * 3 + [np.zeros((32, 64, 3), np.uint8)] + \
             [np.zeros((64, 64, 3), np.uint8)] * 50
    with pytest.raises(ValueError, match="first was 64x64"):
        write_mp4(tmp_path / "d.mp4", iter(frames), fps=30)
    assert not [t for t in threading.enumerate() if t.name == "imitator-frames"]
