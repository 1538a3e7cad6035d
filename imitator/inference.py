"""Audio in, meshes out, for a loaded model: the one place that runs encoder + decoder for prediction."""
from __future__ import annotations

import numpy as np
import torch

from .encoders import AudioEncoder, build_encoder, features_at_fps
from .model import Imitator


def model_encoder(model: Imitator) -> AudioEncoder:
    """The model's audio encoder: its own fine-tuned one if it has one, else the shared frozen one."""
    return getattr(model, "audio_encoder", None) or build_encoder(model.cfg.encoder)


def audio_features(model: Imitator, audio: np.ndarray) -> torch.Tensor:
    """(N,) 16 kHz audio -> (1, T, audio_dim) features at the model's frame rate, on the model's device."""
    device = model.template.device
    return features_at_fps(model_encoder(model), audio, model.cfg.fps)[None].to(device)


@torch.inference_mode()
def predict_vertices(model: Imitator, audio: np.ndarray, style=None, template=None) -> np.ndarray:
    """(N,) 16 kHz audio -> (T, V, 3) float32 vertices at model.cfg.fps, in the template's units (mm).

    style: a training style name or index, a style vector, or None for the mean of the training styles.
    template: the person's neutral face (V, 3); None uses the model's mean training face."""
    feats = audio_features(model, audio)
    tmpl = None if template is None else torch.as_tensor(np.asarray(template), dtype=torch.float32,
                                                         device=feats.device)
    return model(feats, style=style, template=tmpl)[0].cpu().numpy()
