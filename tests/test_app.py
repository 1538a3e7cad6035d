"""The app as people and programs use it: a real browser (Debian chromium + playwright-core) and gradio_client.
Each complaint of issue 14 (the journey a new user takes) has a check here or in test_journey.py.

The server runs app.py in a subprocess, on the bundled model (or, before one exists, a small random model
of the real topology), with a temporary user style folder."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import shared_file
from imitator.audio import SAMPLE_RATE

ROOT = Path(__file__).resolve().parents[1]
BROWSER_DIR = Path(__file__).parent / "browser"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _test_model(folder: Path) -> str | None:
    from imitator.checkpoint import DEFAULT_MODEL_DIR

    if (DEFAULT_MODEL_DIR / "model.safetensors").is_file():
        return None  # the real thing
    import torch

    from imitator.checkpoint import save_model
    from imitator.data.faces import load_faces
    from imitator.model import Imitator, ModelConfig

    torch.manual_seed(0)
    template = torch.from_numpy(next(iter(load_faces().values())))
    m = Imitator(ModelConfig(n_vertices=468, style_names=("a", "b"), encoder="mel", audio_dim=80), template=template)
    torch.nn.init.normal_(m.motion_decoder.basis.weight, std=0.05)
    return str(save_model(m, folder))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("app")
    port = _free_port()
    env = {**os.environ, "IMITATOR_STYLE_DIR": str(tmp / "styles"), "GRADIO_ANALYTICS_ENABLED": "False",
           "HF_HUB_OFFLINE": "1", "GRADIO_TEMP_DIR": str(tmp / "gradio"), "IMITATOR_CACHE_DIR": str(tmp / "cache"),
           "IMITATOR_OUTPUT_DIR": str(tmp / "outputs"), "IMITATOR_KEEP_OUTPUTS": "2", "IMITATOR_MAX_UPLOAD_MB": "30"}
    model = _test_model(tmp / "model")
    if model:
        env["IMITATOR_MODEL"] = model
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 240  # the first-load example is computed before serving
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"app.py exited with {proc.returncode}: {(tmp / 'server.log').read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("app.py did not start serving within 240 s")
    yield url, tmp
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


def _duration(path) -> float:
    import av

    with av.open(str(path)) as c:
        return float(c.duration) / 1e6


def test_api_names_every_input_and_output(server):
    from gradio_client import Client

    url, _ = server
    api = Client(url, verbose=False).view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/create_style", "/animate", "/list_styles", "/rename_style", "/describe_style", "/delete_style"} <= set(api)
    assert not any(name.endswith("_ui") or name == "/start_session" for name in api)  # the page's own events
    for name, endpoint in api.items():
        for item in endpoint["parameters"] + endpoint["returns"]:
            assert item["label"] and not item["label"].startswith("value_"), (name, item)
    assert [r["label"] for r in api["/animate"]["returns"]] == ["Video", "Downloads: mp4, NPZ, OBJ zip, GLB",
                                                                "About the result"]
    names = {n: [p["parameter_name"] for p in e["parameters"]] for n, e in api.items()}
    assert names["/animate"] == ["speech", "style", "side_by_side"] and names["/rename_style"] == ["style", "new_name"]


def test_first_load_result_and_api_journey(server):
    """A result before anyone acts; a user style made after start works for a new API client; mp4 speech is
    accepted with its sound; downloads are named after style and speech; errors come with their message."""
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    url, tmp = server
    cached = list((tmp / "cache").rglob("Ava - bob_bought_a_map.glb"))
    assert len(cached) == 1, "the first-load example was not computed at start"
    client = Client(url, verbose=False)
    preview, summary = client.predict(handle_file(str(shared_file("videos", "retalking_5.mp4"))), "Zoë", False,
                                      api_name="/create_style")
    assert "Style 'Zoë' is ready" in summary and Path(preview).is_file()
    with pytest.raises(AppError, match="already the name of one of your styles"):  # never overwritten silently
        client.predict(handle_file(str(shared_file("videos", "retalking_5.mp4"))), "Zoë", False,
                       api_name="/create_style")
    with pytest.raises(AppError, match="bundled preset"):
        client.predict(handle_file(str(shared_file("videos", "retalking_5.mp4"))), "Ava", True,
                       api_name="/create_style")
    speech = shared_file("videos", "retalking_2.mp4")  # a video as speech: its sound is used
    video, files, about = Client(url, verbose=False).predict(handle_file(str(speech)), "Zoë", False,
                                                             api_name="/animate")
    assert "**Zoë** says *retalking_2*" in about
    assert sorted(Path(f).name for f in files) == ["Zoë - retalking_2 (OBJ).zip", "Zoë - retalking_2.glb",
                                                   "Zoë - retalking_2.mp4", "Zoë - retalking_2.npz"]
    assert abs(_duration(video) - _duration(speech)) < 0.15
    with pytest.raises(AppError, match="no audio track"):
        client.predict(handle_file(str(shared_file("videos", "no_audio_d13.mp4"))), "Mute", False,
                       api_name="/create_style")
    table = client.predict(api_name="/list_styles")
    assert [row[0] for row in table["data"]].count("Ava") == 1 and "Zoë" in [row[0] for row in table["data"]]
    assert "Deleted" in client.predict("Zoë", api_name="/delete_style")
    with pytest.raises(AppError, match="presets cannot be deleted"):
        client.predict("Ava", api_name="/delete_style")


def _long_speech(folder: Path) -> Path:
    """60 s of real speech: the lecture clip three times over."""
    import numpy as np
    import soundfile as sf

    audio, rate = sf.read(shared_file("audio", "lecture_21s.wav"), dtype="float32")
    path = folder / "lecture_60s.wav"
    sf.write(path, np.concatenate([audio] * 3)[: 60 * rate], rate)
    return path


def _short_clip(folder: Path) -> Path:
    from test_tracking import gray, write_video

    from conftest import speechlike

    return write_video(folder / "short_clip.mp4", [gray()] * 28, audio=speechlike(1.1))


def test_browser_journey(server):
    node, chromium = shutil.which("node"), shutil.which("chromium")
    if not (node and chromium and (BROWSER_DIR / "node_modules" / "playwright-core").is_dir()):
        pytest.skip("needs node, Debian chromium and tests/browser/node_modules (scripts/setup.sh installs them)")
    url, tmp = server
    config = {"selfie": str(shared_file("videos", "retalking_2.mp4")), "shortClip": str(_short_clip(tmp)),
              "muteClip": str(shared_file("videos", "no_audio_d13.mp4")), "speech": str(_long_speech(tmp)),
              "speechVideo": str(shared_file("videos", "retalking_1.mp4")), "styleName": "José", "newName": "Zoë"}
    (tmp / "journey.json").write_text(json.dumps(config))
    shots = Path(os.environ.get("IMITATOR_SCREENSHOTS", tmp / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([node, str(BROWSER_DIR / "app_flow.js"), url, str(tmp / "journey.json"), str(shots)],
                          capture_output=True, text=True, timeout=900, cwd=BROWSER_DIR)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    (tmp / "journey_result.json").write_text(json.dumps(r, indent=1, ensure_ascii=False))
    assert "error" not in r, r
    # the first screen: steps in the order a person takes them, a result already there, its 3D view playing
    assert [t.split("·")[0].strip() for t in r["stepTitles"][:2]] == ["1", "2"], r["stepTitles"]
    assert r["firstVideo"] and r["videoBadges"] == 0 and "Ava - bob_bought_a_map.glb" in r["firstDownloads"].replace("\n", "")
    for view in (r["first3d"], r["new3d"]):
        assert view["state"] == "ready" and not view["paused"], view
        assert view["audioTime"] > 0.5 and abs(view["drawnTime"] - view["audioTime"]) < 0.3, view
        assert view["faceDrawn"] > 50 and view["pictureChanged"], view
    # refused up front (before tracking), and the message stays past a toast's life
    assert "1.1 s long" in r["shortClip"]["text"] and r["shortClip"]["seconds"] < 15, r["shortClip"]
    assert r["shortClip"]["stillVisible"] and r["toasts"] == 0
    assert "no audio track" in r["muteClip"]["text"] and r["muteClip"]["seconds"] < 15, r["muteClip"]
    assert r["created"]["kind"] == "ok" and "Style 'José' is ready" in r["created"]["text"], r["created"]
    assert r["selectedStyle"] == "José" and r["previewShown"]
    # a video in the speech box is taken, not refused with a MIME-type list
    assert "retalking_1.mp4" in r["speechVideoShown"].replace("\n", "") and r["toastsAfterVideo"] == 0
    # 60 s of speech: the progress text moves at least every 2 s, with frames and time left
    assert r["animateStatus"]["kind"] == "ok", r["animateStatus"]
    assert r["progress"]["maxGap"] <= 2.0, r["progress"]
    assert any("frames" in s and "s left" in s for s in r["progress"]["samples"]), r["progress"]["samples"]
    assert abs(r["videoDuration"] - 60.0) < 0.2
    downloads = r["downloads"].replace("\n", "")
    assert "José - lecture_60s.mp4" in downloads and "José - lecture_60s.glb" in downloads
    # style management
    assert r["renamed"]["kind"] == "ok" and "Zoë" in r["tableAfterRename"] and "José" not in r["tableAfterRename"]
    assert r["deleted"]["kind"] == "ok" and "Zoë" not in r["tableAfterDelete"]
    # a phone: the result comes first and fills the width; nothing scrolls sideways
    video_left, video_top, video_width = r["phone"]["video"]
    assert video_width >= 360 and video_top < 400 and r["phone"]["scrollWidth"] <= 390, r["phone"]
    for name in ("app.png", "app_result.png", "app_390.png"):
        assert (shots / name).is_file()


def test_live_progress_beats_while_the_library_is_silent_and_estimates_time_left(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    from app import LiveProgress

    sent = []
    live = LiveProgress(lambda fraction, desc: sent.append((fraction, desc)), {"a": 1.0, "b": 1.0})
    for _ in range(2):  # entered twice, as for the video and then the downloads
        with live:
            live.start("a", "listening")
            time.sleep(2.3)
    beats = [d for _, d in sent if "s on this)" in d]
    assert len(beats) >= 3 and beats[0] == "listening (1 s on this)", sent
    live.began = time.perf_counter() - 10  # 10 s in, halfway: about 10 s left
    live.bar.sub("b")(0.0, "adapting: step 1")
    assert sent[-1] == (0.5, "adapting: step 1 (about 10 s left in all)")


def test_a_style_made_after_start_is_usable_by_a_new_client(server):
    """Issue 15 item 7: a fresh gradio_client session got "Value: Ada is not in the list of choices" for a style
    created after the app started (the README's two-program flow)."""
    from gradio_client import Client, handle_file

    from imitator.style_store import load_style, save_style

    url, tmp = server
    late = load_style("Ava")
    late.meta.name = "Late Arrival"
    save_style(late, tmp / "styles")
    job = Client(url, verbose=False).submit(
        handle_file(str(ROOT / "examples" / "bob_bought_a_map.flac")), "Late Arrival", False, api_name="/animate")
    video, files, info = job.result()
    assert "**Late Arrival** says" in info and len(files) == 4
    first = job.outputs()[0]  # the mp4 comes first, alone, before the downloads are written (issue 17)
    assert first[0] == video and first[1] is None and first[2].endswith("...")


def test_unknown_style_and_bad_audio_are_specific_errors(server):
    """Issue 15: the app never shows a generic "upstream error"; each user error is the library's message."""
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    url, tmp = server
    client = Client(url, verbose=False)
    with pytest.raises(AppError, match="no style named 'Nobody'"):
        client.predict(handle_file(str(ROOT / "examples" / "bob_bought_a_map.flac")), "Nobody", False,
                       api_name="/animate")
    import numpy as np
    import soundfile as sf

    bad = tmp / "nan.wav"
    sf.write(bad, np.full(SAMPLE_RATE, np.nan, np.float32), SAMPLE_RATE, subtype="FLOAT")
    with pytest.raises(AppError, match="NaN or infinite samples"):
        client.predict(handle_file(str(bad)), "generic (no style)", False, api_name="/animate")


def test_outputs_are_cleaned_and_uploads_capped(server):
    """Issue 15 item 8: every animate left a folder forever, and a 200 MB upload was accepted."""
    from gradio_client import Client, handle_file

    url, tmp = server
    client = Client(url, verbose=False)
    for _ in range(3):
        client.predict(handle_file(str(ROOT / "examples" / "bob_bought_a_map.flac")), "generic (no style)", False,
                       api_name="/animate")
    kept = list((tmp / "outputs").glob("imitator-anim-*"))
    assert 1 <= len(kept) <= 2  # IMITATOR_KEEP_OUTPUTS=2 in the server's environment
    big = tmp / "big.wav"
    with open(big, "wb") as f:
        f.truncate(40 * 2**20)  # over the server's IMITATOR_MAX_UPLOAD_MB=30
    with pytest.raises(Exception, match="exceeds the maximum file size|413|[Mm]aximum allowed size"):
        client.predict(handle_file(str(big)), "generic (no style)", False, api_name="/animate")


def test_downloads_are_made_at_low_priority_and_errors_reach_the_caller():
    import threading

    import app

    def niceness(x):
        return x, os.getpriority(os.PRIO_PROCESS, threading.get_native_id()), threading.current_thread().name

    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    value, nice, name = app.at_low_priority(niceness, 7)
    assert value == 7 and name == "imitator-downloads" and nice == min(mine + 10, 19)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine  # the caller's is untouched

    def fails():
        raise ValueError("no GLB today")

    with pytest.raises(ValueError, match="no GLB today"):
        app.at_low_priority(fails)


def test_the_style_warm_up_makes_a_style_from_the_example_and_saves_nothing(tmp_path, monkeypatch):
    import app
    from imitator import style_store

    monkeypatch.setenv("IMITATOR_STYLE_DIR", str(tmp_path / "styles"))
    made = []
    real = app.create_style
    monkeypatch.setattr(app, "create_style", lambda *a, **k: made.append(real(*a, **k)) or made[-1])
    app.warm_up_styles()
    assert len(made) == 1 and made[0].meta.fit["frames"] > 30  # tracked, transcribed, adapted
    assert [e.name for e in style_store.list_styles()] == [e.name for e in style_store.list_styles(user_dir=os.devnull)]
    assert not (tmp_path / "styles").exists() or not any((tmp_path / "styles").rglob("*.json"))
