"""Training the generic prior: one plain loop, readable top to bottom.

    for each epoch:  for each training sequence (batch 1, as the paper):
        pred = model(audio features, style of its identity, its template)   # autoregressive
        loss = 1 * MSE + 10 * velocity + 5 * lip-contact;  AdamW step
    validate (reconstruction MSE); keep the best checkpoint; write `last` for --resume

Frozen encoders' features are computed once and cached beside the dataset. Launched with
`torchrun --nproc-per-node N -m imitator.cli train ...` the same loop runs as DDP (gloo on CPU, nccl on
GPU): each rank takes its share of the sequences, gradients are averaged, rank 0 writes checkpoints.
"""
from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from .checkpoint import load_model, save_model
from .data.dataset import Dataset, SequenceInfo
from .encoders import build_encoder, features_at_fps, resample_features
from .errors import ConfigError, DatasetError
from .losses import LossWeights, imitator_loss, reconstruction_loss
from .model import Imitator, ModelConfig
from .topology import get_topology


@dataclass
class TrainConfig:
    data: str
    out: str
    encoder: str = "whisper-tiny.en"
    epochs: int = 100
    batch_size: int = 1  # the paper trains with 1; larger batches pad sequences and mask the padding
    lr: float = 1e-4
    lr_schedule: str = "constant"  # or "cosine": decays to lr / 100 by the last epoch (set per epoch)
    weight_decay: float = 0.0
    mse_weight: float = 1.0
    velocity_weight: float = 10.0
    lip_weight: float = 5.0
    lip_region: str = "face"  # where the lip-contact loss measures error: "face" (all vertices) or "lips"
    seed: int = 0
    resume: bool = False
    max_sequences: int | None = None
    model: dict = field(default_factory=dict)  # ModelConfig overrides, e.g. {"d_model": 128}
    architecture: str = "imitator"  # or "faceformer": the FaceFormer-style baseline (ModelConfig.faceformer)
    device: str = "auto"
    progress: bool = True

    @property
    def loss_weights(self) -> LossWeights:
        return LossWeights(self.mse_weight, self.velocity_weight, self.lip_weight)


@dataclass
class Example:
    info: SequenceInfo
    audio: torch.Tensor  # (N,) waveform, used only by trainable encoders
    features: torch.Tensor | None  # (T, audio_dim), precomputed for frozen encoders
    vertices: torch.Tensor  # (T, V, 3) mm
    template: torch.Tensor  # (V, 3) mm
    lip_weights: torch.Tensor  # (T,)
    style: int | None  # index of the identity's training style; None = unseen identity (mean style)


@dataclass
class TrainResult:
    best: Path  # checkpoint folder with the lowest validation loss
    model: Imitator  # the model as it is after the last epoch
    history: list[dict]


