"""Keeps long requests from starving short ones (issue 15, item 9).

A server has a few workers (the app's queue runs two animate requests at a time). A long recording holds a
worker for minutes; two of them used to stall the app for everyone. So at most `long_slots` requests whose
speech is longer than `long_seconds` run at once, and a further long one is refused at once with a clear
message (ServerBusyError) instead of holding a worker while it waits: short speech always finds a worker.

    gate = AdmissionGate.from_env()
    with gate.admit(speech_seconds(path)):     # ServerBusyError if the long lane is full
        ... animate and render ...

Environment: IMITATOR_LONG_SPEECH_SECONDS (60), IMITATOR_LONG_SLOTS (1).
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from .audio import decode_audio
from .errors import ConfigError, ServerBusyError


@dataclass(frozen=True)
class AdmissionConfig:
    long_seconds: float = 60.0  # speech longer than this takes a long slot
    long_slots: int = 1  # fewer than the app's workers (2), so one is always free for short speech

    @classmethod
    def from_env(cls, env: dict | None = None) -> "AdmissionConfig":
        env = os.environ if env is None else env
        try:
            seconds = float(env.get("IMITATOR_LONG_SPEECH_SECONDS", cls.long_seconds))
            slots = int(env.get("IMITATOR_LONG_SLOTS", cls.long_slots))
        except ValueError as e:
            raise ConfigError(f"IMITATOR_LONG_SPEECH_SECONDS / IMITATOR_LONG_SLOTS must be numbers ({e})") from e
        if not seconds > 0 or slots < 1:
            raise ConfigError("IMITATOR_LONG_SPEECH_SECONDS must be > 0 and IMITATOR_LONG_SLOTS >= 1")
        return cls(seconds, slots)


class AdmissionGate:
    def __init__(self, config: AdmissionConfig = AdmissionConfig()):
        self.config = config
        self._long = threading.BoundedSemaphore(config.long_slots)

    @classmethod
    def from_env(cls) -> "AdmissionGate":
        return cls(AdmissionConfig.from_env())

    @contextmanager
    def admit(self, seconds: float) -> Iterator[None]:
        """Run the block now, or raise ServerBusyError at once if it is long and the long lane is full."""
        if seconds <= self.config.long_seconds:
            yield
            return
        if not self._long.acquire(blocking=False):
            limit = self.config.long_seconds
            raise ServerBusyError(
                f"another long recording is being animated right now, and speech over {limit:g} s runs one at "
                f"a time so that short requests are never kept waiting; try again in a minute, or send up to "
                f"{limit:g} s of speech, which runs now")
        try:
            yield
        finally:
            self._long.release()


def speech_seconds(path: str | os.PathLike) -> float:
    """How long the speech in `path` is, decoded within the audio length cap (so bounded in time and
    memory); a file that cannot be decoded raises the same ImitatorError that animating it would.
    Decoded, not read from the header: a header can claim 1 s for a 5-minute file and so skip the lane.
    The cost is a second decode of the speech (well under a second at the cap, beside minutes of work)."""
    audio, rate = decode_audio(path, check=False)
    return len(audio) / rate
