"""The public API and the one inference path: every caller (library, CLI, app, adaptation) reaches the same
vertices, a FaceFormer-style checkpoint decodes through `imitator.animate` as its own forward does, and user
errors versus bugs at the command line."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import imitator
from conftest import speechlike
from imitator.adapt import AdaptConfig, adapt
from imitator.audio import SAMPLE_RATE, load_audio
from imitator.checkpoint import save_model
from imitator.cli import main
from imitator.errors import ImitatorError, UnsupportedModelError
from imitator.inference import features, predict_vertices
from imitator.model import Imitator, ModelConfig
from imitator.style_store import save_style
from imitator.styles import Style

REPO = Path(__file__).resolve().parents[1]


def tiny_model(make_config=ModelConfig, seed=0) -> Imitator:
    """Random weights, with a non-zero basis so that style and audio both move the mesh."""
    torch.manual_seed(seed)
    m = Imitator(make_config(n_vertices=468, style_names=("a", "b"), encoder="mel", audio_dim=80))
    torch.nn.init.normal_(m.motion_decoder.basis.weight, std=0.1)
    torch.nn.init.normal_(m.motion_decoder.style.weight, std=1.0)
    return m.eval()


def test_public_api_is_exported():
    for name in ("load_model", "animate", "create_style", "render_video", "list_styles", "load_audio",
                 "Imitator", "ModelConfig", "ImitatorError", "SAMPLE_RATE"):
        assert hasattr(imitator, name) and name in imitator.__all__, name
    assert "Ava" in [s.name for s in imitator.list_styles() if s.error is None]  # presets ship as package data


def test_loaded_model_carries_its_id_and_metadata(tmp_path):
    folder = save_model(tiny_model(), tmp_path / "m", extra={"epoch": 7})
    model = imitator.load_model(folder, device="auto")
    assert len(model.model_id) == 16 and model.meta["epoch"] == 7
    assert str(model.template.device) == ("cuda:0" if torch.cuda.is_available() else "cpu")
    assert tiny_model().model_id == "" and tiny_model().meta == {}


def test_faceformer_checkpoint_through_animate_matches_its_forward(tmp_path):
    model = imitator.load_model(save_model(tiny_model(ModelConfig.faceformer), tmp_path / "ff"), device="cpu")
    assert model.style_in_visemes
    audio = speechlike(1.5, seed=2)
    feats = features(model, audio)
    for style in ("b", None):
        anim = imitator.animate(audio, style=style, model=model, compare_generic=True)
        with torch.inference_mode():
            own = model(feats, style=style)[0].numpy()
            generic = model(feats, style=None)[0].numpy()
        np.testing.assert_allclose(anim.vertices, own, atol=1e-5)
        np.testing.assert_allclose(anim.generic, generic, atol=1e-5)
    with torch.inference_mode():  # the old path (visemes without the style's start token) decodes differently
        skipped = model.decode_motion(model.viseme_decoder(feats), torch.zeros(1, 64))[0].numpy()
    assert np.abs(skipped - imitator.animate(audio, style="b", model=model).vertices).max() > 1e-3
    with pytest.raises(UnsupportedModelError):
        adapt(model, audio, own)


@pytest.fixture
def shared_setup(tmp_path, monkeypatch):
    """A model checkpoint, a speech file, and a style adapted to it and saved in a private style folder."""
    model_dir = save_model(tiny_model(seed=1), tmp_path / "model")
    model = imitator.load_model(model_dir, device="cpu")
    wav = tmp_path / "speech.wav"
    sf.write(wav, speechlike(2.0, seed=4), SAMPLE_RATE)
    audio = load_audio(wav)
    with torch.inference_mode():  # a reference: the model's own motion in another style, on a shifted face
        target = model(features(model, audio), style="a", template=model.template + 1.0)[0].numpy()
    result = adapt(model, audio, target, target.mean(0), AdaptConfig(stage1_steps=20, stage2_steps=20))
    styles = tmp_path / "styles"
    monkeypatch.setenv("IMITATOR_STYLE_DIR", str(styles))
    save_style(Style.from_adaptation(model, result, "Me"), styles)
    return model, model_dir, wav, audio, target, result


def test_app_cli_and_adaptation_reach_the_same_vertices(shared_setup, tmp_path, monkeypatch):
    model, model_dir, wav, audio, target, result = shared_setup
    # adaptation's own prediction, and its fit error on the frames it fitted
    adapted = predict_vertices(model, audio, result.style[None], result.template, basis=result.basis)
    n_fit = int(round(len(target) * (1 - AdaptConfig().holdout)))
    fit_error = np.linalg.norm(adapted[:n_fit] - target[:n_fit], axis=-1).mean()
    assert fit_error == pytest.approx(result.fit["fit_l2_mm"], rel=1e-4)

    library = imitator.animate(wav, style="Me", model=model).vertices
    np.testing.assert_allclose(library, adapted, atol=1e-5)

    out = tmp_path / "cli.npz"
    main(["animate", str(wav), "--model", str(model_dir), "--style", "Me", "--npz", str(out)])
    with np.load(out) as z:
        np.testing.assert_allclose(z["vertices"], adapted, atol=1e-5)

    pytest.importorskip("gradio")
    from imitator import pipeline

    monkeypatch.setenv("IMITATOR_MODEL", str(model_dir))
    pipeline.default_model.cache_clear()
    monkeypatch.syspath_prepend(str(REPO))
    import app

    monkeypatch.setattr(app, "render_video", lambda anim, path, **_: Path(path))  # the vertices, not the pixels
    *_, (video, files, info) = app.animate_api(str(wav), "Me", False, progress=lambda *a, **k: None)  # streams: the last
    pipeline.default_model.cache_clear()
    with np.load(next(f for f in files if f.endswith(".npz"))) as z:
        np.testing.assert_allclose(z["vertices"], adapted, atol=1e-5)
    assert "**Me** says" in info


def test_cli_user_errors_exit_2_in_one_line(tmp_path, capsys):
    model_dir = save_model(tiny_model(), tmp_path / "model")
    with pytest.raises(SystemExit) as e:  # an ImitatorError (no output asked for)
        main(["animate", str(tmp_path / "x.wav"), "--model", str(model_dir)])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:  # a missing input file
        main(["animate", str(tmp_path / "missing.wav"), "--model", str(model_dir), "--npz", str(tmp_path / "o.npz")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "missing.wav" in err and "Traceback" not in err
    assert all(line.startswith("imitator animate: error: ") for line in err.strip().splitlines())


def test_cli_lets_a_real_bug_keep_its_traceback(tmp_path, monkeypatch):
    from imitator import pipeline

    def broken(*args, **kwargs):
        raise ValueError("an internal bug, not the user's fault")

    monkeypatch.setattr(pipeline, "animate", broken)
    wav = tmp_path / "speech.wav"
    sf.write(wav, speechlike(1.0), SAMPLE_RATE)
    model_dir = save_model(tiny_model(), tmp_path / "m")
    with pytest.raises(ValueError, match="internal bug"):
        main(["animate", str(wav), "--model", str(model_dir), "--npz", str(tmp_path / "o.npz")])
    assert not issubclass(ValueError, ImitatorError)


@pytest.mark.slow
def test_non_editable_install_animates_with_a_bundled_preset(tmp_path):
    """pip install (not editable) of a copy of the source; then the installed package, run from elsewhere
    with the running venv's dependencies, animates with the preset Ava."""
    src, target, work = tmp_path / "src", tmp_path / "site", tmp_path / "elsewhere"
    skip = shutil.ignore_patterns(".git", ".venv", "tests", "runs", "docs", "benchmarks", "node_modules",
                                  "__pycache__", "*.egg-info", "build")
    shutil.copytree(REPO, src, ignore=skip)
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                          "--quiet", "--target", str(target), str(src)], capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr
    assert (target / "imitator" / "presets" / "Ava.safetensors").is_file()
    work.mkdir()
    sf.write(work / "speech.wav", speechlike(1.5), SAMPLE_RATE)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "IMITATOR_STYLE_DIR", "IMITATOR_MODEL")}
    env.update(PYTHONPATH=str(target), IMITATOR_STYLE_DIR=str(work / "no-user-styles"))
    where = subprocess.run([sys.executable, "-c", "import imitator; print(imitator.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(target))
    run = subprocess.run([sys.executable, "-m", "imitator", "animate", "speech.wav", "--style", "Ava",
                          "--npz", "out.npz"], cwd=work, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "in style 'Ava'" in run.stdout
    with np.load(work / "out.npz") as z:
        assert z["vertices"].shape == (45, 468, 3) and np.isfinite(z["vertices"]).all()
