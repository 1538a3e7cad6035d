"""Bundled style presets: the corpus's held-out synthetic identities, adapted to the bundled model.

    .venv/bin/python scripts/make_presets.py --data CORPUS [--model CKPT] [--out imitator/presets]

Each preset is adapted on about 10 s of its identity's speech (whole clips of training sentences), like a
user's style from a short video, and described from the identity's known speaking-style parameters."""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from imitator.adapt import AdaptConfig, adapt
from imitator.checkpoint import load_model
from imitator.data.dataset import Dataset
from imitator.audio import SAMPLE_RATE
from imitator.style_store import save_style
from imitator.styles import Style

NAMES = ["Ava", "Ben", "Cleo", "Dev", "Eli", "Fay"]


def describe(style: dict) -> str:
    """Words for the rig's style parameters (1.0 = average)."""
    words = []
    jaw, lips, protrusion, smile, asym = (style.get(k, 1.0) for k in ("jaw", "lips", "protrusion", "smile", "asymmetry"))
    words.append("wide-open jaw" if jaw > 1.2 else "small jaw motion" if jaw < 0.8 else "moderate jaw")
    words.append("big lip movements" if lips > 1.2 else "subtle lips" if lips < 0.8 else "average lips")
    if protrusion > 1.2:
        words.append("strong lip rounding")
    if smile > 0.5:
        words.append("smiling corners")
    elif smile < -0.2:
        words.append("lowered corners")
    if abs(asym) > 0.15:
        words.append("lopsided mouth")
    return ", ".join(words)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", default=None)
    ap.add_argument("--out", default="imitator/presets")
    ap.add_argument("--seconds", type=float, default=10.0, help="reference speech per preset")
    args = ap.parse_args()
    model = load_model(args.model)
    data = Dataset(args.data)
    truth = json.loads((Path(args.data) / "synthetic.json").read_text())
    train_sentences = set(truth["sentences"]["train"])
    heldout = [i for i, v in truth["identities"].items() if v["heldout"]]
    for name, ident in zip(NAMES, heldout):
        clips, total = [], 0.0
        for info in data.select(identities=[ident]):
            if truth["sequences"][info.id]["sentence"] in train_sentences and total < args.seconds:
                clips.append(data.load(info))
                total += len(clips[-1].audio) / SAMPLE_RATE
        result = adapt(model, [c.audio for c in clips], [c.vertices for c in clips], clips[0].template, AdaptConfig(),
                       lip_weights=[c.lip_weights for c in clips])
        description = f"Synthetic speaker {ident} (never seen in training): {describe(truth['identities'][ident]['style'])}"
        style = Style.from_adaptation(model, result, name, description,
                                      source=f"synthetic identity {ident}, {total:.1f} s of speech")
        path = write_preset(style, Path(args.out))
        print(f"{path}: fit {result.fit['fit_l2_mm']:.2f} mm; {description}")


def write_preset(style: Style, out: Path) -> Path:
    """NAME.json + NAME.safetensors: the flat layout that ships as package data (the versioned layout of
    users' styles, with its lock files, is for styles that change while the app runs)."""
    with tempfile.TemporaryDirectory() as tmp:
        version = Path(save_style(style, tmp, preset_dir=None)).parent
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(version / "style.json", out / f"{style.name}.json")
        shutil.copyfile(version / "style.safetensors", out / f"{style.name}.safetensors")
    return out / f"{style.name}.json"


if __name__ == "__main__":
    main()
