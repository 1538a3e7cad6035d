"""The Imitator paper's VOCASET protocol as one function (and `imitator reproduce-paper`).

    1. train the generic prior on the training subjects (split "train"; best checkpoint by "val")
    2. for each test subject and each reference count n (1 and 4 in the paper): adapt a style to the
       subject's first n sentences (split "adapt": sentences 1-20, lowest numbers first, as the official
       code's sentences 1-4), then predict its held-out sentences 21-40 (split "test") with that style
    3. score with imitator.metrics and print them beside the paper's numbers

The metrics are the paper's: L2_face (mean vertex L2), L2_lip as the official code computes it (the lip mask
zeroes the other vertices and the mean still runs over all 5023, `l2_lip_official`), F-DTW and Lip-DTW,
Lip-sync (per frame the largest lip-vertex L2, averaged). All in mm, on the dataset's lip vertex set
(FLAME_masks.pkl 'lips' for VOCASET). Differences from the official code: our adaptation keeps the last
share of each reference's frames for early stopping (the official code early-stops on sentences 19-20),
and each sequence weighs the same in the averages (the official script averages running means).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .adapt import AdaptConfig, adapt
from .checkpoint import load_model
from .data.dataset import Dataset, Sequence
from .data.vocaset import sentence_number
from .errors import DatasetError
from .inference import predict_vertices
from .metrics import evaluate_sequence, summarize
from .model import Imitator
from .topology import get_topology
from .train import TrainConfig, train

# The paper's numbers (arXiv v1, VOCA test set, mm), as restated in the project's PAPER.md. Columns the
# restatement does not give are None and print as "-": we do not guess them.
PAPER_ROWS: dict[str, dict[str, float | None]] = {
    "VOCA": {"lip_sync_mm": 5.72, "l2_lip_official_mm": 0.15},
    "FaceFormer": {"lip_sync_mm": 5.41, "l2_lip_official_mm": 0.14},
    "Imitator, 1 reference": {"lip_sync_mm": 3.99, "l2_lip_official_mm": 0.10},
    "Imitator, 4 references": {"lip_sync_mm": 3.78, "l2_lip_official_mm": 0.09},
    "Imitator, 20 references": {"lip_sync_mm": 3.49},
}
COLUMNS = [("l2_face_mm", "L2_face"), ("l2_lip_official_mm", "L2_lip"), ("f_dtw_mm", "F-DTW"),
           ("lip_dtw_mm", "Lip-DTW"), ("lip_sync_mm", "Lip-sync")]


@dataclass
class ProtocolConfig:
    data: str
    out: str
    checkpoint: str | None = None  # an already trained prior: skip step 1
    epochs: int = 300  # the paper's schedule
    encoder: str = "whisper-tiny.en"  # the paper used wav2vec 2.0: "hf:facebook/wav2vec2-base-960h"
    lr: float = 1e-4
    lip_weight: float = 5.0
    model: dict = field(default_factory=dict)  # ModelConfig overrides (tests use a smaller model)
    references: tuple[int, ...] = (1, 4)
    faceformer: bool = False  # also train (or load) the FaceFormer-style baseline and score it, not adapted
    faceformer_checkpoint: str | None = None
    adapt: AdaptConfig = AdaptConfig()
    progress: bool = True


@dataclass
class ProtocolResult:
    rows: dict[str, dict[str, float]]  # our row name -> metric means over the test sequences
    per_subject: dict[str, dict[str, dict[str, float]]]  # row -> subject -> metric means
    seconds: dict[str, float]  # "train", "adapt", "evaluate"
    checkpoint: str

    def table(self) -> str:
        return markdown_table(self.rows)


def reproduce_paper(cfg: ProtocolConfig, log: Callable[[str], None] = print) -> ProtocolResult:
    data = Dataset(cfg.data)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    tests = data.identities("test")
    if not tests:
        raise DatasetError(f"{cfg.data} has no 'test' split (convert VOCASET with `imitator import-vocaset`)")
    seconds: dict[str, float] = {}

    t0 = time.time()
    checkpoint = cfg.checkpoint
    if checkpoint is None:
        log(f"training the prior for {cfg.epochs} epochs on {len(data.select('train'))} sequences")
        checkpoint = str(train(TrainConfig(data=cfg.data, out=str(out / "prior"), encoder=cfg.encoder,
                                           epochs=cfg.epochs, lr=cfg.lr, lip_weight=cfg.lip_weight,
                                           model=cfg.model, progress=cfg.progress)).best)
    baseline = cfg.faceformer_checkpoint
    if cfg.faceformer and baseline is None:
        log(f"training the FaceFormer-style baseline for {cfg.epochs} epochs")
        baseline = str(train(TrainConfig(data=cfg.data, out=str(out / "faceformer"), encoder=cfg.encoder,
                                         epochs=cfg.epochs, lr=cfg.lr, lip_weight=0.0, architecture="faceformer",
                                         model=cfg.model, progress=cfg.progress)).best)
    seconds["train"] = time.time() - t0
    model = load_model(checkpoint)
    baseline_model = load_model(baseline) if baseline is not None else None
    topology = get_topology(data.topology)

    rows: dict[str, list[dict]] = {}
    per_subject: dict[str, dict[str, dict[str, float]]] = {}
    seconds["adapt"] = seconds["evaluate"] = 0.0
    for subject in tests:
        t = time.time()
        variants = [("Imitator, generic (no adaptation)", model, None, None)]
        if baseline_model is not None:
            variants.append(("FaceFormer-style, generic (no adaptation)", baseline_model, None, None))
        variants += adapted_styles(model, data, subject, cfg)
        seconds["adapt"] += time.time() - t
        t = time.time()
        held_out = [data.load(i) for i in data.select("test", [subject])]
        for name, net, style, basis in variants:
            scores = [evaluate_sequence(predict(net, s, style, basis), s.vertices, s.template, topology,
                                        s.labelled_closures) for s in held_out]
            rows.setdefault(name, []).extend(scores)
            per_subject.setdefault(name, {})[subject] = summarize(scores)
        seconds["evaluate"] += time.time() - t
        log(f"{subject}: {len(held_out)} test sequences scored")

    result = ProtocolResult({k: summarize(v) for k, v in rows.items()}, per_subject, seconds, checkpoint)
    (out / "results.json").write_text(json.dumps(
        {**asdict(result), "paper": PAPER_ROWS, "config": {**asdict(cfg), "adapt": asdict(cfg.adapt)}}, indent=1))
    (out / "table.md").write_text(result.table() + "\n")
    return result


def adapted_styles(model: Imitator, data: Dataset, subject: str, cfg: ProtocolConfig) -> list[tuple]:
    """(row name, model, style (1, d), basis) for each reference count: adapted to the subject's `adapt`
    sentences with the lowest numbers, as the official code's sentences 1-4."""
    references = sorted(data.select("adapt", [subject]), key=lambda i: sentence_number(i.id))
    out = []
    for n in cfg.references:
        if len(references) < n:
            raise DatasetError(f"{subject} has {len(references)} reference sequences in split 'adapt'; {n} are needed")
        refs = [data.load(i) for i in references[:n]]
        fitted = adapt(model, [r.audio for r in refs], [r.vertices for r in refs], refs[0].template, cfg.adapt,
                       lip_weights=[_weights(r) for r in refs])
        out.append((f"Imitator, {n} reference{'s' if n > 1 else ''}", model, fitted.style[None], fitted.basis))
    return out


