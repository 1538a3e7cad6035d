"""The Imitator network: audio features -> viseme decoder (style-independent) -> motion decoder (style).

    a_1..T (audio features at 30 fps) --Linear--> memory
    v_t = VisemeDecoder(v_0..t-1, memory)      v_0 = start token (zeros), autoregressive, causal
    y_t = template + Basis(MLP(v_t + S @ style))

Sizes default to the official code (d=64, 4 heads, FF 128, 1 layer). Unlike the official code there is no
length limit: positional encodings are computed for any T, and decoding keeps a key/value cache so frame t
costs O(t) instead of re-running the decoder on the whole prefix.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .errors import StyleNotFoundError


@dataclass(frozen=True)
class ModelConfig:
    n_vertices: int = 468
    topology: str = "mediapipe468"
    style_names: tuple[str, ...] = ("generic",)
    # The training styles whose mean is the generic style (style=None: the app's default, unseen people).
    # Empty: all of them. A model trained on synthetic and real people names the real ones here, so the
    # default motion is a real person's, not the rig's.
    generic_styles: tuple[str, ...] = ()
    # True: every neutral face given to the model has its inner-lip gap closed first (contact.closed_at_rest);
    # on tracked faces that gap is the tracker's bias (its inner lips rarely meet), not the person's mouth.
    closed_rest_lips: bool = False
    encoder: str = "whisper-tiny.en"
    audio_dim: int = 384
    fps: float = 30.0
    d_model: int = 64
    n_heads: int = 4
    ff_dim: int = 128
    n_layers: int = 1
    motion_layers: int = 4
    # FaceFormer-style baseline switches (defaults = Imitator). "periodic": positions repeat every `period`
    # frames; `alibi`: FaceFormer's biased causal attention (older frames penalised per period, per head);
    # style "start_token": the style embedding is the start token and is added to every input token, and
    # the motion decoder adds no style (so the viseme decoder is no longer style-independent).
    positional: str = "sinusoidal"
    period: int = 30
    alibi: bool = False
    style_conditioning: str = "motion"
    # Self-attention sees at most this many past frames (None: all): the decoder's cost per frame stays flat
    # on long audio. The models here train on sentences of 2-5 s, so 10 s is more than they learned to use;
    # on 2-minute audio it changed the bundled model's lip metrics within noise or for the better
    # (benchmarks/encoder_windows.py --attention-windows 0,600,300,150, in docs/benchmarks.md).
    attention_window: int | None = 300
    # Frames of audio each side that a motion frame hears (0: only its own, the paper's alignment mask).
    # The paper fine-tunes wav2vec 2.0, whose transformer gives each frame trainable context; our Whisper
    # encoder is frozen, so a small non-causal convolution over the projected features gives that context
    # back. Lips move before the sound they make (a closure precedes the /b/ burst): on the real people's
    # validation clips a linear map from Whisper features reached mouth-open r 0.27 from the frame alone and
    # 0.37-0.38 with +-6 frames (docs/model.md). Initialised to the identity, so a checkpoint trained
    # without it starts out unchanged.
    audio_context: int = 0
    # True: the paper's autoregression, the viseme decoder's input at frame t is its own output at t-1.
    # False: a zero token at every frame, so a frame's visemes come from its audio (and position) alone.
    feedback: bool = True

    @property
    def n_styles(self) -> int:
        return len(self.style_names)

    @classmethod
    def faceformer(cls, **kw) -> "ModelConfig":
        """The FaceFormer-style baseline, as a configuration of this code."""
        return cls(**{"positional": "periodic", "alibi": True, "style_conditioning": "start_token", **kw})

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f for f in cls.__dataclass_fields__}
        tuples = ("style_names", "generic_styles")
        return cls(**{k: tuple(v) if k in tuples else v for k, v in d.items() if k in known})

    @property
    def generic_indices(self) -> list[int]:
        """Indices of the styles averaged into the generic style."""
        unknown = set(self.generic_styles) - set(self.style_names)
        if unknown:
            raise ValueError(f"generic styles {sorted(unknown)} are not training styles of this model")
        return [self.style_names.index(n) for n in self.generic_styles] or list(range(self.n_styles))


def sinusoidal_encoding(n_positions: int, dim: int, device=None, offset: int = 0) -> torch.Tensor:
    """Transformer sinusoids for positions offset .. offset+n-1, shape (n, dim). Any length."""
    pos = torch.arange(offset, offset + n_positions, dtype=torch.float32, device=device)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / dim))
    pe = torch.zeros(n_positions, dim, device=device)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return pe


def positional_encoding(cfg: "ModelConfig", n_positions: int, device=None) -> torch.Tensor:
    if cfg.positional == "periodic":  # FaceFormer's PPE: one period of sinusoids, repeated
        return sinusoidal_encoding(cfg.period, cfg.d_model, device).repeat(-(-n_positions // cfg.period), 1)[:n_positions]
    if cfg.positional != "sinusoidal":
        raise ValueError(f"unknown positional encoding {cfg.positional!r}")
    return sinusoidal_encoding(n_positions, cfg.d_model, device)


def alibi_bias(query_positions: torch.Tensor, n_keys: int, n_heads: int, period: int) -> torch.Tensor:
    """FaceFormer's temporal bias: -slope_h * floor(distance / period) for past keys, -inf for future ones.
    (heads, queries, keys)."""
    slopes = torch.tensor([2 ** (-8 * (h + 1) / n_heads) for h in range(n_heads)], device=query_positions.device)
    dist = query_positions[:, None] - torch.arange(n_keys, device=query_positions.device)[None, :]
    bias = -slopes[:, None, None] * torch.div(dist, period, rounding_mode="floor").clamp(min=0)[None].float()
    return bias.masked_fill(dist[None] < 0, float("-inf"))


class KVCache:
    """Keys and values of the frames decoded so far, (B, heads, t, head_dim) for one attention layer.

    Without gradients it writes into buffers sized for the whole sequence (no O(T^2) copying for long
    audio); with gradients it concatenates, because autograd forbids overwriting tensors it saved."""

    def __init__(self, capacity: int):
        self.capacity, self.length = capacity, 0
        self.k = self.v = None

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = k.shape[2]
        if torch.is_grad_enabled() and (k.requires_grad or v.requires_grad):
            self.k = k if self.k is None else torch.cat([self.k, k], dim=2)
            self.v = v if self.v is None else torch.cat([self.v, v], dim=2)
            self.length += n
            return self.k, self.v
        if self.k is None:
            shape = (*k.shape[:2], self.capacity, k.shape[3])
            self.k, self.v = k.new_empty(shape), v.new_empty(shape)
        self.k[:, :, self.length:self.length + n] = k
        self.v[:, :, self.length:self.length + n] = v
        self.length += n
        return self.k[:, :, :self.length], self.v[:, :, :self.length]


class CausalSelfAttention(nn.Module):
    def __init__(self, d: int, n_heads: int, alibi_period: int | None = None, window: int | None = None):
        super().__init__()
        self.n_heads, self.alibi_period, self.window = n_heads, alibi_period, window
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """x: (B, n, d). With a cache, x holds the newest frames and attends to all cached ones before them."""
        B, n, d = x.shape
        q, k, v = self.qkv(x).view(B, n, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        if cache is not None:
            k, v = cache.append(k, v)
        if self.window and k.shape[2] > self.window + n - 1:  # keys no query of this call can see
            k, v = k[:, :, -(self.window + n - 1):], v[:, :, -(self.window + n - 1):]
        n_keys = k.shape[2]
        if self.alibi_period:
            positions = torch.arange(n_keys - n, n_keys, device=x.device)
            mask = alibi_bias(positions, n_keys, self.n_heads, self.alibi_period).to(q.dtype)
        else:  # causal mask aligned to the end: query i of n sees keys up to (keys - n + i)
            mask = None if n == 1 else torch.ones(n, n_keys, dtype=torch.bool, device=x.device).tril(n_keys - n)
        if self.window and n > 1:  # ... and none more than `window` - 1 frames before it
            old = torch.ones(n, n_keys, dtype=torch.bool, device=x.device).tril(n_keys - n - self.window)
            mask = mask & ~old if mask.dtype == torch.bool else mask.masked_fill(old, float("-inf"))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out(y.transpose(1, 2).reshape(B, n, d))


class AlignedCrossAttention(nn.Module):
    """Cross-modal attention with the paper's alignment mask: motion frame i attends only to audio frame i.

    With one visible key the softmax weight is exactly 1, so the output is out(value(audio_i)) and the
    query/key projections drop out. Computing it that way is exact (tests compare it with a masked
    nn.MultiheadAttention) and lets all frames' cross-attention be computed in one batched call."""

    def __init__(self, d: int):
        super().__init__()
        self.value = nn.Linear(d, d)
        self.out = nn.Linear(d, d)

    def forward(self, memory: torch.Tensor) -> torch.Tensor:
        return self.out(self.value(memory))


