import json

import numpy as np
import torch

from conftest import make_tiny_dataset
from imitator.checkpoint import save_model
from imitator.cli import main
from imitator.data.dataset import Dataset
from imitator.evaluate import evaluate_model, markdown_table
from imitator.model import Imitator, ModelConfig


def test_groups_static_baseline_and_cli(tmp_path, capsys):
    data = Dataset(make_tiny_dataset(tmp_path / "data", n_identities=3, n_vertices=468, seconds=0.8, test=True))
    torch.manual_seed(0)
    model = Imitator(ModelConfig(n_vertices=468, style_names=("id0", "id1"), encoder="mel", audio_dim=80))
    groups = {g.name: g for g in evaluate_model(model, data)}
    assert set(groups) == {"seen identities (own style)", "unseen identities (generic style)"}
    assert groups["seen identities (own style)"].n_sequences == 2
    # an untrained model (zero basis) predicts the static template: its errors equal the static baseline's
    static = evaluate_model(None, data)[0]
    assert static.n_sequences == 3
    seen = groups["seen identities (own style)"].per_sequence
    for seq_id, metrics in seen.items():
        assert np.isclose(metrics["l2_face_mm"], static.per_sequence[seq_id]["l2_face_mm"], atol=1e-4)
    assert static.metrics["l2_face_mm"] > 0.1
    assert "| static template |" in markdown_table([("static template", static)])

    ckpt = save_model(model, tmp_path / "ckpt")
    main(["evaluate", "--checkpoint", str(ckpt), "--data", str(data.root), "--static", "--json", str(tmp_path / "e.json")])
    out = capsys.readouterr().out
    assert "Lip-sync (mm)" in out and "static template" in out
    rows = json.loads((tmp_path / "e.json").read_text())
    assert {r["group"] for r in rows} == {"static template", "seen identities (own style)",
                                          "unseen identities (generic style)"}


def test_labelled_closures_are_the_label_peaks(tmp_path):
    data = Dataset(make_tiny_dataset(tmp_path / "data", n_identities=1, seconds=0.5))
    seq = data.load(data.infos[0])
    seq.lip_weights = np.array([0, 0.135, 0.607, 1.0, 0.607, 0.135, 0, 1.0], np.float32)
    assert seq.labelled_closures == [3, 7]
