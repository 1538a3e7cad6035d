"""Bilabial closures heard in the speech, and the lips closed there.

The decoder learns lip contact only through a loss, and on real people it left about one labelled m/b/p in
four (test people) with the lips apart. This small detector hears where the lips must meet: a convolution
over the frozen speech features (+-`context` frames, since lips close before the /b/ burst) gives each frame
a closure probability; its peaks above `threshold` are closures, and there `contact.close_lips` makes the
predicted lips touch, fading the correction out over a few frames. Where the decoder already closed, nothing
changes. The lips stay shut for `hold` frames either side, as a bilabial closure lasts about 100 ms.

It is an add-on beside a checkpoint's weights (closures.safetensors + closures.json), not inside them: the
weights' hash, which saved styles are tied to, stays the same, and a checkpoint without it decodes as before.
Trained on the labelled closures of the datasets the model learned from (`imitator fit-closures`).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

WEIGHTS = "closures.safetensors"
CONFIG = "closures.json"


@dataclass(frozen=True)
class ClosureConfig:
    encoder: str = "whisper-tiny.en"  # the features it hears: must be the model's
    audio_dim: int = 384
    context: int = 6           # frames heard each side (200 ms)
    hidden: int = 0            # channels of a hidden layer (0: one linear layer; 16 was no better on val)
    threshold: float = 0.7     # a peak of the closure probability at least this high is a closure
    min_gap: int = 3           # frames between two closures at least
    hold: int = 1              # frames each side of a closure that the lips stay shut too: a /b/ or /m/
                               # closure lasts 60-120 ms, about 3 frames (val: closures 92.4 -> 94.8 %)
    fps: float = 30.0

    @classmethod
    def from_dict(cls, d: dict) -> "ClosureConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


class ClosureDetector(nn.Module):
    """(B, T, audio_dim) features -> (B, T) closure logits."""

    def __init__(self, cfg: ClosureConfig):
        super().__init__()
        self.cfg = cfg
        k, c = 2 * cfg.context + 1, cfg.context
        self.register_buffer("mean", torch.zeros(cfg.audio_dim))
        self.register_buffer("std", torch.ones(cfg.audio_dim))
        if cfg.hidden:
            self.net = nn.Sequential(nn.Conv1d(cfg.audio_dim, cfg.hidden, k, padding=c, padding_mode="replicate"),
                                     nn.ReLU(), nn.Conv1d(cfg.hidden, 1, 1))
        else:
            self.net = nn.Conv1d(cfg.audio_dim, 1, k, padding=c, padding_mode="replicate")

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = ((features - self.mean) / self.std).transpose(1, 2)
        return self.net(x)[:, 0]

    @torch.no_grad()
    def frames(self, features: torch.Tensor) -> np.ndarray:
        """(T, audio_dim) or (1, T, audio_dim) features of one sequence -> its closure frames."""
        f = features.reshape(1, -1, features.shape[-1]).to(self.mean.device, torch.float32)
        return peaks(torch.sigmoid(self(f))[0].cpu().numpy(), self.cfg.threshold, self.cfg.min_gap)


def peaks(probability: np.ndarray, threshold: float, min_gap: int) -> np.ndarray:
    """Frames where the probability is at least `threshold` and the highest within +-min_gap frames; of a
    plateau, the first. Two closures are more than min_gap frames apart."""
    p = np.asarray(probability, dtype=np.float64)
    out: list[int] = []
    for t in np.flatnonzero(p >= threshold):
        lo, hi = max(0, t - min_gap), t + min_gap + 1
        if p[t] == p[lo:hi].max() and (not out or t - out[-1] > min_gap):
            out.append(int(t))
    return np.array(out, dtype=np.int64)


def close_detected(detector: ClosureDetector | None, features: torch.Tensor, vertices: np.ndarray,
                   face: np.ndarray, topology) -> np.ndarray:
    """(T, V, 3) predicted meshes with the lips closed at the closures the detector hears in `features`, and
    `cfg.hold` frames either side. face: the neutral face the meshes were decoded on (it tells upper from lower lip). Unchanged without a
    detector or where none is heard."""
    if detector is None:
        return vertices
    from .contact import close_lips

    frames = detector.frames(features)
    frames = frames[frames < len(vertices)]  # features may run a frame past the meshes
    hold = np.arange(-detector.cfg.hold, detector.cfg.hold + 1)  # shut for a bilabial's ~100 ms
    frames = np.unique((frames[:, None] + hold[None]).clip(0, len(vertices) - 1))
    return close_lips(vertices, face, frames, topology).vertices if len(frames) else vertices


def fingerprint(detector: ClosureDetector | None) -> str:
    """Identifies a detector's settings and weights ("" for none): a result cached per model (the app's first
    example) must change when the detector does, though the model's weights hash stays the same."""
    if detector is None:
        return ""
    import hashlib

    h = hashlib.sha256(json.dumps(asdict(detector.cfg), sort_keys=True).encode())
    for name, value in sorted(detector.state_dict().items()):
        h.update(name.encode() + value.detach().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


# --- files -----------------------------------------------------------------------------------------------
def save_detector(detector: ClosureDetector, folder: str | Path, extra: dict | None = None) -> None:
    from safetensors.torch import save_file

    folder = Path(folder)
    state = {k: v.detach().cpu().contiguous() for k, v in detector.state_dict().items()}
    save_file(state, folder / (WEIGHTS + ".tmp"))
    (folder / (CONFIG + ".tmp")).write_text(json.dumps({"detector": asdict(detector.cfg), **(extra or {})}, indent=1))
    (folder / (WEIGHTS + ".tmp")).replace(folder / WEIGHTS)
    (folder / (CONFIG + ".tmp")).replace(folder / CONFIG)


def load_detector(folder: str | Path) -> ClosureDetector | None:
    """The detector saved beside a checkpoint's weights, or None if it has none."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / WEIGHTS).is_file() or not (folder / CONFIG).is_file():
        return None
    cfg = ClosureConfig.from_dict(json.loads((folder / CONFIG).read_text())["detector"])
    detector = ClosureDetector(cfg)
    detector.load_state_dict(load_file(folder / WEIGHTS))
    return detector.eval()


# --- training --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FitConfig:
    steps: int = 3000
    batch: int = 16
    window: int = 120          # frames per training window
    lr: float = 1e-3
    weight_decay: float = 1e-2
    tolerance: int = 1         # frames within this of a labelled closure count as closure frames
    seed: int = 0


@dataclass
class LabelledSequence:
    features: list[np.ndarray]  # (T, audio_dim): its own audio's, then any degraded copies'
    closures: np.ndarray        # labelled closure frames
    identity: str


def fit_detector(sequences: list[LabelledSequence], cfg: ClosureConfig, fit: FitConfig = FitConfig(),
                 progress: Callable[[int, int, float], None] | None = None) -> ClosureDetector:
    """Train on windows drawn with every person about equally often (1 / sqrt of their sequences: one
    speaker with most of the data does not decide it), positives weighted up to the negatives' count."""
    if not sequences or not any(len(s.closures) for s in sequences):
        raise ValueError("fitting a closure detector needs sequences with labelled closures")
    torch.manual_seed(fit.seed)
    rng = np.random.default_rng(fit.seed)
    targets = []
    for s in sequences:
        n = len(s.features[0])
        y = np.zeros(n, np.float32)
        for f in s.closures:
            y[max(0, f - fit.tolerance):f + fit.tolerance + 1] = 1.0
        targets.append(y)
    every = np.concatenate([f for s in sequences for f in s.features])
    detector = ClosureDetector(cfg)
    detector.mean.copy_(torch.from_numpy(every.mean(0)))
    detector.std.copy_(torch.from_numpy(every.std(0) + 1e-6))
    share = float(np.concatenate(targets).mean())
    pos_weight = torch.tensor((1 - share) / max(share, 1e-6))
    count: dict[str, int] = {}
    for s in sequences:
        count[s.identity] = count.get(s.identity, 0) + 1
    p = np.array([1 / np.sqrt(count[s.identity]) for s in sequences])
    p /= p.sum()
    opt = torch.optim.AdamW(detector.parameters(), lr=fit.lr, weight_decay=fit.weight_decay)
    detector.train()
    for step in range(fit.steps):
        xs, ys = [], []
        for i in rng.choice(len(sequences), fit.batch, p=p):
            s, y = sequences[i], targets[i]
            x = s.features[rng.integers(len(s.features))]
            start = int(rng.integers(0, max(1, len(y) - fit.window)))
            xs.append(_padded(x[start:start + fit.window], fit.window))
            ys.append(_padded(y[start:start + fit.window, None], fit.window, edge=False)[:, 0])
        logits = detector(torch.from_numpy(np.stack(xs)))
        loss = nn.functional.binary_cross_entropy_with_logits(logits, torch.from_numpy(np.stack(ys)),
                                                              pos_weight=pos_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if progress:
            progress(step + 1, fit.steps, float(loss.detach()))
    return detector.eval()


def _padded(x: np.ndarray, n: int, edge: bool = True) -> np.ndarray:
    if len(x) >= n:
        return x[:n]
    return np.pad(x, ((0, n - len(x)), (0, 0)), mode="edge" if edge else "constant")


def labelled_sequences(data, encoder, copies: int = 2, split: str = "train") -> list[LabelledSequence]:
    """A dataset's `split` sequences with labelled closures, heard through `encoder` (features cached beside
    the dataset) and through `copies` degraded copies of their audio. Sequences without any label are left
    out: no label there means the labeller could not align the words, not that the lips never met."""
    from .train import sequence_features

    out = []
    for info in data.select(split):
        seq = data.load(info)
        closures = np.flatnonzero(seq.lip_weights >= 0.999)
        if len(closures):
            feats = sequence_features(data, seq, encoder, copies)
            out.append(LabelledSequence([f.numpy() for f in feats], closures, info.identity))
    return out
