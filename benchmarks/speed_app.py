"""What a user waits for, on this machine, with the bundled model:

- speech -> playable mp4: 5 s of speech, animate + render + encode (in process, model warm), stage by stage
  as the app's request runs them, and through the running app's API (submit -> the mp4 is shown) when
  --url is given;
- create-style on a 5 s video, tracking included.

    .venv/bin/python -m benchmarks.speed_app [--url http://127.0.0.1:7860/] [--repeats 3]

Cells are medians of the repeats (a shared machine: the median is what a person typically waits).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import machine, median_of
from imitator import animate, create_style, load_model, render_video
from imitator.audio import SAMPLE_RATE, load_audio

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "bob_bought_a_map.flac"


def five_seconds_of_speech() -> np.ndarray:
    src = SHARED / "audio" / "jfk.flac"
    audio = load_audio(src if src.is_file() else EXAMPLE)
    return np.resize(audio, 5 * SAMPLE_RATE).astype(np.float32)


def api_times(url: str, repeats: int) -> tuple[list[float], list[float]]:
    """Seconds from submitting 5 s of speech to the app's /animate until its first output (the mp4) arrives,
    with gradio_client's defaults and with ssl_verify=False, requests alternating between the two clients so
    that both meet the same machine (one warm-up request each first)."""
    default, lean = api_request(url), api_request(url, ssl_verify=False)
    default(), lean()
    pairs = [(default(), lean()) for _ in range(repeats)]
    return [a for a, _ in pairs], [b for _, b in pairs]


def spread(times: list[float], goal: float = 1.0) -> str:
    """'min-max, k of n at most goal s': one median hides how often a person waits longer."""
    return f"{min(times):.2f}-{max(times):.2f} s, {sum(t <= goal for t in times)} of {len(times)} at most {goal:g} s"


def api_request(url: str, on_mp4=None, ssl_verify: bool = True):
    """A function that submits 5 s of speech to the app's /animate and returns the seconds until its first
    output (the mp4) arrives; it calls on_mp4() then, and lets the downloads finish before returning.
    ssl_verify=False: gradio_client then skips loading the CA bundle, which by default it does for every
    upload and download, about 25 ms each on this machine, even for an http:// URL that has no TLS."""
    import soundfile as sf
    from gradio_client import Client, handle_file

    wav = Path(tempfile.mkdtemp()) / "speech.wav"
    sf.write(wav, five_seconds_of_speech(), SAMPLE_RATE)
    client = Client(url, verbose=False, ssl_verify=ssl_verify)

    def request() -> float:
        start = time.perf_counter()
        job = client.submit(handle_file(str(wav)), "generic (no style)", False, api_name="/animate")
        while not job.outputs() and not job.done():
            time.sleep(0.005)
        seconds = time.perf_counter() - start
        if on_mp4:
            on_mp4()
        job.result()  # let the downloads finish before the next request
        return seconds

    return request


def api_style_times(url: str, video: Path, repeats: int) -> list[float]:
    """Seconds for the app's /create_style on a 5 s video, the server's first style first (the app loads
    MediaPipe, the recogniser and the aligner in the background at start: time it on a server that has made
    no style yet). The style is deleted afterwards: it lands in the server's local user's styles."""
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    times = []
    try:
        for _ in range(repeats + 1):
            start = time.perf_counter()
            client.predict(handle_file(str(video)), "speed-app-bench", True, api_name="/create_style")
            times.append(time.perf_counter() - start)
    finally:
        client.predict("speed-app-bench", api_name="/delete_style")
    return times


def stage_times(repeats: int, tmp: Path) -> list[tuple[str, float]]:
    """The app's animate request, one stage at a time (model warm)."""
    import soundfile as sf

    from imitator import export
    from imitator.inference import features
    from imitator.render import shared_renderer
    from imitator.video import VideoOptions, write_mp4

    model = load_model()
    wav = tmp / "speech.wav"
    sf.write(wav, five_seconds_of_speech(), SAMPLE_RATE)
    anim = animate(load_audio(wav), model=model)
    render_video(anim, tmp / "warm.mp4")
    feats = features(model, anim.audio)
    renderer = shared_renderer()
    frames = list(renderer.iter_frames(anim.vertices))

    def decode() -> None:
        import torch

        with torch.inference_mode():
            model.motion(model.visemes(feats))

    rows = [("read the uploaded file (wav)", lambda: load_audio(wav)),
            ("audio features (Whisper encoder)", lambda: features(model, anim.audio)),
            ("viseme + motion decoders", decode),
            ("render 150 frames (alone)", lambda: list(renderer.iter_frames(anim.vertices))),
            ("encode mp4 from rendered frames (alone)",
             lambda: write_mp4(tmp / "e.mp4", frames, anim.fps, anim.audio, options=VideoOptions(prefetch=0))),
            ("render + encode, overlapped (render_video)", lambda: render_video(anim, tmp / "r.mp4")),
            ("downloads after the video: NPZ + OBJ zip + GLB", lambda: (
                export.save_npz(tmp / "a.npz", anim.vertices, anim.faces, anim.fps),
                export.save_obj_zip(tmp / "a.zip", anim.vertices, anim.faces, anim.fps),
                export.save_glb(tmp / "a.glb", anim.vertices, anim.faces, anim.fps))),
            ("all of it: file -> playable mp4 (in process)",
             lambda: render_video(animate(load_audio(wav), model=model), tmp / "a.mp4"))]
    return [(what, median_of(fn, repeats)) for what, fn in rows]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default=None, help="a running app to time through its API")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)  # as the app's server runs (app.py main)
    model = load_model()
    speech = five_seconds_of_speech()
    tmp = Path(tempfile.mkdtemp())
    rows = stage_times(args.repeats, tmp)
    rows.append(("5 s speech -> mp4, side by side with generic", median_of(
        lambda: render_video(animate(speech, model=model, compare_generic=True), tmp / "s.mp4"), args.repeats)))
    rows.append(("5 s speech -> vertices only", median_of(lambda: animate(speech, model=model), args.repeats)))

    video = SHARED / "videos" / "retalking_2.mp4"
    if video.is_file():
        def make_style() -> None:
            create_style(video, "bench", model=model, user_dir=tmp / "styles", overwrite=True)
        make_style()  # warm-up: MediaPipe and Whisper (transcription) load on first use
        rows.append(("create-style, 5 s video (tracking + lip labels + stage 1 + stage 2)",
                     median_of(make_style, max(1, args.repeats // 2))))

    if args.url:
        import statistics

        if video.is_file():  # first: the server's first style
            first, *rest = api_style_times(args.url, video, max(1, args.repeats // 2))
            rows.append(("app API: create-style, 5 s video, the server's first style", first))
            rows.append(("app API: create-style, 5 s video, the next ones", statistics.median(rest)))
        default, lean = api_times(args.url, args.repeats)
        rows.append((f"app API: submit 5 s speech -> mp4 shown ({spread(default)})", statistics.median(default)))
        rows.append((f"... the same, gradio_client with ssl_verify=False, no CA bundle loaded per file ({spread(lean)})",
                     statistics.median(lean)))

    print(f"Machine: {machine()}. Load average: {os.getloadavg()[0]:.1f}. Medians of {args.repeats}.\n")
    print("| what | seconds |\n|---|---|")
    for what, s in rows:
        print(f"| {what} | {s:.3f} |")


if __name__ == "__main__":
    main()
