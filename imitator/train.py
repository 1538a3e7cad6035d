"""Training the generic prior: one plain loop, readable top to bottom.

    for each epoch:  for each training sequence (batch 1, as the paper):
        pred = model(audio features, style of its identity, its template)   # autoregressive
        loss = 1 * MSE + 10 * velocity + 5 * lip-contact;  AdamW step
    validate (reconstruction MSE); keep the best checkpoint; write `last` for --resume

Several datasets train one model at once (e.g. the synthetic corpus for voice variety and exact closures,
and tracked real people for real motion). Each identity gets its own style. With `mix` (a share of each
epoch's draws per dataset) or `identity_balance` (so that one person with hours of video does not outweigh
thirty with seconds), every epoch draws its sequences at random with those probabilities instead of
visiting each once. Long sequences can be cut into chunks (`max_frames`) so that a batch is not padded to
a minute-long clip; `mirror` flips a share of the examples left-right with the topology's symmetry map.
`init` fine-tunes a trained checkpoint: its styles are kept and new identities get new ones.

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
import zlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from .checkpoint import load_model, save_model
from .contact import RestConfig, closed_at_rest, rest_in_pauses
from .data.dataset import Dataset, Sequence, SequenceInfo
from .data.speech import AugmentConfig, augment
from .encoders import build_encoder, features_at_fps, resample_features
from .errors import ConfigError, DatasetError
from .losses import LossWeights, imitator_loss, reconstruction_loss
from .model import Imitator, ModelConfig
from .topology import get_topology, mirror_vertices
from .vad import speech_frames


@dataclass
class TrainConfig:
    data: str | list[str]  # one dataset folder, or several trained on at once
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
    # Several datasets and who is seen how often (see the module docstring):
    mix: list[float] | None = None  # relative share of each dataset in an epoch's draws; None: by size
    identity_balance: float = 0.0  # 0: identities as often as their data; 1: every identity equally often
    epoch_size: int | None = None  # draws per epoch when sampling; None: the number of training chunks
    max_frames: int | None = None  # cut longer training sequences into chunks of at most this many frames
    mirror: float = 0.0  # probability that a training example is mirrored left-right
    init: str | None = None  # checkpoint folder to fine-tune (None: a new model)
    generic_from: list[str] | None = None  # datasets whose identities' mean style is the generic style
    closed_rest_lips: bool = False  # close each neutral face's inner-lip gap (ModelConfig.closed_rest_lips)
    # Probability that a drawn example is heard through a degraded copy of its audio (noise, reverberation,
    # a band-limited microphone: data.speech.augment), one of `augment_copies` made per sequence and cached.
    # Real clips are mostly clean; without it a model fine-tuned on them opened the mouth 8 mm in the hissing
    # pauses of old recordings (jfk.flac), where the synthetic-only model, trained on degraded audio, rests.
    augment_audio: float = 0.0
    augment_copies: int = 2
    # Pauses of at least this many seconds (Silero VAD on each sequence's audio) get rest-true targets: the
    # lower face eases to the neutral face (contact.rest_in_pauses). 0: targets as tracked.
    rest_in_pauses: float = 0.0
    # Probability that a drawn example of a generic-style person (generic_from) is decoded in the generic style
    # (the mean of those people's styles) instead of its own. The generic style is what the app shows every
    # unseen person; without this it is only the mean of styles each trained for one person.
    style_dropout: float = 0.0

    @property
    def loss_weights(self) -> LossWeights:
        return LossWeights(self.mse_weight, self.velocity_weight, self.lip_weight)

    @property
    def datasets(self) -> list[str]:
        return [self.data] if isinstance(self.data, (str, os.PathLike)) else [str(d) for d in self.data]

    @property
    def sampled(self) -> bool:
        """True when epochs draw at random with weights instead of visiting every sequence once."""
        return self.mix is not None or self.identity_balance > 0


@dataclass
class Example:
    info: SequenceInfo
    audio: torch.Tensor  # (N,) waveform, used only by trainable encoders
    features: torch.Tensor | None  # (T, audio_dim), precomputed for frozen encoders
    vertices: torch.Tensor  # (T, V, 3) mm
    template: torch.Tensor  # (V, 3) mm
    lip_weights: torch.Tensor  # (T,)
    style: int | None  # index of the identity's training style; None = unseen identity (mean style)
    augmented: tuple[torch.Tensor, ...] = ()  # features of degraded copies of the audio (TrainConfig.augment_audio)


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

    datasets = [Dataset(d) for d in cfg.datasets]
    mix = _check_mix(cfg, datasets)
    train_infos = [d.select("train")[: cfg.max_sequences] for d in datasets]
    for d, infos in zip(datasets, train_infos):
        if not infos:
            raise DatasetError(f"{d.root} has no sequences in the 'train' split")
    data = datasets[0]
    style_names = tuple(sorted({i.identity for infos in train_infos for i in infos}))
    generic = _generic_styles(cfg, datasets, train_infos)
    encoder = build_encoder(cfg.encoder)
    init = load_model(cfg.init) if cfg.init and not (cfg.resume and (out / "last").is_dir()) else None
    if init is not None:
        style_names = init.cfg.style_names + tuple(n for n in style_names if n not in init.cfg.style_names)

    train_parts = [split_long(load_examples(d, infos, encoder, style_names, cfg, rank), cfg.max_frames, d.fps)
                   for d, infos in zip(datasets, train_infos)]
    val_parts = [load_examples(d, d.select("val"), encoder, style_names, cfg, rank) for d in datasets]
    train_set = [e for part in train_parts for e in part]
    weights = sampling_weights(train_parts, mix, cfg.identity_balance) if cfg.sampled else None
    lip_vertices = _lip_region(cfg.lip_region, data.topology)
    if cfg.mirror and get_topology(data.topology).mirror is None:  # fail here, not in the first epoch
        raise ConfigError(f"--mirror needs a left-right vertex map; topology {data.topology!r} has none")

    if cfg.resume and (out / "last").is_dir():
        model = load_model(out / "last")
        state = _load_trainer_state(out / "last")
    elif init is not None:
        model, state = extend_styles(init, style_names, generic or init.cfg.generic_styles,
                                     cfg.closed_rest_lips, grow=cfg.model), None
    else:
        make_config = {"imitator": ModelConfig, "faceformer": ModelConfig.faceformer}.get(cfg.architecture)
        if make_config is None:
            raise ConfigError(f"unknown architecture {cfg.architecture!r}: use imitator or faceformer")
        mcfg = make_config(**{"n_vertices": train_set[0].vertices.shape[1], "topology": data.topology,
                              "style_names": style_names, "generic_styles": generic,
                              "closed_rest_lips": cfg.closed_rest_lips, "encoder": cfg.encoder,
                              "audio_dim": encoder.dim, "fps": data.fps, **cfg.model})
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
        order = _epoch_order(len(train_set), cfg.seed, epoch, rank, world, weights, cfg.epoch_size)
        flips = _mirror_flags(len(order), cfg.mirror, cfg.seed, epoch, rank)
        heard = _augment_picks(len(order), cfg.augment_audio, cfg.augment_copies, cfg.seed, epoch, rank)
        generic = _style_drops(len(order), cfg.style_dropout, cfg.seed, epoch, rank)
        draws = list(zip(order, flips, heard, generic))
        batches = [draws[i:i + cfg.batch_size] for i in range(0, len(draws), cfg.batch_size)]
        sums: dict[str, float] = {}
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not cfg.progress or rank != 0,
                   leave=False)
        for batch in bar:
            b = collate([heard_as(mirrored(train_set[i], data.topology) if flip else train_set[i], k)
                         for i, flip, k, _ in batch], model, device)
            pred = net(b.features, style=styles_with_generic(model, b.style, [g for *_, g in batch]),
                       template=b.template)
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
        val_by_data = [validate(model, part, device) for part in val_parts if part]
        val_mse = float(np.average(val_by_data, weights=[m for m, p in zip(mix, val_parts) if p])) \
            if val_by_data else validate(model, train_set, device)
        history.append({"epoch": epoch + 1, "train": train_stats, "val_mse": val_mse, "val_by_data": val_by_data,
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


def _check_mix(cfg: TrainConfig, datasets: list[Dataset]) -> list[float]:
    """Each dataset's share of the draws (normalised); by default in proportion to its training sequences."""
    if len({d.topology for d in datasets}) > 1 or len({d.fps for d in datasets}) > 1:
        raise ConfigError("datasets trained together need the same topology and frame rate")
    if cfg.mix is None:
        return [float(len(d.select("train")) or 1) for d in datasets]
    if len(cfg.mix) != len(datasets) or any(m < 0 for m in cfg.mix) or not sum(cfg.mix):
        raise ConfigError(f"mix needs one non-negative share per dataset ({len(datasets)}), got {cfg.mix}")
    return [float(m) for m in cfg.mix]


