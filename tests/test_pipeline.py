"""create_style and animate end to end, on real video and speech, with a small model of the real topology."""
import numpy as np
import pytest
import torch

from conftest import shared_file, speechlike
from imitator.audio import SAMPLE_RATE
from imitator.adapt import AdaptConfig
from imitator.checkpoint import load_model, save_model
from imitator.errors import NoAudioStreamError, SilentAudioError, StyleModelMismatchError, StyleNotFoundError
from imitator.model import Imitator, ModelConfig
from imitator.pipeline import animate, create_style, picture_note
from imitator.style_store import delete_style, list_styles, load_style

FAST = AdaptConfig(stage1_steps=40, stage2_steps=40)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    torch.manual_seed(0)
    m = Imitator(ModelConfig(n_vertices=468, style_names=("a", "b"), encoder="mel", audio_dim=80))
    torch.nn.init.normal_(m.motion_decoder.basis.weight, std=0.1)
    folder = save_model(m, tmp_path_factory.mktemp("model"))
    return load_model(folder)


def test_create_style_from_real_video_then_animate(model, tmp_path, monkeypatch):
    import imitator.pipeline as pipeline
    from imitator.lips import label_frames
    from imitator.topology import lip_distance

    video = shared_file("videos", "retalking_2.mp4")
    steps, fitted = [], {}
    real_adapt = pipeline.adapt

    def spy(model, audio, vertices, *args, lip_weights=None, **kw):
        fitted.update(vertices=vertices, lip_weights=lip_weights)
        return real_adapt(model, audio, vertices, *args, lip_weights=lip_weights, **kw)

    monkeypatch.setattr(pipeline, "adapt", spy)
    style = create_style(video, "Congressman", model=model, user_dir=tmp_path, config=FAST,
                         progress=lambda f, m: steps.append((f, m)))
    assert [e.name for e in list_styles(tmp_path, preset_dir=None)] == ["Congressman"]
    assert style.meta.model_id == model.model_id and "retalking_2.mp4 sha256:" in style.meta.source
    assert 0 < style.meta.fit["fit_l2_mm"] < 10
    fractions = [f for f, _ in steps]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("stage 2" in m for _, m in steps) and any("stage 1" in m for _, m in steps)
    # Whisper heard "...my own dreams growing up": closures labelled and used in the fit
    assert style.meta.fit["lip_closures"] >= 1 and "lip closures labelled" in style.meta.fit["lip_labels"]
    # ... and the style was fitted to contact-true targets: the lips touch at the labelled closures
    closed = label_frames(fitted["lip_weights"])
    assert style.meta.fit["closures_made_contact_true"] >= 1
    touching = (lip_distance(fitted["vertices"][closed]) < 0.5).mean()
    assert touching >= style.meta.fit["closures_made_contact_true"] / len(closed) - 1e-9
    assert 0 <= style.meta.fit["closures_kept"] <= 1 and style.meta.fit["holdout_lip_sync_mm"] > 0
    # a picture of the face, saved in the style's file and given to the animation for rendering
    assert style.texture.dtype == torch.uint8 and style.texture.shape == (512, 512, 3)
    assert torch.equal(load_style("Congressman", user_dir=tmp_path).texture, style.texture)
    assert "picture of the face" in picture_note(style)

    anim = animate(speechlike(3.0), style="Congressman", model=model, user_dir=tmp_path)
    assert anim.vertices.shape == (90, 468, 3) and anim.faces.shape == (852, 3) and anim.fps == 30.0
    assert anim.style == "Congressman"
    # the person's own face, not the model's mean face (zeros here)
    assert np.abs(anim.vertices.mean(0) - style.template.numpy()).mean() < 5.0
    assert np.array_equal(anim.texture, style.texture.numpy())
    delete_style("Congressman", user_dir=tmp_path)  # the picture goes with the style: no file is left
    assert list(tmp_path.glob("Congressman*")) == []


def test_generic_and_training_styles(model):
    audio = speechlike(1.0)
    generic = animate(audio, model=model)
    a = animate(audio, style="a", model=model)
    assert generic.style == "generic" and a.style == "a"
    assert not np.allclose(generic.vertices, a.vertices)


