"""A style: a person's speaking style and face, fitted to one model.

Files (saving, listing, loading) are `imitator.style_store`'s job.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .errors import (CorruptStyleError, StyleError, StyleModelMismatchError,  # noqa: F401 (older import path)
                     StyleNotFoundError)


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
    texture: torch.Tensor | None = None  # (H, W, 3) uint8: the person's face colours, if known

    @property
    def name(self) -> str:
        return self.meta.name
