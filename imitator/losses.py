"""The paper's training loss: L = 1 * L_MSE + 10 * L_vel + 5 * L_lip (vertices in mm, so losses in mm^2).

All terms are means (over frames, vertices and coordinates) rather than the paper's sums, so their size
does not depend on sequence length or vertex count; the relative weights are the paper's."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LossWeights:
    mse: float = 1.0
    velocity: float = 10.0
    lip: float = 5.0


def reconstruction_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B, T, V, 3) each: mean squared vertex error."""
    return (pred - target).square().mean()


def velocity_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared error of the frame-to-frame motion; zero for a single frame."""
    if pred.shape[1] < 2:
        return pred.new_zeros(())
    return (pred.diff(dim=1) - target.diff(dim=1)).square().mean()


def lip_contact_loss(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Reconstruction error weighted per frame by (B, T) lip-contact weights (1 at a bilabial closure)."""
    per_frame = (pred - target).square().mean(dim=(2, 3))
    return (weights * per_frame).mean()


def imitator_loss(pred: torch.Tensor, target: torch.Tensor, lip_weights: torch.Tensor | None = None,
                  w: LossWeights = LossWeights()) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss and its parts (as floats, for logging)."""
    parts = {"mse": reconstruction_loss(pred, target), "velocity": velocity_loss(pred, target)}
    total = w.mse * parts["mse"] + w.velocity * parts["velocity"]
    if w.lip and lip_weights is not None:
        parts["lip"] = lip_contact_loss(pred, target, lip_weights)
        total = total + w.lip * parts["lip"]
    return total, {k: float(v.detach()) for k, v in parts.items()}
