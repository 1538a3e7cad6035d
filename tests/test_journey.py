"""What a person meets before and after the model runs: up-front checks, style management, download names,
the soundtrack's quality and readable progress (the library side of the app's journey)."""
import av
import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import speechlike
from imitator import pipeline, style_store
from imitator.errors import NoAudioStreamError, VideoTooShortError
from imitator.progress import StageBar
from imitator.style_store import StyleError, StyleNameTakenError
from imitator.styles import Style, StyleMeta


def _style(name):
    return Style(StyleMeta(name=name, model_id="m"), torch.zeros(10, 3), torch.zeros(8))


@pytest.fixture
def no_tracking(monkeypatch):
    """Fails the test if tracking starts: checks must come first."""
    import imitator.tracking

    def track(*a, **k):
        raise AssertionError("tracking started before the input was checked")
    monkeypatch.setattr(imitator.tracking, "track_video", track)


def test_a_short_clip_is_refused_before_tracking(tmp_path, no_tracking):
    from test_tracking import gray, write_video

    clip = write_video(tmp_path / "short.mp4", [gray()] * 28, audio=speechlike(1.1))  # 1.1 s at 25 fps
    with pytest.raises(VideoTooShortError, match="1.1 s long; a style needs at least 3 s"):
        pipeline.create_style(clip, "Short", user_dir=tmp_path / "styles")


def test_a_missing_audio_track_is_refused_before_tracking(tmp_path, no_tracking):
    from test_tracking import gray, write_video

    clip = write_video(tmp_path / "mute.mp4", [gray()] * 125)
    with pytest.raises(NoAudioStreamError, match="no audio track"):
        pipeline.create_style(clip, "Mute", user_dir=tmp_path / "styles")


def test_a_taken_name_is_refused_before_tracking_unless_overwrite_is_asked(tmp_path, no_tracking):
    from test_tracking import gray, write_video

    clip = write_video(tmp_path / "ok.mp4", [gray()] * 100, audio=speechlike(4.0))
    style_store.save_style(_style("José"), tmp_path / "styles")
    with pytest.raises(StyleNameTakenError, match="one of your styles"):
        pipeline.create_style(clip, "José", user_dir=tmp_path / "styles")
    with pytest.raises(StyleNameTakenError, match="bundled preset"):
        pipeline.create_style(clip, "Ava", user_dir=tmp_path / "styles", overwrite=True)
    with pytest.raises(AssertionError, match="tracking started"):  # asked to overwrite: goes on to tracking
        pipeline.create_style(clip, "José", user_dir=tmp_path / "styles", overwrite=True)


def test_styles_are_managed_per_owner_and_presets_are_protected(tmp_path):
    d = tmp_path / "styles"
    alice, bob = style_store.new_owner(), style_store.new_owner()
    style_store.save_style(_style("José"), d, owner=alice)
    with pytest.raises(StyleNameTakenError):
        style_store.save_style(_style("José"), d, owner=alice)  # never silently overwritten
    style_store.save_style(_style("José"), d, owner=bob)  # another browser's José is another style
    with pytest.raises(StyleNameTakenError, match="preset"):
        style_store.save_style(_style("Ava"), d, owner=alice)
    names = [e.name for e in style_store.list_styles(d, owner=alice)]
    assert names.count("Ava") == 1 and "José" in names
    style_store.rename_style("José", "Zoë", d, owner=alice)
    style_store.describe_style("Zoë", "my calm voice", d, owner=alice)
    entry = {e.name: e for e in style_store.list_styles(d, owner=alice)}["Zoë"]
    assert entry.meta.description == "my calm voice" and entry.meta.name == "Zoë"
    assert "José" not in [e.name for e in style_store.list_styles(d, owner=alice)]
    assert "José" in [e.name for e in style_store.list_styles(d, owner=bob)]
    for change in (lambda: style_store.delete_style("Ava", d, owner=alice),
                   lambda: style_store.rename_style("Ava", "Mine", d, owner=alice),
                   lambda: style_store.describe_style("Ava", "x", d, owner=alice)):
        with pytest.raises(StyleError, match="preset"):
            change()
    style_store.delete_style("Zoë", d, owner=alice)
    assert [e.kind for e in style_store.list_styles(d, owner=alice)] == ["preset"] * len(names[:-1])