def _generic_styles(cfg: TrainConfig, datasets: list[Dataset], train_infos: list[list[SequenceInfo]]) -> tuple:
    """Names of the identities whose mean style becomes the generic one (empty tuple: all of them)."""
    if not cfg.generic_from:
        return ()
    roots = {Path(d).resolve() for d in cfg.generic_from}
    unknown = roots - {d.root.resolve() for d in datasets}
    if unknown:
        raise ConfigError(f"generic_from names datasets that are not trained on: {sorted(map(str, unknown))}")
    return tuple(sorted({i.identity for d, infos in zip(datasets, train_infos) if d.root.resolve() in roots
                         for i in infos}))


# ModelConfig fields a fine-tune may add to a trained network: each adds layers that start as the identity.
GROWABLE = ("audio_context", "feedback")


def extend_styles(model: Imitator, style_names: tuple[str, ...], generic_styles: tuple[str, ...] = (),
                  closed_rest_lips: bool | None = None, grow: dict | None = None) -> Imitator:
    """The same network with more training styles (fine-tuning on new people): existing styles keep their
    vectors, new ones start at the model's generic style. closed_rest_lips: None keeps the model's.
    grow: GROWABLE config fields to change (e.g. {"audio_context": 4}); the new layers start as the identity,
    so the grown network predicts what the given one did."""
    new = [n for n in style_names if n not in model.cfg.style_names]
    if list(style_names[: model.cfg.n_styles]) != list(model.cfg.style_names):
        raise ConfigError("extend_styles keeps the model's styles first, in their order")
    grow = {k: v for k, v in (grow or {}).items() if getattr(model.cfg, k, None) != v}
    fixed = sorted(set(grow) - set(GROWABLE))
    if fixed:
        raise ConfigError(f"fine-tuning cannot change {fixed} of a trained model (only {list(GROWABLE)})")
    closed = model.cfg.closed_rest_lips if closed_rest_lips is None else closed_rest_lips
    cfg = replace(model.cfg, style_names=tuple(style_names), generic_styles=tuple(generic_styles),
                  closed_rest_lips=closed, **grow)
    bigger = Imitator(cfg, template=model.template.detach().cpu())
    state = {k: v for k, v in model.state_dict().items() if k != "motion_decoder.style.weight"}
    if grow:  # the grown layers keep their identity initialisation
        state = {**{k: v for k, v in bigger.state_dict().items() if k not in state}, **state}
    old = model.motion_decoder.style.weight.detach().cpu()
    start = model.motion_decoder.mean_style().detach().cpu().T.expand(-1, len(new))
    bigger.load_state_dict({**state, "motion_decoder.style.weight": torch.cat([old, start], dim=1)}, strict=True)
    if getattr(model, "audio_encoder", None) is not None:
        bigger.audio_encoder = model.audio_encoder
    return bigger


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
    features: torch.Tensor  # (B, T, audio_dim), padded with each sequence's last frame
    vertices: torch.Tensor  # (B, T, V, 3)
    template: torch.Tensor  # (B, V, 3)
    style: torch.Tensor  # (B,) style indices
    lip_weights: torch.Tensor  # (B, T)
    mask: torch.Tensor  # (B, T): 1 for real frames, 0 for padding


