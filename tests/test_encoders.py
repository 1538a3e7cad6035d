import time

import numpy as np
import pytest
import torch

from conftest import make_tiny_dataset, shared_file, speechlike
from imitator.audio import SAMPLE_RATE
from imitator.encoders import (WhisperTinyEncoder, WhisperWindows, build_encoder, features_at_fps, n_motion_frames,
                               resample_features)
from imitator.errors import EncoderUnavailableError


def test_resample_features_is_linear_interpolation():
    x = torch.tensor([[0.0], [1.0], [2.0], [3.0], [4.0]])  # a ramp stays a ramp
    y = resample_features(x, 9)
    assert torch.allclose(y[:, 0], torch.linspace(0, 4, 9))


@pytest.mark.parametrize("name,dim", [("mel", 80), ("whisper-tiny.en", 384)])
def test_frozen_encoders_give_one_row_per_motion_frame(name, dim):
    enc = build_encoder(name)
    audio = speechlike(2.5)
    feats = features_at_fps(enc, audio, 30.0)
    assert feats.shape == (75, dim) and feats.dtype == torch.float32
    assert torch.isfinite(feats).all() and feats.std() > 0.01
    assert build_encoder(name) is enc  # frozen encoders load once per process


def test_whisper_windows_long_audio_and_separates_speech_from_silence():
    enc = build_encoder("whisper-tiny.en")
    audio = np.concatenate([speechlike(20.0), np.zeros(SAMPLE_RATE * 25, np.float32), speechlike(20.0, seed=3)])
    raw = enc.encode(audio)  # 65 s: overlapping windows, padding frames dropped
    assert raw.shape == (65 * 50, 384)
    speech, silence = raw[100:900], raw[1200:2000]
    assert (speech.std(0).mean() > silence.std(0).mean())
    assert n_motion_frames(len(audio), 30) == features_at_fps(enc, audio, 30).shape[0] == 1950


def test_whisper_on_real_speech():
    from imitator.audio import load_audio

    audio = load_audio(shared_file("audio", "jfk.flac"))
    feats = features_at_fps(build_encoder("whisper-tiny.en"), audio, 30.0)
    assert feats.shape == (330, 384)


def test_unknown_encoder_name():
    with pytest.raises(ValueError, match="unknown audio encoder"):
        build_encoder("wav2vec3")


