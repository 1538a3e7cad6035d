"""One real clip: the tracked mouth opening against what models predict from its audio (generic style,
on the person's own tracked face).

    PYTHONPATH=. python scripts/plot_mouth_opening.py --data DATASET --clip ID \
        --model "before (synthetic only)" CKPT_A --model "after (synthetic + real)" CKPT_B --out docs/images/x.png

The tracked curve is the raw tracker output (before contact-true correction, as benchmarks/real_people.py
scores it); labelled lip closures are marked."""
from __future__ import annotations

import argparse

import numpy as np

from imitator.checkpoint import load_model
from imitator.data.dataset import Dataset
from imitator.metrics import pearson
from imitator.inference import predict_vertices
from imitator.topology import lip_distance


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--clip", required=True, help="sequence id in the dataset")
    ap.add_argument("--model", nargs=2, action="append", required=True, metavar=("LABEL", "CKPT"))
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = Dataset(args.data)
    seq = data.load(args.clip)
    with np.load(data.root / "sequences" / f"{args.clip}.npz", allow_pickle=False) as z:
        tracked = z["raw_lip_distance"] if "raw_lip_distance" in z.files else lip_distance(seq.vertices)
    closures = np.flatnonzero(seq.lip_weights >= 1)
    t = np.arange(len(tracked)) / data.fps
    fig, ax = plt.subplots(figsize=(11, 3.8), dpi=120)
    ax.plot(t, tracked, color="k", lw=1.6, label="tracked (truth)")
    for i, (label, ckpt) in enumerate(args.model):
        pred = lip_distance(predict_vertices(load_model(ckpt), seq.audio, None, seq.template))[: len(tracked)]
        r = pearson(pred, tracked[: len(pred)])
        ax.plot(t[: len(pred)], pred, color=f"C{3 if i == 0 else 0}", lw=1.2,
                label=f"{label}: r = {r:.2f}, p90 {np.percentile(pred, 90):.1f} mm")
    ax.plot(t[closures], np.zeros(len(closures)), "^", color="tab:orange", label="labelled m/b/p closure")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("inner lip distance (mm)")
    ax.set_title(f"{args.clip} ({seq.info.identity}): mouth opening, tracked p90 {np.percentile(tracked, 90):.1f} mm"
                 f" | \"{seq.info.transcript[:80]}\"", fontsize=9)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
