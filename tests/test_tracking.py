"""Face tracking on real videos (../shared/data, skipped when absent) and on videos the tests encode."""
from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from conftest import shared_file

pytest.importorskip("mediapipe", reason="face tracking needs mediapipe (the 'tracking' extra)")
av = pytest.importorskip("av")

from imitator.audio import SAMPLE_RATE  # noqa: E402
from imitator.cli import main  # noqa: E402
from imitator.errors import (FaceLostError, ImitatorError, NoFaceError, UnreadableVideoError,  # noqa: E402
                             VideoTooShortError)
from imitator.topology import MEDIAPIPE_468, lip_distance  # noqa: E402
from imitator.tracking import TrackConfig, TrackResult, save_preview, track_video  # noqa: E402


# --- making test videos ---------------------------------------------------------------------------------
def write_video(path: Path, frames, times=None, fps: int = 25, audio: np.ndarray | None = None,
                rotation: int = 0, codecs: tuple[str, str] = ("libx264", "aac")) -> Path:
    """Encode RGB frames (H.264, optional AAC audio given at 16 kHz). `times` in seconds makes a variable
    frame rate; `rotation` (a multiple of 90) is written as the display matrix players apply when showing it."""
    frames = list(frames)
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        options = {"preset": "ultrafast"} if codecs[0] == "libx264" else {"deadline": "realtime", "cpu-used": "8"}
        v = out.add_stream(codecs[0], rate=fps, options=options)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        v.time_base = Fraction(1, 1000)
        a = None
        rate = 48000 if codecs[1] in ("libopus", "opus") else SAMPLE_RATE
        if audio is not None:
            audio = np.repeat(audio, rate // SAMPLE_RATE)  # crude upsampling is enough for these tests
            a = out.add_stream(codecs[1], rate=rate, layout="mono")
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = int(round(1000 * (times[i] if times is not None else i / fps)))
            frame.time_base = Fraction(1, 1000)
            out.mux(v.encode(frame))
        out.mux(v.encode())
        if a is not None:
            chunk = 960
            for start in range(0, len(audio), chunk):
                block = audio[start:start + chunk].astype(np.float32)[None]
                frame = av.AudioFrame.from_ndarray(block, format="flt", layout="mono")
                frame.sample_rate, frame.pts = rate, start
                out.mux(a.encode(frame))
            out.mux(a.encode())
    if rotation:
        _set_display_rotation(path, rotation)
    return path


def _set_display_rotation(path: Path, degrees: int) -> None:
    """Write the mp4 track header's display matrix (what phones do for portrait clips)."""
    data = bytearray(path.read_bytes())
    i = data.find(b"tkhd")
    version = data[i + 4]
    matrix_at = i + 8 + (16 if version == 1 else 8) + 8 + (8 if version == 1 else 4) + 16
    c, s = round(np.cos(np.radians(degrees))), round(np.sin(np.radians(degrees)))
    data[matrix_at:matrix_at + 36] = struct.pack(">9i", c << 16, -s << 16, 0, s << 16, c << 16, 0, 0, 0, 1 << 30)
    path.write_bytes(data)


def real_frames(name: str, n: int) -> list[np.ndarray]:
    with av.open(str(shared_file("videos", name))) as c:
        return [f.to_ndarray(format="rgb24") for f, _ in zip(c.decode(video=0), range(n))]


def gray(h: int = 256, w: int = 256) -> np.ndarray:
    return np.full((h, w, 3), 128, np.uint8)


def rigid_jitter(vertices: np.ndarray) -> float:
    """RMS frame-to-frame motion of the rigid vertices, mm."""
    return float(np.sqrt(np.mean(np.sum(np.diff(vertices[:, MEDIAPIPE_468.rigid], axis=0) ** 2, -1))))


# --- real videos -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def may():
    calls = []
    result = track_video(shared_file("videos", "May_5s.mp4"), progress=lambda f, m: calls.append((f, m)))
    return result, calls


def test_real_video_shapes_units_and_frame(may):
    r, _ = may
    assert r.vertices.shape == (150, 468, 3) and r.vertices.dtype == np.float32  # 5.0 s at 30 fps
    assert r.fps == 30.0 and r.valid.all() and r.detected.all()
    assert np.array_equal(r.faces, MEDIAPIPE_468.faces)
    t = r.template
    eye_corners = np.linalg.norm(t[263] - t[33])
    assert 75 < eye_corners < 115  # outer eye corners of an adult, in mm, given the 63 mm iris convention
    assert t[263, 0] > t[33, 0]    # x: toward the subject's left
    assert t[10, 1] > t[1, 1] > t[152, 1]  # y up: forehead above the nose tip above the chin
    assert t[1, 2] > t[33, 2] + 10  # z toward the camera: the nose tip sticks out
    assert np.allclose(t[168], 0, atol=1e-4)  # origin at the nose bridge
    assert lip_distance(t) < np.median(lip_distance(r.vertices))  # the template has a closed-ish mouth
    frame = r.texture_frame  # the frame for the face texture: with the 10 iris landmarks, mouth near rest
    assert frame.pixels.shape == (478, 2) and frame.image.ndim == 3
    assert lip_distance(r.vertices[frame.frame_index]) < np.percentile(lip_distance(r.vertices), 50)


def test_real_video_is_stabilised_and_audio_aligned(may):
    r, calls = may
    assert rigid_jitter(r.vertices) < 0.3
    assert r.has_audio and len(r.audio) == 150 * SAMPLE_RATE // 30 and r.audio.dtype == np.float32
    assert r.warnings == []
    assert 0.7 <= r.metadata["depth_scale"] <= 1.3
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(calls) > 5
    assert all(isinstance(m, str) and m for _, m in calls)


def test_save_load_roundtrip_without_pickle(may, tmp_path):
    r, _ = may
    r.save(tmp_path / "t.npz")
    back = TrackResult.load(tmp_path / "t.npz")
    for name in ("vertices", "template", "faces", "valid", "detected", "audio"):
        assert np.array_equal(getattr(back, name), getattr(r, name)), name
    assert back.fps == r.fps and back.metadata == r.metadata
    with np.load(tmp_path / "t.npz", allow_pickle=False) as z:
        assert z["vertices"].dtype == np.float32 and z["faces"].dtype == np.int32


def test_preview_png(may, tmp_path):
    r, _ = may
    save_preview(r, tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="preview"):
        save_preview(TrackResult.load(_saved(r, tmp_path)), tmp_path / "q.png")


def _saved(r: TrackResult, folder: Path) -> Path:
    r.save(folder / "s.npz")
    return folder / "s.npz"


def test_lip_distance_reaches_zero_on_closures_and_smoothing_keeps_them():
    path = shared_file("videos", "retalking_5.mp4")
    raw = track_video(path, config=TrackConfig(smooth_frames=0, rigid_smooth_frames=0))
    smoothed = track_video(path)
    d_raw, d = lip_distance(raw.vertices), lip_distance(smoothed.vertices)
    assert d.min() < 1.0 and np.median(d) > 3.0  # the lips close (m, b, p) and open in between
    closures = [i for i in range(2, len(d_raw) - 2) if d_raw[i] == d_raw[i - 2:i + 3].min() and d_raw[i] < 2]
    assert len(closures) >= 3
    assert np.max(d[closures] - d_raw[closures]) < 0.6  # smoothing lifts a closure by well under a mm
    assert rigid_jitter(smoothed.vertices) < rigid_jitter(raw.vertices)


# --- videos the tests make -------------------------------------------------------------------------------
def test_rotated_portrait_video_without_audio(tmp_path):
    """A phone clip: stored landscape with a display rotation, shown portrait. No audio track."""
    portrait = [f[:, 112:400] for f in real_frames("May_5s.mp4", 40)]  # 512 x 288, 1.6 s
    upright = write_video(tmp_path / "upright.mp4", portrait)
    # Stored turned a quarter counter-clockwise; the display matrix turns it back clockwise.
    rotated = write_video(tmp_path / "rotated.mp4", [np.rot90(f) for f in portrait], rotation=-90)
    main(["track", str(rotated), "--out", str(tmp_path / "r.npz"), "--preview", str(tmp_path / "r.png")])
    r = TrackResult.load(tmp_path / "r.npz")
    reference = track_video(upright)
    assert r.metadata["source"]["rotation"] == -90 and (tmp_path / "r.png").exists()
    assert r.valid.all() and r.vertices.shape == reference.vertices.shape == (48, 468, 3)
    assert np.abs(r.vertices - reference.vertices).mean() < 0.5  # mm: the same face, upright both times
    assert not r.has_audio and r.warnings[0].code == "no_audio" and "style" in str(r.warnings[0])


def test_variable_frame_rate_is_resampled_to_30fps(tmp_path):
    frames = real_frames("May_5s.mp4", 75)  # 3 s at 25 fps
    constant = track_video(write_video(tmp_path / "cfr.mp4", frames))
    keep = [i for i in range(75) if i % 3 != 1]  # drop every third frame: 25 and 12.5 fps alternate
    vfr = track_video(write_video(tmp_path / "vfr.mp4", [frames[i] for i in keep], times=[i / 25 for i in keep]))
    assert len(vfr.vertices) == len(constant.vertices) == 90
    a, b = lip_distance(constant.vertices), lip_distance(vfr.vertices)
    assert np.corrcoef(a, b)[0, 1] > 0.9 and np.abs(a - b).mean() < 1.0


def test_4k_video_is_downscaled_for_detection(tmp_path):
    import cv2  # mediapipe depends on opencv

    frames = [cv2.resize(f, (2160, 2160)) for f in real_frames("May_5s.mp4", 32)]
    frames = [np.pad(f, ((0, 0), (840, 840), (0, 0))) for f in frames]  # 3840 x 2160
    r = track_video(write_video(tmp_path / "4k.mp4", frames), config=TrackConfig(detect_max_side=960))
    assert r.metadata["source"]["width"] == 3840 and r.valid.all()
    assert r.preview.image.shape[1] == 960  # detection (and the preview) used the downscaled frame


def test_short_gaps_are_filled_long_gaps_reported_and_audio_stays_aligned(tmp_path):
    face = real_frames("May_5s.mp4", 110)
    blank = gray(512, 512)
    # 25 fps: face 1.2 s, nothing 0.32 s, face 1.2 s, nothing 0.8 s, face 1.2 s
    frames = face[:30] + [blank] * 8 + face[30:60] + [blank] * 20 + face[60:90]
    audio = np.zeros(int(len(frames) / 25 * SAMPLE_RATE), np.float32)
    audio[SAMPLE_RATE:SAMPLE_RATE + 160] = 0.8  # a click at exactly 1.0 s
    r = track_video(write_video(tmp_path / "gaps.mp4", frames, audio=audio))
    gap_long = slice(int(2.72 * 30) + 2, int(3.52 * 30) - 2)
    gap_short = slice(int(1.2 * 30) + 2, int(1.52 * 30) - 2)
    assert not r.detected[gap_short].any() and r.valid[gap_short].all()
    assert not r.valid[gap_long].any()
    assert [w.code for w in r.warnings] == ["face_lost"] and "no face from 2.7" in str(r.warnings[0])
    click = int(np.argmax(np.abs(r.audio) > 0.4))
    assert abs(click - SAMPLE_RATE) < SAMPLE_RATE * 0.02  # within 20 ms of where it is in the file


def test_browser_webm_with_two_faces_tracks_the_larger(tmp_path):
    import cv2

    frames = real_frames("May_5s.mp4", 32)
    both = [np.concatenate([f, np.pad(cv2.resize(f, (256, 256)), ((128, 128), (0, 0), (0, 0)))], 1)
            for f in frames]  # 768 x 512: the face on the left is twice the size of the one on the right
    audio = np.zeros(int(32 / 25 * SAMPLE_RATE), np.float32)
    audio[8000:8160] = 0.8  # a click at 0.5 s
    r = track_video(write_video(tmp_path / "webcam.webm", both, audio=audio, codecs=("libvpx", "libopus")))
    assert r.metadata["source"]["codec"] == "vp8" and r.valid.all()
    assert r.preview.pixels[:, 0].max() < 512  # every landmark on the large face
    click = int(np.argmax(np.abs(r.audio) > 0.4))
    assert abs(click - 8000) < SAMPLE_RATE * 0.02


# --- errors ------------------------------------------------------------------------------------------------
def test_not_a_video(tmp_path):
    (tmp_path / "notes.mp4").write_text("this is text, not a video")
    with pytest.raises(UnreadableVideoError, match="not a video"):
        track_video(tmp_path / "notes.mp4")
    import soundfile as sf

    sf.write(tmp_path / "speech.wav", np.zeros(SAMPLE_RATE, np.float32), SAMPLE_RATE)
    with pytest.raises(UnreadableVideoError, match="no video stream"):
        track_video(tmp_path / "speech.wav")
    with pytest.raises(FileNotFoundError):
        track_video(tmp_path / "missing.mp4")


def test_cli_reports_errors_in_one_line(tmp_path, capsys):
    (tmp_path / "notes.mp4").write_text("text")
    with pytest.raises(SystemExit) as e:
        main(["track", str(tmp_path / "notes.mp4"), "--out", str(tmp_path / "o.npz")])
    assert e.value.code == 2
    assert "imitator track: error: notes.mp4 is not a video" in capsys.readouterr().err


def test_no_face(tmp_path):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (128, 128, 3), dtype=np.uint8) for _ in range(40)]
    with pytest.raises(NoFaceError, match="looked at 40 frames"):
        track_video(write_video(tmp_path / "noise.mp4", frames))


def test_face_lost_for_too_long(tmp_path):
    frames = real_frames("May_5s.mp4", 15) + [gray(512, 512)] * 35  # a face for 0.6 s of 2 s
    with pytest.raises(FaceLostError, match="only 3[0-9]% of 60 frames"):
        track_video(write_video(tmp_path / "lost.mp4", frames))


def test_too_short(tmp_path):
    with pytest.raises(VideoTooShortError, match="0.60 s"):
        track_video(write_video(tmp_path / "short.mp4", [gray()] * 15))


def test_errors_are_value_errors():
    for cls in (UnreadableVideoError, NoFaceError, FaceLostError, VideoTooShortError):
        assert issubclass(cls, ImitatorError) and issubclass(cls, ValueError)
