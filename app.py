"""The imitator web app: 1. create your speaking style from a short selfie video, 2. make your 3D face speak.

Layout only: every action is one call into the library (imitator.pipeline, imitator.style_store), the same
functions the CLI and tests use. Errors stay on screen, in the step they belong to, until the next action.
Run: ./run.sh app   (or python app.py [--host 0.0.0.0] [--port 7860] [--share])
API: see README.md ("Use the app from code"); every event has an api_name.
"""
from __future__ import annotations

import argparse
import contextvars
import hashlib
import html
import json
import os
import shutil
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import gradio as gr
import torch

from imitator import SAMPLE_RATE, Animation, animate, create_style, render_video, style_store
from imitator.adapt import fit_summary
from imitator.closures import fingerprint
from imitator.admission import AdmissionGate, speech_seconds
from imitator.errors import ImitatorError
from imitator.pipeline import default_model, download_stem, export_downloads, picture_note
from imitator.limits import Limits
from imitator.outputs import OutputRetention, new_output_dir, output_root
from imitator.progress import StageBar
from imitator.style_store import remove_stale_temporaries
from imitator.video import playable_in_browsers

GENERIC = "generic (no style)"
ROOT = Path(__file__).resolve().parent
EXAMPLES = ROOT / "examples"
ASSETS = ROOT / "app_assets"
FIRST_STYLE = "Ava"  # the result shown before anyone acts: a preset saying the first example sentence
GATE = AdmissionGate.from_env()  # one per server process: the lane for long speech (imitator.admission)
SPEECH_TYPES = [".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a", ".aac", ".webm", ".mp4", ".mov", ".mkv"]

try:  # ZeroGPU Spaces: a GPU is attached only inside functions decorated with spaces.GPU
    import spaces

    gpu = spaces.GPU
except ImportError:
    def gpu(fn):
        return fn


