import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import make_tiny_dataset
from imitator.checkpoint import load_model, model_hash
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
    torch.manual_seed(0)
    model = Imitator(ModelConfig(n_vertices=24, style_names=("id0", "id1"), audio_dim=80)).eval()
    torch.nn.init.normal_(model.motion_decoder.basis.weight, std=0.3)
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
