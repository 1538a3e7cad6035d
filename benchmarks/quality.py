"""Quality of a trained model (issue 4's report): held-out sentences and identities of the synthetic corpus,
against the static template and a model trained without the lip loss; and real speech, where the mouth
should open while someone speaks and rest in pauses.

    .venv/bin/python -m benchmarks.quality --data CORPUS --model imitator/weights/default \
        [--compare "no lip loss" runs/nolip/best ...] [--out docs/quality.md]

Prints Markdown (and writes it to --out with a plot of real speech in docs/images/)."""
from __future__ import annotations

import argparse
import datetime
import os
import platform
from pathlib import Path

import numpy as np

from imitator.audio import SAMPLE_RATE, load_audio
from imitator.checkpoint import load_model
from imitator.data.dataset import Dataset
from imitator.evaluate import evaluate_model, markdown_table
from imitator.inference import predict_vertices
from imitator.metrics import pearson
from imitator.topology import lip_distance

SHARED_AUDIO = Path(__file__).resolve().parents[2] / "shared" / "data" / "audio"


def speech_activity(audio: np.ndarray, n_frames: int, fps: float) -> np.ndarray:
    """Frame log-energy (dB), a simple measure of how much someone is speaking at each motion frame."""
    hop = SAMPLE_RATE / fps
    energy = np.array([np.mean(np.square(audio[int(i * hop): int((i + 1) * hop)], dtype=np.float64)) + 1e-10
                       for i in range(n_frames)])
    return 10 * np.log10(energy)


def real_speech(model, files: list[Path], plot: Path | None) -> list[tuple[str, float, float, float]]:
    rows = []
    for path in files:
        audio = load_audio(path)
        verts = predict_vertices(model, audio)
        opening = lip_distance(verts)
        activity = speech_activity(audio, len(verts), model.cfg.fps)
        quiet = activity < activity.max() - 35  # frames 35 dB below the loudest: pauses
        rows.append((path.name, pearson(opening, activity), float(np.median(opening[~quiet])),
                     float(np.median(opening[quiet])) if quiet.any() else float("nan")))
        if plot is not None and path.name == "jfk.flac":
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            t = np.arange(len(verts)) / model.cfg.fps
            fig, ax = plt.subplots(figsize=(10, 3.5), dpi=120)
            ax.plot(t, opening, label="predicted lip distance (mm)", color="C3")
            ax2 = ax.twinx()
            ax2.plot(t, activity, color="0.6", lw=0.8, label="speech energy (dB)")
            ax.set_xlabel("time (s)")
            ax.set_ylabel("lip distance (mm)")
            ax2.set_ylabel("frame energy (dB)")
            ax.set_title(f"{path.name}: predicted mouth opening vs speech (r = {rows[-1][1]:.2f})")
            fig.legend(loc="upper right")
            fig.tight_layout()
            fig.savefig(plot)
    return rows


def ablation_table(data: Dataset, variants: list[tuple[str, str]]) -> list[str]:
    """One line per trained variant: Lip-sync and closure rate on seen and unseen identities (test split)."""
    lines = ["## Ablation: lip-contact loss", "",
             "Variants trained on the same corpus with the same seed and schedule (commands in docs/model.md), "
             "scored like the table above.", "",
             "| variant | seen: Lip-sync (mm) | seen: closure rate | unseen: Lip-sync (mm) | unseen: closure rate |",
             "|---|---|---|---|---|"]
    for label, ckpt in variants:
        groups = {g.name.split()[0]: g.metrics for g in evaluate_model(load_model(ckpt), data, "test")}
        cells = [f"{groups[k]['lip_sync_mm']:.3f} | {100 * groups[k]['closure_rate']:.1f}%" for k in ("seen", "unseen")]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines + [""]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", default=None, help="checkpoint (default: the bundled model)")
    ap.add_argument("--compare", nargs=2, action="append", default=[], metavar=("LABEL", "CKPT"),
                    help="another checkpoint to score the same way, e.g. the model trained with --lip-weight 0")
    ap.add_argument("--ablation", nargs=2, action="append", default=[], metavar=("LABEL", "CKPT"),
                    help="a variant for the compact ablation table (Lip-sync and closure rate per group)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    data = Dataset(args.data)
    model = load_model(args.model)
    rows = [("static template", g) for g in evaluate_model(None, data, "test")]
    rows += [("bundled", g) for g in evaluate_model(model, data, "test")]
    for label, ckpt in args.compare:
        rows += [(label, g) for g in evaluate_model(load_model(ckpt), data, "test")]
    rows.sort(key=lambda r: (r[1].name != "static template", r[1].name))
    lines = [f"Machine: {platform.machine()}, {os.cpu_count()} cores. Date: {datetime.date.today()}. Command: "
             f"`python -m benchmarks.quality --data {args.data} --model {args.model or 'imitator/weights/default'}"
             + "".join(f" --compare '{label}' {ckpt}" for label, ckpt in args.compare)
             + "".join(f" --ablation '{label}' {ckpt}" for label, ckpt in args.ablation) + "`", "",
             "## Synthetic corpus, test split", "",
             "Seen identities: held-out sentences, own training style. Unseen identities: never trained on, "
             "generic (mean) style. Every prediction is on the sequence's own neutral face. Closure rate: share "
             "of true closures where the predicted lip distance drops below 1 mm within +-2 frames.", "",
             markdown_table(rows), ""]
    if args.ablation:
        lines += ablation_table(data, args.ablation)
    files = sorted(p for p in SHARED_AUDIO.glob("*.*")) if SHARED_AUDIO.is_dir() else []
    if files:
        plot = Path("docs/images/real_speech_jfk.png") if args.out else None
        speech = real_speech(model, files, plot)
        lines += ["## Real speech (../shared/data/audio), generic style", "",
                  "r: Pearson correlation of the predicted lip distance with the frame energy of the speech. "
                  "Median lip distance while speaking and in pauses (frames 35 dB below the loudest).", "",
                  "| file | r | lip distance speaking (mm) | lip distance in pauses (mm) |", "|---|---|---|---|"]
        lines += [f"| {n} | {r:.2f} | {s:.2f} | {q:.2f} |" for n, r, s, q in speech]
        if plot is not None:
            lines += ["", f"![mouth opening on jfk.flac](images/{plot.name})"]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text("# Quality of the bundled model\n\n" + text)


if __name__ == "__main__":
    main()
