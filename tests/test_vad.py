"""Voice activity: Silero VAD (inside the faster-whisper wheel) as a per-frame speech mask."""
import numpy as np

from conftest import shared_file
from imitator.audio import SAMPLE_RATE, load_audio
from imitator.vad import pauses, speech_frames


def test_silence_is_not_speech():
    assert not speech_frames(np.zeros(3 * SAMPLE_RATE, np.float32), 90, 30.0).any()


def test_finds_the_pauses_of_a_noisy_real_recording():
    # jfk.flac: an old radio recording whose pauses hiss only 20-25 dB below the speech
    audio = load_audio(shared_file("audio", "jfk.flac"))
    n = int(len(audio) / SAMPLE_RATE * 30)
    speech = speech_frames(audio, n, 30.0)
    assert 0.6 < speech.mean() < 0.95
    gaps = pauses(speech, 15)  # pauses of at least 0.5 s
    assert len(gaps) >= 2
    # "... my fellow Americans, || ask not ..." : Kennedy pauses near 2.3-3.3 s
    assert any(a <= 75 and b >= 95 for a, b in gaps), gaps
