"""Speed of the model core on this machine: encoder and decoder time for 10 s, 60 s and 300 s of audio.

    .venv/bin/python -m benchmarks.speed_model [--encoder whisper-tiny.en] [--repeats 3]

Uses the bundled model when there is one, else a freshly initialised model of the default size (the
decoder's speed does not depend on the weights). Prints a Markdown table."""
from __future__ import annotations

import argparse
import os

import numpy as np
import torch

from benchmarks.common import machine, median_of
from imitator.audio import SAMPLE_RATE
from imitator.encoders import build_encoder
from imitator.inference import features


def speech(seconds: float) -> np.ndarray:
    """Real speech if the shared media are there (repeated to length), else a synthetic voiced signal."""
    path = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "audio", "jfk.flac")
    if os.path.isfile(path):
        from imitator.audio import load_audio

        base = load_audio(path)
    else:
        t = np.arange(SAMPLE_RATE * 5) / SAMPLE_RATE
        base = (0.3 * np.sin(2 * np.pi * 140 * t) * (np.sin(2 * np.pi * 4 * t) > 0)).astype(np.float32)
    return np.tile(base, int(np.ceil(seconds * SAMPLE_RATE / len(base))))[: int(seconds * SAMPLE_RATE)]


def model_for(encoder_name: str):
    from imitator.checkpoint import DEFAULT_MODEL_DIR, load_model
    from imitator.model import Imitator, ModelConfig

    if (DEFAULT_MODEL_DIR / "model.safetensors").is_file():
        m = load_model()
        if m.cfg.encoder == encoder_name:
            return m, "bundled"
    enc = build_encoder(encoder_name)
    return Imitator(ModelConfig(encoder=encoder_name, audio_dim=enc.dim)).eval(), "random init, default size"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--encoder", default="whisper-tiny.en")
    ap.add_argument("--lengths", default="10,60,300")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    model, which = model_for(args.encoder)
    features(model, speech(5))  # warm-up (first call allocates)
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}; model: {which}, d={model.cfg.d_model}, "
          f"V={model.cfg.n_vertices}, decoder attention window {model.cfg.attention_window}; medians of "
          f"{args.repeats}\n")
    print("| audio | frames | encoder (s) | encoder s per audio min | decoder (s) | decoder frames/s | total (s) |")
    print("|---|---|---|---|---|---|---|")
    for seconds in (float(s) for s in args.lengths.split(",")):
        audio = speech(seconds)
        enc_t = median_of(lambda: features(model, audio), args.repeats)
        feats = features(model, audio)
        with torch.inference_mode():
            dec_t = median_of(lambda: model(feats, style=None), args.repeats)
        T = feats.shape[1]
        print(f"| {seconds:.0f} s | {T} | {enc_t:.3f} | {enc_t / seconds * 60:.3f} | {dec_t:.3f} | "
              f"{T / dec_t:,.0f} | {enc_t + dec_t:.3f} |")


if __name__ == "__main__":
    main()
