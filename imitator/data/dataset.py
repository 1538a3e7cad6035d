"""The on-disk dataset format that the trainer reads and every converter writes.

A dataset is a folder:

    DATASET/
      index.json                 {"format": "imitator-dataset/1", "topology": ..., "fps": 30.0,
                                  "sample_rate": SAMPLE_RATE, "sequences": [SequenceInfo, ...]}
      sequences/<id>.npz         audio (N,) float32 16 kHz mono
                                 vertices (T, V, 3) float32, millimetres, at `fps`
                                 template (V, 3) float32, millimetres (the identity's neutral face)
                                 lip_weights (T,) float32 in [0, 1] (lip-contact loss weights; zeros if unknown)

SequenceInfo holds the text side: id, identity, split ("train" / "val" / "test"), transcript and the
phone alignment as [phone, start_s, end_s] triples. Arrays are .npz (np.load with allow_pickle=False),
never pickles.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..audio import SAMPLE_RATE
from ..errors import DatasetError
from ..topology import TOPOLOGY_FILE, Topology, load_folder_topology, register_topology, save_topology

FORMAT = "imitator-dataset/1"


@dataclass
class SequenceInfo:
    id: str
    identity: str
    split: str = "train"
    transcript: str = ""
    phones: list[tuple[str, float, float]] = field(default_factory=list)
    n_frames: int = 0


@dataclass
class Sequence:
    info: SequenceInfo
    audio: np.ndarray  # (N,) float32 at 16 kHz
    vertices: np.ndarray  # (T, V, 3) float32 mm
    template: np.ndarray  # (V, 3) float32 mm
    lip_weights: np.ndarray  # (T,) float32

    @property
    def labelled_closures(self) -> list[int]:
        """Frames of true bilabial closures: the peaks (weight 1) of the lip-contact labels."""
        return [int(i) for i in np.flatnonzero(self.lip_weights >= 0.999)]


class DatasetWriter:
    """Writes sequences one at a time; `close()` (or the context manager) writes index.json atomically."""

    def __init__(self, root: str | os.PathLike, topology: str | Topology = "mediapipe468", fps: float = 30.0):
        """topology: a built-in topology's name, or a Topology (e.g. FLAME from the user's files), which is
        saved as DATASET/topology.npz so that readers of the dataset (and its checkpoints) know it."""
        self.root = Path(root)
        (self.root / "sequences").mkdir(parents=True, exist_ok=True)
        if isinstance(topology, Topology):
            save_topology(register_topology(topology), self.root / TOPOLOGY_FILE)
            topology = topology.name
        self.topology, self.fps = topology, float(fps)
        self.infos: list[SequenceInfo] = []

    def add(self, seq: Sequence) -> None:
        if seq.vertices.ndim != 3 or seq.vertices.shape[2] != 3:
            raise ValueError(f"vertices must be (T, V, 3), got {seq.vertices.shape}")
        if len(seq.lip_weights) != len(seq.vertices):
            raise ValueError("lip_weights must have one weight per frame")
        seq.info.n_frames = int(len(seq.vertices))
        np.savez(self.root / "sequences" / f"{seq.info.id}.npz",
                 audio=seq.audio.astype(np.float32), vertices=seq.vertices.astype(np.float32),
                 template=seq.template.astype(np.float32), lip_weights=seq.lip_weights.astype(np.float32))
        self.infos.append(seq.info)

    def close(self) -> None:
        write_index(self.root, self.infos, self.topology, self.fps)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def write_index(root: str | os.PathLike, infos: list[SequenceInfo], topology: str, fps: float) -> None:
    root = Path(root)
    index = {"format": FORMAT, "topology": topology, "fps": float(fps), "sample_rate": SAMPLE_RATE,
             "sequences": [asdict(i) for i in infos]}
    tmp = root / "index.json.tmp"
    tmp.write_text(json.dumps(index, indent=1))
    os.replace(tmp, root / "index.json")


class Dataset:
    """Read access to a dataset folder. Sequences load lazily from their .npz files."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        path = self.root / "index.json"
        if not path.is_file():
            raise FileNotFoundError(f"{self.root} is not an imitator dataset (no index.json)")
        index = json.loads(path.read_text())
        if index.get("format") != FORMAT:
            raise DatasetError(f"{path}: unknown dataset format {index.get('format')!r}, expected {FORMAT!r}")
        load_folder_topology(self.root)  # a data-driven topology (e.g. FLAME) stored with the dataset
        self.topology: str = index["topology"]
        self.fps: float = float(index["fps"])
        self.infos = [SequenceInfo(**{**s, "phones": [tuple(p) for p in s.get("phones", [])]})
                      for s in index["sequences"]]

    def identities(self, split: str | None = None) -> list[str]:
        return sorted({i.identity for i in self.infos if split is None or i.split == split})

    def select(self, split: str | None = None, identities: list[str] | None = None) -> list[SequenceInfo]:
        return [i for i in self.infos
                if (split is None or i.split == split) and (identities is None or i.identity in identities)]

    def load(self, info: SequenceInfo | str) -> Sequence:
        if isinstance(info, str):
            info = next(i for i in self.infos if i.id == info)
        with np.load(self.root / "sequences" / f"{info.id}.npz", allow_pickle=False) as z:
            return Sequence(info, z["audio"], z["vertices"], z["template"], z["lip_weights"])

    def __len__(self) -> int:
        return len(self.infos)
