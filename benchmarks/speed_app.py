"""What a user waits for, on this machine, with the bundled model:

- speech -> playable mp4: 5 s of speech, animate + render + encode (in process, model warm), and the
  same through the running app's API (time from submitting to the mp4 being ready), when --url is given;
- create-style on a 5 s, 30 fps video, tracking included.

    .venv/bin/python -m benchmarks.speed_app [--url http://127.0.0.1:7860/] [--repeats 3]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import best_of, machine
from imitator import animate, create_style, load_model, render_video
from imitator.audio import SAMPLE_RATE, load_audio

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "bob_bought_a_map.flac"


def five_seconds_of_speech() -> np.ndarray:
    src = SHARED / "audio" / "jfk.flac"
    audio = load_audio(src if src.is_file() else EXAMPLE)
    return np.resize(audio, 5 * SAMPLE_RATE).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default=None, help="a running app to time through its API")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    model = load_model()
    speech = five_seconds_of_speech()
    tmp = Path(tempfile.mkdtemp())
    rows = []

    def speech_to_mp4(side_by_side: bool = False) -> None:
        render_video(animate(speech, model=model, compare_generic=side_by_side), tmp / "a.mp4")

    speech_to_mp4()  # warm-up: encoder, GL context, codecs
    rows.append(("5 s speech -> mp4 (animate + render + encode)", best_of(speech_to_mp4, args.repeats)))
    rows.append(("same, side by side with generic", best_of(lambda: speech_to_mp4(True), args.repeats)))
    rows.append(("5 s speech -> vertices only", best_of(lambda: animate(speech, model=model), args.repeats)))

    video = SHARED / "videos" / "retalking_2.mp4"
    if video.is_file():
        def make_style() -> None:
            create_style(video, "bench", model=model, user_dir=tmp / "styles", overwrite=True)
        rows.append(("create-style, 5 s 30 fps video (tracking + stage 1 + stage 2)", best_of(make_style, 1)))

    if args.url:
        import soundfile as sf
        from gradio_client import Client, handle_file

        sf.write(tmp / "speech.wav", speech, SAMPLE_RATE)
        client = Client(args.url, verbose=False)

        def through_api() -> None:
            job = client.submit(handle_file(str(tmp / "speech.wav")), "generic (no style)", False, api_name="/animate")
            while not job.status().code.name == "FINISHED" and not job.outputs():
                time.sleep(0.02)

        through_api()
        rows.append(("app API: submit 5 s speech -> mp4 ready", best_of(through_api, args.repeats)))

    print(f"Machine: {machine()}\n")
    print("| what | seconds |\n|---|---|")
    for what, s in rows:
        print(f"| {what} | {s:.2f} |")


if __name__ == "__main__":
    main()