def test_downloads_are_named_after_style_and_speech_and_keep_the_speech_rate(tmp_path, monkeypatch):
    from imitator.topology import get_topology

    faces = get_topology().faces
    t = int(faces.max()) + 1
    speech = tmp_path / "hello world.wav"
    sf.write(speech, speechlike(2.0, sr=44100), 44100)
    from imitator.audio import decode_audio

    sound, rate = decode_audio(speech)
    anim = pipeline.Animation(np.zeros((60, t, 3), np.float32), faces, 30.0, np.zeros(32000, np.float32), "José",
                              sound=sound, sound_rate=rate, speech_name=speech.stem)
    paths, _ = pipeline.export_downloads(anim, tmp_path)
    assert sorted(p.name for p in paths.values()) == ["José - hello world (OBJ).zip", "José - hello world.glb",
                                                       "José - hello world.npz"]
    assert all(p.is_file() for p in paths.values())

    class Flat:  # rendering itself is tested in test_render; here only the soundtrack matters
        def iter_frames(self, vertices, texture=None):
            return (np.zeros((64, 64, 3), np.uint8) for _ in vertices)

        def iter_frames_yuv420(self, vertices, texture=None):  # what render_video asks for: x264's planes
            return (np.zeros((96, 64), np.uint8) for _ in vertices)
    monkeypatch.setattr("imitator.render.shared_renderer", lambda **_: Flat())
    seen = []
    video = pipeline.render_video(anim, tmp_path / f"{pipeline.download_stem(anim)}.mp4",
                                  progress=lambda f, m: seen.append((f, m)))
    with av.open(str(video)) as c:
        assert c.streams.audio[0].rate == 44100  # not cut to the model's 16 kHz
    assert seen[0][1] == "rendering: 0/60 frames" and seen[-1] == (1.0, "rendering: 60/60 frames")
    assert len(seen) == 7  # every 10 frames


def test_stage_bar_reports_items_and_time_left(monkeypatch):
    clock = iter([0.0, 10.0])
    monkeypatch.setattr("imitator.progress.time.perf_counter", lambda: next(clock))
    seen = []
    bar = StageBar(lambda f, m: seen.append((round(f, 3), m)), {"tracking": 1, "rendering": 3})
    bar.update("rendering", 0, 100)
    bar.update("rendering", 25, 100)
    assert seen == [(0.25, "rendering: 0/100 frames"), (0.438, "rendering: 25/100 frames, about 30 s left")]


def test_an_mpeg4_selfie_gets_a_preview_browsers_play(tmp_path):
    from test_tracking import gray, write_video

    from imitator.video import playable_in_browsers

    h264 = write_video(tmp_path / "h264.mp4", [gray()] * 50, audio=speechlike(2.0))
    assert playable_in_browsers(h264, tmp_path / "out") == h264  # nothing to do
    old = write_video(tmp_path / "old.avi", [gray()] * 50, audio=speechlike(2.0), codecs=("mpeg4", "aac"))
    (tmp_path / "out").mkdir()
    copy = playable_in_browsers(old, tmp_path / "out")
    with av.open(str(copy)) as c:
        assert c.streams.video[0].codec_context.name == "h264" and c.streams.audio
        assert abs(float(c.duration) / 1e6 - 2.0) < 0.15


def test_speech_that_is_not_english_gets_no_english_lip_labels():
    from conftest import shared_file
    from imitator.audio import load_audio
    from imitator.lips import label_reference

    german = load_audio(shared_file("audio", "german1.wav"))[:16000 * 8]
    vertices = np.zeros((240, 468, 3), np.float32)
    weights, note = label_reference(vertices, german, 30.0)
    assert weights is None and "does not sound like English" in note
