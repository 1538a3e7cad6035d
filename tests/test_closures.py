"""The closure detector: it learns where lips meet from labelled features, travels beside a checkpoint's
weights without changing their hash, and every decoding path closes the lips where it fires."""
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import make_tiny_dataset
from imitator.audio import load_audio
from imitator.checkpoint import load_model, model_hash, save_model
from imitator.cli import main
from imitator.closures import (ClosureConfig, ClosureDetector, FitConfig, LabelledSequence, fingerprint,
                               fit_detector, load_detector, peaks)
from imitator.contact import ContactConfig
from imitator.errors import UnsupportedModelError
from imitator.inference import predict_vertices
from imitator.model import Imitator, ModelConfig
from imitator.pipeline import animate
from imitator.topology import lip_distance

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_peaks_are_local_maxima_above_the_threshold_and_apart():
    p = np.array([0, 0.9, 0.95, 0.95, 0.1, 0.85, 0.2, 0, 0.99, 0.5])
    assert peaks(p, 0.8, 3).tolist() == [2, 8]  # 0.85 at 5 is within 3 frames of a higher peak
    assert peaks(p, 0.8, 1).tolist() == [2, 5, 8]  # the plateau at 2-3 gives one closure
    assert peaks(p, 0.999, 3).tolist() == []


def _toy(n_seq: int, seed: int, dim: int = 8, length: int = 150):
    """Noise features; two frames before each closure a cue appears in feature 0 (lips close before the
    sound that shows it), so the detector must look ahead."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_seq):
        x = rng.standard_normal((length, dim)).astype(np.float32)
        closures = np.sort(rng.choice(np.arange(5, length - 5, 12), 6, replace=False))
        x[closures + 2, 0] += 6.0
        out.append(LabelledSequence([x], closures, f"p{i % 3}"))
    return out


def test_detector_learns_where_the_lips_meet():
    cfg = ClosureConfig(audio_dim=8, context=3, hidden=0, threshold=0.9)
    detector = fit_detector(_toy(12, 0), cfg, FitConfig(steps=300, batch=8, window=60, lr=1e-2))
    found = missed = false = 0
    for s in _toy(6, 1):
        frames = detector.frames(torch.from_numpy(s.features[0]))
        near = [np.abs(frames - c).min() <= 1 if len(frames) else False for c in s.closures]
        found, missed = found + sum(near), missed + len(near) - sum(near)
        false += sum(np.abs(s.closures - f).min() > 3 for f in frames)
    assert found / (found + missed) >= 0.85
    assert false <= 0.1 * (found + missed)


def test_fitting_needs_labels():
    with pytest.raises(ValueError, match="labelled closures"):
        fit_detector([LabelledSequence([np.zeros((30, 8), np.float32)], np.array([], int), "a")],
                     ClosureConfig(audio_dim=8), FitConfig(steps=1))


def _always(cfg: ClosureConfig) -> ClosureDetector:
    """A detector that hears a closure everywhere: closures every min_gap + 1 frames."""
    detector = ClosureDetector(cfg)
    for p in detector.parameters():
        torch.nn.init.zeros_(p)
    detector.net.bias.data.fill_(10.0)
    return detector.eval()


@pytest.fixture(scope="module")
def model():
    return load_model()  # the bundled model: a real face whose mouth opens while it speaks


@pytest.fixture(scope="module")
def speech():
    return load_audio(EXAMPLES / "bob_bought_a_map.flac")


def test_checkpoint_keeps_the_detector_beside_unchanged_weights(model, tmp_path):
    model.attach_closures(None)
    plain = save_model(model, tmp_path / "plain")
    model.attach_closures(_always(ClosureConfig(hidden=0)))
    try:
        with_detector = save_model(model, tmp_path / "with")
    finally:
        model.attach_closures(None)
    assert model_hash(plain) == model_hash(with_detector)  # saved styles stay valid
    assert "closure" not in " ".join(model.state_dict())
    assert load_model(plain).closure_detector is None
    loaded = load_model(with_detector).closure_detector
    assert loaded is not None and loaded.cfg.hidden == 0 and loaded.cfg.encoder == model.cfg.encoder
    assert load_detector(plain) is None
    # a detector that hears other features than its model's is refused, not run
    (plain / "closures.safetensors").write_bytes((with_detector / "closures.safetensors").read_bytes())
    (plain / "closures.json").write_text((with_detector / "closures.json").read_text().replace(
        model.cfg.encoder, "hf:someone/wav2vec2"))
    with pytest.raises(UnsupportedModelError, match="closure detector hears hf:someone/wav2vec2"):
        load_model(plain)


def test_every_decoding_path_closes_the_lips_where_closures_are_heard(model, speech):
    audio = speech
    open_mouth = predict_vertices(model, audio)
    # where _always fires (every min_gap + 1 = 4 frames), and the frame after, which `hold` keeps shut
    frames = np.r_[np.arange(0, len(open_mouth), 4), np.arange(1, len(open_mouth), 4)]
    gap = lip_distance(open_mouth)[frames]
    # closable: the model alone leaves the lips apart, but not wider than a closure can be (ContactConfig)
    frames = frames[(gap > 1.0) & (gap <= ContactConfig().max_gap_mm)]
    assert len(frames) >= 5 and (frames % 4 == 1).any()
    model.attach_closures(_always(ClosureConfig(hidden=0, hold=1)))
    try:
        closed = predict_vertices(model, audio)
        anim = animate(audio, model=model, compare_generic=True)
    finally:
        model.attach_closures(None)
    assert (lip_distance(closed)[frames] < 0.5).all()
    assert (lip_distance(anim.vertices)[frames] < 0.5).all()
    assert (lip_distance(anim.generic)[frames] < 0.5).all()
    np.testing.assert_array_equal(predict_vertices(model, audio), open_mouth)  # detached: as before


def test_fit_closures_from_the_command_line(tmp_path, capsys):
    torch.manual_seed(0)
    m = Imitator(ModelConfig(n_vertices=24, topology="test24", style_names=("id0", "id1"), encoder="mel",
                             audio_dim=80))
    model_dir = save_model(m, tmp_path / "model")
    data = make_tiny_dataset(tmp_path / "data", seconds=2.0)
    before = model_hash(model_dir)
    main(["fit-closures", str(model_dir), str(data), "--steps", "20", "--context", "2", "--hidden", "4",
          "--augment-copies", "0"])
    assert "closure detector (2 labelled sequences)" in capsys.readouterr().out
    detector = load_model(model_dir).closure_detector
    assert detector is not None and detector.cfg.context == 2 and detector.cfg.hidden == 4
    assert model_hash(model_dir) == before


def test_fingerprint_follows_the_detector():
    a = _always(ClosureConfig(hidden=0))
    b = _always(ClosureConfig(hidden=0, threshold=0.9))
    assert fingerprint(None) == "" and fingerprint(a) == fingerprint(_always(ClosureConfig(hidden=0)))
    assert fingerprint(a) != fingerprint(b)
    a.net.bias.data.fill_(3.0)
    assert fingerprint(a) != fingerprint(_always(ClosureConfig(hidden=0)))
