"""The command line as a user types it (in-process through cli.main, so it stays quick)."""
import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import speechlike
from imitator.audio import SAMPLE_RATE
from imitator.checkpoint import save_model
from imitator.cli import main
from imitator.model import Imitator, ModelConfig


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    m = Imitator(ModelConfig(n_vertices=468, style_names=("a", "b"), encoder="mel", audio_dim=80))
    torch.nn.init.normal_(m.motion_decoder.basis.weight, std=0.1)
    return str(save_model(m, tmp_path_factory.mktemp("model")))


@pytest.fixture
def speech(tmp_path):
    path = tmp_path / "speech.wav"
    sf.write(path, speechlike(2.0), SAMPLE_RATE)
    return str(path)


def test_animate_writes_npz(model_dir, speech, tmp_path, capsys):
    out = tmp_path / "anim.npz"
    main(["animate", speech, "--model", model_dir, "--style", "b", "--npz", str(out)])
    with np.load(out, allow_pickle=False) as z:
        assert z["vertices"].shape == (60, 468, 3) and z["faces"].shape == (852, 3) and float(z["fps"]) == 30
    assert "60 frames at 30 fps in style 'b'" in capsys.readouterr().out


def test_user_errors_are_one_line_without_traceback(model_dir, tmp_path, capsys):
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(SAMPLE_RATE, np.float32), SAMPLE_RATE)
    with pytest.raises(SystemExit) as exit_info:
        main(["animate", str(silent), "--model", model_dir, "--npz", str(tmp_path / "x.npz")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("imitator animate: error: silent.wav is silent") and "Traceback" not in err
    with pytest.raises(SystemExit):
        main(["animate", str(silent), "--model", model_dir])
    assert "say where to write the animation" in capsys.readouterr().err


def test_unknown_style_and_listing(model_dir, speech, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("IMITATOR_STYLE_DIR", str(tmp_path / "styles"))
    with pytest.raises(SystemExit):
        main(["animate", speech, "--model", model_dir, "--style", "Nobody", "--npz", str(tmp_path / "x.npz")])
    assert "no style named 'Nobody'" in capsys.readouterr().err
    main(["styles"])
    assert capsys.readouterr().out  # presets or the "no styles yet" line


def test_animate_writes_a_playable_video_side_by_side(model_dir, speech, tmp_path):
    import av

    out = tmp_path / "anim.mp4"
    main(["animate", speech, "--model", model_dir, "--out", str(out), "--side-by-side", "--glb", str(tmp_path / "a.glb")])
    with av.open(str(out)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert (v.codec_context.name, a.codec_context.name) == ("h264", "aac")
        assert v.codec_context.width == 2 * v.codec_context.height  # two panels
        assert abs(float(c.duration / 1e6) - 2.0) < 0.1
    assert (tmp_path / "a.glb").stat().st_size > 10000


def test_styles_are_managed_from_the_command_line(tmp_path, monkeypatch, capsys):
    from imitator.style_store import list_styles, save_style
    from imitator.styles import Style, StyleMeta

    monkeypatch.setenv("IMITATOR_STYLE_DIR", str(tmp_path))
    save_style(Style(StyleMeta(name="José"), torch.zeros(4, 3), torch.zeros(8)))
    main(["styles", "rename", "José", "Zoë"])
    main(["styles", "describe", "Zoë", "calm, small jaw"])
    main(["styles"])
    out = capsys.readouterr().out
    assert "renamed style 'José' to 'Zoë'" in out and "calm, small jaw" in out and "José " not in out
    with pytest.raises(SystemExit):
        main(["styles", "delete", "Ava"])
    assert "presets cannot be deleted" in capsys.readouterr().err
    main(["styles", "delete", "Zoë"])
    assert [e.kind for e in list_styles()] == ["preset"] * len(list_styles())


def test_animate_blinks_only_in_exports_when_asked(model_dir, tmp_path):
    """Exported meshes carry the model's motion alone unless --blinks; with it, the eyelids close."""
    from imitator.export import load_npz

    speech = str(tmp_path / "long.wav")
    sf.write(speech, speechlike(8.0), 16000)  # long enough for blinks a few seconds apart
    main(["animate", speech, "--model", model_dir, "--npz", str(tmp_path / "plain.npz")])
    main(["animate", speech, "--model", model_dir, "--npz", str(tmp_path / "blink.npz"), "--blinks"])
    plain, blink = load_npz(tmp_path / "plain.npz").vertices, load_npz(tmp_path / "blink.npz").vertices
    lids = lambda v: np.linalg.norm(v[:, 159] - v[:, 145], axis=1)  # noqa: E731  (right eye, upper - lower)
    assert lids(blink).min() < 0.1 * lids(plain).min()
    moved = np.abs(blink - plain).max(axis=(0, 2)) > 1e-4
    assert moved[[159, 145]].all() and not moved[[13, 14, 152]].any()  # the eyelids, not the mouth
