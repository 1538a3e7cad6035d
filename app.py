"""The imitator web app: create your speaking style from a short video, then make your 3D face speak.

Layout only: every action is one call into imitator.pipeline, the same functions the CLI and tests use.
Run: ./run.sh app   (or python app.py [--host 0.0.0.0] [--port 7860] [--share])
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import gradio as gr

from imitator import animate, create_style, list_styles, render_video
from imitator.audio import SAMPLE_RATE
from imitator.errors import ImitatorError
from imitator.limits import Limits
from imitator.outputs import OutputRetention, new_output_dir
from imitator.pipeline import default_model, export_animation, picture_note
from imitator.style_store import remove_stale_temporaries

GENERIC = "generic (no style)"
EXAMPLES = Path(__file__).parent / "examples"

try:  # ZeroGPU Spaces: a GPU is attached only inside functions decorated with spaces.GPU
    import spaces

    gpu = spaces.GPU
except ImportError:
    def gpu(fn):
        return fn


def style_choices() -> list[str]:
    return [GENERIC] + [e.name for e in list_styles() if e.error is None]


def _fail(e: Exception):
    """User errors as a message in the UI; the message is the library's own, written for people."""
    raise gr.Error(str(e), print_exception=False)


@gpu
def create_style_ui(video: str | None, name: str, progress=gr.Progress()):
    if not video:
        raise gr.Error("Upload or record a short video of your face talking first (5 s or more, with sound).")
    if not (name or "").strip():
        raise gr.Error("Give your style a name.")
    out = new_output_dir("style")  # old result folders are removed as new ones are made (imitator/outputs.py)
    try:
        style = create_style(video, name.strip(), progress=lambda f, m: progress(f, desc=m),
                             preview=out / "tracking.png")
    except (ImitatorError, FileNotFoundError) as e:
        _fail(e)
    fit = style.meta.fit
    held = f"; on held-out frames {fit['holdout_l2_mm']:.2f} mm" if fit.get("holdout_l2_mm") is not None else ""
    summary = (f"Style '{style.name}' is ready. It reproduces your tracked face to {fit['fit_l2_mm']:.2f} mm "
               f"on average{held} ({fit['frames']} frames). {picture_note(style)}")
    summary += "".join(f"\n\n**Warning:** {w}" for w in fit.get("warnings", []))  # two faces, face lost ...
    preview = str(out / "tracking.png") if (out / "tracking.png").is_file() else None
    return preview, summary, gr.update(choices=style_choices(), value=style.name)


@gpu
def animate_ui(audio: str | None, style: str, side_by_side: bool, progress=gr.Progress()):
    """A generator: the video is shown as soon as it is written; the downloads follow."""
    if not audio:
        raise gr.Error("Record or upload some speech first.")
    progress(0.1, desc="listening and animating")
    try:
        anim = animate(audio, style=None if style in (None, "", GENERIC) else style, compare_generic=side_by_side)
    except (ImitatorError, FileNotFoundError) as e:
        _fail(e)
    out = new_output_dir("anim")
    progress(0.5, desc="rendering")
    try:
        video = str(render_video(anim, out / "animation.mp4"))
    except ImitatorError as e:  # e.g. RenderError: no EGL/Mesa on this server; the message says what to install
        _fail(e)
    info = f"{len(anim.vertices)} frames at {anim.fps:g} fps for {len(anim.audio) / SAMPLE_RATE:.2f} s of speech, " \
           f"style '{anim.style}'."
    yield video, [video], info + " Preparing downloads..."
    notes = export_animation(anim, npz=out / "animation.npz", obj_zip=out / "animation_obj.zip",
                             glb=out / "animation.glb")  # textured OBJ/GLB; notes say if frames were left out
    files = [video, str(out / "animation.npz"), str(out / "animation_obj.zip"), str(out / "animation.glb")]
    yield video, files, " ".join([info, *notes])


def build_app() -> gr.Blocks:
    with gr.Blocks(title="imitator: your 3D face, speaking") as demo:
        gr.Markdown("# imitator\nPersonalized speech-driven 3D facial animation, offline. "
                    "Create your speaking style from a short selfie video, then make your 3D face say anything.")
        with gr.Tab("Make it speak"):
            with gr.Row():
                with gr.Column():
                    audio = gr.Audio(sources=["microphone", "upload"], type="filepath", label="Speech", elem_id="speech")
                    # allow_custom_value: an API client may name a style made after this page was built;
                    # the handler checks it against the styles on disk (issue 15, item 7)
                    style = gr.Dropdown(choices=style_choices(), value=GENERIC, label="Style", elem_id="style",
                                        allow_custom_value=True)
                    side = gr.Checkbox(label="Side by side with the generic model", value=False)
                    go = gr.Button("Animate", variant="primary", elem_id="animate")
                    example_audio = sorted(str(p) for p in EXAMPLES.glob("*.flac"))
                    presets = [e.name for e in list_styles() if e.kind == "preset" and e.error is None]
                    if example_audio:  # offline examples: the shipped speech with the generic style and the presets
                        gr.Examples([[a, s] for a in example_audio for s in [GENERIC, *presets]], [audio, style],
                                    label="Examples")
                with gr.Column():
                    video = gr.Video(label="Your face, speaking", format="mp4", autoplay=True, elem_id="result-video")
                    info = gr.Markdown(elem_id="result-info")
                    files = gr.File(label="Downloads: mp4, NPZ, OBJ zip, GLB", file_count="multiple",
                                    elem_id="downloads")
            go.click(animate_ui, [audio, style, side], [video, files, info], api_name="animate")
        with gr.Tab("Create your style"):
            with gr.Row():
                with gr.Column():
                    # no `format`: converting would need a system ffmpeg; the tracker reads webm/mov/mp4 itself
                    selfie = gr.Video(sources=["upload", "webcam"], label="A 5-10 s video of your face, talking",
                                      elem_id="selfie")
                    name = gr.Textbox(label="Style name", placeholder="e.g. Ada", elem_id="style-name")
                    create = gr.Button("Create my style", variant="primary", elem_id="create")
                with gr.Column():
                    preview = gr.Image(label="Tracked face", type="filepath", elem_id="preview")
                    summary = gr.Markdown(elem_id="summary")
            # its own queue: a long style fit never holds the workers that animate short requests
            create.click(create_style_ui, [selfie, name], [preview, summary, style], api_name="create_style",
                         concurrency_limit=1, concurrency_id="create_style")
        demo.load(lambda: gr.update(choices=style_choices()), None, style, api_name=False)
    return demo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    ap.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    ap.add_argument("--share", action="store_true")
    args = ap.parse_args()
    default_model()  # load once, before the first request, so a broken install fails at start
    demo = build_app()
    launch(demo, args)


def launch(demo: gr.Blocks, args: argparse.Namespace) -> None:
    """Server-side limits (issue 15): upload size, queue length, Gradio cache age, stale style temporaries."""
    limits, retention = Limits.from_env(), OutputRetention.from_env()
    remove_stale_temporaries()
    demo.delete_cache = retention.gradio_delete_cache()  # Gradio's copies of our outputs age out like them
    demo.queue(default_concurrency_limit=2, max_size=32)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, theme=gr.themes.Soft(),
                max_file_size=f"{limits.max_upload_mb:g}mb")


if __name__ == "__main__":
    main()
