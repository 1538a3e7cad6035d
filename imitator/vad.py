"""Where someone speaks: Silero VAD (the ONNX model inside the faster-whisper wheel, so it runs offline),
as a per-motion-frame mask. Energy thresholds fail on the recordings that matter here: on an old radio
recording the hiss in the pauses is only 20-25 dB below the speech."""
from __future__ import annotations

import numpy as np

from .audio import SAMPLE_RATE


def speech_frames(audio: np.ndarray, n_frames: int, fps: float, pad_s: float = 0.06,
                  min_silence_s: float = 0.25) -> np.ndarray:
    """(n_frames,) bool: True where the 16 kHz `audio` holds speech (each stretch padded by `pad_s`; silences
    shorter than `min_silence_s` count as speech)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(min_silence_duration_ms=int(1000 * min_silence_s), speech_pad_ms=int(1000 * pad_s))
    mask = np.zeros(n_frames, dtype=bool)
    for s in get_speech_timestamps(np.asarray(audio, dtype=np.float32), options, sampling_rate=SAMPLE_RATE):
        mask[int(s["start"] / SAMPLE_RATE * fps): int(np.ceil(s["end"] / SAMPLE_RATE * fps))] = True
    return mask


def pauses(speech: np.ndarray, min_frames: int) -> list[tuple[int, int]]:
    """[start, end) of every run of non-speech frames at least `min_frames` long."""
    quiet = np.r_[False, ~np.asarray(speech, dtype=bool), False].astype(np.int8)
    edges = np.flatnonzero(np.diff(quiet))
    return [(int(a), int(b)) for a, b in zip(edges[0::2], edges[1::2]) if b - a >= min_frames]
