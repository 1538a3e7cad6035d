"""Which Whisper window policy keeps lip quality: today's zero-padded 30 s windows against windows sized
to the audio, scored with the bundled model on the synthetic corpus.

    .venv/bin/python -m benchmarks.encoder_windows --data CORPUS [--model imitator/weights/default]

Short audio: the validation split (seen identities, own style), one window per sentence. Long audio: all
test sentences of each held-out identity joined into one file (about 2 minutes each, generic style), so
fitted policies cut them into overlapping windows. Per policy: Lip-sync, closure rate and mouth-open r,
the paired difference to the padded policy (mean +- standard error over sequences: within about 2 SE is
noise), and the encoder time for 5 s and 60 s of audio. Prints Markdown."""
from __future__ import annotations

import argparse
import os
from dataclasses import replace

import numpy as np
import torch

from benchmarks.common import machine, median_of
from imitator.checkpoint import load_model
from imitator.data.dataset import Dataset, Sequence
from imitator.encoders import WhisperTinyEncoder, WhisperWindows, resample_features
from imitator.metrics import closure_rate, lip_sync, pearson
from imitator.model import Imitator
from imitator.topology import get_topology, lip_distance

POLICIES = {
    "padded 30 s (before)": WhisperWindows.padded(),
    "fitted, no pad": WhisperWindows(max_s=30, round_s=0.5, pad_s=0.0),
    "fitted, +0.5 s": WhisperWindows(max_s=30, round_s=0.5, pad_s=0.5),
    "fitted, +1 s": WhisperWindows(max_s=30, round_s=1.0, pad_s=1.0),
    "fitted, +3 s": WhisperWindows(max_s=30, round_s=1.0, pad_s=3.0),
    "fitted 10 s, +1 s, overlap 2 s": WhisperWindows(max_s=10, round_s=1.0, pad_s=1.0, overlap_s=2.0),
    "fitted 5 s, +1 s, overlap 2 s": WhisperWindows(max_s=5, round_s=1.0, pad_s=1.0, overlap_s=2.0),
    "padded 10 s, overlap 2 s": WhisperWindows(max_s=10, round_s=10, overlap_s=2.0),
    "padded 15 s, overlap 3 s": WhisperWindows(max_s=15, round_s=15, overlap_s=3.0),
    "padded 20 s, overlap 4 s": WhisperWindows(max_s=20, round_s=20, overlap_s=4.0),
}
METRICS = [("lip_sync_mm", "Lip-sync (mm)", 1), ("closure_rate", "closure rate (%)", 100),
           ("mouth_open_corr", "mouth-open r", 1)]


def joined(sequences: list[Sequence]) -> tuple[Sequence, list[int]]:
    """One long sequence from several of one identity (same template), with its closure frames."""
    per_frame = 16000 // 30
    audio, verts, closures = [], [], []
    for seq in sequences:
        n = len(seq.vertices)
        closures += [len(np.concatenate(verts)) + c if verts else c for c in seq.labelled_closures]
        audio.append(np.resize(seq.audio, n * per_frame))  # exactly the frames' length: no drift
        verts.append(seq.vertices)
    v = np.concatenate(verts)
    return Sequence(sequences[0].info, np.concatenate(audio), v, sequences[0].template, np.zeros(len(v))), closures


def features(encoder, items) -> list[torch.Tensor]:
    return [resample_features(encoder.encode(seq.audio), len(seq.vertices))[None] for seq, _, _ in items]


def score(model, feats, items, topology) -> list[dict[str, float]]:
    """The three lip metrics of imitator.evaluate (the full evaluate_sequence adds DTW, minutes on 2-minute
    sequences)."""
    results = []
    for f, (seq, closures, style) in zip(feats, items):
        with torch.inference_mode():
            pred = model(f, style=style, template=torch.from_numpy(seq.template))[0].numpy()
        opening, true_opening = lip_distance(pred, topology), lip_distance(seq.vertices, topology)
        results.append({"lip_sync_mm": lip_sync(pred, seq.vertices, topology.lip_vertices),
                        "closure_rate": closure_rate(opening, closures, 1.0),
                        "mouth_open_corr": pearson(opening, true_opening)})
    return results