def train(cfg: TrainConfig) -> TrainResult:
    epoch_lr(cfg, 0)  # an unknown schedule or region fails here, not after the features are computed
    _lip_region(cfg.lip_region, "mediapipe468")
    rank, world = _init_distributed()
    device = _device(cfg.device, rank)
    _seed_everything(cfg.seed)
    out = Path(cfg.out)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "train_config.json").write_text(json.dumps(asdict(cfg), indent=1))

    data = Dataset(cfg.data)
    train_infos = data.select("train")[: cfg.max_sequences]
    if not train_infos:
        raise DatasetError(f"{cfg.data} has no sequences in the 'train' split")
    val_infos = data.select("val")
    style_names = tuple(sorted({i.identity for i in train_infos}))
    encoder = build_encoder(cfg.encoder)

    train_set = load_examples(data, train_infos, encoder, style_names, cfg, rank)
    val_set = load_examples(data, val_infos, encoder, style_names, cfg, rank)
    lip_vertices = _lip_region(cfg.lip_region, data.topology)

    if cfg.resume and (out / "last").is_dir():
        model = load_model(out / "last")
        state = _load_trainer_state(out / "last")
    else:
        make_config = {"imitator": ModelConfig, "faceformer": ModelConfig.faceformer}.get(cfg.architecture)
        if make_config is None:
            raise ConfigError(f"unknown architecture {cfg.architecture!r}: use imitator or faceformer")
        mcfg = make_config(**{"n_vertices": train_set[0].vertices.shape[1], "topology": data.topology,
                              "style_names": style_names, "encoder": cfg.encoder, "audio_dim": encoder.dim,
                              "fps": data.fps, **cfg.model})
        mean_template = torch.stack([e.template for e in train_set]).mean(0)
        model = Imitator(mcfg, template=mean_template, audio_encoder=encoder if encoder.trainable else None)
        state = None
    model.to(device).train()
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    start_epoch, best, history = 0, float("inf"), []
    if state is not None:
        opt.load_state_dict(state["optimizer"])
        start_epoch, best, history = state["epoch"] + 1, state["best"], state["history"]

    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.time()
        for group in opt.param_groups:
            group["lr"] = epoch_lr(cfg, epoch)
        order = _epoch_order(len(train_set), cfg.seed, epoch, rank, world)
        batches = [order[i:i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
        sums: dict[str, float] = {}
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not cfg.progress or rank != 0,
                   leave=False)
        for idx in bar:
            b = collate([train_set[i] for i in idx], model, device)
            pred = net(b.features, style=b.style, template=b.template)
            loss, parts = imitator_loss(pred, b.vertices, b.lip_weights, cfg.loss_weights, mask=b.mask,
                                        lip_vertices=lip_vertices)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            parts["loss"] = float(loss.detach())
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
            bar.set_postfix(loss=f"{parts['loss']:.3f}")
        train_stats = {k: v / len(batches) for k, v in sums.items()}
        val_mse = validate(model, val_set or train_set, device)
        history.append({"epoch": epoch + 1, "train": train_stats, "val_mse": val_mse,
                        "seconds": round(time.time() - t0, 2)})
        if rank == 0:
            if val_mse < best:
                best = val_mse
                save_model(model, out / "best", extra={"epoch": epoch + 1, "val_mse": val_mse})
            save_model(model, out / "last", extra={"epoch": epoch + 1, "val_mse": val_mse})
            _save_trainer_state(out / "last", opt, epoch, best, history)
            (out / "history.json").write_text(json.dumps(history, indent=1))
            if cfg.progress:
                tqdm.write(f"epoch {epoch + 1}: train loss {train_stats['loss']:.4f} "
                           f"(mse {train_stats['mse']:.4f}) | val mse {val_mse:.4f} mm^2 | "
                           f"{history[-1]['seconds']:.1f} s")
    if world > 1:
        dist.barrier()
    return TrainResult(out / "best", model, history)


def _lip_region(region: str, topology: str) -> list[int] | None:
    if region == "face":
        return None
    if region == "lips":
        return get_topology(topology).lip_vertices.tolist()
    raise ConfigError(f"unknown lip region {region!r}: use face or lips")


def epoch_lr(cfg: TrainConfig, epoch: int) -> float:
    """A function of the epoch alone, so a resumed run follows the same schedule as a straight one."""
    if cfg.lr_schedule == "constant":
        return cfg.lr
    if cfg.lr_schedule == "cosine":
        progress = epoch / max(cfg.epochs - 1, 1)
        return cfg.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))
    raise ConfigError(f"unknown lr schedule {cfg.lr_schedule!r}: use constant or cosine")


@dataclass
class Batch:
    features: torch.Tensor  # (B, T, audio_dim), zero-padded
    vertices: torch.Tensor  # (B, T, V, 3)
    template: torch.Tensor  # (B, V, 3)
    style: torch.Tensor  # (B,) style indices
    lip_weights: torch.Tensor  # (B, T)
    mask: torch.Tensor  # (B, T): 1 for real frames, 0 for padding


