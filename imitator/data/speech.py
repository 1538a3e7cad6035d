"""Synthetic speech for the corpus: espeak-ng in many voices, then augmentation (gain, EQ, reverberation,
noise) so that a model trained on it learns phonetic content rather than one synthetic voice."""
from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import soxr
from scipy import signal

from ..audio import SAMPLE_RATE
from ..errors import ToolMissingError


# espeak-ng's built-in English voices (the MBROLA ones need extra packages) and its voice variants:
# accents x male/female/other timbres.
ACCENTS = ("en-us", "en", "en-gb-scotland", "en-029", "en-gb-x-rp", "en-us-nyc", "en-gb-x-gbclan",
           "en-gb-x-gbcwmd")
VARIANTS = ("", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt3",
            "croak", "Annie", "belinda", "linda", "steph", "john", "edward", "grandpa", "whisper")


@dataclass(frozen=True)
class Voice:
    accent: str = "en-us"
    variant: str = ""
    rate: int = 165   # words per minute (espeak -s)
    pitch: int = 50   # 0..99 (espeak -p)

    @property
    def espeak_name(self) -> str:
        return f"{self.accent}+{self.variant}" if self.variant else self.accent


def random_voice(rng: np.random.Generator) -> Voice:
    # "whisper" has no voicing at all: rare, so the corpus does not teach that speech is unvoiced.
    variants = [v for v in VARIANTS if v != "whisper"] if rng.random() > 0.03 else ["whisper"]
    return Voice(accent=str(rng.choice(ACCENTS)), variant=str(rng.choice(variants)),
                 rate=int(rng.integers(125, 206)), pitch=int(rng.integers(15, 86)))


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def synthesize(text: str, voice: Voice) -> np.ndarray:
    """`text` spoken by espeak-ng as 16 kHz mono float32."""
    if not espeak_available():
        raise ToolMissingError("espeak-ng is not installed (Debian/Ubuntu: apt-get install espeak-ng)")
    cmd = ["espeak-ng", "-v", voice.espeak_name, "-s", str(voice.rate), "-p", str(voice.pitch), "--stdout", text]
    wav = subprocess.run(cmd, capture_output=True, check=True).stdout
    audio, rate = sf.read(io.BytesIO(wav), dtype="float32")
    return soxr.resample(audio, rate, SAMPLE_RATE, quality="HQ").astype(np.float32)


@dataclass(frozen=True)
class AugmentConfig:
    p_reverb: float = 0.4
    rt60_s: tuple[float, float] = (0.1, 0.5)
    p_eq: float = 0.6
    p_noise: float = 0.7
    snr_db: tuple[float, float] = (12.0, 40.0)
    level_dbfs: tuple[float, float] = (-32.0, -16.0)  # RMS level of the result


def augment(audio: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig = AugmentConfig()) -> np.ndarray:
    """A randomly degraded copy of `audio`: room reverberation, a tilted/band-limited frequency response,
    background noise and a new level. Timing is unchanged (the reverb tail is cut at the input length), so
    phone alignments made on the clean audio stay valid."""
    x = audio.astype(np.float64)
    n = len(x)
    if rng.random() < cfg.p_reverb:
        x = _reverb(x, rng, rng.uniform(*cfg.rt60_s))
    if rng.random() < cfg.p_eq:
        x = _eq(x, rng)
    if rng.random() < cfg.p_noise:
        x = x + _noise(n, rng) * _rms(x) * 10 ** (-rng.uniform(*cfg.snr_db) / 20)
    x = x * 10 ** (rng.uniform(*cfg.level_dbfs) / 20) / max(_rms(x), 1e-9)
    peak = np.abs(x).max(initial=0.0)
    if peak > 0.99:  # a level that would clip is lowered instead
        x *= 0.99 / peak
    return x[:n].astype(np.float32)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x * x))) if len(x) else 0.0


def _reverb(x: np.ndarray, rng: np.random.Generator, rt60: float) -> np.ndarray:
    # Exponentially decaying noise is the classic late-reverberation model; the direct path is kept.
    t = np.arange(int(rt60 * SAMPLE_RATE)) / SAMPLE_RATE
    ir = rng.normal(0, 1, len(t)) * np.exp(-6.9 * t / rt60)
    ir[0] = 0.0
    ir *= rng.uniform(0.2, 0.6) / np.sqrt(np.sum(ir * ir))
    ir[0] = 1.0
    return signal.fftconvolve(x, ir)[: len(x)]


def _eq(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # A band limit (telephone to full band) and a spectral tilt (muffled or bright microphone).
    low = rng.uniform(50, 300)
    high = rng.uniform(3400, 7900)
    sos = signal.butter(2, [low, high], btype="bandpass", fs=SAMPLE_RATE, output="sos")
    y = signal.sosfilt(sos, x)
    tilt = rng.uniform(-0.6, 0.6)  # first-order pre/de-emphasis
    return signal.lfilter([1.0, -tilt], [1.0], y)


def _noise(n: int, rng: np.random.Generator) -> np.ndarray:
    white = rng.normal(0, 1, n)
    colour = rng.choice(["white", "pink", "brown"])
    if colour == "white":
        y = white
    else:  # 1/f^a noise by shaping the spectrum
        spec = np.fft.rfft(white)
        f = np.maximum(np.fft.rfftfreq(n, 1 / SAMPLE_RATE), 20.0)
        spec /= f ** (0.5 if colour == "pink" else 1.0)
        y = np.fft.irfft(spec, n)
    return y / max(_rms(y), 1e-12)
