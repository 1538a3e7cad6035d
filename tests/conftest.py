"""Shared test fixtures: small datasets and media that the tests make themselves."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from imitator.audio import SAMPLE_RATE  # noqa: E402 (after the environment it reads)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_file(*parts: str) -> Path:
    """A file of ../shared/data, or a clean skip when that folder is absent (a user's machine)."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not present (shared test media are only on CI and developer machines)")
    return path


def speechlike(seconds: float, seed: int = 0, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Voiced-like audio: a pitch-varying harmonic tone under a syllable-rate envelope, plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t + seed)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    tone = sum(np.sin(k * phase) / k for k in range(1, 6))
    envelope = np.clip(np.sin(2 * np.pi * (3 + seed % 3) * t + rng.uniform(0, 6)), 0, None) ** 2
    return (0.3 * tone * envelope + 0.005 * rng.standard_normal(len(t))).astype(np.float32)


def make_tiny_dataset(root: Path, n_identities: int = 2, per_identity: int = 1, seconds: float = 1.0,
                      n_vertices: int = 24, fps: float = 30.0, val: bool = False, test: bool = False,
                      prefix: str = "id") -> Path:
    """A dataset whose vertex motion is a function of the audio envelope, so a model can learn it."""
    from imitator.data.dataset import DatasetWriter, Sequence, SequenceInfo
    from imitator.encoders import n_motion_frames

    rng = np.random.default_rng(0)
    directions = rng.standard_normal((n_vertices, 3)).astype(np.float32)
    topology = "mediapipe468" if n_vertices == 468 else f"test{n_vertices}"
    with DatasetWriter(root, topology=topology, fps=fps) as w:
        k = 0
        for ident in range(n_identities):
            template = rng.standard_normal((n_vertices, 3)).astype(np.float32) * 10
            splits = ["train"] * per_identity + (["val"] if val else []) + (["test"] if test else [])
            for split in splits:
                audio = speechlike(seconds, seed=k)
                T = n_motion_frames(len(audio), fps)
                env = np.abs(audio).reshape(-1)[: T * (len(audio) // T)].reshape(T, -1).mean(1)
                env = env / (env.max() + 1e-9)
                scale = 1.0 + 0.5 * ident  # identities differ in amplitude: a style to learn
                verts = template[None] + scale * 3.0 * env[:, None, None] * directions[None]
                lip = (env < 0.1).astype(np.float32)
                w.add(Sequence(SequenceInfo(f"s{k}", f"{prefix}{ident}", split, "test"), audio, verts, template, lip))
                k += 1
    return root
