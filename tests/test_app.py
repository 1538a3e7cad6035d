"""The app as people and programs use it: a real browser (Debian chromium + playwright-core) and gradio_client.

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
           "HF_HUB_OFFLINE": "1", "GRADIO_TEMP_DIR": str(tmp / "gradio"),
           "IMITATOR_OUTPUT_DIR": str(tmp / "outputs"), "IMITATOR_KEEP_OUTPUTS": "2", "IMITATOR_MAX_UPLOAD_MB": "30"}
    model = _test_model(tmp / "model")
    if model:
        env["IMITATOR_MODEL"] = model
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
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
        pytest.fail("app.py did not start serving within 120 s")
    yield url, tmp
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


def test_gradio_client_calls_both_endpoints(server):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    url, tmp = server
    client = Client(url, verbose=False)
    assert {"/animate", "/create_style"} <= set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    preview, summary, update = client.predict(handle_file(str(shared_file("videos", "retalking_5.mp4"))), "ClientStyle",
                                              api_name="/create_style")
    assert "Style 'ClientStyle' is ready" in summary and Path(preview).is_file()
    assert "ClientStyle" in [c[0] for c in update["choices"]]
    video, files, info = client.predict(handle_file(str(ROOT / "examples" / "bob_bought_a_map.flac")),
                                             "ClientStyle", False, api_name="/animate")
    assert Path(video).suffix == ".mp4" and len(files) == 4
    assert sorted(Path(f).suffix for f in files) == [".glb", ".mp4", ".npz", ".zip"]
    assert "style 'ClientStyle'" in info
    with pytest.raises(AppError, match="has no audio track"):
        client.predict(handle_file(str(shared_file("videos", "no_audio_d13.mp4"))), "Mute", api_name="/create_style")


def test_browser_creates_a_style_and_plays_the_animation(server):
    node, chromium = shutil.which("node"), shutil.which("chromium")
    if not (node and chromium and (BROWSER_DIR / "node_modules" / "playwright-core").is_dir()):
        pytest.skip("needs node, Debian chromium and tests/browser/node_modules (scripts/setup.sh installs them)")
    from imitator.audio import load_audio

    url, tmp = server
    video, audio = shared_file("videos", "retalking_2.mp4"), shared_file("audio", "jfk.flac")
    shots = Path(os.environ.get("IMITATOR_SCREENSHOTS", tmp / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([node, str(BROWSER_DIR / "app_flow.js"), url, str(video), str(audio), "Congressman",
                           str(shots)], capture_output=True, text=True, timeout=400, cwd=BROWSER_DIR)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "error" not in result, result
    assert "Style 'Congressman' is ready" in result["summary"]
    assert result["selectedStyle"] == "Congressman"
    expected = len(load_audio(audio)) / SAMPLE_RATE
    assert abs(result["videoDuration"] - expected) < 0.1, (result["videoDuration"], expected)
    assert result["playing"] is True, result["playing"]
    for name in ("animation.mp4", "animation.npz", "animation_obj.zip", "animation.glb"):
        assert name in result["downloads"].replace("\n", "")
    assert (shots / "app_animated.png").is_file()


def test_a_style_made_after_start_is_usable_by_a_new_client(server):
    """Issue 15 item 7: a fresh gradio_client session got "Value: Ada is not in the list of choices" for a style
    created after the app started (the README's two-program flow)."""
    from gradio_client import Client, handle_file

    from imitator.style_store import load_style, save_style

    url, tmp = server
    late = load_style("Ava")
    late.meta.name = "Late Arrival"
    save_style(late, tmp / "styles")
    video, files, info = Client(url, verbose=False).predict(
        handle_file(str(ROOT / "examples" / "bob_bought_a_map.flac")), "Late Arrival", False, api_name="/animate")
    assert "style 'Late Arrival'" in info


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