def with_attention_window(model: Imitator, window: int | None) -> Imitator:
    if window == model.cfg.attention_window:
        return model
    windowed = Imitator(replace(model.cfg, attention_window=window), model.template)
    windowed.load_state_dict(model.state_dict())
    return windowed.eval()


def summary(results, base) -> list[str]:
    cells = []
    for key, _, scale in METRICS:
        vals = np.array([r[key] for r in results], float) * scale
        diff = vals - np.array([r[key] for r in base], float) * scale
        ok = ~np.isnan(diff)
        se = diff[ok].std(ddof=1) / np.sqrt(ok.sum()) if ok.sum() > 1 else float("nan")
        cells.append(f"{np.nanmean(vals):.3f} ({diff[ok].mean():+.3f} +- {se:.3f})")
    return cells


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", default=None)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--only", default=None, help="policy names separated by ; (default: all)")
    ap.add_argument("--attention-windows", default="0",
                    help="decoder self-attention windows in frames to score each policy with, e.g. 0,300,150 "
                         "(0: all frames; ModelConfig.attention_window)")
    ap.add_argument("--no-timing", action="store_true")
    args = ap.parse_args()
    data = Dataset(args.data)
    model = load_model(args.model).eval()
    attention = [int(w) or None for w in args.attention_windows.split(",")]
    topology = get_topology(data.topology)
    val = [(s, s.labelled_closures, s.info.identity) for s in map(data.load, data.select("val"))]
    seen = set(model.cfg.style_names)
    unseen: dict[str, list[Sequence]] = {}
    for info in data.select("test"):
        if info.identity not in seen:
            unseen.setdefault(info.identity, []).append(data.load(info))
    long = [(*joined(seqs), None) for _, seqs in sorted(unseen.items())]
    minutes = np.mean([len(s.audio) for s, _, _ in long]) / 16000 / 60
    rng = np.random.default_rng(0)
    speech5, speech60 = (rng.standard_normal(16000 * s).astype(np.float32) * 0.1 for s in (5, 60))

    base = "padded 30 s (before)"
    names = [n for n in POLICIES if args.only is None or n in args.only.split(";") or n == base]
    base_val = base_long = None
    print(f"Machine: {machine()}.\n")
    print(f"Validation split: {len(val)} sentences (2.4-4.9 s), own style. Long: {len(long)} held-out identities, "
          f"test sentences joined ({minutes:.1f} min each), generic style. Cells: mean (paired difference to "
          f"padded 30 s with the decoder attending to all frames +- standard error). Load average at the start: "
          f"{os.getloadavg()[0]:.1f}.\n")
    head = " | ".join(f"{split}: {label}" for split in ("val", "long") for _, label, _ in METRICS)
    print(f"| policy | decoder attention | {head} | encode 5 s (s) | encode 60 s (s) |")
    print("|---|---|" + "---|" * (2 * len(METRICS) + 2))
    for name in names:
        enc = WhisperTinyEncoder(windows=POLICIES[name])
        t5 = t60 = float("nan")
        if not args.no_timing:
            enc.encode(speech5)
            t5 = median_of(lambda: enc.encode(speech5), args.repeats)
            t60 = median_of(lambda: enc.encode(speech60), max(1, args.repeats // 2))
        feats_val, feats_long = features(enc, val), features(enc, long)
        for window in ([None] if name == base else []) + [w for w in attention if name != base or w]:
            m = with_attention_window(model, window)
            res_val, res_long = score(m, feats_val, val, topology), score(m, feats_long, long, topology)
            base_val, base_long = base_val or res_val, base_long or res_long
            print(f"| {name} ({POLICIES[name].tag}) | {window or 'all'} | "
                  + " | ".join(summary(res_val, base_val) + summary(res_long, base_long))
                  + f" | {t5:.3f} | {t60:.3f} |", flush=True)


if __name__ == "__main__":
    main()
