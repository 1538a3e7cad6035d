"""One timing pass of what a person waits for, against whichever `imitator` is on PYTHONPATH (this tree or an
older commit's), so speed_today.py can compare both on the same machine in one run. Prints JSON:
{what: [seconds per repeat]}. Uses only the public API that both have (animate, render_video, create_style).

    PYTHONPATH=TREE python THIS_TREE/benchmarks/speed_probe.py [--repeats 3] [--skip-style]
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from common import times_of  # this file's folder comes first on sys.path: works against any tree's imitator

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "bob_bought_a_map.flac"
STYLE_VIDEO = SHARED / "videos" / "retalking_2.mp4"  # 5 s of a talking head (25 fps source, tracked at 30)


def speech(seconds: float) -> np.ndarray:
    """Real speech (jfk.flac, repeated to length) when the shared media are there, else the bundled example."""
    from imitator.audio import load_audio

    src = SHARED / "audio" / "jfk.flac"
    audio = load_audio(src if src.is_file() else EXAMPLE)
    return np.resize(audio, int(seconds * 16000)).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-style", action="store_true")
    args = ap.parse_args()
    from imitator.pipeline import animate, create_style, default_model, render_video

    model = default_model()
    tmp = Path(tempfile.mkdtemp())
    five, minute = speech(5), speech(60)
    render_video(animate(five, model=model), tmp / "warm.mp4")  # encoder, GL context, codecs
    out = {
        "5 s speech -> vertices": times_of(lambda: animate(five, model=model), args.repeats),
        "60 s speech -> vertices": times_of(lambda: animate(minute, model=model), args.repeats),
        "5 s speech -> mp4 (in process)": times_of(lambda: render_video(animate(five, model=model), tmp / "a.mp4"),
                                                args.repeats),
    }
    if STYLE_VIDEO.is_file() and not args.skip_style:
        out["create-style, 5 s video"] = times_of(
            lambda: create_style(STYLE_VIDEO, "bench", model=model, user_dir=tmp / "styles", overwrite=True),
            max(1, args.repeats // 2))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
