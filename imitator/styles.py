"""A style: a person's speaking style and face, fitted to one model, and its maths.

    Style.from_adaptation(model, result, name)  an adaptation's result -> a Style (deltas from the generic basis)
    style.apply(model)                          -> (style vector, deformation basis, template) to decode with

Files (saving, listing, loading) are `imitator.style_store`'s job.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from .errors import (CorruptStyleError, StyleError, StyleModelMismatchError,  # noqa: F401 (older import path)
                     StyleNotFoundError)

if TYPE_CHECKING:
    from .adapt import AdaptResult
    from .model import Imitator


@dataclass
class StyleMeta:
    name: str
    description: str = ""
    created: str = ""
    source: str = ""  # e.g. "video sha256:..." or "synthetic identity id03"
    model_id: str = ""
    fit: dict = field(default_factory=dict)


@dataclass
class Style:
    meta: StyleMeta
    template: torch.Tensor  # (V, 3) mm
    vector: torch.Tensor  # (d,)
    basis_weight_delta: torch.Tensor | None = None  # (3V, d)
    basis_bias_delta: torch.Tensor | None = None  # (3V,)
    texture: torch.Tensor | None = None  # (H, W, 3) uint8: the person's face (imitator.texture); None = neutral

    @property
    def name(self) -> str:
        return self.meta.name

    def apply(self, model: Imitator) -> tuple[torch.Tensor, torch.nn.Linear | None, torch.Tensor]:
        """(style vector (1, d), deformation basis or None for the generic one, template (V, 3)) on the
        model's device, for Imitator.visemes / Imitator.motion. Tensors are validated first (a Style built
        in memory gets the same checks as one read from a file)."""
        from .style_store import check_style  # here: style_store imports this module

        check_style(self)
        if self.template.shape != (model.cfg.n_vertices, 3):
            raise StyleModelMismatchError(f"style {self.name!r} has {self.template.shape[0]} vertices; "
                                          f"the model has {model.cfg.n_vertices}")
        if self.vector.shape != (model.cfg.d_model,):
            raise StyleModelMismatchError(f"style {self.name!r} has a {tuple(self.vector.shape)} style vector; "
                                          f"the model needs ({model.cfg.d_model},)")
        device = model.template.device
        basis = None
        if self.basis_weight_delta is not None:
            basis = torch.nn.Linear(model.cfg.d_model, 3 * model.cfg.n_vertices).to(device)
            generic = model.motion_decoder.basis
            with torch.no_grad():
                basis.weight.copy_(generic.weight + self.basis_weight_delta.to(device))
                basis.bias.copy_(generic.bias + self.basis_bias_delta.to(device))
        return self.vector.to(device)[None], basis, self.template.to(device)

    @classmethod
    def from_adaptation(cls, model: Imitator, result: AdaptResult, name: str, description: str = "",
                        source: str = "") -> Style:
        """The adapted basis is stored as its difference from the model's generic one."""
        generic = model.motion_decoder.basis
        meta = StyleMeta(name=name, description=description, source=source, model_id=model.model_id,
                         fit=result.fit)
        return cls(meta, result.template.cpu(), result.style.cpu(),
                   (result.basis.weight - generic.weight).detach().cpu(),
                   (result.basis.bias - generic.bias).detach().cpu())
