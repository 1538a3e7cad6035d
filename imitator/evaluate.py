"""Evaluate a model on a dataset: predict every selected sequence from its audio, score it with
imitator.metrics (mm), and average per group.

Groups, as in the paper's protocol:
    seen identities   held-out sentences of training identities, decoded with their own training style
    unseen identities identities the model never saw, decoded with the generic (mean) style
Every prediction uses the sequence's own template (neutral face), so the scores measure motion, not
face shape. True bilabial closures are the frames whose lip-contact weight is 1 (the labeller's peaks).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .data.dataset import Dataset, Sequence
from .errors import DatasetError
from .inference import predict_vertices
from .metrics import evaluate_sequence, summarize
from .model import Imitator
from .topology import get_topology


@dataclass
class GroupResult:
    name: str
    n_sequences: int
    metrics: dict[str, float]
    per_sequence: dict[str, dict[str, float]] = field(default_factory=dict)


def predict_sequence(model: Imitator, seq: Sequence, style) -> np.ndarray:
    """The model's prediction for a dataset sequence on its own face, frame-aligned with its vertices."""
    return predict_vertices(model, seq.audio, style, seq.template, n_frames=len(seq.vertices))


def static_prediction(seq: Sequence) -> np.ndarray:
    """The 'static template' baseline: the neutral face, not moving."""
    return np.broadcast_to(seq.template, seq.vertices.shape)


def evaluate_model(model: Imitator | None, data: Dataset, split: str = "test", style: str | None = "auto",
                   identities: list[str] | None = None) -> list[GroupResult]:
    """style="auto": own training style for seen identities, generic for unseen (two groups).
    style=None: generic for all; a training style name: that style for all. model=None: static template."""
    topology = get_topology(data.topology)
    infos = data.select(split, identities)
    if not infos:
        raise DatasetError(f"{data.root} has no sequences in split {split!r}"
                         + (f" for identities {identities}" if identities else ""))
    seen = set(model.cfg.style_names) if model is not None else set()
    groups: dict[str, GroupResult] = {}
    for info in infos:
        seq = data.load(info)
        if model is None:
            pred, group = static_prediction(seq), "static template"
        elif style == "auto":
            own = info.identity in seen
            pred = predict_sequence(model, seq, info.identity if own else None)
            group = "seen identities (own style)" if own else "unseen identities (generic style)"
        else:
            pred, group = predict_sequence(model, seq, style), f"style {style or 'generic'}"
        g = groups.setdefault(group, GroupResult(group, 0, {}))
        g.per_sequence[info.id] = evaluate_sequence(pred, seq.vertices, seq.template, topology, seq.labelled_closures)
        g.n_sequences += 1
    for g in groups.values():
        g.metrics = summarize(list(g.per_sequence.values()))
    return list(groups.values())


TABLE_COLUMNS = [("lip_sync_mm", "Lip-sync (mm)"), ("l2_face_mm", "L2 face (mm)"), ("l2_lip_mm", "L2 lip (mm)"),
                 ("lip_dtw_mm", "Lip-DTW (mm)"), ("closure_rate", "closure rate"),
                 ("mouth_open_corr", "mouth-open r"), ("fdd_mm", "FDD (mm)")]


def markdown_table(rows: list[tuple[str, GroupResult]]) -> str:
    head = "| model | group | n | " + " | ".join(c[1] for c in TABLE_COLUMNS) + " |"
    lines = [head, "|" + "---|" * (3 + len(TABLE_COLUMNS))]
    for label, g in rows:
        cells = []
        for key, _ in TABLE_COLUMNS:
            v = g.metrics.get(key, float("nan"))
            cells.append(f"{100 * v:.1f}%" if key == "closure_rate" and v == v else f"{v:.3f}")
        lines.append(f"| {label} | {g.name} | {g.n_sequences} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
