"""Issue 15, item 9: long requests must not starve short ones. A long recording holds a worker for minutes;
at most `long_slots` run at once and a further long one is refused at once, so short speech always runs."""
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from imitator.admission import AdmissionConfig, AdmissionGate, speech_seconds
from imitator.audio import SAMPLE_RATE
from imitator.errors import ConfigError, ServerBusyError

REPO = Path(__file__).resolve().parents[1]


def _wav(path: Path, seconds: float) -> Path:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    sf.write(path, (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), SAMPLE_RATE)
    return path


def _hold_long_slot(gate: AdmissionGate, seconds: float):
    """A thread inside a long admission until the returned event is set."""
    entered, release = threading.Event(), threading.Event()

    def work():
        with gate.admit(seconds):
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=work)
    thread.start()
    assert entered.wait(10)
    return release, thread


def test_a_second_long_request_is_refused_while_short_ones_run():
    gate = AdmissionGate(AdmissionConfig(long_seconds=10, long_slots=1))
    release, thread = _hold_long_slot(gate, 300)
    with pytest.raises(ServerBusyError, match="try again"):
        with gate.admit(120):
            pass
    ran = []
    with gate.admit(5):  # short speech does not wait for the long one
        ran.append(True)
    assert ran
    release.set()
    thread.join()
    with gate.admit(120):  # the lane is free again
        ran.append(True)
    assert len(ran) == 2


def test_speech_seconds_and_config(tmp_path):
    assert speech_seconds(_wav(tmp_path / "a.wav", 2.5)) == pytest.approx(2.5, abs=1e-3)
    assert AdmissionConfig.from_env({"IMITATOR_LONG_SPEECH_SECONDS": "30", "IMITATOR_LONG_SLOTS": "2"}) == \
        AdmissionConfig(30.0, 2)
    with pytest.raises(ConfigError):
        AdmissionConfig.from_env({"IMITATOR_LONG_SLOTS": "0"})


def test_the_app_refuses_a_second_long_recording_at_once(tmp_path, monkeypatch):
    """Through the app's handler: while one long recording is animated, another is refused with a clear
    message before any work starts (it used to wait holding the second worker: the app stalled)."""
    pytest.importorskip("gradio")
    monkeypatch.syspath_prepend(str(REPO))
    import app

    gate = AdmissionGate(AdmissionConfig(long_seconds=2, long_slots=1))
    monkeypatch.setattr(app, "GATE", gate)
    monkeypatch.setattr(app, "animate", lambda *a, **k: pytest.fail("a refused request must not start work"))
    release, thread = _hold_long_slot(gate, 100)
    try:
        outputs = list(app.animate_ui(str(_wav(tmp_path / "long.wav", 3.0)), None, False, None,
                                      progress=lambda *a, **k: None))
    finally:
        release.set()
        thread.join()
    message = outputs[-1][0]
    assert "another long recording" in message and outputs[-1][1] is None