def predict(model: Imitator, seq: Sequence, style, basis) -> np.ndarray:
    """A sequence's prediction on its own template, frame-aligned with its reference (style None: the
    mean training style; basis None: the model's deformation basis)."""
    return predict_vertices(model, seq.audio, style, seq.template, basis, n_frames=len(seq.vertices))


def _weights(seq: Sequence) -> np.ndarray | None:
    return seq.lip_weights if seq.lip_weights.any() else None  # unlabelled: adapt without the lip term


def markdown_table(ours: dict[str, dict[str, float]]) -> str:
    """Our rows and the paper's, one column per metric (mm)."""
    head = "| method | source | " + " | ".join(title for _, title in COLUMNS) + " |"
    lines = [head, "|---|---|" + "---|" * len(COLUMNS)]

    def cell(v) -> str:
        if v is None or math.isnan(v):
            return "-"
        return f"{v:.2f}" if v >= 0.995 else f"{v:.3f}"  # small values (the official L2_lip) keep 3 digits

    for name, metrics in PAPER_ROWS.items():
        lines.append(f"| {name} | paper | " + " | ".join(cell(metrics.get(k)) for k, _ in COLUMNS) + " |")
    for name, metrics in ours.items():
        lines.append(f"| {name} | ours | " + " | ".join(cell(metrics.get(k)) for k, _ in COLUMNS) + " |")
    return "\n".join(lines)
