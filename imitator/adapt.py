"""Two-stage style adaptation (the paper's personalisation) from a short reference: audio + tracked meshes.

The generic model is frozen and the viseme features of the reference audio are computed once; both
stages then only re-run the small motion decoder, so a few hundred steps take seconds on a CPU.

    stage 1  optimise the style embedding s (from the mean or the nearest training style)
    stage 2  jointly refine s and the deformation basis, pulled toward the generic basis so new audio
             still works (the paper: the basis alone over-fits the reference and generalises poorly)

Loss: MSE + 10 x velocity on the reference frames (the paper), plus, when the reference's bilabial
closures are labelled (`imitator.lips`), the lip-contact term the generic model was trained with. Without
it, re-fitting the basis to a few seconds of MSE undoes the closures the generic model learned (measured in
docs/adaptation.md). The last `holdout` share of the frames is kept out of the fit for early stopping.

The fit summary (`AdaptResult.fit`, shown to the user through `fit_summary`) reports what a person cares
about: the share of labelled lip closures where the fitted lips touch, and the lip error on the held-out
frames next to the generic model's on the same frames; not only the error on the fitted frames, which
flatters (a style can match those to a millimetre while the mouth never closes).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from .errors import ConfigError, TopologyMismatchError, UnsupportedModelError, UsageError
from .inference import as_template, features, with_closures
from .metrics import closure_rate
from .losses import lip_contact_loss, reconstruction_loss, velocity_loss
from .model import Imitator
from .topology import get_topology, lip_distance

AdaptProgress = Callable[[str, int, int, float], None]  # (stage, step, total steps, loss)


@dataclass(frozen=True)
class AdaptConfig:
    stage1_steps: int = 300
    stage2_steps: int = 300
    style_lr: float = 3e-2
    basis_lr: float = 3e-4  # small: stage 2 refines; a larger step over-fits the reference (see adaptation.md)
    basis_reg: float = 10.0  # weight of the mean squared distance from the generic basis (mm^2 scale)
    velocity_weight: float = 10.0
    lip_weight: float = 2.0  # lip-contact term (used when labels are given); chosen in docs/adaptation.md
    lip_region: str = "lips"  # "lips" (lip vertices) or "face" (all vertices), as in training
    holdout: float = 0.2  # share of frames (at the end) used only for early stopping
    patience: int = 60  # steps without a better held-out loss before a stage stops
    # Where stage 1 starts: the "mean" (generic) style, or the "nearest" training style (the one whose
    # motion fits the reference best). With a model trained on real people, "nearest" picks one of them and
    # the style follows that person's pose drift: on the real validation people (first 60 % of a clip ->
    # last 40 %) styles from "nearest" scored Lip-sync 7.20 mm against the generic model's 7.07, from
    # "mean" 6.91 with a correlation no lower than generic (docs/adaptation.md).
    init: str = "mean"
    stages: str = "both"  # "both" (the method), "style" (stage 1 only) or "basis" (basis only: ablation)
    seed: int = 0


@dataclass
class AdaptResult:
    style: torch.Tensor  # (d,) style vector
    basis: nn.Linear  # the adapted deformation basis (a copy; the generic model is untouched)
    template: torch.Tensor  # (V, 3) mm
    fit: dict = field(default_factory=dict)  # errors in mm, steps run per stage
    history: list[dict] = field(default_factory=list)


def adapt(model: Imitator, audio: np.ndarray | list[np.ndarray], vertices: np.ndarray | list[np.ndarray],
          template: np.ndarray | None = None, config: AdaptConfig = AdaptConfig(),
          progress: AdaptProgress | None = None,
          lip_weights: np.ndarray | list[np.ndarray | None] | None = None) -> AdaptResult:
    """Fit a new style to `vertices` (T, V, 3) mm tracked at model.cfg.fps, spoken as `audio` (16 kHz).

    Several reference sequences of one person: pass lists (audio_i, vertices_i); each keeps its own last
    `holdout` share of frames for early stopping. `lip_weights`: (T,) lip-contact weights per sequence
    (from `imitator.lips`), or None where a sequence has no labels."""
    if model.style_in_visemes:  # the cheap loop below re-runs only the motion decoder
        raise UnsupportedModelError("this model puts the style into its viseme decoder (FaceFormer-style); "
                                    "style adaptation needs an Imitator model, whose visemes do not depend on it")
    torch.manual_seed(config.seed)
    model.eval()
    device = model.template.device
    audios = audio if isinstance(audio, list) else [audio]
    targets = vertices if isinstance(vertices, list) else [vertices]
    if len(audios) != len(targets) or not audios:
        raise UsageError("adapt needs one audio per vertex sequence")
    for v in targets:  # e.g. a MediaPipe-tracked video for a model trained on FLAME meshes (VOCASET)
        if np.ndim(v) != 3 or np.shape(v)[1:] != (model.cfg.n_vertices, 3):
            raise TopologyMismatchError(
                f"the reference meshes are {np.shape(v)}, but the model ({model.cfg.topology}) needs (T, "
                f"{model.cfg.n_vertices}, 3): adapt with meshes of the model's topology")
    if config.lip_region not in ("lips", "face"):
        raise ConfigError(f"unknown lip region {config.lip_region!r}: use lips or face")
    weights = lip_weights if isinstance(lip_weights, list) else [lip_weights] * len(targets)
    if len(weights) != len(targets):
        raise UsageError("adapt needs one lip-weight curve (or None) per vertex sequence")
    for w, v in zip(weights, targets):
        if w is not None and len(w) != len(v):
            raise UsageError(f"lip weights cover {len(w)} frames but the sequence has {len(v)}")
    lip_vertices = get_topology(model.cfg.topology).lip_vertices.tolist() \
        if config.lip_region == "lips" and any(w is not None for w in weights) else None
    tmpl = as_template(model, template if template is not None else np.concatenate(targets).mean(0))
    refs = []  # (visemes (1, T, d), target (1, T, V, 3), frames used for fitting, lip weights (1, T) or None,
    #          features (1, T, audio_dim): only the report's closure detector hears them)
    with torch.no_grad():
        for a, v, w in zip(audios, targets, weights):
            feats = features(model, a)
            T = min(feats.shape[1], len(v))  # a tracked video and its audio may differ by a frame
            target = torch.as_tensor(np.asarray(v[:T]), dtype=torch.float32, device=device)[None]
            n_fit = max(2, int(round(T * (1 - config.holdout)))) if T > 4 else T
            lip = None if w is None else torch.as_tensor(np.asarray(w[:T]), dtype=torch.float32, device=device)[None]
            refs.append((model.visemes(feats[:, :T]), target, n_fit, lip, feats[:, :T]))

    def lip_term(pred, target, lip, frames: slice):
        if lip is None or not config.lip_weight:
            return 0.0
        return config.lip_weight * lip_contact_loss(pred[:, frames], target[:, frames], lip[:, frames],
                                                    vertices=lip_vertices)

    def losses(style: torch.Tensor, basis: nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:
        fit, held = 0.0, 0.0
        for visemes, target, n, lip, _ in refs:
            pred = model.motion(visemes, style[None], tmpl, basis=basis)
            fitted, rest = slice(None, n), slice(n, None)
            f = reconstruction_loss(pred[:, fitted], target[:, fitted]) + lip_term(pred, target, lip, fitted) + \
                config.velocity_weight * velocity_loss(pred[:, fitted], target[:, fitted])
            fit = fit + f
            # The lip term in the held-out score too: early stopping must not undo the closures.
            held = held + (reconstruction_loss(pred[:, rest], target[:, rest]) + lip_term(pred, target, lip, rest)
                           if n < target.shape[1] else f)
        return fit / len(refs), held / len(refs)

    generic_basis = model.motion_decoder.basis
    style = _initial_style(model, config.init, losses, generic_basis).clone().requires_grad_(True)
    basis = copy.deepcopy(generic_basis).requires_grad_(False)
    history: list[dict] = []
    fit_info: dict = {}

    if config.stages in ("both", "style"):
        n = _optimise("stage 1", [{"params": [style], "lr": config.style_lr}], config.stage1_steps, config,
                      lambda: losses(style, basis), [style], history, progress)
        fit_info["stage1_steps"] = n
    if config.stages in ("both", "basis"):
        basis.requires_grad_(True)
        groups = [{"params": list(basis.parameters()), "lr": config.basis_lr}]
        if config.stages == "both":
            groups.append({"params": [style], "lr": config.style_lr / 10})
        generic_w, generic_b = generic_basis.weight.detach(), generic_basis.bias.detach()

        def regularised():
            fit, held = losses(style, basis)
            reg = (basis.weight - generic_w).square().mean() + (basis.bias - generic_b).square().mean()
            return fit + config.basis_reg * reg, held

        name = "stage 2" if config.stages == "both" else "basis only"
        n = _optimise(name, groups, config.stage2_steps, config, regularised,
                      [style, *basis.parameters()], history, progress)
        fit_info["stage2_steps"] = n

    with torch.no_grad():
        fit_info.update(_fit_report(model, refs, style, basis, tmpl))
    basis.requires_grad_(False)
    return AdaptResult(style.detach(), basis, tmpl.detach(), fit_info, history)


def _fit_report(model: Imitator, refs: list, style: torch.Tensor, basis: nn.Linear, tmpl: torch.Tensor) -> dict:
    """Errors (mm) of the fitted style on the fitted and the held-out frames, the generic model's on the
    same held-out frames and face (Lip-sync: per frame the largest lip-vertex error), and the share of
    labelled closures where the fitted lips touch (lip distance under 1 mm within +-2 frames, the closure
    rate of imitator.evaluate). The meshes are those a person gets: with the model's closure detector's
    closures (inference.with_closures)."""
    topology = get_topology(model.cfg.topology)
    # the topology's lips; all vertices for a toy mesh that only borrows the topology's name (tests)
    lip_vertices = topology.lip_vertices.tolist() if model.cfg.n_vertices == topology.n_vertices else slice(None)
    fit_err, held_err, held_sync, generic_sync, kept, closures = [], [], [], [], 0.0, 0

    def decoded(visemes, feats, style_vec, basis_=None):
        pred = model.motion(visemes, style_vec, tmpl, basis=basis_)[0]
        return torch.as_tensor(with_closures(model, feats, pred.cpu().numpy(), tmpl), device=pred.device)

    for visemes, target, n, lip, feats in refs:
        pred = decoded(visemes, feats, style[None], basis)
        err = (pred - target[0]).norm(dim=-1)
        fit_err.append(err[:n])
        held_err.append(err[n:])
        if n < target.shape[1]:
            generic = decoded(visemes, feats, None)[n:]
            held_sync.append(err[n:, lip_vertices].max(dim=1).values)
            generic_sync.append((generic - target[0, n:]).norm(dim=-1)[:, lip_vertices].max(dim=1).values)
        if lip is not None:
            frames = torch.nonzero(lip[0] >= 0.999).flatten().tolist()
            if frames:
                kept += closure_rate(lip_distance(pred, topology), frames) * len(frames)
                closures += len(frames)
    held_all = torch.cat(held_err)

    def mean(parts: list[torch.Tensor]) -> float | None:
        return float(torch.cat(parts).mean()) if parts and sum(len(p) for p in parts) else None

    return {"fit_l2_mm": float(torch.cat(fit_err).mean()),
            "holdout_l2_mm": float(held_all.mean()) if len(held_all) else None,
            "holdout_lip_sync_mm": mean(held_sync), "generic_holdout_lip_sync_mm": mean(generic_sync),
            "holdout_seconds": len(held_all) / model.cfg.fps, "frames": sum(r[1].shape[1] for r in refs),
            "references": len(refs), "lip_closures": closures,
            "closures_kept": kept / closures if closures else None}


def fit_summary(fit: dict) -> str:
    """One or two sentences for the person who made the style: do the lips close, and does the style
    predict their unseen frames better than the generic model."""
    parts = []
    if fit.get("closures_kept") is not None:
        n = fit["lip_closures"]
        parts.append(f"the lips close on {round(fit['closures_kept'] * n)} of {n} labelled m/b/p closures")
    else:
        parts.append(f"no lip closures could be labelled ({fit.get('lip_labels', 'no m/b/p found')}), so closing "
                     "the lips was not checked")
    if fit.get("holdout_lip_sync_mm") is not None:
        s = (f"on the last {fit['holdout_seconds']:.1f} s of the video, not used to fit, the lip error is "
             f"{fit['holdout_lip_sync_mm']:.1f} mm")
        if fit.get("generic_holdout_lip_sync_mm") is not None:
            s += f" (generic model: {fit['generic_holdout_lip_sync_mm']:.1f} mm)"
        parts.append(s)
    return "; ".join(parts)


def _initial_style(model: Imitator, how: str, losses, generic_basis: nn.Linear) -> torch.Tensor:
    md = model.motion_decoder
    if how == "mean":
        return md.mean_style()[0].detach()
    if how != "nearest":
        raise ConfigError(f"unknown style initialisation {how!r}: use 'nearest' or 'mean'")
    with torch.no_grad():
        candidates = [md.style_vector(i)[0] for i in range(model.cfg.n_styles)] + [md.mean_style()[0]]
        scores = [float(losses(s, generic_basis)[0]) for s in candidates]
    return candidates[int(np.argmin(scores))].detach()


def _optimise(stage: str, groups: list[dict], steps: int, config: AdaptConfig, loss_fn, params: list,
              history: list[dict], progress: AdaptProgress | None) -> int:
    """Adam on `params`; keeps the parameters of the best held-out loss (early stopping)."""
    opt = torch.optim.Adam(groups)
    best, best_state, since = float("inf"), [p.detach().clone() for p in params], 0
    step = 0
    for step in range(1, steps + 1):
        loss, held = loss_fn()
        held = float(held.detach())
        if held < best - 1e-6:  # `held` belongs to the parameters before this step's update
            best, best_state, since = held, [p.detach().clone() for p in params], 0
        else:
            since += 1
        history.append({"stage": stage, "step": step, "loss": float(loss.detach()), "holdout_mse": held})
        if progress is not None:
            progress(stage, step, steps, float(loss.detach()))
        if since >= config.patience:
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        for p, b in zip(params, best_state):
            p.copy_(b)
    return step
