import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from conftest import make_tiny_dataset
from imitator.checkpoint import load_model, model_hash
from imitator.errors import ConfigError
from imitator.inference import predict_vertices
from imitator.train import TrainConfig, epoch_lr, train

FAST_MODEL = {"d_model": 32, "ff_dim": 64}


def test_overfits_two_sequences(tmp_path):
    data = make_tiny_dataset(tmp_path / "data", n_identities=2, per_identity=1, seconds=1.0)
    best = train(TrainConfig(str(data), str(tmp_path / "run"), encoder="mel", epochs=120, lr=3e-3,
                             model=FAST_MODEL, progress=False)).best
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    first, last = history[0]["train"]["loss"], min(h["train"]["loss"] for h in history)
    assert first / last >= 20, f"loss only fell from {first:.4f} to {last:.4f}"
    assert (best / "model.safetensors").is_file()
    assert history[-1]["val_mse"] < history[0]["val_mse"] / 10


def test_checkpoint_round_trip_and_prediction(tmp_path):
    data = make_tiny_dataset(tmp_path / "data", n_identities=2, per_identity=1, seconds=0.6, val=True)
    best = train(TrainConfig(str(data), str(tmp_path / "run"), encoder="mel", epochs=3, lr=1e-3,
                             model=FAST_MODEL, progress=False)).best
    model = load_model(best)
    assert model.cfg.style_names == ("id0", "id1") and model.cfg.encoder == "mel"
    assert model.cfg.d_model == 32 and model.cfg.n_vertices == 24
    assert len(model.model_id) == 16 and model.model_id == model_hash(best)
    from conftest import speechlike

    verts = predict_vertices(model, speechlike(2.0, seed=5), style="id1")
    assert verts.shape == (60, 24, 3)
    # the checkpoint's weights are exactly what was saved
    saved = load_file(best / "model.safetensors")
    for k, v in model.state_dict().items():
        assert torch.equal(saved[k], v)


