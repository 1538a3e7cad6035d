"""Personalisation quality (issue 5, paper Tables 1-3 style):

1. Held-out synthetic identities (true style known): adapt on ~5 s of one identity's speech (sentences of
   the training set), evaluate on the 8 test sentences the model never heard, against the generic model.
   Methods: generic, stage 1 only, basis only, stage 1 + 2 (ours). Then data scaling: 5 s, 10 s, 20 s.
2. Real videos (../shared/data/videos): track, adapt on the first 60 % of the clip, predict the rest from
   its audio, compare with the tracked face: adapted vs generic.

    .venv/bin/python -m benchmarks.adaptation --data CORPUS [--model CKPT] [--out docs/adaptation.md]
"""
from __future__ import annotations

import argparse
import datetime
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import machine
from imitator.adapt import AdaptConfig, adapt
from imitator.audio import SAMPLE_RATE
from imitator.checkpoint import load_model
from imitator.data.dataset import Dataset
from imitator.errors import ImitatorError
from imitator.inference import features, predict_vertices
from imitator.metrics import evaluate_sequence, lip_sync, pearson, summarize
from imitator.topology import MEDIAPIPE_468, lip_distance

SHARED_VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"
# name -> (stages, whether the reference's labelled closures enter the loss)
METHODS = {"stage 1 only": ("style", True), "basis only": ("basis", True),
           "stage 1 + 2, MSE + velocity only (the paper's loss)": ("both", False), "stage 1 + 2 (ours)": ("both", True)}


def first_seconds(refs, seconds: float) -> list:
    """Whole clips, in order, until `seconds` of speech are reached."""
    chosen, total = [], 0.0
    for r in refs:
        if total >= seconds:
            break
        chosen.append(r)
        total += len(r.audio) / SAMPLE_RATE
    return chosen


_VISEMES: dict[tuple[int, str], torch.Tensor] = {}


def visemes_of(model, seq) -> torch.Tensor:
    """The viseme decoder is style-independent: decode each test sequence once per model for all methods."""
    key = (id(model), seq.info.id)
    if key not in _VISEMES:
        with torch.inference_mode():
            _VISEMES[key] = model.visemes(features(model, seq.audio))
    return _VISEMES[key]


def score_rows(model, seqs, style_vec, basis=None) -> list[dict]:
    """Metrics of each sequence predicted with a style vector (None: generic) and optional adapted basis."""
    rows = []
    for s in seqs:
        with torch.inference_mode():
            tmpl = torch.as_tensor(s.template)
            pred = model.motion(visemes_of(model, s), style_vec, tmpl, basis=basis)[0].numpy()
        T = min(len(pred), len(s.vertices))
        rows.append(evaluate_sequence(pred[:T], s.vertices[:T], s.template, MEDIAPIPE_468, s.labelled_closures))
    return rows


def score(model, seqs, style_vec, basis=None) -> dict:
    return summarize(score_rows(model, seqs, style_vec, basis))


def synthetic(model, data: Dataset, config: AdaptConfig) -> tuple[list[str], dict]:
    truth = json.loads((data.root / "synthetic.json").read_text())
    train_sentences, test_sentences = set(truth["sentences"]["train"]), set(truth["sentences"]["test"])
    heldout = [i for i, v in truth["identities"].items() if v["heldout"]]
    results: dict[str, list[dict]] = {}
    seconds_used: dict[str, list[float]] = {}
    timings = []
    for ident in heldout:
        infos = data.select(identities=[ident])
        refs = [data.load(i) for i in infos if truth["sequences"][i.id]["sentence"] in train_sentences]
        tests = [data.load(i) for i in infos if truth["sequences"][i.id]["sentence"] in test_sentences]
        results.setdefault("generic", []).append(score(model, tests, None))
        for budget in (5.0, 10.0, 20.0):
            chosen = first_seconds(refs, budget)
            total = sum(len(c.audio) for c in chosen) / SAMPLE_RATE
            methods = METHODS.items() if budget == 5.0 else [("stage 1 + 2 (ours)", ("both", True))]
            for name, (stages, lips) in methods:
                t = time.perf_counter()
                res = adapt(model, [c.audio for c in chosen], [c.vertices for c in chosen], chosen[0].template,
                            replace(config, stages=stages),
                            lip_weights=[c.lip_weights for c in chosen] if lips else None)
                timings.append(time.perf_counter() - t)
                key = f"{name}, {budget:.0f} s"
                results.setdefault(key, []).append(score(model, tests, res.style[None], res.basis))
                seconds_used.setdefault(key, []).append(total)
    table = {k: summarize(v) for k, v in results.items()}
    lines = ["| method | reference speech | Lip-sync (mm) | L2 face (mm) | L2 lip (mm) | closure rate | mouth-open r |",
             "|---|---|---|---|---|---|---|"]
    for k, m in table.items():
        used = f"{np.mean(seconds_used[k]):.1f} s" if k in seconds_used else "-"
        name = k.rsplit(", ", 1)[0] if k in seconds_used else k  # drop the ", 5 s" budget suffix
        lines.append(f"| {name} | {used} | {m['lip_sync_mm']:.3f} | {m['l2_face_mm']:.3f} | "
                     f"{m['l2_lip_mm']:.3f} | {100 * m['closure_rate']:.1f}% | {m['mouth_open_corr']:.2f} |")
    g, ours = table["generic"], table["stage 1 + 2 (ours), 5 s"]
    summary = {"heldout": heldout, "tests_per_identity": len(test_sentences), "table": table,
               "lip_sync_gain": 1 - ours["lip_sync_mm"] / g["lip_sync_mm"],
               "l2_gain": 1 - ours["l2_face_mm"] / g["l2_face_mm"], "adapt_seconds_median": float(np.median(timings))}
    return lines, summary