class DecoderLayer(nn.Module):
    """Post-norm Transformer decoder layer (PyTorch's default, as in FaceFormer/Imitator)."""

    def __init__(self, d: int, n_heads: int, ff_dim: int, alibi_period: int | None = None,
                 window: int | None = None):
        super().__init__()
        self.self_attn = CausalSelfAttention(d, n_heads, alibi_period, window)
        self.cross_attn = AlignedCrossAttention(d)
        self.ff = nn.Sequential(nn.Linear(d, ff_dim), nn.ReLU(), nn.Linear(ff_dim, d))
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)

    def forward(self, x: torch.Tensor, cross: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """cross: this layer's cross-attention output for the same frames as x (see AlignedCrossAttention)."""
        x = self.norm1(x + self.self_attn(x, cache))
        x = self.norm2(x + cross)
        return self.norm3(x + self.ff(x))


class VisemeDecoder(nn.Module):
    """Autoregressive: the input at frame t is the decoder's own output at t-1 (a zero start token at t=0)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg, self.d = cfg, cfg.d_model
        self.audio_proj = nn.Linear(cfg.audio_dim, cfg.d_model)
        c = cfg.audio_context
        self.context = nn.Conv1d(cfg.d_model, cfg.d_model, 2 * c + 1, padding=c, padding_mode="replicate") if c else None
        if self.context is not None:
            nn.init.zeros_(self.context.weight)
            nn.init.zeros_(self.context.bias)
            with torch.no_grad():
                self.context.weight[:, :, c] = torch.eye(cfg.d_model)
        alibi = cfg.period if cfg.alibi else None
        self.layers = nn.ModuleList(DecoderLayer(cfg.d_model, cfg.n_heads, cfg.ff_dim, alibi, cfg.attention_window)
                                    for _ in range(cfg.n_layers))

    def forward(self, audio_features: torch.Tensor, use_cache: bool = True,
                style_vec: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, audio_dim) audio features at the motion frame rate -> (B, T, d) viseme features.

        use_cache=False re-runs the decoder over the whole prefix at every frame, as the official code
        does: O(T^2) per sequence, kept as the reference that the cached path must equal.
        style_vec (B, d): only for style_conditioning="start_token" (the FaceFormer-style baseline)."""
        memory = self.audio_proj(audio_features)
        if self.context is not None:
            memory = self.context(memory.transpose(1, 2)).transpose(1, 2)
        B, T, _ = memory.shape
        cross = [layer.cross_attn(memory) for layer in self.layers]
        pe = positional_encoding(self.cfg, T, device=memory.device)
        caches = [KVCache(T) for _ in self.layers]
        style_in = style_vec[:, None, :] if style_vec is not None else None
        token = style_in if style_in is not None else memory.new_zeros(B, 1, self.d)
        inputs, outputs = [], []
        for t in range(T):
            if use_cache:
                x = token + pe[t]
                for layer, c, cache in zip(self.layers, cross, caches):
                    x = layer(x, c[:, t:t + 1], cache)
            else:
                inputs.append(token)
                x = torch.cat(inputs, dim=1) + pe[: t + 1]
                for layer, c in zip(self.layers, cross):
                    x = layer(x, c[:, : t + 1])
                x = x[:, -1:]
            outputs.append(x)
            if not self.cfg.feedback:
                continue  # token stays the start token
            token = x if style_in is None else x + style_in
        return torch.cat(outputs, dim=1)


class MotionDecoder(nn.Module):
    """Style-adaptive: viseme features + style embedding -> MLP -> linear deformation basis -> offsets."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.d_model
        self.n_vertices = cfg.n_vertices
        self.style = nn.Linear(cfg.n_styles, d, bias=False)  # one-hot identity -> style vector
        self.generic = cfg.generic_indices
        layers = []
        for _ in range(cfg.motion_layers):
            layers += [nn.Linear(d, d), nn.LeakyReLU(0.01)]
        self.mlp = nn.Sequential(*layers)
        self.basis = nn.Linear(d, 3 * cfg.n_vertices)
        # Zero init: training starts from the template, and adaptation from a basis the prior trained.
        nn.init.zeros_(self.basis.weight)
        nn.init.zeros_(self.basis.bias)

    def style_vector(self, style: int | torch.Tensor) -> torch.Tensor:
        """A training style's index (or a (B,) tensor of them) -> its embedding, (B, d)."""
        idx = torch.as_tensor(style, device=self.style.weight.device).reshape(-1)
        return self.style.weight.T[idx]

    def mean_style(self) -> torch.Tensor:
        """The generic style, (1, d): the mean of the styles named by cfg.generic_styles (default: all)."""
        return self.style.weight[:, self.generic].mean(dim=1, keepdim=True).T


class Imitator(nn.Module):
    """The whole network. Decoding is two steps, so that a style's maths can be swapped in between:

        visemes = model.visemes(features, style)             # the autoregressive part
        meshes = model.motion(visemes, style, template, basis)

    Where the style enters is the model's business: the motion decoder for Imitator, the viseme decoder's
    start token for the FaceFormer-style baseline (style_conditioning="start_token")."""

    def __init__(self, cfg: ModelConfig, template: torch.Tensor | None = None, *, model_id: str = "",
                 meta: dict | None = None, audio_encoder: nn.Module | None = None):
        super().__init__()
        self.cfg = cfg
        self.model_id = model_id  # first 16 hex digits of the weights' SHA-256 ("" until saved and loaded)
        self.meta = meta or {}  # the checkpoint's config.json (epoch, val_mse ...); {} for a fresh model
        self.viseme_decoder = VisemeDecoder(cfg)
        self.motion_decoder = MotionDecoder(cfg)
        # A trainable (hf:) encoder fine-tuned with the decoder; None: the shared frozen cfg.encoder.
        self.audio_encoder = audio_encoder
        # The mean face of the training identities: the face used when a caller gives no template.
        tmpl = template if template is not None else torch.zeros(cfg.n_vertices, 3)
        self.register_buffer("template", tmpl.float().reshape(cfg.n_vertices, 3).clone())
        self.attach_closures(None)

    def attach_closures(self, detector: nn.Module | None) -> None:
        """Give the model a closure detector (imitator.closures), or take it away (None). It lives beside the
        weights, not in them: a plain attribute, not a submodule, so state_dict() and the weights' hash
        (which saved styles are tied to) stay the decoder's alone."""
        self.__dict__["closure_detector"] = detector

    @property
    def style_in_visemes(self) -> bool:
        """True when the viseme features depend on the style (FaceFormer's style start token)."""
        return self.cfg.style_conditioning == "start_token"

    def resolve_style(self, style: int | str | torch.Tensor | None, batch: int) -> torch.Tensor:
        """Style as an index, a training style name, a (d,) or (B, d) vector, or None (mean style) -> (B, d)."""
        md = self.motion_decoder
        if style is None:
            vec = md.mean_style()
        elif isinstance(style, str):
            if style not in self.cfg.style_names:
                raise StyleNotFoundError(f"unknown training style {style!r}; this model has "
                                         f"{list(self.cfg.style_names)}")
            vec = md.style_vector(self.cfg.style_names.index(style))
        elif isinstance(style, torch.Tensor) and style.is_floating_point():
            vec = style.reshape(-1, self.cfg.d_model)
        else:
            vec = md.style_vector(style)
        return vec.expand(batch, -1) if vec.shape[0] == 1 else vec

    def forward(self, audio_features: torch.Tensor, style=None, template: torch.Tensor | None = None,
                use_cache: bool = True, basis: nn.Linear | None = None) -> torch.Tensor:
        """(B, T, audio_dim) -> vertices (B, T, V, 3) in the template's units (mm)."""
        return self.motion(self.visemes(audio_features, style, use_cache), style, template, basis)

    def visemes(self, audio_features: torch.Tensor, style=None, use_cache: bool = True) -> torch.Tensor:
        """(B, T, audio_dim) -> (B, T, d) viseme features. `style` is used only where it enters here."""
        if self.style_in_visemes:
            style_vec = self.resolve_style(style, audio_features.shape[0])
            return self.viseme_decoder(audio_features, use_cache=use_cache, style_vec=style_vec)
        return self.viseme_decoder(audio_features, use_cache=use_cache)

    def motion(self, visemes: torch.Tensor, style=None, template: torch.Tensor | None = None,
               basis: nn.Linear | None = None) -> torch.Tensor:
        """Viseme features -> meshes (B, T, V, 3). basis: an adapted deformation basis (None: the model's)."""
        if self.style_in_visemes:  # the style went in as the start token; the motion decoder adds none
            style = visemes.new_zeros(visemes.shape[0], self.cfg.d_model)
        return self.decode_motion(visemes, style, template, basis)

    def decode_motion(self, visemes: torch.Tensor, style=None, template: torch.Tensor | None = None,
                      basis: nn.Linear | None = None) -> torch.Tensor:
        """The motion decoder itself: visemes + style vector -> MLP -> basis -> offsets + template.
        Adaptation optimises `style` and `basis` through this (Imitator's style-independent visemes)."""
        style_vec = self.resolve_style(style, visemes.shape[0])
        md = self.motion_decoder
        h = md.mlp(visemes + style_vec[:, None, :])
        offsets = (basis or md.basis)(h).view(*visemes.shape[:2], self.cfg.n_vertices, 3)
        tmpl = self.template if template is None else template
        return offsets + tmpl.reshape(-1, 1, self.cfg.n_vertices, 3)
