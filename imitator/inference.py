"""Audio in, meshes out, for a loaded model: the one path every caller takes (the app, the CLI, adaptation,
evaluation, training's feature cache and the benchmarks).

    features(model, audio)            (N,) 16 kHz -> (1, T, audio_dim) at the model's frame rate
    model.visemes(features, style)    the autoregressive viseme decoder
    model.motion(visemes, style, template, basis)
    with_closures(model, features, vertices, template)   the lips closed where a closure is heard
"""
from __future__ import annotations

import numpy as np
import torch

from .closures import close_detected
from .encoders import AudioEncoder, build_encoder, features_at_fps
from .model import Imitator
from .topology import get_topology


def model_encoder(model: Imitator) -> AudioEncoder:
    """The model's audio encoder: its own fine-tuned one if it has one, else the shared frozen one."""
    return model.audio_encoder or build_encoder(model.cfg.encoder)


def features(model: Imitator, audio: np.ndarray, n_frames: int | None = None) -> torch.Tensor:
    """(N,) 16 kHz audio -> (1, T, audio_dim) features on the model's device. T = n_frames when the frames
    are given (a dataset's or a tracked video's), else the audio's length at the model's frame rate."""
    device = model.template.device
    return features_at_fps(model_encoder(model), audio, model.cfg.fps, n_frames)[None].to(device)


def as_template(model: Imitator, template) -> torch.Tensor | None:
    """A (V, 3) face as a float32 tensor on the model's device; None stays None (the model's mean face).
    For a model trained on faces with closed rest lips (cfg.closed_rest_lips), the face's lips are closed."""
    if template is None:
        return None
    face = template.detach().cpu().numpy() if isinstance(template, torch.Tensor) else np.asarray(template)
    if model.cfg.closed_rest_lips:
        from .contact import closed_at_rest

        face = closed_at_rest(face, get_topology(model.cfg.topology))
    return torch.as_tensor(face, dtype=torch.float32, device=model.template.device)


@torch.inference_mode()
def predict_vertices(model: Imitator, audio: np.ndarray, style=None, template=None,
                     basis: torch.nn.Linear | None = None, n_frames: int | None = None) -> np.ndarray:
    """(N,) 16 kHz audio -> (T, V, 3) float32 vertices at model.cfg.fps, in the template's units (mm).

    style: a training style name or index, a style vector, or None for the mean of the training styles.
    template: the person's neutral face (V, 3); None uses the model's mean training face.
    basis: an adapted deformation basis (a Style's); None uses the model's."""
    feats = features(model, audio, n_frames)
    face = as_template(model, template)
    vertices = model(feats, style=style, template=face, basis=basis)[0].cpu().numpy()
    return with_closures(model, feats, vertices, face)


def with_closures(model: Imitator, feats: torch.Tensor, vertices: np.ndarray,
                  template: torch.Tensor | None = None) -> np.ndarray:
    """(T, V, 3) decoded meshes with the lips closed at the m/b/p closures the model's closure detector
    hears in `feats` (imitator.closures); unchanged for a model without one. template: the face they were
    decoded on (None: the model's mean face)."""
    if model.closure_detector is None:
        return vertices
    face = (model.template if template is None else template).detach().cpu().numpy()
    return close_detected(model.closure_detector, feats, vertices, face, get_topology(model.cfg.topology))