def cache_dir() -> Path:
    """The first-load result, computed once per model and kept between restarts."""
    base = os.environ.get("IMITATOR_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "imitator")
    return Path(base) / "app"


# --- what the pages show -----------------------------------------------------------------------------------
def status(kind: str, text: str) -> str:
    """A message that stays until the next action: kind is ok, busy or error (errors are alerts)."""
    role = "alert" if kind == "error" else "status"
    return f'<div class="status {kind}" role="{role}">{html.escape(text)}</div>'


def failed(e: Exception) -> str:
    return status("error", f"Could not do that: {e}")


def file_url(path: Path) -> str:
    return "gradio_api/file=" + urllib.parse.quote(str(path))


EMPTY_VIEWER = '<div class="imv-empty">The 3D view of your result appears here.</div>'


def viewer_html(glb: Path, sound: Path) -> str:
    """The 3D view (app_assets/glb_viewer.js) of an animated GLB, driven by the clock of its sound."""
    return (f'<div class="imv" data-glb="{html.escape(file_url(glb))}"><canvas aria-label="3D face"></canvas>'
            f'<div class="imv-bar"><button class="imv-play" type="button">▶ Play</button>'
            f'<audio controls preload="auto" src="{html.escape(file_url(sound))}"></audio></div>'
            f'<p class="imv-note">Drag to turn the head, scroll to zoom. The sound drives the face.</p></div>')


def describe(anim: Animation) -> str:
    seconds = len(anim.audio) / SAMPLE_RATE
    return (f"**{anim.style}** says *{anim.speech_name}*: {len(anim.vertices)} frames at {anim.fps:g} fps "
            f"for {seconds:.1f} s of speech.")


def style_views(owner: str | None, selected: str | None = None, managed: str | None = None):
    """The style picker, the styles table and the picker of the person's own styles, from one listing."""
    entries = style_store.list_styles(owner=owner or None)
    usable = [e.name for e in entries if e.error is None]
    mine = [e.name for e in entries if e.kind == "user" and e.error is None]
    table = [[e.name, "preset" if e.kind == "preset" else "yours",
              e.error or (e.meta.description if e.meta else ""), fit_text(e)] for e in entries]
    pick = gr.update(choices=[GENERIC, *usable], value=selected) if selected else gr.update(choices=[GENERIC, *usable])
    return pick, table, gr.update(choices=mine, value=managed if managed in mine else (mine[0] if mine else None))


def fit_text(entry) -> str:
    """The style table's short form of adapt.fit_summary: closures kept and the error on unseen frames."""
    fit = entry.meta.fit if entry.meta else {}
    parts = []
    if fit.get("closures_kept") is not None and fit.get("lip_closures"):
        parts.append(f"lips close on {round(fit['closures_kept'] * fit['lip_closures'])}/{fit['lip_closures']} m/b/p")
    if fit.get("holdout_lip_sync_mm") is not None:
        parts.append(f"{fit['holdout_lip_sync_mm']:.1f} mm lip error on unseen frames")
    return "; ".join(parts)


class LiveProgress:
    """gr.Progress fed by the library's callbacks; while a step is silent (e.g. the speech encoder on a long
    file) the last message is re-sent about every second with the seconds spent on it, so the bar never
    freezes. Messages without their own estimate get one for the whole task, from the bar's speed so far."""

    def __init__(self, progress: gr.Progress, stages: dict[str, float]):
        self.progress, self.bar = progress, StageBar(self._report, stages)
        self.last, self.since, self._stop = (0.0, ""), time.perf_counter(), threading.Event()
        self.began = self.since

    def _report(self, fraction: float, message: str) -> None:
        now = time.perf_counter()
        if "left" not in message and fraction > 0.05 and now - self.began > 2:  # e.g. tracking, adaptation
            message += f" (about {(now - self.began) * (1 - fraction) / fraction:.0f} s left in all)"
        self.last, self.since = (fraction, message), now
        self.progress(fraction, desc=message)

    def start(self, stage: str, message: str) -> None:
        self._report(self.bar.start[stage], message)

    def __enter__(self) -> "LiveProgress":
        self._stop = threading.Event()  # a fresh one: the same bar is entered again for the downloads
        context = contextvars.copy_context()  # gr.Progress finds its request through context variables
        threading.Thread(target=context.run, args=(self._tick,), daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            quiet = time.perf_counter() - self.since
            if quiet >= 0.9:
                fraction, message = self.last
                self.progress(fraction, desc=f"{message} ({quiet:.0f} s on this)")


def at_low_priority(fn, *args, **kwargs):
    """fn(*args, **kwargs) in a new thread that yields the CPU to the others (nice +10, Linux: per thread), and
    wait for it. The downloads are made while the mp4 that was just yielded is still being sent to the client
    and played: on 2 cores they slowed its arrival by about 25 ms. A fresh thread, since a thread cannot
    take its priority back unprivileged; gr.Progress finds its request through the copied context."""
    result: dict = {}
    context = contextvars.copy_context()

    def run() -> None:
        try:
            me = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, me, min(os.getpriority(os.PRIO_PROCESS, me) + 10, 19))
        except (AttributeError, OSError):  # not Linux, or not allowed: run at the normal priority
            pass
        try:
            result["value"] = context.run(fn, *args, **kwargs)
        except BaseException as e:  # re-raised in the caller
            result["error"] = e

    worker = threading.Thread(target=run, name="imitator-downloads", daemon=True)
    worker.start()
    worker.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


# --- step 1: create a style ----------------------------------------------------------------------------
def _create(video: str | None, name: str, replace: bool, owner: str | None, progress: gr.Progress):
    if not video:
        raise ImitatorError("Upload or record a short video of your face talking first (5-10 s, with sound).")
    if not (name or "").strip():
        raise ImitatorError("Give your style a name (any letters, e.g. José).")
    out = new_output_dir("style")  # old result folders are removed as new ones are made (imitator/outputs.py)
    live = LiveProgress(progress, {"creating": 1.0})
    with live:
        live.start("creating", "checking the video")
        style = create_style(video, name.strip(), progress=live.bar.sub("creating"), preview=out / "tracking.png",
                             overwrite=bool(replace), owner=owner or None)
    fit = style.meta.fit
    # what matters to the person (issue 12): do the lips close, and does the style beat the generic model on
    # frames it did not learn from; not the fit error on the fitted frames, which looks good even when the
    # mouth never closes
    summary = (f"Style '{style.name}' is ready: {fit_summary(fit)} ({fit['frames']} frames). "
               f"Pick it in step 2. {picture_note(style)}")
    summary += "".join(f" Warning: {w}." for w in fit.get("warnings", []))  # two faces, face lost, language
    preview = out / "tracking.png"
    return style, summary, (str(preview) if preview.is_file() else None)


@gpu
def create_style_ui(video, name, replace, owner, progress=gr.Progress()):
    try:
        style, summary, preview = _create(video, name, replace, owner, progress)
    except (ImitatorError, FileNotFoundError) as e:
        return failed(e), None, *style_views(owner)
    return status("ok", summary), preview, *style_views(owner, selected=style.name, managed=style.name)


@gpu
def create_style_api(video, name, replace, progress=gr.Progress()):
    try:
        _, summary, preview = _create(video, name, replace, None, progress)
    except (ImitatorError, FileNotFoundError) as e:
        raise gr.Error(str(e), print_exception=False) from e
    return preview, summary


# --- step 2: make it speak ---------------------------------------------------------------------------------
def _animate(speech: str | None, style: str | None, side_by_side: bool, owner: str | None, progress: gr.Progress):
    """A generator of (video, viewer html, downloads, description): the video as soon as it is written."""
    if not speech:
        raise ImitatorError("Choose a speech file (or record your voice) first.")
    live = LiveProgress(progress, {"animating": 2.0, "rendering": 6.0, "exporting": 2.0})
    with GATE.admit(speech_seconds(speech)):  # long speech runs one at a time, never blocking short speech
        with live:
            live.start("animating", "listening to the speech and animating the face")
            anim = animate(speech, style=None if style in (None, "", GENERIC) else style,
                           compare_generic=bool(side_by_side), owner=owner or None)
            out = new_output_dir("anim")
            video = render_video(anim, out / f"{download_stem(anim)}.mp4", progress=live.bar.sub("rendering"))
        yield str(video), EMPTY_VIEWER, [str(video)], describe(anim) + " Preparing the 3D view and downloads..."
        with live:
            paths, notes = at_low_priority(export_downloads, anim, out, progress=live.bar.sub("exporting"))
        files = [str(video), *(str(p) for p in paths.values())]
        yield str(video), viewer_html(paths["glb"], video), files, " ".join([describe(anim), *notes])


@gpu
def animate_ui(speech, style, side_by_side, owner, progress=gr.Progress()):
    try:
        for video, viewer, files, about in _animate(speech, style, side_by_side, owner, progress):
            done = not about.endswith("...")
            yield (status("ok" if done else "busy", "Done: play the video or the 3D view." if done else
                          "The video is ready; the 3D view and downloads follow."), video, viewer, files, about)
    except (ImitatorError, FileNotFoundError) as e:  # no stale result under the message
        yield failed(e), None, EMPTY_VIEWER, None, ""


@gpu
def animate_api(speech, style, side_by_side, progress=gr.Progress()):
    """Streams: first the mp4 alone (playable as soon as it is written; no downloads yet), then every download;
    `predict` returns the last, `submit(...).outputs()` shows the mp4 about 0.25 s before the downloads are
    made. The first output names no download: gradio_client fetched the mp4 twice when it was listed there
    too, each fetch with its own connection (about 40 ms of the request, docs/benchmarks.md)."""
    try:
        for video, _, files, about in _animate(speech, style, side_by_side, None, progress):
            yield video, (None if about.endswith("...") else files), about
    except (ImitatorError, FileNotFoundError) as e:
        raise gr.Error(str(e), print_exception=False) from e


def warm_up_styles() -> None:
    """Make one style, not saved, from the bundled example selfie, in the background at start. A server's
    first style took 7.6 s against 5.1 s for the next (MediaPipe, the recogniser, the aligner and the first
    adaptation all start up); after this, 5.4 s (docs/benchmarks.md). Any failure only costs the warm-up."""
    try:
        create_style(str(EXAMPLES / "rendered_cleo_selfie.mp4"), "warm-up", model=default_model(), save=False)
    except Exception as e:  # e.g. a Space without the example: the first style is merely slower
        print(f"imitator: no style warm-up ({e.__class__.__name__}: {e})")


def first_result() -> tuple[str, str, list[str], str] | None:
    """A preset saying the first example sentence, computed once per model and style and then read from disk."""
    speech = min(EXAMPLES.glob("*.flac"), default=None)
    if speech is None or FIRST_STYLE not in [e.name for e in style_store.list_styles(user_dir=os.devnull)]:
        return None
    model = default_model()
    parts = [getattr(model, "model_id", "").encode(), fingerprint(model.closure_detector).encode(), speech.read_bytes(),
             (style_store.PRESET_DIR / f"{FIRST_STYLE}.json").read_bytes()]
    key = hashlib.sha256(b"|".join(parts)).hexdigest()[:16]
    folder = cache_dir() / f"first-{key}"
    index = folder / "result.json"
    if not index.is_file():
        tmp = Path(tempfile.mkdtemp(prefix=".first-", dir=_mkdir(cache_dir())))
        anim = animate(str(speech), style=FIRST_STYLE, model=model)
        video = render_video(anim, tmp / f"{download_stem(anim)}.mp4")
        paths, _ = export_downloads(anim, tmp)
        (tmp / "result.json").write_text(json.dumps({
            "video": video.name, "glb": paths["glb"].name, "files": [video.name, *(p.name for p in paths.values())],
            "about": describe(anim) + " An example: make your own with steps 1 and 2."}, ensure_ascii=False))
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    data = json.loads(index.read_text())
    video = folder / data["video"]
    return str(video), viewer_html(folder / data["glb"], video), [str(folder / f) for f in data["files"]], data["about"]


# --- style management --------------------------------------------------------------------------------------
def _manage(action: str, style: str | None, text: str, owner: str | None) -> str:
    if not style:
        raise ImitatorError("Pick one of your styles first (presets cannot be changed).")
    if action == "rename":
        if not (text or "").strip():
            raise ImitatorError("Type the new name first.")
        style_store.rename_style(style, text.strip(), owner=owner)
        return f"Renamed '{style}' to '{text.strip()}'."
    if action == "describe":
        style_store.describe_style(style, text or "", owner=owner)
        return f"Description of '{style}' saved."
    style_store.delete_style(style, owner=owner)
    return f"Deleted '{style}'."


def manage_ui(action: str):
    def handler(style, text, owner):
        try:
            message = _manage(action, style, text, owner or None)
        except (ImitatorError, FileNotFoundError) as e:
            return failed(e), *style_views(owner, managed=style)
        renamed = text.strip() if action == "rename" else (None if action == "delete" else style)
        return status("ok", message), *style_views(owner, managed=renamed)
    handler.__name__ = f"{action}_style_ui"
    return handler


def _manage_api(action: str, style: str, text: str = "") -> str:
    try:
        return _manage(action, style, text, None)
    except (ImitatorError, FileNotFoundError) as e:
        raise gr.Error(str(e), print_exception=False) from e


def rename_style_api(style: str, new_name: str) -> str:
    return _manage_api("rename", style, new_name)


def describe_style_api(style: str, description: str) -> str:
    return _manage_api("describe", style, description)


def delete_style_api(style: str) -> str:
    return _manage_api("delete", style)


def list_styles_api():
    return style_views(None)[1]


def playable_selfie(video: str | None):
    """An upload browsers cannot show (e.g. MPEG-4 Part 2) is replaced by an H.264 copy, so the preview is
    never blank; a file that cannot be read is left for step 1's checks to explain."""
    if not video:
        return video
    try:
        return str(playable_in_browsers(video, new_output_dir("selfie")))
    except (ImitatorError, OSError):
        return video


def start_session(owner: str | None):
    """Each browser keeps a random owner token (gr.BrowserState), so people never see or overwrite each
    other's styles on a shared server."""
    owner = owner or style_store.new_owner()
    return owner, *style_views(owner)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- layout ------------------------------------------------------------------------------------------------
TIPS = """**A good selfie video** (5-10 s, with sound):
- your whole face in view, facing the camera, lit from the front; nothing over your mouth
- talk naturally, in your own voice; words with *m*, *b* and *p* show how your lips close
- a quiet room; English speech also teaches the lip closures (other languages work, without that part)

The example video is our own rendering of the preset Cleo, not a person (we bundle no videos of real
people): it shows the steps. For *your* style, record yourself with the webcam or upload a video of you."""


def build_app(first: tuple | None = None) -> gr.Blocks:
    video0, viewer0, files0, about0 = first or (None, EMPTY_VIEWER, None, "")
    with gr.Blocks(title="imitator: your 3D face, speaking") as demo:
        owner = gr.BrowserState("", storage_key="imitator-owner")
        gr.Markdown("# imitator\nYour speaking style on a 3D face, offline: **1** learn your style from a short "
                    "selfie video, **2** make your face say anything.", elem_id="intro")
        with gr.Row(equal_height=False, elem_id="steps"):
            with gr.Column(scale=4, min_width=300, elem_id="step1"):
                gr.Markdown("## 1 · Create your style", elem_classes="step-title")
                selfie = gr.Video(sources=["upload", "webcam"], label="A selfie video of you talking (5-10 s)",
                                  elem_id="selfie", height=260)
                with gr.Accordion("Tips for a good selfie video", open=False, elem_id="tips"):
                    gr.Markdown(TIPS)
                name = gr.Textbox(label="Style name", placeholder="e.g. José", elem_id="style-name", max_length=64)
                selfie_examples = sorted(str(p) for p in EXAMPLES.glob("*selfie*.mp4"))
                if selfie_examples:
                    gr.Examples([[v, f"{Path(v).stem.split('_')[1].title()} rendered"] for v in selfie_examples],
                                [selfie, name], label="Example: a rendered face, not a person (shows the steps)",
                                example_labels=["rendered face saying “bob bought a map”"] * len(selfie_examples))
                replace = gr.Checkbox(label="Replace my style of the same name", value=False, elem_id="replace")
                create = gr.Button("Create my style", variant="primary", elem_id="create")
                create_status = gr.HTML(elem_id="create-status")
                preview = gr.Image(label="Tracked face", type="filepath", elem_id="preview", height=220,
                                   interactive=False)
            with gr.Column(scale=4, min_width=300, elem_id="step2"):
                gr.Markdown("## 2 · Make it speak", elem_classes="step-title")
                speech = gr.File(label="Speech: an audio file, or a video whose sound is used",
                                 file_types=SPEECH_TYPES, type="filepath", elem_id="speech", height=150)
                with gr.Accordion("…or record your voice", open=False, elem_id="record"):
                    mic = gr.Audio(sources=["microphone"], type="filepath", label="Microphone", elem_id="mic")
                style = gr.Dropdown(choices=[GENERIC], value=FIRST_STYLE if first else GENERIC, label="Style",
                                    elem_id="style", allow_custom_value=True)
                side = gr.Checkbox(label="Side by side with the generic model", value=False, elem_id="side")
                go = gr.Button("Make it speak", variant="primary", elem_id="animate")
                animate_status = gr.HTML(elem_id="animate-status")
                speech_examples = sorted(str(p) for p in EXAMPLES.glob("*.flac"))
                presets = [e.name for e in style_store.list_styles(user_dir=os.devnull) if e.error is None]
                if speech_examples:
                    pairs = [(a, s) for a in speech_examples for s in [*presets, GENERIC]]
                    gr.Examples([list(p) for p in pairs], [speech, style], label="Examples: bundled speech, each style",
                                example_labels=[f"{s.split(' ')[0]} says “{Path(a).stem.replace('_', ' ')}”"
                                                for a, s in pairs], examples_per_page=8)
            with gr.Column(scale=5, min_width=300, elem_id="result"):
                gr.Markdown("## Your face, speaking", elem_classes="step-title")
                video = gr.Video(value=video0, label="Video", show_label=False, format="mp4", autoplay=False,
                                 elem_id="result-video", interactive=False)
                viewer = gr.HTML(value=viewer0, js_on_load=(ASSETS / "glb_viewer.js").read_text(),
                                 elem_id="viewer", label="3D view")
                about = gr.Markdown(about0, label="About the result", elem_id="result-info")
                downloads = gr.File(value=files0, label="Downloads: mp4, NPZ, OBJ zip, GLB", file_count="multiple",
                                    elem_id="downloads", interactive=False)
        with gr.Accordion("Your styles: rename, describe, delete", open=False, elem_id="manage"):
            styles_table = gr.Dataframe(headers=["Style", "Kind", "Description", "Fit"], label="Styles",
                                        interactive=False, elem_id="styles-table", wrap=True)
            with gr.Row():
                managed = gr.Dropdown(label="One of your styles", choices=[], elem_id="manage-pick",
                                      allow_custom_value=True)
                manage_text = gr.Textbox(label="New name or description", elem_id="manage-text")
            with gr.Row():
                rename = gr.Button("Rename", elem_id="rename", size="sm")
                describe_btn = gr.Button("Save description", elem_id="describe", size="sm")
                delete = gr.Button("Delete", variant="stop", elem_id="delete", size="sm")
            manage_status = gr.HTML(elem_id="manage-status")

        views = [style, styles_table, managed]
        demo.load(start_session, owner, [owner, *views], api_name="start_session", api_visibility="private")
        selfie.upload(playable_selfie, selfie, selfie, api_name="prepare_selfie", api_visibility="private")
        mic.stop_recording(lambda path: path, mic, speech, api_name="use_recording", api_visibility="private")
        # its own queue: a long style fit never holds the workers that animate short requests
        create.click(create_style_ui, [selfie, name, replace, owner], [create_status, preview, *views],
                     api_name="create_style_ui", api_visibility="private", concurrency_limit=1,
                     concurrency_id="create_style")
        go.click(animate_ui, [speech, style, side, owner], [animate_status, video, viewer, downloads, about],
                 api_name="animate_ui", api_visibility="private")
        # on a phone the result sits above the steps: bring it into view with its progress
        go.click(None, js="() => { if (window.innerWidth < 600) "
                          "document.querySelector('#result').scrollIntoView({behavior: 'smooth'}); }")
        for button, action in ((rename, "rename"), (describe_btn, "describe"), (delete, "delete")):
            button.click(manage_ui(action), [managed, manage_text, owner], [manage_status, *views],
                         api_name=f"{action}_style_ui", api_visibility="private")

        # The documented API (gradio_client, curl): the same library calls; errors raise with their message.
        with gr.Row(visible=False):
            message = gr.Textbox(label="Message")
            for api_name, fn, inputs, outputs in (
                    ("create_style", create_style_api, [selfie, name, replace], [preview, message]),
                    ("animate", animate_api, [speech, style, side], [video, downloads, about]),
                    ("list_styles", list_styles_api, [], [styles_table]),
                    ("rename_style", rename_style_api, [managed, manage_text], [message]),
                    ("describe_style", describe_style_api, [managed, manage_text], [message]),
                    ("delete_style", delete_style_api, [managed], [message])):
                queue = {"concurrency_limit": 1, "concurrency_id": "create_style"} if api_name == "create_style" else {}
                gr.Button(api_name, visible=False).click(fn, inputs, outputs, api_name=api_name, **queue)
    return demo


CSS = (ASSETS / "app.css").read_text()
# Gradio scopes launch(css=...) inside the page's content, so the page margin (32 px a side, which left a
# 326 px result on a 390 px phone) is set from <head>.
HEAD = "<style>@media (max-width: 600px) { .gradio-container .main.fillable { padding: 8px 6px !important; } }</style>"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    ap.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    ap.add_argument("--share", action="store_true")
    args = ap.parse_args()
    # One thread for torch's own operations: the server's torch work is small tensors (the decoders, style
    # adaptation's few hundred steps), where a second thread costs more in hand-offs than it gains, and the
    # second core is busy tracking or rendering. Create-style took 4.8-5.3 s against 5.5-5.7 s; animating
    # 5 s of speech was unchanged (docs/benchmarks.md). Whisper and the renderer keep their own threads.
    torch.set_num_threads(1)
    default_model()  # load once, before the first request, so a broken install fails at start
    threading.Thread(target=warm_up_styles, name="imitator-warm-up", daemon=True).start()
    try:
        first = first_result()
    except (ImitatorError, OSError) as e:  # e.g. no EGL for rendering: the app still starts, without it
        print(f"imitator: no first-load example ({e})")
        first = None
    launch(build_app(first), args)


def launch(demo: gr.Blocks, args: argparse.Namespace) -> None:
    """Server-side limits (issue 15): upload size, queue length, Gradio cache age, stale style temporaries.
    allowed_paths: the results and the first-load example, which the 3D view fetches by URL."""
    limits, retention = Limits.from_env(), OutputRetention.from_env()
    remove_stale_temporaries()
    demo.delete_cache = retention.gradio_delete_cache()  # Gradio's copies of our outputs age out like them
    demo.queue(default_concurrency_limit=2, max_size=32)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, theme=gr.themes.Soft(), css=CSS,
                head=HEAD, max_file_size=f"{limits.max_upload_mb:g}mb",
                allowed_paths=[str(_mkdir(output_root())), str(_mkdir(cache_dir()))])


if __name__ == "__main__":
    main()