def collate(examples: list[Example], model: Imitator, device) -> Batch:
    """Pads to the longest sequence. The decoder is causal, so padding at the end changes no real frame."""
    T = max(len(e.vertices) for e in examples)

    def pad(x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.pad(x, (0, 0) * (x.dim() - 1) + (0, T - len(x)))

    feats = [_features(model, e, device)[0] for e in examples]
    mask = torch.stack([pad(torch.ones(len(e.vertices), 1))[:, 0] for e in examples])
    return Batch(torch.stack([pad(f) for f in feats]),
                 torch.stack([pad(e.vertices) for e in examples]).to(device),
                 torch.stack([e.template for e in examples]).to(device),
                 torch.tensor([e.style for e in examples], device=device),
                 torch.stack([pad(e.lip_weights) for e in examples]).to(device), mask.to(device))


def load_examples(data: Dataset, infos: list[SequenceInfo], encoder, style_names: tuple[str, ...],
                  cfg: TrainConfig, rank: int = 0) -> list[Example]:
    cache = _feature_cache_dir(data.root, encoder.name)
    examples = []
    for info in tqdm(infos, desc="audio features", disable=not cfg.progress or rank != 0 or not infos,
                     leave=False):
        seq = data.load(info)
        T = len(seq.vertices)
        feats = None
        if not encoder.trainable:
            feats = _cached_features(cache, info.id, lambda: features_at_fps(encoder, seq.audio, data.fps, T))
        lip = seq.lip_weights if cfg.lip_weight else np.zeros(T, np.float32)
        style = style_names.index(info.identity) if info.identity in style_names else None
        examples.append(Example(info, torch.from_numpy(seq.audio), feats, torch.from_numpy(seq.vertices),
                                torch.from_numpy(seq.template), torch.from_numpy(lip), style))
    return examples


@torch.no_grad()
def validate(model: Imitator, examples: list[Example], device) -> float:
    """Mean reconstruction MSE (mm^2); unseen identities are decoded with the mean training style."""
    model.eval()
    total = 0.0
    for ex in examples:
        style = None if ex.style is None else torch.tensor([ex.style], device=device)
        pred = model(_features(model, ex, device), style=style, template=ex.template.to(device))
        total += float(reconstruction_loss(pred, ex.vertices[None].to(device)))
    model.train()
    return total / max(len(examples), 1)


def _features(model: Imitator, ex: Example, device) -> torch.Tensor:
    if ex.features is not None:
        return ex.features[None].to(device)
    raw = model.audio_encoder(ex.audio[None].to(device))  # trainable encoder: part of the graph
    return resample_features(raw, len(ex.vertices))


def _feature_cache_dir(root: Path, encoder_name: str) -> Path | None:
    folder = root / "cache" / encoder_name.replace("/", "_").replace(":", "_")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    except OSError:  # read-only dataset: compute features in memory every run
        return None


def _cached_features(cache: Path | None, key: str, compute) -> torch.Tensor:
    path = cache / f"{key}.npy" if cache else None
    if path is not None and path.is_file():
        return torch.from_numpy(np.load(path, allow_pickle=False))
    feats = compute().float()
    if path is not None:
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npy")  # unique: ranks may share the cache
        np.save(tmp, feats.numpy())
        os.replace(tmp, path)
    return feats


def _epoch_order(n: int, seed: int, epoch: int, rank: int, world: int) -> list[int]:
    """A seeded shuffle; under DDP each rank gets an equal share (padded) so all ranks step together."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100003 + epoch)).tolist()
    per_rank = -(-n // world)
    order = (order * world)[: per_rank * world]
    return order[rank::world]


def _save_trainer_state(folder: Path, opt: torch.optim.Optimizer, epoch: int, best: float, history: list) -> None:
    sd = opt.state_dict()
    tensors = {f"{i}.{k}": torch.as_tensor(v).clone() for i, s in sd["state"].items() for k, v in s.items()}
    save_file(tensors, folder / "optimizer.safetensors")
    (folder / "trainer.json").write_text(json.dumps(
        {"epoch": epoch, "best": best, "history": history, "param_groups": sd["param_groups"]}, indent=1))


def _load_trainer_state(folder: Path) -> dict:
    meta = json.loads((folder / "trainer.json").read_text())
    state: dict[int, dict] = {}
    for key, value in load_file(folder / "optimizer.safetensors").items():
        i, name = key.split(".", 1)
        state.setdefault(int(i), {})[name] = value
    return {"optimizer": {"state": state, "param_groups": meta["param_groups"]}, "epoch": meta["epoch"],
            "best": meta["best"], "history": meta["history"]}


def _init_distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _device(name: str, rank: int) -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)) % torch.cuda.device_count())
    return torch.device("cpu")


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)