def test_offline_hub_model_fails_fast_with_clear_message(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t = time.time()
    with pytest.raises(EncoderUnavailableError, match="cannot load the Hugging Face encoder"):
        build_encoder("hf:facebook/wav2vec2-base-960h")
    assert time.time() - t < 10


@pytest.fixture(scope="module")
def tiny_wav2vec2(tmp_path_factory):
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(0)
    cfg = Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                         conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
    path = tmp_path_factory.mktemp("w2v")
    Wav2Vec2Model(cfg).save_pretrained(path)
    return path


def test_hf_encoder_loads_from_local_folder_and_freezes_cnn(tiny_wav2vec2):
    enc = build_encoder(f"hf:{tiny_wav2vec2}")
    assert enc.trainable and enc.dim == 32
    feats = features_at_fps(enc, speechlike(2.0), 30.0)
    assert feats.shape == (60, 32)
    cnn = [p.requires_grad for n, p in enc.named_parameters() if "feature_extractor" in n]
    rest = [p.requires_grad for n, p in enc.named_parameters() if "feature_extractor" not in n]
    assert cnn and not any(cnn) and all(rest)


def test_hf_encoder_trains_a_step_and_is_saved_with_the_model(tiny_wav2vec2, tmp_path):
    from safetensors.torch import load_file

    from imitator.checkpoint import load_model
    from imitator.train import TrainConfig, train

    data = make_tiny_dataset(tmp_path / "data", n_identities=1, per_identity=1, seconds=0.6)
    before = {k: v.clone() for k, v in build_encoder(f"hf:{tiny_wav2vec2}").state_dict().items()}
    result = train(TrainConfig(str(data), str(tmp_path / "run"), encoder=f"hf:{tiny_wav2vec2}", epochs=2,
                               lr=1e-2, model={"d_model": 32, "ff_dim": 64}, progress=False))
    after = result.model.audio_encoder.state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    # (two steps: the zero-initialised basis passes no gradient back on the first)
    assert any("encoder.layers" in k for k in changed)  # transformer fine-tuned
    assert not any("feature_extractor" in k for k in changed)  # CNN frozen, as in the paper
    saved = load_file(result.best / "model.safetensors")
    assert any(k.startswith("audio_encoder.") for k in saved)
    model = load_model(result.best)
    for k, v in after.items():
        assert torch.equal(model.audio_encoder.state_dict()[k], v)


def test_fitted_windows_cover_the_audio_and_stitch_weights_sum_to_one():
    padded = WhisperWindows.padded()
    assert padded.plan(120) == [(0, 1500)] and padded.plan(3250) == [(0, 1500), (1500, 1500), (3000, 1500)]
    fitted = WhisperWindows(max_s=10, round_s=1.0, pad_s=1.0, overlap_s=2.0)
    assert fitted.plan(120) == [(0, 200)]  # 2.4 s + 1 s of silence, rounded up to whole seconds
    for n in (1, 449, 450, 451, 1234, 3000):
        plan = fitted.plan(n)
        assert all(length <= 500 and length % 50 == 0 for _, length in plan)
        assert plan[0][0] == 0 and plan[-1][0] + plan[-1][1] >= n + 50  # every frame, plus the pad
        assert all(b[0] - a[0] == 400 for a, b in zip(plan, plan[1:]))  # neighbours share 2 s
        total = np.zeros(plan[-1][0] + plan[-1][1])
        for (start, length), w in zip(plan, fitted.stitch_weights(plan)):
            total[start:start + length] += w
            if len(plan) > 1:  # the outer quarters of each overlap (one-sided context) are not used
                assert w[:25].max() == 0 if start > 0 else w[:25].min() == 1
        assert np.allclose(total, 1.0)
    with pytest.raises(ValueError, match="overlap"):
        WhisperWindows(max_s=4, round_s=1, overlap_s=2).plan(1000)


def test_window_policy_is_part_of_the_feature_cache_key():
    padded = WhisperTinyEncoder(windows=WhisperWindows.padded())
    fitted = WhisperTinyEncoder(windows=WhisperWindows(max_s=10, round_s=1.0, pad_s=1.0, overlap_s=2.0))
    other = WhisperTinyEncoder(windows=WhisperWindows(max_s=10, round_s=1.0, pad_s=0.5, overlap_s=2.0))
    assert padded.cache_key == "whisper-tiny.en"  # caches written before fitted windows stay valid
    assert len({padded.cache_key, fitted.cache_key, other.cache_key, build_encoder().cache_key}) == 4


def test_fitted_window_on_short_audio_gives_features_close_to_padded_ones():
    audio = speechlike(3.0)
    padded = WhisperTinyEncoder(windows=WhisperWindows.padded()).encode(audio)
    fitted = WhisperTinyEncoder(windows=WhisperWindows(max_s=30, round_s=1.0, pad_s=1.0)).encode(audio)
    assert fitted.shape == padded.shape == (150, 384)
    assert torch.nn.functional.cosine_similarity(fitted, padded).median() > 0.9


def test_long_audio_is_stitched_without_seams():
    enc = WhisperTinyEncoder(windows=WhisperWindows(max_s=5, round_s=1.0, pad_s=1.0, overlap_s=2.0))
    audio = speechlike(14.0)
    feats = enc.encode(audio)
    assert feats.shape == (700, 384) and torch.isfinite(feats).all()
    steps = (feats[1:] - feats[:-1]).norm(dim=1)
    starts = [s for s, _ in enc.windows.plan(700)[1:]]
    seams = torch.stack([steps[s + 25: s + 75].max() for s in starts])  # the cross-fade zones
    assert seams.max() < 1.5 * steps.quantile(0.99)  # no jump larger than the audio's own changes
    cut = WhisperTinyEncoder(windows=WhisperWindows(max_s=5, round_s=1.0, pad_s=1.0, overlap_s=0.0))
    hard = cut.encode(audio)  # the same windows butted together: a seam at every cut
    hard_steps = (hard[1:] - hard[:-1]).norm(dim=1)
    assert max(hard_steps[s - 1] for s, _ in cut.windows.plan(700)[1:]) > 1.5 * hard_steps.quantile(0.99)