def collate(examples: list[Example], model: Imitator, device) -> Batch:
    """Pads to the longest sequence. The decoder is causal, so padding at the end changes no real frame; the
    features are padded with the last real frame, as the audio context (ModelConfig.audio_context) pads at
    inference, so that the last frames hear the same context in training as there."""
    T = max(len(e.vertices) for e in examples)

    def pad(x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.pad(x, (0, 0) * (x.dim() - 1) + (0, T - len(x)))

    def pad_edge(f: torch.Tensor) -> torch.Tensor:
        return torch.cat([f, f[-1:].expand(T - len(f), -1)]) if len(f) < T else f

    feats = [_features(model, e, device)[0] for e in examples]
    mask = torch.stack([pad(torch.ones(len(e.vertices), 1))[:, 0] for e in examples])
    return Batch(torch.stack([pad_edge(f) for f in feats]),
                 torch.stack([pad(e.vertices) for e in examples]).to(device),
                 torch.stack([e.template for e in examples]).to(device),
                 torch.tensor([e.style for e in examples], device=device),
                 torch.stack([pad(e.lip_weights) for e in examples]).to(device), mask.to(device))


def load_examples(data: Dataset, infos: list[SequenceInfo], encoder, style_names: tuple[str, ...],
                  cfg: TrainConfig, rank: int = 0) -> list[Example]:
    examples = []
    for info in tqdm(infos, desc="audio features", disable=not cfg.progress or rank != 0 or not infos,
                     leave=False):
        seq = data.load(info)
        T = len(seq.vertices)
        feats, augmented = None, ()
        if not encoder.trainable:
            copies = cfg.augment_copies if cfg.augment_audio > 0 and info.split == "train" else 0
            feats, *augmented = sequence_features(data, seq, encoder, copies)
            augmented = tuple(augmented)
        lip = seq.lip_weights if cfg.lip_weight else np.zeros(T, np.float32)
        style = style_names.index(info.identity) if info.identity in style_names else None
        template = closed_at_rest(seq.template, get_topology(data.topology)) if cfg.closed_rest_lips else seq.template
        vertices = seq.vertices
        if cfg.rest_in_pauses:
            vertices = rest_in_pauses(vertices, template, speech_frames(seq.audio, T, data.fps), data.fps,
                                      get_topology(data.topology), RestConfig(min_pause_s=cfg.rest_in_pauses))
        examples.append(Example(info, torch.from_numpy(seq.audio), feats, torch.from_numpy(vertices),
                                torch.from_numpy(template), torch.from_numpy(lip), style, augmented))
    return examples


# Training's audio degradation: stronger noise than the corpus's own (real recordings hiss at 10-20 dB SNR).
AUGMENT = AugmentConfig(p_noise=0.9, snr_db=(5.0, 30.0))
AUGMENT_KEY = f"aug{zlib.crc32(repr(AUGMENT).encode()) % 10000:04d}-"  # cached features follow the recipe


def degraded(audio: np.ndarray, sequence_id: str, copy: int) -> np.ndarray:
    """Copy `copy` of a sequence's audio, degraded the same way on every run (seeded by id and copy)."""
    rng = np.random.default_rng([zlib.crc32(sequence_id.encode()), copy])
    return augment(audio, rng, AUGMENT)


def heard_as(example: Example, copy: int) -> Example:
    """The example with the features of degraded copy `copy` (-1: its own audio)."""
    return example if copy < 0 else replace(example, features=example.augmented[copy])


def sequence_features(data: Dataset, seq: Sequence, encoder, copies: int = 0) -> list[torch.Tensor]:
    """A sequence's frozen-encoder features, (T, audio_dim) at the dataset's frame rate, then those of its
    first `copies` degraded copies; cached beside the dataset (computed once per sequence and recipe)."""
    cache = _feature_cache_dir(data.root, encoder.cache_key)
    info, T = seq.info, len(seq.vertices)
    own = _sequence_features(cache, info.id, lambda: features_at_fps(encoder, seq.audio, data.fps, T), T)
    return [own] + [_sequence_features(cache, f"{info.id}.{AUGMENT_KEY}{k}",
                                       lambda k=k: features_at_fps(encoder, degraded(seq.audio, info.id, k), data.fps, T), T)
                    for k in range(copies)]


def _sequence_features(cache: Path | None, key: str, compute, n_frames: int) -> torch.Tensor:
    feats = _cached_features(cache, key, compute)
    if len(feats) != n_frames:  # a stale cache entry (the dataset was rebuilt with other frames): redo it
        feats = _cached_features(None, key, compute)
        np.save(cache / f"{key}.npy", feats.numpy()) if cache else None
    return feats


def split_long(examples: list[Example], max_frames: int | None, fps: float) -> list[Example]:
    """Sequences longer than max_frames as consecutive chunks of (nearly) equal length."""
    if not max_frames:
        return examples
    out = []
    per_frame = 16000 / fps
    for e in examples:
        T = len(e.vertices)
        n = -(-T // max_frames)
        bounds = np.linspace(0, T, n + 1).round().astype(int)
        for a, b in zip(bounds[:-1], bounds[1:]):
            out.append(replace(e, audio=e.audio[int(a * per_frame): int(b * per_frame)],
                               features=None if e.features is None else e.features[a:b],
                               augmented=tuple(f[a:b] for f in e.augmented),
                               vertices=e.vertices[a:b], lip_weights=e.lip_weights[a:b]))
    return out


def sampling_weights(parts: list[list[Example]], mix: list[float], identity_balance: float) -> torch.Tensor:
    """Probability of drawing each example (datasets concatenated in order).

    A dataset gets its `mix` share; within it an identity with F frames gets a share proportional to
    F ** (1 - identity_balance), spread over its examples in proportion to their frames."""
    if not 0 <= identity_balance <= 1:
        raise ConfigError(f"identity_balance must be in [0, 1], got {identity_balance}")
    probs = []
    for part, share in zip(parts, np.asarray(mix, float) / sum(mix)):
        frames: dict[str, float] = {}
        for e in part:
            frames[e.info.identity] = frames.get(e.info.identity, 0.0) + len(e.vertices)
        mass = {k: f ** (1 - identity_balance) for k, f in frames.items()}
        total = sum(mass.values())
        probs += [share * mass[e.info.identity] / total * len(e.vertices) / frames[e.info.identity] for e in part]
    return torch.tensor(probs, dtype=torch.float64)


def mirrored(example: Example, topology: str) -> Example:
    """The example seen in a mirror: same speech, face and motion flipped left-right."""
    topo = get_topology(topology)
    return replace(example, vertices=mirror_vertices(example.vertices, topo),
                   template=mirror_vertices(example.template, topo))


def _mirror_flags(n: int, probability: float, seed: int, epoch: int, rank: int) -> list[bool]:
    if not probability:
        return [False] * n
    g = torch.Generator().manual_seed(seed * 100003 + epoch * 7919 + rank + 1)
    return (torch.rand(n, generator=g) < probability).tolist()


def _style_drops(n: int, probability: float, seed: int, epoch: int, rank: int) -> list[bool]:
    """Per draw: whether it is decoded in the generic style (TrainConfig.style_dropout)."""
    if not probability:
        return [False] * n
    g = torch.Generator().manual_seed(seed * 100043 + epoch * 7933 + rank + 3)
    return (torch.rand(n, generator=g) < probability).tolist()


def styles_with_generic(model: Imitator, styles: torch.Tensor, generic: list[bool]) -> torch.Tensor:
    """(B,) style indices -> what the model is decoded with: the indices themselves, or, where `generic` is
    set and the person is one of the generic styles, (B, d) style vectors with the generic (mean) style in
    those rows, so that the loss trains the mean as well."""
    md = model.motion_decoder
    rows = torch.tensor(generic, dtype=torch.bool, device=styles.device) & \
        torch.isin(styles, torch.tensor(md.generic, device=styles.device))
    if not rows.any():
        return styles
    vectors = md.style_vector(styles)
    return torch.where(rows[:, None], md.mean_style().expand_as(vectors), vectors)


def _augment_picks(n: int, probability: float, copies: int, seed: int, epoch: int, rank: int) -> list[int]:
    """Per draw: which degraded copy of the audio it is heard through, -1 for its own audio."""
    if not probability or not copies:
        return [-1] * n
    g = torch.Generator().manual_seed(seed * 100019 + epoch * 7927 + rank + 2)
    use, pick = torch.rand(n, generator=g) < probability, torch.randint(copies, (n,), generator=g)
    return torch.where(use, pick, -1).tolist()


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


def _feature_cache_dir(root: Path, cache_key: str) -> Path | None:
    folder = root / "cache" / cache_key.replace("/", "_").replace(":", "_")
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


def _epoch_order(n: int, seed: int, epoch: int, rank: int, world: int, weights: torch.Tensor | None = None,
                 size: int | None = None) -> list[int]:
    """A seeded shuffle (or, with weights, `size` seeded draws with replacement); under DDP each rank gets an
    equal share (padded) so all ranks step together."""
    g = torch.Generator().manual_seed(seed * 100003 + epoch)
    if weights is None:
        order = torch.randperm(n, generator=g).tolist()
    else:
        order = torch.multinomial(weights, size or n, replacement=True, generator=g).tolist()
        n = len(order)
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

