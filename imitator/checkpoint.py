"""Checkpoints: a folder with model.safetensors (weights, template) and config.json (ModelConfig).

Nothing is ever unpickled: safetensors holds only tensors, JSON only plain values. A fine-tuned Hugging
Face encoder's weights travel in the same safetensors file under `audio_encoder.`."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .closures import load_detector, save_detector
from .errors import UnsupportedModelError
from .model import Imitator, ModelConfig
from .topology import TOPOLOGY_FILE, load_folder_topology, save_topology, stored_topology

WEIGHTS, CONFIG = "model.safetensors", "config.json"
DEFAULT_MODEL_DIR = Path(__file__).parent / "weights" / "default"


def save_model(model: Imitator, folder: str | os.PathLike, extra: dict | None = None) -> Path:
    """Writes atomically (temp files, then rename), so a crash never leaves a half-written checkpoint."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp_w, tmp_c = folder / (WEIGHTS + ".tmp"), folder / (CONFIG + ".tmp")
    save_file(state, tmp_w)
    tmp_c.write_text(json.dumps({"model": json.loads(model.cfg.to_json()), **(extra or {})}, indent=1))
    _save_topology(model.cfg.topology, folder)
    if model.closure_detector is not None:
        save_detector(model.closure_detector, folder)
    os.replace(tmp_w, folder / WEIGHTS)
    os.replace(tmp_c, folder / CONFIG)
    return folder


def load_model(path: str | os.PathLike | None = None, device: str | torch.device = "auto") -> Imitator:
    """Load a checkpoint folder. Needs nothing but the folder; nothing is unpickled.

    path: a checkpoint folder (or a file in it); None: $IMITATOR_MODEL if set, else the bundled model.
    device: "auto" (the GPU if there is one, else the CPU), or any torch device."""
    path = path if path is not None else os.environ.get("IMITATOR_MODEL") or None
    folder = Path(path) if path is not None else DEFAULT_MODEL_DIR
    if folder.is_file():
        folder = folder.parent
    if not (folder / WEIGHTS).is_file() or not (folder / CONFIG).is_file():
        raise FileNotFoundError(f"{folder} is not an imitator checkpoint (needs {WEIGHTS} and {CONFIG})")
    meta = json.loads((folder / CONFIG).read_text())
    load_folder_topology(folder)  # a data-driven topology (e.g. FLAME) travels with its checkpoint
    cfg = ModelConfig.from_dict(meta["model"])
    state = load_file(folder / WEIGHTS)
    encoder = None
    if any(k.startswith("audio_encoder.") for k in state):
        from .encoders import build_encoder

        encoder = build_encoder(cfg.encoder)
    model = Imitator(cfg, model_id=model_hash(folder), meta=meta, audio_encoder=encoder)
    model.load_state_dict(state)
    detector = load_detector(folder)
    if detector is not None and (detector.cfg.encoder, detector.cfg.audio_dim, detector.cfg.fps) != \
            (cfg.encoder, cfg.audio_dim, cfg.fps):
        # it would hear other features than the model's, or at another frame rate, and close at random
        raise UnsupportedModelError(
            f"{folder}: its closure detector hears {detector.cfg.encoder} at {detector.cfg.fps:g} fps, the model "
            f"{cfg.encoder} at {cfg.fps:g} fps; refit it (imitator fit-closures) or delete closures.*")
    model.attach_closures(detector)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return model.to(device).eval()


def _save_topology(name: str, folder: Path) -> None:
    """A data-driven topology (e.g. FLAME) is copied into the checkpoint; built-in ones need nothing."""
    topology = stored_topology(name)
    if topology is None:
        return
    tmp = folder / (TOPOLOGY_FILE + ".tmp.npz")
    save_topology(topology, tmp)
    os.replace(tmp, folder / TOPOLOGY_FILE)


def model_hash(folder: str | os.PathLike) -> str:
    """Identifies the weights a style was fitted to (first 16 hex digits of their SHA-256)."""
    h = hashlib.sha256()
    with open(Path(folder) / WEIGHTS, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]