def real_videos(model, config: AdaptConfig) -> list[str]:
    from imitator.tracking import track_video

    lines = ["| video | frames (fit / test) | Lip-sync generic (mm) | Lip-sync adapted (mm) | "
             "mouth-open r generic | mouth-open r adapted |", "|---|---|---|---|---|---|"]
    for video in sorted(SHARED_VIDEOS.glob("*.mp4")):
        try:
            tr = track_video(video)
        except ImitatorError as e:
            lines.append(f"| {video.name} | skipped: {e} | | | | |")
            continue
        if not tr.has_audio or np.sqrt(np.mean(tr.audio ** 2)) < 1e-3:
            lines.append(f"| {video.name} | skipped: no usable audio | | | | |")
            continue
        T = len(tr.vertices)
        cut = int(0.6 * T)
        per_frame = SAMPLE_RATE / tr.fps
        fit_audio, rest_audio = tr.audio[: int(cut * per_frame)], tr.audio[int(cut * per_frame):]
        res = adapt(model, fit_audio, tr.vertices[:cut], tr.template, config)
        ref = tr.vertices[cut:]
        generic = predict_vertices(model, rest_audio, None, tr.template)
        adapted = predict_vertices(model, rest_audio, res.style[None], tr.template, res.basis)
        n = min(len(ref), len(generic))
        lips = MEDIAPIPE_468.lip_vertices
        ref_open = lip_distance(ref[:n])
        lines.append(f"| {video.name} | {cut} / {n} | {lip_sync(generic[:n], ref[:n], lips):.2f} | "
                     f"{lip_sync(adapted[:n], ref[:n], lips):.2f} | {pearson(lip_distance(generic[:n]), ref_open):.2f} | "
                     f"{pearson(lip_distance(adapted[:n]), ref_open):.2f} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="the synthetic corpus (make-corpus)")
    ap.add_argument("--model", default=None, help="checkpoint (default: the bundled model)")
    ap.add_argument("--out", default=None, help="Markdown file to write")
    ap.add_argument("--json", default=None)
    ap.add_argument("--lip-weight", type=float, default=AdaptConfig.lip_weight,
                    help="weight of the lip-contact term during adaptation")
    ap.add_argument("--skip-videos", action="store_true", help="only the synthetic identities")
    args = ap.parse_args()
    torch.set_grad_enabled(True)
    model = load_model(args.model)
    config = AdaptConfig(lip_weight=args.lip_weight)
    syn_lines, summary = synthetic(model, Dataset(args.data), config)
    text = [f"Machine: {machine()}. Date: {datetime.date.today()}. Command: `python -m benchmarks.adaptation "
            f"--data {args.data}" + (f" --model {args.model}" if args.model else "")
            + (f" --lip-weight {args.lip_weight:g}" if args.lip_weight != AdaptConfig.lip_weight else "") + "`", "",
            "## Held-out synthetic identities", "",
            f"{len(summary['heldout'])} identities the model never saw ({', '.join(summary['heldout'])}); "
            f"adapted on whole clips of training sentences up to the stated amount of speech; evaluated on the "
            f"{summary['tests_per_identity']} test sentences of each, which no model saw. Generic: the mean "
            "training style. All on the identity's own neutral face. Mean over identities.", "", *syn_lines, "",
            f"Ours vs generic (5 s of reference): Lip-sync {100 * summary['lip_sync_gain']:.0f}% lower, "
            f"L2 face {100 * summary['l2_gain']:.0f}% lower. Median adaptation time: "
            f"{summary['adapt_seconds_median']:.1f} s.", ""]
    if SHARED_VIDEOS.is_dir() and not args.skip_videos:
        text += ["## Real videos (adapt on the first 60 %, predict the remaining 40 % from its audio)", "",
                 "Reference: the tracked face (MediaPipe). Lip-sync: per-frame max lip-vertex error, mean over "
                 "frames. r: correlation of predicted and tracked lip distance.", "", *real_videos(model, config), ""]
    out = "\n".join(text)
    print(out)
    if args.out:
        Path(args.out).write_text("# Personalisation: style adaptation\n\n" + out)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