def test_resume_continues_where_it_stopped(tmp_path):
    data = make_tiny_dataset(tmp_path / "data", seconds=0.6)
    cfg = dict(data=str(data), encoder="mel", lr=1e-3, model=FAST_MODEL, progress=False, seed=3)
    train(TrainConfig(out=str(tmp_path / "straight"), epochs=4, **cfg))
    train(TrainConfig(out=str(tmp_path / "resumed"), epochs=2, **cfg))
    train(TrainConfig(out=str(tmp_path / "resumed"), epochs=4, resume=True, **cfg))
    hist = json.loads((tmp_path / "resumed" / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [1, 2, 3, 4]
    a = load_file(tmp_path / "straight" / "last" / "model.safetensors")
    b = load_file(tmp_path / "resumed" / "last" / "model.safetensors")
    for k in a:  # same seed, same order, optimiser state restored: the same weights
        assert torch.allclose(a[k], b[k], atol=1e-6), k


def test_cosine_schedule_decays_from_lr_to_a_hundredth(tmp_path):
    cfg = TrainConfig("d", "o", epochs=30, lr=5e-4, lr_schedule="cosine")
    lrs = [epoch_lr(cfg, e) for e in range(cfg.epochs)]
    assert lrs[0] == pytest.approx(5e-4) and lrs[-1] == pytest.approx(5e-6)
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    assert epoch_lr(TrainConfig("d", "o", lr=3e-4), 7) == 3e-4  # constant by default
    with pytest.raises(ValueError, match="unknown lr schedule 'step'"):
        train(TrainConfig(str(tmp_path), str(tmp_path / "run"), lr_schedule="step"))
    with pytest.raises(ValueError, match="unknown lip region 'mouth'"):
        train(TrainConfig(str(tmp_path), str(tmp_path / "run"), lip_region="mouth"))


def test_training_is_deterministic(tmp_path):
    data = make_tiny_dataset(tmp_path / "data", seconds=0.6)
    for name in ("a", "b"):
        train(TrainConfig(str(data), str(tmp_path / name), encoder="mel", epochs=2, lr=1e-3, model=FAST_MODEL,
                          progress=False))
    a = load_file(tmp_path / "a" / "last" / "model.safetensors")
    b = load_file(tmp_path / "b" / "last" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_empty_training_split_is_a_clear_error(tmp_path):
    from imitator.data.dataset import DatasetWriter

    DatasetWriter(tmp_path / "empty").close()
    with pytest.raises(ValueError, match="no sequences in the 'train' split"):
        train(TrainConfig(str(tmp_path / "empty"), str(tmp_path / "run"), encoder="mel", progress=False))


def test_ddp_two_processes_end_with_identical_weights(tmp_path):
    data = make_tiny_dataset(tmp_path / "data", n_identities=2, per_identity=2, seconds=0.6)
    worker = Path(__file__).parent / "ddp_worker.py"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parent)}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           str(worker), str(data), str(tmp_path / "run")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0 = load_file(tmp_path / "run" / "rank0.safetensors")
    r1 = load_file(tmp_path / "run" / "rank1.safetensors")
    assert r0.keys() == r1.keys()
    assert all(torch.equal(r0[k], r1[k]) for k in r0)
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history[-1]["train"]["loss"] < history[0]["train"]["loss"]  # it did train
    assert (tmp_path / "run" / "best" / "model.safetensors").is_file()


def test_batches_of_unequal_length_match_single_sequences(tmp_path):
    from imitator.encoders import build_encoder
    from imitator.model import Imitator, ModelConfig
    from imitator.train import collate, load_examples
    from imitator.data.dataset import Dataset

    data = Dataset(make_tiny_dataset(tmp_path / "data", n_identities=2, per_identity=1, seconds=1.0))
    cfg = TrainConfig(str(data.root), str(tmp_path / "run"), encoder="mel", progress=False)
    examples = load_examples(data, data.infos, build_encoder("mel"), ("id0", "id1"), cfg)
    examples[1].features = examples[1].features[:20]  # make the second one shorter
    examples[1].vertices, examples[1].lip_weights = examples[1].vertices[:20], examples[1].lip_weights[:20]
    for context in (0, 3):  # with audio context the padding is heard: it must be what inference pads with
        torch.manual_seed(0)
        model = Imitator(ModelConfig(n_vertices=24, style_names=("id0", "id1"), audio_dim=80,
                                     audio_context=context)).eval()
        torch.nn.init.normal_(model.motion_decoder.basis.weight, std=0.3)
        if context:
            torch.nn.init.normal_(model.viseme_decoder.context.weight, std=0.2)
        batch = collate(examples, model, "cpu")
        assert batch.features.shape[:2] == (2, 30) and batch.mask[1].sum() == 20
        with torch.no_grad():
            together = model(batch.features, style=batch.style, template=batch.template)
            for i, ex in enumerate(examples):
                alone = model(ex.features[None], style=ex.style, template=ex.template)
                assert torch.allclose(together[i, : len(ex.vertices)], alone[0], atol=1e-5)


def test_faceformer_baseline_trains_and_reloads(tmp_path):
    data = make_tiny_dataset(tmp_path / "data", seconds=0.6)
    result = train(TrainConfig(str(data), str(tmp_path / "run"), encoder="mel", epochs=2, lr=1e-3, model=FAST_MODEL,
                               architecture="faceformer", progress=False))
    model = load_model(result.best)
    assert model.cfg.style_conditioning == "start_token" and model.cfg.alibi and model.cfg.positional == "periodic"
    with pytest.raises(ValueError, match="unknown architecture"):
        train(TrainConfig(str(data), str(tmp_path / "x"), encoder="mel", architecture="gpt", progress=False))


def _example(identity: str, frames: int):
    from imitator.data.dataset import SequenceInfo
    from imitator.train import Example

    return Example(SequenceInfo(f"{identity}-{frames}", identity), torch.zeros(frames * 16000 // 30),
                   torch.arange(frames, dtype=torch.float32)[:, None], torch.zeros(frames, 2, 3), torch.zeros(2, 3),
                   torch.zeros(frames), 0)


def test_sampling_weights_mix_datasets_and_balance_people():
    from imitator.train import _epoch_order, sampling_weights

    parts = [[_example("big", 100) for _ in range(9)] + [_example("small", 100)], [_example("other", 50)]]
    w = sampling_weights(parts, [1, 3], identity_balance=0.0).numpy()
    assert w.sum() == pytest.approx(1.0)
    assert w[:10].sum() == pytest.approx(0.25) and w[10] == pytest.approx(0.75)  # the mix, per dataset
    assert w[9] == pytest.approx(0.025)  # "small" has a tenth of dataset 1's frames
    w = sampling_weights(parts, [1, 3], identity_balance=1.0).numpy()
    assert w[:9].sum() == pytest.approx(0.125) and w[9] == pytest.approx(0.125)  # every person equally often
    w = sampling_weights(parts, [1, 1], identity_balance=0.5).numpy()
    assert w[:9].sum() / w[9] == pytest.approx(3.0)  # sqrt(900 / 100)
    with pytest.raises(ConfigError, match="identity_balance"):
        sampling_weights(parts, [1, 1], identity_balance=2.0)
    # the draws follow the weights, and are the same for the same seed and epoch
    order = _epoch_order(11, seed=0, epoch=3, rank=0, world=1, weights=torch.from_numpy(w), size=20000)
    assert len(order) == 20000 and order == _epoch_order(11, 0, 3, 0, 1, torch.from_numpy(w), 20000)
    share_small = order.count(9) / len(order)
    assert share_small == pytest.approx(w[9], abs=0.01)
    assert _epoch_order(11, 0, 4, 0, 1, torch.from_numpy(w), 50) != order[:50]
    ranks = [_epoch_order(11, 0, 3, r, 2, torch.from_numpy(w), 101) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 51


def test_long_sequences_are_cut_into_aligned_chunks():
    from imitator.train import split_long

    ex = _example("p", 30)
    ex.lip_weights = torch.arange(30, dtype=torch.float32)
    chunks = split_long([ex, _example("q", 8)], max_frames=12, fps=30.0)
    assert [len(c.vertices) for c in chunks] == [10, 10, 10, 8]
    assert [float(c.features[0, 0]) for c in chunks[:3]] == [0.0, 10.0, 20.0]  # features follow the frames
    assert [float(c.lip_weights[0]) for c in chunks[:3]] == [0.0, 10.0, 20.0]
    assert all(abs(len(c.audio) - len(c.vertices) * 16000 / 30) <= 1 for c in chunks)  # the audio under them
    assert split_long([ex], None, 30.0) == [ex]


def test_fine_tune_on_two_datasets_adds_styles_and_a_real_generic_style(tmp_path):
    from imitator.train import extend_styles

    synth = make_tiny_dataset(tmp_path / "synth", n_identities=2, seconds=0.6, val=True, prefix="syn")
    real = make_tiny_dataset(tmp_path / "real", n_identities=2, seconds=1.0, val=True, prefix="real")
    base = train(TrainConfig(str(synth), str(tmp_path / "base"), encoder="mel", epochs=2, lr=1e-3, model=FAST_MODEL,
                             progress=False)).best
    base_model = load_model(base)
    # extending keeps the old styles and starts the new ones at the generic style
    bigger = extend_styles(base_model, ("syn0", "syn1", "real0"))
    old = base_model.motion_decoder.style.weight
    assert torch.equal(bigger.motion_decoder.style.weight[:, :2], old)
    assert torch.allclose(bigger.motion_decoder.style.weight[:, 2], old.mean(1))
    with pytest.raises(ConfigError, match="keeps the model's styles first"):
        extend_styles(base_model, ("real0", "syn0", "syn1"))

    cfg = TrainConfig([str(synth), str(real)], str(tmp_path / "tuned"), encoder="mel", epochs=2, lr=1e-3,
                      init=str(base), mix=[1, 2], identity_balance=1.0, max_frames=12, generic_from=[str(real)],
                      progress=False)
    train(cfg)
    model = load_model(tmp_path / "tuned" / "last")
    assert model.cfg.style_names == ("syn0", "syn1", "real0", "real1")
    assert model.cfg.generic_styles == ("real0", "real1")
    assert model.cfg.d_model == FAST_MODEL["d_model"]  # the architecture comes from the checkpoint
    w = model.motion_decoder.style.weight
    assert torch.allclose(model.motion_decoder.mean_style()[0], w[:, 2:].mean(1))  # generic = real people
    assert not torch.allclose(model.motion_decoder.mean_style()[0], w.mean(1))
    history = json.loads((tmp_path / "tuned" / "history.json").read_text())
    assert len(history[-1]["val_by_data"]) == 2
    assert torch.equal(model.template, base_model.template)  # the mean face is the base model's
    with pytest.raises(ConfigError, match="not trained on"):
        train(TrainConfig([str(synth)], str(tmp_path / "x"), encoder="mel", generic_from=[str(real)], progress=False))
    with pytest.raises(ConfigError, match="one non-negative share per dataset"):
        train(TrainConfig([str(synth), str(real)], str(tmp_path / "x"), encoder="mel", mix=[1], progress=False))


def test_mirroring_flips_the_examples_it_trains_on(tmp_path, monkeypatch):
    import imitator.train as train_module
    from imitator.topology import mirror_vertices

    data = make_tiny_dataset(tmp_path / "data", n_identities=1, seconds=0.3, n_vertices=468)
    seen = []
    real_collate = train_module.collate
    monkeypatch.setattr(train_module, "collate", lambda exs, *a: seen.extend(exs) or real_collate(exs, *a))
    from imitator.data.dataset import Dataset

    original = Dataset(data).load("s0")
    for p, expect_flipped in ((1.0, True), (0.0, False)):
        seen.clear()
        train(TrainConfig(str(data), str(tmp_path / f"run{p}"), encoder="mel", epochs=2, model=FAST_MODEL,
                          mirror=p, progress=False))
        assert len(seen) == 2
        for ex in seen:
            flipped = np.allclose(ex.vertices.numpy(), mirror_vertices(original.vertices), atol=1e-5)
            assert flipped == expect_flipped
            assert np.allclose(ex.template.numpy(), mirror_vertices(original.template) if expect_flipped
                               else original.template, atol=1e-5)
    flags = train_module._mirror_flags(2000, 0.5, seed=0, epoch=1, rank=0)
    assert 900 < sum(flags) < 1100 and flags == train_module._mirror_flags(2000, 0.5, 0, 1, 0)


def test_closed_rest_lips_close_every_given_face_and_are_kept_by_the_checkpoint(tmp_path):
    from imitator.data.faces import load_faces
    from imitator.inference import as_template
    from imitator.model import Imitator, ModelConfig
    from imitator.topology import MEDIAPIPE_468, lip_distance

    face = next(iter(load_faces().values())).copy()
    face[MEDIAPIPE_468.lip_inner[10:]] += np.array([0, -0.8, 0], np.float32)  # lower inner lip: a tracker-like gap
    gap = lip_distance(face)
    assert gap > 0.5
    plain = Imitator(ModelConfig(n_vertices=468, encoder="mel", audio_dim=80))
    closed = Imitator(ModelConfig(n_vertices=468, encoder="mel", audio_dim=80, closed_rest_lips=True))
    assert np.allclose(as_template(plain, face).numpy(), face)
    shut = as_template(closed, face).numpy()
    assert lip_distance(shut) < 0.05  # the lips touch
    far = np.linalg.norm(face - face[13], axis=1) > 40  # eyes, forehead, ears: untouched
    assert np.array_equal(shut[far], face[far])
    data = make_tiny_dataset(tmp_path / "data", n_identities=1, seconds=0.3, n_vertices=468)
    train(TrainConfig(str(data), str(tmp_path / "run"), encoder="mel", epochs=1, model=FAST_MODEL,
                      closed_rest_lips=True, progress=False))
    assert load_model(tmp_path / "run" / "last").cfg.closed_rest_lips


def test_fine_tune_grows_audio_context_starting_from_the_same_predictions(tmp_path):
    from imitator.train import extend_styles

    data = make_tiny_dataset(tmp_path / "data", n_identities=2, seconds=0.6)
    base = load_model(train(TrainConfig(str(data), str(tmp_path / "base"), encoder="mel", epochs=2, lr=1e-3,
                                        model=FAST_MODEL, progress=False)).best)
    grown = extend_styles(base, base.cfg.style_names, grow={"audio_context": 3})
    assert grown.cfg.audio_context == 3 and base.cfg.audio_context == 0
    features = torch.randn(1, 25, base.cfg.audio_dim)
    with torch.no_grad():
        assert torch.allclose(grown(features), base(features), atol=1e-5)  # identity-initialised context
    with pytest.raises(ConfigError, match="cannot change"):
        extend_styles(base, base.cfg.style_names, grow={"d_model": 128})
    train(TrainConfig(str(data), str(tmp_path / "tuned"), encoder="mel", epochs=2, lr=1e-2, init=str(tmp_path / "base" / "best"),
                      model={"audio_context": 3}, progress=False))
    tuned = load_model(tmp_path / "tuned" / "last")
    assert tuned.cfg.audio_context == 3  # kept by the checkpoint
    kernel = tuned.viseme_decoder.context.weight
    assert kernel[:, :, [0, 1, 2, 4, 5, 6]].abs().sum() > 0  # it learned to use neighbouring frames


def test_augmented_audio_is_heard_in_training_from_cached_degraded_copies(tmp_path, monkeypatch):
    import imitator.train as train_module
    from imitator.data.dataset import Dataset

    data = make_tiny_dataset(tmp_path / "data", n_identities=1, per_identity=2, seconds=0.5, val=True)
    seen = []
    real_collate = train_module.collate
    monkeypatch.setattr(train_module, "collate", lambda exs, *a: seen.extend(exs) or real_collate(exs, *a))
    cfg = TrainConfig(str(data), str(tmp_path / "run"), encoder="mel", epochs=3, model=FAST_MODEL,
                      augment_audio=1.0, augment_copies=2, progress=False)
    train(cfg)
    ds = Dataset(data)
    from imitator.encoders import build_encoder

    clean = {e.info.id: e for e in train_module.load_examples(ds, ds.select("train"), build_encoder("mel"),
                                                                  ("id0",), cfg)}
    assert seen and all(len(clean[e.info.id].augmented) == 2 for e in seen)
    for ex in seen:  # every draw heard a degraded copy, never the clean audio
        own = clean[ex.info.id]
        assert not torch.allclose(ex.features, own.features)
        assert any(torch.equal(ex.features, a) for a in own.augmented)
    assert not torch.allclose(*clean[seen[0].info.id].augmented)  # two different copies
    cached = list((data / "cache" / "mel").glob(f"*.{train_module.AUGMENT_KEY}*.npy"))
    assert len(cached) == 2 * len(ds.select("train"))  # made once, then read back
    val = train_module.load_examples(ds, ds.select("val"), build_encoder("mel"), ("id0",), cfg)
    assert val and all(e.augmented == () for e in val)  # validation hears the real audio
    picks = train_module._augment_picks(3000, 0.3, 2, seed=0, epoch=0, rank=0)
    assert 800 < sum(p >= 0 for p in picks) < 1000 and set(picks) == {-1, 0, 1}


def test_rest_in_pauses_gives_rest_true_targets_where_the_voice_pauses(tmp_path, monkeypatch):
    import imitator.train as train_module
    from imitator.data.dataset import Dataset
    from imitator.encoders import build_encoder

    from imitator.topology import MEDIAPIPE_468

    data = Dataset(make_tiny_dataset(tmp_path / "data", n_identities=1, seconds=2.0, n_vertices=468))
    info = data.select("train")[0]
    seq = data.load(info)
    T = len(seq.vertices)
    pause = np.ones(T, bool)
    pause[10:40] = False  # one second without speech
    monkeypatch.setattr(train_module, "speech_frames", lambda audio, n, fps: pause[:n])
    cfg = TrainConfig(str(data.root), str(tmp_path / "run"), encoder="mel", rest_in_pauses=0.5, progress=False)
    ex = train_module.load_examples(data, [info], build_encoder("mel"), ("id0",), cfg)[0]
    y, mouth = seq.template[:, 1], seq.template[MEDIAPIPE_468.lip_inner, 1].mean()
    lower, upper = y <= mouth + 10, y >= mouth + 25  # fully resting / untouched (RestConfig's region)
    v = ex.vertices.numpy()
    assert lower.sum() > 100 and upper.sum() >= 1
    assert np.allclose(v[20:30][:, lower], seq.template[None, lower], atol=1e-4)  # at rest inside the pause
    assert not np.allclose(seq.vertices[20:30][:, lower], seq.template[None, lower], atol=1e-2)  # it was moving
    assert np.array_equal(v[20:30][:, upper], seq.vertices[20:30][:, upper])
    assert np.array_equal(v[:10], seq.vertices[:10]) and np.array_equal(v[40:], seq.vertices[40:])  # speech


def test_style_dropout_decodes_generic_people_in_the_mean_style_and_trains_it(tmp_path, monkeypatch):
    import imitator.train as train_module
    from imitator.model import Imitator, ModelConfig

    model = Imitator(ModelConfig(n_vertices=24, topology="test24", style_names=("syn", "real1", "real2"),
                                 generic_styles=("real1", "real2"), encoder="mel", audio_dim=80))
    md = model.motion_decoder
    styles = torch.tensor([0, 1, 2, 1])
    assert train_module.styles_with_generic(model, styles, [False] * 4) is styles
    vectors = train_module.styles_with_generic(model, styles, [True, True, False, False])
    # a synthetic person (not a generic style) keeps its own style; a real one gets the mean of the real ones
    assert torch.allclose(vectors[0], md.style_vector(0)[0]) and torch.allclose(vectors[2], md.style_vector(2)[0])
    assert torch.allclose(vectors[1], md.mean_style()[0]) and torch.allclose(vectors[3], md.style_vector(1)[0])
    vectors[1].sum().backward()  # the loss on that draw reaches both real styles, not the synthetic one
    grad = md.style.weight.grad
    assert grad[:, 1].abs().sum() > 0 and grad[:, 2].abs().sum() > 0 and grad[:, 0].abs().sum() == 0

    data = make_tiny_dataset(tmp_path / "data", n_identities=2, seconds=0.3)
    seen = []
    real = train_module.styles_with_generic
    monkeypatch.setattr(train_module, "styles_with_generic", lambda m, s, g: seen.extend(g) or real(m, s, g))
    train(TrainConfig(str(data), str(tmp_path / "run"), encoder="mel", epochs=2, model=FAST_MODEL,
                      style_dropout=1.0, progress=False))
    assert seen and all(seen)
    flags = train_module._style_drops(2000, 0.3, seed=0, epoch=1, rank=0)
    assert 500 < sum(flags) < 700 and flags == train_module._style_drops(2000, 0.3, 0, 1, 0)