def test_style_for_other_weights_is_refused(model, tmp_path):
    from imitator.style_store import save_style
    from imitator.styles import Style, StyleMeta

    save_style(Style(StyleMeta("Other", model_id="0123456789abcdef"), torch.zeros(468, 3), torch.zeros(64)), tmp_path)
    with pytest.raises(StyleModelMismatchError):
        animate(speechlike(1.0), style="Other", model=model, user_dir=tmp_path)


def test_unknown_style(model, tmp_path):
    with pytest.raises(StyleNotFoundError, match="no style named 'Nobody'"):
        animate(speechlike(1.0), style="Nobody", model=model, user_dir=tmp_path)


def test_silent_speech_is_refused(model):
    with pytest.raises(SilentAudioError):
        animate(np.zeros(SAMPLE_RATE, np.float32), model=model)


def test_video_without_audio_cannot_make_a_style(model, tmp_path):
    with pytest.raises(NoAudioStreamError, match="must have sound"):
        create_style(shared_file("videos", "no_audio_d13.mp4"), "Mute", model=model, user_dir=tmp_path, config=FAST)
    assert list_styles(tmp_path, preset_dir=None) == []


def test_video_with_silent_audio_cannot_make_a_style(model, tmp_path):
    with pytest.raises(SilentAudioError):
        create_style(shared_file("videos", "silent_audio_sad.mp4"), "Sad", model=model, user_dir=tmp_path,
                     config=FAST)
    assert list_styles(tmp_path, preset_dir=None) == []


def test_no_face_and_too_short_videos_make_no_style(model, tmp_path):
    from test_tracking import gray, write_video

    from imitator.errors import NoFaceError, VideoTooShortError

    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 255, (128, 128, 3), dtype=np.uint8) for _ in range(100)]
    with pytest.raises(NoFaceError, match="looked at"):
        create_style(write_video(tmp_path / "noise.mp4", noise, audio=speechlike(4.0)), "Nobody", model=model,
                     user_dir=tmp_path / "styles", config=FAST)
    with pytest.raises(VideoTooShortError):
        create_style(write_video(tmp_path / "short.mp4", [gray()] * 12, audio=speechlike(0.5)), "Short",
                     model=model, user_dir=tmp_path / "styles", config=FAST)
    with pytest.raises(ValueError, match="invalid style name"):
        create_style(tmp_path / "noise.mp4", "../escape", model=model, user_dir=tmp_path / "styles")
    assert list_styles(tmp_path / "styles", preset_dir=None) == []


def test_create_style_transcribes_while_tracking_and_decodes_the_soundtrack_once(model, tmp_path, monkeypatch):
    import threading
    import time

    import imitator.audio
    import imitator.lips
    import imitator.tracking

    video = shared_file("videos", "retalking_2.mp4")
    events, decoded = [], []
    real_decode, real_track = imitator.audio._decode, imitator.tracking.track_video

    def decode(source, *args, **kwargs):
        decoded.append(str(source))
        return real_decode(source, *args, **kwargs)

    def transcribe_scored(audio):
        events.append(("words start", time.perf_counter(), threading.current_thread().name))
        time.sleep(0.5)  # slower than the tracker's start: the two must overlap
        return "my own dreams growing up", -0.3

    def track(*args, **kwargs):
        events.append(("tracking start", time.perf_counter(), threading.current_thread().name))
        result = real_track(*args, **kwargs)
        events.append(("tracking end", time.perf_counter(), threading.current_thread().name))
        return result

    monkeypatch.setattr(imitator.audio, "_decode", decode)
    monkeypatch.setattr(imitator.lips, "transcribe_scored", transcribe_scored)
    monkeypatch.setattr(imitator.tracking, "track_video", track)
    style = create_style(video, "Overlap", model=model, user_dir=tmp_path, config=FAST)
    when = {name: (t, thread) for name, t, thread in events}
    assert when["words start"][1] != when["tracking start"][1]  # another thread
    assert when["words start"][0] < when["tracking end"][0]  # while the face was being tracked
    assert decoded == [str(video)]  # the soundtrack was decoded once, for the words and the tracker
    # aligned in the background too, then moved onto the video's clock: closures found and used
    assert "lip closures labelled in: my own dreams growing up" in style.meta.fit["lip_labels"]
    assert style.meta.fit["lip_closures"] >= 1
