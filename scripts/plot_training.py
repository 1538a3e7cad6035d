"""Plot a training run's curve: python scripts/plot_training.py RUN_DIR OUT.png [--label NAME RUN_DIR ...]"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", help="training output folder (holds history.json)")
    ap.add_argument("out", help="PNG to write")
    ap.add_argument("--label", default="this run", help="legend name of RUN")
    ap.add_argument("--compare", nargs=2, action="append", default=[], metavar=("LABEL", "RUN"),
                    help="another run to draw in the same axes")
    args = ap.parse_args()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    for label, run in [(args.label, args.run), *args.compare]:
        hist = json.loads((Path(run) / "history.json").read_text())
        epochs = [h["epoch"] for h in hist]
        line, = ax.plot(epochs, [h["train"]["mse"] for h in hist], label=f"{label}: train MSE")
        ax.plot(epochs, [h["val_mse"] for h in hist], "--", color=line.get_color(), label=f"{label}: validation MSE")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("vertex MSE (mm²)")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    ax.set_title("Training curve (reconstruction error; validation = held-out sentences)")
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
