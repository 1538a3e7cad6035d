"""The paper's training loss: L = 1 * L_MSE + 10 * L_vel + 5 * L_lip (vertices in mm, so losses in mm^2).

All terms are means (over frames, vertices and coordinates) rather than the paper's sums, so their size
does not depend on sequence length or vertex count; the relative weights are the paper's. An optional
(B, T) frame mask leaves out the padding of batched sequences of unequal length."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LossWeights:
    mse: float = 1.0
    velocity: float = 10.0
    lip: float = 5.0


def _frame_mean(per_frame: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return per_frame.mean()
    return (per_frame * mask).sum() / mask.sum().clamp(min=1)


def reconstruction_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, T, V, 3) each: mean squared vertex error."""
    return _frame_mean((pred - target).square().mean(dim=(2, 3)), mask)


def velocity_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Squared error of the frame-to-frame motion; zero for a single frame."""
    if pred.shape[1] < 2:
        return pred.new_zeros(())
    per_step = (pred.diff(dim=1) - target.diff(dim=1)).square().mean(dim=(2, 3))
    return _frame_mean(per_step, None if mask is None else mask[:, 1:] * mask[:, :-1])


def lip_contact_loss(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor,
                     mask: torch.Tensor | None = None, vertices: list[int] | None = None) -> torch.Tensor:
    """Reconstruction error weighted per frame by (B, T) lip-contact weights (1 at a bilabial closure).

    `vertices` restricts the error to a region (the lips): averaged over the whole face, a 2 mm gap
    between the lips at a closure is diluted by hundreds of vertices that barely move."""
    if vertices is not None:
        pred, target = pred[:, :, vertices], target[:, :, vertices]
    return _frame_mean(weights * (pred - target).square().mean(dim=(2, 3)), mask)


def imitator_loss(pred: torch.Tensor, target: torch.Tensor, lip_weights: torch.Tensor | None = None,
                  w: LossWeights = LossWeights(), mask: torch.Tensor | None = None,
                  lip_vertices: list[int] | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss and its parts (as floats, for logging)."""
    parts = {"mse": reconstruction_loss(pred, target, mask), "velocity": velocity_loss(pred, target, mask)}
    total = w.mse * parts["mse"] + w.velocity * parts["velocity"]
    if w.lip and lip_weights is not None:
        parts["lip"] = lip_contact_loss(pred, target, lip_weights, mask, lip_vertices)
        total = total + w.lip * parts["lip"]
    return total, {k: float(v.detach()) for k, v in parts.items()}
